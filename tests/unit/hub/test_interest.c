/* Unit tests for hub/interest.c: the hub's own interest table (per-link
 * limit, topics forgotten with their last link), fan-out once per link in
 * seq order, stale copies of another epoch dropped, and holds: live
 * messages kept back while a replay is pending, released in order, with
 * what the replay covered skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/interest.h"

/* What each owner (1..4) received: the seqs, carried as the message bytes. */
static uint64_t got[5][32];
static size_t ngot[5];
static int overflows[5];

static void on_send(void *owner, const uint8_t *msg, size_t len, void *ud)
{
    long o = (long)owner;
    uint64_t seq;
    assert_int_equal(len, sizeof seq);
    memcpy(&seq, msg, sizeof seq);
    got[o][ngot[o]++] = seq;
}

static void on_overflow(void *owner, void *ud)
{
    overflows[(long)owner]++;
}

static const struct interest_out OUT = {
    .send = on_send, .overflow = on_overflow, .max_held = 4 * sizeof(uint64_t)};

#define E1 link_str_c("epoch001")
#define E2 link_str_c("epoch002")

static void deliver_in(struct interest *t, const char *topic, uint64_t seq, struct link_str epoch)
{
    struct interest_topic *tp = interest_find(t, link_str_c(topic));
    assert_non_null(tp);
    interest_deliver(t, tp, seq, epoch, (const uint8_t *)&seq, sizeof seq, &OUT);
}

static void deliver(struct interest *t, const char *topic, uint64_t seq)
{
    deliver_in(t, topic, seq, E1);
}

/* The engine answered the hub's interest in topic at (seq, epoch). */
static void ready(struct interest_topic *tp, uint64_t seq, const char *epoch)
{
    tp->state = INTEREST_READY;
    tp->seq = seq;
    snprintf(tp->epoch, sizeof tp->epoch, "%s", epoch);
}

static void reset(void)
{
    memset(got, 0, sizeof got);
    memset(ngot, 0, sizeof ngot);
    memset(overflows, 0, sizeof overflows);
}

static int gone_calls;
static void on_gone(struct link_str topic, void *ud)
{
    gone_calls++;
}

static void test_interest_fans_out_once_per_link_in_seq_order(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p1 = interest_peer_new(t, (void *)1);
    struct interest_peer *p2 = interest_peer_new(t, (void *)2);
    struct interest_member *m;
    assert_int_equal(interest_add(t, p1, link_str_c("t"), &m), 2); /* new to the hub */
    assert_int_equal(m->topic->state, INTEREST_PENDING);
    struct interest_topic *tp = m->topic;
    assert_ptr_equal(interest_slots(tp), &tp->slots.one); /* one link: inline, no array */
    ready(m->topic, 0, "epoch001");
    assert_int_equal(interest_add(t, p1, link_str_c("t"), &m), 0); /* idempotent */
    assert_int_equal(interest_add(t, p2, link_str_c("t"), &m), 1);
    assert_ptr_not_equal(interest_slots(tp), &tp->slots.one); /* two: both moved to an array */
    assert_ptr_equal(interest_slots(tp)[0].owner, (void *)1);
    assert_ptr_equal(interest_slots(tp)[1].owner, (void *)2);
    deliver(t, "t", 1);
    deliver(t, "t", 2);
    deliver(t, "t", 2); /* a duplicate: dropped */
    deliver(t, "t", 1);
    assert_int_equal(ngot[1], 2);
    assert_int_equal(ngot[2], 2);
    assert_int_equal(got[2][1], 2);
    assert_int_equal(interest_remove(t, p1, link_str_c("t")), 1);
    assert_int_equal(interest_remove(t, p1, link_str_c("t")), 0);
    deliver(t, "t", 3);
    assert_int_equal(ngot[1], 2);
    assert_int_equal(ngot[2], 3);
    assert_int_equal(interest_remove(t, p2, link_str_c("t")), 2); /* the topic goes */
    assert_null(interest_find(t, link_str_c("t")));
    interest_peer_free(t, p1, on_gone, NULL);
    interest_peer_free(t, p2, on_gone, NULL);
    interest_free(t);
}

