/* Unit tests for hub/publog.c: pub_ids of one edge worker run only grow;
 * results are remembered for the last `window` of them, through a relink
 * within the retention, and records are bounded in time and count. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hub/publog.h"

#define N(s) s, strlen(s)

static void done(struct publog_rec *r, uint64_t pub_id, uint64_t seq)
{
    struct publog_result res = {.code = 0, .seq = seq, .epoch = "k3x9a0qz", .answered = 1};
    publog_done(r, pub_id, &res);
}

static void test_publog_answers_a_retransmission_with_its_first_result(void **state)
{
    struct publog *pl = publog_new(8);
    struct publog_rec *r = publog_attach(pl, N("edge-a"), 0, 0x1234, 100, NULL);
    struct publog_result res;
    assert_int_equal(publog_check(r, 1, &res), PUBLOG_NEW);
    publog_begin(r, 1);
    assert_int_equal(publog_check(r, 1, &res), PUBLOG_PENDING);
    done(r, 1, 57);
    assert_int_equal(publog_check(r, 1, &res), PUBLOG_DONE);
    assert_int_equal(res.seq, 57);
    assert_string_equal(res.epoch, "k3x9a0qz");
    /* A gap: 2 was never ordered here, but is at most the highest. */
    publog_begin(r, 3);
    assert_int_equal(publog_check(r, 2, &res), PUBLOG_FORGOTTEN);
    assert_int_equal(publog_check(r, 4, &res), PUBLOG_NEW);
    /* A huge jump costs one entry, and only the worker itself. */
    publog_begin(r, UINT64_MAX);
    assert_int_equal(publog_check(r, 1000, &res), PUBLOG_FORGOTTEN);
    publog_free(pl);
}

static void test_publog_remembers_only_the_window(void **state)
{
    struct publog *pl = publog_new(8);
    struct publog_rec *r = publog_attach(pl, N("edge-a"), 0, 1, 10, NULL);
    struct publog_result res;
    for (uint64_t p = 1; p <= 100; p++) {
        publog_begin(r, p);
        done(r, p, p);
    }
    assert_int_equal(publog_check(r, 90, &res), PUBLOG_FORGOTTEN);
    assert_int_equal(publog_check(r, 91, &res), PUBLOG_DONE);
    assert_int_equal(res.seq, 91);
    publog_set_window(r, 3); /* the policy shrank */
    assert_int_equal(publog_check(r, 97, &res), PUBLOG_FORGOTTEN);
    assert_int_equal(publog_check(r, 98, &res), PUBLOG_DONE);
    publog_free(pl);
}

static void test_publog_keeps_a_record_through_a_relink_within_its_time(void **state)
{
    struct publog *pl = publog_new(2);
    struct publog_rec *r = publog_attach(pl, N("edge-a"), 0, 1, 10, NULL);
    struct publog_result res;
    publog_begin(r, 5);
    done(r, 5, 9);
    publog_detach(pl, r, NULL, 100.0, 20.0);
    publog_expire(pl, 119.0);
    r = publog_attach(pl, N("edge-a"), 0, 1, 10, NULL); /* the same run, a new link */
    assert_int_equal(publog_check(r, 5, &res), PUBLOG_DONE);
    /* Another boot is another run: nothing of the first. */
    struct publog_rec *other = publog_attach(pl, N("edge-a"), 0, 2, 10, NULL);
    assert_int_equal(publog_check(other, 5, &res), PUBLOG_NEW);
    publog_detach(pl, r, NULL, 200.0, 20.0);
    publog_expire(pl, 221.0);
    r = publog_attach(pl, N("edge-a"), 0, 1, 10, NULL);
    assert_int_equal(publog_check(r, 5, &res), PUBLOG_NEW); /* forgotten */
    assert_int_equal(publog_count(pl), 2);
    publog_free(pl);
}

static void test_publog_bounds_retired_records_and_keeps_held_ones(void **state)
{
    struct publog *pl = publog_new(2);
    struct publog_rec *held = publog_attach(pl, N("w"), 0, 1, 10, NULL);
    publog_hold(held); /* a publish of it is with the engine */
    publog_detach(pl, held, NULL, 0.0, 100.0);
    for (uint32_t w = 1; w <= 3; w++)
        publog_detach(pl, publog_attach(pl, N("w"), w, 1, 10, NULL), NULL, 1.0, 100.0);
    assert_int_equal(publog_count(pl), 2); /* the oldest went first */
    struct publog_key k = publog_key_of(held);
    assert_int_equal(k.worker, 0);
    assert_int_equal(k.len, 1);
    done(held, 1, 1); /* still usable: freed when released */
    publog_release(pl, held);
    publog_free(pl);
}

/* A record the next link of the same run took over stays with it when the
 * older link's teardown comes late, and points at its new owner. */
static void test_publog_a_late_detach_by_an_older_link_changes_nothing(void **state)
{
    struct publog *pl = publog_new(4);
    int old_link, new_link;
    struct publog_rec *r = publog_attach(pl, N("edge-a"), 0, 1, 10, &old_link);
    assert_ptr_equal(publog_owner(r), &old_link);
    assert_ptr_equal(publog_attach(pl, N("edge-a"), 0, 1, 10, &new_link), r);
    publog_detach(pl, r, &old_link, 1.0, 100.0);
    assert_ptr_equal(publog_owner(r), &new_link);
    publog_detach(pl, r, &new_link, 2.0, 100.0);
    assert_null(publog_owner(r));
    publog_free(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publog_a_late_detach_by_an_older_link_changes_nothing),
        cmocka_unit_test(test_publog_answers_a_retransmission_with_its_first_result),
        cmocka_unit_test(test_publog_remembers_only_the_window),
        cmocka_unit_test(test_publog_keeps_a_record_through_a_relink_within_its_time),
        cmocka_unit_test(test_publog_bounds_retired_records_and_keeps_held_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
