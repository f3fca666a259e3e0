/* Link protocol codec: the messages an edge worker and the hub exchange,
 * one length-prefixed msgpack array each. Their layout is described once,
 * in docs/protocol.md ("Link protocol": "Byte-level framing" and
 * "Messages"), and coded once, in the field tables of link.c. Decoding
 * never lets msgpack-c see a declared array, map, str or bin size that the
 * message's bytes cannot hold (see mpcheck.h). */
#ifndef SPOKE_LINK_H
#define SPOKE_LINK_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/policy.h"

/* 2: uncompressed first message, INTEREST_ADD answered by INTEREST_RESULT,
 * DIRECT_RESULT only for forwarded directs, POLICY with worker_max_topics,
 * send_timeout_ms and max_pending_sends.
 * 3: positions (seq, epoch) and recovery: INTEREST_ADD may resume from a
 * position, INTEREST_RESULT carries the topic's position, HISTORY_READ and
 * HISTORY_RESULT, MESSAGE's replay, PUBLISH's pub_id answered by
 * PUBLISH_RESULT, POLICY with the publish keys.
 * 4: TOPIC_RESET (the hub's numbering of a topic moved under a live
 * interest: an engine whose store lost state).
 * 5: EDGES (the ready edges, which each edge serves as /edges.json).
 * 6: POLICY with deflate and deflate_threshold.
 * 7: HOOKS (the backend hooks configuration, common/hooks_conf.h). */
#define LINK_PROTOCOL_VERSION 7
/* Sent raw (uncompressed) by both sides before their zstd stream. */
#define LINK_PREAMBLE "SPOKELNK"
#define LINK_PREAMBLE_LEN 8
/* Largest decoded message; bounds memory per link and the zstd output
 * accepted per message. Client messages are capped far below this. */
#define LINK_MAX_MESSAGE (8u << 20)
/* Largest first message (HELLO or ERROR, sent uncompressed): a peer that has
 * not said who it is gets no more buffer than this, and no zstd state. */
#define LINK_MAX_FIRST 2048u
/* Longest strings link_decode accepts and link_encode produces. Topics and
 * connection ids match the client protocol (TOPIC_MAX_LEN, CONN_ID_MAX_LEN in
 * msg.h; link.c checks that they agree). */
#define LINK_MAX_TOPIC 255
#define LINK_MAX_NAME 64          /* HELLO name, region, software */
#define LINK_MAX_CONN_ID 128      /* from, to */
#define LINK_MAX_USER 128         /* user: the authenticated user id of a sender ("" if none) */
#define LINK_MAX_REASON 1024      /* DIRECT_RESULT and ERROR reason */
#define LINK_MAX_EPOCH 16         /* a topic's epoch (the hub mints 8 characters) */
#define LINK_MAX_EDGES_JSON 65536 /* EDGES: the /edges.json document */
#define LINK_MAX_HOOKS_JSON 65536 /* HOOKS: the hooks document (HOOKS_DOC_MAX) */

enum link_type {
    LINK_HELLO = 1,            /* both ways, first message */
    LINK_INTEREST_ADD = 2,     /* edge -> hub; answered by INTEREST_RESULT */
    LINK_INTEREST_REMOVE = 3,  /* edge -> hub */
    LINK_PUBLISH = 4,          /* edge -> hub */
    LINK_MESSAGE = 5,          /* hub -> edge, a publish with its seq */
    LINK_DIRECT = 6,           /* both ways: edge -> hub -> edge */
    LINK_DIRECT_RESULT = 7,    /* both ways: outcome of a DIRECT that carried an id */
    LINK_ERROR = 8,            /* both ways: the sender is about to close the link */
    LINK_HEARTBEAT = 9,        /* both ways */
    LINK_POLICY = 10,          /* hub -> edge: the effective policy, after HELLO and on change */
    LINK_STATS = 11,           /* edge -> hub: the worker's counters, about every second */
    LINK_KICK = 12,            /* hub -> edge: close connection `to` with code and reason */
    LINK_DRAIN = 13,           /* hub -> edge: drain the whole edge process */
    LINK_INTEREST_RESULT = 14, /* hub -> edge: an INTEREST_ADD taken (code 0) or refused */
    LINK_PUBLISH_RESULT = 15,  /* hub -> edge: a PUBLISH ordered (its seq) or refused */
    LINK_HISTORY_READ = 16,    /* edge -> hub: the messages of a topic since a position */
    LINK_HISTORY_RESULT = 17,  /* hub -> edge: answers a HISTORY_READ; its MESSAGEs follow */
    LINK_TOPIC_RESET = 18,     /* hub -> edge: a topic's live messages go on from a new position */
    LINK_EDGES = 19,           /* hub -> edge: the ready edges (/edges.json), on change */
    LINK_HOOKS = 20,           /* hub -> edge: the hooks (JSON), after POLICY and on change */
};

