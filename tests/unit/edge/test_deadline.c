/* Unit tests for edge/deadline.c: nodes expire in order of their last touch,
 * never before their timeout, touching postpones, removed nodes never
 * expire, an expired node can be added again (even from its own expiry),
 * a node is in one list at a time, and changing the timeout applies to
 * waiting nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ev.h>
#include <string.h>

#include "edge/deadline.h"

#define N 5

struct fixture {
    struct ev_loop *loop;
    struct deadline_list list;
    struct deadline_node nodes[N];
    int order[N];
    int expired;
    int want;  /* expirations after which the loop stops (N by default) */
    int readd; /* on_expire adds the node back this many times in all */
    ev_tstamp at[N];
};

static void on_expire(struct deadline_list *l, struct deadline_node *n)
{
    struct fixture *f = l->data;
    int i = (int)(n - f->nodes);
    f->at[i] = ev_now(f->loop);
    if (f->expired < N)
        f->order[f->expired] = i;
    f->expired++;
    if (f->readd > 0) {
        f->readd--;
        deadline_add(l, n);
    }
    if (f->expired == f->want)
        ev_break(f->loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ALL); /* a test must never hang */
}

static void run(struct fixture *f, double limit)
{
    ev_timer guard;
    ev_timer_init(&guard, on_guard, limit, 0.);
    ev_timer_start(f->loop, &guard);
    ev_run(f->loop, 0);
    ev_timer_stop(f->loop, &guard);
}

static void setup_fixture(struct fixture *f, double timeout)
{
    memset(f, 0, sizeof *f);
    f->want = N;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    deadline_list_init(&f->list, f->loop, timeout, on_expire, f);
}

static void teardown_fixture(struct fixture *f)
{
    deadline_list_deinit(&f->list);
    ev_loop_destroy(f->loop);
}

static void test_deadline_expires_in_order_of_last_touch(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.05);
    for (int i = 0; i < N; i++)
        deadline_add(&f.list, &f.nodes[i]);
    /* Touch node 0 again: it moves behind the others. */
    deadline_add(&f.list, &f.nodes[0]);
    ev_tstamp start = ev_now(f.loop);
    run(&f, 2.0);
    assert_int_equal(f.expired, N);
    assert_int_equal(f.order[N - 1], 0);
    for (int i = 0; i < N; i++) {
        assert_true(f.at[i] - start >= 0.049);
        assert_false(deadline_is_linked(&f.nodes[i]));
    }
    teardown_fixture(&f);
}

static void test_deadline_removed_nodes_never_expire(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.02);
    for (int i = 0; i < N; i++)
        deadline_add(&f.list, &f.nodes[i]);
    deadline_remove(&f.nodes[2]);
    deadline_remove(&f.nodes[2]); /* twice is harmless */
    run(&f, 0.3);
    assert_int_equal(f.expired, N - 1);
    for (int i = 0; i < N - 1; i++)
        assert_int_not_equal(f.order[i], 2);
    teardown_fixture(&f);
}

static void
test_deadline_zero_timeout_never_fires_and_shortening_applies_to_waiting_nodes(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0); /* off */
    for (int i = 0; i < N; i++)
        deadline_add(&f.list, &f.nodes[i]);
    run(&f, 0.1);
    assert_int_equal(f.expired, 0);
    /* Switching on a timeout shorter than the time already waited expires
     * every node at once. */
    ev_tstamp start = ev_now(f.loop);
    deadline_list_set_timeout(&f.list, 0.05);
    run(&f, 2.0);
    assert_int_equal(f.expired, N);
    assert_true(f.at[N - 1] - start < 0.04);
    teardown_fixture(&f);
}

/* Touches f->nodes[0] when it fires (a client sending something). */
static struct fixture *touch_fixture;
static void on_touch(struct ev_loop *loop, ev_timer *t, int revents)
{
    deadline_add(&touch_fixture->list, &touch_fixture->nodes[0]);
}

