/* Link protocol codec: length-prefixed msgpack arrays, one per message (see link.h). */
#include "common/link.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/connid.h"
#include "common/enc.h"
#include "common/hooks_conf.h"
#include "common/mpcheck.h"
#include "common/mpwrite.h"
#include "common/msg.h"

/* The layout is written once, in docs/protocol.md ("Link protocol": the
 * framing and the message table, field by field in wire order, with their
 * types and limits). The field tables below are that table in code: the
 * encoder and the decoder both walk them, so they cannot disagree, and a
 * change to one is a change to the other (and, if incompatible, to
 * LINK_PROTOCOL_VERSION). Where a struct link_msg member is named otherwise
 * than its wire field, FLD says so (DRAIN's period_ms lives in time_ms). */

_Static_assert(LINK_MAX_TOPIC == TOPIC_MAX_LEN, "link and client topic limits differ");
_Static_assert(LINK_MAX_CONN_ID == CONN_ID_MAX_LEN, "link and client conn id limits differ");
_Static_assert(HOOKS_DOC_MAX <= LINK_MAX_HOOKS_JSON, "a hooks document outgrows its link field");
_Static_assert(CONNID_MAX_LEN <= LINK_MAX_CONN_ID, "a connection id outgrows its link field");

enum field_kind {
    F_U32,       /* uint32_t */
    F_U64,       /* uint64_t */
    F_ENC,       /* uint8_t, < ENC_COUNT */
    F_I64,       /* int64_t */
    F_ID_OR_NIL, /* has_id + id: nil when has_id == 0 */
    F_STR,       /* struct link_str, msgpack str, at most `max` bytes */
    F_BIN,       /* struct link_str, msgpack bin */
    F_LONG,      /* long >= 0 */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t off; /* offset in struct link_msg */
    uint32_t max;
};

#define FLD(n, k, member, mx)                       \
    {                                               \
        n, k, offsetof(struct link_msg, member), mx \
    }

static const struct field hello_fields[] = {
    FLD("version", F_U32, version, 0),
    FLD("name", F_STR, name, LINK_MAX_NAME),
    FLD("region", F_STR, region, LINK_MAX_NAME),
    FLD("worker", F_U32, worker, 0),
    FLD("software", F_STR, software, LINK_MAX_NAME),
    FLD("boot", F_U64, boot, 0),
    FLD("heartbeat_ms", F_U32, heartbeat_ms, 0),
    FLD("public_url", F_STR, public_url, LINK_MAX_REASON),
};
/* INTEREST_ADD and HISTORY_READ ask for a topic from a position; their
 * answers, INTEREST_RESULT and HISTORY_RESULT, give one: one layout each. */
static const struct field position_ask_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
    FLD("id", F_I64, id, 0),
    FLD("since_seq", F_U64, since_seq, 0),
    FLD("since_epoch", F_STR, since_epoch, LINK_MAX_EPOCH),
};
static const struct field interest_remove_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
};
static const struct field position_answer_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
    FLD("id", F_I64, id, 0),
    FLD("code", F_U32, code, 0),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
    FLD("seq", F_U64, seq, 0),
    FLD("epoch", F_STR, epoch, LINK_MAX_EPOCH),
    FLD("recovered", F_U32, recovered, 0),
};
static const struct field publish_result_fields[] = {
    FLD("pub_id", F_U64, pub_id, 0),
    FLD("code", F_U32, code, 0),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
    FLD("seq", F_U64, seq, 0),
    FLD("epoch", F_STR, epoch, LINK_MAX_EPOCH),
};
static const struct field topic_reset_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
    FLD("seq", F_U64, seq, 0),
    FLD("epoch", F_STR, epoch, LINK_MAX_EPOCH),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
};
static const struct field publish_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
    FLD("from", F_STR, from, LINK_MAX_CONN_ID),
    FLD("enc", F_ENC, enc, 0),
    FLD("data", F_BIN, data, 0),
    FLD("user", F_STR, user, LINK_MAX_USER),
    FLD("pub_id", F_U64, pub_id, 0),
};
/* hub/edge_link_publish.c (edge_link_on_message) sets these fields one by
 * one instead of zeroing a whole struct link_msg: add a field there too. */
