/* Unit tests for edge/handshake.c: the RFC 6455 upgrade, fed whole and split
 * at every byte, and each refusal with its status code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <http_parser.h>

#include "edge/handshake.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static struct handshake *feed_keep(const char *req, size_t step, enum handshake_result *r);

static const char *good_request =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: other, spoke.msgpack, spoke.json\r\n\r\n";

/* Feeds req in pieces of `step` bytes; returns the final result. */
static enum handshake_result feed(const char *req, size_t step, struct buf *resp, enum enc *enc,
                                  size_t *total_used)
{
    struct handshake *h = handshake_new();
    size_t len = strlen(req), off = 0;
    enum handshake_result r = HANDSHAKE_NEED_MORE;
    const char *why = "";
    *total_used = 0;
    while (off < len && r == HANDSHAKE_NEED_MORE) {
        size_t n = len - off < step ? len - off : step;
        size_t used = 0;
        r = handshake_feed(h, (const uint8_t *)req + off, n, &used, resp, enc, &why);
        *total_used += used;
        off += n;
    }
    handshake_free(h);
    return r;
}

static void test_handshake_accept_key_matches_rfc6455_example(void **state)
{
    char out[32];
    handshake_accept_key(KEY, strlen(KEY), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_handshake_succeeds_split_at_every_byte(void **state)
{
    size_t len = strlen(good_request);
    for (size_t step = 1; step <= len; step++) {
        struct buf resp = BUF_INIT;
        enum enc enc = ENC_JSON;
        size_t used;
        assert_int_equal(feed(good_request, step, &resp, &enc, &used), HANDSHAKE_DONE);
        assert_int_equal(used, len);
        assert_int_equal(enc, ENC_MSGPACK); /* the client's first supported choice */
        buf_append_u8(&resp, 0);
        assert_non_null(strstr((char *)resp.data, "101 Switching Protocols"));
        assert_non_null(
            strstr((char *)resp.data, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert_non_null(strstr((char *)resp.data, "Sec-WebSocket-Protocol: spoke.msgpack\r\n"));
        buf_deinit(&resp);
    }
}

static void test_handshake_leaves_websocket_bytes_after_the_request(void **state)
{
    char req[1024];
    snprintf(req, sizeof req, "%s\x81\x80", good_request);
    struct buf resp = BUF_INIT;
    enum enc enc;
    size_t used;
    assert_int_equal(feed(req, strlen(req), &resp, &enc, &used), HANDSHAKE_DONE);
    assert_int_equal(used, strlen(good_request));
    buf_deinit(&resp);
}

static void test_handshake_defaults_to_json_without_subprotocol_header(void **state)
{
    const char *req = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    struct buf resp = BUF_INIT;
    enum enc enc = ENC_MSGPACK;
    size_t used;
    assert_int_equal(feed(req, 7, &resp, &enc, &used), HANDSHAKE_DONE);
    assert_int_equal(enc, ENC_JSON);
    buf_append_u8(&resp, 0);
    assert_null(strstr((char *)resp.data, "Sec-WebSocket-Protocol"));
    buf_deinit(&resp);
}

static void expect_status(const char *req, const char *status)
{
    struct buf resp = BUF_INIT;
    enum enc enc;
    size_t used;
    assert_int_equal(feed(req, strlen(req), &resp, &enc, &used), HANDSHAKE_FAILED);
    buf_append_u8(&resp, 0);
    assert_memory_equal(resp.data, status, strlen(status));
    buf_deinit(&resp);
}

/* A target over the URL limit names nothing: no file is looked up. */
static void test_handshake_refuses_overlong_target_with_404(void **state)
{
    char req[HANDSHAKE_MAX_TOKEN + 64];
    int n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'a', HANDSHAKE_MAX_TOKEN);
    snprintf(req + n + HANDSHAKE_MAX_TOKEN, sizeof req - (size_t)n - HANDSHAKE_MAX_TOKEN,
             " HTTP/1.1\r\n\r\n");
    expect_status(req, "HTTP/1.1 404");
}

/* Another path is a plain HTTP request the caller answers (files,
 * /edges.json): its method, path without the query and If-None-Match come
 * out whole at any split. */
static void test_handshake_hands_other_paths_to_the_caller(void **state)
{
    const char *req = "HEAD /spoke.js?v=2 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"abc\"\r\n\r\n";
    for (size_t step = 1; step <= strlen(req); step++) {
        enum handshake_result r;
        struct handshake *h = feed_keep(req, step, &r);
        assert_int_equal(r, HANDSHAKE_HTTP);
        struct handshake_request hr;
        handshake_http(h, &hr);
        assert_int_equal(hr.method, HTTP_HEAD);
        assert_int_equal(hr.path_len, strlen("/spoke.js"));
        assert_memory_equal(hr.path, "/spoke.js", hr.path_len);
        assert_string_equal(hr.if_none_match, "\"abc\"");
        handshake_free(h);
    }
}

static void test_handshake_refuses_bad_key_with_400(void **state)
{
    expect_status("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  "HTTP/1.1 400");
    expect_status("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n",
                  "HTTP/1.1 400");
}

static void test_handshake_refuses_wrong_version_with_426(void **state)
{
    const char *req = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n";
    expect_status(req, "HTTP/1.1 426");
    struct buf resp = BUF_INIT;
    enum enc enc;
    size_t used;
    feed(req, 3, &resp, &enc, &used);
    buf_append_u8(&resp, 0);
    assert_non_null(strstr((char *)resp.data, "Sec-WebSocket-Version: 13\r\n"));
    buf_deinit(&resp);
}

static void test_handshake_refuses_unknown_subprotocols_and_garbage(void **state)
{
    expect_status("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
                  "HTTP/1.1 400");
    expect_status("\x16\x03\x01 not http\r\n\r\n", "HTTP/1.1 400");
}

static void test_handshake_refuses_oversized_headers_with_431(void **state)
{
    static char req[20000];
    int n = snprintf(req, sizeof req, "GET /ws HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', 10000);
    strcpy(req + n + 10000, "\r\n\r\n");
    expect_status(req, "HTTP/1.1 431");
}

/* A plain request followed by an upgrade in the same bytes: the answer is
 * about the first request only, however TCP split them (found by fuzzing:
 * http-parser used to go on into the second request and mix the two). */
static void test_handshake_judges_only_the_first_of_pipelined_requests(void **state)
{
    char req[1024];
    snprintf(req, sizeof req, "GET /ws?x HTTP/1.1\r\nSec-WebSocket-Key: " KEY "\r\n\r\n%s",
             good_request);
    size_t len = strlen(req);
    for (size_t step = 1; step <= len; step += 7) {
        struct buf resp = BUF_INIT;
        enum enc enc;
        size_t used;
        assert_int_equal(feed(req, step, &resp, &enc, &used), HANDSHAKE_FAILED);
        buf_append_u8(&resp, 0);
        assert_memory_equal(resp.data, "HTTP/1.1 426", 12);
        buf_deinit(&resp);
    }
}

/* A WebSocket header too long to hold is refused however it was split
 * (found by fuzzing: a truncated Sec-WebSocket-Protocol gave 400 or 101
 * depending on the split). */
static void test_handshake_refuses_overlong_websocket_header_at_any_split(void **state)
{
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: ");
    memset(req + n, 'p', 700);
    strcpy(req + n + 700, "\r\n\r\n");
    size_t len = strlen(req);
    for (size_t step = 50; step <= len; step += 97) {
        struct buf resp = BUF_INIT;
        enum enc enc;
        size_t used;
        assert_int_equal(feed(req, step, &resp, &enc, &used), HANDSHAKE_FAILED);
        buf_append_u8(&resp, 0);
        assert_memory_equal(resp.data, "HTTP/1.1 400", 12);
        buf_deinit(&resp);
    }
}

/* Feeds req split every `step` bytes to a handshake that the caller frees. */
static struct handshake *feed_keep(const char *req, size_t step, enum handshake_result *r)
{
    struct handshake *h = handshake_new();
    struct buf resp = BUF_INIT;
    enum enc enc;
    const char *why = "";
    size_t len = strlen(req), off = 0;
    *r = HANDSHAKE_NEED_MORE;
    while (off < len && *r == HANDSHAKE_NEED_MORE) {
        size_t n = len - off < step ? len - off : step, used = 0;
        *r = handshake_feed(h, (const uint8_t *)req + off, n, &used, &resp, &enc, &why);
        off += n;
    }
    buf_deinit(&resp);
    return h;
}

#define UPGRADE_HEADERS                                                               \
    "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY \
    "\r\nSec-WebSocket-Version: 13\r\n"

static void test_handshake_takes_token_from_bearer_header_before_query(void **state)
{
    const char *req = "GET /ws?token=fromquery HTTP/1.1\r\n" UPGRADE_HEADERS
                      "Authorization: Bearer   abc.def.ghi\r\nOrigin: https://app.example\r\n\r\n";
    for (size_t step = 1; step <= strlen(req); step += 7) {
        enum handshake_result r;
        struct handshake *h = feed_keep(req, step, &r);
        assert_int_equal(r, HANDSHAKE_DONE);
        assert_string_equal(handshake_token(h), "abc.def.ghi");
        assert_string_equal(handshake_origin(h), "https://app.example");
        handshake_free(h);
    }
}

static void test_handshake_takes_percent_decoded_token_from_query(void **state)
{
    enum handshake_result r;
    struct handshake *h =
        feed_keep("GET /ws?x=1&token=a%2Eb.c%5f&y=2 HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 5, &r);
    assert_int_equal(r, HANDSHAKE_DONE);
    assert_string_equal(handshake_token(h), "a.b.c_");
    assert_null(handshake_origin(h));
    handshake_free(h);

    h = feed_keep("GET /ws?tokens=no HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 64, &r);
    assert_int_equal(r, HANDSHAKE_DONE);
    assert_null(handshake_token(h)); /* "tokens" is another parameter */
    handshake_free(h);

    /* Authorization with another scheme is not a token. */
    h = feed_keep("GET /ws HTTP/1.1\r\n" UPGRADE_HEADERS "Authorization: Basic dXNlcg==\r\n\r\n",
                  64, &r);
    assert_int_equal(r, HANDSHAKE_DONE);
    assert_null(handshake_token(h));
    handshake_free(h);
}

static void test_handshake_accepts_a_token_of_several_kilobytes(void **state)
{
    char tok[3001], req[4000];
    memset(tok, 'a', sizeof tok - 1);
    tok[sizeof tok - 1] = '\0';
    tok[1000] = tok[2000] = '.';
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\n" UPGRADE_HEADERS "Authorization: Bearer %s\r\n\r\n", tok);
    enum handshake_result r;
    struct handshake *h = feed_keep(req, 100, &r);
    assert_int_equal(r, HANDSHAKE_DONE);
    assert_string_equal(handshake_token(h), tok);
    handshake_free(h);
}

static void test_handshake_refuses_repeated_origin_or_authorization(void **state)
{
    struct buf resp = BUF_INIT;
    enum enc enc;
    size_t used;
    assert_int_equal(feed("GET /ws HTTP/1.1\r\n" UPGRADE_HEADERS
                          "Origin: https://a\r\nOrigin: https://b\r\n\r\n",
                          9, &resp, &enc, &used),
                     HANDSHAKE_FAILED);
    buf_append_u8(&resp, 0);
    assert_non_null(strstr((char *)resp.data, "400 Bad Request"));
    buf_reset(&resp);
    assert_int_equal(feed("GET /ws HTTP/1.1\r\n" UPGRADE_HEADERS
                          "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
                          9, &resp, &enc, &used),
                     HANDSHAKE_FAILED);
    buf_deinit(&resp);
}

static void test_handshake_refuse_writes_status_headers_and_body(void **state)
{
    struct buf resp = BUF_INIT;
    handshake_refuse(&resp, 401, "Unauthorized", "WWW-Authenticate: Bearer\r\n", "token expired\n");
    buf_append_u8(&resp, 0);
    assert_string_equal(
        (char *)resp.data,
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
        "Connection: close\r\nWWW-Authenticate: Bearer\r\n\r\ntoken expired\n");
    buf_deinit(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_accept_key_matches_rfc6455_example),
        cmocka_unit_test(test_handshake_succeeds_split_at_every_byte),
        cmocka_unit_test(test_handshake_leaves_websocket_bytes_after_the_request),
        cmocka_unit_test(test_handshake_defaults_to_json_without_subprotocol_header),
        cmocka_unit_test(test_handshake_refuses_overlong_target_with_404),
        cmocka_unit_test(test_handshake_hands_other_paths_to_the_caller),
        cmocka_unit_test(test_handshake_refuses_bad_key_with_400),
        cmocka_unit_test(test_handshake_refuses_wrong_version_with_426),
        cmocka_unit_test(test_handshake_refuses_unknown_subprotocols_and_garbage),
        cmocka_unit_test(test_handshake_refuses_oversized_headers_with_431),
        cmocka_unit_test(test_handshake_judges_only_the_first_of_pipelined_requests),
        cmocka_unit_test(test_handshake_refuses_overlong_websocket_header_at_any_split),
        cmocka_unit_test(test_handshake_takes_token_from_bearer_header_before_query),
        cmocka_unit_test(test_handshake_takes_percent_decoded_token_from_query),
        cmocka_unit_test(test_handshake_accepts_a_token_of_several_kilobytes),
        cmocka_unit_test(test_handshake_refuses_repeated_origin_or_authorization),
        cmocka_unit_test(test_handshake_refuse_writes_status_headers_and_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
