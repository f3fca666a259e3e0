/* Unit tests for edge/topic.c: subscriptions say first and last, limits
 * hold, members stay consistent through swap-removal, and acks held for
 * the hub's answer go out exactly once (acked, refused, or released). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "edge/topic.h"

/* Connections are opaque to the table: any distinct addresses do. */
struct fake_conn {
    struct topic_subs subs;
    int id;
};
#define CONN(fc) ((struct client *)(fc))

static int nsubs(const struct fake_conn *fc)
{
    int n = 0;
    for (const struct sub *s = fc->subs.head; s; s = s->cnext)
        n++;
    return n;
}

struct answer {
    struct client *c;
    int has_id;
    int64_t id;
    int code;
    char reason[160];
};

struct recorder {
    struct answer answers[64];
    int nanswers;
    char last[8][32];
    int nlast;
};

static void record_answer(void *ud, struct client *c, const struct topic *t, int has_id, int64_t id,
                          int code, int recovered, const char *reason)
{
    struct recorder *r = ud;
    assert_true(r->nanswers < 64);
    struct answer *a = &r->answers[r->nanswers++];
    a->c = c;
    a->has_id = has_id;
    a->id = id;
    a->code = code;
    snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
}

static void record_last(void *ud, const char *name, size_t len)
{
    struct recorder *r = ud;
    assert_true(r->nlast < 8);
    snprintf(r->last[r->nlast++], sizeof r->last[0], "%.*s", (int)len, name);
}

static struct topic *got; /* what topic_interest_result hands back */

struct fixture {
    struct topics ts;
    struct recorder rec;
    struct fake_conn conns[4];
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    topics_init(&f.ts, record_answer, &f.rec, offsetof(struct fake_conn, subs));
    for (int i = 0; i < 4; i++)
        f.conns[i].id = i;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 4; i++)
        topic_unsubscribe_all(&f->ts, &f->conns[i].subs, record_last, &f->rec);
    topics_deinit(&f->ts);
    return 0;
}

static int sub(struct fixture *f, int conn, const char *name, struct sub **out)
{
    struct sub *s = NULL;
    int r = topic_subscribe(&f->ts, CONN(&f->conns[conn]), &f->conns[conn].subs,
                            conn % 2 ? ENC_MSGPACK : ENC_JSON, name, strlen(name), 3, 4, 0, &s);
    if (out)
        *out = s;
    return r;
}

static void test_topic_first_subscriber_says_first_then_joined_then_already(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sub(f, 0, "a", NULL), TOPIC_FIRST);
    assert_int_equal(sub(f, 1, "a", NULL), TOPIC_JOINED);
    assert_int_equal(sub(f, 0, "a", NULL), TOPIC_ALREADY);
    struct topic *t = topic_find(&f->ts, "a", 1);
    assert_non_null(t);
    assert_int_equal(t->n, 2);
    assert_int_equal(topic_count(t, ENC_JSON), 1);
    assert_int_equal(topic_count(t, ENC_MSGPACK), 1);
    assert_int_equal(f->ts.nsubs, 2);
    assert_int_equal(nsubs(&f->conns[0]), 1);
    assert_int_equal(topics_count(&f->ts), 1);
}

static void test_topic_limits_refuse_without_changing_anything(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sub(f, 0, "a", NULL), TOPIC_FIRST);
    assert_int_equal(sub(f, 0, "b", NULL), TOPIC_FIRST);
    assert_int_equal(sub(f, 0, "c", NULL), TOPIC_FIRST);
    /* max_subs is 3 per connection */
    assert_int_equal(sub(f, 0, "d", NULL), TOPIC_LIMIT_SUBS);
    assert_int_equal(sub(f, 1, "d", NULL), TOPIC_FIRST);
    /* max_topics is 4 per table; joining an existing one is still fine */
    assert_int_equal(sub(f, 1, "e", NULL), TOPIC_LIMIT_TOPICS);
    assert_int_equal(sub(f, 1, "a", NULL), TOPIC_JOINED);
    assert_null(topic_find(&f->ts, "e", 1));
    assert_int_equal(topics_count(&f->ts), 4);
    assert_int_equal(f->ts.nsubs, 5);
}

static void test_topic_unsubscribe_says_left_then_last(void **state)
{
    struct fixture *f = *state;
    sub(f, 0, "a", NULL);
    sub(f, 1, "a", NULL);
    assert_int_equal(topic_unsubscribe(&f->ts, CONN(&f->conns[2]), &f->conns[2].subs, "a", 1),
                     TOPIC_NOT_SUBSCRIBED);
    assert_int_equal(topic_unsubscribe(&f->ts, CONN(&f->conns[0]), &f->conns[0].subs, "a", 1),
                     TOPIC_LEFT);
    assert_non_null(topic_find(&f->ts, "a", 1));
    assert_int_equal(topic_unsubscribe(&f->ts, CONN(&f->conns[1]), &f->conns[1].subs, "a", 1),
                     TOPIC_LAST);
    assert_null(topic_find(&f->ts, "a", 1));
    assert_int_equal(f->ts.nsubs, 0);
    assert_int_equal(nsubs(&f->conns[1]), 0);
    assert_null(f->conns[1].subs.head);
}

