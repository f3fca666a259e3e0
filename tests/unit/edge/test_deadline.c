/* Unit tests for edge/deadline.c: nodes expire in order of their last touch,
 * touching postpones, and changing the timeout applies to waiting nodes. */
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
    ev_tstamp at[N];
};

static void on_expire(struct deadline_list *l, struct deadline_node *n)
{
    struct fixture *f = l->data;
    int i = (int)(n - f->nodes);
    f->at[i] = ev_now(f->loop);
    f->order[f->expired++] = i;
    if (f->expired == N)
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

static void test_deadline_zero_timeout_never_fires_and_shortening_applies_to_waiting_nodes(void **state)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_expires_in_order_of_last_touch),
        cmocka_unit_test(test_deadline_removed_nodes_never_expire),
        cmocka_unit_test(test_deadline_zero_timeout_never_fires_and_shortening_applies_to_waiting_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
