/* Unit tests for edge/hubring.c: the order in which a worker's link tries
 * the hubs of its list, each worker's starting offset, and the delay that
 * doubles only after a full round of failures, up to its cap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "edge/hubring.h"

static void test_hubring_workers_start_at_index_modulo_the_list(void **state)
{
    struct hubring r;
    for (unsigned w = 0; w < 7; w++) {
        hubring_init(&r, 3, w, 0.1, 5);
        assert_int_equal(r.cur, w % 3);
    }
    hubring_init(&r, 1, 5, 0.1, 5);
    assert_int_equal(r.cur, 0);
}

static void test_hubring_moves_round_robin_on_each_failure(void **state)
{
    struct hubring r;
    hubring_init(&r, 3, 1, 0.1, 5);
    const size_t want[] = {2, 0, 1, 2, 0, 1, 2};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        hubring_failed(&r);
        assert_int_equal(r.cur, want[i]);
    }
    /* Linking does not move: the worker stays with the hub that answered. */
    hubring_linked(&r);
    assert_int_equal(r.cur, 2);
}

static void test_hubring_delay_doubles_after_a_full_round_up_to_the_cap(void **state)
{
    struct hubring r;
    hubring_init(&r, 3, 0, 0.1, 0.5);
    /* Every hub is tried at 0.1 s, then at 0.2, 0.4, then the cap. */
    const double want[] = {0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.4, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_float_equal(hubring_failed(&r), want[i], 1e-9);
}

static void test_hubring_one_hub_doubles_on_every_failure(void **state)
{
    struct hubring r;
    hubring_init(&r, 1, 3, 0.1, 1);
    const double want[] = {0.1, 0.2, 0.4, 0.8, 1, 1};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_float_equal(hubring_failed(&r), want[i], 1e-9);
        assert_int_equal(r.cur, 0);
    }
}

static void test_hubring_link_starts_a_new_round_at_the_minimum(void **state)
{
    struct hubring r;
    hubring_init(&r, 2, 0, 0.1, 5);
    for (int i = 0; i < 5; i++)
        hubring_failed(&r); /* two full rounds and one more failure */
    assert_float_equal(r.backoff, 0.4, 1e-9);
    hubring_linked(&r);
    /* Lost again: the other hub at once (the minimum), then this one. */
    size_t linked = r.cur;
    assert_float_equal(hubring_failed(&r), 0.1, 1e-9);
    assert_int_not_equal(r.cur, linked);
    assert_float_equal(hubring_failed(&r), 0.1, 1e-9);
    assert_int_equal(r.cur, linked);
    assert_float_equal(hubring_failed(&r), 0.2, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hubring_workers_start_at_index_modulo_the_list),
        cmocka_unit_test(test_hubring_moves_round_robin_on_each_failure),
        cmocka_unit_test(test_hubring_delay_doubles_after_a_full_round_up_to_the_cap),
        cmocka_unit_test(test_hubring_one_hub_doubles_on_every_failure),
        cmocka_unit_test(test_hubring_link_starts_a_new_round_at_the_minimum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
