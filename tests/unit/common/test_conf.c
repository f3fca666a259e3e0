/* Unit tests for common/conf.c's value types: byte sizes with binary
 * suffixes and their range. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/conf.h"

static void test_conf_bytes_take_binary_suffixes_within_range(void **state)
{
    long v = 0;
    char err[256];
    struct conf_opt o = {"history_bytes", CONF_BYTES, &v, NULL, 0, 1L << 40, ""};
    assert_int_equal(conf_set(&o, "64MiB", err, sizeof err), 0);
    assert_int_equal(v, 64L << 20);
    assert_int_equal(conf_set(&o, "1GiB", err, sizeof err), 0);
    assert_int_equal(v, 1L << 30);
    assert_int_equal(conf_set(&o, "4096", err, sizeof err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(conf_set(&o, "3KiB", err, sizeof err), 0);
    assert_int_equal(v, 3072);
    static const char *const bad[] = {"64MB", "64 MiB", "-1", "x", "", "1.5GiB", "2TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(conf_set(&o, bad[i], err, sizeof err), -1);
        assert_int_equal(v, 7); /* unchanged */
    }
    assert_non_null(strstr(err, "out of range")); /* 2TiB is above 1TiB */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_bytes_take_binary_suffixes_within_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