/* An edge worker's counters, as sent in STATS (totals since it started). */
struct link_stats {
    uint64_t uptime_s, clients, subscriptions, topics;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t closed_idle, closed_dead, closed_slow, closed_protocol, closed_rate, closed_other;
    uint64_t rtt_us;   /* link round trip from the last heartbeat echo (0: none yet) */
    uint64_t draining; /* 1 once the edge drains (it takes no new clients) */
};

/* A byte string inside a decoded message: points into the caller's bytes,
 * not NUL-terminated, valid as long as those bytes are. */
struct link_str {
    const char *ptr;
    uint32_t len;
};

/* One decoded (or to-be-encoded) message. The members meaningful for a type
 * are the fields of its row in docs/protocol.md's message table, under the
 * same names, with four mappings: DIRECT's id (int or nil) is has_id + id,
 * DRAIN's period_ms is time_ms, EDGES's edges and HOOKS's hooks are data, and POLICY's and
 * STATS's fields are the members of policy and stats. enc is an enum enc (common/enc.h). */
struct link_msg {
    enum link_type type;
    uint32_t version;
    uint32_t worker;
    uint32_t code;
    uint8_t enc;
    uint8_t has_id;
    int64_t id;
    uint64_t seq;
    uint64_t since_seq; /* INTEREST_ADD, HISTORY_READ: the position resumed from */
    uint64_t pub_id;    /* PUBLISH, PUBLISH_RESULT: the edge worker's number of a publish */
    uint64_t replay;    /* MESSAGE: the HISTORY_READ id it answers (0: live) */
    uint32_t recovered; /* INTEREST_RESULT, HISTORY_RESULT: 1 if the MESSAGEs follow */
    uint64_t boot;
    uint64_t time_ms;
    uint32_t heartbeat_ms; /* HELLO: the sender's heartbeat period */
    uint64_t echo_us;      /* HEARTBEAT: from an edge, its send time (µs, its monotonic
                            * clock); from the hub, that value echoed back at once (0 on
                            * the hub's own periodic heartbeats) */
    struct link_str name, region, software, topic, from, to, data, reason, public_url, user;
    struct link_str epoch, since_epoch;
    struct policy policy;
    struct link_stats stats;
};

/* Convenience: a link_str over a NUL-terminated string. */
struct link_str link_str_c(const char *s);

/* A DIRECT_RESULT answering the direct with request id `id` of sender
 * `to` (code 0: delivered). */
static inline struct link_msg link_direct_result(struct link_str to, int64_t id, uint32_t code,
                                                 const char *reason)
{
    struct link_msg m = {.type = LINK_DIRECT_RESULT,
                         .to = to,
                         .has_id = 1,
                         .id = id,
                         .code = code,
                         .reason = link_str_c(reason)};
    return m;
}

/* Appends the length prefix and msgpack encoding of m to out.
 * Returns the number of bytes appended (prefix included), or -1 if m is
 * invalid (unknown type, enc >= ENC_COUNT, a string longer than its limit
 * above, a NULL pointer with a non-zero length) or would exceed
 * LINK_MAX_MESSAGE; on -1 out is unchanged. Only the fields of m's type are
 * read. Refusing here what the peer's decoder would refuse turns a bug into
 * one failed send instead of a dropped link. */
int link_encode(struct buf *out, const struct link_msg *m);

/* Decodes one message from the start of p[0, len). Elements after the
 * fields a type defines are ignored (forward compatibility). Integer fields
 * accept any msgpack integer encoding whose value is in range; str fields
 * need msgpack str, data needs msgpack bin.
 * Returns the bytes consumed (> 0) and fills *m, its strings pointing into p;
 * 0 if more bytes are needed for a complete message;
 * -1 if the bytes are invalid (bad length, malformed msgpack, wrong field
 * types or count, unknown type): the link must be dropped. On -1, if err is
 * non-NULL a short reason is written to it.
 * The members a type does not carry are zero, except m->policy (set only
 * for POLICY) and m->stats (only for STATS): clearing them for every
 * message cost the hub's routing ~2 %. */
int link_decode(const uint8_t *p, size_t len, struct link_msg *m, char *err, size_t errlen);

/* "hello", "interest_add", ...; "unknown" for any other value. */
const char *link_type_name(enum link_type t);

#endif
