/* Unit tests for common/mpcheck.c: the allocation-free msgpack structure check. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/mpcheck.h"

/* One sample per msgpack format family, each a complete object. */
struct sample {
    const char *what;
    const uint8_t *bytes;
    size_t len;
};

#define S(name, ...)                                                                 \
    {                                                                                \
        name, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}) \
    }

static const struct sample samples[] = {
    S("positive fixint", 0x00),
    S("positive fixint max", 0x7f),
    S("negative fixint", 0xe0),
    S("negative fixint -1", 0xff),
    S("nil", 0xc0),
    S("false", 0xc2),
    S("true", 0xc3),
    S("bin8", 0xc4, 0x02, 'a', 'b'),
    S("bin8 empty", 0xc4, 0x00),
    S("bin16", 0xc5, 0x00, 0x01, 'a'),
    S("bin32", 0xc6, 0x00, 0x00, 0x00, 0x02, 'a', 'b'),
    S("ext8", 0xc7, 0x01, 0x05, 'x'),
    S("ext8 empty", 0xc7, 0x00, 0x05),
    S("ext16", 0xc8, 0x00, 0x02, 0x05, 'x', 'y'),
    S("ext32", 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 'x'),
    S("float32", 0xca, 0x3f, 0x80, 0x00, 0x00),
    S("float64", 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
    S("uint8", 0xcc, 0xff),
    S("uint16", 0xcd, 0xff, 0xff),
    S("uint32", 0xce, 0xff, 0xff, 0xff, 0xff),
    S("uint64", 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    S("int8", 0xd0, 0x80),
    S("int16", 0xd1, 0x80, 0x00),
    S("int32", 0xd2, 0x80, 0, 0, 0),
    S("int64", 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0),
    S("fixext1", 0xd4, 0x01, 'a'),
    S("fixext2", 0xd5, 0x01, 'a', 'b'),
    S("fixext4", 0xd6, 0x01, 1, 2, 3, 4),
    S("fixext8", 0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8),
    S("fixext16", 0xd8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    S("fixstr", 0xa3, 'a', 'b', 'c'),
    S("fixstr empty", 0xa0),
    S("str8", 0xd9, 0x01, 'a'),
    S("str16", 0xda, 0x00, 0x02, 'a', 'b'),
    S("str32", 0xdb, 0x00, 0x00, 0x00, 0x01, 'a'),
    S("fixarray", 0x93, 0x01, 0xc0, 0xa1, 'x'),
    S("fixarray empty", 0x90),
    S("array16", 0xdc, 0x00, 0x02, 0x01, 0x02),
    S("array32", 0xdd, 0x00, 0x00, 0x00, 0x01, 0xc3),
    S("fixmap", 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x90),
    S("fixmap empty", 0x80),
    S("map16", 0xde, 0x00, 0x01, 0x01, 0x02),
    S("map32", 0xdf, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xc0),
    S("nested", 0x92, 0x81, 0xa1, 'k', 0x91, 0x90, 0xc4, 0x01, 0xff),
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static void test_mpcheck_accepts_every_format(void **state)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *s = &samples[i];
        if (mp_check(s->bytes, s->len, MP_MAX_DEPTH) != 0)
            fail_msg("rejected %s", s->what);
        assert_int_equal(mp_object_len(s->bytes, s->len, MP_MAX_DEPTH), (long)s->len);
    }
}

static void test_mpcheck_rejects_every_strict_prefix(void **state)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *s = &samples[i];
        for (size_t n = 0; n < s->len; n++) {
            if (mp_check(s->bytes, n, MP_MAX_DEPTH) != -1)
                fail_msg("accepted a %zu-byte prefix of %s", n, s->what);
            assert_int_equal(mp_object_len(s->bytes, n, MP_MAX_DEPTH), -1);
        }
    }
}

static void test_mpcheck_rejects_trailing_bytes_but_object_len_stops_at_object(void **state)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *s = &samples[i];
        uint8_t b[64];
        assert_true(s->len + 1 <= sizeof(b));
        memcpy(b, s->bytes, s->len);
        b[s->len] = 0x00;
        assert_int_equal(mp_check(b, s->len + 1, MP_MAX_DEPTH), -1);
        assert_int_equal(mp_object_len(b, s->len + 1, MP_MAX_DEPTH), (long)s->len);
    }
}

static void test_mpcheck_rejects_reserved_byte_c1(void **state)
{
    static const uint8_t alone[] = {0xc1};
    static const uint8_t in_array[] = {0x92, 0x01, 0xc1};
    static const uint8_t as_map_key[] = {0x81, 0xc1, 0x01};
    assert_int_equal(mp_check(alone, sizeof(alone), MP_MAX_DEPTH), -1);
    assert_int_equal(mp_check(in_array, sizeof(in_array), MP_MAX_DEPTH), -1);
    assert_int_equal(mp_check(as_map_key, sizeof(as_map_key), MP_MAX_DEPTH), -1);
}

