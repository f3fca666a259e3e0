/* Unit tests for common/dict.c: insert, find, delete, growth at load 1,
 * iteration that visits every entry once and tolerates deleting the
 * current entry, giving memory back, and binary keys. */
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
    assert_int_equal(d.t.count, 1000);
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
        dict_delete(&d, e->node.name, e->node.len);
        seen++;
    }
    assert_int_equal(seen, 300);
    assert_int_equal(d.t.count, 0);
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
    size_t peak = d.t.size;
    assert_true(peak >= 100000);
    for (int i = 10; i < 100000; i++) {
        key(k, sizeof k, i);
        dict_delete(&d, k, strlen(k));
    }
    dict_shrink(&d);
    assert_int_equal(d.t.count, 10);
    assert_true(d.t.size <= 32);   /* at most twice the entries, 16 minimum */
    for (int i = 0; i < 10; i++) { /* still all there after the rehash */
        key(k, sizeof k, i);
        assert_non_null(dict_find(&d, k, strlen(k)));
    }
    for (int i = 0; i < 10; i++) {
        key(k, sizeof k, i);
        dict_delete(&d, k, strlen(k));
    }
    dict_shrink(&d);
    assert_int_equal(d.t.size, 0);
    assert_null(d.t.table);
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
    size_t size = d.t.size;
    dict_shrink(&d); /* load 1: nothing to give back */
    assert_int_equal(d.t.size, size);
    dict_deinit(&d, NULL);
}

static void test_dict_grows_at_load_one_by_doubling_and_keeps_every_entry(void **state)
{
    struct dict d;
    dict_init(&d);
    assert_int_equal(d.t.size, 0); /* no bucket array before the first insert */
    assert_null(d.t.table);
    assert_null(dict_find(&d, "x", 1));
    assert_null(dict_delete(&d, "x", 1));
    char k[32];
    for (int i = 0; i < 16; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), (void *)(intptr_t)(i + 1));
    }
    assert_int_equal(d.t.size, 16); /* 16 entries in 16 buckets: load 1 */
    key(k, sizeof k, 16);
    dict_add(&d, k, strlen(k), (void *)(intptr_t)17);
    assert_int_equal(d.t.size, 32);
    for (int i = 17; i < 5000; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), (void *)(intptr_t)(i + 1));
        assert_true(d.t.count <= d.t.size);
        assert_int_equal(d.t.size & (d.t.size - 1), 0);
    }
    assert_int_equal(d.t.size, 8192);
    for (int i = 0; i < 5000; i++) { /* every rehash kept every entry */
        key(k, sizeof k, i);
        assert_int_equal((intptr_t)dict_get(&d, k, strlen(k)), i + 1);
    }
    dict_deinit(&d, NULL);
}

static void test_dict_keys_are_copied_bytes_of_their_own_length(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[8] = "ab\0cd";
    struct dict_entry *e = dict_add(&d, k, 5, (void *)1);
    dict_add(&d, "ab", 2, (void *)2); /* a prefix up to the NUL: another key */
    dict_add(&d, "", 0, (void *)3);   /* the empty key is a key */
    memset(k, 'z', sizeof k);         /* the dict holds its own copy */
    assert_int_equal((intptr_t)dict_get(&d, "ab\0cd", 5), 1);
    assert_int_equal((intptr_t)dict_get(&d, "ab", 2), 2);
    assert_int_equal((intptr_t)dict_get(&d, "", 0), 3);
    assert_null(dict_get(&d, "ab\0c", 4));
    assert_int_equal(e->node.len, 5);
    assert_memory_equal(e->node.name, "ab\0cd", 6); /* and a NUL after the key */
    dict_deinit(&d, NULL);
}

static void test_dict_iteration_visits_every_entry_exactly_once(void **state)
{
    struct dict d;
    dict_init(&d);
    struct dict_iter it;
    dict_iter_init(&it, &d);
    assert_null(dict_next(&it)); /* an empty, never used table */
    static int seen[777];
    char k[32];
    for (int i = 0; i < 777; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), &seen[i]);
    }
    dict_iter_init(&it, &d);
    int n = 0;
    for (struct dict_entry *e; (e = dict_next(&it));) {
        (*(int *)e->value)++;
        n++;
    }
    assert_int_equal(n, 777);
    for (int i = 0; i < 777; i++)
        assert_int_equal(seen[i], 1);
    dict_deinit(&d, NULL);
}

