/* Unit tests for common/jsonwrite.c: JSON string escaping (every control
 * character, quote, backslash, UTF-8 passthrough and replacement) and
 * decimal integers over the whole 64-bit range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/jsoncheck.h"
#include "common/jsonwrite.h"

static struct buf B;

static int reset(void **state)
{
    (void)state;
    buf_init(&B);
    return 0;
}

static int release(void **state)
{
    (void)state;
    buf_deinit(&B);
    return 0;
}

#define L(lit) (sizeof(lit) - 1)

/* B holds exactly the n bytes at p. */
static void assert_out_n(const void *p, size_t n)
{
    assert_int_equal(buf_readable(&B), n);
    assert_memory_equal(buf_head(&B), p, n);
}
#define assert_out(lit) assert_out_n((lit), L(lit))

/* Writes s[0, n) as a string into an empty B. */
static void str(const char *s, size_t n)
{
    buf_reset(&B);
    json_write_str(&B, s, n);
}
#define STR(lit) str((lit), L(lit))

static void test_json_write_str_escapes_every_control_char(void **state)
{
    (void)state;
    static const char *const named[32] = {
        ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
    };
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c, want[16];
        if (named[c])
            snprintf(want, sizeof want, "\"%s\"", named[c]);
        else
            snprintf(want, sizeof want, "\"\\u%04x\"", c); /* lowercase hex */
        str(&in, 1);
        assert_out_n(want, strlen(want));
    }
    /* Between other bytes, each escape stands alone in the run. */
    STR("a\x01"
        "b\nc\x1f");
    assert_out("\"a\\u0001b\\nc\\u001f\"");
}

static void test_json_write_str_escapes_quote_and_backslash(void **state)
{
    (void)state;
    STR("\"");
    assert_out("\"\\\"\"");
    STR("\\");
    assert_out("\"\\\\\"");
    STR("say \"hi\\there\"");
    assert_out("\"say \\\"hi\\\\there\\\"\"");
    /* The solidus needs no escape (RFC 8259 section 7 allows, never asks). */
    STR("a/b");
    assert_out("\"a/b\"");
}

static void test_json_write_str_copies_printable_ascii_and_del(void **state)
{
    (void)state;
    char in[0x80 - 0x20];
    size_t n = 0;
    for (int c = 0x20; c < 0x80; c++)
        if (c != '"' && c != '\\')
            in[n++] = (char)c;
    str(in, n);
    assert_int_equal(buf_readable(&B), n + 2);
    assert_int_equal(buf_head(&B)[0], '"');
    assert_memory_equal(buf_head(&B) + 1, in, n);
    assert_int_equal(buf_head(&B)[n + 1], '"');
}

static void test_json_write_str_of_nothing_is_two_quotes(void **state)
{
    (void)state;
    str(NULL, 0);
    assert_out("\"\"");
    STR("\0");
    assert_out("\"\\u0000\"");
}

static void test_json_write_str_passes_valid_utf8_through(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "\xc2\x80",         /* U+0080, the first two-byte character */
        "\xdf\xbf",         /* U+07FF */
        "\xe0\xa0\x80",     /* U+0800 */
        "\xed\x9f\xbf",     /* U+D7FF, below the surrogates */
        "\xee\x80\x80",     /* U+E000, above them */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i]);
        str(ok[i], n);
        assert_int_equal(buf_readable(&B), n + 2);
        assert_memory_equal(buf_head(&B) + 1, ok[i], n);
    }
    /* An escape right after a multi-byte character cuts the run there. */
    STR("\xc3\xa9\n\xc3\xa9");
    assert_out("\"\xc3\xa9\\n\xc3\xa9\"");
}

#define FFFD "\xef\xbf\xbd"

static void test_json_write_str_replaces_each_ill_formed_subpart(void **state)
{
    (void)state;
    STR("\xff");
    assert_out("\"" FFFD "\"");
    STR("a\x80z"); /* a lone continuation byte */
    assert_out("\"a" FFFD "z\"");
    STR("\xc0\xaf"); /* overlong '/': two subparts (0xc0 never starts one) */
    assert_out("\"" FFFD FFFD "\"");
    STR("\xe2\x82"); /* truncated euro sign: one subpart */
    assert_out("\"" FFFD "\"");
    STR("\xe2\x82z");
    assert_out("\"" FFFD "z\"");
    STR("\xed\xa0\x80"); /* a surrogate: 0xed cannot take 0xa0 */
    assert_out("\"" FFFD FFFD FFFD "\"");
    STR("\xf4\x90\x80\x80"); /* above U+10FFFF */
    assert_out("\"" FFFD FFFD FFFD FFFD "\"");
    STR("\xf0\x9f\x98\""); /* truncated emoji, then a quote to escape */
    assert_out("\"" FFFD "\\\"\"");
}

