/* Strict UTF-8 validation (RFC 3629 section 4) for every string spoke accepts
 * from clients, and cutting untrusted text to valid UTF-8 of bounded length. */
#include "common/utf8.h"

#include <string.h>

/* Most protocol text (keys, topics, ids, typical payload strings) is ASCII,
 * so runs of 8 bytes with no high bit are skipped with one load and one test;
 * memcpy keeps the unaligned load portable and compiles to a single mov. */
static size_t utf8_skip_ascii(const uint8_t *p, size_t i, size_t n)
{
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
        i += 8;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

/* The table of well-formed sequences (RFC 3629 section 4): the lead byte
 * fixes the length, and the allowed range of the *second* byte is what
 * excludes overlongs (E0, F0), surrogates (ED) and code points above
 * U+10FFFF (F4). C0, C1 and F5..FF never appear. */
size_t utf8_sequence(const uint8_t *p, size_t n, size_t *bad)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    size_t len, k;

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        *bad = 1;
        return 0;
    }
    if (n < 2 || p[1] < lo || p[1] > hi) {
        *bad = 1;
        return 0;
    }
    for (k = 2; k < len; k++) {
        if (k >= n || (p[k] & 0xc0) != 0x80) {
            *bad = k; /* the valid prefix is the subpart */
            return 0;
        }
    }
    return len;
}

int utf8_is_valid(const uint8_t *p, size_t n)
{
    size_t i = 0, bad;
    while (i < n) {
        i = utf8_skip_ascii(p, i, n);
        if (i >= n)
            break;
        size_t len = utf8_sequence(p + i, n - i, &bad);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

/* U+FFFD REPLACEMENT CHARACTER. */
static const char replacement[] = "\xef\xbf\xbd";

size_t utf8_cut(char *out, size_t max, const uint8_t *p, size_t n)
{
    size_t i = 0, o = 0;
    /* Every step writes at least one byte or stops: at most max + 1 steps. */
    while (i < n) {
        size_t in_len, out_len, bad;
        const char *src;
        if (p[i] >= 0x80) {
            in_len = utf8_sequence(p + i, n - i, &bad);
            if (in_len) {
                src = (const char *)p + i;
                out_len = in_len;
            } else {
                in_len = bad;
                src = replacement;
                out_len = sizeof replacement - 1;
            }
        } else if (p[i] == 0) {
            in_len = 1;
            src = replacement;
            out_len = sizeof replacement - 1;
        } else {
            in_len = out_len = 1;
            src = (const char *)p + i;
        }
        if (out_len > max - o)
            break;
        memcpy(out + o, src, out_len);
        o += out_len;
        i += in_len;
    }
    out[o] = '\0';
    return o;
}