static void test_mpcheck_rejects_empty_and_null_input(void **state)
{
    static const uint8_t one[] = {0x01};
    assert_int_equal(mp_check(one, 0, MP_MAX_DEPTH), -1);
    assert_int_equal(mp_check(NULL, 0, MP_MAX_DEPTH), -1);
    assert_int_equal(mp_object_len(NULL, 5, MP_MAX_DEPTH), -1);
}

/* Headers declaring sizes far beyond the bytes given, padded with filler so
 * only the declared size is wrong. */
static void test_mpcheck_rejects_hostile_declared_sizes(void **state)
{
    static const uint8_t heads[][5] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff}, /* array32 of 4G */
        {0xdd, 0x04, 0x00, 0x00, 0x00}, /* array32 of 2^26: 2 GB in msgpack-c */
        {0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32 */
        {0xdb, 0xff, 0xff, 0xff, 0xff}, /* str32 */
        {0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 */
        {0xc9, 0xff, 0xff, 0xff, 0xff}, /* ext32 */
        {0xdc, 0xff, 0xff, 0x00, 0x00}, /* array16 of 65535 */
        {0xde, 0xff, 0xff, 0x00, 0x00}, /* map16 */
        {0xda, 0xff, 0xff, 0x00, 0x00}, /* str16 */
    };
    uint8_t b[1024];
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        memset(b, 0x01, sizeof(b));
        memcpy(b, heads[i], 5);
        assert_int_equal(mp_check(b, sizeof(b), MP_MAX_DEPTH), -1);
        assert_int_equal(mp_object_len(b, sizeof(b), MP_MAX_DEPTH), -1);
    }
}

/* A count equal to the bytes left is possible (all fixints); one more is not. */
static void test_mpcheck_count_must_fit_remaining_bytes(void **state)
{
    uint8_t b[3 + 100];
    b[0] = 0xdc;
    b[1] = 0;
    b[2] = 100;
    memset(b + 3, 0x05, 100);
    assert_int_equal(mp_check(b, sizeof(b), MP_MAX_DEPTH), 0);
    b[2] = 101;
    assert_int_equal(mp_check(b, sizeof(b), MP_MAX_DEPTH), -1);
    /* map16 of 50 entries needs 100 objects. */
    b[0] = 0xde;
    b[2] = 50;
    assert_int_equal(mp_check(b, sizeof(b), MP_MAX_DEPTH), 0);
    b[2] = 51;
    assert_int_equal(mp_check(b, sizeof(b), MP_MAX_DEPTH), -1);
}

/* Nested containers whose counts fit one by one but not together. */
static void test_mpcheck_rejects_nested_counts_that_cannot_fit_together(void **state)
{
    /* [ [x, x, x], x, x ] needs 6 bytes after the two headers. */
    static const uint8_t ok[] = {0x93, 0x93, 1, 2, 3, 4, 5};
    static const uint8_t short_by_one[] = {0x93, 0x93, 1, 2, 3, 4};
    assert_int_equal(mp_check(ok, sizeof(ok), MP_MAX_DEPTH), 0);
    assert_int_equal(mp_check(short_by_one, sizeof(short_by_one), MP_MAX_DEPTH), -1);
    /* Outer count fits, inner count fits the bytes left, but not with the
     * outer array's remaining elements: rejected at the inner header. */
    uint8_t b[40];
    memset(b, 0x01, sizeof(b));
    b[0] = 0x9f;                      /* 15 elements */
    b[1] = 0xdc, b[2] = 0, b[3] = 30; /* first is an array of 30 */
    assert_int_equal(mp_object_len(b, sizeof(b), MP_MAX_DEPTH), -1);
}

/* "Rejected immediately": the header is placed at the end of a readable page
 * followed by an inaccessible one, and len claims bytes beyond it. A walk
 * that read on instead of refusing the count at once would fault. */
