/* Unit tests for common/utf8.c: strict UTF-8 validation per RFC 3629, and
 * cutting untrusted text to bounded valid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"

#define VALID(lit) utf8_is_valid((const uint8_t *)(lit), sizeof(lit) - 1)

static void test_utf8_accepts_empty_and_ascii(void **state)
{
    (void)state;
    assert_int_equal(utf8_is_valid((const uint8_t *)"", 0), 1);
    assert_int_equal(utf8_is_valid(NULL, 0), 1);
    assert_int_equal(VALID("hello"), 1);
    /* Long enough to use the 8-byte fast path, with a tail. */
    assert_int_equal(VALID("the quick brown fox jumps over the lazy dog 0123456789"), 1);
    uint8_t all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (uint8_t)i; /* NUL and control characters are valid UTF-8 */
    assert_int_equal(utf8_is_valid(all, sizeof all), 1);
}

static void test_utf8_accepts_multibyte_at_range_bounds(void **state)
{
    (void)state;
    assert_int_equal(VALID("\xc2\x80"), 1);         /* U+0080 */
    assert_int_equal(VALID("\xdf\xbf"), 1);         /* U+07FF */
    assert_int_equal(VALID("\xe0\xa0\x80"), 1);     /* U+0800 */
    assert_int_equal(VALID("\xed\x9f\xbf"), 1);     /* U+D7FF */
    assert_int_equal(VALID("\xee\x80\x80"), 1);     /* U+E000 */
    assert_int_equal(VALID("\xef\xbf\xbf"), 1);     /* U+FFFF */
    assert_int_equal(VALID("\xf0\x90\x80\x80"), 1); /* U+10000 */
    assert_int_equal(VALID("\xf0\x9f\x98\x80"), 1); /* U+1F600 emoji */
    assert_int_equal(VALID("\xf4\x8f\xbf\xbf"), 1); /* U+10FFFF */
    assert_int_equal(VALID("caf\xc3\xa9 \xe2\x82\xac 12345678 \xf0\x9f\x98\x80!"), 1);
}

static void test_utf8_rejects_overlongs(void **state)
{
    (void)state;
    assert_int_equal(VALID("\xc0\x80"), 0);         /* U+0000 in 2 bytes */
    assert_int_equal(VALID("\xc1\xbf"), 0);         /* U+007F in 2 bytes */
    assert_int_equal(VALID("\xe0\x80\x80"), 0);     /* U+0000 in 3 bytes */
    assert_int_equal(VALID("\xe0\x9f\xbf"), 0);     /* U+07FF in 3 bytes */
    assert_int_equal(VALID("\xf0\x80\x80\x80"), 0); /* U+0000 in 4 bytes */
    assert_int_equal(VALID("\xf0\x8f\xbf\xbf"), 0); /* U+FFFF in 4 bytes */
}

static void test_utf8_rejects_surrogates(void **state)
{
    (void)state;
    assert_int_equal(VALID("\xed\xa0\x80"), 0);             /* U+D800 */
    assert_int_equal(VALID("\xed\xbf\xbf"), 0);             /* U+DFFF */
    assert_int_equal(VALID("\xed\xa0\xbd\xed\xb8\x80"), 0); /* CESU-8 pair */
}

static void test_utf8_rejects_above_max_code_point(void **state)
{
    (void)state;
    assert_int_equal(VALID("\xf4\x90\x80\x80"), 0); /* U+110000 */
    assert_int_equal(VALID("\xf5\x80\x80\x80"), 0);
    assert_int_equal(VALID("\xf7\xbf\xbf\xbf"), 0);
    assert_int_equal(VALID("\xf8\x88\x80\x80\x80"), 0); /* old 5-byte form */
    assert_int_equal(VALID("\xfc\x84\x80\x80\x80\x80"), 0);
    assert_int_equal(VALID("\xfe"), 0);
    assert_int_equal(VALID("\xff"), 0);
}

static void test_utf8_rejects_stray_and_bad_continuations(void **state)
{
    (void)state;
    assert_int_equal(VALID("\x80"), 0);
    assert_int_equal(VALID("\xbf"), 0);
    assert_int_equal(VALID("abc\x80"), 0);
    assert_int_equal(VALID("\xc3\xa9\xa9"), 0); /* one continuation too many */
    assert_int_equal(VALID("\xc3\x41"), 0);     /* ASCII where continuation expected */
    assert_int_equal(VALID("\xe2\x82\x41"), 0);
    assert_int_equal(VALID("\xf0\x9f\x98\xc3\xa9"), 0);
    /* An invalid byte after a long ASCII run (fast path then slow path). */
    assert_int_equal(VALID("0123456789abcdef0123456789abcdef\xff"), 0);
    assert_int_equal(VALID("0123456789abcdef\xc3\xa9"
                           "0123456789abcdef\xc0\xaf"),
                     0);
}

static void test_utf8_rejects_truncation_at_every_position(void **state)
{
    (void)state;
    static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\xf4\x8f\xbf\xbf"};
    uint8_t buf[64];

    for (size_t s = 0; s < sizeof seqs / sizeof seqs[0]; s++) {
        size_t n = strlen(seqs[s]);
        assert_int_equal(utf8_is_valid((const uint8_t *)seqs[s], n), 1);
        for (size_t cut = 1; cut < n; cut++) {
            /* Truncated at the end of the input... */
            assert_int_equal(utf8_is_valid((const uint8_t *)seqs[s], cut), 0);
            /* ...after a long ASCII prefix... */
            memset(buf, 'a', 20);
            memcpy(buf + 20, seqs[s], cut);
            assert_int_equal(utf8_is_valid(buf, 20 + cut), 0);
            /* ...and followed by ASCII (the sequence is cut, not the input). */
            memcpy(buf, seqs[s], cut);
            memset(buf + cut, 'a', 20);
            assert_int_equal(utf8_is_valid(buf, cut + 20), 0);
        }
    }
}

