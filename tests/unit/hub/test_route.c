/* Unit tests for hub/route.c: the link registry, interest bookkeeping,
 * per-topic sequence numbers and forgetting topics without interest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/route.h"

static int calls[8];

/* Records each link's seq under its owner number (1..7). */
static void record_cb(void *owner, uint64_t seq, void *ud)
{
    ((uint64_t *)ud)[(long)owner] = seq;
}

static void count_cb(void *owner, uint64_t seq, void *ud)
{
    calls[(long)owner]++;
    *(uint64_t *)ud = seq;
}

static void test_route_registry_refuses_duplicate_keys(void **state)
{
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    assert_non_null(p1);
    assert_non_null(route_link_register(r, "e", 1, 1, (void *)2));
    assert_null(route_link_register(r, "e", 1, 0, (void *)3));
    assert_ptr_equal(route_link_find(r, "e", 1, 1), (void *)2);
    assert_null(route_link_find(r, "e", 1, 2));
    route_link_gone(r, p1);
    assert_null(route_link_find(r, "e", 1, 0));
    route_free(r); /* with a peer still registered: must not leak */
}

static void test_route_publish_assigns_seq_per_topic_to_interested_links(void **state)
{
    memset(calls, 0, sizeof calls);
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    uint64_t seq = 0;
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 0); /* nobody interested */
    assert_int_equal(route_interest_add(r, p1, "t", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "t", 1), 0); /* idempotent */
    assert_int_equal(route_interest_add(r, p2, "t", 1), 1);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "x%d", i);
        route_interest_add(r, i % 2 ? p1 : p2, name, strlen(name));
    }
    assert_int_equal(route_topic_count(r), 1001);
    assert_int_equal(route_peer_topics(p1), 501);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1);
    assert_int_equal(calls[1], 1);
    assert_int_equal(calls[2], 1);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 2);
    assert_int_equal(route_publish(r, "x1", 2, count_cb, &seq), 1); /* its own counter */
    assert_int_equal(route_interest_remove(r, p1, "t", 1), 1);
    assert_int_equal(route_interest_remove(r, p1, "t", 1), 0);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 3);
    assert_int_equal(calls[1], 3); /* t#1, t#2 and x1#1: p1 no longer gets "t" */
    assert_int_equal(calls[2], 3);
    route_free(r);
}

static void test_route_forgets_topic_when_last_link_goes(void **state)
{
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    uint64_t seq = 0;
    route_interest_add(r, p2, "t", 1);
    route_interest_add(r, p2, "u", 1);
    route_interest_add(r, p1, "u", 1);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1);
    route_link_gone(r, p2);
    assert_int_equal(route_topic_count(r), 1); /* "u" survives through p1 */
    assert_null(route_link_find(r, "e", 1, 1));
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 0);
    route_interest_add(r, p1, "t", 1);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1); /* seq restarts */
    route_free(r);
}

static void test_route_interest_add_refuses_a_new_topic_beyond_max_topics(void **state)
{
    struct route *r = route_new(2, SIZE_MAX);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    assert_int_equal(route_interest_add(r, p1, "a", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "b", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1), ROUTE_HUB_FULL); /* a third topic */
    assert_int_equal(route_topic_count(r), 2);
    assert_false(route_peer_has(p1, "c", 1));
    /* Interest in an existing topic is not a new topic. */
    assert_int_equal(route_interest_add(r, p2, "a", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "a", 1), 0);
    /* Room again once one is gone. */
    assert_int_equal(route_interest_remove(r, p1, "b", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1), 1);
    assert_true(route_peer_has(p1, "c", 1));
    route_free(r);
}

static void test_route_interest_add_refuses_beyond_the_link_limit(void **state)
{
    struct route *r = route_new(SIZE_MAX, 2);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    assert_int_equal(route_interest_add(r, p1, "a", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "b", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1), ROUTE_PEER_FULL);
    assert_false(route_peer_has(p1, "c", 1));
    assert_int_equal(route_topic_count(r), 2); /* no topic made for a refusal */
    /* A topic it has is never refused: the add is idempotent. */
    assert_int_equal(route_interest_add(r, p1, "a", 1), 0);
    /* The limit is per link. */
    assert_int_equal(route_interest_add(r, p2, "c", 1), 1);
    assert_int_equal(route_interest_remove(r, p1, "b", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1), 1);
    route_free(r);
}

static void test_route_interest_add_names_the_link_limit_before_the_hub_limit(void **state)
{
    /* Both full: the edge is told about the limit it can act on. */
    struct route *r = route_new(1, 1);
    struct route_peer *p = route_link_register(r, "e", 1, 0, (void *)1);
    assert_int_equal(route_interest_add(r, p, "a", 1), 1);
    assert_int_equal(route_interest_add(r, p, "b", 1), ROUTE_PEER_FULL);
    struct route_peer *q = route_link_register(r, "e", 1, 1, (void *)2);
    assert_int_equal(route_interest_add(r, q, "b", 1), ROUTE_HUB_FULL);
    assert_int_equal(route_interest_add(r, q, "a", 1), 1); /* not a new topic */
    route_free(r);
}

