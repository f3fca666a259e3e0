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

static void count_cb(void *owner, uint64_t seq, void *ud)
{
    calls[(long)owner]++;
    *(uint64_t *)ud = seq;
}

static void test_route_registry_refuses_duplicate_keys(void **state)
{
    struct route *r = route_new();
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
    struct route *r = route_new();
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    uint64_t seq = 0;
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 0); /* nobody interested */
    assert_int_equal(route_interest_add(r, p1, "t", 1, SIZE_MAX), 1);
    assert_int_equal(route_interest_add(r, p1, "t", 1, SIZE_MAX), 0); /* idempotent */
    assert_int_equal(route_interest_add(r, p2, "t", 1, SIZE_MAX), 1);
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "x%d", i);
        route_interest_add(r, i % 2 ? p1 : p2, name, strlen(name), SIZE_MAX);
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
    struct route *r = route_new();
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    uint64_t seq = 0;
    route_interest_add(r, p2, "t", 1, SIZE_MAX);
    route_interest_add(r, p2, "u", 1, SIZE_MAX);
    route_interest_add(r, p1, "u", 1, SIZE_MAX);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1);
    route_link_gone(r, p2);
    assert_int_equal(route_topic_count(r), 1); /* "u" survives through p1 */
    assert_null(route_link_find(r, "e", 1, 1));
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 0);
    route_interest_add(r, p1, "t", 1, SIZE_MAX);
    assert_int_equal(route_publish(r, "t", 1, count_cb, &seq), 1); /* seq restarts */
    route_free(r);
}

static void test_route_interest_add_refuses_a_new_topic_beyond_max_topics(void **state)
{
    struct route *r = route_new();
    struct route_peer *p1 = route_link_register(r, "e", 1, 0, (void *)1);
    struct route_peer *p2 = route_link_register(r, "e", 1, 1, (void *)2);
    assert_int_equal(route_interest_add(r, p1, "a", 1, 2), 1);
    assert_int_equal(route_interest_add(r, p1, "b", 1, 2), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1, 2), -1); /* a third topic */
    assert_int_equal(route_topic_count(r), 2);
    assert_false(route_peer_has(p1, "c", 1));
    /* Interest in an existing topic is not a new topic. */
    assert_int_equal(route_interest_add(r, p2, "a", 1, 2), 1);
    assert_int_equal(route_interest_add(r, p1, "a", 1, 2), 0);
    /* Room again once one is gone. */
    assert_int_equal(route_interest_remove(r, p1, "b", 1), 1);
    assert_int_equal(route_interest_add(r, p1, "c", 1, 2), 1);
    assert_true(route_peer_has(p1, "c", 1));
    route_free(r);
}

static void test_route_survives_a_topic_flood_and_its_removal(void **state)
{
    struct route *r = route_new();
    struct route_peer *p = route_link_register(r, "e", 1, 0, (void *)1);
    char name[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(name, sizeof name, "flood.%d", i);
        assert_int_equal(route_interest_add(r, p, name, strlen(name), SIZE_MAX), 1);
    }
    for (int i = 0; i < 50000; i++) {
        snprintf(name, sizeof name, "flood.%d", i);
        assert_int_equal(route_interest_remove(r, p, name, strlen(name)), 1);
    }
    assert_int_equal(route_topic_count(r), 0);
    assert_int_equal(route_peer_topics(p), 0);
    uint64_t seq = 0;
    assert_int_equal(route_interest_add(r, p, "t", 1, SIZE_MAX), 1);
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
        cmocka_unit_test(test_route_survives_a_topic_flood_and_its_removal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
