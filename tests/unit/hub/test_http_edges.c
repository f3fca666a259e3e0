/* Unit tests for hub/http.c's per-edge view: the figures edge workers
 * report in STATS are summed unsigned and saturating, so a hostile edge
 * sending values near 2^64 can neither overflow a signed sum (undefined
 * behaviour, an abort under UBSan) nor make the totals wrap or go
 * negative. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/http_edges.h"

static struct edge_link_info worker(const char *edge, const char *addr)
{
    struct edge_link_info i;
    memset(&i, 0, sizeof i);
    snprintf(i.edge, sizeof i.edge, "%s", edge);
    snprintf(i.region, sizeof i.region, "test");
    snprintf(i.software, sizeof i.software, "0.1.0");
    snprintf(i.addr, sizeof i.addr, "%s", addr);
    return i;
}

static json_int_t jget(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* The buffer's text as a C string (the buffer keeps its bytes). */
static const char *text(struct buf *b)
{
    buf_append_u8(b, 0);
    b->len--;
    return (const char *)buf_head(b);
}

static void test_http_add_sat_saturates_at_uint64_max(void **state)
{
    assert_true(http_add_sat(1, 2) == 3);
    assert_true(http_add_sat(UINT64_MAX - 1, 1) == UINT64_MAX);
    assert_true(http_add_sat(UINT64_MAX - 1, 2) == UINT64_MAX);
    assert_true(http_add_sat(UINT64_MAX, UINT64_MAX) == UINT64_MAX);
    assert_true(http_add_sat((uint64_t)INT64_MAX, 1) == (uint64_t)INT64_MAX + 1);
}

static void test_http_edges_sum_the_workers_of_one_edge(void **state)
{
    struct http_edges es;
    http_edges_init(&es);
    struct edge_link_info w0 = worker("edge-a", "127.0.0.1:1"),
                          w1 = worker("edge-a", "127.0.0.1:2");
    struct edge_link_info other = worker("edge-b", "127.0.0.1:3");
    w0.stats.clients = 3;
    w1.stats.clients = 4;
    w0.stats.closed_idle = 2;
    w1.stats.closed_idle = 5;
    w0.stats.uptime_s = 10;
    w1.stats.uptime_s = 7;
    w0.raw_in = 300;
    w0.wire_in = 100;
    http_edges_add(&es, &w0);
    http_edges_add(&es, &other);
    http_edges_add(&es, &w1);
    assert_int_equal(es.n, 2);
    json_t *arr = http_edges_json(&es);
    json_t *a = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "edge-a");
    assert_int_equal(jget(a, "workers"), 2);
    assert_int_equal(jget(a, "clients"), 7);
    assert_int_equal(jget(json_object_get(a, "closes"), "idle"), 7);
    assert_int_equal(jget(a, "uptime_s"), 10);
    assert_int_equal(json_array_size(json_object_get(a, "addresses")), 2);
    assert_true(json_real_value(json_object_get(a, "link_ratio")) == 3.0);
    assert_int_equal(jget(json_array_get(arr, 1), "workers"), 1);
    json_decref(arr);
    http_edges_deinit(&es);
}

static void test_http_edges_saturate_hostile_stats(void **state)
{
    struct http_edges es;
    http_edges_init(&es);
    struct edge_link_info w0 = worker("evil", "127.0.0.1:1"), w1 = worker("evil", "127.0.0.1:2");
    /* INT64_MAX + 1 overflowed the signed json_int_t sum; UINT64_MAX - 1 +
     * 5 wrapped an unsigned one. */
    w0.stats.msgs_in = (uint64_t)INT64_MAX;
    w1.stats.msgs_in = 1;
    w0.stats.msgs_out = UINT64_MAX - 1;
    w1.stats.msgs_out = 5;
    w0.stats.closed_rate = UINT64_MAX;
    w1.stats.closed_rate = UINT64_MAX;
    w0.stats.uptime_s = UINT64_MAX;
    w0.raw_in = UINT64_MAX;
    w0.raw_out = UINT64_MAX;
    w0.wire_in = 1;
    http_edges_add(&es, &w0);
    http_edges_add(&es, &w1);
    const struct http_edge *e = &es.v[0];
    assert_true(e->counters[HTTP_EDGE_MSGS_IN] == (uint64_t)INT64_MAX + 1);
    assert_true(e->counters[HTTP_EDGE_MSGS_OUT] == UINT64_MAX);
    assert_true(e->closes[HTTP_CLOSE_RATE] == UINT64_MAX);

    /* JSON integers are signed: the largest shows as INT64_MAX, never
     * negative. */
    json_t *arr = http_edges_json(&es);
    json_t *o = json_array_get(arr, 0);
    assert_true(jget(o, "msgs_in") == INT64_MAX);
    assert_true(jget(o, "msgs_out") == INT64_MAX);
    assert_true(jget(json_object_get(o, "closes"), "rate_limit") == INT64_MAX);
    assert_true(jget(o, "uptime_s") == INT64_MAX);
    assert_true(json_real_value(json_object_get(o, "link_ratio")) > 0);
    json_decref(arr);

    /* /metrics shows the unsigned sums. */
    struct buf b = BUF_INIT;
    http_edges_metrics(&es, &b);
    const char *t = text(&b);
    assert_non_null(strstr(t, "spoke_edge_messages_in_total{edge=\"evil\"} 9223372036854775808\n"));
    assert_non_null(
        strstr(t, "spoke_edge_messages_out_total{edge=\"evil\"} 18446744073709551615\n"));
    assert_non_null(strstr(t, "spoke_edge_closes_total{edge=\"evil\",reason=\"rate_limit\"} "
                              "18446744073709551615\n"));
    assert_null(strstr(t, "} -"));
    buf_deinit(&b);
    http_edges_deinit(&es);
}

