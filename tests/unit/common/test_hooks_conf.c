/* Unit tests for common/hooks_conf.c and common/topic_pattern.c: [hooks]
 * keys, the JSON document both ways, derived URLs, every refusal, and
 * topic matching. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hooks_conf.h"
#include "common/topic_pattern.h"

static struct hooks_conf *conf_new(void)
{
    struct hooks_conf *c = malloc(sizeof *c);
    hooks_conf_defaults(c);
    return c;
}

/* Applies key/value pairs (NULL-terminated), then finish; fails the test
 * on any error. */
static struct hooks_conf *from_ini(const char *const *kv)
{
    struct hooks_conf *c = conf_new();
    char err[256];
    for (size_t i = 0; kv[i]; i += 2)
        if (hooks_conf_set(c, kv[i], kv[i + 1], err, sizeof err) < 0)
            fail_msg("%s = %s: %s", kv[i], kv[i + 1], err);
    if (hooks_conf_finish(c, err, sizeof err) < 0)
        fail_msg("finish: %s", err);
    return c;
}

static char *to_json(const struct hooks_conf *c, int with_secret)
{
    struct buf b;
    buf_init(&b);
    hooks_conf_to_json(c, &b, with_secret);
    char *s = malloc(buf_readable(&b) + 1);
    memcpy(s, buf_head(&b), buf_readable(&b));
    s[buf_readable(&b)] = '\0';
    buf_deinit(&b);
    return s;
}

/* to_json with the secret, then from_json: must give c back. */
static void assert_round_trip(const struct hooks_conf *c)
{
    char *doc = to_json(c, 1);
    struct hooks_conf *back = conf_new();
    char err[256];
    if (hooks_conf_from_json(back, doc, strlen(doc), err, sizeof err) < 0)
        fail_msg("from_json(%s): %s", doc, err);
    assert_true(hooks_conf_equal(c, back));
    assert_true(back->version == c->version);
    char *again = to_json(back, 1);
    assert_string_equal(doc, again);
    free(again);
    free(doc);
    free(back);
}

static void expect_json_error(const char *doc, const char *needle)
{
    struct hooks_conf *c = conf_new();
    char err[256] = "";
    if (hooks_conf_from_json(c, doc, strlen(doc), err, sizeof err) == 0)
        fail_msg("accepted: %s", doc);
    if (!strstr(err, needle))
        fail_msg("%s: error \"%s\" does not mention \"%s\"", doc, err, needle);
    /* Left in defaults. */
    struct hooks_conf *d = conf_new();
    assert_true(hooks_conf_equal(c, d));
    assert_true(c->version == 0);
    free(d);
    free(c);
}

static void expect_set_error(const char *key, const char *value, const char *needle)
{
    struct hooks_conf *c = conf_new();
    char err[256] = "";
    if (hooks_conf_set(c, key, value, err, sizeof err) == 0)
        fail_msg("accepted %s = %s", key, value);
    if (!strstr(err, needle))
        fail_msg("%s = %s: error \"%s\" does not mention \"%s\"", key, value, err, needle);
    free(c);
}

static void test_hooks_conf_defaults_are_all_off(void **state)
{
    struct hooks_conf *c = conf_new();
    assert_false(hooks_conf_any(c));
    assert_int_equal(c->timeout_ms, 2000);
    assert_int_equal(c->max_in_flight, 64);
    assert_int_equal(c->breaker_failures, 5);
    assert_int_equal(c->breaker_cooldown_ms, 5000);
    assert_int_equal(c->disconnect_batch, 100);
    assert_int_equal(c->disconnect_interval_ms, 1000);
    assert_int_equal(c->disconnect_retries, 3);
    assert_int_equal(c->secret_len, 0);
    char err[64];
    assert_int_equal(hooks_conf_finish(c, err, sizeof err), 0);
    char *doc = to_json(c, 0);
    assert_string_equal(doc, "{\"version\":0,\"secret\":\"\",\"timeout_ms\":2000,"
                             "\"max_in_flight\":64,\"breaker\":{\"failures\":5,"
                             "\"cooldown_ms\":5000},\"forward_headers\":[],\"events\":{}}");
    free(doc);
    assert_round_trip(c);
    free(c);
}

