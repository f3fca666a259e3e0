/* Builds the edge-to-client messages of protocol v1 (msg.h) straight into an
 * output buffer, without a JSON DOM or an intermediate msgpack buffer. */
#include <msgpack.h>
#include <string.h>

#include "common/mpcheck.h"
#include "common/jsoncheck.h"
#include "common/msg.h"
#include "common/msg_internal.h"
#include "common/utf8.h"

/* ---- JSON output primitives (shared with transcode.c via msg_internal.h) */

/* 0: copied as is; 1: needs a JSON escape; 2: first byte of a multi-byte
 * UTF-8 sequence or an invalid byte, checked by utf8_sequence(). */
static const uint8_t json_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80.. */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

void msg__json_append_str(struct buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0, run = 0;

    /* One reservation covers the common case of nothing to escape. */
    buf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    while (i < n) {
        uint8_t c = s[i];
        if (json_class[c] == 0) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t bad, l = utf8_sequence(s + i, n - i, &bad);
            if (l) {
                i += l; /* valid: stays in the verbatim run */
                continue;
            }
            buf_append(b, s + run, i - run);
            MSG__APPEND_LIT(b, "\xef\xbf\xbd");
            i += bad;
            run = i;
            continue;
        }
        buf_append(b, s + run, i - run);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        buf_append(b, esc, el);
        i++;
        run = i;
    }
    buf_append(b, s + run, i - run);
    buf_append_u8(b, '"');
}

void msg__json_append_u64(struct buf *b, uint64_t v)
{
    char tmp[20]; /* 2^64 - 1 has 20 digits */
    char *p = tmp + sizeof tmp;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void msg__json_append_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_append_u8(b, '-');
        /* Negating in unsigned arithmetic is defined for INT64_MIN too. */
        msg__json_append_u64(b, 0 - (uint64_t)v);
    } else {
        msg__json_append_u64(b, (uint64_t)v);
    }
}

int msg__mp_write(void *data, const char *p, size_t n)
{
    buf_append(data, p, n);
    return 0;
}

/* ---- builders */

/* ---- payloads */

int msg_data_check(enum enc enc, const uint8_t *data, size_t len)
{
    if (!data || len == 0)
        return MSG_DATA_INVALID;
    if (enc == ENC_MSGPACK)
        return mp_check_payload(data, len, MSG_DATA_MAX_DEPTH) == 0 ? MSG_DATA_OK
                                                                     : MSG_DATA_INVALID;
    /* A syntax check, not a parse: jansson agrees on every input (the
     * fuzz_jsoncheck driver holds it to that) but builds a document to do
     * it, ten times the CPU per message and worker. */
    if (json_check(data, len, JSON_CHECK_MAX_DEPTH) < 0)
        return MSG_DATA_INVALID;
    return MSG_DATA_OK;
}

int msg_data_render(struct buf *out, enum enc enc, enum enc data_enc, const uint8_t *data,
                    size_t len, size_t budget)
{
    if (!data || len == 0)
        return MSG_DATA_INVALID; /* not a value: appending nothing would corrupt the message */
    /* Longer data is refused before it is parsed, whatever it would render
     * as: a publisher's edge never sends it (msg_parse refuses data longer
     * than its budget), and the check bounds what parsing costs here (a
     * jansson document is up to ~70 times its text) by the budget rather
     * than by the link's message size. */
    if (len > budget)
        return MSG_DATA_OVER_BUDGET;
    if (enc == data_enc) {
        /* Checked once per message and encoding by the caller's design
         * (one build per encoding, never per subscriber). */
        int rc = msg_data_check(enc, data, len);
        if (rc < 0)
            return rc;
        buf_append(out, data, len);
        return MSG_DATA_OK;
    }
    if (enc == ENC_JSON)
        return transcode_msgpack_to_json(data, len, budget, out);
    return transcode_json_to_msgpack(data, len, budget, out);
}

/* Room to reserve for data's rendering: its own length (the usual size in
 * either encoding), but never more than the budget allows. */
static size_t reserve_hint(size_t data_len, size_t budget)
{
    return data_len < budget ? data_len : budget;
}

static void mp_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str_with_body(pk, s, n);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The constant parts of the msgpack maps are written as byte literals (fixmap
 * header, fixstr keys): one memcpy instead of two packer calls per key. The
 * literals are split after each \x escape because a following hex letter
 * would otherwise extend the escape. */