static void test_mpcheck_rejects_oversized_count_without_reading_past_header(void **state)
{
    static const uint8_t heads[][5] = {
        {0xdc, 0xff, 0xff},             /* array16 of 65535 */
        {0xde, 0x01, 0x00},             /* map16 of 256 entries = 512 objects */
        {0xdd, 0x00, 0x00, 0x01, 0x00}, /* array32 of 256 */
        {0xdf, 0x00, 0x00, 0x00, 0x81}, /* map32 of 129 entries */
        {0x9f, 0xdc, 0x00, 0xf5},       /* 15 + 245: too many together */
    };
    static const size_t head_len[] = {3, 3, 5, 5, 4};
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *mem =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        uint8_t *p = mem + page - head_len[i];
        memcpy(p, heads[i], head_len[i]);
        /* 255 more bytes claimed: short of every count above. */
        assert_int_equal(mp_object_len(p, head_len[i] + 255, MP_MAX_DEPTH), -1);
    }
    munmap(mem, 2 * (size_t)page);
}

static void nest(uint8_t *b, size_t depth)
{
    memset(b, 0x91, depth); /* [[[...]]] */
    b[depth] = 0x01;
}

static void test_mpcheck_enforces_depth_limit(void **state)
{
    uint8_t b[400];
    nest(b, MP_MAX_DEPTH);
    assert_int_equal(mp_check(b, MP_MAX_DEPTH + 1, MP_MAX_DEPTH), 0);
    nest(b, MP_MAX_DEPTH + 1);
    assert_int_equal(mp_check(b, MP_MAX_DEPTH + 2, MP_MAX_DEPTH), -1);
    /* Depth 0 allows scalars only: msgpack-c opens no container, not even
     * an empty one, when its stack is full. */
    static const uint8_t empty[] = {0x90};
    static const uint8_t one[] = {0x91, 0x01};
    static const uint8_t scalar[] = {0x01};
    assert_int_equal(mp_check(scalar, 1, 0), 0);
    assert_int_equal(mp_check(empty, 1, 0), -1);
    assert_int_equal(mp_check(one, 2, 0), -1);
    assert_int_equal(mp_check(empty, 1, 1), 0);
    /* An empty container inside MP_MAX_DEPTH open ones is refused too. */
    memset(b, 0x91, MP_MAX_DEPTH);
    b[MP_MAX_DEPTH] = 0x90;
    assert_int_equal(mp_check(b, MP_MAX_DEPTH + 1, MP_MAX_DEPTH), -1);
    b[MP_MAX_DEPTH - 1] = 0x90;
    assert_int_equal(mp_check(b, MP_MAX_DEPTH, MP_MAX_DEPTH), 0);
    /* The walk caps nesting at 256 whatever the caller asks for. */
    nest(b, 256);
    assert_int_equal(mp_check(b, 257, UINT_MAX), 0);
    nest(b, 257);
    assert_int_equal(mp_check(b, 258, UINT_MAX), -1);
}

/* ---- randomised cross-check against msgpack-c */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int sbuf_write(void *data, const char *p, size_t n)
{
    return msgpack_sbuffer_write(data, p, n);
}

static void pack_random(msgpack_packer *pk, int depth)
{
    static const char text[300] = "lorem ipsum";
    unsigned kind = (unsigned)(rnd() % (depth < 6 ? 14 : 11));
    switch (kind) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_int64(pk, (int64_t)rnd() >> (rnd() % 64)); break;
    case 3: msgpack_pack_uint64(pk, rnd() >> (rnd() % 64)); break;
    case 4: msgpack_pack_float(pk, 1.5f); break;
    case 5: msgpack_pack_double(pk, 2.25); break;
    case 6: msgpack_pack_str_with_body(pk, text, rnd() % 300); break;
    case 7: msgpack_pack_bin_with_body(pk, text, rnd() % 300); break;
    case 8: msgpack_pack_ext_with_body(pk, text, rnd() % 20, 3); break;
    case 9: msgpack_pack_int8(pk, -3); break;
    case 10: msgpack_pack_false(pk); break;
    case 11:
    case 12: {
        size_t n = rnd() % (rnd() % 4 == 0 ? 40 : 5);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            pack_random(pk, depth + 1);
        break;
    }
    default: {
        size_t n = rnd() % 5;
        msgpack_pack_map(pk, n);
        for (size_t i = 0; i < 2 * n; i++)
            pack_random(pk, depth + 1);
        break;
    }
    }
}

/* msgpack-c parses p[0, len) completely (off == len). */
static int msgpackc_accepts(const uint8_t *p, size_t len)
{
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&zone, 2048);
    msgpack_unpack_return r = msgpack_unpack((const char *)p, len, &off, &zone, &obj);
    msgpack_zone_destroy(&zone);
    return r == MSGPACK_UNPACK_SUCCESS && off == len;
}

