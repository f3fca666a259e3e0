/* Converts one payload value between JSON and msgpack, so an edge can deliver
 * a message published in one encoding to subscribers of the other. */
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mpcheck.h"
#include "common/msg.h"
#include "common/msg_internal.h"

/* ---- JSON -> msgpack */

/* `depth` counts the containers around v; the limit is the one mp_check
 * applies (no container, even an empty one, opens at depth MP_MAX_DEPTH, as
 * in msgpack-c), so whatever we emit is accepted by our own msgpack parser. */
static int pack_json(msgpack_packer *pk, json_t *v, unsigned depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        size_t key_len;
        json_t *val;
        size_t n = json_object_size(v);
        if (depth >= MP_MAX_DEPTH)
            return -1;
        msgpack_pack_map(pk, n);
        json_object_keylen_foreach(v, key, key_len, val)
        {
            msgpack_pack_str_with_body(pk, key, key_len);
            if (pack_json(pk, val, depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (depth >= MP_MAX_DEPTH)
            return -1;
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            if (pack_json(pk, json_array_get(v, i), depth + 1) < 0)
                return -1;
        return 0;
    }
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    }
    return -1;
}

int transcode_json_to_msgpack(const uint8_t *json, size_t len, struct buf *out)
{
    json_error_t je;
    /* JSON_ALLOW_NUL: "\u0000" is valid JSON and a valid msgpack str byte. */
    json_t *v = json_loadb((const char *)json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return -1;

    size_t mark = buf_readable(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msg__mp_write);
    int rc = pack_json(&pk, v, 0);
    json_decref(v);
    if (rc < 0) {
        msg__buf_truncate(out, mark);
        return -1;
    }
    return 0;
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
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
        MSG__APPEND_LIT(out, "null");
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
        size_t nz = 0;
        while (digits[nz] == '0' && digits[nz + 1])
            nz++;
        memmove(digits, digits + nz, strlen(digits + nz) + 1);
        real = 1;
    }
    buf_append_str(out, s);
    if (!real)
        MSG__APPEND_LIT(out, ".0");
}

static int emit_json(struct rd *r, struct buf *out, unsigned depth);

/* Emits `n` map entries. JSON object keys must be strings: other keys
 * (numbers, nil, booleans, arrays, maps) become their JSON text, quoted. */
static int emit_map(struct rd *r, struct buf *out, uint64_t n, unsigned depth)
{
    struct buf key = BUF_INIT; /* only used for non-string keys */
    int rc = -1;

    buf_append_u8(out, '{');
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(out, ',');
        if (!rd_need(r, 1))
            goto done;
        uint8_t b = *r->p;
        /* str, bin and ext already emit a JSON string; quoting their JSON
         * text again would only add escaped quotes. */
        if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xc4 && b <= 0xc9) || (b >= 0xd4 && b <= 0xdb)) {
            if (emit_json(r, out, depth) < 0)
                goto done;
        } else {
            buf_reset(&key);
            if (emit_json(r, &key, depth) < 0)
                goto done;
            msg__json_append_str(out, (const char *)buf_head(&key), buf_readable(&key));
        }
        buf_append_u8(out, ':');
        if (emit_json(r, out, depth) < 0)
            goto done;
    }
    buf_append_u8(out, '}');
    rc = 0;
done:
    buf_deinit(&key);
    return rc;
}

static int emit_array(struct rd *r, struct buf *out, uint64_t n, unsigned depth)
{
    buf_append_u8(out, '[');
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(out, ',');
        if (emit_json(r, out, depth) < 0)
            return -1;
    }
    buf_append_u8(out, ']');
    return 0;
}

/* Emits the object at r->p and advances past it. `depth` counts the
 * non-empty containers around it (as mp_check does). */
