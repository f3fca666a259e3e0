/* Unit tests for hub/directs.c: which direct results the hub passes on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/directs.h"

#define FROM "edge-a:0:0000abcd:7"
#define N(s) s, strlen(s)

static void test_directs_pass_only_the_awaited_result_once(void **state)
{
    struct directs *d = directs_new();
    assert_int_equal(directs_add(d, 2, N(FROM), 42, 0, 1.0, 10), 0);
    /* Another link, another id or another sender: not awaited. */
    assert_int_equal(directs_take(d, 3, N(FROM), 42, NULL), 0);
    assert_int_equal(directs_take(d, 2, N(FROM), 43, NULL), 0);
    assert_int_equal(directs_take(d, 2, N("edge-a:0:0000abcd:8"), 42, NULL), 0);
    assert_int_equal(directs_take(d, 2, N(FROM), 42, NULL), 1);
    assert_int_equal(directs_take(d, 2, N(FROM), 42, NULL), 0); /* only once */
    assert_int_equal(directs_count(d), 0);
    directs_free(d);
}

static void test_directs_refuse_a_duplicate_and_more_than_max_per_target(void **state)
{
    struct directs *d = directs_new();
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 1.0, 2), 0);
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 1.0, 2), -1); /* the same request */
    assert_int_equal(directs_add(d, 2, N(FROM), 2, 0, 1.0, 2), 0);
    assert_int_equal(directs_add(d, 2, N(FROM), 3, 0, 1.0, 2), -1); /* target full */
    assert_int_equal(directs_add(d, 5, N(FROM), 3, 0, 1.0, 2), 0);  /* other targets are not */
    assert_int_equal(directs_count_for(d, 2), 2);
    assert_int_equal(directs_count(d), 3);
    directs_free(d); /* with records left: must not leak */
}

struct seen {
    int n;
    int64_t ids;
};

static void on_drop(const char *from, size_t len, int64_t id, uint64_t origin, void *ud)
{
    struct seen *s = ud;
    assert_int_equal(len, strlen(FROM));
    assert_memory_equal(from, FROM, len);
    s->n++;
    s->ids += id;
}

static void test_directs_drop_target_reports_every_record_of_that_target(void **state)
{
    struct directs *d = directs_new();
    for (int64_t id = 1; id <= 100; id++)
        assert_int_equal(directs_add(d, 2, N(FROM), id, 0, 1.0, 1000), 0);
    assert_int_equal(directs_add(d, 3, N(FROM), 1, 0, 1.0, 1000), 0);
    struct seen s = {0};
    directs_drop_target(d, 2, on_drop, &s);
    assert_int_equal(s.n, 100);
    assert_int_equal(s.ids, 5050);
    assert_int_equal(directs_count(d), 1);
    assert_int_equal(directs_take(d, 2, N(FROM), 5, NULL), 0);
    assert_int_equal(directs_take(d, 3, N(FROM), 1, NULL), 1);
    directs_free(d);
}

static void test_directs_expire_oldest_first(void **state)
{
    struct directs *d = directs_new();
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 1.0, 10), 0);
    assert_int_equal(directs_add(d, 2, N(FROM), 2, 0, 2.0, 10), 0);
    assert_int_equal(directs_add(d, 3, N(FROM), 3, 0, 3.0, 10), 0);
    assert_int_equal(directs_take(d, 2, N(FROM), 2, NULL), 1); /* answered in the middle */
    assert_int_equal(directs_expire(d, 2.5), 1);
    assert_int_equal(directs_take(d, 2, N(FROM), 1, NULL), 0); /* expired */
    assert_int_equal(directs_count(d), 1);
    assert_int_equal(directs_expire(d, 10.0), 1);
    assert_int_equal(directs_count(d), 0);
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 11.0, 10), 0); /* usable again */
    directs_free(d);
}

static void test_directs_refuse_an_overlong_sender_id(void **state)
{
    struct directs *d = directs_new();
    char from[300];
    memset(from, 'a', sizeof from);
    assert_int_equal(directs_add(d, 2, from, sizeof from, 1, 0, 1.0, 10), -1);
    assert_int_equal(directs_take(d, 2, from, sizeof from, 1, NULL), 0);
    directs_free(d);
}

static void test_directs_keep_the_origin_of_a_relayed_direct(void **state)
{
    struct directs *d = directs_new();
    uint64_t origin = 7;
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 1.0, 10), 0);
    assert_int_equal(directs_add(d, 2, N(FROM), 2, 1ull << 63 | 3, 1.0, 10), 0);
    assert_int_equal(directs_take(d, 2, N(FROM), 2, &origin), 1);
    assert_true(origin == (1ull << 63 | 3));
    assert_int_equal(directs_take(d, 2, N(FROM), 1, &origin), 1);
    assert_true(origin == 0);
    directs_free(d);
}

static void count_target(uint64_t target, void *ud)
{
    uint64_t *sum = ud;
    *sum += target;
}

static void drop_it(uint64_t target, void *ud)
{
    directs_drop_target(ud, target, NULL, NULL);
}

static void test_directs_foreach_target_lists_targets_above_min_once(void **state)
{
    struct directs *d = directs_new();
    const uint64_t hub = 1ull << 63;
    assert_int_equal(directs_add(d, 2, N(FROM), 1, 0, 1.0, 10), 0);
    assert_int_equal(directs_add(d, hub | 1, N(FROM), 1, 0, 1.0, 10), 0);
    assert_int_equal(directs_add(d, hub | 1, N(FROM), 2, 0, 1.0, 10), 0);
    assert_int_equal(directs_add(d, hub | 2, N(FROM), 1, 0, 1.0, 10), 0);
    uint64_t sum = 0;
    directs_foreach_target(d, hub, count_target, &sum);
    assert_true(sum == (hub | 1) + (hub | 2));
    directs_foreach_target(d, hub, drop_it, d); /* may drop what it is given */
    assert_int_equal(directs_count(d), 1);
    assert_int_equal(directs_take(d, 2, N(FROM), 1, NULL), 1);
    directs_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directs_pass_only_the_awaited_result_once),
        cmocka_unit_test(test_directs_refuse_a_duplicate_and_more_than_max_per_target),
        cmocka_unit_test(test_directs_drop_target_reports_every_record_of_that_target),
        cmocka_unit_test(test_directs_expire_oldest_first),
        cmocka_unit_test(test_directs_refuse_an_overlong_sender_id),
        cmocka_unit_test(test_directs_keep_the_origin_of_a_relayed_direct),
        cmocka_unit_test(test_directs_foreach_target_lists_targets_above_min_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
