/* Unit tests for common/mpwrite.h: every msgpack writer picks the smallest
 * format at each size class boundary, with the exact header bytes of the
 * spec, and writes what msgpack-c's packer writes for the same value. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/mpcheck.h"
#include "common/mpwrite.h"

static struct buf B;
static msgpack_sbuffer SB;
static msgpack_packer PK;

static int reset(void **state)
{
    (void)state;
    buf_init(&B);
    msgpack_sbuffer_init(&SB);
    msgpack_packer_init(&PK, &SB, msgpack_sbuffer_write);
    return 0;
}

static int release(void **state)
{
    (void)state;
    buf_deinit(&B);
    msgpack_sbuffer_destroy(&SB);
    return 0;
}

#define L(lit) (sizeof(lit) - 1)

/* B starts with the n bytes at p and holds `total` bytes in all. */
static void assert_head(const void *p, size_t n, size_t total)
{
    assert_int_equal(buf_readable(&B), total);
    assert_memory_equal(buf_head(&B), p, n);
}
#define assert_out(lit) assert_head((lit), L(lit), L(lit))

/* B and msgpack-c's output are the same bytes; both are then emptied. */
static void assert_same_as_msgpack_c(void)
{
    assert_int_equal(buf_readable(&B), SB.size);
    assert_memory_equal(buf_head(&B), SB.data, SB.size);
    buf_reset(&B);
    msgpack_sbuffer_clear(&SB);
}

static void test_mp_write_uint_uses_the_smallest_format(void **state)
{
    (void)state;
    mp_write_uint(&B, 0);
    assert_out("\x00");
    buf_reset(&B);
    mp_write_uint(&B, 127);
    assert_out("\x7f");
    buf_reset(&B);
    mp_write_uint(&B, 128);
    assert_out("\xcc\x80");
    buf_reset(&B);
    mp_write_uint(&B, 255);
    assert_out("\xcc\xff");
    buf_reset(&B);
    mp_write_uint(&B, 256);
    assert_out("\xcd\x01\x00");
    buf_reset(&B);
    mp_write_uint(&B, 65535);
    assert_out("\xcd\xff\xff");
    buf_reset(&B);
    mp_write_uint(&B, 65536);
    assert_out("\xce\x00\x01\x00\x00");
    buf_reset(&B);
    mp_write_uint(&B, UINT32_MAX);
    assert_out("\xce\xff\xff\xff\xff");
    buf_reset(&B);
    mp_write_uint(&B, (uint64_t)UINT32_MAX + 1);
    assert_out("\xcf\x00\x00\x00\x01\x00\x00\x00\x00");
    buf_reset(&B);
    mp_write_uint(&B, UINT64_MAX);
    assert_out("\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
}

static void test_mp_write_int_uses_the_smallest_format(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        {-1, "\xff", 1},
        {-32, "\xe0", 1},
        {-33, "\xd0\xdf", 2},
        {INT8_MIN, "\xd0\x80", 2},
        {INT8_MIN - 1, "\xd1\xff\x7f", 3},
        {INT16_MIN, "\xd1\x80\x00", 3},
        {INT16_MIN - 1, "\xd2\xff\xff\x7f\xff", 5},
        {INT32_MIN, "\xd2\x80\x00\x00\x00", 5},
        {(int64_t)INT32_MIN - 1, "\xd3\xff\xff\xff\xff\x7f\xff\xff\xff", 9},
        {INT64_MIN, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9},
        /* From 0 up: the unsigned formats, as msgpack-c writes them. */
        {0, "\x00", 1},
        {127, "\x7f", 1},
        {128, "\xcc\x80", 2},
        {INT16_MAX, "\xcd\x7f\xff", 3},
        {INT32_MAX, "\xce\x7f\xff\xff\xff", 5},
        {INT64_MAX, "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&B);
        mp_write_int(&B, cases[i].v);
        assert_head(cases[i].bytes, cases[i].n, cases[i].n);
    }
}

static void test_mp_write_integers_match_msgpack_c_around_every_boundary(void **state)
{
    (void)state;
    static const int64_t edges[] = {0,      -32,       128,       256,        -128,      65536,
                                    -32768, INT32_MAX, INT32_MIN, UINT32_MAX, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (int64_t d = -2; d <= 2; d++) {
            int64_t v;
            if (__builtin_add_overflow(edges[i], d, &v))
                continue;
            mp_write_int(&B, v);
            msgpack_pack_int64(&PK, v);
            assert_same_as_msgpack_c();
            if (v <= INT32_MAX && v >= INT32_MIN) {
                mp_write_int(&B, (int)v);
                msgpack_pack_int(&PK, (int)v);
                assert_same_as_msgpack_c();
            }
            mp_write_uint(&B, (uint64_t)v);
            msgpack_pack_uint64(&PK, (uint64_t)v);
            assert_same_as_msgpack_c();
        }
    }
}

static void test_mp_write_nil_bool_and_double(void **state)
{
    (void)state;
    mp_write_nil(&B);
    mp_write_bool(&B, 0);
    mp_write_bool(&B, 1);
    mp_write_bool(&B, 42); /* any non-zero is true */
    assert_out("\xc0\xc2\xc3\xc3");
    buf_reset(&B);
    mp_write_double(&B, 1.0);
    assert_out("\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00");
    buf_reset(&B);
    static const double ds[] = {0.1, -0.0, 1e300, -2.5e-8, 5e-324};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        mp_write_double(&B, ds[i]);
        msgpack_pack_double(&PK, ds[i]);
        assert_same_as_msgpack_c();
    }
    mp_write_double(&B, INFINITY);
    msgpack_pack_double(&PK, INFINITY);
    assert_same_as_msgpack_c();
    mp_write_double(&B, NAN); /* the bits go through as they are */
    msgpack_pack_double(&PK, NAN);
    assert_same_as_msgpack_c();
}