static void test_hooks_conf_ini_keys_to_json_and_back(void **state)
{
    static const char *const kv[] = {"url",
                                     "http://backend:8000/hooks",
                                     "secret",
                                     "s3cr3t \"q\\",
                                     "timeout",
                                     "0.5",
                                     "max_in_flight",
                                     "10",
                                     "breaker_failures",
                                     "7",
                                     "breaker_cooldown",
                                     "2.5",
                                     "forward_headers",
                                     " Cookie  User-Agent X-Forwarded-For ",
                                     "connect",
                                     "closed",
                                     "subscribe",
                                     "open",
                                     "subscribe_topics",
                                     "private.* chat",
                                     "publish",
                                     "on",
                                     "publish_url",
                                     "https://other/pub",
                                     "publish_topics",
                                     "*",
                                     "rpc",
                                     "off",
                                     "disconnect",
                                     "on",
                                     "disconnect_batch",
                                     "50",
                                     "disconnect_interval",
                                     "0.25",
                                     "disconnect_retries",
                                     "0",
                                     NULL};
    struct hooks_conf *c = from_ini(kv);
    assert_true(hooks_conf_any(c));
    assert_string_equal(c->base_url, "http://backend:8000/hooks");
    assert_string_equal(c->secret, "s3cr3t \"q\\");
    assert_int_equal(c->secret_len, 10);
    assert_int_equal(c->timeout_ms, 500);
    assert_int_equal(c->max_in_flight, 10);
    assert_int_equal(c->breaker_failures, 7);
    assert_int_equal(c->breaker_cooldown_ms, 2500);
    assert_int_equal(c->nheaders, 3);
    assert_string_equal(c->headers[1], "User-Agent");
    assert_int_equal(c->ev[HOOK_CONNECT].mode, HOOK_FAIL_CLOSED);
    assert_int_equal(c->ev[HOOK_SUBSCRIBE].mode, HOOK_FAIL_OPEN);
    assert_int_equal(c->ev[HOOK_PUBLISH].mode, HOOK_FAIL_CLOSED);
    assert_int_equal(c->ev[HOOK_RPC].mode, HOOK_OFF);
    assert_int_equal(c->ev[HOOK_DISCONNECT].mode, HOOK_FAIL_CLOSED);
    assert_int_equal(c->ev[HOOK_SUBSCRIBE].ntopics, 2);
    assert_string_equal(c->ev[HOOK_SUBSCRIBE].topics[0], "private.*");
    assert_int_equal(c->disconnect_batch, 50);
    assert_int_equal(c->disconnect_interval_ms, 250);
    assert_int_equal(c->disconnect_retries, 0);
    c->version = 42;
    assert_round_trip(c);
    /* Without the secret: shown as set, and nothing else differs. */
    char *pub = to_json(c, 0);
    assert_non_null(strstr(pub, "\"secret\":\"(set)\""));
    assert_null(strstr(pub, "s3cr3t"));
    free(pub);
    free(c);
}