static void test_topic_swap_removal_keeps_every_slot_pointing_at_its_member(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 4; i++)
        sub(f, i, "a", NULL);
    topic_unsubscribe(&f->ts, CONN(&f->conns[1]), &f->conns[1].subs, "a", 1);
    struct topic *t = topic_find(&f->ts, "a", 1);
    assert_int_equal(t->n, 3);
    for (uint32_t i = 0; i < t->n; i++) {
        assert_int_equal(t->members[i].sub->slot, i);
        assert_ptr_equal(t->members[i].sub->t, t);
        struct fake_conn *fc = (struct fake_conn *)t->members[i].c;
        int on_its_list = 0;
        for (struct sub *s = fc->subs.head; s; s = s->cnext)
            on_its_list |= s == t->members[i].sub;
        assert_true(on_its_list);
        assert_int_not_equal(fc->id, 1);
    }
}

/* A topic of one's own holds its member inline and no catch-up state; a
 * second member moves both into an array, in their slots. */
static void test_topic_single_member_is_inline_until_a_second_joins(void **state)
{
    struct fixture *f = *state;
    struct sub *s0, *s1;
    sub(f, 0, "own", &s0);
    struct topic *t = topic_find(&f->ts, "own", 3);
    assert_ptr_equal(t->members, &t->one);
    assert_ptr_equal(t->members[0].sub, s0);
    assert_false(topic_has_catchup(t));
    assert_int_equal(t->cu->nresumers, 0);
    sub(f, 1, "own", &s1);
    assert_ptr_not_equal(t->members, &t->one);
    assert_int_equal(t->cap, 4);
    assert_ptr_equal(t->members[0].sub, s0);
    assert_ptr_equal(t->members[1].sub, s1);
    assert_int_equal(s1->slot, 1);
    topic_unsubscribe(&f->ts, CONN(&f->conns[0]), &f->conns[0].subs, "own", 3);
    assert_int_equal(t->n, 1);
    assert_ptr_equal(t->members[0].sub, s1);
    assert_int_equal(s1->slot, 0);
}

static void test_topic_unsubscribe_all_names_each_topic_that_goes(void **state)
{
    struct fixture *f = *state;
    sub(f, 0, "a", NULL);
    sub(f, 0, "b", NULL);
    sub(f, 1, "b", NULL);
    topic_unsubscribe_all(&f->ts, &f->conns[0].subs, record_last, &f->rec);
    assert_int_equal(f->rec.nlast, 1);
    assert_string_equal(f->rec.last[0], "a");
    assert_non_null(topic_find(&f->ts, "b", 1));
    assert_int_equal(nsubs(&f->conns[0]), 0);
    assert_int_equal(f->rec.nanswers, 0); /* a going connection gets no acks */
}

static void test_topic_members_array_shrinks_after_a_crowd_leaves(void **state)
{
    struct fixture *f = *state;
    static struct fake_conn crowd[64];
    memset(crowd, 0, sizeof crowd);
    struct sub *s;
    for (int i = 0; i < 64; i++)
        topic_subscribe(&f->ts, CONN(&crowd[i]), &crowd[i].subs, ENC_JSON, "big", 3, 10, 10, 0, &s);
    struct topic *t = topic_find(&f->ts, "big", 3);
    assert_int_equal(t->cap, 64);
    for (int i = 0; i < 60; i++)
        topic_unsubscribe(&f->ts, CONN(&crowd[i]), &crowd[i].subs, "big", 3);
    assert_int_equal(t->n, 4);
    assert_true(t->cap < 64);
    for (uint32_t i = 0; i < t->n; i++)
        assert_int_equal(t->members[i].sub->slot, i);
    for (int i = 60; i < 64; i++)
        topic_unsubscribe_all(&f->ts, &crowd[i].subs, record_last, &f->rec);
    assert_int_equal(f->rec.nlast, 1);
}

/* A sub waiting for the hub: acked once, when the answer for its request
 * comes, not for an older request's answer. */
static void test_topic_held_ack_goes_out_on_the_hubs_answer_only(void **state)
{
    struct fixture *f = *state;
    struct sub *s;
    sub(f, 0, "a", &s);
    s->t->add_id = 7;
    topic_wait(s, 100);
    topic_interest_result(&f->ts, "a", 1, 6, 0, NULL, 0, "e1", 2, 0, &got); /* an older request */
    assert_int_equal(f->rec.nanswers, 0);
    topic_interest_result(&f->ts, "a", 1, 7, 0, NULL, 0, "e1", 2, 0, &got);
    assert_int_equal(f->rec.nanswers, 1);
    assert_ptr_equal(f->rec.answers[0].c, CONN(&f->conns[0]));
    assert_int_equal(f->rec.answers[0].id, 100);
    assert_int_equal(f->rec.answers[0].code, 0);
    assert_int_equal(s->t->add_id, 0);
    topic_interest_result(&f->ts, "a", 1, 7, 0, NULL, 0, "e1", 2, 0,
                          &got); /* a repeat answers nothing */
    assert_int_equal(f->rec.nanswers, 1);
}

