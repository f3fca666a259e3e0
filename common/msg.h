/* Client protocol v1 codec (docs/protocol.md): parsing what a client sends
 * and building what the edge sends, in both encodings (spoke.json: one JSON
 * object per text frame; spoke.msgpack: one msgpack map per binary frame).
 *
 * Payloads ("data") travel between edges as bytes in their publisher's
 * encoding; an edge transcodes once per message per encoding it needs, never
 * per subscriber. These functions build WebSocket *payloads*; framing is the
 * edge's job. */
#ifndef SPOKE_MSG_H
#define SPOKE_MSG_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/enc.h"
#include "common/policy.h"

#define TOPIC_MAX_LEN 255
#define CONN_ID_MAX_LEN 128

enum msg_op { OP_SUB = 1, OP_UNSUB, OP_PUB, OP_SEND, OP_PING };

/* Error codes in error replies (HTTP-like; documented in docs/protocol.md). */
enum msg_code {
    CODE_BAD_REQUEST = 400,  /* malformed message, missing or invalid field, unknown op */
    CODE_FORBIDDEN = 403,    /* the token does not allow this topic (sub or pub) */
    CODE_NOT_FOUND = 404,    /* direct message to an unknown or gone connection */
    CODE_CONFLICT = 409,     /* a send reuses the id of one still waiting for its answer */
    CODE_TOO_LARGE = 413,    /* reserved: the frame limit closes with 1009 instead */
    CODE_LIMIT = 429,        /* rate limit or subscription limit reached */
    CODE_UNAVAILABLE = 503,  /* the hub link is down: publish/send not accepted */
    CODE_TIMEOUT = 504,      /* a send got no answer from the target's edge in time */
};

/* A parsed client message. Pointers refer to the frame given to msg_parse or
 * to the parser's scratch space: valid until the next msg_parse on the same
 * parser. */
struct client_msg {
    enum msg_op op;
    int has_id;
    int64_t id;
    const char *topic; /* sub, unsub, pub: validated with topic_is_valid */
    size_t topic_len;
    const char *to;    /* send: the target connection id (1..CONN_ID_MAX_LEN bytes) */
    size_t to_len;
    const uint8_t *data; /* pub, send: the value of "data" in the message's own encoding: */
    size_t data_len;     /* compact JSON text (ENC_JSON) or one msgpack object (ENC_MSGPACK) */
};

/* Why a message was refused; has_id/id are filled whenever the message had a
 * readable integer "id", so the reply can carry it. */
struct msg_error {
    int code;
    char reason[128];
    int has_id;
    int64_t id;
};

struct msg_parser; /* scratch state, reused across messages; one per worker */

struct msg_parser *msg_parser_new(void);
void msg_parser_free(struct msg_parser *p);

/* Parses one client frame payload in encoding enc. Returns 0 and fills *out,
 * or -1 and fills *err (never crashes or allocates beyond a small multiple of
 * len on hostile input). msgpack strings must be valid UTF-8. */
int msg_parse(struct msg_parser *p, enum enc enc, const uint8_t *frame, size_t len,
              struct client_msg *out, struct msg_error *err);

/* 1 if t[0, n) is a valid topic: 1..255 bytes of [A-Za-z0-9._:/-]. */
int topic_is_valid(const char *t, size_t n);

/* Outbound payload builders: each appends one complete JSON object or
 * msgpack map (encoding enc) to out. `data` is in encoding data_enc and is
 * transcoded when data_enc != enc. They return 0, or -1 if data cannot be
 * transcoded (corrupt; the caller drops the message and logs). */
/* `user` (user_len 0: none) is the sender's authenticated user id, shown
 * as "user" next to "from". */
int msg_build_msg(struct buf *out, enum enc enc, const char *topic, size_t topic_len,
                  uint64_t seq, const char *from, size_t from_len, const char *user,
                  size_t user_len, enum enc data_enc, const uint8_t *data, size_t data_len);
int msg_build_direct(struct buf *out, enum enc enc, const char *from, size_t from_len,
                     const char *user, size_t user_len, enum enc data_enc, const uint8_t *data,
                     size_t data_len);
/* policy: if non-NULL, adds "policy":{"idle_timeout_ms","ping_interval_ms",
 * "max_message_bytes"} so clients can adapt. */
void msg_build_welcome(struct buf *out, enum enc enc, const char *conn, const char *edge,
                       const char *region, const struct policy *policy, const char *user);
/* The answer to an application-level {"op":"ping"}: {"op":"pong"[,"id":N]}. */
void msg_build_pong(struct buf *out, enum enc enc, int has_id, int64_t id);
void msg_build_ack(struct buf *out, enum enc enc, int64_t id);
/* has_id = 0 omits "id". */
void msg_build_error(struct buf *out, enum enc enc, int has_id, int64_t id, int code,
                     const char *reason);

/* Transcoding of a single value (used by the builders; exposed for tests).
 * JSON -> msgpack: integers stay integers (int64/uint64), reals become
 * float64. msgpack -> JSON: bin and ext become base64 strings, non-string map
 * keys become their JSON text as a string, NaN/Inf become null, invalid UTF-8
 * in strings is replaced by U+FFFD. Return 0, or -1 on invalid input. */
int transcode_json_to_msgpack(const uint8_t *json, size_t len, struct buf *out);
int transcode_msgpack_to_json(const uint8_t *mp, size_t len, struct buf *out);

#endif
