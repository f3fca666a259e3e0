/* Unit tests for common/httpreq.c: reading a request in pieces, the head
 * checks, which Host values name this server (DNS rebinding defence) and
 * which Content-Type values are JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpreq.h"

/* ---- reading a request ---------------------------------------------------- */

#define CAP 8192 /* the server's HTTPD_MAX_REQUEST */

struct req {
    struct httpreq r;
    char buf[CAP];
    int heads;   /* HTTPREQ_HEAD results seen */
    int refused; /* httpreq_check's answer at the head */
    struct httpreq_refusal no;
};

static const struct httpreq_rules loose = {"127.0.0.1", "", 0};
static const struct httpreq_rules browser = {"127.0.0.1", "api.example.com", 1};

/* Feeds text in pieces of step bytes (0: whole) as the server does: the
 * head checked once it is in, and reading stops at a refusal. Returns the
 * last result, or HTTPREQ_HEAD after a refusal. */
static int feed(struct req *q, size_t cap, const struct httpreq_rules *rules, const char *text,
                size_t len, size_t step)
{
    int res = HTTPREQ_MORE;
    httpreq_init(&q->r, q->buf, cap);
    q->heads = q->refused = 0;
    for (size_t at = 0; at < len && res == HTTPREQ_MORE;) {
        size_t n = step && len - at > step ? step : len - at;
        res = httpreq_feed(&q->r, text + at, n);
        at += n;
        if (res == HTTPREQ_HEAD) {
            q->heads++;
            q->refused = httpreq_check(&q->r, rules, &q->no);
            if (q->refused)
                return HTTPREQ_HEAD;
            res = httpreq_feed(&q->r, NULL, 0);
        }
    }
    return res;
}

static int feed_str(struct req *q, const struct httpreq_rules *rules, const char *text, size_t step)
{
    return feed(q, CAP, rules, text, strlen(text), step);
}

/* The request's piece at off, len as a string (static: one at a time). */
static const char *piece(const struct req *q, size_t off, size_t len)
{
    static char s[CAP + 1];
    memcpy(s, q->r.buf + off, len);
    s[len] = '\0';
    return s;
}

static const char *url(const struct req *q)
{
    return piece(q, q->r.url_off, q->r.url_len);
}

static const char *body(const struct req *q)
{
    return piece(q, q->r.body_off, q->r.body_len);
}

static const char *header(const struct req *q, enum httpreq_header h)
{
    return piece(q, q->r.hdr[h].off, q->r.hdr[h].len);
}

static const char post_json[] = "POST /api/publish?x=1 HTTP/1.1\r\n"
                                "Host: 127.0.0.1:7480\r\n"
                                "authorization: Bearer s3cret\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: 13\r\n"
                                "\r\n"
                                "{\"topic\":\"t\"}";

static void test_httpreq_feed_reads_a_get_with_its_url_and_host(void **state)
{
    struct req *q = malloc(sizeof *q);
    assert_int_equal(feed_str(q, &loose, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0),
                     HTTPREQ_DONE);
    assert_int_equal(q->heads, 1);
    assert_int_equal(q->refused, 0);
    assert_int_equal(q->r.parser.method, HTTP_GET);
    assert_string_equal(url(q), "/healthz");
    assert_int_equal(q->r.hdr[HTTPREQ_H_HOST].seen, 1);
    assert_string_equal(header(q, HTTPREQ_H_HOST), "localhost");
    assert_int_equal(q->r.hdr[HTTPREQ_H_ORIGIN].seen, 0);
    assert_int_equal(q->r.body_len, 0);
    free(q);
}

/* Names and values arrive in pieces when the bytes do: the request read one
 * byte at a time is the request read whole. */
static void test_httpreq_feed_one_byte_at_a_time_reads_what_a_whole_feed_reads(void **state)
{
    struct req *whole = malloc(sizeof *whole), *bytes = malloc(sizeof *bytes);
    assert_int_equal(feed_str(whole, &browser, post_json, 0), HTTPREQ_DONE);
    assert_int_equal(feed_str(bytes, &browser, post_json, 1), HTTPREQ_DONE);
    assert_int_equal(bytes->heads, 1);
    assert_int_equal(bytes->refused, 0);
    assert_int_equal(bytes->r.parser.method, HTTP_POST);
    assert_string_equal(url(bytes), "/api/publish?x=1");
    assert_string_equal(header(bytes, HTTPREQ_H_AUTHORIZATION), "Bearer s3cret");
    assert_string_equal(header(bytes, HTTPREQ_H_CONTENT_TYPE), "application/json");
    assert_string_equal(body(bytes), "{\"topic\":\"t\"}");
    assert_int_equal(bytes->r.body_split, 0);
    assert_int_equal(bytes->r.len, strlen(post_json));
    assert_int_equal(bytes->r.url_off, whole->r.url_off);
    assert_int_equal(bytes->r.body_off, whole->r.body_off);
    assert_memory_equal(bytes->r.hdr, whole->r.hdr, sizeof whole->r.hdr);
    free(whole);
    free(bytes);
}