/* Sizes on each side of every header boundary of str and bin. */
static const size_t LENS[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};

static void test_mp_write_str_header_grows_at_32_256_and_65536(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *head;
        size_t hn;
    } cases[] = {
        {0, "\xa0", 1},
        {31, "\xbf", 1},
        {32, "\xd9\x20", 2},
        {255, "\xd9\xff", 2},
        {256, "\xda\x01\x00", 3},
        {65535, "\xda\xff\xff", 3},
        {65536, "\xdb\x00\x01\x00\x00", 5},
    };
    char *body = malloc(70000);
    memset(body, 's', 70000);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].n;
        buf_reset(&B);
        mp_write_str(&B, body, n);
        assert_head(cases[i].head, cases[i].hn, cases[i].hn + n);
        assert_memory_equal(buf_head(&B) + cases[i].hn, body, n);
        /* mp_write_str_size, which budgets rely on, tells the same size. */
        assert_int_equal(mp_write_str_size(n), buf_readable(&B));
    }
    buf_reset(&B);
    for (size_t i = 0; i < sizeof LENS / sizeof LENS[0]; i++) {
        mp_write_str(&B, body, LENS[i]);
        msgpack_pack_str_with_body(&PK, body, LENS[i]);
        assert_same_as_msgpack_c();
    }
    mp_write_str(&B, NULL, 0); /* no body to read */
    assert_out("\xa0");
    free(body);
}

static void test_mp_write_bin_header_grows_at_256_and_65536(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *head;
        size_t hn;
    } cases[] = {
        {0, "\xc4\x00", 2},
        {255, "\xc4\xff", 2},
        {256, "\xc5\x01\x00", 3},
        {65535, "\xc5\xff\xff", 3},
        {65536, "\xc6\x00\x01\x00\x00", 5},
    };
    uint8_t *body = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        body[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&B);
        mp_write_bin(&B, body, cases[i].n);
        assert_head(cases[i].head, cases[i].hn, cases[i].hn + cases[i].n);
        assert_memory_equal(buf_head(&B) + cases[i].hn, body, cases[i].n);
    }
    buf_reset(&B);
    for (size_t i = 0; i < sizeof LENS / sizeof LENS[0]; i++) {
        mp_write_bin(&B, body, LENS[i]);
        msgpack_pack_bin_with_body(&PK, body, LENS[i]);
        assert_same_as_msgpack_c();
    }
    free(body);
}

