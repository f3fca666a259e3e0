/* Unit tests for hub/cluster_wire.c: an envelope carries exactly one link
 * message of its kind from one hub to another and anything else is
 * refused without allocating what it declares; the scripts' answers are
 * read only when they have the promised shape; registrations and views
 * survive a round trip and what no hub writes is refused within bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mpwrite.h"
#include "hub/cluster_wire.h"
#include "tests/unit/hub/resp_reply.h"

static const char DATA[] = "{\"hello\":1}";

static struct link_msg a_direct(void)
{
    struct link_msg m = {.type = LINK_DIRECT,
                         .to = link_str_c("edge-b:1:0000abcd:7"),
                         .from = link_str_c("edge-a:0:00001234:3"),
                         .has_id = 1,
                         .id = 42,
                         .enc = 0,
                         .data = {DATA, sizeof DATA - 1},
                         .user = link_str_c("alice")};
    return m;
}

static void test_cluster_env_round_trip_points_into_the_bytes(void **state)
{
    struct cluster_env e = {.kind = CLUSTER_DIRECT,
                            .from = link_str_c("hub-a"),
                            .from_boot = 0x1122334455667788ull,
                            .to_boot = 0x99,
                            .edge = link_str_c(""),
                            .msg = a_direct()};
    struct buf b = BUF_INIT;
    assert_true(cluster_env_encode(&b, &e) > 0);
    struct cluster_env got;
    char err[128];
    assert_int_equal(cluster_env_decode(buf_head(&b), buf_readable(&b), &got, err, sizeof err), 0);
    assert_int_equal(got.kind, CLUSTER_DIRECT);
    assert_true(got.from_boot == e.from_boot && got.to_boot == 0x99);
    assert_int_equal(got.from.len, 5);
    assert_memory_equal(got.from.ptr, "hub-a", 5);
    assert_int_equal(got.msg.type, LINK_DIRECT);
    assert_true(got.msg.has_id && got.msg.id == 42);
    assert_int_equal(got.msg.data.len, sizeof DATA - 1);
    const char *lo = (const char *)buf_head(&b), *hi = lo + buf_readable(&b);
    assert_true(got.msg.data.ptr >= lo && got.msg.data.ptr + got.msg.data.len <= hi);
    assert_true(got.msg.to.ptr >= lo && got.msg.to.ptr < hi);
    buf_deinit(&b);
}

static void test_cluster_env_drain_needs_an_edge_and_encoding_checks_the_kind(void **state)
{
    struct cluster_env e = {.kind = CLUSTER_DRAIN,
                            .from = link_str_c("hub-a"),
                            .edge = link_str_c("edge-b"),
                            .msg = {.type = LINK_DRAIN, .time_ms = 500}};
    struct buf b = BUF_INIT;
    assert_true(cluster_env_encode(&b, &e) > 0);
    struct cluster_env got;
    char err[128];
    assert_int_equal(cluster_env_decode(buf_head(&b), buf_readable(&b), &got, err, sizeof err), 0);
    assert_int_equal(got.edge.len, 6);
    assert_true(got.msg.time_ms == 500);
    buf_reset(&b);
    struct cluster_env notice = {.kind = CLUSTER_NAME_TAKEN, .from = link_str_c("hub-a")};
    assert_true(cluster_env_encode(&b, &notice) > 0); /* no body at all */
    assert_int_equal(cluster_env_decode(buf_head(&b), buf_readable(&b), &got, err, sizeof err), 0);
    assert_int_equal(got.kind, CLUSTER_NAME_TAKEN);
    buf_reset(&b);
    e.kind = CLUSTER_KICK; /* a DRAIN in a KICK envelope: refused when encoding */
    assert_int_equal(cluster_env_encode(&b, &e), -1);
    assert_int_equal(buf_readable(&b), 0);
    buf_deinit(&b);
}

/* An envelope written by hand: [1, kind, from, 0, 0, edge, body]. */
static void hand_env(struct buf *b, uint64_t kind, const char *from, const char *edge,
                     const struct buf *body)
{
    mp_write_array(b, 7);
    mp_write_uint(b, 1);
    mp_write_uint(b, kind);
    mp_write_str(b, from, strlen(from));
    mp_write_uint(b, 0);
    mp_write_uint(b, 0);
    mp_write_str(b, edge, strlen(edge));
    mp_write_bin(b, buf_head(body), buf_readable(body));
}