/* The head is reported once, before any of the body is parsed, so a
 * refusal comes before the body is looked at. */
static void test_httpreq_feed_stops_after_the_head_until_fed_again(void **state)
{
    struct httpreq r;
    char buf[CAP];
    httpreq_init(&r, buf, sizeof buf);
    assert_int_equal(httpreq_feed(&r, post_json, strlen(post_json)), HTTPREQ_HEAD);
    assert_true(r.head_done);
    assert_int_equal(r.body_len, 0);
    assert_true(r.parsed < r.len);
    assert_int_equal(httpreq_feed(&r, NULL, 0), HTTPREQ_DONE);
    assert_int_equal(r.body_len, 13);
    assert_memory_equal(buf + r.body_off, "{\"topic\":\"t\"}", 13);
    assert_int_equal(r.parsed, r.len);
}

/* The server reads straight into the buffer: feeding those bytes copies
 * nothing and parses them where they are. */
static void test_httpreq_feed_parses_bytes_read_into_its_buffer_in_place(void **state)
{
    struct httpreq r;
    char buf[CAP];
    const char get[] = "GET / HTTP/1.0\r\n\r\n";
    httpreq_init(&r, buf, sizeof buf);
    memcpy(buf, get, 5);
    assert_int_equal(httpreq_feed(&r, buf + r.len, 5), HTTPREQ_MORE);
    memcpy(buf + r.len, get + 5, sizeof get - 6);
    assert_int_equal(httpreq_feed(&r, buf + r.len, sizeof get - 6), HTTPREQ_HEAD);
    assert_int_equal(httpreq_feed(&r, NULL, 0), HTTPREQ_DONE);
    assert_int_equal(r.len, sizeof get - 1);
}

static void test_httpreq_feed_ignores_a_pipelined_second_request(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char two[] = "GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n"
                       "DELETE /second HTTP/1.1\r\nHost: evil.example\r\nOrigin: x\r\n\r\n";
    assert_int_equal(feed_str(q, &browser, two, 0), HTTPREQ_DONE);
    assert_string_equal(url(q), "/first");
    assert_string_equal(header(q, HTTPREQ_H_HOST), "localhost");
    assert_int_equal(q->r.hdr[HTTPREQ_H_ORIGIN].seen, 0);
    /* Final: more bytes change nothing. */
    size_t len = q->r.len;
    assert_int_equal(httpreq_feed(&q->r, "GET / HTTP/1.1\r\n", 16), HTTPREQ_DONE);
    assert_int_equal(q->r.len, len);
    free(q);
}

