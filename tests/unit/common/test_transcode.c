/* Unit tests for common/transcode.c: payload conversion between JSON and
 * msgpack in both directions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/mpcheck.h"
#include "common/msg.h"

/* A render budget no test payload here comes near, unless it says so. */
#define BUDGET ((size_t)1 << 20)

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

#define U8(lit) ((const uint8_t *)(lit))

/* msgpack bytes -> JSON text, compared with `want`; resets B. */
static void check_to_json(const void *mp, size_t len, const char *want)
{
    buf_reset(&B);
    assert_int_equal(transcode_msgpack_to_json(mp, len, BUDGET, &B), 0);
    buf_append_u8(&B, 0);
    assert_string_equal((const char *)buf_head(&B), want);
    buf_reset(&B);
}

/* Packs what PK has written so far and checks its JSON form. */
static void check_sb_to_json(const char *want)
{
    check_to_json(SB.data, SB.size, want);
    msgpack_sbuffer_clear(&SB);
}

/* JSON text -> msgpack bytes, compared with the bytes `want`. */
static void check_to_mp(const char *json, const void *want, size_t want_len)
{
    buf_reset(&B);
    assert_int_equal(transcode_json_to_msgpack(U8(json), strlen(json), BUDGET, &B), 0);
    assert_int_equal(buf_readable(&B), want_len);
    assert_memory_equal(buf_head(&B), want, want_len);
    buf_reset(&B);
}

/* ---- msgpack -> JSON */

