/* Unit tests for common/conf.c's value types: byte sizes with binary
 * suffixes and their range, and lists of addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "common/net.h"

static void test_conf_bytes_take_binary_suffixes_within_range(void **state)
{
    long v = 0;
    char err[256];
    struct conf_opt o = {"history_bytes", CONF_BYTES, &v, NULL, 0, 1L << 40, ""};
    assert_int_equal(conf_set(&o, "64MiB", err, sizeof err), 0);
    assert_int_equal(v, 64L << 20);
    assert_int_equal(conf_set(&o, "1GiB", err, sizeof err), 0);
    assert_int_equal(v, 1L << 30);
    assert_int_equal(conf_set(&o, "4096", err, sizeof err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(conf_set(&o, "3KiB", err, sizeof err), 0);
    assert_int_equal(v, 3072);
    static const char *const bad[] = {"64MB", "64 MiB", "-1", "x", "", "1.5GiB", "2TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(conf_set(&o, bad[i], err, sizeof err), -1);
        assert_int_equal(v, 7); /* unchanged */
    }
    assert_non_null(strstr(err, "out of range")); /* 2TiB is above 1TiB */
}

static void test_conf_addrs_take_a_comma_separated_list_in_order(void **state)
{
    struct net_addr_list l = {0};
    char err[256];
    struct conf_opt o = {"hub", CONF_ADDRS, &l, NULL, 0, 0, ""};
    assert_int_equal(
        conf_set(&o, "hub-a.internal:7400, [::1]:7401,127.0.0.1:7402", err, sizeof err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.a[0].host, "hub-a.internal");
    assert_int_equal(l.a[0].port, 7400);
    assert_string_equal(l.a[1].host, "::1");
    assert_int_equal(l.a[1].port, 7401);
    assert_string_equal(l.a[2].host, "127.0.0.1");
    assert_int_equal(l.a[2].port, 7402);
    assert_int_equal(conf_set(&o, "127.0.0.1:7400", err, sizeof err), 0);
    assert_int_equal(l.n, 1); /* replaced, not appended */
}

static void test_conf_addrs_refuse_bad_empty_repeated_and_too_many(void **state)
{
    struct net_addr_list l = {0};
    char err[256];
    struct conf_opt o = {"hub", CONF_ADDRS, &l, NULL, 0, 0, ""};
    assert_int_equal(conf_set(&o, "a:1", err, sizeof err), 0);
    static const char *const bad[] = {"",    "a:1,",    ",a:1",      "a:1,,b:2", "a",       "a:1,b",
                                      "a:0", "a:1,a:1", "[::1:7400", "a:70000",  "a:1, b:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(conf_set(&o, bad[i], err, sizeof err), -1);
        assert_int_equal(l.n, 1); /* unchanged */
        assert_string_equal(l.a[0].host, "a");
    }
    assert_int_equal(conf_set(&o, "a:1,a:1", err, sizeof err), -1);
    assert_string_equal(err, "hub: 'a:1' is listed twice");
    assert_int_equal(conf_set(&o, "a:1,b", err, sizeof err), -1);
    assert_string_equal(err, "hub: 'b' is not HOST:PORT");
    char many[NET_ADDR_LIST_MAX * 16 + 16] = "";
    size_t off = 0;
    for (int i = 0; i <= NET_ADDR_LIST_MAX; i++)
        off += (size_t)snprintf(many + off, sizeof many - off, "%sh:%d", i ? "," : "", i + 1);
    assert_int_equal(conf_set(&o, many, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than"));
    many[strlen(many) - strlen(",h:17")] = '\0'; /* exactly NET_ADDR_LIST_MAX */
    assert_int_equal(conf_set(&o, many, err, sizeof err), 0);
    assert_int_equal(l.n, NET_ADDR_LIST_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_bytes_take_binary_suffixes_within_range),
        cmocka_unit_test(test_conf_addrs_take_a_comma_separated_list_in_order),
        cmocka_unit_test(test_conf_addrs_refuse_bad_empty_repeated_and_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