static void test_route_interest_remove_of_an_unknown_topic_changes_nothing(void **state)
{
    memset(calls, 0, sizeof calls);
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    assert_int_equal(route_interest_remove(r, p1, "never", 5), 0);
    assert_int_equal(route_interest_add(r, p2, "t", 1), 1);
    assert_int_equal(route_interest_remove(r, p1, "t", 1), 0); /* someone else's */
    assert_int_equal(route_topic_count(r), 1);
    uint64_t seq = 0;
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1);
    assert_int_equal(calls[1], 0);
    assert_int_equal(calls[2], 1);
    route_free(r);
}

static void test_route_publish_gives_every_link_the_same_seq(void **state)
{
    memset(calls, 0, sizeof calls);
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p[4];
    for (long i = 0; i < 4; i++) {
        p[i] = route_link_register(r, "e", 1, (uint32_t)i, (void *)(i + 1));
        assert_int_equal(route_interest_add(r, p[i], "t", 1), 1);
    }
    for (uint64_t want = 1; want <= 3; want++) {
        uint64_t seqs[8] = {0};
        assert_int_equal(route_publish(r, "t", 1, record_cb, seqs), want);
        for (int i = 1; i <= 4; i++)
            assert_int_equal(seqs[i], want);
    }
    /* A link leaving mid-life does not disturb the others' numbering. */
    route_link_gone(r, p[1]);
    uint64_t seqs[8] = {0};
    assert_int_equal(route_publish(r, "t", 1, record_cb, seqs), 4);
    assert_int_equal(seqs[2], 0);
    assert_int_equal(seqs[1], 4);
    assert_int_equal(seqs[4], 4);
    route_free(r);
}

static void test_route_link_gone_after_a_flood_leaves_a_working_registry(void **state)
{
    /* route_link_gone shrinks the tables a flood grew (dict_shrink, proven
     * in test_dict); what was left must work as before. */
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *keep = route_link_register(r, "keep", 4, 0, (void *)1);
    assert_int_equal(route_interest_add(r, keep, "kept", 4), 1);
    char name[32];
    for (uint32_t w = 0; w < 200; w++) {
        struct route_peer *p = route_link_register(r, "flood", 5, w, (void *)2);
        assert_non_null(p);
        for (int i = 0; i < 50; i++) {
            snprintf(name, sizeof name, "f.%u.%d", w, i);
            assert_int_equal(route_interest_add(r, p, name, strlen(name)), 1);
        }
        route_link_gone(r, p);
    }
    assert_int_equal(route_topic_count(r), 1);
    assert_ptr_equal(route_link_find(r, "keep", 4, 0), (void *)1);
    assert_null(route_link_find(r, "flood", 5, 0));
    assert_true(route_peer_has(keep, "kept", 4));
    uint64_t seq = 0;
    assert_int_equal(route_publish(r, "kept", 4, count_cb, &seq), 1);
    assert_non_null(route_link_register(r, "flood", 5, 0, (void *)3)); /* the key is free */
    route_free(r);
}

static void test_route_survives_a_topic_flood_and_its_removal(void **state)
{
    struct route *r = route_new(SIZE_MAX, SIZE_MAX);
    struct route_peer *p = route_link_register(r, "e", 1, 0, (void *)1);
    char name[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(name, sizeof name, "flood.%d", i);
        assert_int_equal(route_interest_add(r, p, name, strlen(name)), 1);
    }
    for (int i = 0; i < 50000; i++) {
        snprintf(name, sizeof name, "flood.%d", i);
        assert_int_equal(route_interest_remove(r, p, name, strlen(name)), 1);
    }
    assert_int_equal(route_topic_count(r), 0);
    assert_int_equal(route_peer_topics(p), 0);
    uint64_t seq = 0;
    assert_int_equal(route_interest_add(r, p, "t", 1), 1);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1);
    route_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_registry_refuses_duplicate_keys),
        cmocka_unit_test(test_route_publish_assigns_seq_per_topic_to_interested_links),
        cmocka_unit_test(test_route_forgets_topic_when_last_link_goes),
        cmocka_unit_test(test_route_interest_add_refuses_a_new_topic_beyond_max_topics),
        cmocka_unit_test(test_route_interest_add_refuses_beyond_the_link_limit),
        cmocka_unit_test(test_route_interest_add_names_the_link_limit_before_the_hub_limit),
        cmocka_unit_test(test_route_interest_remove_of_an_unknown_topic_changes_nothing),
        cmocka_unit_test(test_route_publish_gives_every_link_the_same_seq),
        cmocka_unit_test(test_route_link_gone_after_a_flood_leaves_a_working_registry),
        cmocka_unit_test(test_route_survives_a_topic_flood_and_its_removal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