static void test_interest_keeps_the_per_link_limit_and_forgets_with_the_last_link(void **state)
{
    struct interest *t = interest_new(2);
    struct interest_peer *p1 = interest_peer_new(t, (void *)1);
    struct interest_peer *p2 = interest_peer_new(t, (void *)2);
    struct interest_member *m;
    assert_int_equal(interest_add(t, p1, link_str_c("a"), &m), 2);
    assert_int_equal(interest_add(t, p1, link_str_c("b"), &m), 2);
    assert_int_equal(interest_add(t, p1, link_str_c("c"), &m), INTEREST_PEER_FULL);
    assert_int_equal(interest_add(t, p1, link_str_c("a"), &m), 0); /* one it has: never refused */
    assert_int_equal(interest_add(t, p2, link_str_c("a"), &m), 1);
    assert_int_equal(interest_peer_topics(p1), 2);
    assert_int_equal(interest_topic_count(t), 2);
    gone_calls = 0;
    interest_peer_free(t, p1, on_gone, NULL); /* b was only p1's */
    assert_int_equal(gone_calls, 1);
    assert_int_equal(interest_topic_count(t), 1);
    interest_peer_free(t, p2, on_gone, NULL);
    assert_int_equal(gone_calls, 2);
    assert_int_equal(interest_topic_count(t), 0);
    interest_free(t);
}

/* Memberships without a per-link table: found by walking the topic's
 * members, listed per link for interest_peer_free, the first one inline in
 * the topic and reused once it is free. */
static void test_interest_memberships_are_found_listed_and_reused(void **state)
{
    reset();
    gone_calls = 0;
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p[4];
    struct interest_member *m[4];
    for (int i = 0; i < 4; i++)
        p[i] = interest_peer_new(t, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 3; i++)
        interest_add(t, p[i], link_str_c("t"), &m[i]);
    struct interest_topic *tp = interest_find(t, link_str_c("t"));
    assert_ptr_equal(m[0], &tp->one_m);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(interest_member_of(p[i], link_str_c("t")), m[i]);
    assert_null(interest_member_of(p[3], link_str_c("t")));
    assert_null(interest_member_of(p[0], link_str_c("other")));
    assert_null(interest_member_of(NULL, link_str_c("t")));
    assert_int_equal(interest_remove(t, p[0], link_str_c("t")), 1);
    assert_null(tp->one_m.topic); /* free again */
    assert_int_equal(interest_add(t, p[3], link_str_c("t"), &m[3]), 1);
    assert_ptr_equal(m[3], &tp->one_m);
    assert_int_equal(tp->n, 3);
    for (uint32_t k = 0; k < tp->n; k++)
        assert_int_equal(interest_slots(tp)[k].m->slot, k);
    /* p[1] on three topics, alone on two of them. */
    interest_add(t, p[1], link_str_c("a"), &m[0]);
    interest_add(t, p[1], link_str_c("b"), &m[0]);
    assert_int_equal(interest_peer_topics(p[1]), 3);
    interest_peer_free(t, p[1], on_gone, NULL);
    assert_int_equal(gone_calls, 2);
    assert_null(interest_find(t, link_str_c("a")));
    assert_int_equal(tp->n, 2);
    assert_ptr_equal(interest_member_of(p[2], link_str_c("t")), m[2]);
    assert_int_equal(interest_topic_count(t), 1);
    interest_peer_free(t, p[0], on_gone, NULL);
    interest_peer_free(t, p[2], on_gone, NULL);
    interest_peer_free(t, p[3], on_gone, NULL);
    assert_int_equal(gone_calls, 3);
    assert_int_equal(interest_topic_count(t), 0);
    interest_free(t);
}

static void test_interest_holds_live_messages_behind_a_resume(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p1 = interest_peer_new(t, (void *)1);
    struct interest_peer *p2 = interest_peer_new(t, (void *)2);
    struct interest_member *m1, *m2;
    interest_add(t, p1, link_str_c("t"), &m1);
    interest_add(t, p2, link_str_c("t"), &m2);
    assert_int_equal(m1->topic->holds, 0);
    uint64_t id = interest_hold(t, m2);
    assert_true(interest_holds(m2, id));
    assert_int_equal(m1->topic->holds, 1);
    deliver(t, "t", 5);
    deliver(t, "t", 6);
    deliver(t, "t", 7);
    assert_int_equal(ngot[1], 3); /* the other link is not held */
    assert_int_equal(ngot[2], 0);
    /* The replay went up to 6: 5 and 6 were in it, 7 comes after. */
    interest_release(m2, 6, E1, &OUT);
    assert_int_equal(ngot[2], 1);
    assert_int_equal(got[2][0], 7);
    assert_false(interest_holds(m2, id));
    assert_null(m2->hold);
    assert_int_equal(m1->topic->holds, 0); /* fan-out reads the slots alone again */
    assert_int_equal(p2->held_bytes, 0);
    deliver(t, "t", 8);
    assert_int_equal(ngot[1], 4);
    assert_int_equal(ngot[2], 2);
    interest_peer_free(t, p1, NULL, NULL);
    interest_peer_free(t, p2, NULL, NULL);
    interest_free(t);
}

