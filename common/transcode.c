/* Converts one payload value between JSON and msgpack, so an edge can deliver
 * a message published in one encoding to subscribers of the other, within an
 * output budget (msg.h). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonwrite.h"
#include "common/mpcheck.h"
#include "common/mpwrite.h"
#include "common/msg.h"

/* ---- JSON -> msgpack */

/* Output state of one transcoding: out may grow to `limit` readable bytes
 * (its length before the call plus the budget, saturated). */
struct sink {
    struct buf *out;
    size_t limit;
};

static void sink_init(struct sink *k, struct buf *out, size_t budget)
{
    size_t mark = buf_readable(out);
    k->out = out;
    k->limit = budget > SIZE_MAX - mark ? SIZE_MAX : mark + budget;
}

/* 1 if n more bytes would not pass the limit. */
static int sink_fits(const struct sink *k, size_t n)
{
    size_t used = buf_readable(k->out);
    return used <= k->limit && n <= k->limit - used;
}

static int sink_over(const struct sink *k)
{
    return buf_readable(k->out) > k->limit;
}

/* `depth` counts the containers around v; no container, even an empty one,
 * opens at depth MSG_DATA_MAX_DEPTH (mp_check's rule, as in msgpack-c), so
 * what we emit, inside a client message, is accepted by msgpack-c. The
 * budget is checked after each value and before each string is copied, so
 * the output never passes it by more than one scalar (9 bytes). */
static int pack_json(const struct sink *k, json_t *v, unsigned depth)
{
    int rc;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t key_len;
        json_t *val;
        size_t n = json_object_size(v);
        if (depth >= MSG_DATA_MAX_DEPTH)
            return MSG_DATA_INVALID;
        mp_write_map(k->out, n);
        json_object_keylen_foreach(v, key, key_len, val)
        {
            if (!sink_fits(k, mp_write_str_size(key_len)))
                return MSG_DATA_OVER_BUDGET;
            mp_write_str(k->out, key, key_len);
            if ((rc = pack_json(k, val, depth + 1)) < 0)
                return rc;
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (depth >= MSG_DATA_MAX_DEPTH)
            return MSG_DATA_INVALID;
        mp_write_array(k->out, n);
        for (size_t i = 0; i < n; i++)
            if ((rc = pack_json(k, json_array_get(v, i), depth + 1)) < 0)
                return rc;
        break;
    }
    case JSON_STRING:
        if (!sink_fits(k, mp_write_str_size(json_string_length(v))))
            return MSG_DATA_OVER_BUDGET;
        mp_write_str(k->out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: mp_write_int(k->out, json_integer_value(v)); break;
    case JSON_REAL: mp_write_double(k->out, json_real_value(v)); break;
    case JSON_TRUE: mp_write_bool(k->out, 1); break;
    case JSON_FALSE: mp_write_bool(k->out, 0); break;
    case JSON_NULL: mp_write_nil(k->out); break;
    default: return MSG_DATA_INVALID;
    }
    return sink_over(k) ? MSG_DATA_OVER_BUDGET : MSG_DATA_OK;
}