static void test_mp_write_array_and_map_headers_grow_at_16_and_65536(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *arr, *map;
        size_t hn;
    } cases[] = {
        {0, "\x90", "\x80", 1},
        {15, "\x9f", "\x8f", 1},
        {16, "\xdc\x00\x10", "\xde\x00\x10", 3},
        {65535, "\xdc\xff\xff", "\xde\xff\xff", 3},
        {65536, "\xdd\x00\x01\x00\x00", "\xdf\x00\x01\x00\x00", 5},
        {UINT32_MAX, "\xdd\xff\xff\xff\xff", "\xdf\xff\xff\xff\xff", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&B);
        mp_write_array(&B, cases[i].n);
        assert_head(cases[i].arr, cases[i].hn, cases[i].hn);
        buf_reset(&B);
        mp_write_map(&B, cases[i].n);
        assert_head(cases[i].map, cases[i].hn, cases[i].hn);
        buf_reset(&B);
        mp_write_array(&B, cases[i].n);
        msgpack_pack_array(&PK, cases[i].n);
        assert_same_as_msgpack_c();
        mp_write_map(&B, cases[i].n);
        msgpack_pack_map(&PK, cases[i].n);
        assert_same_as_msgpack_c();
    }
}

static void test_mp_write_builds_one_valid_object_after_existing_bytes(void **state)
{
    (void)state;
    /* A consumed head (off > 0) and a small buffer that has to grow: the
     * writers append at the tail and keep what was there. */
    BUF_APPEND_LIT(&B, "junk\x01");
    buf_consume(&B, 4);
    mp_write_map(&B, 3);
    mp_write_str(&B, "n", 1);
    mp_write_int(&B, -129);
    mp_write_str(&B, "a", 1);
    mp_write_array(&B, 17);
    for (int i = 0; i < 17; i++)
        mp_write_uint(&B, (uint64_t)1 << (i * 3));
    mp_write_str(&B, "b", 1);
    mp_write_bin(&B, "\x00\xff", 2);
    assert_int_equal(buf_head(&B)[0], 0x01);
    assert_int_equal(mp_check(buf_head(&B) + 1, buf_readable(&B) - 1, MP_MAX_DEPTH), 0);

    msgpack_pack_map(&PK, 3);
    msgpack_pack_str_with_body(&PK, "n", 1);
    msgpack_pack_int64(&PK, -129);
    msgpack_pack_str_with_body(&PK, "a", 1);
    msgpack_pack_array(&PK, 17);
    for (int i = 0; i < 17; i++)
        msgpack_pack_uint64(&PK, (uint64_t)1 << (i * 3));
    msgpack_pack_str_with_body(&PK, "b", 1);
    msgpack_pack_bin_with_body(&PK, "\x00\xff", 2);
    buf_consume(&B, 1);
    assert_same_as_msgpack_c();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mp_write_uint_uses_the_smallest_format, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_mp_write_int_uses_the_smallest_format, reset, release),
        cmocka_unit_test_setup_teardown(
            test_mp_write_integers_match_msgpack_c_around_every_boundary, reset, release),
        cmocka_unit_test_setup_teardown(test_mp_write_nil_bool_and_double, reset, release),
        cmocka_unit_test_setup_teardown(test_mp_write_str_header_grows_at_32_256_and_65536, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_mp_write_bin_header_grows_at_256_and_65536, reset,
                                        release),
        cmocka_unit_test_setup_teardown(test_mp_write_array_and_map_headers_grow_at_16_and_65536,
                                        reset, release),
        cmocka_unit_test_setup_teardown(test_mp_write_builds_one_valid_object_after_existing_bytes,
                                        reset, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
