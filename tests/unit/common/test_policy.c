/* Unit tests for common/policy.c: defaults, parsing in config units, ranges,
 * formatting and comparison. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "common/policy.h"

static void test_policy_defaults_are_the_documented_ones(void **state)
{
    struct policy p;
    policy_defaults(&p);
    assert_int_equal(p.idle_timeout_ms, 0);
    assert_int_equal(p.ping_interval_ms, 25000);
    assert_int_equal(p.pong_timeout_ms, 10000);
    assert_int_equal(p.handshake_timeout_ms, 10000);
    assert_int_equal(p.max_message_bytes, 65536);
    assert_int_equal(p.send_queue_bytes, 1048576);
    assert_int_equal(p.max_subscriptions, 1000);
    assert_int_equal(p.rate_limit, 0);
    assert_int_equal(p.rate_burst, 100);
    assert_int_equal(policy_validate(&p, NULL, 0), 0);
}

static void test_policy_parses_fractional_seconds_to_milliseconds(void **state)
{
    const struct policy_key *k = policy_key_find("idle_timeout");
    char err[128];
    long v = -1;
    assert_non_null(k);
    assert_int_equal(policy_parse_value(k, "0.25", &v, err, sizeof err), 0);
    assert_int_equal(v, 250);
    assert_int_equal(policy_parse_value(k, "30", &v, err, sizeof err), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(policy_parse_value(k, "0", &v, err, sizeof err), 0);
    assert_int_equal(v, 0);
    /* Positive but below a millisecond: 1 ms, never 0 ("off"). */
    assert_int_equal(policy_parse_value(k, "0.0004", &v, err, sizeof err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(policy_check_number(k, 1e-300, &v, err, sizeof err), 0);
    assert_int_equal(v, 1);
}

static void test_policy_refuses_bad_and_out_of_range_values(void **state)
{
    char err[128];
    long v = 7;
    const struct policy_key *idle = policy_key_find("idle_timeout");
    const struct policy_key *size = policy_key_find("max_message_bytes");
    assert_int_equal(policy_parse_value(idle, "-1", &v, err, sizeof err), -1);
    assert_int_equal(policy_parse_value(idle, "ten", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "idle_timeout"));
    assert_int_equal(policy_parse_value(idle, "1e9", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(policy_parse_value(size, "100", &v, err, sizeof err), -1); /* min 128 */
    assert_int_equal(policy_parse_value(size, "1.5", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "whole number"));
    assert_int_equal(policy_check_number(idle, nan(""), &v, err, sizeof err), -1);
    assert_int_equal(v, 7); /* untouched on error */
    assert_null(policy_key_find("nope"));
}

static void test_policy_formats_values_in_config_units(void **state)
{
    char out[32];
    const struct policy_key *idle = policy_key_find("idle_timeout");
    policy_format_value(idle, 250, out, sizeof out);
    assert_string_equal(out, "0.25");
    policy_format_value(idle, 30000, out, sizeof out);
    assert_string_equal(out, "30");
    policy_format_value(idle, 1500, out, sizeof out);
    assert_string_equal(out, "1.5");
    policy_format_value(idle, 1234567, out, sizeof out);
    assert_string_equal(out, "1234.567");
    policy_format_value(policy_key_find("rate_limit"), 42, out, sizeof out);
    assert_string_equal(out, "42");
}

static void test_policy_equal_compares_every_key(void **state)
{
    struct policy a, b;
    policy_defaults(&a);
    for (size_t i = 0; i < policy_nkeys; i++) {
        b = a;
        assert_true(policy_equal(&a, &b));
        (*policy_field(&b, &policy_keys[i]))++;
        assert_false(policy_equal(&a, &b));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_defaults_are_the_documented_ones),
        cmocka_unit_test(test_policy_parses_fractional_seconds_to_milliseconds),
        cmocka_unit_test(test_policy_refuses_bad_and_out_of_range_values),
        cmocka_unit_test(test_policy_formats_values_in_config_units),
        cmocka_unit_test(test_policy_equal_compares_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