static const struct field message_fields[] = {
    FLD("topic", F_STR, topic, LINK_MAX_TOPIC),
    FLD("seq", F_U64, seq, 0),
    FLD("from", F_STR, from, LINK_MAX_CONN_ID),
    FLD("enc", F_ENC, enc, 0),
    FLD("data", F_BIN, data, 0),
    FLD("user", F_STR, user, LINK_MAX_USER),
    FLD("replay", F_U64, replay, 0),
};
static const struct field direct_fields[] = {
    FLD("to", F_STR, to, LINK_MAX_CONN_ID),
    FLD("from", F_STR, from, LINK_MAX_CONN_ID),
    FLD("id", F_ID_OR_NIL, id, 0),
    FLD("enc", F_ENC, enc, 0),
    FLD("data", F_BIN, data, 0),
    FLD("user", F_STR, user, LINK_MAX_USER),
};
static const struct field direct_result_fields[] = {
    FLD("to", F_STR, to, LINK_MAX_CONN_ID),
    FLD("id", F_I64, id, 0),
    FLD("code", F_U32, code, 0),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
};
static const struct field error_fields[] = {
    FLD("code", F_U32, code, 0),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
};
static const struct field heartbeat_fields[] = {
    FLD("time_ms", F_U64, time_ms, 0),
    FLD("echo_us", F_U64, echo_us, 0),
};
static const struct field stats_fields[] = {
    FLD("uptime_s", F_U64, stats.uptime_s, 0),
    FLD("clients", F_U64, stats.clients, 0),
    FLD("subscriptions", F_U64, stats.subscriptions, 0),
    FLD("topics", F_U64, stats.topics, 0),
    FLD("msgs_in", F_U64, stats.msgs_in, 0),
    FLD("msgs_out", F_U64, stats.msgs_out, 0),
    FLD("bytes_in", F_U64, stats.bytes_in, 0),
    FLD("bytes_out", F_U64, stats.bytes_out, 0),
    FLD("closed_idle", F_U64, stats.closed_idle, 0),
    FLD("closed_dead", F_U64, stats.closed_dead, 0),
    FLD("closed_slow", F_U64, stats.closed_slow, 0),
    FLD("closed_protocol", F_U64, stats.closed_protocol, 0),
    FLD("closed_rate", F_U64, stats.closed_rate, 0),
    FLD("closed_other", F_U64, stats.closed_other, 0),
    FLD("rtt_us", F_U64, stats.rtt_us, 0),
    FLD("draining", F_U64, stats.draining, 0),
};
static const struct field kick_fields[] = {
    FLD("to", F_STR, to, LINK_MAX_CONN_ID),
    FLD("code", F_U32, code, 0),
    FLD("reason", F_STR, reason, LINK_MAX_REASON),
};
static const struct field edges_fields[] = {
    FLD("edges", F_STR, data, LINK_MAX_EDGES_JSON),
};
static const struct field hooks_fields[] = {
    FLD("hooks", F_STR, data, LINK_MAX_HOOKS_JSON),
};
static const struct field drain_fields[] = {
    FLD("period_ms", F_U64, time_ms, 0),
};
static const struct field policy_fields[] = {
    FLD("idle_timeout_ms", F_LONG, policy.idle_timeout_ms, 0),
    FLD("ping_interval_ms", F_LONG, policy.ping_interval_ms, 0),
    FLD("pong_timeout_ms", F_LONG, policy.pong_timeout_ms, 0),
    FLD("handshake_timeout_ms", F_LONG, policy.handshake_timeout_ms, 0),
    FLD("max_message_bytes", F_LONG, policy.max_message_bytes, 0),
    FLD("send_queue_bytes", F_LONG, policy.send_queue_bytes, 0),
    FLD("max_subscriptions", F_LONG, policy.max_subscriptions, 0),
    FLD("rate_limit", F_LONG, policy.rate_limit, 0),
    FLD("rate_burst", F_LONG, policy.rate_burst, 0),
    FLD("worker_max_topics", F_LONG, policy.worker_max_topics, 0),
    FLD("send_timeout_ms", F_LONG, policy.send_timeout_ms, 0),
    FLD("max_pending_sends", F_LONG, policy.max_pending_sends, 0),
    FLD("publish_timeout_ms", F_LONG, policy.publish_timeout_ms, 0),
    FLD("max_pending_publishes", F_LONG, policy.max_pending_publishes, 0),
    FLD("publish_buffer_bytes", F_LONG, policy.publish_buffer_bytes, 0),
    FLD("deflate", F_LONG, policy.deflate, 0),
    FLD("deflate_threshold", F_LONG, policy.deflate_threshold, 0),
};