static void test_interest_skips_live_copies_a_replay_covered_that_come_late(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p = interest_peer_new(t, (void *)1);
    struct interest_member *m;
    interest_add(t, p, link_str_c("t"), &m);
    interest_hold(t, m);
    deliver(t, "t", 3);
    /* The engine's read said 5: 4 and 5 have not come live yet. */
    interest_release(m, 5, E1, &OUT);
    assert_int_equal(ngot[1], 0);
    assert_non_null(m->hold); /* kept to skip them */
    deliver(t, "t", 4);
    deliver(t, "t", 5);
    assert_int_equal(ngot[1], 0);
    assert_null(m->hold);
    deliver(t, "t", 6);
    assert_int_equal(ngot[1], 1);
    assert_int_equal(got[1][0], 6);
    interest_peer_free(t, p, NULL, NULL);
    interest_free(t);
}

static void test_interest_sends_what_comes_before_a_history_read_first(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p = interest_peer_new(t, (void *)1);
    struct interest_member *m;
    interest_add(t, p, link_str_c("t"), &m);
    interest_hold(t, m);
    deliver(t, "t", 1);
    deliver(t, "t", 2);
    deliver(t, "t", 3);
    interest_send_held(m, 2, E1, &OUT); /* the read's result sits after 2 */
    assert_int_equal(ngot[1], 2);
    interest_release(m, 0, E1, &OUT); /* a read covers nothing of the live stream */
    assert_int_equal(ngot[1], 3);
    assert_int_equal(got[1][2], 3);
    interest_peer_free(t, p, NULL, NULL);
    interest_free(t);
}

static void test_interest_holding_more_than_the_bound_overflows(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p = interest_peer_new(t, (void *)1);
    struct interest_member *m;
    interest_add(t, p, link_str_c("t"), &m);
    uint64_t first = interest_hold(t, m);
    for (uint64_t s = 1; s <= 6; s++)
        deliver(t, "t", s);
    assert_int_equal(p->held_bytes, 4 * sizeof(uint64_t)); /* max_held */
    assert_int_equal(overflows[1], 2);
    /* Removing the interest frees what it held; added again, it is another
     * hold. */
    assert_int_equal(interest_remove(t, p, link_str_c("t")), 2);
    assert_int_equal(p->held_bytes, 0);
    interest_add(t, p, link_str_c("t"), &m);
    assert_false(interest_holds(m, first));
    assert_true(interest_holds(m, interest_hold(t, m)));
    interest_peer_free(t, p, NULL, NULL);
    interest_free(t);
}

/* A live copy is of the entry's epoch only if it is the same string, at
 * every length an engine may use (the hub's 8 characters are compared as
 * one word): a prefix, a longer string or a last byte off is another. */
static void test_interest_is_new_compares_whole_epochs(void **state)
{
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p = interest_peer_new(t, (void *)1);
    struct interest_member *m;
    interest_add(t, p, link_str_c("t"), &m);
    struct interest_topic *tp = m->topic;
    ready(tp, 5, "epoch001");
    assert_true(interest_is_new(tp, 6, link_str_c("epoch001")));
    assert_false(interest_is_new(tp, 5, link_str_c("epoch001"))); /* not after 5 */
    assert_false(interest_is_new(tp, 6, link_str_c("epoch002")));
    assert_false(interest_is_new(tp, 6, link_str_c("epoch00")));
    assert_false(interest_is_new(tp, 6, link_str_c("epoch0011")));
    assert_false(interest_is_new(tp, 6, link_str_c("")));
    assert_false(interest_is_new(tp, 6, link_str_c("epoch001epoch001x"))); /* over the limit */
    ready(tp, 5, "a-redis-epoch-16");
    assert_true(interest_is_new(tp, 6, link_str_c("a-redis-epoch-16")));
    assert_false(interest_is_new(tp, 6, link_str_c("a-redis-epoch-17")));
    assert_false(interest_is_new(tp, 6, link_str_c("a-redis-")));
    ready(tp, 5, "");
    assert_true(interest_is_new(tp, 6, link_str_c("")));
    assert_false(interest_is_new(tp, 6, link_str_c("epoch001")));
    interest_peer_free(t, p, NULL, NULL);
    interest_free(t);
}