/* A refused topic: waiters get the error with their id, subscribers acked
 * earlier a notice without one, and the topic and all its subscriptions go. */
static void test_topic_refusal_answers_everyone_once_and_drops_the_topic(void **state)
{
    struct fixture *f = *state;
    struct sub *s0, *s1;
    sub(f, 0, "a", &s0); /* acked earlier, while the link was down */
    sub(f, 1, "a", &s1);
    sub(f, 1, "b", NULL);
    s0->t->add_id = 9;
    topic_wait(s1, 5);
    topic_interest_result(&f->ts, "a", 1, 9, 429, "too many topics", 0, "e1", 2, 0, &got);
    assert_int_equal(f->rec.nanswers, 2);
    int waiter = f->rec.answers[0].has_id ? 0 : 1;
    assert_ptr_equal(f->rec.answers[waiter].c, CONN(&f->conns[1]));
    assert_int_equal(f->rec.answers[waiter].id, 5);
    assert_int_equal(f->rec.answers[waiter].code, 429);
    assert_string_equal(f->rec.answers[waiter].reason, "too many topics");
    assert_ptr_equal(f->rec.answers[1 - waiter].c, CONN(&f->conns[0]));
    assert_false(f->rec.answers[1 - waiter].has_id);
    assert_non_null(strstr(f->rec.answers[1 - waiter].reason, "subscription to a ended"));
    assert_null(topic_find(&f->ts, "a", 1));
    assert_int_equal(nsubs(&f->conns[0]), 0);
    assert_int_equal(nsubs(&f->conns[1]), 1);
    assert_string_equal(f->conns[1].subs.head->t->node.name, "b");
    assert_int_equal(f->ts.nsubs, 1);
}

static void test_topic_unsubscribe_sends_a_held_ack_first(void **state)
{
    struct fixture *f = *state;
    struct sub *s;
    sub(f, 0, "a", &s);
    s->t->add_id = 3;
    topic_wait(s, 42);
    assert_int_equal(topic_unsubscribe(&f->ts, CONN(&f->conns[0]), &f->conns[0].subs, "a", 1),
                     TOPIC_LAST);
    assert_int_equal(f->rec.nanswers, 1);
    assert_int_equal(f->rec.answers[0].id, 42);
    assert_int_equal(f->rec.answers[0].code, 0);
}

static void test_topic_link_down_acks_every_held_sub(void **state)
{
    struct fixture *f = *state;
    struct sub *a, *b;
    sub(f, 0, "a", &a);
    sub(f, 1, "b", &b);
    a->t->add_id = 1;
    b->t->add_id = 2;
    topic_wait(a, 10);
    topic_wait(b, 20);
    topic_link_down(&f->ts);
    assert_int_equal(f->rec.nanswers, 2);
    assert_int_equal(f->rec.answers[0].code + f->rec.answers[1].code, 0);
    assert_int_equal(f->rec.answers[0].id + f->rec.answers[1].id, 30);
    assert_int_equal(a->t->add_id, 0);
    assert_int_equal(b->t->add_id, 0);
    topic_interest_result(&f->ts, "a", 1, 1, 0, NULL, 0, "e1", 2, 0,
                          &got); /* late: nothing left to answer */
    assert_int_equal(f->rec.nanswers, 2);
}

static void count_topic(void *ud, struct topic *t)
{
    (*(int *)ud)++;
}

static void test_topic_foreach_visits_every_topic(void **state)
{
    struct fixture *f = *state;
    sub(f, 0, "a", NULL);
    sub(f, 0, "b", NULL);
    sub(f, 1, "b", NULL);
    int n = 0;
    topic_foreach(&f->ts, count_topic, &n);
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_topic_first_subscriber_says_first_then_joined_then_already),
        T(test_topic_limits_refuse_without_changing_anything),
        T(test_topic_unsubscribe_says_left_then_last),
        T(test_topic_swap_removal_keeps_every_slot_pointing_at_its_member),
        T(test_topic_single_member_is_inline_until_a_second_joins),
        T(test_topic_unsubscribe_all_names_each_topic_that_goes),
        T(test_topic_members_array_shrinks_after_a_crowd_leaves),
        T(test_topic_held_ack_goes_out_on_the_hubs_answer_only),
        T(test_topic_refusal_answers_everyone_once_and_drops_the_topic),
        T(test_topic_unsubscribe_sends_a_held_ack_first),
        T(test_topic_link_down_acks_every_held_sub),
        T(test_topic_foreach_visits_every_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