static void test_hooks_conf_derives_event_urls(void **state)
{
    static const char *const kv[] = {"url",         "http://b/hooks",
                                     "connect",     "on",
                                     "subscribe",   "on",
                                     "rpc",         "open",
                                     "rpc_url",     "http://r/call",
                                     "disconnect",  "on",
                                     "publish_url", "http://ignored/",
                                     NULL};
    struct hooks_conf *c = from_ini(kv);
    assert_string_equal(c->ev[HOOK_CONNECT].url, "http://b/hooks/connect");
    assert_string_equal(c->ev[HOOK_SUBSCRIBE].url, "http://b/hooks/subscribe");
    assert_string_equal(c->ev[HOOK_RPC].url, "http://r/call");
    assert_string_equal(c->ev[HOOK_DISCONNECT].url, "http://b/hooks/disconnect");
    /* Off: no URL kept. */
    assert_string_equal(c->ev[HOOK_PUBLISH].url, "");
    assert_round_trip(c);
    free(c);

    /* One '/' between the base and the event name. */
    static const char *const slash[] = {"url", "https://b/", "connect", "on", NULL};
    c = from_ini(slash);
    assert_string_equal(c->ev[HOOK_CONNECT].url, "https://b/connect");
    assert_round_trip(c);
    free(c);

    /* From JSON: the same rules, and an event's own URL wins. */
    const char *doc = "{\"version\":3,\"url\":\"http://x\",\"events\":{\"connect\":{},"
                      "\"rpc\":{\"url\":\"http://y/rpc\",\"fail\":\"open\"}}}";
    c = conf_new();
    char err[256];
    assert_int_equal(hooks_conf_from_json(c, doc, strlen(doc), err, sizeof err), 0);
    assert_true(c->version == 3);
    assert_string_equal(c->ev[HOOK_CONNECT].url, "http://x/connect");
    assert_int_equal(c->ev[HOOK_CONNECT].mode, HOOK_FAIL_CLOSED);
    assert_string_equal(c->ev[HOOK_RPC].url, "http://y/rpc");
    assert_int_equal(c->ev[HOOK_RPC].mode, HOOK_FAIL_OPEN);
    assert_round_trip(c);
    free(c);

    /* An event URL given that equals the derived one round-trips too. */
    static const char *const same[] = {"url",         "http://b",         "connect", "on",
                                       "connect_url", "http://b/connect", NULL};
    c = from_ini(same);
    assert_round_trip(c);
    free(c);
}

