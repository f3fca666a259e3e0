/* Unit tests for hub/history_rules.c: the [history] section's syntax, the
 * built-in default, and exact names over the longest prefix. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/history_rules.h"

#define MATCH(r, t) history_rules_match(r, t, strlen(t))

static void test_history_rules_default_is_1000_messages_for_300_seconds(void **state)
{
    struct history_rules *r = history_rules_new();
    struct history_bounds b = MATCH(r, "any.topic");
    assert_int_equal(b.max_count, 1000);
    assert_int_equal(b.max_age_ms, 300000);
    history_rules_free(r);
}

static void test_history_rules_exact_name_beats_the_longest_prefix(void **state)
{
    struct history_rules *r = history_rules_new();
    char err[256];
    assert_int_equal(history_rules_set(r, "default", "10 1m", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "chat.*", "100 300s", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "chat.vip.*", "1000 1h", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "chat.vip.lobby", "5", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "ticker.*", "0", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "*", "7 250ms", err, sizeof err), 0);
    assert_int_equal(history_rules_count(r), 5);

    assert_int_equal(MATCH(r, "chat.x").max_count, 100);
    assert_int_equal(MATCH(r, "chat.vip.x").max_age_ms, 3600000);
    struct history_bounds b = MATCH(r, "chat.vip.lobby");
    assert_int_equal(b.max_count, 5);
    assert_int_equal(b.max_age_ms, 0); /* no age given: no age bound */
    assert_int_equal(MATCH(r, "ticker.eur").max_count, 0);
    /* A prefix needs one more character: "chat." itself is no chat.* topic. */
    assert_int_equal(MATCH(r, "chat.").max_count, 7);
    assert_int_equal(MATCH(r, "other").max_age_ms, 250);
    history_rules_free(r);
}

static void test_history_rules_refuse_bad_lines(void **state)
{
    struct history_rules *r = history_rules_new();
    char err[256];
    static const char *const bad_values[] = {
        "", "x", "-1", "100 5x", "100 300s 3", "11000000", "1 31d", "1 -5s", "+3",
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        err[0] = '\0';
        assert_int_equal(history_rules_set(r, "t.*", bad_values[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "COUNT [AGE]"));
    }
    assert_int_equal(history_rules_set(r, "bad topic*", "1", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a topic"));
    assert_int_equal(history_rules_set(r, "a*b", "1", err, sizeof err), -1);
    assert_int_equal(history_rules_set(r, "t.*", "1 30d", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "t.*", "2", err, sizeof err), -1);
    assert_non_null(strstr(err, "set twice"));
    assert_int_equal(history_rules_set(r, "default", "1", err, sizeof err), 0);
    assert_int_equal(history_rules_set(r, "default", "1", err, sizeof err), -1);
    history_rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_rules_default_is_1000_messages_for_300_seconds),
        cmocka_unit_test(test_history_rules_exact_name_beats_the_longest_prefix),
        cmocka_unit_test(test_history_rules_refuse_bad_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