/* An edge whose workers are split over two hubs: this hub's part, then the
 * other's as its view says, make one entry naming both hubs. */
static void test_http_edges_merge_an_edge_split_over_two_hubs(void **state)
{
    struct http_edges mine, theirs;
    http_edges_init(&mine);
    http_edges_init(&theirs);
    struct edge_link_info w0 = worker("edge-a", "127.0.0.1:1"),
                          w1 = worker("edge-a", "127.0.0.1:2");
    struct edge_link_info b0 = worker("edge-b", "127.0.0.1:3");
    w0.stats.clients = 3;
    w0.stats.uptime_s = 5;
    w1.stats.clients = 4;
    w1.stats.uptime_s = 9;
    w1.stats.rtt_us = 2500;
    w1.stats.msgs_in = UINT64_MAX;
    w0.stats.msgs_in = 1;
    http_edges_add(&mine, &w0);
    http_edges_tag(&mine, "hub-a");
    http_edges_add(&theirs, &w1);
    http_edges_add(&theirs, &b0);

    /* The other hub's entries as it writes them, read back. */
    json_t *arr = http_edges_json(&theirs);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct http_edge part;
        char err[128];
        assert_int_equal(http_edge_from_json(json_array_get(arr, i), &part, err, sizeof err), 0);
        http_edges_merge(&mine, &part, "hub-b");
        http_edge_deinit(&part);
    }
    json_decref(arr);

    assert_int_equal(mine.n, 2);
    const struct http_edge *a = &mine.v[0];
    assert_string_equal(a->name, "edge-a");
    assert_int_equal(a->counters[HTTP_EDGE_WORKERS], 2);
    assert_int_equal(a->counters[HTTP_EDGE_CLIENTS], 7);
    /* The other's figure came through JSON, as INT64_MAX: the sum saturates
     * nowhere near wrapping. */
    assert_true(a->counters[HTTP_EDGE_MSGS_IN] == (uint64_t)INT64_MAX + 1);
    assert_int_equal(a->uptime_s, 9);
    assert_true(a->rtt_ms == 2.5);
    assert_int_equal(json_array_size(a->addresses), 2);
    assert_int_equal(json_array_size(a->hubs), 2);
    assert_string_equal(json_string_value(json_array_get(a->hubs, 0)), "hub-a");
    assert_string_equal(json_string_value(json_array_get(a->hubs, 1)), "hub-b");
    const struct http_edge *b = &mine.v[1];
    assert_string_equal(b->name, "edge-b");
    assert_int_equal(json_array_size(b->hubs), 1);
    assert_string_equal(json_string_value(json_array_get(b->hubs, 0)), "hub-b");

    json_t *out = http_edges_json(&mine);
    assert_int_equal(json_array_size(json_object_get(json_array_get(out, 0), "hubs")), 2);
    json_decref(out);
    http_edges_deinit(&mine);
    http_edges_deinit(&theirs);
}

static void test_http_edge_from_json_refuses_what_no_hub_writes(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"name\":\".x\"}",
        "{\"name\":\"e\",\"clients\":-1}",
        "{\"name\":\"e\",\"clients\":\"3\"}",
        "{\"name\":\"e\",\"closes\":{\"idle\":1.5}}",
        "{\"name\":\"e\",\"addresses\":\"127.0.0.1:1\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *o = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        struct http_edge e;
        char err[128];
        if (http_edge_from_json(o, &e, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        json_decref(o);
    }
    /* Strings are cut and cleaned, not trusted. */
    json_t *o =
        json_loads("{\"name\":\"e\",\"region\":\"r\\u001b[0m\",\"addresses\":[1]}", 0, NULL);
    struct http_edge e;
    char err[128];
    assert_int_equal(http_edge_from_json(o, &e, err, sizeof err), 0);
    assert_string_equal(e.region, "r?[0m");
    assert_string_equal(json_string_value(json_array_get(e.addresses, 0)), "");
    http_edge_deinit(&e);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_add_sat_saturates_at_uint64_max),
        cmocka_unit_test(test_http_edges_sum_the_workers_of_one_edge),
        cmocka_unit_test(test_http_edges_saturate_hostile_stats),
        cmocka_unit_test(test_http_edges_merge_an_edge_split_over_two_hubs),
        cmocka_unit_test(test_http_edge_from_json_refuses_what_no_hub_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
