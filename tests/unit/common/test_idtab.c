/* Unit tests for common/idtab.c: add, get, delete by the id inside each
 * entry, growth and shrinking, tombstones reused without losing entries
 * behind them, and iteration that visits every live entry once and
 * tolerates deleting the current one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "common/idtab.h"

struct item {
    int payload;
    uint64_t id;
};

static struct item *items(int n)
{
    struct item *v = calloc((size_t)n, sizeof *v);
    for (int i = 0; i < n; i++) {
        v[i].id = (uint64_t)i + 1;
        v[i].payload = i;
    }
    return v;
}

static void test_idtab_finds_what_was_added_and_forgets_what_was_deleted(void **state)
{
    struct idtab t;
    idtab_init(&t, offsetof(struct item, id));
    assert_null(idtab_get(&t, 1)); /* empty, no array yet */
    struct item *v = items(5000);
    for (int i = 0; i < 5000; i++)
        idtab_add(&t, &v[i]);
    assert_int_equal(t.count, 5000);
    assert_true(t.cap >= 5000 * 4 / 3 && t.cap <= 4 * 5000);
    for (int i = 0; i < 5000; i++)
        assert_ptr_equal(idtab_get(&t, v[i].id), &v[i]);
    assert_null(idtab_get(&t, 0));
    assert_null(idtab_get(&t, 5001));
    idtab_delete(&t, &v[7]);
    assert_null(idtab_get(&t, v[7].id));
    idtab_delete(&t, &v[7]); /* not there: nothing happens */
    assert_int_equal(t.count, 4999);
    /* Entries that probed past the deleted slot are still found. */
    for (int i = 0; i < 5000; i++)
        if (i != 7)
            assert_ptr_equal(idtab_get(&t, v[i].id), &v[i]);
    idtab_deinit(&t);
    free(v);
}

static void test_idtab_churn_reuses_tombstones_and_shrinks(void **state)
{
    struct idtab t;
    idtab_init(&t, offsetof(struct item, id));
    struct item *v = items(20000);
    /* A sliding window of 100 live entries over 20,000 ids: tombstones
     * must not fill the array, and it must not grow with the ids. */
    for (int i = 0; i < 20000; i++) {
        idtab_add(&t, &v[i]);
        if (i >= 100)
            idtab_delete(&t, &v[i - 100]);
        assert_true(t.used * 4 <= t.cap * 3);
    }
    assert_int_equal(t.count, 100);
    assert_true(t.cap <= 1024);
    for (int i = 19900; i < 20000; i++)
        assert_ptr_equal(idtab_get(&t, v[i].id), &v[i]);
    assert_null(idtab_get(&t, v[19899].id));
    /* Emptied, then one add: the array shrinks to its minimum. */
    for (int i = 19900; i < 20000; i++)
        idtab_delete(&t, &v[i]);
    assert_int_equal(t.count, 0);
    idtab_add(&t, &v[0]);
    assert_int_equal(t.cap, 16);
    assert_ptr_equal(idtab_get(&t, v[0].id), &v[0]);
    idtab_deinit(&t);
    free(v);
}

static void test_idtab_iteration_visits_each_once_and_tolerates_deleting(void **state)
{
    struct idtab t;
    idtab_init(&t, offsetof(struct item, id));
    struct item *v = items(3000);
    for (int i = 0; i < 3000; i++)
        idtab_add(&t, &v[i]);
    int *seen = calloc(3000, sizeof *seen);
    struct item *p;
    for (size_t i = 0; (p = idtab_next(&t, &i));) {
        seen[p->payload]++;
        if (p->payload % 2)
            idtab_delete(&t, p);
    }
    for (int i = 0; i < 3000; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(t.count, 1500);
    int left = 0;
    for (size_t i = 0; (p = idtab_next(&t, &i));) {
        assert_int_equal(p->payload % 2, 0);
        left++;
    }
    assert_int_equal(left, 1500);
    free(seen);
    idtab_deinit(&t);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idtab_finds_what_was_added_and_forgets_what_was_deleted),
        cmocka_unit_test(test_idtab_churn_reuses_tombstones_and_shrinks),
        cmocka_unit_test(test_idtab_iteration_visits_each_once_and_tolerates_deleting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