static void test_hooks_conf_finish_needs_a_url_for_each_event_on(void **state)
{
    struct hooks_conf *c = conf_new();
    char err[256] = "";
    assert_int_equal(hooks_conf_set(c, "publish", "on", err, sizeof err), 0);
    assert_int_equal(hooks_conf_finish(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "publish"));
    free(c);

    /* The base plus the event name must fit too. */
    c = conf_new();
    char url[HOOKS_URL_MAX + 1];
    memset(url, 'a', sizeof url - 1);
    memcpy(url, "http://", 7);
    url[HOOKS_URL_MAX] = '\0';
    assert_int_equal(hooks_conf_set(c, "url", url, err, sizeof err), 0);
    assert_int_equal(hooks_conf_set(c, "connect", "on", err, sizeof err), 0);
    assert_int_equal(hooks_conf_finish(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer"));
    free(c);
}

static void test_hooks_conf_set_refuses_bad_keys_and_values(void **state)
{
    expect_set_error("nope", "1", "not a [hooks] key");
    expect_set_error("connect_topics", "a", "not a [hooks] key");
    expect_set_error("rpc_topics", "a", "not a [hooks] key");
    expect_set_error("connect_", "x", "not a [hooks] key");
    expect_set_error("connect_batch", "1", "not a [hooks] key");
    expect_set_error("connect", "maybe", "not off, on, closed or open");
    expect_set_error("url", "ftp://x", "http:// or https://");
    expect_set_error("url", "http://", "http:// or https://");
    expect_set_error("url", "http://a b", "printable");
    expect_set_error("connect_url", "//x", "connect_url");
    expect_set_error("timeout", "0", "out of range");
    expect_set_error("timeout", "61", "out of range");
    expect_set_error("timeout", "2s", "not a number");
    expect_set_error("breaker_cooldown", "0.05", "out of range");
    expect_set_error("max_in_flight", "4097", "out of range");
    expect_set_error("max_in_flight", "1.5", "whole number");
    expect_set_error("breaker_failures", "0", "out of range");
    expect_set_error("disconnect_batch", "1001", "out of range");
    expect_set_error("disconnect_interval", "0.001", "out of range");
    expect_set_error("disconnect_retries", "11", "out of range");
    expect_set_error("forward_headers", "Cookie Bad:Header", "not an HTTP header name");
    expect_set_error("forward_headers", "Cookie cookie", "twice");
    expect_set_error("forward_headers", "a b c d e f g h i j k l m n o p q", "more than 16");
    expect_set_error("subscribe_topics", "ok bad!", "not a topic pattern");
    expect_set_error("subscribe_topics", "a*b", "not a topic pattern");
    expect_set_error("publish_topics", "**", "not a topic pattern");
    expect_set_error("secret", "tab\there", "printable");
    expect_set_error("secret_file", "/nonexistent/spoke-secret", "cannot open");

    char big[HOOKS_SECRET_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_set_error("secret", big, "longer than");

    char many[HOOKS_TOPICS_MAX * 3 + 8] = "";
    for (int i = 0; i <= HOOKS_TOPICS_MAX; i++)
        strcat(many, "t. ");
    expect_set_error("publish_topics", many, "more than 64");
}

static void test_hooks_conf_reads_the_secret_file(void **state)
{
    char path[] = "/tmp/spoke-hooks-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-a-file\n", 12), 12);
    close(fd);
    struct hooks_conf *c = conf_new();
    char err[256];
    assert_int_equal(hooks_conf_set(c, "secret_file", path, err, sizeof err), 0);
    assert_string_equal(c->secret, "from-a-file");
    assert_int_equal(c->secret_len, 11);
    unlink(path);
    free(c);
}

static void test_hooks_conf_later_lists_replace_earlier_ones(void **state)
{
    static const char *const kv[] = {
        "forward_headers",  "A B", "forward_headers",  "C", "subscribe", "on", "url", "http://h",
        "subscribe_topics", "x y", "subscribe_topics", "z", NULL};
    struct hooks_conf *c = from_ini(kv);
    assert_int_equal(c->nheaders, 1);
    assert_string_equal(c->headers[0], "C");
    assert_int_equal(c->ev[HOOK_SUBSCRIBE].ntopics, 1);
    free(c);
}

static void test_hooks_conf_from_json_refuses_what_is_wrong(void **state)
{
    expect_json_error("", "not JSON");
    expect_json_error("[1]", "not a JSON object");
    expect_json_error("{}", "version: missing");
    expect_json_error("{\"version\":-1}", "version");
    expect_json_error("{\"version\":1.5}", "version");
    expect_json_error("{\"version\":\"1\"}", "version");
    expect_json_error("{\"version\":1,\"version\":2}", "not JSON");
    expect_json_error("{\"version\":1,\"nope\":1}", "nope: unknown key");
    expect_json_error("{\"version\":1,\"url\":1}", "url: must be a string");
    expect_json_error("{\"version\":1,\"url\":\"gopher://x\"}", "url: must start");
    expect_json_error("{\"version\":1,\"secret\":2}", "secret: must be a string");
    expect_json_error("{\"version\":1,\"secret\":\"a\\nb\"}", "secret: must be printable");
    expect_json_error("{\"version\":1,\"timeout_ms\":0}", "timeout_ms: out of range");
    expect_json_error("{\"version\":1,\"timeout_ms\":60001}", "timeout_ms: out of range");
    expect_json_error("{\"version\":1,\"timeout_ms\":100.5}", "timeout_ms: must be an integer");
    expect_json_error("{\"version\":1,\"timeout_ms\":\"2\"}", "timeout_ms: must be an integer");
    expect_json_error("{\"version\":1,\"max_in_flight\":0}", "max_in_flight: out of range");
    expect_json_error("{\"version\":1,\"breaker\":[]}", "breaker: must be an object");
    expect_json_error("{\"version\":1,\"breaker\":{\"failures\":0}}", "breaker.failures");
    expect_json_error("{\"version\":1,\"breaker\":{\"cooldown_ms\":99}}", "breaker.cooldown_ms");
    expect_json_error("{\"version\":1,\"breaker\":{\"x\":1}}", "breaker.x: unknown key");
    expect_json_error("{\"version\":1,\"timeout_ms\":2000,\"failures\":3}",
                      "failures: unknown key");
    expect_json_error("{\"version\":1,\"forward_headers\":\"Cookie\"}", "array of strings");
    expect_json_error("{\"version\":1,\"forward_headers\":[1]}", "array of strings");
    expect_json_error("{\"version\":1,\"forward_headers\":[\"\"]}", "not an HTTP header");
    expect_json_error("{\"version\":1,\"forward_headers\":[\"a b\"]}", "not an HTTP header");
    expect_json_error("{\"version\":1,\"events\":[]}", "events: must be an object");
    expect_json_error("{\"version\":1,\"events\":{\"close\":{}}}", "events.close: not an event");
    expect_json_error("{\"version\":1,\"events\":{\"connect\":true}}",
                      "events.connect: must be an object");
    expect_json_error("{\"version\":1,\"events\":{\"connect\":{}}}", "neither url");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"connect\":"
                      "{\"fail\":\"maybe\"}}}",
                      "events.connect.fail");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"connect\":"
                      "{\"topics\":[\"a\"]}}}",
                      "events.connect.topics: unknown key");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"disconnect\":"
                      "{\"fail\":\"open\"}}}",
                      "events.disconnect.fail: unknown key");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"disconnect\":"
                      "{\"batch\":0}}}",
                      "disconnect.batch: out of range");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"disconnect\":"
                      "{\"retries\":11}}}",
                      "disconnect.retries");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"publish\":"
                      "{\"batch\":1}}}",
                      "events.publish.batch: unknown key");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"publish\":"
                      "{\"topics\":[\"a b\"]}}}",
                      "not a topic pattern");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"publish\":"
                      "{\"topics\":\"a\"}}}",
                      "array of strings");
    expect_json_error("{\"version\":1,\"url\":\"http://h\",\"events\":{\"rpc\":"
                      "{\"url\":\"mailto:x\"}}}",
                      "events.rpc.url");
    expect_json_error("{\"version\":1,\"secret\":\"a\\u0000b\"}", "not JSON");

    /* Too long a URL, too many topics, too long a document. */
    struct buf b;
    buf_init(&b);
    buf_append_str(&b, "{\"version\":1,\"url\":\"http://");
    for (int i = 0; i < HOOKS_URL_MAX; i++)
        buf_append_str(&b, "a");
    buf_append_str(&b, "\"}");
    buf_append_u8(&b, 0);
    expect_json_error((const char *)buf_head(&b), "url: longer than");
    buf_reset(&b);
    buf_append_str(&b, "{\"version\":1,\"url\":\"http://h\",\"events\":{\"subscribe\":"
                       "{\"topics\":[\"a\"");
    for (int i = 0; i < HOOKS_TOPICS_MAX; i++)
        buf_append_str(&b, ",\"b\"");
    buf_append_str(&b, "]}}}");
    buf_append_u8(&b, 0);
    expect_json_error((const char *)buf_head(&b), "more than 64");
    buf_reset(&b);
    buf_append_str(&b, "{\"version\":1,\"url\":\"http://h\"}");
    for (int i = 0; i < HOOKS_DOC_MAX; i++)
        buf_append_str(&b, " ");
    buf_append_u8(&b, 0);
    expect_json_error((const char *)buf_head(&b), "at most 65536");
    buf_deinit(&b);
}