static void test_transcode_to_json_scalars(void **state)
{
    (void)state;
    check_to_json("\xc0", 1, "null");
    check_to_json("\xc2", 1, "false");
    check_to_json("\xc3", 1, "true");
    check_to_json("\x00", 1, "0");
    check_to_json("\x7f", 1, "127");
    check_to_json("\xff", 1, "-1");
    check_to_json("\xe0", 1, "-32");
    check_to_json("\xcc\xff", 2, "255");
    check_to_json("\xcd\xff\xff", 3, "65535");
    check_to_json("\xce\xff\xff\xff\xff", 5, "4294967295");
    check_to_json("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, "18446744073709551615");
    check_to_json("\xd0\x80", 2, "-128");
    check_to_json("\xd0\x7f", 2, "127");
    check_to_json("\xd1\x80\x00", 3, "-32768");
    check_to_json("\xd2\x80\x00\x00\x00", 5, "-2147483648");
    check_to_json("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, "-9223372036854775808");
    check_to_json("\xd3\x00\x20\x00\x00\x00\x00\x00\x01", 9, "9007199254740993");
}

static void test_transcode_to_json_formats_floats_shortest_exact(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {1.0, "1.0"}, /* stays a real, and valid JSON */
        {-2.0, "-2.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.5, "1.5"},
        {1e300, "1e+300"},
        {1e21, "1e+21"},
        {123456789012345680.0, "1.2345678901234568e+17"},
        {5e-324, "4.94065645841247e-324"}, /* 15 digits suffice to read back */
        {2.5e-8, "2.5e-8"},                /* no zero padding in the exponent */
        {0.30000000000000004, "0.30000000000000004"},
        {3.141592653589793, "3.141592653589793"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_pack_double(&PK, cases[i].d);
        check_sb_to_json(cases[i].want);
    }
    /* Every printed value reads back to the same double. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, 8);
        if (!isfinite(d))
            continue;
        msgpack_pack_double(&PK, d);
        assert_int_equal(transcode_msgpack_to_json(U8(SB.data), SB.size, BUDGET, &B), 0);
        buf_append_u8(&B, 0);
        assert_true(strtod((const char *)buf_head(&B), NULL) == d);
        buf_reset(&B);
        msgpack_sbuffer_clear(&SB);
    }
}

static void test_transcode_to_json_formats_float32_shortest(void **state)
{
    (void)state;
    msgpack_pack_float(&PK, 0.1f);
    check_sb_to_json("0.1");
    msgpack_pack_float(&PK, 16777216.0f);
    check_sb_to_json("16777216.0");
    msgpack_pack_float(&PK, 3.4028235e38f);
    check_sb_to_json("3.4028235e+38");
}

static void test_transcode_to_json_turns_nan_and_infinity_into_null(void **state)
{
    (void)state;
    msgpack_pack_array(&PK, 4);
    msgpack_pack_double(&PK, NAN);
    msgpack_pack_double(&PK, INFINITY);
    msgpack_pack_double(&PK, -INFINITY);
    msgpack_pack_float(&PK, NAN);
    check_sb_to_json("[null,null,null,null]");
}

static void test_transcode_to_json_strings(void **state)
{
    (void)state;
    check_to_json("\xa0", 1, "\"\"");
    check_to_json("\xa5h\"i\\\n", 6, "\"h\\\"i\\\\\\n\"");
    check_to_json("\xa3\x00\x01\x7f", 4, "\"\\u0000\\u0001\x7f\"");
    check_to_json("\xd9\x02\xc3\xa9", 4, "\"\xc3\xa9\"");
    check_to_json("\xda\x00\x04\xf0\x9f\x98\x80", 7, "\"\xf0\x9f\x98\x80\"");
    check_to_json("\xdb\x00\x00\x00\x01z", 6, "\"z\"");
}

static void test_transcode_to_json_replaces_invalid_utf8(void **state)
{
    (void)state;
    /* One U+FFFD per maximal ill-formed subpart. */
    check_to_json("\xa1\xff", 2, "\"\xef\xbf\xbd\"");
    check_to_json("\xa3"
                  "a\xc3z",
                  4, "\"a\xef\xbf\xbdz\"");
    check_to_json("\xa3\xe2\x82z", 4, "\"\xef\xbf\xbdz\"");
    check_to_json("\xa2\xc0\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    check_to_json("\xa3\xed\xa0\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_to_json("\xa4\xf4\x90\x80\x80", 5,
                  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_to_json("\xa3\xf0\x9f\x98", 4, "\"\xef\xbf\xbd\"");
}

static void test_transcode_to_json_bin_and_ext_become_base64(void **state)
{
    (void)state;
    check_to_json("\xc4\x00", 2, "\"\"");
    check_to_json("\xc4\x01"
                  "f",
                  3, "\"Zg==\"");
    check_to_json("\xc4\x02"
                  "fo",
                  4, "\"Zm8=\"");
    check_to_json("\xc4\x03"
                  "foo",
                  5, "\"Zm9v\"");
    check_to_json("\xc4\x06"
                  "foobar",
                  8, "\"Zm9vYmFy\"");
    check_to_json("\xc5\x00\x03\xfb\xff\xbf", 6, "\"+/+/\"");
    check_to_json("\xc6\x00\x00\x00\x01\x00", 6, "\"AA==\"");
    /* ext: the payload, without the type byte */
    check_to_json("\xd4\x05"
                  "f",
                  3, "\"Zg==\"");
    check_to_json("\xd5\x05"
                  "fo",
                  4, "\"Zm8=\"");
    check_to_json("\xd6\x05"
                  "foob",
                  6, "\"Zm9vYg==\"");
    check_to_json("\xc7\x03\x05"
                  "foo",
                  6, "\"Zm9v\"");
    check_to_json("\xc8\x00\x00\x05", 4, "\"\"");
    check_to_json("\xc9\x00\x00\x00\x01\xff"
                  "f",
                  7, "\"Zg==\"");
}

static void test_transcode_to_json_containers(void **state)
{
    (void)state;
    check_to_json("\x90", 1, "[]");
    check_to_json("\x80", 1, "{}");
    check_to_json("\x93\x01\xa1x\x90", 5, "[1,\"x\",[]]");
    check_to_json("\x82\xa1"
                  "a\x01\xa1"
                  "b\x81\xa1"
                  "c\xc0",
                  10, "{\"a\":1,\"b\":{\"c\":null}}");
    check_to_json("\xdc\x00\x02\xc2\xc3", 5, "[false,true]");
    check_to_json("\xdd\x00\x00\x00\x01\x05", 6, "[5]");
    check_to_json("\xde\x00\x01\xa1k\x05", 6, "{\"k\":5}");
    check_to_json("\xdf\x00\x00\x00\x01\xa1k\x05", 8, "{\"k\":5}");
}

static void test_transcode_to_json_renders_scalar_keys_as_their_json_text(void **state)
{
    (void)state;
    /* The one defined rendering of non-string keys (docs/protocol.md): nil,
     * booleans, integers and floats become their JSON text as a string;
     * bin and ext their base64 string; str stays itself. */
    msgpack_pack_map(&PK, 14);
    msgpack_pack_int(&PK, 1);
    msgpack_pack_int(&PK, 10);
    msgpack_pack_int(&PK, -2);
    msgpack_pack_int(&PK, 20);
    msgpack_pack_nil(&PK);
    msgpack_pack_int(&PK, 30);
    msgpack_pack_true(&PK);
    msgpack_pack_int(&PK, 40);
    msgpack_pack_false(&PK);
    msgpack_pack_int(&PK, 41);
    msgpack_pack_double(&PK, 1.5);
    msgpack_pack_int(&PK, 50);
    msgpack_pack_float(&PK, 0.1f);
    msgpack_pack_int(&PK, 51);
    msgpack_pack_double(&PK, 2.0);
    msgpack_pack_int(&PK, 52);
    msgpack_pack_double(&PK, NAN);
    msgpack_pack_int(&PK, 53);
    msgpack_pack_uint64(&PK, UINT64_MAX);
    msgpack_pack_int(&PK, 54);
    msgpack_pack_int64(&PK, INT64_MIN);
    msgpack_pack_int(&PK, 55);
    msgpack_pack_bin_with_body(&PK, "\x00\x01", 2); /* already a string: base64 */
    msgpack_pack_int(&PK, 70);
    msgpack_pack_ext_with_body(&PK, "f", 1, 5);
    msgpack_pack_int(&PK, 71);
    msgpack_pack_str_with_body(&PK, "s\"", 2);
    msgpack_pack_int(&PK, 80);
    check_sb_to_json("{\"1\":10,\"-2\":20,\"null\":30,\"true\":40,\"false\":41,\"1.5\":50,"
                     "\"0.1\":51,\"2.0\":52,\"null\":53,\"18446744073709551615\":54,"
                     "\"-9223372036854775808\":55,\"AAE=\":70,\"Zg==\":71,\"s\\\"\":80}");
}

static void test_transcode_to_json_refuses_map_and_array_keys(void **state)
{
    (void)state;
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"\x81\x90\x01", 3}, /* {[]: 1} */
        {"\x81\x80\x01", 3}, /* {{}: 1} */
        {"\x81\x92\x01\xa1"
         "a\x01",
         6},                                           /* {[1,"a"]: 1} */
        {"\x81\xdc\x00\x00\x01", 5},                   /* array16 key */
        {"\x81\xde\x00\x00\x01", 5},                   /* map16 key */
        {"\x92\x01\x81\xa1k\x81\x81\xc0\xc0\xc0", 10}, /* deeper: [1, {"k": {{nil: nil}: nil}}] */
    };
    buf_append_str(&B, "prefix");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mp_check(U8(bad[i].b), bad[i].n, MP_MAX_DEPTH), 0); /* valid msgpack */
        assert_int_equal(transcode_msgpack_to_json(U8(bad[i].b), bad[i].n, BUDGET, &B),
                         MSG_DATA_INVALID);
        assert_int_equal(buf_readable(&B), 6); /* nothing half-written */
    }
    /* A container as a *value* under a scalar key is fine. */
    check_to_json("\x81\x01\x91\x80", 4, "{\"1\":[{}]}");
}

/* The issue-10 payload: fixmaps nested as map keys `depth` deep,
 * {{{...{nil: nil}...: nil}: nil}, 1 + 2 x depth bytes. Rendering each key
 * as the escaped JSON text of the level below doubled the output per level. */
static size_t nested_key_payload(uint8_t *mp, size_t depth)
{
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        mp[n++] = 0x81;
    mp[n++] = 0xc0;
    for (size_t i = 0; i < depth; i++)
        mp[n++] = 0xc0;
    return n;
}

static void test_transcode_to_json_refuses_nested_key_payload_at_once(void **state)
{
    (void)state;
    uint8_t mp[64];
    size_t n = nested_key_payload(mp, 28);
    assert_int_equal(n, 57);
    assert_int_equal(mp_check(mp, n, MP_MAX_DEPTH), 0);
    /* Refused whatever the budget: no JSON form, and nothing rendered (the
     * old rendering wrote more than 2^28 bytes here). */
    assert_int_equal(transcode_msgpack_to_json(mp, n, SIZE_MAX, &B), MSG_DATA_INVALID);
    assert_int_equal(buf_readable(&B), 0);
    assert_true(B.cap <= 4096);
    /* Inside an array, after other values, the same. */
    uint8_t arr[80] = {0x93, 0x01, 0xa1, 'x'};
    size_t m = 4 + nested_key_payload(arr + 4, 28);
    assert_int_equal(transcode_msgpack_to_json(arr, m, SIZE_MAX, &B), MSG_DATA_INVALID);
    assert_int_equal(buf_readable(&B), 0);
}

/* Appends the msgpack map16 header of n entries to SB. */
static void pack_map16(size_t n)
{
    char h[3] = {(char)0xde, (char)(n >> 8), (char)n};
    msgpack_sbuffer_write(&SB, h, 3);
}

/* Renders SB's bytes as JSON and returns the output length (resets B). */
static size_t json_len_of_sb(void)
{
    buf_reset(&B);
    assert_int_equal(transcode_msgpack_to_json(U8(SB.data), SB.size, SIZE_MAX, &B), 0);
    size_t n = buf_readable(&B);
    buf_reset(&B);
    return n;
}

static void test_transcode_to_json_worst_case_ratio_is_7(void **state)
{
    (void)state;
    /* The measured worst case: {false: false, ...} as map16, 2 n + 3 bytes
     * -> 14 n + 1 bytes of JSON, approaching TRANSCODE_JSON_MAX_RATIO = 7. */
    size_t n = 20000;
    pack_map16(n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_false(&PK);
        msgpack_pack_false(&PK);
    }
    size_t in = SB.size, out = json_len_of_sb();
    assert_int_equal(in, 2 * n + 3);
    assert_int_equal(out, 14 * n + 1);
    assert_true(out <= TRANSCODE_JSON_MAX_RATIO * in);
    assert_true(out > (TRANSCODE_JSON_MAX_RATIO - 1) * in);
    msgpack_sbuffer_clear(&SB);

    /* The other expanding shapes stay below it: keys nil / true / -32 /
     * 127 / float32, control characters (6 bytes each), small values. */
    static const char *const shapes[] = {
        "\xc0\xc2",
        "\xc3\xc3",
        "\xe0\xc2",
        "\x7f\xc0",
        "\xca\xff\x7f\xff\xff\xc2",
        "\xca\x80\x80\x00\x00\xc2",
        "\xa1\x01\xa1\x01",
        "\xc2\x90",
        "\xc2\x80",
        "\xd0\x80\xc2",
        "\xcb\x80\x10\x00\x00\x00\x00\x00\x00\xc2",
    };
    static const size_t shape_len[] = {2, 2, 2, 2, 6, 6, 4, 2, 2, 3, 10};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        pack_map16(1000);
        for (size_t i = 0; i < 1000; i++)
            msgpack_sbuffer_write(&SB, shapes[k], shape_len[k]);
        in = SB.size;
        out = json_len_of_sb();
        assert_true(out <= TRANSCODE_JSON_MAX_RATIO * in);
        msgpack_sbuffer_clear(&SB);
    }
    /* A long str of control characters: 6 bytes each, under 7. */
    static char ctl[60000];
    memset(ctl, 0x01, sizeof ctl);
    msgpack_pack_str_with_body(&PK, ctl, sizeof ctl);
    in = SB.size;
    out = json_len_of_sb();
    assert_int_equal(out, 6 * sizeof ctl + 2);
    assert_true(out <= TRANSCODE_JSON_MAX_RATIO * in);
    msgpack_sbuffer_clear(&SB);
    /* Small inputs too: a top-level `false` is 5 bytes for 1. */
    check_to_json("\xc2", 1, "false");
    check_to_json("\x81\xc2\xc2", 3, "{\"false\":false}");
}

