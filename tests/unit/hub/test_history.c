/* Unit tests for hub/history.c: per-topic count and age bounds (with a
 * clock moved by hand), the hub-wide byte budget evicting the oldest
 * message across topics, first_seq after eviction, the suffix rule, and
 * the emptied-ring list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/history.h"

static const struct history_msg MSG = {
    .from = {"edge-a:0:0000abcd:1", 19}, .user = {"", 0}, .data = {"{\"n\":1}", 7}, .enc = 0};

/* Stores seq..last on r at time t with the given bounds. */
static void store_run(struct history *h, struct history_ring *r, uint64_t seq, uint64_t last,
                      uint64_t t, uint32_t count, uint64_t age)
{
    for (; seq <= last; seq++)
        assert_int_equal(history_store(h, r, seq, &MSG, t, count, age), 1);
}

static void drain_rings(struct history *h, struct history_ring *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        history_ring_clear(h, &r[i]);
    history_take_emptied(h);
}

static void test_history_keeps_the_last_count_messages_of_a_topic(void **state)
{
    struct history *h = history_new(1 << 20);
    struct history_ring r;
    history_ring_init(&r);
    store_run(h, &r, 1, 5, 0, 3, 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.first_seq, 3);
    assert_int_equal(history_last_seq(&r), 5);
    assert_null(history_get(&r, 2));
    const struct history_entry *e = history_get(&r, 4);
    assert_non_null(e);
    assert_int_equal(e->seq, 4);
    assert_memory_equal(history_data(e).ptr, "{\"n\":1}", 7);
    assert_memory_equal(history_from(e).ptr, MSG.from.ptr, MSG.from.len);
    assert_int_equal(history_user(e).len, 0);
    assert_int_equal(h->evicted[HISTORY_COUNT], 2);
    assert_int_equal(h->messages, 3);
    assert_int_equal(h->bytes, r.bytes);
    drain_rings(h, &r, 1);
    assert_int_equal(h->bytes, 0);
    history_free(h);
}

static void test_history_expires_by_age_with_the_clock(void **state)
{
    struct history *h = history_new(1 << 20);
    struct history_ring r;
    history_ring_init(&r);
    assert_int_equal(history_store(h, &r, 1, &MSG, 0, 100, 1500), 1);
    assert_int_equal(history_store(h, &r, 2, &MSG, 1000, 100, 1500), 1);
    assert_int_equal(history_store(h, &r, 3, &MSG, 2000, 100, 1500), 1);
    history_expire(h, 1499);
    assert_int_equal(r.n, 3);
    history_expire(h, 2600); /* 1 (due 1500) and 2 (due 2500) */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.first_seq, 3);
    assert_int_equal(h->evicted[HISTORY_AGE], 2);
    assert_null(history_take_emptied(h));
    history_expire(h, 3500);
    assert_int_equal(r.n, 0);
    assert_ptr_equal(history_take_emptied(h), &r); /* the owner may drop the topic now */
    assert_null(history_take_emptied(h));
    /* No age bound: kept whatever the clock says. */
    store_run(h, &r, 4, 5, 0, 100, 0);
    history_expire(h, UINT64_MAX / 2);
    assert_int_equal(r.n, 2);
    drain_rings(h, &r, 1);
    history_free(h);
}

static void test_history_budget_evicts_the_oldest_message_across_topics(void **state)
{
    struct history *probe = history_new(1 << 20);
    struct history_ring pr;
    history_ring_init(&pr);
    history_store(probe, &pr, 1, &MSG, 0, 10, 0);
    uint64_t cost = probe->bytes; /* what one message really holds */
    assert_true(cost > MSG.from.len + MSG.data.len);
    drain_rings(probe, &pr, 1);
    history_free(probe);

    /* Room for 4 messages; topic a's are older than topic b's, whatever
     * their age class. */
    struct history *h = history_new(4 * cost);
    struct history_ring r[2];
    history_ring_init(&r[0]);
    history_ring_init(&r[1]);
    store_run(h, &r[0], 1, 3, 10, 100, 60000);
    store_run(h, &r[1], 1, 1, 20, 100, 0);
    assert_int_equal(h->bytes, 4 * cost);
    store_run(h, &r[1], 2, 3, 30, 100, 0); /* evicts a#1, a#2 */
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].first_seq, 3);
    assert_int_equal(r[1].n, 3);
    assert_int_equal(h->evicted[HISTORY_BUDGET], 2);
    assert_true(h->bytes <= h->budget);
    store_run(h, &r[1], 4, 4, 40, 100, 0); /* a#3 is the oldest left */
    assert_int_equal(r[0].n, 0);
    assert_ptr_equal(history_take_emptied(h), &r[0]);
    store_run(h, &r[1], 5, 5, 50, 100, 0); /* now b's own oldest */
    assert_int_equal(r[1].first_seq, 2);
    assert_int_equal(r[1].n, 4);
    drain_rings(h, r, 2);
    history_free(h);
}

static void test_history_never_stores_more_than_the_budget(void **state)
{
    struct history *h = history_new(64); /* less than any message holds */
    struct history_ring r;
    history_ring_init(&r);
    assert_int_equal(history_store(h, &r, 1, &MSG, 0, 100, 0), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(h->bytes, 0);
    history_free(h);
}

static void test_history_stays_a_suffix_of_the_topic(void **state)
{
    struct history *h = history_new(1 << 20);
    struct history_ring r;
    history_ring_init(&r);
    /* Stored with a long age, then (after a SIGHUP) a short one: when the
     * newer ones expire, the older ones go with them. */
    store_run(h, &r, 1, 2, 0, 100, 100000);
    store_run(h, &r, 3, 4, 100, 100, 1000);
    history_expire(h, 1200);
    assert_int_equal(r.n, 0);
    assert_int_equal(h->evicted[HISTORY_AGE], 4);
    history_take_emptied(h);
    /* A seq that does not follow (a message went unstored) empties it. */
    store_run(h, &r, 10, 12, 0, 100, 0);
    assert_int_equal(history_store(h, &r, 14, &MSG, 0, 100, 0), 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.first_seq, 14);
    /* A count bound of 0 keeps nothing, and nothing before it either. */
    assert_int_equal(history_store(h, &r, 15, &MSG, 0, 0, 0), 0);
    assert_int_equal(r.n, 0);
    drain_rings(h, &r, 1);
    history_free(h);
}

static void test_history_ring_gives_slots_back_after_a_burst(void **state)
{
    struct history *h = history_new(1 << 24);
    struct history_ring r;
    history_ring_init(&r);
    store_run(h, &r, 1, 1000, 0, 1000, 0);
    assert_true(r.cap >= 1000);
    store_run(h, &r, 1001, 1001, 0, 10, 0); /* the count bound drops 991 */
    assert_int_equal(r.n, 10);
    assert_true(r.cap <= 64);
    for (uint64_t s = 992; s <= 1001; s++)
        assert_int_equal(history_get(&r, s)->seq, s);
    drain_rings(h, &r, 1);
    assert_null(r.slot);
    history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_keeps_the_last_count_messages_of_a_topic),
        cmocka_unit_test(test_history_expires_by_age_with_the_clock),
        cmocka_unit_test(test_history_budget_evicts_the_oldest_message_across_topics),
        cmocka_unit_test(test_history_never_stores_more_than_the_budget),
        cmocka_unit_test(test_history_stays_a_suffix_of_the_topic),
        cmocka_unit_test(test_history_ring_gives_slots_back_after_a_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