static void test_hooks_conf_largest_document_fits_the_bound(void **state)
{
    /* Every list full, every string at its longest: the document must
     * still be one hooks_conf_from_json takes. */
    struct hooks_conf *c = conf_new();
    char err[256];
    memset(c->base_url, 'u', HOOKS_URL_MAX - 20);
    memcpy(c->base_url, "https://", 8);
    memset(c->secret, '"', HOOKS_SECRET_MAX);
    c->secret_len = HOOKS_SECRET_MAX;
    for (int e = 0; e < HOOK_EVENTS; e++) {
        c->ev[e].mode = HOOK_FAIL_CLOSED;
        memset(c->ev[e].url, 'v', HOOKS_URL_MAX);
        memcpy(c->ev[e].url, "http://", 7);
        if (e == HOOK_SUBSCRIBE || e == HOOK_PUBLISH) {
            c->ev[e].ntopics = HOOKS_TOPICS_MAX;
            for (int i = 0; i < HOOKS_TOPICS_MAX; i++)
                memset(c->ev[e].topics[i], 'a' + i % 26, HOOKS_PATTERN_MAX);
        }
    }
    c->nheaders = HOOKS_HEADERS_MAX;
    for (int i = 0; i < HOOKS_HEADERS_MAX; i++)
        memset(c->headers[i], 'A' + i, HOOKS_HEADER_NAME_MAX);
    c->version = UINT64_C(1) << 62;
    char *doc = to_json(c, 1);
    assert_true(strlen(doc) <= HOOKS_DOC_MAX);
    struct hooks_conf *back = conf_new();
    assert_int_equal(hooks_conf_from_json(back, doc, strlen(doc), err, sizeof err), 0);
    assert_true(hooks_conf_equal(c, back));
    free(back);
    free(doc);
    free(c);
}

