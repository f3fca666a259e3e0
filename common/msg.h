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
#include "common/mpcheck.h"
#include "common/policy.h"

#define TOPIC_MAX_LEN 255
#define CONN_ID_MAX_LEN 128
/* A topic's epoch: 1..EPOCH_MAX_LEN bytes of [0-9a-z] (the hub mints 8). */
#define EPOCH_MAX_LEN 16

enum msg_op { OP_SUB = 1, OP_UNSUB, OP_PUB, OP_SEND, OP_PING, OP_RPC };

/* Longest rpc method name (1..RPC_METHOD_MAX bytes, the topic alphabet). */
#define RPC_METHOD_MAX 128

/* Error codes in error replies (HTTP-like; documented in docs/protocol.md). */
enum msg_code {
    CODE_BAD_REQUEST = 400, /* malformed message, missing or invalid field, unknown op */
    CODE_FORBIDDEN = 403,   /* the token does not allow this topic (sub or pub) */
    CODE_NOT_FOUND = 404,   /* direct message to an unknown or gone connection */
    CODE_CONFLICT = 409,    /* a send reuses the id of one still waiting for its answer */
    CODE_TOO_LARGE = 413,   /* reserved: the frame limit closes with 1009 instead */
    CODE_LIMIT = 429,       /* rate limit or subscription limit reached */
    CODE_UNAVAILABLE = 503, /* the hub link is down: publish/send not accepted */
    CODE_TIMEOUT = 504,     /* a send got no answer from the target's edge in time */
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
    const char *to; /* send: the target connection id (1..CONN_ID_MAX_LEN bytes) */
    size_t to_len;
    const char *method; /* rpc: the method (1..RPC_METHOD_MAX bytes of the topic alphabet) */
    size_t method_len;
    /* pub, send, rpc: the value of "data" in the message's own encoding,
     * compact JSON text (ENC_JSON) or one msgpack object (ENC_MSGPACK); an
     * rpc without data gets null. */
    const uint8_t *data;
    size_t data_len;
    /* sub: the position to resume from ({"since":{"seq":S,"epoch":"E"}}). */
    int has_since;
    uint64_t since_seq;
    char since_epoch[EPOCH_MAX_LEN + 1]; /* NUL-terminated */
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

/* A new parser's render budget is that of the default policy. */
struct msg_parser *msg_parser_new(void);
void msg_parser_free(struct msg_parser *p);
/* Sets the render budget (msg_render_budget of the policy's
 * max_message_bytes) that pub and send payloads are checked against. */
void msg_parser_set_render_budget(struct msg_parser *p, size_t budget);

/* Parses one client frame payload in encoding enc. Returns 0 and fills *out,
 * or -1 and fills *err (never crashes or allocates beyond a small multiple of
 * len or of the render budget on hostile input). msgpack strings must be
 * valid UTF-8. The data of pub and send must render in both encodings
 * within the render budget: a map or array as a msgpack map key, or a
 * rendering longer than the budget, is refused (400), so that what one edge
 * accepts every edge can deliver. */
int msg_parse(struct msg_parser *p, enum enc enc, const uint8_t *frame, size_t len,
              struct client_msg *out, struct msg_error *err);

/* 1 if t[0, n) is a valid topic: 1..255 bytes of [A-Za-z0-9._:/-]. */
int topic_is_valid(const char *t, size_t n);
/* 1 if e[0, n) is a valid epoch: 1..EPOCH_MAX_LEN bytes of [0-9a-z]. */
int epoch_is_valid(const char *e, size_t n);

/* ---- payloads ("data")
 *
 * A payload is rendered for a client in one of two ways: spliced verbatim
 * when its encoding is the client's, after msg_data_check has proved it is
 * one valid value (bytes that came over a link are untrusted), or
 * transcoded. Either way its rendering has an output budget: a small
 * multiple of the policy's max_message_bytes (msg_render_budget), so no
 * payload can make an edge render (and hold) more than that, whatever its
 * bytes. The results: */
enum msg_data_result {
    MSG_DATA_OK = 0,
    MSG_DATA_INVALID = -1,     /* not one valid value in its encoding, or no form in the other */
    MSG_DATA_OVER_BUDGET = -2, /* its rendering would be longer than the budget */
};

/* Nesting of arrays and maps in a payload: the client message around it is
 * one more level, and the whole must stay within MP_MAX_DEPTH (32), the
 * depth msgpack-c itself can unpack. */
#define MSG_DATA_MAX_DEPTH (MP_MAX_DEPTH - 1)

/* Render budget = this many times max_message_bytes. 4 covers every payload
 * an honest client can publish in a frame of max_message_bytes except those
 * built to expand (e.g. msgpack `false` keys or control characters, which
 * grow up to TRANSCODE_JSON_MAX_RATIO times as JSON). */
#define MSG_RENDER_BUDGET_FACTOR 4

/* Worst-case output/input ratios of the transcoders (docs/protocol.md,
 * "Payload transcoding"): for every input of len bytes, msgpack -> JSON
 * writes at most TRANSCODE_JSON_MAX_RATIO * len bytes (reached by a map of
 * `false: false` entries, 2 bytes -> `"false":false,`), JSON -> msgpack at
 * most TRANSCODE_MSGPACK_MAX_RATIO * len (a real such as `1e9`, 3 bytes ->
 * a 9-byte float64). A payload with len * ratio <= budget cannot pass the
 * budget, so it needs no trial rendering. */
#define TRANSCODE_JSON_MAX_RATIO 7
#define TRANSCODE_MSGPACK_MAX_RATIO 3

/* The render budget for a policy's max_message_bytes (0 or less: none may
 * be rendered). */
static inline size_t msg_render_budget(long max_message_bytes)
{
    return max_message_bytes > 0 ? (size_t)max_message_bytes * MSG_RENDER_BUDGET_FACTOR : 0;
}

/* Checks that data[0, len) is exactly one value in encoding enc that may be
 * spliced into a client message of that encoding: for JSON, one JSON text
 * (RFC 8259) in valid UTF-8, nothing before or after it but whitespace
 * (json_check: jansson's answer without its document); for msgpack, one
 * complete object (mp_check) with every str valid UTF-8, nested at most
 * MSG_DATA_MAX_DEPTH deep. Returns MSG_DATA_OK or MSG_DATA_INVALID. One pass
 * over the bytes; allocates nothing. */
int msg_data_check(enum enc enc, const uint8_t *data, size_t len);

/* Appends `data` (one value in data_enc) to out as a value in encoding enc:
 * spliced if the encodings match and msg_data_check accepts it, else
 * transcoded. Data longer than `budget` is refused unparsed (no publisher's
 * edge sends it: msg_parse refuses it). Never appends more than `budget` bytes of rendering (plus, on
 * the way to refusing, at most 6 times the longest string in data; the
 * partial output is removed). Returns a msg_data_result; on an error out is
 * unchanged. */
int msg_data_render(struct buf *out, enum enc enc, enum enc data_enc, const uint8_t *data,
                    size_t len, size_t budget);

/* Outbound message builders: each appends one complete JSON object or
 * msgpack map (encoding enc) to out, its data rendered by msg_data_render
 * with `budget`. They return a msg_data_result; on an error out is
 * unchanged (the caller drops the message, counts and logs it). */
/* `user` (user_len 0: none) is the sender's authenticated user id, shown
 * as "user" next to "from". */
int msg_build_msg(struct buf *out, enum enc enc, const char *topic, size_t topic_len, uint64_t seq,
                  const char *from, size_t from_len, const char *user, size_t user_len,
                  enum enc data_enc, const uint8_t *data, size_t data_len, size_t budget);
int msg_build_direct(struct buf *out, enum enc enc, const char *from, size_t from_len,
                     const char *user, size_t user_len, enum enc data_enc, const uint8_t *data,
                     size_t data_len, size_t budget);
/* policy: if non-NULL, adds "policy":{"idle_timeout_ms","ping_interval_ms",
 * "max_message_bytes"} so clients can adapt. */
void msg_build_welcome(struct buf *out, enum enc enc, const char *conn, const char *edge,
                       const char *region, const struct policy *policy, const char *user);
/* The backend's answer to an rpc (docs/hooks.md): {"op":"rpc","id":N,
 * "data":D}, D rendered from data (in data_enc) as msg_data_render does.
 * Returns 0 or a msg_data_result (out unchanged). */
int msg_build_rpc_result(struct buf *out, enum enc enc, int64_t id, enum enc data_enc,
                         const uint8_t *data, size_t data_len, size_t budget);
/* Adds "data":D to the welcome msg_build_welcome wrote at out[mark, end)
 * (the connect hook's data for the client). Returns 0 or a
 * msg_data_result (the welcome left as it was). */
int msg_welcome_add_data(struct buf *out, size_t mark, enum enc enc, enum enc data_enc,
                         const uint8_t *data, size_t data_len, size_t budget);
/* The answer to an application-level {"op":"ping"}: {"op":"pong"[,"id":N]}. */
void msg_build_pong(struct buf *out, enum enc enc, int has_id, int64_t id);
void msg_build_ack(struct buf *out, enum enc enc, int64_t id);
/* An ack with a topic's position: {"op":"ack","id":N,"seq":S,"epoch":"E"}
 * (epoch NULL: no position, neither key), plus "recovered" when
 * recovered >= 0 (a sub with since), and "reason" when not recovered and
 * reason is non-NULL. */
void msg_build_ack_at(struct buf *out, enum enc enc, int64_t id, uint64_t seq, const char *epoch,
                      int recovered, const char *reason);
/* {"op":"reset","topic":T,"seq":S,"epoch":"E","reason":R}: a subscription
 * that could not continue from where it was. */
void msg_build_reset(struct buf *out, enum enc enc, const char *topic, size_t topic_len,
                     uint64_t seq, const char *epoch, const char *reason);
/* has_id = 0 omits "id". */
void msg_build_error(struct buf *out, enum enc enc, int has_id, int64_t id, int code,
                     const char *reason);

/* Transcoding of a single value (used by msg_data_render; exposed for tests
 * and fuzzing). Both append to out, write no more than `budget` bytes of
 * output before refusing with MSG_DATA_OVER_BUDGET (work is bounded by len +
 * budget), and allow nesting up to MSG_DATA_MAX_DEPTH.
 * JSON -> msgpack: integers stay integers (int64/uint64), reals become
 * float64. msgpack -> JSON: bin and ext become base64 strings; map keys that
 * are not str become JSON strings: nil, booleans, integers and floats their
 * JSON text ("null", "true", "-2", "1.5"), bin and ext their base64; a map
 * or array as a key has no JSON form (MSG_DATA_INVALID). NaN/Inf become
 * null, invalid UTF-8 in strings is replaced by U+FFFD. Return a
 * msg_data_result; on an error out is unchanged. */
int transcode_json_to_msgpack(const uint8_t *json, size_t len, size_t budget, struct buf *out);
int transcode_msgpack_to_json(const uint8_t *mp, size_t len, size_t budget, struct buf *out);

#endif