int transcode_json_to_msgpack(const uint8_t *json, size_t len, size_t budget, struct buf *out)
{
    json_error_t je;
    /* JSON_ALLOW_NUL: "\u0000" is valid JSON and a valid msgpack str byte.
     * The document costs a small multiple of len (jansson), not of budget. */
    json_t *v = json_loadb((const char *)json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return MSG_DATA_INVALID;

    size_t mark = buf_readable(out);
    struct sink k;
    sink_init(&k, out, budget);
    int rc = pack_json(&k, v, 0);
    json_decref(v);
    if (rc < 0)
        buf_truncate(out, mark);
    return rc;
}

/* ---- msgpack -> JSON: a direct walk over the bytes (no msgpack-c objects,
 * so no zone allocation per payload). mp_check has already proved the input
 * well formed; the reader still checks every length, so a bug elsewhere
 * cannot turn into an out-of-bounds read. */

struct rd {
    const uint8_t *p, *end;
};

static int rd_need(const struct rd *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint64_t rd_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian length or count after the type byte. */
static int rd_len(struct rd *r, size_t n, uint64_t *v)
{
    if (!rd_need(r, n))
        return -1;
    *v = rd_be(r->p, n);
    r->p += n;
    return 0;
}

static void append_base64(struct buf *out, const uint8_t *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = (n + 2) / 3 * 4;

    buf_reserve(out, olen + 2);
    char *o = (char *)buf_tail(out);
    *o++ = '"';
    size_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[w >> 18];
        *o++ = tab[(w >> 12) & 63];
        *o++ = tab[(w >> 6) & 63];
        *o++ = tab[w & 63];
    }
    if (n - i == 1) {
        uint32_t w = (uint32_t)s[i] << 16;
        *o++ = tab[w >> 18];
        *o++ = tab[(w >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *o++ = tab[w >> 18];
        *o++ = tab[(w >> 12) & 63];
        *o++ = tab[(w >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    buf_commit(out, olen + 2);
}

/* Shortest decimal form that reads back to the same value (trying 15, 16,
 * then 17 significant digits for float64, 6..9 for float32: %.17g / %.9g
 * always round-trip), so 0.1 stays "0.1" rather than 0.10000000000000001.
 * NaN and infinities have no JSON form and become null. A ".0" is added to
 * integral values so they read back as reals, keeping float64 a float64 on a
 * JSON -> msgpack round trip. */
static void append_real(struct buf *out, double d, int is_float32)
{
    char s[40];
    int prec = is_float32 ? 6 : 15, max = is_float32 ? 9 : 17;

    if (!isfinite(d)) {
        BUF_APPEND_LIT(out, "null");
        return;
    }
    for (;; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (prec >= max)
            break;
        if (is_float32 ? strtof(s, NULL) == (float)d : strtod(s, NULL) == d)
            break;
    }
    /* A locale with a decimal comma would make snprintf write one; JSON wants
     * a point. Nothing else %g writes is locale-dependent. */
    int real = 0;
    char *e = NULL;
    for (char *c = s; *c; c++) {
        if (*c == ',')
            *c = '.';
        if (*c == '.')
            real = 1;
        if (*c == 'e')
            e = c;
    }
    if (e) {
        /* %g pads the exponent to two digits ("2.5e-08"); drop the padding
         * so the text matches what JSON producers usually write. */
        char *digits = e + 2; /* %g always writes a sign after 'e' */
        size_t pad = 0;
        while (digits[pad] == '0' && digits[pad + 1])
            pad++;
        memmove(digits, digits + pad, strlen(digits + pad) + 1);
        real = 1;
    }
    buf_append_str(out, s);
    if (!real)
        BUF_APPEND_LIT(out, ".0");
}

static int emit_json(struct rd *r, const struct sink *k, unsigned depth);

/* 1 if the object starting with byte b renders as a JSON string by itself:
 * str, and bin and ext (base64). */
static int renders_as_string(uint8_t b)
{
    return (b >= 0xa0 && b <= 0xbf) || (b >= 0xc4 && b <= 0xc9) || (b >= 0xd4 && b <= 0xdb);
}

/* Emits one map key as a JSON string. str, bin and ext already render as
 * one. nil, booleans, integers and floats render as their JSON text, which
 * holds no '"' or '\\', so quoting it needs no escaping: the key costs its
 * own rendering plus two bytes, keeping the whole walk linear. A map or an
 * array has no JSON key form: quoting its text would escape every quote
 * inside it again, doubling the output at each level of keys within keys
 * (28 levels turned 80 bytes into more than a gigabyte). */
static int emit_key(struct rd *r, const struct sink *k, unsigned depth)
{
    uint8_t b = *r->p;
    int rc;

    if (renders_as_string(b))
        return emit_json(r, k, depth);
    if ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf))
        return MSG_DATA_INVALID;
    buf_append_u8(k->out, '"');
    if ((rc = emit_json(r, k, depth)) < 0)
        return rc;
    buf_append_u8(k->out, '"');
    return sink_over(k) ? MSG_DATA_OVER_BUDGET : MSG_DATA_OK;
}

/* Emits `n` map entries. */
static int emit_map(struct rd *r, const struct sink *k, uint64_t n, unsigned depth)
{
    int rc;

    buf_append_u8(k->out, '{');
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(k->out, ',');
        if (!rd_need(r, 1))
            return MSG_DATA_INVALID;
        if ((rc = emit_key(r, k, depth)) < 0)
            return rc;
        buf_append_u8(k->out, ':');
        if ((rc = emit_json(r, k, depth)) < 0)
            return rc;
    }
    buf_append_u8(k->out, '}');
    return sink_over(k) ? MSG_DATA_OVER_BUDGET : MSG_DATA_OK;
}

static int emit_array(struct rd *r, const struct sink *k, uint64_t n, unsigned depth)
{
    int rc;

    buf_append_u8(k->out, '[');
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(k->out, ',');
        if ((rc = emit_json(r, k, depth)) < 0)
            return rc;
    }
    buf_append_u8(k->out, ']');
    return sink_over(k) ? MSG_DATA_OVER_BUDGET : MSG_DATA_OK;
}

/* Emits the object at r->p and advances past it. `depth` counts the
 * non-empty containers around it (as mp_check does). The budget is checked
 * after every value, and before a string or base64 text is written against
 * its smallest possible size, so the output passes the budget by at most one
 * scalar's text (< 40 bytes) or one string's escapes before the walk stops. */
static int emit_json(struct rd *r, const struct sink *k, unsigned depth)
{
    struct buf *out = k->out;
    uint64_t n;
    size_t skip = 0; /* ext: the type byte before the data */

    if (!rd_need(r, 1))
        return MSG_DATA_INVALID;
    uint8_t b = *r->p++;

    if (b <= 0x7f) {
        json_write_u64(out, b);
        goto scalar;
    }
    if (b >= 0xe0) {
        json_write_i64(out, (int8_t)b);
        goto scalar;
    }
    if (b <= 0x8f) {
        n = b & 0x0f;
        goto map;
    }
    if (b <= 0x9f) {
        n = b & 0x0f;
        goto array;
    }
    if (b <= 0xbf) {
        n = b & 0x1f;
        goto str;
    }
    switch (b) {
    case 0xc0: BUF_APPEND_LIT(out, "null"); goto scalar;
    case 0xc2: BUF_APPEND_LIT(out, "false"); goto scalar;
    case 0xc3: BUF_APPEND_LIT(out, "true"); goto scalar;
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        if (rd_len(r, (size_t)1 << (b - 0xc4), &n) < 0)
            return MSG_DATA_INVALID;
        goto bytes;
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, type, data */
        if (rd_len(r, (size_t)1 << (b - 0xc7), &n) < 0)
            return MSG_DATA_INVALID;
        skip = 1;
        goto bytes;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1..16 */
        n = (uint64_t)1 << (b - 0xd4);
        skip = 1;
        goto bytes;
    case 0xca: {
        if (!rd_need(r, 4))
            return MSG_DATA_INVALID;
        uint32_t w = (uint32_t)rd_be(r->p, 4);
        float f;
        memcpy(&f, &w, 4);
        r->p += 4;
        append_real(out, f, 1);
        goto scalar;
    }
    case 0xcb: {
        if (!rd_need(r, 8))
            return MSG_DATA_INVALID;
        uint64_t w = rd_be(r->p, 8);
        double d;
        memcpy(&d, &w, 8);
        r->p += 8;
        append_real(out, d, 0);
        goto scalar;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: { /* uint 8/16/32/64 */
        size_t w = (size_t)1 << (b - 0xcc);
        if (rd_len(r, w, &n) < 0)
            return MSG_DATA_INVALID;
        json_write_u64(out, n);
        goto scalar;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: { /* int 8/16/32/64 */
        size_t w = (size_t)1 << (b - 0xd0);
        if (rd_len(r, w, &n) < 0)
            return MSG_DATA_INVALID;
        /* Sign-extend from w bytes. */
        int64_t v = w == 8 ? (int64_t)n
                           : (int64_t)(n ^ ((uint64_t)1 << (w * 8 - 1))) -
                                 (int64_t)((uint64_t)1 << (w * 8 - 1));
        json_write_i64(out, v);
        goto scalar;
    }
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        if (rd_len(r, (size_t)1 << (b - 0xd9), &n) < 0)
            return MSG_DATA_INVALID;
        goto str;
    case 0xdc:
    case 0xdd: /* array 16/32 */
        if (rd_len(r, (size_t)2 << (b - 0xdc), &n) < 0)
            return MSG_DATA_INVALID;
        goto array;
    case 0xde:
    case 0xdf: /* map 16/32 */
        if (rd_len(r, (size_t)2 << (b - 0xde), &n) < 0)
            return MSG_DATA_INVALID;
        goto map;
    default: /* 0xc1 is never used */ return MSG_DATA_INVALID;
    }

scalar:
    return sink_over(k) ? MSG_DATA_OVER_BUDGET : MSG_DATA_OK;
str:
    if (!rd_need(r, n))
        return MSG_DATA_INVALID;
    /* At least n + 2 bytes (quotes); escapes may add up to 5 per byte. */
    if (!sink_fits(k, n + 2))
        return MSG_DATA_OVER_BUDGET;
    json_write_str(out, (const char *)r->p, n);
    r->p += n;
    goto scalar;
bytes:
    if (!rd_need(r, skip) || !rd_need(r, skip + n))
        return MSG_DATA_INVALID;
    if (!sink_fits(k, (n + 2) / 3 * 4 + 2))
        return MSG_DATA_OVER_BUDGET;
    append_base64(out, r->p + skip, n);
    r->p += skip + n;
    goto scalar;
array:
    if (depth >= MSG_DATA_MAX_DEPTH)
        return MSG_DATA_INVALID;
    /* Each element takes at least one byte: a count beyond the bytes left is
     * corrupt, and checking it here bounds the loop. */
    if (!rd_need(r, n))
        return MSG_DATA_INVALID;
    return emit_array(r, k, n, depth + 1);
map:
    if (depth >= MSG_DATA_MAX_DEPTH)
        return MSG_DATA_INVALID;
    if (n > (uint64_t)(r->end - r->p) / 2)
        return MSG_DATA_INVALID;
    return emit_map(r, k, n, depth + 1);
}

int transcode_msgpack_to_json(const uint8_t *mp, size_t len, size_t budget, struct buf *out)
{
    if (!mp || mp_check(mp, len, MSG_DATA_MAX_DEPTH) < 0)
        return MSG_DATA_INVALID;

    size_t mark = buf_readable(out);
    struct sink k;
    sink_init(&k, out, budget);
    struct rd r = {mp, mp + len};
    int rc = emit_json(&r, &k, 0);
    if (rc == MSG_DATA_OK && r.p != r.end)
        rc = MSG_DATA_INVALID;
    if (rc < 0)
        buf_truncate(out, mark);
    return rc;
}