static void test_transcode_to_json_stops_at_the_budget(void **state)
{
    (void)state;
    /* ["abc"] renders as 7 bytes: a budget of 7 passes, 6 does not. */
    buf_append_str(&B, "prefix"); /* the budget counts only what is appended */
    assert_int_equal(transcode_msgpack_to_json(U8("\x91\xa3"
                                                  "abc"),
                                               5, 7, &B),
                     MSG_DATA_OK);
    assert_int_equal(buf_readable(&B), 6 + 7);
    assert_int_equal(transcode_msgpack_to_json(U8("\x91\xa3"
                                                  "abc"),
                                               5, 6, &B),
                     MSG_DATA_OVER_BUDGET);
    assert_int_equal(buf_readable(&B), 6 + 7); /* unchanged */
    buf_reset(&B);

    /* Exact edges for each kind of value: scalars, strings, base64, keys. */
    static const struct {
        const char *b;
        size_t n;
        const char *json;
    } cases[] = {
        {"\xc2", 1, "false"},
        {"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, "18446744073709551615"},
        {"\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", 9, "0.1"},
        {"\xa2\x01z", 3, "\"\\u0001z\""},
        {"\xc4\x02\x00\xff", 4, "\"AP8=\""},
        {"\x82\xc0\x01\x05\xa0", 5, "{\"null\":1,\"5\":\"\"}"},
        {"\x92\x80\x90", 3, "[{},[]]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t want = strlen(cases[i].json);
        assert_int_equal(transcode_msgpack_to_json(U8(cases[i].b), cases[i].n, want, &B),
                         MSG_DATA_OK);
        assert_int_equal(buf_readable(&B), want);
        assert_memory_equal(buf_head(&B), cases[i].json, want);
        buf_reset(&B);
        assert_int_equal(transcode_msgpack_to_json(U8(cases[i].b), cases[i].n, want - 1, &B),
                         MSG_DATA_OVER_BUDGET);
        assert_int_equal(buf_readable(&B), 0);
    }
    assert_int_equal(transcode_msgpack_to_json(U8("\xc0"), 1, 0, &B), MSG_DATA_OVER_BUDGET);
}

static void test_transcode_to_json_over_budget_work_is_bounded_by_budget(void **state)
{
    (void)state;
    /* 1 MB of input that would render as ~6 MB: with a 4 KiB budget the
     * walk stops at once and the buffer never grows past a small multiple
     * of the budget. */
    static char ctl[1 << 20];
    memset(ctl, 0x1f, sizeof ctl);
    msgpack_pack_str_with_body(&PK, ctl, sizeof ctl);
    assert_int_equal(transcode_msgpack_to_json(U8(SB.data), SB.size, 4096, &B),
                     MSG_DATA_OVER_BUDGET);
    assert_int_equal(buf_readable(&B), 0);
    assert_true(B.cap <= 2 * 4096 + 64);
    msgpack_sbuffer_clear(&SB);
    /* Many small values: stops within one value of the budget. */
    msgpack_pack_array(&PK, 200000);
    for (int i = 0; i < 200000; i++)
        msgpack_pack_false(&PK);
    assert_int_equal(transcode_msgpack_to_json(U8(SB.data), SB.size, 4096, &B),
                     MSG_DATA_OVER_BUDGET);
    assert_int_equal(buf_readable(&B), 0);
    assert_true(B.cap <= 2 * 4096 + 64);
}

static void test_transcode_to_json_rejects_invalid_msgpack(void **state)
{
    (void)state;
    buf_append_str(&B, "prefix");
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"", 0},
        {"\xc1", 1},
        {"\x01\x02", 2}, /* trailing bytes */
        {"\x92\x01", 2}, /* truncated array */
        {"\xa3"
         "ab",
         3},                         /* truncated str */
        {"\xcb\x00\x00", 3},         /* truncated float */
        {"\xdd\xff\xff\xff\xff", 5}, /* hostile count */
        {"\xdf\x40\x00\x00\x00\x00\x00\x00\x00\x00", 10},
        {"\xc6\xff\xff\xff\xff\x00", 6}, /* hostile bin length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(transcode_msgpack_to_json(U8(bad[i].b), bad[i].n, BUDGET, &B), -1);
        assert_int_equal(buf_readable(&B), 6); /* nothing half-written */
    }
    assert_int_equal(transcode_msgpack_to_json(NULL, 0, BUDGET, &B), -1);
}