struct layout {
    const char *name;
    const struct field *fields;
    unsigned nfields;
    size_t clear; /* bytes of struct link_msg link_decode clears first */
};

/* policy and stats, the last 264 bytes of a struct link_msg, are cleared
 * only for the one type each that carries them (link.h, link_decode). */
#define LAYOUT_CLEARING(n, f, c)            \
    {                                       \
        n, f, sizeof(f) / sizeof((f)[0]), c \
    }
#define LAYOUT(n, f) LAYOUT_CLEARING(n, f, offsetof(struct link_msg, policy))
_Static_assert(offsetof(struct link_msg, stats) > offsetof(struct link_msg, policy) &&
                   sizeof(struct link_msg) ==
                       offsetof(struct link_msg, stats) + sizeof(struct link_stats),
               "policy and stats must be the last members of struct link_msg");

static const struct layout layouts[] = {
    [LINK_HELLO] = LAYOUT("hello", hello_fields),
    [LINK_INTEREST_ADD] = LAYOUT("interest_add", position_ask_fields),
    [LINK_INTEREST_REMOVE] = LAYOUT("interest_remove", interest_remove_fields),
    [LINK_PUBLISH] = LAYOUT("publish", publish_fields),
    [LINK_MESSAGE] = LAYOUT("message", message_fields),
    [LINK_DIRECT] = LAYOUT("direct", direct_fields),
    [LINK_DIRECT_RESULT] = LAYOUT("direct_result", direct_result_fields),
    [LINK_ERROR] = LAYOUT("error", error_fields),
    [LINK_HEARTBEAT] = LAYOUT("heartbeat", heartbeat_fields),
    [LINK_POLICY] = LAYOUT_CLEARING("policy", policy_fields, sizeof(struct link_msg)),
    [LINK_STATS] = LAYOUT_CLEARING("stats", stats_fields, sizeof(struct link_msg)),
    [LINK_KICK] = LAYOUT("kick", kick_fields),
    [LINK_DRAIN] = LAYOUT("drain", drain_fields),
    [LINK_INTEREST_RESULT] = LAYOUT("interest_result", position_answer_fields),
    [LINK_PUBLISH_RESULT] = LAYOUT("publish_result", publish_result_fields),
    [LINK_HISTORY_READ] = LAYOUT("history_read", position_ask_fields),
    [LINK_HISTORY_RESULT] = LAYOUT("history_result", position_answer_fields),
    [LINK_TOPIC_RESET] = LAYOUT("topic_reset", topic_reset_fields),
    [LINK_EDGES] = LAYOUT("edges", edges_fields),
    [LINK_HOOKS] = LAYOUT("hooks", hooks_fields),
};

static const struct layout *layout_of(uint64_t type)
{
    if (type >= sizeof(layouts) / sizeof(layouts[0]) || !layouts[type].name)
        return NULL;
    return &layouts[type];
}

const char *link_type_name(enum link_type t)
{
    const struct layout *l = layout_of((uint64_t)t);
    return l ? l->name : "unknown";
}

struct link_str link_str_c(const char *s)
{
    struct link_str r = {s, s ? (uint32_t)strlen(s) : 0};
    return r;
}

/* Field accessors: the table stores offsets, these turn them into typed
 * pointers (const for the encoder, mutable for the decoder). */
