/* JSON text writers: see jsonwrite.h. */
#include "common/jsonwrite.h"

#include "common/utf8.h"

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
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

void json_write_str(struct buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0, run = 0;

    /* One reservation covers the common case of nothing to escape; the
     * verbatim runs are copied once each, not byte by byte. */
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
            BUF_APPEND_LIT(b, "\xef\xbf\xbd");
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

void json_write_u64(struct buf *b, uint64_t v)
{
    char tmp[20]; /* 2^64 - 1 has 20 digits */
    char *p = tmp + sizeof tmp;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void json_write_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_append_u8(b, '-');
        /* Negating in unsigned arithmetic is defined for INT64_MIN too. */
        json_write_u64(b, 0 - (uint64_t)v);
    } else {
        json_write_u64(b, (uint64_t)v);
    }
}