/* utf8_cut of the literal into a buffer of max + 1 bytes guarded by canaries. */
static size_t cut(char *out, size_t max, const char *in, size_t n)
{
    memset(out, 0x7e, max + 2);
    size_t r = utf8_cut(out, max, (const uint8_t *)in, n);
    assert_true(r <= max);
    assert_int_equal(out[r], '\0');
    assert_int_equal((unsigned char)out[max + 1], 0x7e); /* nothing past max + 1 */
    assert_int_equal(utf8_is_valid((const uint8_t *)out, r), 1);
    assert_null(memchr(out, '\0', r));
    return r;
}

#define CUT(out, max, lit) cut(out, max, lit, sizeof(lit) - 1)

static void test_utf8_cut_copies_short_valid_text_unchanged(void **state)
{
    (void)state;
    char out[130];
    assert_int_equal(CUT(out, 123, ""), 0);
    assert_string_equal(out, "");
    assert_int_equal(CUT(out, 123, "going away"), 10);
    assert_string_equal(out, "going away");
    assert_int_equal(CUT(out, 123, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 14);
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_int_equal(cut(out, 0, "abc", 3), 0); /* no room at all */
}

static void test_utf8_cut_never_splits_a_character(void **state)
{
    (void)state;
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char in[600], out[130];
    for (size_t c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);
        for (size_t lead = 0; lead < 4; lead++) { /* every alignment against the limit */
            size_t n = 0;
            memset(in, 'a', lead);
            n = lead;
            while (n + clen <= sizeof in) {
                memcpy(in + n, chars[c], clen);
                n += clen;
            }
            size_t r = cut(out, 123, in, n);
            size_t fit = lead + (123 - lead) / clen * clen; /* whole characters that fit */
            assert_int_equal(r, fit);
            assert_memory_equal(out, in, r);
        }
    }
    /* 124 bytes of 2-byte characters: 122 survive, not 123. */
    memset(in, 0, sizeof in);
    for (size_t i = 0; i < 62; i++)
        memcpy(in + 2 * i, "\xc3\xa9", 2);
    assert_int_equal(cut(out, 123, in, 124), 122);
}

static void test_utf8_cut_replaces_ill_formed_subparts_and_nul(void **state)
{
    (void)state;
    char out[130];
    /* One U+FFFD per maximal ill-formed subpart (Unicode §3.9, U+FFFD
     * substitution of maximal subparts). */
    CUT(out, 123,
        "a\xff"
        "b");
    assert_string_equal(out, "a\xef\xbf\xbd"
                             "b");
    CUT(out, 123,
        "\xe2\x82"
        "x"); /* truncated 3-byte sequence */
    assert_string_equal(out, "\xef\xbf\xbd"
                             "x");
    CUT(out, 123, "caf\xc3"); /* truncated at the end */
    assert_string_equal(out, "caf\xef\xbf\xbd");
    CUT(out, 123, "\xed\xa0\x80"); /* a surrogate: 3 subparts */
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CUT(out, 123, "\xc0\xaf"); /* an overlong: 2 subparts */
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
    CUT(out, 123, "\xf4\x90\x80\x80"); /* above U+10FFFF */
    assert_int_equal(strlen(out), 12);
    CUT(out, 123, "a\0b"); /* NUL: the rest is kept */
    assert_string_equal(out, "a\xef\xbf\xbd"
                             "b");
}

static void test_utf8_cut_counts_replacements_against_the_limit(void **state)
{
    (void)state;
    char in[200], out[130];
    /* 121 ASCII bytes then bad bytes: each replacement needs 3 bytes and
     * only 2 are left, so the text ends after the ASCII. */
    memset(in, 'y', 121);
    in[121] = (char)0xff;
    in[122] = (char)0xff;
    assert_int_equal(cut(out, 123, in, 123), 121);
    /* 200 bad bytes: 41 replacements (123 bytes), the rest is not read into out. */
    memset(in, 0xff, sizeof in);
    assert_int_equal(cut(out, 123, in, sizeof in), 123);
    for (size_t i = 0; i < 123; i += 3)
        assert_memory_equal(out + i, "\xef\xbf\xbd", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_empty_and_ascii),
        cmocka_unit_test(test_utf8_accepts_multibyte_at_range_bounds),
        cmocka_unit_test(test_utf8_rejects_overlongs),
        cmocka_unit_test(test_utf8_rejects_surrogates),
        cmocka_unit_test(test_utf8_rejects_above_max_code_point),
        cmocka_unit_test(test_utf8_rejects_stray_and_bad_continuations),
        cmocka_unit_test(test_utf8_rejects_truncation_at_every_position),
        cmocka_unit_test(test_utf8_cut_copies_short_valid_text_unchanged),
        cmocka_unit_test(test_utf8_cut_never_splits_a_character),
        cmocka_unit_test(test_utf8_cut_replaces_ill_formed_subparts_and_nul),
        cmocka_unit_test(test_utf8_cut_counts_replacements_against_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
