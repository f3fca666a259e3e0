/* What the redis engine keeps in Redis and says to it: the names of its
 * keys and channels, its Lua scripts, and the reading of what comes back
 * (script replies, stream entries, the messages published on a topic's
 * channel). Pure: no I/O, no allocation; what it reads points into the
 * caller's reply. docs/architecture.md ("The redis engine") describes the
 * same layout for operators.
 *
 * Per topic T, on T's shard, with PREFIX the hub's `redis_prefix` (the
 * braces make every key of a topic one Redis Cluster slot; topics never
 * hold braces):
 *   PREFIX:m:{T}  hash   e: the epoch, s: the last seq
 *   PREFIX:h:{T}  stream the history: entry ID "<seq>-0", fields t (the
 *                        publish time, ms, Redis's clock), f (from),
 *                        u (user), n (enc), d (data)
 *   PREFIX:c:{T}  channel every message, as "E:S:N:FL:UL:" then from,
 *                        user and data (E epoch, S seq, N enc, FL and UL
 *                        the lengths of from and user, in decimal)
 *   PREFIX:p:{T}:NAME:WORKER:BOOT:PUB_ID  string  "E:S", the position
 *                        of a publish on T that edge worker run (NAME,
 *                        WORKER, BOOT in 8 hex digits) numbered PUB_ID,
 *                        expiring twice publish_timeout after it
 * and per hub process, PREFIX:hb:INSTANCE, the channel its pub/sub
 * connections hear their heartbeats on. */
#ifndef SPOKE_HUB_ENGINE_REDIS_WIRE_H
#define SPOKE_HUB_ENGINE_REDIS_WIRE_H
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/link.h"

/* The scripts (each the shared prelude and its body), in this order. */
enum redis_script {
    /* KEYS meta, stream[, publish record]; ARGV channel, epoch (if the
     * state is new), count, age ms, meta ttl ms (0: no expiry), from, user,
     * enc, data[, keep ms]. With a publish record that exists: answers
     * {epoch, seq, 1}, the position it holds, and does nothing else.
     * Otherwise makes the state if missing, takes the next seq, appends to
     * the stream (MAXLEN count; none kept with count 0), sets the stream's
     * TTL to age and trims what is older, keeps the state at least ttl,
     * PUBLISHes, writes the publish record (if given) to expire keep ms
     * from now, and answers {epoch, seq}. */
    REDIS_SCRIPT_PUBLISH,
    /* KEYS meta, stream; ARGV epoch to make the state with ('': do not),
     * ttl an interest keeps the state for, since epoch ('': position
     * only), since seq, page size, age ms, guard ('1': since ahead of the
     * topic in its own epoch means the store lost writes: a new epoch).
     * Answers {epoch or nil, seq, first seq held, flags, entries}: the
     * entries after since when since is in the epoch and still held. */
    REDIS_SCRIPT_READ,
    /* KEYS meta; ARGV ttl: an expiring state lives at least ttl more. */
    REDIS_SCRIPT_TOUCH,
    REDIS_SCRIPTS
};

/* A READ's flags. */
#define REDIS_READ_CREATED 1 /* the state was made by this read */
#define REDIS_READ_REWOUND 2 /* since was ahead in its epoch: a new epoch replaced it */

/* The script's text and its SHA1 (lowercase hex, what EVALSHA takes). */
const char *redis_script_text(enum redis_script s);
const char *redis_script_sha(enum redis_script s);

/* Appends PREFIX:m:{T} (kind 'm'), PREFIX:h:{T} ('h'), PREFIX:c:{T} ('c')
 * to out. */
void redis_wire_key(struct buf *out, const char *prefix, char kind, struct link_str topic);
/* Appends PREFIX:p:{T}:NAME:WORKER:BOOT:PUB_ID (BOOT in 8 lowercase hex
 * digits, as in connection ids; PUB_ID in decimal) to out: the record of
 * one publish of one run of an edge worker. Edge names hold no ':'
 * (docs/protocol.md, HELLO), so it is unambiguous. */
void redis_wire_pub_key(struct buf *out, const char *prefix, struct link_str topic,
                        struct link_str name, uint32_t worker, uint64_t boot, uint64_t pub_id);
/* The topic inside a channel name PREFIX:c:{T}; 0, or -1 if it is not one. */
int redis_wire_channel_topic(const char *prefix, const char *ch, size_t len,
                             struct link_str *topic);

/* A message as the channel or the stream gives it (pointing into the
 * reply). */
struct redis_wire_msg {
    struct link_str epoch; /* channel only */
    uint64_t seq;
    uint8_t enc;
    struct link_str from, user, data;
    uint64_t time_ms; /* stream only (0 when absent) */
};

/* Decodes a channel payload. Returns 0, or -1 if it is not one. */
int redis_wire_decode_live(const char *p, size_t n, struct redis_wire_msg *m);
/* Decodes a stream entry [id, [field, value, ...]]. Returns 0, or -1. */
int redis_wire_decode_entry(const redisReply *r, struct redis_wire_msg *m);

/* A PUBLISH script's answer: *repeated is 1 if it is {epoch, seq, 1} (the
 * pub_id was ordered before), 0 if {epoch, seq}. Returns 0, or -1 if r is
 * neither. */
int redis_wire_publish_reply(const redisReply *r, struct link_str *epoch, uint64_t *seq,
                             int *repeated);

/* A READ script's answer. */
struct redis_wire_read {
    struct link_str epoch; /* .len 0: the topic has no state */
    uint64_t seq, first;
    unsigned flags;
    const redisReply *entries; /* an array of stream entries */
};
int redis_wire_read_reply(const redisReply *r, struct redis_wire_read *out);

/* 1 if s is an epoch: 1 to LINK_MAX_EPOCH of [0-9a-z]. */
int redis_wire_epoch_ok(const char *s, size_t n);
/* Parses a decimal u64 of exactly n bytes (no sign, no leading zeros but
 * "0"). Returns 0, or -1. */
int redis_wire_u64(const char *s, size_t n, uint64_t *v);

#endif