static void test_dict_deleting_some_current_entries_keeps_the_rest_in_the_walk(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 500; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), (void *)(intptr_t)i);
    }
    /* Delete every odd value as the walk reaches it: each entry is still
     * seen once, and only the odd ones are gone afterwards. */
    struct dict_iter it;
    dict_iter_init(&it, &d);
    int n = 0;
    for (struct dict_entry *e; (e = dict_next(&it));) {
        n++;
        if ((intptr_t)e->value % 2)
            assert_int_equal((intptr_t)dict_delete(&d, e->node.name, e->node.len) % 2, 1);
    }
    assert_int_equal(n, 500);
    assert_int_equal(d.t.count, 250);
    for (int i = 0; i < 500; i++) {
        key(k, sizeof k, i);
        assert_int_equal(dict_find(&d, k, strlen(k)) != NULL, i % 2 == 0);
    }
    dict_deinit(&d, NULL);
}

static int freed;

static void count_free(void *v)
{
    (void)v;
    freed++;
}

static void test_dict_deinit_frees_each_value_once(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 100; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), (void *)(intptr_t)(i + 1));
    }
    freed = 0;
    dict_deinit(&d, count_free);
    assert_int_equal(freed, 100);
    assert_int_equal(d.t.count, 0);
    assert_null(d.t.table);
}

static void test_dict_shrink_stops_at_16_buckets(void **state)
{
    struct dict d;
    dict_init(&d);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        key(k, sizeof k, i);
        dict_add(&d, k, strlen(k), NULL);
    }
    for (int i = 3; i < 1000; i++) {
        key(k, sizeof k, i);
        dict_delete(&d, k, strlen(k));
    }
    dict_shrink(&d);
    assert_int_equal(d.t.size, 16); /* 3 entries would fit 8, but not below 16 */
    dict_deinit(&d, NULL);
}

static void test_dict_tables_hash_under_different_keys(void **state)
{
    /* A random per-table key: what collides in one table does not collide
     * in another, so topic names cannot be chosen to flood a bucket. */
    struct dict a, b;
    dict_init(&a);
    dict_init(&b);
    assert_false(a.t.k0 == b.t.k0 && a.t.k1 == b.t.k1);
    assert_int_not_equal(siphash13(a.t.k0, a.t.k1, "topic", 5),
                         siphash13(b.t.k0, b.t.k1, "topic", 5));
    /* The hash is a function of key and bytes only. */
    assert_int_equal(siphash13(1, 2, "topic", 5), siphash13(1, 2, "topic", 5));
    assert_int_not_equal(siphash13(1, 2, "topic", 5), siphash13(1, 2, "topiC", 5));
    assert_int_not_equal(siphash13(1, 2, "12345678", 8), siphash13(1, 2, "12345678", 7));
    dict_deinit(&a, NULL);
    dict_deinit(&b, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_finds_what_was_added_and_forgets_what_was_deleted),
        cmocka_unit_test(test_dict_iteration_tolerates_deleting_the_current_entry),
        cmocka_unit_test(test_dict_shrink_gives_back_the_table_of_a_flood),
        cmocka_unit_test(test_dict_shrink_keeps_a_table_that_is_still_used),
        cmocka_unit_test(test_dict_grows_at_load_one_by_doubling_and_keeps_every_entry),
        cmocka_unit_test(test_dict_keys_are_copied_bytes_of_their_own_length),
        cmocka_unit_test(test_dict_iteration_visits_every_entry_exactly_once),
        cmocka_unit_test(test_dict_deleting_some_current_entries_keeps_the_rest_in_the_walk),
        cmocka_unit_test(test_dict_deinit_frees_each_value_once),
        cmocka_unit_test(test_dict_shrink_stops_at_16_buckets),
        cmocka_unit_test(test_dict_tables_hash_under_different_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
