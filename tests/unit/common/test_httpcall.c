/* Unit tests for common/httpcall.c without a backend (a closed loopback port
 * stands in for one): refused posts never call back, an accepted one calls
 * back exactly once and never from inside httpcall_post, the queue bound
 * holds, and a cancel from inside a callback drops the other call. The
 * behaviour against a real server is tests/integration/test_httpcall.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/httpcall.h"

struct seen {
    int calls;
    enum httpcall_kind kind;
    struct httpcall *h;
    void *cancel_ud; /* cancelled from inside the first callback */
    unsigned cancelled;
    int *total; /* callbacks of every call of the test */
};

static void done_cb(const struct httpcall_result *r, void *ud)
{
    struct seen *s = ud;
    s->calls++;
    s->kind = r->kind;
}

/* A loopback URL whose port was just bound and closed, so a connect is
 * refused at once. */
static void closed_port_url(char *url, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    snprintf(url, n, "http://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Runs loop until *done or 5 s have passed. */
static void run_until(struct ev_loop *loop, const int *done)
{
    ev_timer guard;
    ev_timer_init(&guard, guard_cb, 5., 0.);
    ev_timer_start(loop, &guard);
    while (!*done && ev_is_active(&guard))
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &guard);
}

static const struct httpcall_limits LIM = {
    .max_in_flight = 1, .max_queued = 1, .max_body_bytes = 1024, .max_host_conns = 2};

static void test_httpcall_free_null_is_a_no_op(void **state)
{
    (void)state;
    httpcall_free(NULL);
}

static void test_httpcall_post_refuses_bad_arguments_without_callback(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct httpcall *h = httpcall_new(loop, &LIM);
    assert_non_null(h);
    struct seen s = {0};
    assert_int_equal(httpcall_post(h, NULL, NULL, "", 0, 100, done_cb, &s), HTTPCALL_EINVAL);
    assert_int_equal(httpcall_post(h, "http://127.0.0.1/", NULL, "", 0, 0, done_cb, &s),
                     HTTPCALL_EINVAL);
    assert_int_equal(httpcall_post(h, "http://127.0.0.1/", NULL, "", 0, 100, NULL, &s),
                     HTTPCALL_EINVAL);
    assert_int_equal(httpcall_stats(h)->calls, 0);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(s.calls, 0);
    httpcall_free(h);
    ev_loop_destroy(loop);
}

static void test_httpcall_calls_back_once_and_never_from_inside_post(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct httpcall *h = httpcall_new(loop, &LIM);
    char url[64];
    closed_port_url(url, sizeof url);
    struct seen s = {0};
    const char *const headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(httpcall_post(h, url, headers, "{}", 2, 2000, done_cb, &s), 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(httpcall_stats(h)->in_flight, 1);
    run_until(loop, &s.calls);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.kind, HTTPCALL_CONNECT);
    const struct httpcall_stats *st = httpcall_stats(h);
    assert_int_equal(st->calls, 1);
    assert_int_equal(st->fail_connect, 1);
    assert_int_equal(st->in_flight, 0);
    /* Nothing else arrives. */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(s.calls, 1);
    httpcall_free(h);
    ev_loop_destroy(loop);
}

static void test_httpcall_post_beyond_the_queue_is_refused(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct httpcall *h = httpcall_new(loop, &LIM);
    char url[64];
    closed_port_url(url, sizeof url);
    struct seen a = {0}, b = {0}, c = {0};
    assert_int_equal(httpcall_post(h, url, NULL, "a", 1, 2000, done_cb, &a), 0);
    assert_int_equal(httpcall_post(h, url, NULL, "b", 1, 2000, done_cb, &b), 0);
    assert_int_equal(httpcall_post(h, url, NULL, "c", 1, 2000, done_cb, &c), HTTPCALL_EFULL);
    const struct httpcall_stats *st = httpcall_stats(h);
    assert_int_equal(st->in_flight, 1);
    assert_int_equal(st->queued, 1);
    assert_int_equal(st->refused, 1);
    run_until(loop, &b.calls);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 0);
    assert_int_equal(st->fail_connect, 2);
    httpcall_free(h);
    ev_loop_destroy(loop);
}

/* Whichever call ends first cancels the other from inside its callback. */
static void cancel_other_cb(const struct httpcall_result *r, void *ud)
{
    struct seen *s = ud;
    s->calls++;
    (*s->total)++;
    s->cancelled += httpcall_cancel(s->h, s->cancel_ud);
}

static void test_httpcall_cancel_from_a_callback_drops_the_other_call(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct httpcall_limits lim = LIM;
    lim.max_in_flight = 2;
    struct httpcall *h = httpcall_new(loop, &lim);
    char url[64];
    closed_port_url(url, sizeof url);
    int total = 0;
    struct seen a = {.h = h, .total = &total}, b = {.h = h, .total = &total};
    a.cancel_ud = &b;
    b.cancel_ud = &a;
    assert_int_equal(httpcall_post(h, url, NULL, "a", 1, 2000, cancel_other_cb, &a), 0);
    assert_int_equal(httpcall_post(h, url, NULL, "b", 1, 2000, cancel_other_cb, &b), 0);
    run_until(loop, &total);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(total, 1);
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(a.cancelled + b.cancelled, 1);
    const struct httpcall_stats *st = httpcall_stats(h);
    assert_int_equal(st->cancelled, 1);
    assert_int_equal(st->in_flight, 0);
    /* Cancelling what is gone cancels nothing. */
    assert_int_equal(httpcall_cancel(h, &a), 0);
    httpcall_free(h);
    ev_loop_destroy(loop);
}

static void test_httpcall_free_drops_calls_without_callback(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct httpcall *h = httpcall_new(loop, &LIM);
    struct seen a = {0}, b = {0};
    assert_int_equal(httpcall_post(h, "http://127.0.0.1:1/", NULL, "a", 1, 2000, done_cb, &a), 0);
    assert_int_equal(httpcall_post(h, "http://127.0.0.1:1/", NULL, "b", 1, 2000, done_cb, &b), 0);
    httpcall_free(h);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(a.calls + b.calls, 0);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpcall_free_null_is_a_no_op),
        cmocka_unit_test(test_httpcall_post_refuses_bad_arguments_without_callback),
        cmocka_unit_test(test_httpcall_calls_back_once_and_never_from_inside_post),
        cmocka_unit_test(test_httpcall_post_beyond_the_queue_is_refused),
        cmocka_unit_test(test_httpcall_cancel_from_a_callback_drops_the_other_call),
        cmocka_unit_test(test_httpcall_free_drops_calls_without_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