static void test_deadline_touching_postpones_expiry(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.2);
    f.want = 1;
    deadline_add(&f.list, &f.nodes[0]);
    ev_tstamp start = ev_now(f.loop);
    /* Touched at 50 ms, it waits its full 200 ms from then, not from the
     * start: the timer armed for the old deadline re-arms instead. */
    ev_timer touch;
    touch_fixture = &f;
    ev_timer_init(&touch, on_touch, 0.05, 0.);
    ev_timer_start(f.loop, &touch);
    run(&f, 2.0);
    assert_int_equal(f.expired, 1);
    assert_true(f.at[0] - start >= 0.249);
    teardown_fixture(&f);
}

static void test_deadline_expired_node_can_be_added_again(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.03);
    f.want = 1;
    deadline_add(&f.list, &f.nodes[0]);
    run(&f, 2.0);
    assert_int_equal(f.expired, 1);
    assert_false(deadline_is_linked(&f.nodes[0]));
    ev_now_update(f.loop);
    ev_tstamp again = ev_now(f.loop);
    f.want = 2;
    deadline_add(&f.list, &f.nodes[0]);
    assert_true(deadline_is_linked(&f.nodes[0]));
    run(&f, 2.0);
    assert_int_equal(f.expired, 2);
    assert_true(f.at[0] - again >= 0.029); /* a full timeout from the re-add */
    teardown_fixture(&f);
}

static void test_deadline_expiry_may_add_its_node_back(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.02);
    /* As a ping timer does: each expiry starts the next wait. The node
     * expires once per timeout, not again in the same timer callback. */
    f.readd = 2;
    f.want = 3;
    deadline_add(&f.list, &f.nodes[0]);
    ev_tstamp start = ev_now(f.loop);
    run(&f, 2.0);
    assert_int_equal(f.expired, 3);
    assert_true(f.at[0] - start >= 0.059);
    assert_false(deadline_is_linked(&f.nodes[0]));
    teardown_fixture(&f);
}

static void test_deadline_node_is_in_one_list_at_a_time(void **state)
{
    struct fixture f, g;
    setup_fixture(&f, 0.02);
    /* A second list on the same loop, so one run drives both timers. */
    memset(&g, 0, sizeof g);
    g.loop = f.loop;
    deadline_list_init(&g.list, f.loop, 0.08, on_expire, &g);
    f.want = g.want = 1;
    deadline_add(&f.list, &f.nodes[1]);
    deadline_add(&f.list, &f.nodes[0]);
    deadline_add(&g.list, &f.nodes[0]); /* moves: f no longer times it */
    run(&f, 2.0);
    assert_int_equal(f.expired, 1);
    assert_int_equal(f.order[0], 1);
    assert_true(deadline_is_linked(&f.nodes[0]));
    deadline_list_deinit(&g.list); /* unlinks what it still holds */
    assert_false(deadline_is_linked(&f.nodes[0]));
    assert_int_equal(g.expired, 0);
    teardown_fixture(&f);
}

static void test_deadline_lengthening_the_timeout_postpones_waiting_nodes(void **state)
{
    struct fixture f;
    setup_fixture(&f, 0.03);
    for (int i = 0; i < N; i++)
        deadline_add(&f.list, &f.nodes[i]);
    ev_tstamp start = ev_now(f.loop);
    deadline_list_set_timeout(&f.list, 0.12);
    run(&f, 2.0);
    assert_int_equal(f.expired, N);
    for (int i = 0; i < N; i++)
        assert_true(f.at[i] - start >= 0.119);
    teardown_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_expires_in_order_of_last_touch),
        cmocka_unit_test(test_deadline_removed_nodes_never_expire),
        cmocka_unit_test(
            test_deadline_zero_timeout_never_fires_and_shortening_applies_to_waiting_nodes),
        cmocka_unit_test(test_deadline_touching_postpones_expiry),
        cmocka_unit_test(test_deadline_expired_node_can_be_added_again),
        cmocka_unit_test(test_deadline_expiry_may_add_its_node_back),
        cmocka_unit_test(test_deadline_node_is_in_one_list_at_a_time),
        cmocka_unit_test(test_deadline_lengthening_the_timeout_postpones_waiting_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