static void test_mpcheck_accepts_random_packed_objects_and_agrees_with_msgpackc(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, sbuf_write);
    for (int iter = 0; iter < 2000; iter++) {
        msgpack_sbuffer_clear(&sb);
        pack_random(&pk, 0);
        const uint8_t *p = (const uint8_t *)sb.data;
        assert_int_equal(mp_check(p, sb.size, MP_MAX_DEPTH), 0);
        assert_true(msgpackc_accepts(p, sb.size));
        /* Every strict prefix is incomplete (checked on a sample of lengths
         * to keep the run short). */
        for (size_t n = 0; n < sb.size; n += 1 + sb.size / 64)
            assert_int_equal(mp_check(p, n, MP_MAX_DEPTH), -1);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Whatever mp_check accepts, msgpack-c must parse exactly: mutate valid
 * objects at random and cross-check every accepted mutant. */
static void test_mpcheck_accepted_mutants_parse_in_msgpackc(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, sbuf_write);
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        msgpack_sbuffer_clear(&sb);
        pack_random(&pk, 0);
        uint8_t *p = (uint8_t *)sb.data;
        size_t len = sb.size;
        int flips = 1 + (int)(rnd() % 3);
        for (int f = 0; f < flips; f++)
            p[rnd() % len] = (uint8_t)rnd();
        if (rnd() % 4 == 0)
            len -= rnd() % len;
        if (mp_check(p, len, MP_MAX_DEPTH) == 0) {
            accepted++;
            if (!msgpackc_accepts(p, len))
                fail_msg("mp_check accepted a mutant msgpack-c rejects (iter %d)", iter);
        }
    }
    assert_true(accepted > 100); /* the test exercised the accept path */
    msgpack_sbuffer_destroy(&sb);
}

static void test_mpcheck_payload_also_requires_utf8_strs(void **state)
{
    /* Every sample's strs are ASCII: the payload check agrees with mp_check. */
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *s = &samples[i];
        if (mp_check_payload(s->bytes, s->len, MP_MAX_DEPTH) != 0)
            fail_msg("payload check rejected %s", s->what);
    }
    /* Well formed, so mp_check accepts them, but a str is not UTF-8: in
     * each str format, as a key, deep inside. bin may hold any bytes. */
    const struct sample bad[] = {
        S("fixstr 0xff", 0xa1, 0xff),
        S("str8 overlong", 0xd9, 0x02, 0xc0, 0xaf),
        S("str16 surrogate", 0xda, 0x00, 0x03, 0xed, 0xa0, 0x80),
        S("str32 truncated sequence", 0xdb, 0x00, 0x00, 0x00, 0x02, 0xe2, 0x82),
        S("key", 0x81, 0xa1, 0x80, 0x01),
        S("deep", 0x91, 0x91, 0x81, 0xa1, 'k', 0x92, 0x01, 0xa2, 'a', 0xf5),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mp_check(bad[i].bytes, bad[i].len, MP_MAX_DEPTH), 0);
        if (mp_check_payload(bad[i].bytes, bad[i].len, MP_MAX_DEPTH) != -1)
            fail_msg("payload check accepted %s", bad[i].what);
    }
    static const uint8_t bin[] = {0x92, 0xc4, 0x02, 0xff, 0xfe, 0xa2, 0xc3, 0xa9};
    assert_int_equal(mp_check_payload(bin, sizeof bin, MP_MAX_DEPTH), 0);
    /* And the rest of mp_check's rules still hold. */
    assert_int_equal(mp_check_payload((const uint8_t *)"\x01\x02", 2, MP_MAX_DEPTH), -1);
    assert_int_equal(mp_check_payload((const uint8_t *)"\x91\x91\x01", 3, 1), -1);
    assert_int_equal(mp_check_payload(NULL, 0, MP_MAX_DEPTH), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpcheck_accepts_every_format),
        cmocka_unit_test(test_mpcheck_rejects_every_strict_prefix),
        cmocka_unit_test(test_mpcheck_rejects_trailing_bytes_but_object_len_stops_at_object),
        cmocka_unit_test(test_mpcheck_rejects_reserved_byte_c1),
        cmocka_unit_test(test_mpcheck_rejects_empty_and_null_input),
        cmocka_unit_test(test_mpcheck_rejects_hostile_declared_sizes),
        cmocka_unit_test(test_mpcheck_count_must_fit_remaining_bytes),
        cmocka_unit_test(test_mpcheck_rejects_nested_counts_that_cannot_fit_together),
        cmocka_unit_test(test_mpcheck_rejects_oversized_count_without_reading_past_header),
        cmocka_unit_test(test_mpcheck_enforces_depth_limit),
        cmocka_unit_test(test_mpcheck_accepts_random_packed_objects_and_agrees_with_msgpackc),
        cmocka_unit_test(test_mpcheck_accepted_mutants_parse_in_msgpackc),
        cmocka_unit_test(test_mpcheck_payload_also_requires_utf8_strs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
