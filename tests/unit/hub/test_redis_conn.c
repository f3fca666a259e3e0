/* Unit tests for hub/redis_conn.c's addresses: unix socket paths, host:port
 * and [IPv6]:port parse, bad ones are refused with a reason, lists keep
 * their order and refuse empties and duplicates, and numeric hosts and
 * sockets need no resolving. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hub/redis_conn.h"

static struct redis_addr parsed(const char *s)
{
    struct redis_addr a;
    char err[256];
    if (redis_addr_parse(s, strlen(s), &a, err, sizeof err) < 0)
        fail_msg("'%s' refused: %s", s, err);
    return a;
}

static void refused(const char *s, const char *reason)
{
    struct redis_addr a;
    char err[256] = "";
    assert_int_equal(redis_addr_parse(s, strlen(s), &a, err, sizeof err), -1);
    if (!strstr(err, reason))
        fail_msg("'%s': '%s' does not say '%s'", s, err, reason);
}

static void test_redis_addr_parses_sockets_hosts_and_ipv6(void **state)
{
    struct redis_addr a = parsed("/run/redis/redis.sock");
    assert_true(a.is_unix);
    assert_string_equal(a.host, "/run/redis/redis.sock");
    assert_string_equal(a.label, "/run/redis/redis.sock");
    a = parsed("10.0.0.7:6380");
    assert_false(a.is_unix);
    assert_string_equal(a.host, "10.0.0.7");
    assert_int_equal(a.port, 6380);
    a = parsed("redis-1.internal");
    assert_string_equal(a.host, "redis-1.internal");
    assert_int_equal(a.port, 6379);
    a = parsed("[::1]:7000");
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7000);
    assert_string_equal(a.label, "[::1]:7000");
    a = parsed("[fd00::2]");
    assert_string_equal(a.host, "fd00::2");
    assert_int_equal(a.port, 6379);
}

static void test_redis_addr_refuses_bad_ones_with_a_reason(void **state)
{
    refused("", "empty");
    refused("::1:6379", "[brackets]");
    refused("host:0", "1 to 65535");
    refused("host:65536", "1 to 65535");
    refused("host:80x", "1 to 65535");
    refused("host:", "1 to 65535");
    refused(":6379", "no host");
    refused("ho st:1", "HOST:PORT or an absolute unix socket path");
    refused("[::1", "[brackets]");
    refused("[::1]x", "expected :PORT");
    refused("[zz]:1", "not an IPv6 address");
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    refused(longpath, "too long");
}

static void test_redis_addr_lists_keep_order_and_refuse_empties_and_twins(void **state)
{
    struct redis_addr a[4];
    char err[256];
    assert_int_equal(redis_addr_list_parse("/a.sock, h:1 ,[::1]:2", a, 4, err, sizeof err), 3);
    assert_string_equal(a[0].label, "/a.sock");
    assert_string_equal(a[1].label, "h:1");
    assert_string_equal(a[2].label, "[::1]:2");
    assert_int_equal(redis_addr_list_parse("", a, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "no address"));
    assert_int_equal(redis_addr_list_parse("h:1,,h:2", a, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty address"));
    assert_int_equal(redis_addr_list_parse("h:1,h:1", a, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(redis_addr_list_parse("a:1,b:1,c:1", a, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 2"));
}

static void test_redis_addr_resolve_leaves_numbers_and_sockets_alone(void **state)
{
    char err[256];
    struct redis_addr a = parsed("127.0.0.1:1");
    assert_int_equal(redis_addr_resolve(&a, err, sizeof err), 0);
    assert_string_equal(a.host, "127.0.0.1");
    a = parsed("/x.sock");
    assert_int_equal(redis_addr_resolve(&a, err, sizeof err), 0);
    assert_string_equal(a.host, "/x.sock");
    a = parsed("localhost:1"); /* /etc/hosts: no network needed */
    assert_int_equal(redis_addr_resolve(&a, err, sizeof err), 0);
    assert_true(strcmp(a.host, "127.0.0.1") == 0 || strcmp(a.host, "::1") == 0);
    assert_string_equal(a.label, "localhost:1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_addr_parses_sockets_hosts_and_ipv6),
        cmocka_unit_test(test_redis_addr_refuses_bad_ones_with_a_reason),
        cmocka_unit_test(test_redis_addr_lists_keep_order_and_refuse_empties_and_twins),
        cmocka_unit_test(test_redis_addr_resolve_leaves_numbers_and_sockets_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