static void test_json_write_str_output_is_one_json_value_for_every_byte(void **state)
{
    (void)state;
    /* Every single byte, and every byte between two others, renders as one
     * valid JSON string within 2 + 6 bytes per input byte. */
    for (int c = 0; c < 256; c++) {
        char in[3] = {'x', (char)c, 'y'};
        str(in + 1, 1);
        assert_true(buf_readable(&B) <= 2 + 6);
        assert_int_equal(json_check(buf_head(&B), buf_readable(&B), 1), 0);
        str(in, 3);
        assert_true(buf_readable(&B) <= 2 + 6 * 3);
        assert_int_equal(json_check(buf_head(&B), buf_readable(&B), 1), 0);
    }
}

static void test_json_write_str_appends_after_what_the_buffer_holds(void **state)
{
    (void)state;
    buf_reset(&B);
    BUF_APPEND_LIT(&B, "xx{\"k\":");
    buf_consume(&B, 2); /* a consumed head: off > 0 */
    json_write_str(&B, "v\t", 2);
    assert_out("{\"k\":\"v\\t\"");
    /* Long enough to grow the buffer several times over. */
    char big[5000];
    memset(big, '\x01', sizeof big);
    buf_reset(&B);
    json_write_str(&B, big, sizeof big);
    assert_int_equal(buf_readable(&B), 2 + 6 * sizeof big);
    assert_memory_equal(buf_head(&B) + 1 + 6 * 4999, "\\u0001\"", 7);
}

static void u64(uint64_t v)
{
    buf_reset(&B);
    json_write_u64(&B, v);
}

static void i64(int64_t v)
{
    buf_reset(&B);
    json_write_i64(&B, v);
}

static void test_json_write_u64_is_exact_to_the_last_digit(void **state)
{
    (void)state;
    u64(0);
    assert_out("0");
    u64(9);
    assert_out("9");
    u64(10);
    assert_out("10");
    u64(UINT32_MAX);
    assert_out("4294967295");
    u64((uint64_t)1 << 53 | 1); /* past what a double holds exactly */
    assert_out("9007199254740993");
    u64(10000000000000000000u);
    assert_out("10000000000000000000");
    u64(UINT64_MAX);
    assert_out("18446744073709551615");
    /* Every power of ten and the number before it. */
    uint64_t p = 1;
    for (int d = 1; d < 20; d++) {
        char want[24];
        p *= 10;
        u64(p - 1);
        snprintf(want, sizeof want, "%llu", (unsigned long long)(p - 1));
        assert_out_n(want, strlen(want));
        u64(p);
        snprintf(want, sizeof want, "%llu", (unsigned long long)p);
        assert_out_n(want, strlen(want));
    }
}

static void test_json_write_i64_covers_both_extremes(void **state)
{
    (void)state;
    i64(0);
    assert_out("0");
    i64(-1);
    assert_out("-1");
    i64(INT64_MAX);
    assert_out("9223372036854775807");
    i64(INT64_MIN); /* has no positive counterpart in int64 */
    assert_out("-9223372036854775808");
    i64(INT64_MIN + 1);
    assert_out("-9223372036854775807");
    i64(INT32_MIN);
    assert_out("-2147483648");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_write_str_escapes_every_control_char, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_escapes_quote_and_backslash, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_copies_printable_ascii_and_del, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_of_nothing_is_two_quotes, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_passes_valid_utf8_through, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_replaces_each_ill_formed_subpart, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_str_output_is_one_json_value_for_every_byte,
                                        reset, release),
        cmocka_unit_test_setup_teardown(test_json_write_str_appends_after_what_the_buffer_holds,
                                        reset, release),
        cmocka_unit_test_setup_teardown(test_json_write_u64_is_exact_to_the_last_digit, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_json_write_i64_covers_both_extremes, reset, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