static int emit_json(struct rd *r, struct buf *out, unsigned depth)
{
    uint64_t n;
    size_t skip = 0; /* ext: the type byte before the data */

    if (!rd_need(r, 1))
        return -1;
    uint8_t b = *r->p++;

    if (b <= 0x7f) {
        msg__json_append_u64(out, b);
        return 0;
    }
    if (b >= 0xe0) {
        msg__json_append_i64(out, (int8_t)b);
        return 0;
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
    case 0xc0:
        MSG__APPEND_LIT(out, "null");
        return 0;
    case 0xc2:
        MSG__APPEND_LIT(out, "false");
        return 0;
    case 0xc3:
        MSG__APPEND_LIT(out, "true");
        return 0;
    case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
        if (rd_len(r, (size_t)1 << (b - 0xc4), &n) < 0)
            return -1;
        goto bytes;
    case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type, data */
        if (rd_len(r, (size_t)1 << (b - 0xc7), &n) < 0)
            return -1;
        skip = 1;
        goto bytes;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16 */
        n = (uint64_t)1 << (b - 0xd4);
        skip = 1;
        goto bytes;
    case 0xca: {
        if (!rd_need(r, 4))
            return -1;
        uint32_t w = (uint32_t)rd_be(r->p, 4);
        float f;
        memcpy(&f, &w, 4);
        r->p += 4;
        append_real(out, f, 1);
        return 0;
    }
    case 0xcb: {
        if (!rd_need(r, 8))
            return -1;
        uint64_t w = rd_be(r->p, 8);
        double d;
        memcpy(&d, &w, 8);
        r->p += 8;
        append_real(out, d, 0);
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: { /* uint 8/16/32/64 */
        size_t w = (size_t)1 << (b - 0xcc);
        if (rd_len(r, w, &n) < 0)
            return -1;
        msg__json_append_u64(out, n);
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: { /* int 8/16/32/64 */
        size_t w = (size_t)1 << (b - 0xd0);
        if (rd_len(r, w, &n) < 0)
            return -1;
        /* Sign-extend from w bytes. */
        int64_t v = w == 8 ? (int64_t)n
                           : (int64_t)(n ^ ((uint64_t)1 << (w * 8 - 1))) -
                                 (int64_t)((uint64_t)1 << (w * 8 - 1));
        msg__json_append_i64(out, v);
        return 0;
    }
    case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
        if (rd_len(r, (size_t)1 << (b - 0xd9), &n) < 0)
            return -1;
        goto str;
    case 0xdc: case 0xdd: /* array 16/32 */
        if (rd_len(r, (size_t)2 << (b - 0xdc), &n) < 0)
            return -1;
        goto array;
    case 0xde: case 0xdf: /* map 16/32 */
        if (rd_len(r, (size_t)2 << (b - 0xde), &n) < 0)
            return -1;
        goto map;
    default: /* 0xc1 is never used */
        return -1;
    }

str:
    if (!rd_need(r, n))
        return -1;
    msg__json_append_str(out, (const char *)r->p, n);
    r->p += n;
    return 0;
bytes:
    if (!rd_need(r, skip) || !rd_need(r, skip + n))
        return -1;
    append_base64(out, r->p + skip, n);
    r->p += skip + n;
    return 0;
array:
    if (depth >= MP_MAX_DEPTH)
        return -1;
    /* Each element takes at least one byte: a count beyond the bytes left is
     * corrupt, and checking it here bounds the loop. */
    if (!rd_need(r, n))
        return -1;
    return emit_array(r, out, n, depth + 1);
map:
    if (depth >= MP_MAX_DEPTH)
        return -1;
    if (n > (uint64_t)(r->end - r->p) / 2)
        return -1;
    return emit_map(r, out, n, depth + 1);
}

int transcode_msgpack_to_json(const uint8_t *mp, size_t len, struct buf *out)
{
    if (!mp || mp_check(mp, len, MP_MAX_DEPTH) < 0)
        return -1;

    size_t mark = buf_readable(out);
    struct rd r = {mp, mp + len};
    if (emit_json(&r, out, 0) < 0 || r.p != r.end) {
        msg__buf_truncate(out, mark);
        return -1;
    }
    return 0;
}