static void test_httpreq_feed_marks_a_body_in_several_chunks_split(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char one[] = "PUT /api/policy HTTP/1.1\r\nHost: localhost\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       "7\r\n{\"a\":1}\r\n0\r\n\r\n";
    const char two[] = "PUT /api/policy HTTP/1.1\r\nHost: localhost\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
    assert_int_equal(feed_str(q, &loose, one, 3), HTTPREQ_DONE);
    assert_int_equal(q->r.body_split, 0);
    assert_string_equal(body(q), "{\"a\":1}");
    assert_int_equal(feed_str(q, &loose, two, 0), HTTPREQ_DONE);
    assert_int_equal(q->r.body_split, 1);
    assert_int_equal(q->r.body_len, 7);
    free(q);
}

/* Trailers come after the head was checked: a Host, Origin or Authorization
 * among them must not count as one of the head's. */
static void test_httpreq_feed_keeps_no_trailer_field_as_a_header(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char trailers[] = "PUT /api/policy HTTP/1.1\r\nHost: localhost\r\n"
                            "Content-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"
                            "2\r\n{}\r\n0\r\n"
                            "Host: evil.example\r\nOrigin: https://evil.example\r\n"
                            "Authorization: Bearer s3cret\r\n\r\n";
    assert_int_equal(feed_str(q, &browser, trailers, 5), HTTPREQ_DONE);
    assert_int_equal(q->refused, 0);
    assert_int_equal(q->r.hdr[HTTPREQ_H_HOST].seen, 1);
    assert_string_equal(header(q, HTTPREQ_H_HOST), "localhost");
    assert_int_equal(q->r.hdr[HTTPREQ_H_ORIGIN].seen, 0);
    assert_int_equal(q->r.hdr[HTTPREQ_H_AUTHORIZATION].seen, 0);
    assert_string_equal(body(q), "{}");
    free(q);
}

/* A folded line would keep the line break inside the value (and so in the
 * log line quoting a refused Host): refused instead, read whole or by byte. */
static void test_httpreq_feed_calls_a_folded_header_line_malformed(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char folded[] = "GET / HTTP/1.1\r\nHost: evil\r\n FORGED LOG LINE\r\n\r\n";
    const char tab[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Other: a\r\n\tb\r\n\r\n";
    for (size_t step = 0; step < 2; step++) {
        assert_int_equal(feed_str(q, &loose, folded, step), HTTPREQ_MALFORMED);
        assert_string_equal(httpreq_error_name(&q->r), "HPE_CB_header_value");
        assert_int_equal(q->heads, 0);
        assert_int_equal(feed_str(q, &loose, tab, step), HTTPREQ_MALFORMED);
    }
    /* An empty value and then a blank continuation line is one piece. */
    assert_int_equal(feed_str(q, &loose, "GET / HTTP/1.1\r\nHost:\r\n localhost\r\n\r\n", 1),
                     HTTPREQ_DONE);
    assert_string_equal(header(q, HTTPREQ_H_HOST), "localhost");
    free(q);
}

static void test_httpreq_feed_calls_a_bad_method_or_version_malformed_for_good(void **state)
{
    struct req *q = malloc(sizeof *q);
    assert_int_equal(feed_str(q, &loose, "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 0),
                     HTTPREQ_MALFORMED);
    assert_string_equal(httpreq_error_name(&q->r), "HPE_INVALID_METHOD");
    assert_int_equal(httpreq_feed(&q->r, "GET", 3), HTTPREQ_MALFORMED);
    assert_int_equal(feed_str(q, &loose, "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 2),
                     HTTPREQ_MALFORMED);
    assert_string_equal(httpreq_error_name(&q->r), "HPE_INVALID_VERSION");
    assert_int_equal(q->heads, 0);
    free(q);
}

/* The buffer bounds the request: full and not complete is too large, in the
 * head (431) or in the body (413); exactly full and complete is fine. */
static void test_httpreq_feed_says_too_large_when_the_buffer_fills(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char get[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: aaaaaaaaaaaaaaaa\r\n\r\n";
    size_t n = strlen(get);
    assert_int_equal(feed(q, n - 1, &loose, get, n, 0), HTTPREQ_TOO_LARGE);
    assert_false(q->r.head_done);
    assert_int_equal(q->r.len, n - 1);
    assert_int_equal(httpreq_feed(&q->r, "\n", 1), HTTPREQ_TOO_LARGE);
    assert_int_equal(feed(q, n, &loose, get, n, 7), HTTPREQ_DONE);

    const char post[] = "POST /api/publish HTTP/1.1\r\nHost: localhost\r\n"
                        "Content-Length: 100\r\n\r\n{\"topic\":";
    n = strlen(post);
    assert_int_equal(feed(q, n, &loose, post, n, 0), HTTPREQ_TOO_LARGE);
    assert_true(q->r.head_done);
    assert_int_equal(q->heads, 1);
    /* More bytes than fit: those that fit are parsed, the rest dropped. */
    assert_int_equal(feed(q, 20, &loose, post, n, 0), HTTPREQ_TOO_LARGE);
    assert_int_equal(q->r.len, 20);
    free(q);
}

/* ---- checking the head ----------------------------------------------------- */

/* httpreq_check's answer for a whole request, or 0. */
static int check(struct req *q, const struct httpreq_rules *rules, const char *text)
{
    feed_str(q, rules, text, 0);
    assert_int_equal(q->heads, 1);
    return q->refused;
}

static void test_httpreq_check_refuses_two_host_headers_with_400(void **state)
{
    struct req *q = malloc(sizeof *q);
    assert_int_equal(
        check(q, &loose, "GET / HTTP/1.1\r\nHost: localhost\r\nhost: localhost\r\n\r\n"), 400);
    assert_int_equal(q->no.status, 400);
    assert_int_equal(q->no.reason, HTTPREQ_REFUSED_HOST);
    assert_string_equal(q->no.message, "several Host headers");
    assert_string_equal(q->no.detail, "refused: several Host headers");
    /* Also on HTTP/1.0, where one may be missing. */
    assert_int_equal(check(q, &loose, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    free(q);
}

static void test_httpreq_check_refuses_no_host_on_http_1_1_with_400_not_on_1_0(void **state)
{
    struct req *q = malloc(sizeof *q);
    assert_int_equal(check(q, &loose, "GET / HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(q->no.reason, HTTPREQ_REFUSED_HOST);
    assert_string_equal(q->no.message, "a Host header is required");
    assert_string_equal(q->no.detail, "refused: no Host header");
    assert_int_equal(check(q, &browser, "GET /healthz HTTP/1.0\r\n\r\n"), 0);
    free(q);
}

static void test_httpreq_check_refuses_a_host_it_does_not_serve_with_421(void **state)
{
    struct req *q = malloc(sizeof *q);
    assert_int_equal(check(q, &loose, "GET / HTTP/1.1\r\nHost: evil.example:7480\r\n\r\n"), 421);
    assert_int_equal(q->no.reason, HTTPREQ_REFUSED_HOST);
    assert_string_equal(q->no.message, "this server does not answer for that Host name (add it "
                                       "to the allowed hosts setting)");
    assert_string_equal(q->no.detail, "refused Host 'evil.example:7480' (not an allowed name)");
    /* The listen host and the allowed list are the rules'. */
    const struct httpreq_rules named = {"hub.internal", "evil.example", 0};
    assert_int_equal(check(q, &named, "GET / HTTP/1.1\r\nHost: evil.example:7480\r\n\r\n"), 0);
    assert_int_equal(check(q, &named, "GET / HTTP/1.1\r\nHost: HUB.internal\r\n\r\n"), 0);
    free(q);
}

static void test_httpreq_check_quotes_at_most_100_bytes_of_a_value(void **state)
{
    struct req *q = malloc(sizeof *q);
    char text[400], want[200];
    char name[151];
    memset(name, 'a', 150);
    name[150] = '\0';
    snprintf(text, sizeof text, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name);
    assert_int_equal(check(q, &loose, text), 421);
    snprintf(want, sizeof want, "refused Host '%.100s' (not an allowed name)", name);
    assert_string_equal(q->no.detail, want);
    free(q);
}

static void test_httpreq_check_refuses_origin_with_403_under_browser_checks(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char get[] = "GET /api/links HTTP/1.1\r\nHost: localhost\r\n"
                       "Origin: https://evil.example\r\n\r\n";
    assert_int_equal(check(q, &browser, get), 403);
    assert_int_equal(q->no.reason, HTTPREQ_REFUSED_ORIGIN);
    assert_string_equal(q->no.message,
                        "requests from web pages (with an Origin header) are refused");
    assert_string_equal(q->no.detail,
                        "refused a request from a web page (Origin 'https://evil.example')");
    assert_int_equal(check(q, &loose, get), 0);
    free(q);
}

/* The hub's own pages (its dashboard) send Origin on POST: the server's own
 * scheme and Host pass; another scheme, a Host allowed only by "*" (DNS
 * rebinding) or two Origins do not. */
static void test_httpreq_check_lets_the_server_s_own_origin_through(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char own[] = "POST /api/disconnect HTTP/1.1\r\nHost: 127.0.0.1:7480\r\n"
                       "Origin: http://127.0.0.1:7480\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\n\r\n{}";
    assert_int_equal(check(q, &browser, own), 0);
    const char named[] = "GET /api/edges HTTP/1.1\r\nHost: API.example.com\r\n"
                         "Origin: http://api.example.com\r\n\r\n";
    assert_int_equal(check(q, &browser, named), 0);
    const struct httpreq_rules https = {"127.0.0.1", "", 1, 1};
    assert_int_equal(check(q, &https, own), 403);
    const char other_port[] = "GET /api/edges HTTP/1.1\r\nHost: 127.0.0.1:7480\r\n"
                              "Origin: http://127.0.0.1:8000\r\n\r\n";
    assert_int_equal(check(q, &browser, other_port), 403);
    const char two[] = "GET /api/edges HTTP/1.1\r\nHost: 127.0.0.1:7480\r\n"
                       "Origin: http://127.0.0.1:7480\r\nOrigin: http://evil.example\r\n\r\n";
    assert_int_equal(check(q, &browser, two), 403);
    const struct httpreq_rules star = {"127.0.0.1", "*, api.example.com", 1, 0};
    const char rebound[] = "GET /api/edges HTTP/1.1\r\nHost: evil.example\r\n"
                           "Origin: http://evil.example\r\n\r\n";
    assert_int_equal(check(q, &star, rebound), 403);
    assert_int_equal(check(q, &star, named), 0);
    free(q);
}

static void test_httpreq_check_refuses_a_body_that_is_not_json_with_415(void **state)
{
    struct req *q = malloc(sizeof *q);
    const char plain[] = "POST /api/publish HTTP/1.1\r\nHost: localhost\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";
    assert_int_equal(check(q, &browser, plain), 415);
    assert_int_equal(q->no.reason, HTTPREQ_REFUSED_CONTENT_TYPE);
    assert_string_equal(q->no.message, "the body must be sent as Content-Type: application/json");
    assert_string_equal(q->no.detail, "refused POST with Content-Type 'text/plain'");
    assert_int_equal(check(q, &loose, plain), 0);
    /* No Content-Type, or two of them, is not JSON either. */
    assert_int_equal(check(q, &browser, "DELETE /x HTTP/1.1\r\nHost: localhost\r\n\r\n"), 415);
    assert_string_equal(q->no.detail, "refused DELETE with Content-Type '-'");
    assert_int_equal(check(q, &browser,
                           "PUT /api/policy HTTP/1.1\r\nHost: localhost\r\n"
                           "Content-Type: application/json\r\nContent-Type: application/json\r\n"
                           "Content-Length: 2\r\n\r\n{}"),
                     415);
    /* JSON, and GET or HEAD without a type, go on. */
    assert_int_equal(check(q, &browser, post_json), 0);
    assert_int_equal(check(q, &browser, "HEAD / HTTP/1.1\r\nHost: [::1]:7480\r\n\r\n"), 0);
    free(q);
}

/* ---- Host and Content-Type values ------------------------------------------ */

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
    assert_false(host_ok("::1", "::1", "")); /* IPv6 needs brackets */
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
        cmocka_unit_test(test_httpreq_feed_reads_a_get_with_its_url_and_host),
        cmocka_unit_test(test_httpreq_feed_one_byte_at_a_time_reads_what_a_whole_feed_reads),
        cmocka_unit_test(test_httpreq_feed_stops_after_the_head_until_fed_again),
        cmocka_unit_test(test_httpreq_feed_parses_bytes_read_into_its_buffer_in_place),
        cmocka_unit_test(test_httpreq_feed_ignores_a_pipelined_second_request),
        cmocka_unit_test(test_httpreq_feed_marks_a_body_in_several_chunks_split),
        cmocka_unit_test(test_httpreq_feed_keeps_no_trailer_field_as_a_header),
        cmocka_unit_test(test_httpreq_feed_calls_a_folded_header_line_malformed),
        cmocka_unit_test(test_httpreq_feed_calls_a_bad_method_or_version_malformed_for_good),
        cmocka_unit_test(test_httpreq_feed_says_too_large_when_the_buffer_fills),
        cmocka_unit_test(test_httpreq_check_refuses_two_host_headers_with_400),
        cmocka_unit_test(test_httpreq_check_refuses_no_host_on_http_1_1_with_400_not_on_1_0),
        cmocka_unit_test(test_httpreq_check_refuses_a_host_it_does_not_serve_with_421),
        cmocka_unit_test(test_httpreq_check_quotes_at_most_100_bytes_of_a_value),
        cmocka_unit_test(test_httpreq_check_refuses_origin_with_403_under_browser_checks),
        cmocka_unit_test(test_httpreq_check_lets_the_server_s_own_origin_through),
        cmocka_unit_test(test_httpreq_check_refuses_a_body_that_is_not_json_with_415),
        cmocka_unit_test(test_httpreq_host_accepts_ip_literals_localhost_and_the_listen_host),
        cmocka_unit_test(test_httpreq_host_accepts_listed_names),
        cmocka_unit_test(test_httpreq_host_refuses_other_names_and_garbage),
        cmocka_unit_test(test_httpreq_is_json_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