int msg_build_msg(struct buf *out, enum enc enc, const char *topic, size_t topic_len,
                  uint64_t seq, const char *from, size_t from_len, const char *user,
                  size_t user_len, enum enc data_enc, const uint8_t *data, size_t data_len,
                  size_t budget)
{
    size_t mark = buf_readable(out);
    int rc;

    if (enc == ENC_JSON) {
        buf_reserve(out, 56 + topic_len + from_len + reserve_hint(data_len, budget));
        MSG__APPEND_LIT(out, "{\"op\":\"msg\",\"topic\":");
        msg__json_append_str(out, topic, topic_len);
        MSG__APPEND_LIT(out, ",\"seq\":");
        msg__json_append_u64(out, seq);
        MSG__APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        MSG__APPEND_LIT(out, ",\"from\":");
        msg__json_append_str(out, from, from_len);
        if (user_len) {
            MSG__APPEND_LIT(out, ",\"user\":");
            msg__json_append_str(out, user, user_len);
        }
        buf_append_u8(out, '}');
        return 0;
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    buf_reserve(out, 56 + topic_len + from_len + user_len + reserve_hint(data_len, budget));
    buf_append_u8(out, user_len ? 0x86 : 0x85); /* fixmap of 6 or 5 */
    MSG__APPEND_LIT(out, "\xa2op\xa3msg\xa5topic");
    mp_str(&pk, topic, topic_len);
    MSG__APPEND_LIT(out, "\xa3seq");
    msgpack_pack_uint64(&pk, seq);
    MSG__APPEND_LIT(out, "\xa4"
                         "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    MSG__APPEND_LIT(out, "\xa4"
                         "from");
    mp_str(&pk, from, from_len);
    if (user_len) {
        MSG__APPEND_LIT(out, "\xa4"
                             "user");
        mp_str(&pk, user, user_len);
    }
    return 0;
fail:
    msg__buf_truncate(out, mark);
    return rc;
}

int msg_build_direct(struct buf *out, enum enc enc, const char *from, size_t from_len,
                     const char *user, size_t user_len, enum enc data_enc, const uint8_t *data,
                     size_t data_len, size_t budget)
{
    size_t mark = buf_readable(out);
    int rc;

    if (enc == ENC_JSON) {
        buf_reserve(out, 40 + from_len + reserve_hint(data_len, budget));
        MSG__APPEND_LIT(out, "{\"op\":\"direct\",\"from\":");
        msg__json_append_str(out, from, from_len);
        if (user_len) {
            MSG__APPEND_LIT(out, ",\"user\":");
            msg__json_append_str(out, user, user_len);
        }
        MSG__APPEND_LIT(out, ",\"data\":");
        if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
            goto fail;
        buf_append_u8(out, '}');
        return 0;
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    buf_reserve(out, 40 + from_len + user_len + reserve_hint(data_len, budget));
    buf_append_u8(out, user_len ? 0x84 : 0x83); /* fixmap of 4 or 3 */
    MSG__APPEND_LIT(out, "\xa2op\xa6"
                         "direct\xa4"
                         "from");
    mp_str(&pk, from, from_len);
    if (user_len) {
        MSG__APPEND_LIT(out, "\xa4"
                             "user");
        mp_str(&pk, user, user_len);
    }
    MSG__APPEND_LIT(out, "\xa4"
                         "data");
    if ((rc = msg_data_render(out, enc, data_enc, data, data_len, budget)) < 0)
        goto fail;
    return 0;
fail:
    msg__buf_truncate(out, mark);
    return rc;
}

void msg_build_welcome(struct buf *out, enum enc enc, const char *conn, const char *edge,
                       const char *region, const struct policy *policy, const char *user)
{
    conn = nz(conn);
    edge = nz(edge);
    region = nz(region);
    user = nz(user);
    size_t cl = strlen(conn), el = strlen(edge), rl = strlen(region), ul = strlen(user);

    if (enc == ENC_JSON) {
        MSG__APPEND_LIT(out, "{\"op\":\"welcome\",\"conn\":");
        msg__json_append_str(out, conn, cl);
        MSG__APPEND_LIT(out, ",\"edge\":");
        msg__json_append_str(out, edge, el);
        MSG__APPEND_LIT(out, ",\"region\":");
        msg__json_append_str(out, region, rl);
        if (ul) {
            MSG__APPEND_LIT(out, ",\"user\":");
            msg__json_append_str(out, user, ul);
        }
        if (policy) {
            MSG__APPEND_LIT(out, ",\"policy\":{\"idle_timeout_ms\":");
            msg__json_append_i64(out, policy->idle_timeout_ms);
            MSG__APPEND_LIT(out, ",\"ping_interval_ms\":");
            msg__json_append_i64(out, policy->ping_interval_ms);
            MSG__APPEND_LIT(out, ",\"max_message_bytes\":");
            msg__json_append_i64(out, policy->max_message_bytes);
            buf_append_u8(out, '}');
        }
        buf_append_u8(out, '}');
        return;
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    buf_append_u8(out, (uint8_t)(0x84 + !!policy + !!ul)); /* fixmap of 4 to 6 */
    MSG__APPEND_LIT(out, "\xa2op\xa7welcome\xa4"
                         "conn");
    mp_str(&pk, conn, cl);
    MSG__APPEND_LIT(out, "\xa4"
                         "edge");
    mp_str(&pk, edge, el);
    MSG__APPEND_LIT(out, "\xa6region");
    mp_str(&pk, region, rl);
    if (ul) {
        MSG__APPEND_LIT(out, "\xa4"
                             "user");
        mp_str(&pk, user, ul);
    }
    if (policy) {
        MSG__APPEND_LIT(out, "\xa6policy\x83\xafidle_timeout_ms");
        msgpack_pack_int64(&pk, policy->idle_timeout_ms);
        MSG__APPEND_LIT(out, "\xb0ping_interval_ms");
        msgpack_pack_int64(&pk, policy->ping_interval_ms);
        MSG__APPEND_LIT(out, "\xb1max_message_bytes");
        msgpack_pack_int64(&pk, policy->max_message_bytes);
    }
}

void msg_build_pong(struct buf *out, enum enc enc, int has_id, int64_t id)
{
    if (enc == ENC_JSON) {
        MSG__APPEND_LIT(out, "{\"op\":\"pong\"");
        if (has_id) {
            MSG__APPEND_LIT(out, ",\"id\":");
            msg__json_append_i64(out, id);
        }
        buf_append_u8(out, '}');
        return;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    buf_append_u8(out, has_id ? 0x82 : 0x81);
    MSG__APPEND_LIT(out, "\xa2op\xa4pong");
    if (has_id) {
        MSG__APPEND_LIT(out, "\xa2id");
        msgpack_pack_int64(&pk, id);
    }
}

void msg_build_ack(struct buf *out, enum enc enc, int64_t id)
{
    if (enc == ENC_JSON) {
        MSG__APPEND_LIT(out, "{\"op\":\"ack\",\"id\":");
        msg__json_append_i64(out, id);
        buf_append_u8(out, '}');
        return;
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    MSG__APPEND_LIT(out, "\x82\xa2op\xa3"
                         "ack\xa2id");
    msgpack_pack_int64(&pk, id);
}

void msg_build_error(struct buf *out, enum enc enc, int has_id, int64_t id, int code,
                     const char *reason)
{
    reason = nz(reason);
    size_t rl = strlen(reason);

    if (enc == ENC_JSON) {
        MSG__APPEND_LIT(out, "{\"op\":\"error\"");
        if (has_id) {
            MSG__APPEND_LIT(out, ",\"id\":");
            msg__json_append_i64(out, id);
        }
        MSG__APPEND_LIT(out, ",\"code\":");
        msg__json_append_i64(out, code);
        MSG__APPEND_LIT(out, ",\"reason\":");
        msg__json_append_str(out, reason, rl);
        buf_append_u8(out, '}');
        return;
    }

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    if (has_id) {
        MSG__APPEND_LIT(out, "\x84\xa2op\xa5"
                             "error\xa2id");
        msgpack_pack_int64(&pk, id);
    } else {
        MSG__APPEND_LIT(out, "\x83\xa2op\xa5"
                             "error");
    }
    MSG__APPEND_LIT(out, "\xa4"
                         "code");
    msgpack_pack_int(&pk, code);
    MSG__APPEND_LIT(out, "\xa6reason");
    mp_str(&pk, reason, rl);
}
