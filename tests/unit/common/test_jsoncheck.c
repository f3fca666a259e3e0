/* Unit tests for common/jsoncheck.c: exactly one JSON value, or nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsoncheck.h"

static int check(const char *s)
{
    return json_check((const uint8_t *)s, strlen(s), JSON_CHECK_MAX_DEPTH);
}

static void test_json_check_accepts_every_kind_of_value(void **state)
{
    static const char *ok[] = {
        "0",
        "-0",
        "1",
        "-12.5e+3",
        "1E9",
        "0.25",
        "123456789012345678901234567890.5",
        "true",
        "false",
        "null",
        "\"\"",
        "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\u0000\"",
        "\"\\ud83d\\ude00\"",
        "\"h\xc3\xa9 \xf0\x9f\x98\x80\"",
        "[]",
        "{}",
        "[1,\"a\",[],{},null]",
        "{\"a\":{\"b\":[1,2,{\"c\":true}]}}",
        " \t\n\r[ 1 , 2 ]\r\n ",
        "{ \"k\" : 1 , \"l\" : [ ] }",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (check(ok[i]) != 0)
            fail_msg("refused %s", ok[i]);
}

static void test_json_check_refuses_what_would_break_the_message_around_it(void **state)
{
    static const char *bad[] = {
        "",
        " ",
        "1,\"op\":\"ack\",\"id\":1",
        "1 2",
        "[1]]",
        "{}}",
        "\"a\"\"b\"",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\" 1}",
        "{1:2}",
        "[",
        "{",
        "\"abc",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "tru",
        "nul",
        "truee",
        "\"\\x41\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"a\tb\"",
        "\"a\x01\"",
        "\"\xc3\"",
        "\"\xed\xa0\x80\"",
        "\xef\xbb\xbf"
        "1",
        "{\"\\u0000\":1}",
        "// 1",
        "[1] // x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i]) != -1)
            fail_msg("accepted %s", bad[i]);
}

/* Numbers jansson cannot hold are refused, so that a payload spliced into
 * JSON frames is refused exactly when its msgpack rendering would be. */
static void test_json_check_takes_numbers_jansson_can_hold(void **state)
{
    static const char *ok[] = {
        "9223372036854775807",
        "-9223372036854775808",
        "0.5e1",
        "1.7976931348623157e308",
        "179769313486231570000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000.0",
        "0.1797693134862315e309",
        "1e-400",
        "0.000001e-99999999999999999999",
        "1e307",
        "[1e308, -1e308]",
        "0.0e99999999999999",
    };
    static const char *refused[] = {
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "123456789012345678901234567890",
        "1e309",
        "-1e309",
        "1.8e308",
        "1e99999999999999999999",
        "0.00000000000000000000000000001e338",
        "{\"a\":[1,2e400]}",
        /* 2^1024 - 2^970: halfway to the next power, rounds up to infinity */
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750"
        "946649017977587207096330286416692887910946555547851940402630657488671505820681908"
        "902000708383676273854845817711531764475730270069855571366959622842914819860834936"
        "475292719074168444365510704342711559699508093042880177904174497792.0",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (check(ok[i]) != 0)
            fail_msg("refused %s", ok[i]);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (check(refused[i]) != -1)
            fail_msg("accepted %s", refused[i]);
}

static void test_json_check_refuses_a_nul_byte_anywhere(void **state)
{
    static const uint8_t a[] = {'1', 0}, b[] = {'"', 0, '"'}, c[] = {0};
    assert_int_equal(json_check(a, sizeof a, 10), -1);
    assert_int_equal(json_check(b, sizeof b, 10), -1);
    assert_int_equal(json_check(c, sizeof c, 10), -1);
}

static void test_json_check_counts_depth_like_jansson(void **state)
{
    enum { D = 3000 };
    char *s = malloc(2 * D + 2);
    for (int i = 0; i < D; i++) {
        s[i] = '[';
        s[D + i] = ']';
    }
    s[2 * D] = '\0';
    assert_int_equal(json_check((uint8_t *)s, 2 * D, 5000), -1); /* past 2048 */
    assert_int_equal(json_check((uint8_t *)s + (D - 2048), 2 * 2048, 5000), 0);
    assert_int_equal(json_check((uint8_t *)s + (D - 4), 8, 4), 0);
    assert_int_equal(json_check((uint8_t *)s + (D - 5), 10, 4), -1);
    assert_int_equal(check("{\"a\":[{\"b\":[]}]}"), 0);
    assert_int_equal(json_check((const uint8_t *)"{\"a\":[{\"b\":[]}]}", 16, 3), -1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_check_accepts_every_kind_of_value),
        cmocka_unit_test(test_json_check_refuses_what_would_break_the_message_around_it),
        cmocka_unit_test(test_json_check_takes_numbers_jansson_can_hold),
        cmocka_unit_test(test_json_check_refuses_a_nul_byte_anywhere),
        cmocka_unit_test(test_json_check_counts_depth_like_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