static void test_transcode_to_json_limits_nesting(void **state)
{
    (void)state;
    /* MSG_DATA_MAX_DEPTH containers pass, an empty one at the bottom
     * included (it counts, as in mp_check and msgpack-c); one more fails. */
    uint8_t mp[MSG_DATA_MAX_DEPTH + 2];
    for (int depth = MSG_DATA_MAX_DEPTH - 1; depth <= MSG_DATA_MAX_DEPTH; depth++) {
        memset(mp, 0x91, (size_t)depth);
        mp[depth] = 0x90; /* [] */
        int rc = transcode_msgpack_to_json(mp, (size_t)depth + 1, BUDGET, &B);
        assert_int_equal(rc, depth == MSG_DATA_MAX_DEPTH - 1 ? 0 : -1);
        if (rc == 0)
            assert_int_equal(buf_readable(&B), 2 * ((size_t)depth + 1));
        buf_reset(&B);
    }
}

static void test_transcode_to_json_survives_random_bytes(void **state)
{
    (void)state;
    uint32_t x = 7;
    uint8_t mp[48];
    for (int iter = 0; iter < 50000; iter++) {
        size_t n = 1 + iter % sizeof mp;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            mp[i] = (uint8_t)(x >> 24);
        }
        int rc = transcode_msgpack_to_json(mp, n, BUDGET, &B);
        assert_true(rc == 0 || rc == -1);
        buf_reset(&B);
    }
}