#define FIELD_C(m, f, T) ((const T *)((const char *)(m) + (f)->off))
#define FIELD(m, f, T) ((T *)((char *)(m) + (f)->off))

/* ---- encoding */

/* Whether field f of m can be encoded: everything link_encode refuses. */
static int field_ok(const struct field *f, const struct link_msg *m)
{
    switch (f->kind) {
    case F_ENC: return *FIELD_C(m, f, uint8_t) < ENC_COUNT;
    case F_LONG: return *FIELD_C(m, f, long) >= 0;
    case F_STR:
    case F_BIN: {
        const struct link_str *s = FIELD_C(m, f, struct link_str);
        return !(s->len && !s->ptr) && !(f->kind == F_STR && s->len > f->max) &&
               s->len <= LINK_MAX_MESSAGE;
    }
    default: return 1;
    }
}

int link_encode(struct buf *out, const struct link_msg *m)
{
    const struct layout *lay = layout_of((uint64_t)m->type);
    if (!lay)
        return -1;

    /* common/mpwrite.h writes the bytes msgpack-c's packer would, straight
     * into out, checking each field as it goes: a refusal takes back what
     * was appended, so out is as it was. */
    size_t start = buf_readable(out);
    static const uint8_t zero[4];
    buf_append(out, zero, 4); /* length, patched below */

    mp_write_array(out, 1 + lay->nfields);
    mp_write_uint(out, (uint32_t)m->type);
    for (unsigned i = 0; i < lay->nfields; i++) {
        const struct field *f = &lay->fields[i];
        const struct link_str *s;
        if (!field_ok(f, m)) {
            buf_truncate(out, start);
            return -1;
        }
        switch (f->kind) {
        case F_U32: mp_write_uint(out, *FIELD_C(m, f, uint32_t)); break;
        case F_U64: mp_write_uint(out, *FIELD_C(m, f, uint64_t)); break;
        case F_ENC: mp_write_uint(out, *FIELD_C(m, f, uint8_t)); break;
        case F_I64: mp_write_int(out, *FIELD_C(m, f, int64_t)); break;
        case F_LONG: mp_write_uint(out, (uint64_t)*FIELD_C(m, f, long)); break;
        case F_ID_OR_NIL:
            if (m->has_id)
                mp_write_int(out, m->id);
            else
                mp_write_nil(out);
            break;
        case F_STR:
            s = FIELD_C(m, f, struct link_str);
            mp_write_str(out, s->ptr, s->len);
            break;
        case F_BIN:
            s = FIELD_C(m, f, struct link_str);
            mp_write_bin(out, s->ptr, s->len);
            break;
        }
    }

    size_t n = buf_readable(out) - start - 4;
    if (n > LINK_MAX_MESSAGE) {
        buf_truncate(out, start);
        return -1;
    }
    uint8_t *hdr = buf_head(out) + start;
    hdr[0] = (uint8_t)(n >> 24);
    hdr[1] = (uint8_t)(n >> 16);
    hdr[2] = (uint8_t)(n >> 8);
    hdr[3] = (uint8_t)n;
    return (int)(n + 4);
}

/* ---- decoding
 *
 * A hand-written reader of the fixed envelope: no allocation, strings point
 * into the input, and every read is bounds-checked. It reads the fields
 * first and walks only what follows them (a newer peer's additions) with
 * mp_object_len, so a message's bytes are read once; what it accepts is
 * exactly what mp_check accepts and the fields can hold. When it refuses,
 * mp_check decides the error, so that malformed msgpack is reported as such
 * whichever byte the reader stopped at. */

struct rd {
    const uint8_t *p, *end;
};

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads the array header. Returns the element count, or -1. */
static long rd_array(struct rd *r)
{
    if (r->p >= r->end)
        return -1;
    uint8_t b = *r->p;
    if (b >= 0x90 && b <= 0x9f) {
        r->p++;
        return b & 0x0f;
    }
    unsigned n = b == 0xdc ? 2 : b == 0xdd ? 4 : 0;
    if (!n || (size_t)(r->end - r->p) < 1 + n)
        return -1;
    long count = (long)be(r->p + 1, n);
    r->p += 1 + n;
    return count;
}

