/* Unit tests for common/hooksign.c: the signature matches HMAC-SHA256 over
 * "<t>.<body>" as Python's hmac module computes it (the expected hex below
 * came from `/usr/bin/python3 -c 'import hmac,hashlib; print(hmac.new(key,
 * b"<t>." + body, hashlib.sha256).hexdigest())'`), the header reads
 * "t=<t>,v1=<hex>", and a short output buffer is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hooksign.h"

#define L(lit) (sizeof(lit) - 1)

static const char SECRET[] = "whsec_test";
static const char BODY[] = "{\"event\":\"connect\",\"conn\":\"edge-a:1:18d84800:1\"}";

static void test_hooksign_hex_matches_python_hmac(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(hooksign_hex(SECRET, L(SECRET), 1700000000, BODY, L(BODY), hex), 0);
    assert_string_equal(hex, "cb36dec514c9370d418537e14c7d1338c9aab666c5d992203cdb2105c918a5a4");
}

static void test_hooksign_hex_covers_empty_body_empty_key_and_binary(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(hooksign_hex("k", 1, 0, NULL, 0, hex), 0);
    assert_string_equal(hex, "6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
    assert_int_equal(hooksign_hex("", 0, 42, "x", 1, hex), 0);
    assert_string_equal(hex, "f53f069b0ec84b7c707788b9056585cb7eb0a6622a75acafc1b1a844adbb9297");
    uint8_t key[100];
    for (int i = 0; i < 100; i++)
        key[i] = (uint8_t)i;
    const uint8_t body[] = {0, 1, 2, 255};
    assert_int_equal(hooksign_hex(key, sizeof key, UINT64_MAX, body, sizeof body, hex), 0);
    assert_string_equal(hex, "d2174882b275f033005b3e1bfef0c98cfeb79583304185b85445ccfaaf4ca453");
}

static void test_hooksign_timestamp_is_signed(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(hooksign_hex(SECRET, L(SECRET), 1700000001, BODY, L(BODY), hex), 0);
    assert_string_equal(hex, "8a2c66a6d26c27b50c34a7ec4e0bddbed18e9798e499fdb361b93622217fb5e3");
}

static void test_hooksign_header_reads_t_then_v1(void **state)
{
    (void)state;
    char out[HOOKSIGN_HEADER_MAX];
    static const char want[] =
        "t=1700000000,v1=cb36dec514c9370d418537e14c7d1338c9aab666c5d992203cdb2105c918a5a4";
    int n = hooksign_header(SECRET, L(SECRET), 1700000000, BODY, L(BODY), out, sizeof out);
    assert_int_equal(n, L(want));
    assert_string_equal(out, want);
}

static void test_hooksign_header_max_fits_the_largest_timestamp(void **state)
{
    (void)state;
    char out[HOOKSIGN_HEADER_MAX];
    int n = hooksign_header("k", 1, UINT64_MAX, "b", 1, out, sizeof out);
    assert_int_equal(n, HOOKSIGN_HEADER_MAX - 1);
    assert_int_equal(strlen(out), HOOKSIGN_HEADER_MAX - 1);
    assert_memory_equal(out, "t=18446744073709551615,v1=", 26);
}

static void test_hooksign_header_refuses_a_short_buffer(void **state)
{
    (void)state;
    char out[HOOKSIGN_HEADER_MAX];
    /* Exactly one byte short of the value plus its NUL. */
    size_t need = L("t=1700000000,v1=") + 64 + 1;
    memset(out, 'x', sizeof out);
    assert_int_equal(hooksign_header(SECRET, L(SECRET), 1700000000, BODY, L(BODY), out, need - 1),
                     -1);
    assert_string_equal(out, "");
    assert_int_equal(hooksign_header(SECRET, L(SECRET), 1700000000, BODY, L(BODY), out, need),
                     (int)need - 1);
    assert_int_equal(hooksign_header(SECRET, L(SECRET), 1700000000, BODY, L(BODY), NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooksign_hex_matches_python_hmac),
        cmocka_unit_test(test_hooksign_hex_covers_empty_body_empty_key_and_binary),
        cmocka_unit_test(test_hooksign_timestamp_is_signed),
        cmocka_unit_test(test_hooksign_header_reads_t_then_v1),
        cmocka_unit_test(test_hooksign_header_max_fits_the_largest_timestamp),
        cmocka_unit_test(test_hooksign_header_refuses_a_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
