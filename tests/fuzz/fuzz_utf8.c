/* libFuzzer driver for utf8_is_valid, utf8_sequence and utf8_cut
 * (common/utf8.h), checked against a plain decoder written from RFC 3629's
 * definition (decode each code point, then refuse overlongs, surrogates and
 * values above U+10FFFF) rather than from its byte-range table. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

/* Length of the valid sequence at p[0, n), or 0. */
static size_t ref_sequence(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

static int ref_is_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = ref_sequence(p + i, n - i);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(utf8_is_valid(data, size) == ref_is_valid(data, size));

    /* utf8_sequence at every non-ASCII byte: the same length as the
     * reference, or a maximal ill-formed subpart that is a proper prefix of
     * what a sequence starting there would need. */
    for (size_t i = 0; i < size; i++) {
        if (data[i] < 0x80)
            continue;
        size_t bad = 0;
        size_t len = utf8_sequence(data + i, size - i, &bad);
        size_t want = ref_sequence(data + i, size - i);
        FUZZ_CHECK(len == want);
        if (len == 0) {
            FUZZ_CHECK(bad >= 1 && bad <= 3 && bad <= size - i);
            /* Continuation bytes inside the subpart, none at its start. */
            for (size_t k = 1; k < bad; k++)
                FUZZ_CHECK((data[i + k] & 0xc0) == 0x80);
        }
    }

    /* utf8_cut at a few limits: valid UTF-8 without NUL, within the limit,
     * NUL-terminated; valid input without NUL comes out as its prefix. */
    static const size_t limits[] = {0, 1, 2, 3, 4, 5, 123};
    char out[124];
    int plain = ref_is_valid(data, size) && !memchr(data, 0, size);
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        size_t max = limits[k];
        size_t r = utf8_cut(out, max, data, size);
        FUZZ_CHECK(r <= max && out[r] == '\0');
        FUZZ_CHECK(ref_is_valid((const uint8_t *)out, r) && !memchr(out, 0, r));
        if (plain) {
            FUZZ_CHECK(memcmp(out, data, r) == 0);
            /* Cut only where the next character would not fit. */
            FUZZ_CHECK(r == size || r + ref_sequence(data + r, size - r) > max);
        }
    }
    return 0;
}