/* ---- JSON -> msgpack */

static void test_transcode_to_msgpack_scalars(void **state)
{
    (void)state;
    check_to_mp("null", "\xc0", 1);
    check_to_mp("true", "\xc3", 1);
    check_to_mp("false", "\xc2", 1);
    check_to_mp("0", "\x00", 1);
    check_to_mp("-1", "\xff", 1);
    check_to_mp("300", "\xcd\x01\x2c", 3);
    check_to_mp("-129", "\xd1\xff\x7f", 3);
    check_to_mp("9007199254740993", "\xcf\x00\x20\x00\x00\x00\x00\x00\x01", 9);
    check_to_mp("9223372036854775807", "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9);
    check_to_mp("-9223372036854775808", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9);
    check_to_mp("1.5", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9);
    check_to_mp("1.0", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9); /* a real stays a real */
    check_to_mp("\"h\xc3\xa9\"", "\xa3h\xc3\xa9", 4);
    check_to_mp("\"a\\u0000b\"",
                "\xa3"
                "a\x00"
                "b",
                4);
    check_to_mp(" [ ] ", "\x90", 1);
}

static void test_transcode_to_msgpack_containers_keep_order(void **state)
{
    (void)state;
    check_to_mp("{\"z\":1,\"a\":[true,null,\"s\"],\"m\":{}}",
                "\x83\xa1z\x01\xa1"
                "a\x93\xc3\xc0\xa1s\xa1m\x80",
                14);
}

static void test_transcode_to_msgpack_rejects_invalid_json(void **state)
{
    (void)state;
    static const char *const bad[] = {"",    "{",        "[1,]",      "nul",
                                      "1 2", "\"\xff\"", "{\"a\" 1}", "18446744073709551616"};
    buf_append_str(&B, "prefix");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(transcode_json_to_msgpack(U8(bad[i]), strlen(bad[i]), BUDGET, &B), -1);
        assert_int_equal(buf_readable(&B), 6);
    }
}

