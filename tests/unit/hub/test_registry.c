/* Unit tests for hub/registry.c: one link per (edge name, worker), and only
 * its holder unregisters it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hub/registry.h"

#define N(s) s, strlen(s)

static void test_registry_holds_one_link_per_name_and_worker(void **state)
{
    struct registry *r = registry_new();
    assert_int_equal(registry_add(r, N("e"), 0, (void *)1), 0);
    assert_int_equal(registry_add(r, N("e"), 1, (void *)2), 0);
    assert_int_equal(registry_add(r, N("e"), 0, (void *)3), -1); /* taken */
    assert_ptr_equal(registry_find(r, N("e"), 1), (void *)2);
    assert_null(registry_find(r, N("e"), 2));
    assert_null(registry_find(r, N("f"), 0));
    registry_remove(r, N("e"), 0, (void *)3); /* not its holder: nothing */
    assert_ptr_equal(registry_find(r, N("e"), 0), (void *)1);
    registry_remove(r, N("e"), 0, (void *)1);
    assert_null(registry_find(r, N("e"), 0));
    assert_int_equal(registry_count(r), 1);
    char long_name[REGISTRY_MAX_NAME + 2];
    memset(long_name, 'a', sizeof long_name);
    assert_int_equal(registry_add(r, long_name, sizeof long_name, 0, (void *)4), -1);
    registry_free(r); /* with an entry still in it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_holds_one_link_per_name_and_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
