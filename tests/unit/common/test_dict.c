/* Unit tests for common/dict.c: insert, find, delete, iteration that
 * tolerates deleting the current entry, and giving memory back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/dict.h"

static void key(char *out, size_t n, int i)
{
    snprintf(out, n, "key-%d", i);
}

static void test_dict_finds_what_was_added_and_forgets_what_was_deleted(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), (void *)(intptr_t)(i + 1));
    }
    assert_int_equal(d.count, 1000);
    for (int i = 0; i < 1000; i++) {
        key(k, sizeof k, i);
        assert_int_equal((intptr_t)dict_get(&d, k, strlen(k)), i + 1);
    }
    assert_null(dict_get(&d, "missing", 7));
    key(k, sizeof k, 7);
    assert_int_equal((intptr_t)dict_delete(&d, k, strlen(k)), 8);
    assert_null(dict_get(&d, k, strlen(k)));
    assert_null(dict_delete(&d, k, strlen(k)));
    dict_deinit(&d, NULL);
}

static void test_dict_iteration_tolerates_deleting_the_current_entry(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 300; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), NULL);
    }
    struct dict_iter it;
    dict_iter_init(&it, &d);
    int seen = 0;
    for (struct dict_entry *e; (e = dict_next(&it));) {
        dict_delete(&d, e->key, e->klen);
        seen++;
    }
    assert_int_equal(seen, 300);
    assert_int_equal(d.count, 0);
    dict_deinit(&d, NULL);
}

static void test_dict_shrink_gives_back_the_table_of_a_flood(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 100000; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), NULL);
    }
    size_t peak = d.size;
    assert_true(peak >= 100000);
    for (int i = 10; i < 100000; i++) {
        key(k, sizeof k, i);
        dict_delete(&d, k, strlen(k));
    }
    dict_shrink(&d);
    assert_int_equal(d.count, 10);
    assert_true(d.size <= 32); /* at most twice the entries, 16 minimum */
    for (int i = 0; i < 10; i++) { /* still all there after the rehash */
        key(k, sizeof k, i);
        assert_non_null(dict_find(&d, k, strlen(k)));
    }
    for (int i = 0; i < 10; i++) {
        key(k, sizeof k, i);
        dict_delete(&d, k, strlen(k));
    }
    dict_shrink(&d);
    assert_int_equal(d.size, 0);
    assert_null(d.table);
    dict_add(&d, "again", 5, NULL); /* usable after shrinking to nothing */
    assert_non_null(dict_find(&d, "again", 5));
    dict_deinit(&d, NULL);
}

static void test_dict_shrink_keeps_a_table_that_is_still_used(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 64; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), NULL);
    }
    size_t size = d.size;
    dict_shrink(&d); /* load 1: nothing to give back */
    assert_int_equal(d.size, size);
    dict_deinit(&d, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_finds_what_was_added_and_forgets_what_was_deleted),
        cmocka_unit_test(test_dict_iteration_tolerates_deleting_the_current_entry),
        cmocka_unit_test(test_dict_shrink_gives_back_the_table_of_a_flood),
        cmocka_unit_test(test_dict_shrink_keeps_a_table_that_is_still_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