static void test_transcode_to_msgpack_limits_nesting(void **state)
{
    (void)state;
    char json[2 * (MSG_DATA_MAX_DEPTH + 2) + 4];
    for (int depth = MSG_DATA_MAX_DEPTH; depth <= MSG_DATA_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            json[n++] = '[';
        json[n++] = '1';
        for (int i = 0; i < depth; i++)
            json[n++] = ']';
        json[n] = '\0';
        int rc = transcode_json_to_msgpack(U8(json), n, BUDGET, &B);
        assert_int_equal(rc, depth == MSG_DATA_MAX_DEPTH ? 0 : -1);
        if (rc == 0) /* what we emit, our own checker accepts */
            assert_int_equal(mp_check(buf_head(&B), buf_readable(&B), MSG_DATA_MAX_DEPTH), 0);
        else
            assert_int_equal(buf_readable(&B), 0);
        buf_reset(&B);
    }
}

static void test_transcode_to_msgpack_stops_at_the_budget(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        size_t mp_len;
    } cases[] = {
        {"0e0", 9}, /* the worst ratio: 3 bytes -> a float64 */
        {"\"abc\"", 4},   {"{\"k\":[1,2.5,null]}", 15},
        {"[\"\",{}]", 3}, {"18446744073709551615", 0}, /* not read by jansson: invalid, not over */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *j = cases[i].json;
        size_t want = cases[i].mp_len;
        if (!want) {
            assert_int_equal(transcode_json_to_msgpack(U8(j), strlen(j), 0, &B), MSG_DATA_INVALID);
            continue;
        }
        assert_int_equal(transcode_json_to_msgpack(U8(j), strlen(j), want, &B), MSG_DATA_OK);
        assert_int_equal(buf_readable(&B), want);
        assert_true(want <= TRANSCODE_MSGPACK_MAX_RATIO * strlen(j));
        buf_reset(&B);
        buf_append_str(&B, "prefix");
        assert_int_equal(transcode_json_to_msgpack(U8(j), strlen(j), want - 1, &B),
                         MSG_DATA_OVER_BUDGET);
        assert_int_equal(buf_readable(&B), 6);
        buf_reset(&B);
    }
    /* A long string is refused before it is copied. */
    static char big[100002];
    memset(big, 'x', sizeof big);
    big[0] = '"';
    big[sizeof big - 1] = '"';
    assert_int_equal(transcode_json_to_msgpack(U8(big), sizeof big, 4096, &B),
                     MSG_DATA_OVER_BUDGET);
    assert_true(B.cap <= 2 * 4096 + 64);
}