static void test_hooks_conf_topic_matches_patterns(void **state)
{
    struct hooks_conf *c = conf_new();
    char err[256];
    assert_int_equal(hooks_conf_set(c, "subscribe_topics", "private.* exact", err, sizeof err), 0);
    const struct hook_event_conf *e = &c->ev[HOOK_SUBSCRIBE];
    assert_true(hooks_conf_topic_matches(e, "private.a", 9));
    assert_true(hooks_conf_topic_matches(e, "exact", 5));
    assert_false(hooks_conf_topic_matches(e, "private.", 8));
    assert_false(hooks_conf_topic_matches(e, "exactly", 7));
    assert_false(hooks_conf_topic_matches(e, "public.a", 8));
    /* No patterns: every topic. */
    assert_true(hooks_conf_topic_matches(&c->ev[HOOK_PUBLISH], "anything", 8));
    free(c);
}

static void test_topic_pattern_is_valid_as_a_topic_or_prefix_star(void **state)
{
    assert_true(topic_pattern_is_valid("*", 1));
    assert_true(topic_pattern_is_valid("a.b", 3));
    assert_true(topic_pattern_is_valid("a.*", 3));
    assert_false(topic_pattern_is_valid("", 0));
    assert_false(topic_pattern_is_valid("a*b", 3));
    assert_false(topic_pattern_is_valid("**", 2));
    assert_false(topic_pattern_is_valid("a b", 3));
    char p[TOPIC_PATTERN_MAX + 1];
    memset(p, 'p', sizeof p);
    assert_true(topic_pattern_is_valid(p, TOPIC_PATTERN_MAX));
    assert_false(topic_pattern_is_valid(p, TOPIC_PATTERN_MAX + 1));
    p[TOPIC_PATTERN_MAX - 1] = '*';
    assert_true(topic_pattern_is_valid(p, TOPIC_PATTERN_MAX));
}

static void test_hooks_event_names(void **state)
{
    assert_string_equal(hooks_event_name(HOOK_CONNECT), "connect");
    assert_string_equal(hooks_event_name(HOOK_DISCONNECT), "disconnect");
    assert_string_equal(hooks_event_name(HOOK_EVENTS), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_conf_defaults_are_all_off),
        cmocka_unit_test(test_hooks_conf_ini_keys_to_json_and_back),
        cmocka_unit_test(test_hooks_conf_derives_event_urls),
        cmocka_unit_test(test_hooks_conf_finish_needs_a_url_for_each_event_on),
        cmocka_unit_test(test_hooks_conf_set_refuses_bad_keys_and_values),
        cmocka_unit_test(test_hooks_conf_reads_the_secret_file),
        cmocka_unit_test(test_hooks_conf_later_lists_replace_earlier_ones),
        cmocka_unit_test(test_hooks_conf_from_json_refuses_what_is_wrong),
        cmocka_unit_test(test_hooks_conf_largest_document_fits_the_bound),
        cmocka_unit_test(test_hooks_conf_topic_matches_patterns),
        cmocka_unit_test(test_topic_pattern_is_valid_as_a_topic_or_prefix_star),
        cmocka_unit_test(test_hooks_event_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