static void test_interest_drops_stale_copies_of_another_epoch(void **state)
{
    reset();
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p = interest_peer_new(t, (void *)1);
    struct interest_member *m;
    interest_add(t, p, link_str_c("t"), &m);
    interest_hold(t, m);
    /* While the engine has not answered, copies of an earlier interest (a
     * state since forgotten, epoch 1) and of the new one (epoch 2) come. */
    deliver_in(t, "t", 57, E1);
    deliver_in(t, "t", 1, E2);
    deliver_in(t, "t", 2, E2);
    ready(m->topic, 0, "epoch002");
    deliver_in(t, "t", 58, E1); /* stale: dropped for good */
    /* The resume read says epoch 2 up to 1: 2 goes out, 57 (epoch 1) not. */
    interest_release(m, 1, E2, &OUT);
    assert_int_equal(ngot[1], 1);
    assert_int_equal(got[1][0], 2);
    deliver_in(t, "t", 3, E2);
    assert_int_equal(ngot[1], 2);
    interest_peer_free(t, p, NULL, NULL);
    interest_free(t);
}

/* Many links on one topic: the slots grow from the inline one to arrays of
 * 4, 8, ... 64, fan-out reaches every link once, and removals keep each
 * membership's slot right (the array keeps its size). */
static size_t many_got[40];
static void on_send_many(void *owner, const uint8_t *msg, size_t len, void *ud)
{
    many_got[(intptr_t)owner]++;
}

static void test_interest_slots_grow_and_stay_consistent(void **state)
{
    reset();
    static const struct interest_out out = {
        .send = on_send_many, .overflow = on_overflow, .max_held = 1024};
    struct interest *t = interest_new(SIZE_MAX);
    struct interest_peer *p[40];
    struct interest_member *m;
    memset(many_got, 0, sizeof many_got);
    for (intptr_t i = 0; i < 40; i++) {
        p[i] = interest_peer_new(t, (void *)i);
        interest_add(t, p[i], link_str_c("t"), &m);
    }
    struct interest_topic *tp = interest_find(t, link_str_c("t"));
    ready(tp, 0, "epoch001");
    assert_int_equal(tp->n, 40);
    assert_int_equal(tp->cap_log2, 6); /* 64 slots for 40 */
    assert_ptr_not_equal(interest_slots(tp), &tp->slots.one);
    uint64_t seq = 1;
    interest_deliver(t, tp, seq, E1, (const uint8_t *)&seq, sizeof seq, &out);
    for (int i = 0; i < 40; i++)
        assert_int_equal(many_got[i], 1);
    for (int i = 0; i < 40; i += 2) /* every other one leaves, the first one too */
        assert_int_equal(interest_remove(t, p[i], link_str_c("t")), 1);
    assert_int_equal(tp->n, 20);
    for (uint32_t k = 0; k < tp->n; k++)
        assert_int_equal(interest_slots(tp)[k].m->slot, k);
    seq = 2;
    interest_deliver(t, tp, seq, E1, (const uint8_t *)&seq, sizeof seq, &out);
    for (int i = 0; i < 40; i++)
        assert_int_equal(many_got[i], i % 2 ? 2 : 1);
    for (int i = 0; i < 40; i++)
        interest_peer_free(t, p[i], NULL, NULL);
    assert_int_equal(interest_topic_count(t), 0);
    interest_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interest_fans_out_once_per_link_in_seq_order),
        cmocka_unit_test(test_interest_slots_grow_and_stay_consistent),
        cmocka_unit_test(test_interest_keeps_the_per_link_limit_and_forgets_with_the_last_link),
        cmocka_unit_test(test_interest_memberships_are_found_listed_and_reused),
        cmocka_unit_test(test_interest_holds_live_messages_behind_a_resume),
        cmocka_unit_test(test_interest_skips_live_copies_a_replay_covered_that_come_late),
        cmocka_unit_test(test_interest_sends_what_comes_before_a_history_read_first),
        cmocka_unit_test(test_interest_holding_more_than_the_bound_overflows),
        cmocka_unit_test(test_interest_is_new_compares_whole_epochs),
        cmocka_unit_test(test_interest_drops_stale_copies_of_another_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
