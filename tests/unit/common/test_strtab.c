/* Unit tests for common/strtab.c: objects found by the name inside them,
 * growth at load 1 and shrinking, removal that leaves the others in place,
 * iteration that visits each once and tolerates removing the current one,
 * and names that are bytes of their own length. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strtab.h"

struct thing {
    int id;
    struct strnode node; /* last: the name follows */
};

static struct thing *thing_add(struct strtab *t, int id, const char *name, size_t len)
{
    struct thing *x = calloc(1, sizeof *x + strtab_name_room(len));
    x->id = id;
    strtab_add(t, &x->node, name, len);
    return x;
}

static int key(char *out, size_t n, int i)
{
    return snprintf(out, n, "user.%d", i);
}

static void test_strtab_finds_by_the_name_inside_and_forgets_removed_ones(void **state)
{
    struct strtab t;
    strtab_init(&t);
    assert_null(strtab_find(&t, "x", 1)); /* empty: no buckets yet */
    char k[32];
    struct thing *v[2000];
    for (int i = 0; i < 2000; i++)
        v[i] = thing_add(&t, i, k, (size_t)key(k, sizeof k, i));
    assert_int_equal(t.count, 2000);
    assert_true(t.size >= 2000 && t.size <= 4096);
    for (int i = 0; i < 2000; i++) {
        int n = key(k, sizeof k, i);
        struct thing *x = strtab_get(&t, k, (size_t)n, struct thing, node);
        assert_ptr_equal(x, v[i]);
        assert_string_equal(x->node.name, k); /* NUL-terminated copy */
    }
    assert_null(strtab_find(&t, "user.2000", 9));
    assert_null(strtab_find(&t, "user.1", 5)); /* a prefix is another name */
    strtab_remove(&t, &v[7]->node);
    assert_null(strtab_find(&t, "user.7", 6));
    assert_ptr_equal(strtab_get(&t, "user.8", 6, struct thing, node), v[8]);
    free(v[7]);
    for (int i = 0; i < 2000; i++)
        if (i != 7) {
            strtab_remove(&t, &v[i]->node);
            free(v[i]);
        }
    assert_int_equal(t.count, 0);
    strtab_shrink(&t);
    assert_int_equal(t.size, 0);
    strtab_deinit(&t);
}

static void test_strtab_names_are_bytes_of_their_own_length(void **state)
{
    struct strtab t;
    strtab_init(&t);
    struct thing *a = thing_add(&t, 1, "a\0b", 3);
    struct thing *b = thing_add(&t, 2, "a", 1);
    struct thing *e = thing_add(&t, 3, "", 0);
    assert_ptr_equal(strtab_get(&t, "a\0b", 3, struct thing, node), a);
    assert_ptr_equal(strtab_get(&t, "a", 1, struct thing, node), b);
    assert_ptr_equal(strtab_get(&t, "", 0, struct thing, node), e);
    assert_int_equal(a->node.len, 3);
    struct strtab_iter it;
    strtab_iter_init(&it, &t);
    for (struct strnode *n; (n = strtab_next(&it));)
        free(container_of(n, struct thing, node)); /* freeing the current one is safe */
    strtab_deinit(&t);
}

static void test_strtab_iteration_visits_each_once_and_tolerates_removing(void **state)
{
    struct strtab t;
    strtab_init(&t);
    char k[32];
    for (int i = 0; i < 1000; i++)
        thing_add(&t, i, k, (size_t)key(k, sizeof k, i));
    int seen[1000] = {0};
    struct strtab_iter it;
    strtab_iter_init(&it, &t);
    for (struct strnode *n; (n = strtab_next(&it));) {
        struct thing *x = container_of(n, struct thing, node);
        seen[x->id]++;
        if (x->id % 3 == 0) {
            strtab_remove(&t, n);
            free(x);
        }
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(t.count, 1000 - 334);
    /* A table a quarter full or less halves, and keeps every node. */
    strtab_iter_init(&it, &t);
    for (struct strnode *n; (n = strtab_next(&it));) {
        struct thing *x = container_of(n, struct thing, node);
        if (x->id > 100) {
            strtab_remove(&t, n);
            free(x);
        }
    }
    size_t before = t.size;
    strtab_shrink(&t);
    assert_true(t.size < before);
    for (int i = 1; i <= 100; i++) {
        int n = key(k, sizeof k, i);
        struct thing *x = strtab_get(&t, k, (size_t)n, struct thing, node);
        if (i % 3 == 0)
            assert_null(x);
        else
            assert_int_equal(x->id, i);
    }
    strtab_iter_init(&it, &t);
    for (struct strnode *n; (n = strtab_next(&it));)
        free(container_of(n, struct thing, node));
    strtab_deinit(&t);
}

static void test_strtab_tables_hash_under_different_keys(void **state)
{
    struct strtab a, b;
    strtab_init(&a);
    strtab_init(&b);
    assert_true(a.k0 != b.k0 || a.k1 != b.k1);
}

/* The hash a prefetcher computes ahead is the one lookups use, across a
 * rehash; a lookup given a wrong one finds nothing rather than another
 * name's node. */
static void test_strtab_lookup_with_a_hash_from_before(void **state)
{
    struct strtab t;
    strtab_init(&t);
    assert_null(strtab_bucket(&t, strtab_hash(&t, "x", 1))); /* no buckets yet */
    strtab_prefetch(&t, 1);                                  /* nor a fault */
    assert_null(strtab_find_hashed(&t, "x", 1, 1));
    char k[32];
    int n = key(k, sizeof k, 3);
    uint32_t h3 = strtab_hash(&t, k, (size_t)n);
    struct thing *v[1000];
    for (int i = 0; i < 1000; i++) /* grows several times */
        v[i] = thing_add(&t, i, k, (size_t)key(k, sizeof k, i));
    n = key(k, sizeof k, 3);
    assert_int_equal(v[3]->node.hash, h3);
    assert_ptr_equal(strtab_find_hashed(&t, k, (size_t)n, h3), &v[3]->node);
    struct strnode *b = strtab_bucket(&t, h3);
    while (b && b->hash != h3)
        b = b->next;
    assert_ptr_equal(b, &v[3]->node);
    /* Another name's hash: that name's node is not an answer for this one. */
    assert_null(strtab_find_hashed(&t, k, (size_t)n, v[4]->node.hash));
    assert_null(strtab_find_hashed(&t, "user.4", 6, h3));
    for (int i = 0; i < 1000; i++) {
        strtab_remove(&t, &v[i]->node);
        free(v[i]);
    }
    strtab_deinit(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_finds_by_the_name_inside_and_forgets_removed_ones),
        cmocka_unit_test(test_strtab_names_are_bytes_of_their_own_length),
        cmocka_unit_test(test_strtab_iteration_visits_each_once_and_tolerates_removing),
        cmocka_unit_test(test_strtab_tables_hash_under_different_keys),
        cmocka_unit_test(test_strtab_lookup_with_a_hash_from_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