static void expect_refused(const struct buf *b, const char *why)
{
    struct cluster_env got;
    char err[128] = "";
    if (cluster_env_decode(buf_head(b), buf_readable(b), &got, err, sizeof err) != -1)
        fail_msg("accepted an envelope with %s", why);
    assert_true(err[0] != '\0');
}

static void test_cluster_env_refuses_what_no_hub_sends(void **state)
{
    struct link_msg d = a_direct();
    struct buf body = BUF_INIT, b = BUF_INIT;
    assert_true(link_encode(&body, &d) > 0);

    hand_env(&b, CLUSTER_KICK, "hub-a", "", &body);
    expect_refused(&b, "a DIRECT in a KICK envelope");
    buf_reset(&b);
    hand_env(&b, 9, "hub-a", "", &body);
    expect_refused(&b, "an unknown kind");
    buf_reset(&b);
    hand_env(&b, CLUSTER_DIRECT, "hub a", "", &body);
    expect_refused(&b, "a hub name with a space");
    buf_reset(&b);
    hand_env(&b, CLUSTER_DRAIN, "hub-a", "", &body);
    expect_refused(&b, "a drain without its edge");

    /* Two link messages in one body. */
    struct buf two = BUF_INIT;
    assert_true(link_encode(&two, &d) > 0);
    assert_true(link_encode(&two, &d) > 0);
    buf_reset(&b);
    hand_env(&b, CLUSTER_DIRECT, "hub-a", "", &two);
    expect_refused(&b, "two messages in its body");

    /* Truncated, and one byte too many. */
    buf_reset(&b);
    hand_env(&b, CLUSTER_DIRECT, "hub-a", "", &body);
    struct cluster_env got;
    char err[128];
    assert_int_equal(cluster_env_decode(buf_head(&b), buf_readable(&b) - 1, &got, err, sizeof err),
                     -1);
    buf_append_u8(&b, 0xc0);
    expect_refused(&b, "a trailing byte");

    /* A bin that declares 2 GiB in five bytes is refused at its header:
     * nothing of that size is allocated (ASan would say). */
    static const uint8_t huge[] = {0x97, 0x01, 0x01, 0xa5, 'h',  'u',  'b',  '-', 'a',
                                   0x00, 0x00, 0xa0, 0xc6, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(cluster_env_decode(huge, sizeof huge, &got, err, sizeof err), -1);
    buf_deinit(&two);
    buf_deinit(&body);
    buf_deinit(&b);
}

static void test_cluster_refresh_reply_lists_the_hubs(void **state)
{
    redisReply *r =
        resp("*9\r\n:1\r\n$0\r\n\r\n:0\r\n$1\r\n3\r\n"
             "$5\r\nhub-a\r\n:4200\r\n$16\r\n00000000000000ff\r\n$2\r\n{}\r\n$0\r\n\r\n");
    struct cluster_refresh rf;
    assert_int_equal(cluster_refresh_reply(r, &rf), 0);
    assert_true(rf.registered);
    assert_int_equal(rf.policy_version, 3);
    assert_int_equal(rf.nhubs, 1);
    struct cluster_listed l;
    assert_int_equal(cluster_refresh_hub(&rf, 0, &l), 0);
    assert_int_equal(l.ttl_left_ms, 4200);
    assert_memory_equal(l.name.ptr, "hub-a", 5);
    uint64_t boot;
    assert_int_equal(cluster_boot_parse(l.boot.ptr, l.boot.len, &boot), 0);
    assert_true(boot == 0xff);
    freeReplyObject(r);

    /* Not registered: another boot holds the name. */
    r = resp("*4\r\n:0\r\n$16\r\n0123456789abcdef\r\n:2999\r\n$1\r\n0\r\n");
    assert_int_equal(cluster_refresh_reply(r, &rf), 0);
    assert_false(rf.registered);
    assert_int_equal(rf.holder.len, 16);
    assert_int_equal(rf.holder_ttl_ms, 2999);
    freeReplyObject(r);

    static const char *const bad[] = {
        ":1\r\n",
        "*3\r\n:1\r\n$0\r\n\r\n:0\r\n",
        "*5\r\n:1\r\n$0\r\n\r\n:0\r\n$1\r\n0\r\n$1\r\nx\r\n", /* half a hub */
        "*4\r\n:1\r\n:0\r\n:0\r\n$1\r\n0\r\n",                /* holder not a string */
        "*4\r\n:1\r\n$0\r\n\r\n:0\r\n$2\r\n-1\r\n",           /* a negative version */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        if (cluster_refresh_reply(r, &rf) != -1)
            fail_msg("accepted %s", bad[i]);
        freeReplyObject(r);
    }
    /* A hub entry of the wrong types is skipped, not trusted. */
    r = resp("*9\r\n:1\r\n$0\r\n\r\n:0\r\n$1\r\n0\r\n:5\r\n:1\r\n$1\r\nb\r\n$0\r\n\r\n$0\r\n\r\n");
    assert_int_equal(cluster_refresh_reply(r, &rf), 0);
    assert_int_equal(cluster_refresh_hub(&rf, 0, &l), -1);
    freeReplyObject(r);
}

static void test_cluster_policy_replies(void **state)
{
    int set;
    uint64_t v;
    struct link_str doc;
    redisReply *r = resp("*2\r\n:1\r\n:7\r\n");
    assert_int_equal(cluster_policy_set_reply(r, &set, &v, &doc), 0);
    assert_true(set && v == 7);
    freeReplyObject(r);
    r = resp("*3\r\n:0\r\n:6\r\n$2\r\n{}\r\n");
    assert_int_equal(cluster_policy_set_reply(r, &set, &v, &doc), 0);
    assert_true(!set && v == 6 && doc.len == 2);
    freeReplyObject(r);
    r = resp("*2\r\n$-1\r\n$-1\r\n");
    assert_int_equal(cluster_policy_get_reply(r, &v, &doc), 0);
    assert_true(v == 0);
    freeReplyObject(r);
    r = resp("*2\r\n$2\r\n12\r\n$2\r\n{}\r\n");
    assert_int_equal(cluster_policy_get_reply(r, &v, &doc), 0);
    assert_true(v == 12 && doc.len == 2);
    freeReplyObject(r);
    r = resp("*2\r\n$3\r\n012\r\n$2\r\n{}\r\n"); /* no leading zeros */
    assert_int_equal(cluster_policy_get_reply(r, &v, &doc), -1);
    freeReplyObject(r);
}

static void test_cluster_reg_round_trip_and_refusals(void **state)
{
    struct cluster_reg r = {.boot = 0xabcdef,
                            .https = 1,
                            .uptime_s = 12,
                            .ttl_ms = 5000,
                            .refresh_ms = 1000,
                            .links = 4,
                            .edges = 2,
                            .policy_version = 3};
    snprintf(r.name, sizeof r.name, "hub-a");
    snprintf(r.version, sizeof r.version, "0.1.0");
    snprintf(r.link, sizeof r.link, "127.0.0.1:7400");
    snprintf(r.http, sizeof r.http, "127.0.0.1:7480");
    char *text = cluster_reg_encode(&r);
    struct cluster_reg got;
    char err[128];
    assert_int_equal(cluster_reg_decode(text, strlen(text), &got, err, sizeof err), 0);
    assert_memory_equal(&got, &r, sizeof r);
    free(text);

    static const char *const bad[] = {
        "{\"v\":1,\"name\":\"hub-a\"}",                               /* no boot */
        "{\"v\":1,\"name\":\"hub a\",\"boot\":\"0000000000000001\"}", /* not a name */
        "{\"v\":1,\"name\":\"hub-a\",\"boot\":\"000000000000000G\"}", /* not hex */
        "{\"v\":1,\"name\":\"hub-a\",\"boot\":\"0000000000000001\",\"links\":-2}",
        "{\"v\":2,\"name\":\"hub-a\",\"boot\":\"0000000000000001\"}",
        "[]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cluster_reg_decode(bad[i], strlen(bad[i]), &got, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
    char big[CLUSTER_MAX_REG + 2];
    memset(big, ' ', sizeof big);
    assert_int_equal(cluster_reg_decode(big, sizeof big, &got, err, sizeof err), -1);
}

static struct edge_link_info link_of(const char *edge, const char *addr)
{
    struct edge_link_info i;
    memset(&i, 0, sizeof i);
    snprintf(i.edge, sizeof i.edge, "%s", edge);
    snprintf(i.addr, sizeof i.addr, "%s", addr);
    i.stats.clients = 2;
    return i;
}

static void test_cluster_view_round_trip_and_truncation(void **state)
{
    struct http_edges es;
    http_edges_init(&es);
    struct edge_link_info a = link_of("edge-a", "127.0.0.1:1"),
                          b = link_of("edge-b", "127.0.0.1:2");
    http_edges_add(&es, &a);
    http_edges_add(&es, &b);
    struct cluster_route links[2] = {{"edge-a", 0, 0x1234, 50}, {"edge-b", 3, 0xffffffffu, 7}};
    char *text = cluster_view_encode(&es, links, 2, CLUSTER_MAX_VIEW);
    struct cluster_view v;
    char err[128];
    assert_int_equal(cluster_view_decode(text, strlen(text), &v, err, sizeof err), 0);
    assert_int_equal(v.nedges, 2);
    assert_int_equal(v.nlinks, 2);
    assert_false(v.truncated);
    assert_string_equal(v.edges[1].name, "edge-b");
    assert_int_equal(v.edges[1].counters[HTTP_EDGE_CLIENTS], 2);
    assert_true(v.links[1].boot == 0xffffffffu && v.links[1].worker == 3);
    cluster_view_free(&v);
    free(text);

    /* Too big for the bound: cut, and said so. */
    text = cluster_view_encode(&es, links, 2, 200);
    assert_true(strlen(text) <= 200);
    assert_int_equal(cluster_view_decode(text, strlen(text), &v, err, sizeof err), 0);
    assert_true(v.truncated);
    assert_true(v.nedges < 2);
    cluster_view_free(&v);
    free(text);
    http_edges_deinit(&es);
}

static void test_cluster_view_refuses_what_no_hub_writes(void **state)
{
    static const char *const bad[] = {
        "{\"v\":1,\"edges\":{},\"links\":[]}",
        "{\"v\":1,\"edges\":[],\"links\":[[\"edge-a\",1024,1,1]]}",       /* worker out of range */
        "{\"v\":1,\"edges\":[],\"links\":[[\"edge-a\",0,4294967296,1]]}", /* a boot of 33 bits */
        "{\"v\":1,\"edges\":[],\"links\":[[\"\",0,1,1]]}",
        "{\"v\":1,\"edges\":[{\"name\":\"edge-a\",\"clients\":-1}],\"links\":[]}",
        "{\"v\":1,\"edges\":[{}],\"links\":[]}",
    };
    struct cluster_view v;
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cluster_view_decode(bad[i], strlen(bad[i]), &v, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);

    /* More links than the bound. */
    size_t cap = 64 + (CLUSTER_MAX_VIEW_LINKS + 1) * 16;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "{\"v\":1,\"edges\":[],\"links\":[");
    for (int i = 0; i <= CLUSTER_MAX_VIEW_LINKS; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s[\"e\",0,1,1]", i ? "," : "");
    n += (size_t)snprintf(text + n, cap - n, "]}");
    assert_int_equal(cluster_view_decode(text, n, &v, err, sizeof err), -1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_env_round_trip_points_into_the_bytes),
        cmocka_unit_test(test_cluster_env_drain_needs_an_edge_and_encoding_checks_the_kind),
        cmocka_unit_test(test_cluster_env_refuses_what_no_hub_sends),
        cmocka_unit_test(test_cluster_refresh_reply_lists_the_hubs),
        cmocka_unit_test(test_cluster_policy_replies),
        cmocka_unit_test(test_cluster_reg_round_trip_and_refusals),
        cmocka_unit_test(test_cluster_view_round_trip_and_truncation),
        cmocka_unit_test(test_cluster_view_refuses_what_no_hub_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