/* Reads any msgpack integer. Returns 0 with *neg = 0 and *u = value for a
 * value >= 0 (whatever its encoding, as msgpack-c does), *neg = 1 and *i for
 * a negative one; -1 if the next object is not an integer. */
static inline __attribute__((always_inline)) int rd_int(struct rd *r, int *neg, uint64_t *u,
                                                        int64_t *i)
{
    if (r->p >= r->end)
        return -1;
    uint8_t b = *r->p;
    unsigned n;
    int is_signed;

    if (b <= 0x7f) {
        r->p++;
        *neg = 0;
        *u = b;
        return 0;
    }
    if (b >= 0xe0) {
        r->p++;
        *neg = 1;
        *i = (int8_t)b;
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        n = 1u << (b - 0xcc);
        is_signed = 0;
    } else if (b >= 0xd0 && b <= 0xd3) {
        n = 1u << (b - 0xd0);
        is_signed = 1;
    } else {
        return -1;
    }
    if ((size_t)(r->end - r->p) < 1 + n)
        return -1;
    uint64_t v = be(r->p + 1, n);
    r->p += 1 + n;
    if (is_signed && (v >> (8 * n - 1)) & 1) {
        /* Sign-extend the n-byte two's complement value. */
        if (n < 8)
            v |= ~(uint64_t)0 << (8 * n);
        *neg = 1;
        *i = (int64_t)v;
        return 0;
    }
    *neg = 0;
    *u = v;
    return 0;
}

/* Reads a str (want_bin = 0) or bin (want_bin = 1). Returns 0, or -1 if the
 * next object is of another type. */
static inline __attribute__((always_inline)) int rd_bytes(struct rd *r, int want_bin,
                                                          struct link_str *s)
{
    if (r->p >= r->end)
        return -1;
    uint8_t b = *r->p;
    unsigned n; /* bytes of length after the type byte */
    uint64_t len = 0;

    if (!want_bin && b >= 0xa0 && b <= 0xbf) {
        n = 0;
        len = b & 0x1f;
    } else if (want_bin && b >= 0xc4 && b <= 0xc6) {
        n = 1u << (b - 0xc4);
    } else if (!want_bin && b >= 0xd9 && b <= 0xdb) {
        n = 1u << (b - 0xd9);
    } else {
        return -1;
    }
    if ((size_t)(r->end - r->p) < 1 + n)
        return -1;
    if (n)
        len = be(r->p + 1, n);
    r->p += 1 + n;
    if (len > (size_t)(r->end - r->p))
        return -1;
    s->ptr = (const char *)r->p;
    s->len = (uint32_t)len;
    r->p += len;
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reads one field into m. Returns 0, or -1 with err set. */
static int decode_field(struct rd *r, const struct layout *lay, const struct field *f,
                        struct link_msg *m, char *err, size_t errlen)
{
    int neg = 0;
    uint64_t u = 0;
    int64_t i = 0;
    struct link_str s = {NULL, 0};