/* ---- round trips */

static void test_transcode_round_trips_json_through_msgpack(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "null",
        "true",
        "0",
        "-5",
        "9223372036854775807",
        "-9223372036854775808",
        "0.1",
        "1.0",
        "-2.5e-8",
        "\"\"",
        "\"tab\\tquote\\\"nul\\u0000\xe2\x82\xac\"",
        "[]",
        "{}",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\",\"e\":[[[]]],\"f\":1e+300}",
    };
    struct buf mp = BUF_INIT;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        buf_reset(&mp);
        assert_int_equal(transcode_json_to_msgpack(U8(docs[i]), strlen(docs[i]), BUDGET, &mp), 0);
        assert_int_equal(mp_check(buf_head(&mp), buf_readable(&mp), MP_MAX_DEPTH), 0);
        assert_int_equal(transcode_msgpack_to_json(buf_head(&mp), buf_readable(&mp), BUDGET, &B),
                         0);
        buf_append_u8(&B, 0);
        assert_string_equal((const char *)buf_head(&B), docs[i]);
        buf_reset(&B);
    }
    buf_deinit(&mp);
}

static void test_transcode_round_trips_msgpack_through_json(void **state)
{
    (void)state;
    /* Every type JSON can carry, packed in msgpack's smallest forms (as both
     * msgpack-c and our encoder pack), comes back byte for byte. */
    msgpack_pack_map(&PK, 6);
    msgpack_pack_str_with_body(&PK, "ints", 4);
    msgpack_pack_array(&PK, 6);
    msgpack_pack_int64(&PK, 0);
    msgpack_pack_int64(&PK, -33);
    msgpack_pack_int64(&PK, 65536);
    msgpack_pack_int64(&PK, INT64_MIN);
    msgpack_pack_int64(&PK, INT64_MAX);
    msgpack_pack_int64(&PK, -9007199254740993LL);
    msgpack_pack_str_with_body(&PK, "f", 1);
    msgpack_pack_double(&PK, 0.1);
    msgpack_pack_str_with_body(&PK, "s", 1);
    msgpack_pack_str_with_body(&PK, "x\xc3\xa9\"\\\x01", 6);
    msgpack_pack_str_with_body(&PK, "b", 1);
    msgpack_pack_true(&PK);
    msgpack_pack_str_with_body(&PK, "n", 1);
    msgpack_pack_nil(&PK);
    msgpack_pack_str_with_body(&PK, "deep", 4);
    msgpack_pack_array(&PK, 1);
    msgpack_pack_map(&PK, 0);

    assert_int_equal(transcode_msgpack_to_json(U8(SB.data), SB.size, BUDGET, &B), 0);
    struct buf back = BUF_INIT;
    assert_int_equal(transcode_json_to_msgpack(buf_head(&B), buf_readable(&B), BUDGET, &back), 0);
    assert_int_equal(buf_readable(&back), SB.size);
    assert_memory_equal(buf_head(&back), SB.data, SB.size);
    buf_deinit(&back);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, reset, release)
    const struct CMUnitTest tests[] = {
        T(test_transcode_to_json_scalars),
        T(test_transcode_to_json_formats_floats_shortest_exact),
        T(test_transcode_to_json_formats_float32_shortest),
        T(test_transcode_to_json_turns_nan_and_infinity_into_null),
        T(test_transcode_to_json_strings),
        T(test_transcode_to_json_replaces_invalid_utf8),
        T(test_transcode_to_json_bin_and_ext_become_base64),
        T(test_transcode_to_json_containers),
        T(test_transcode_to_json_renders_scalar_keys_as_their_json_text),
        T(test_transcode_to_json_refuses_map_and_array_keys),
        T(test_transcode_to_json_refuses_nested_key_payload_at_once),
        T(test_transcode_to_json_worst_case_ratio_is_7),
        T(test_transcode_to_json_stops_at_the_budget),
        T(test_transcode_to_json_over_budget_work_is_bounded_by_budget),
        T(test_transcode_to_json_rejects_invalid_msgpack),
        T(test_transcode_to_json_limits_nesting),
        T(test_transcode_to_json_survives_random_bytes),
        T(test_transcode_to_msgpack_scalars),
        T(test_transcode_to_msgpack_containers_keep_order),
        T(test_transcode_to_msgpack_rejects_invalid_json),
        T(test_transcode_to_msgpack_limits_nesting),
        T(test_transcode_to_msgpack_stops_at_the_budget),
        T(test_transcode_round_trips_json_through_msgpack),
        T(test_transcode_round_trips_msgpack_through_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
