/* Unit tests for common/httpreq.c: reading a request in pieces, the head
 * checks, which Host values name this server (DNS rebinding defence) and
 * which Content-Type values are JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/httpreq.h"

static int host_ok(const char *v, const char *listen, const char *allowed)
{
    return httpreq_host_is_allowed(v, strlen(v), listen, allowed);
}

static void test_httpreq_host_accepts_ip_literals_localhost_and_the_listen_host(void **state)
{
    assert_true(host_ok("127.0.0.1", "127.0.0.1", ""));
    assert_true(host_ok("127.0.0.1:7480", "127.0.0.1", ""));
    assert_true(host_ok("10.1.2.3:80", "0.0.0.0", NULL));
    assert_true(host_ok("[::1]:7480", "::1", ""));
    assert_true(host_ok("[2001:db8::1]", "::", ""));
    assert_true(host_ok("localhost:7480", "127.0.0.1", ""));
    assert_true(host_ok("LocalHost.", "127.0.0.1", ""));
    assert_true(host_ok(" localhost ", "127.0.0.1", ""));
    assert_true(host_ok("hub.internal:7480", "hub.internal", ""));
    assert_true(host_ok("HUB.internal", "hub.internal", ""));
}

static void test_httpreq_host_accepts_listed_names(void **state)
{
    const char *allowed = "api.example.com, Ops.Example.com ,x";
    assert_true(host_ok("api.example.com", "0.0.0.0", allowed));
    assert_true(host_ok("ops.example.com:443", "0.0.0.0", allowed));
    assert_true(host_ok("x", "0.0.0.0", allowed));
    assert_false(host_ok("example.com", "0.0.0.0", allowed));
    assert_false(host_ok("api.example.com.evil", "0.0.0.0", allowed));
    assert_true(host_ok("anything.example", "0.0.0.0", "a.b,*"));
}

static void test_httpreq_host_refuses_other_names_and_garbage(void **state)
{
    assert_false(host_ok("evil.example", "127.0.0.1", ""));
    assert_false(host_ok("evil.example:7480", "127.0.0.1", "api.example.com"));
    assert_false(host_ok("localhost.evil.example", "127.0.0.1", ""));
    assert_false(host_ok("", "127.0.0.1", ""));
    assert_false(host_ok(":7480", "127.0.0.1", ""));
    assert_false(host_ok("127.0.0.1:", "127.0.0.1", ""));
    assert_false(host_ok("127.0.0.1:80x", "127.0.0.1", ""));
    assert_false(host_ok("127.0.0.1:123456", "127.0.0.1", ""));
    assert_false(host_ok("::1", "::1", ""));            /* IPv6 needs brackets */
    assert_false(host_ok("[::1", "::1", ""));
    assert_false(host_ok("[::1]x", "::1", ""));
    assert_false(host_ok("[evil.example]", "::1", ""));
    assert_false(host_ok("user@127.0.0.1", "127.0.0.1", ""));
    assert_false(host_ok("127.0.0.1/x", "127.0.0.1", ""));
    assert_false(host_ok("evil example", "127.0.0.1", "*x"));
    /* The value is not NUL-terminated in the request: only len counts. */
    assert_false(httpreq_host_is_allowed("localhostX", 10, "127.0.0.1", ""));
    assert_true(httpreq_host_is_allowed("localhostX", 9, "127.0.0.1", ""));
}

static int json_ok(const char *v)
{
    return httpreq_is_json_type(v, strlen(v));
}

static void test_httpreq_is_json_type(void **state)
{
    assert_true(json_ok("application/json"));
    assert_true(json_ok("Application/JSON"));
    assert_true(json_ok("application/json; charset=utf-8"));
    assert_true(json_ok("application/json;charset=UTF-8"));
    assert_true(json_ok(" application/json "));
    assert_false(json_ok("application/x-www-form-urlencoded"));
    assert_false(json_ok("text/plain"));
    assert_false(json_ok("multipart/form-data; boundary=x"));
    assert_false(json_ok("application/jsonp"));
    assert_false(json_ok("application/json-patch+json"));
    assert_false(json_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpreq_host_accepts_ip_literals_localhost_and_the_listen_host),
        cmocka_unit_test(test_httpreq_host_accepts_listed_names),
        cmocka_unit_test(test_httpreq_host_refuses_other_names_and_garbage),
        cmocka_unit_test(test_httpreq_is_json_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