    switch (f->kind) {
    case F_U32:
    case F_U64:
    case F_ENC:
    case F_LONG:
        if (rd_int(r, &neg, &u, &i) < 0 || neg)
            return fail(err, errlen, "%s: %s: expected an unsigned integer", lay->name, f->name);
        if (f->kind == F_LONG) {
            if (u > (uint64_t)LONG_MAX)
                return fail(err, errlen, "%s: %s: out of range", lay->name, f->name);
            *FIELD(m, f, long) = (long)u;
        } else if (f->kind == F_U64) {
            *FIELD(m, f, uint64_t) = u;
        } else if (f->kind == F_U32) {
            if (u > UINT32_MAX)
                return fail(err, errlen, "%s: %s: out of range", lay->name, f->name);
            *FIELD(m, f, uint32_t) = (uint32_t)u;
        } else {
            if (u >= ENC_COUNT)
                return fail(err, errlen, "%s: unknown enc %llu", lay->name, (unsigned long long)u);
            *FIELD(m, f, uint8_t) = (uint8_t)u;
        }
        return 0;
    case F_ID_OR_NIL:
        if (r->p < r->end && *r->p == 0xc0) {
            r->p++;
            m->has_id = 0;
            m->id = 0;
            return 0;
        }
        m->has_id = 1;
        /* fall through */
    case F_I64:
        if (rd_int(r, &neg, &u, &i) < 0)
            return fail(err, errlen, "%s: %s: expected an integer%s", lay->name, f->name,
                        f->kind == F_ID_OR_NIL ? " or nil" : "");
        if (!neg) {
            if (u > INT64_MAX)
                return fail(err, errlen, "%s: %s: out of range", lay->name, f->name);
            i = (int64_t)u;
        }
        *FIELD(m, f, int64_t) = i;
        return 0;
    case F_STR:
    case F_BIN:
        if (rd_bytes(r, f->kind == F_BIN, &s) < 0)
            return fail(err, errlen, "%s: %s: expected %s", lay->name, f->name,
                        f->kind == F_BIN ? "bin" : "str");
        if (f->kind == F_STR && s.len > f->max)
            return fail(err, errlen, "%s: %s: too long (%u > %u bytes)", lay->name, f->name,
                        (unsigned)s.len, (unsigned)f->max);
        *FIELD(m, f, struct link_str) = s;
        return 0;
    }
    return fail(err, errlen, "internal: bad field kind");
}

/* Reads n bytes of msgpack at p, the frame's body, into m. Returns 0, or
 * -1 with err set (link_decode asks mp_check whether to say so instead). */
static int decode_body(const uint8_t *p, size_t n, struct link_msg *m, char *err, size_t errlen)
{
    struct rd r = {p, p + n};
    long count = rd_array(&r);
    if (count < 0)
        return fail(err, errlen, "not an array");
    if (count == 0)
        return fail(err, errlen, "empty array");

    int neg = 0;
    uint64_t type = 0;
    int64_t itype = 0;
    if (rd_int(&r, &neg, &type, &itype) < 0)
        return fail(err, errlen, "type: expected an unsigned integer");
    const struct layout *lay = neg ? NULL : layout_of(type);
    if (!lay && neg)
        return fail(err, errlen, "unknown type %lld", (long long)itype);
    if (!lay)
        return fail(err, errlen, "unknown type %llu", (unsigned long long)type);
    if ((unsigned long)count < 1 + lay->nfields)
        return fail(err, errlen, "%s: too few elements (%ld, need %u)", lay->name, count,
                    1 + lay->nfields);

    memset(m, 0, lay->clear);
    m->type = (enum link_type)type;
    for (unsigned i = 0; i < lay->nfields; i++)
        if (decode_field(&r, lay, &lay->fields[i], m, err, errlen) < 0)
            return -1;
    /* Any further elements are a newer peer's additions, each within the
     * depth mp_check allows inside the top array; they fill the frame. */
    for (long k = count - 1 - (long)lay->nfields; k > 0; k--) {
        long used = mp_object_len(r.p, (size_t)(r.end - r.p), MP_MAX_DEPTH - 1);
        if (used <= 0)
            return fail(err, errlen, "malformed msgpack");
        r.p += used;
    }
    return r.p == r.end ? 0 : fail(err, errlen, "malformed msgpack");
}

int link_decode(const uint8_t *p, size_t len, struct link_msg *m, char *err, size_t errlen)
{
    if (len < 4)
        return 0;
    uint32_t n = (uint32_t)be(p, 4);
    if (n == 0 || n > LINK_MAX_MESSAGE)
        return fail(err, errlen, "bad length %u", (unsigned)n);
    if (len - 4 < n)
        return 0;
    if (decode_body(p + 4, n, m, err, errlen) < 0) {
        if (mp_check(p + 4, n, MP_MAX_DEPTH) < 0)
            return fail(err, errlen, "malformed msgpack");
        return -1; /* well-formed, and err says which field is wrong */
    }
    return (int)(n + 4);
}
