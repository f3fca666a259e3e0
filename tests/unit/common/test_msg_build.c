/* Unit tests for common/msg_build.c: the exact bytes of every edge-to-client
 * message in both encodings, including payload transcoding. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <msgpack.h>

#include "common/msg.h"

static struct buf B;

/* A render budget no test payload here comes near, unless it says so. */
#define BUDGET ((size_t)1 << 20)

static int reset(void **state)
{
    (void)state;
    buf_init(&B);
    return 0;
}

static int release(void **state)
{
    (void)state;
    buf_deinit(&B);
    return 0;
}

#define assert_out(lit)                                            \
    do {                                                           \
        assert_int_equal(buf_readable(&B), sizeof(lit) - 1);       \
        assert_memory_equal(buf_head(&B), (lit), sizeof(lit) - 1); \
    } while (0)

#define U8(lit) ((const uint8_t *)(lit))
#define L(lit) (sizeof(lit) - 1)

/* ---- decoding msgpack output in tests */

static msgpack_unpacked U;

/* Unpacks B as exactly one map with `n` entries whose keys, in order, are
 * the NULL-terminated `keys`. */
static const msgpack_object *decode_map(const char *const *keys)
{
    size_t off = 0;
    msgpack_unpacked_destroy(&U);
    msgpack_unpacked_init(&U);
    assert_int_equal(msgpack_unpack_next(&U, (const char *)buf_head(&B), buf_readable(&B), &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, buf_readable(&B));
    const msgpack_object *o = &U.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    size_t n = 0;
    while (keys[n])
        n++;
    assert_int_equal(o->via.map.size, n);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        assert_int_equal(k->type, MSGPACK_OBJECT_STR);
        assert_int_equal(k->via.str.size, strlen(keys[i]));
        assert_memory_equal(k->via.str.ptr, keys[i], k->via.str.size);
    }
    return o;
}

static const msgpack_object *val(const msgpack_object *map, size_t i)
{
    return &map->via.map.ptr[i].val;
}

static void assert_mp_str(const msgpack_object *o, const char *s, size_t n)
{
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, n);
    assert_memory_equal(o->via.str.ptr, s, n);
}

/* ---- JSON */

static void test_msg_build_msg_json_exact_bytes(void **state)
{
    (void)state;
    assert_int_equal(msg_build_msg(&B, ENC_JSON, "a.b", 3, 42, "e1-7", 4, NULL, 0, ENC_JSON,
                                   U8("{\"x\":[1,\"y\"]}"), L("{\"x\":[1,\"y\"]}"), BUDGET),
                     0);
    assert_out("{\"op\":\"msg\",\"topic\":\"a.b\",\"seq\":42,\"data\":{\"x\":[1,\"y\"]},"
               "\"from\":\"e1-7\"}");
}

static void test_msg_build_msg_json_formats_full_seq_range(void **state)
{
    (void)state;
    assert_int_equal(msg_build_msg(&B, ENC_JSON, "t", 1, UINT64_MAX, "c", 1, NULL, 0, ENC_JSON,
                                   U8("0"), 1, BUDGET),
                     0);
    assert_out("{\"op\":\"msg\",\"topic\":\"t\",\"seq\":18446744073709551615,\"data\":0,"
               "\"from\":\"c\"}");
    buf_reset(&B);
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 0, "c", 1, NULL, 0, ENC_JSON, U8("null"), 4, BUDGET),
        0);
    assert_out("{\"op\":\"msg\",\"topic\":\"t\",\"seq\":0,\"data\":null,\"from\":\"c\"}");
}

static void test_msg_build_json_escapes_strings(void **state)
{
    (void)state;
    /* Quote, backslash, short escapes, other control bytes, DEL (legal raw),
     * valid multi-byte text, and invalid UTF-8 (replaced by U+FFFD). */
    const char from[] = "q\"b\\\b\f\n\r\t\x01\x1f\x7f"
                        "\xc3\xa9\xf0\x9f\x98\x80|\xff|\xed\xa0\x80|\xe2\x82";
    assert_int_equal(msg_build_direct(&B, ENC_JSON, from, sizeof from - 1, NULL, 0, ENC_JSON,
                                      U8("1"), 1, BUDGET),
                     0);
    assert_out("{\"op\":\"direct\",\"from\":\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f"
               "\xc3\xa9\xf0\x9f\x98\x80|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
               "\xef\xbf\xbd\","
               "\"data\":1}");
}

static void test_msg_build_json_escapes_nul_inside_string(void **state)
{
    (void)state;
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 1, "a\0b", 3, NULL, 0, ENC_JSON, U8("1"), 1, BUDGET),
        0);
    assert_out("{\"op\":\"msg\",\"topic\":\"t\",\"seq\":1,\"data\":1,\"from\":\"a\\u0000b\"}");
}

static void test_msg_build_direct_json_exact_bytes(void **state)
{
    (void)state;
    assert_int_equal(
        msg_build_direct(&B, ENC_JSON, "c9", 2, NULL, 0, ENC_JSON, U8("\"hi\""), 4, BUDGET), 0);
    assert_out("{\"op\":\"direct\",\"from\":\"c9\",\"data\":\"hi\"}");
}

static void test_msg_build_welcome_json_exact_bytes(void **state)
{
    (void)state;
    msg_build_welcome(&B, ENC_JSON, "e1-1", "edge-1", "eu-west", NULL, NULL);
    assert_out("{\"op\":\"welcome\",\"conn\":\"e1-1\",\"edge\":\"edge-1\",\"region\":\"eu-west\"}");
    buf_reset(&B);
    msg_build_welcome(&B, ENC_JSON, "c", "e", NULL, NULL, NULL); /* NULL reads as empty */
    assert_out("{\"op\":\"welcome\",\"conn\":\"c\",\"edge\":\"e\",\"region\":\"\"}");
}

static void test_msg_build_ack_json_exact_bytes(void **state)
{
    (void)state;
    msg_build_ack(&B, ENC_JSON, 7);
    assert_out("{\"op\":\"ack\",\"id\":7}");
    buf_reset(&B);
    msg_build_ack(&B, ENC_JSON, -9007199254740993LL);
    assert_out("{\"op\":\"ack\",\"id\":-9007199254740993}");
    buf_reset(&B);
    msg_build_ack(&B, ENC_JSON, INT64_MIN);
    assert_out("{\"op\":\"ack\",\"id\":-9223372036854775808}");
    buf_reset(&B);
    msg_build_ack(&B, ENC_JSON, INT64_MAX);
    assert_out("{\"op\":\"ack\",\"id\":9223372036854775807}");
}

static void test_msg_build_ack_at_carries_the_position(void **state)
{
    (void)state;
    msg_build_ack_at(&B, ENC_JSON, 1, 57, "k3x9a0qz", -1, NULL);
    assert_out("{\"op\":\"ack\",\"id\":1,\"seq\":57,\"epoch\":\"k3x9a0qz\"}");
    buf_reset(&B);
    msg_build_ack_at(&B, ENC_JSON, 2, 57, "k3x9a0qz", 1, "ignored when recovered");
    assert_out("{\"op\":\"ack\",\"id\":2,\"seq\":57,\"epoch\":\"k3x9a0qz\",\"recovered\":true}");
    buf_reset(&B);
    msg_build_ack_at(&B, ENC_JSON, 3, 0, NULL, 0, "hub unavailable");
    assert_out("{\"op\":\"ack\",\"id\":3,\"recovered\":false,\"reason\":\"hub unavailable\"}");
    buf_reset(&B);
    /* msgpack: the same keys, one map */
    msg_build_ack_at(&B, ENC_MSGPACK, 4, UINT64_MAX, "e", 0, "too old");
    static const uint8_t want[] = "\x86\xa2op\xa3"
                                  "ack\xa2id\x04\xa3seq\xcf\xff\xff\xff\xff\xff\xff\xff"
                                  "\xff\xa5"
                                  "epoch\xa1"
                                  "e\xa9recovered\xc2\xa6reason\xa7too old";
    assert_int_equal(buf_readable(&B), sizeof want - 1);
    assert_memory_equal(buf_head(&B), want, sizeof want - 1);
}

static void test_msg_build_reset_names_the_new_position(void **state)
{
    (void)state;
    msg_build_reset(&B, ENC_JSON, "chat", 4, 0, "p0q1r2s3", "the hub restarted");
    assert_out("{\"op\":\"reset\",\"topic\":\"chat\",\"seq\":0,\"epoch\":\"p0q1r2s3\","
               "\"reason\":\"the hub restarted\"}");
    buf_reset(&B);
    msg_build_reset(&B, ENC_MSGPACK, "c", 1, 5, "e", "r");
    static const uint8_t want[] = "\x85\xa2op\xa5reset\xa5topic\xa1"
                                  "c\xa3seq\x05\xa5"
                                  "epoch\xa1"
                                  "e\xa6reason\xa1r";
    assert_int_equal(buf_readable(&B), sizeof want - 1);
    assert_memory_equal(buf_head(&B), want, sizeof want - 1);
}

static void test_msg_build_error_json_with_and_without_id(void **state)
{
    (void)state;
    msg_build_error(&B, ENC_JSON, 1, 3, 400, "unknown op 'x\"'");
    assert_out("{\"op\":\"error\",\"id\":3,\"code\":400,\"reason\":\"unknown op 'x\\\"'\"}");
    buf_reset(&B);
    msg_build_error(&B, ENC_JSON, 0, 3, 503, "hub unavailable");
    assert_out("{\"op\":\"error\",\"code\":503,\"reason\":\"hub unavailable\"}");
}

static void test_msg_build_appends_after_existing_bytes(void **state)
{
    (void)state;
    buf_append_str(&B, "XYZ");
    buf_consume(&B, 1); /* a partly consumed queue */
    msg_build_ack(&B, ENC_JSON, 1);
    assert_out("YZ{\"op\":\"ack\",\"id\":1}");
}

/* ---- msgpack */

static void test_msg_build_msg_msgpack_decodes_to_map(void **state)
{
    (void)state;
    static const char *const keys[] = {"op", "topic", "seq", "data", "from", NULL};
    /* data: msgpack [1, "x"] appended verbatim */
    assert_int_equal(msg_build_msg(&B, ENC_MSGPACK, "a.b", 3, UINT64_MAX, "e1-7", 4, NULL, 0,
                                   ENC_MSGPACK, U8("\x92\x01\xa1x"), 4, BUDGET),
                     0);
    const msgpack_object *m = decode_map(keys);
    assert_mp_str(val(m, 0), "msg", 3);
    assert_mp_str(val(m, 1), "a.b", 3);
    assert_int_equal(val(m, 2)->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(val(m, 2)->via.u64 == UINT64_MAX);
    assert_int_equal(val(m, 3)->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(val(m, 3)->via.array.size, 2);
    assert_mp_str(val(m, 4), "e1-7", 4);
    /* The data bytes are copied as they are. */
    assert_non_null(memmem(buf_head(&B), buf_readable(&B),
                           "\xa4"
                           "data\x92\x01\xa1x",
                           9));
}

static void test_msg_build_direct_msgpack_decodes_to_map(void **state)
{
    (void)state;
    static const char *const keys[] = {"op", "from", "data", NULL};
    assert_int_equal(
        msg_build_direct(&B, ENC_MSGPACK, "c9", 2, NULL, 0, ENC_MSGPACK, U8("\xc0"), 1, BUDGET), 0);
    const msgpack_object *m = decode_map(keys);
    assert_mp_str(val(m, 0), "direct", 6);
    assert_mp_str(val(m, 1), "c9", 2);
    assert_int_equal(val(m, 2)->type, MSGPACK_OBJECT_NIL);
}

static void test_msg_build_welcome_msgpack_decodes_to_map(void **state)
{
    (void)state;
    static const char *const keys[] = {"op", "conn", "edge", "region", NULL};
    msg_build_welcome(&B, ENC_MSGPACK, "e1-1", "edge-1", "eu-west", NULL, NULL);
    const msgpack_object *m = decode_map(keys);
    assert_mp_str(val(m, 0), "welcome", 7);
    assert_mp_str(val(m, 1), "e1-1", 4);
    assert_mp_str(val(m, 2), "edge-1", 6);
    assert_mp_str(val(m, 3), "eu-west", 7);
}

/* The backend hooks' messages (docs/hooks.md): an rpc's answer, and the
 * connect hook's data added to a welcome, in both encodings. */
static void test_msg_build_rpc_result_and_welcome_data(void **state)
{
    (void)state;
    assert_int_equal(
        msg_build_rpc_result(&B, ENC_JSON, 5, ENC_JSON, (const uint8_t *)"{\"a\":1}", 7, 1024), 0);
    assert_out("{\"op\":\"rpc\",\"id\":5,\"data\":{\"a\":1}}");
    buf_reset(&B);
    assert_int_equal(
        msg_build_rpc_result(&B, ENC_MSGPACK, 5, ENC_JSON, (const uint8_t *)"[1]", 3, 1024), 0);
    static const char *const rk[] = {"op", "id", "data", NULL};
    const msgpack_object *m = decode_map(rk);
    assert_mp_str(val(m, 0), "rpc", 3);
    assert_int_equal(val(m, 2)->type, MSGPACK_OBJECT_ARRAY);
    buf_reset(&B);
    assert_int_equal(msg_build_rpc_result(&B, ENC_JSON, 5, ENC_JSON, (const uint8_t *)"{", 1, 1024),
                     MSG_DATA_INVALID);
    assert_int_equal(buf_readable(&B), 0);

    msg_build_welcome(&B, ENC_JSON, "c", "e", "r", NULL, NULL);
    assert_int_equal(
        msg_welcome_add_data(&B, 0, ENC_JSON, ENC_JSON, (const uint8_t *)"\"x\"", 3, 1024), 0);
    assert_out(
        "{\"op\":\"welcome\",\"conn\":\"c\",\"edge\":\"e\",\"region\":\"r\",\"data\":\"x\"}");
    buf_reset(&B);
    msg_build_welcome(&B, ENC_MSGPACK, "c", "e", "r", NULL, NULL);
    assert_int_equal(
        msg_welcome_add_data(&B, 0, ENC_MSGPACK, ENC_JSON, (const uint8_t *)"7", 1, 1024), 0);
    static const char *const wk[] = {"op", "conn", "edge", "region", "data", NULL};
    m = decode_map(wk);
    assert_int_equal(val(m, 4)->via.u64, 7);
    buf_reset(&B);
    msg_build_welcome(&B, ENC_JSON, "c", "e", "r", NULL, NULL);
    size_t before = buf_readable(&B);
    assert_int_equal(msg_welcome_add_data(&B, 0, ENC_JSON, ENC_JSON, (const uint8_t *)"[", 1, 1024),
                     MSG_DATA_INVALID);
    assert_int_equal(buf_readable(&B), before); /* the welcome as it was */
}

static void test_msg_build_ack_msgpack_exact_bytes(void **state)
{
    (void)state;
    static const char *const keys[] = {"op", "id", NULL};
    msg_build_ack(&B, ENC_MSGPACK, 7);
    assert_out("\x82\xa2op\xa3"
               "ack\xa2id\x07");
    buf_reset(&B);
    msg_build_ack(&B, ENC_MSGPACK, INT64_MIN);
    const msgpack_object *m = decode_map(keys);
    assert_mp_str(val(m, 0), "ack", 3);
    assert_int_equal(val(m, 1)->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(val(m, 1)->via.i64 == INT64_MIN);
}

static void test_msg_build_error_msgpack_with_and_without_id(void **state)
{
    (void)state;
    static const char *const with_id[] = {"op", "id", "code", "reason", NULL};
    static const char *const no_id[] = {"op", "code", "reason", NULL};
    msg_build_error(&B, ENC_MSGPACK, 1, -4, 404, "no such connection");
    const msgpack_object *m = decode_map(with_id);
    assert_mp_str(val(m, 0), "error", 5);
    assert_true(val(m, 1)->via.i64 == -4);
    assert_true(val(m, 2)->via.u64 == 404);
    assert_mp_str(val(m, 3), "no such connection", 18);

    buf_reset(&B);
    msg_build_error(&B, ENC_MSGPACK, 0, 0, 400, "malformed msgpack");
    m = decode_map(no_id);
    assert_mp_str(val(m, 0), "error", 5);
    assert_true(val(m, 1)->via.u64 == 400);
    assert_mp_str(val(m, 2), "malformed msgpack", 17);
}

/* ---- transcoding inside the builders */

static void test_msg_build_msg_transcodes_msgpack_data_to_json(void **state)
{
    (void)state;
    /* {"b": bin[00 ff], "f": 1.5, 1: nil} */
    static const uint8_t data[] = {0x83, 0xa1, 'b', 0xc4, 0x02, 0x00, 0xff, 0xa1, 'f',  0xcb,
                                   0x3f, 0xf8, 0,   0,    0,    0,    0,    0,    0x01, 0xc0};
    assert_int_equal(msg_build_msg(&B, ENC_JSON, "t", 1, 5, "c", 1, NULL, 0, ENC_MSGPACK, data,
                                   sizeof data, BUDGET),
                     0);
    assert_out("{\"op\":\"msg\",\"topic\":\"t\",\"seq\":5,"
               "\"data\":{\"b\":\"AP8=\",\"f\":1.5,\"1\":null},\"from\":\"c\"}");
}

static void test_msg_build_msg_transcodes_json_data_to_msgpack(void **state)
{
    (void)state;
    static const char *const keys[] = {"op", "topic", "seq", "data", "from", NULL};
    const char *data = "{\"n\":9007199254740993,\"r\":0.5,\"s\":\"x\",\"l\":[true,null]}";
    assert_int_equal(msg_build_msg(&B, ENC_MSGPACK, "t", 1, 5, "c", 1, NULL, 0, ENC_JSON, U8(data),
                                   strlen(data), BUDGET),
                     0);
    const msgpack_object *m = decode_map(keys);
    const msgpack_object *d = val(m, 3);
    assert_int_equal(d->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(d->via.map.size, 4);
    assert_true(d->via.map.ptr[0].val.via.u64 == 9007199254740993ULL);
    assert_int_equal(d->via.map.ptr[1].val.type, MSGPACK_OBJECT_FLOAT64);
    assert_true(d->via.map.ptr[1].val.via.f64 == 0.5);
    assert_mp_str(&d->via.map.ptr[2].val, "x", 1);
    assert_int_equal(d->via.map.ptr[3].val.type, MSGPACK_OBJECT_ARRAY);
    assert_mp_str(val(m, 4), "c", 1);
}

static void test_msg_build_direct_transcodes_both_ways(void **state)
{
    (void)state;
    assert_int_equal(msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_MSGPACK,
                                      U8("\x92\xc3\xa1z"), 4, BUDGET),
                     0);
    assert_out("{\"op\":\"direct\",\"from\":\"c\",\"data\":[true,\"z\"]}");
    buf_reset(&B);
    assert_int_equal(msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_JSON,
                                      U8("[true,\"z\"]"), 10, BUDGET),
                     0);
    assert_out("\x83\xa2op\xa6"
               "direct\xa4"
               "from\xa1"
               "c\xa4"
               "data\x92\xc3\xa1z");
}

static void test_msg_build_refuses_corrupt_data_and_leaves_buffer_unchanged(void **state)
{
    (void)state;
    buf_append_str(&B, "--keep");
    buf_consume(&B, 2);
    assert_int_equal(msg_build_msg(&B, ENC_JSON, "t", 1, 1, "c", 1, NULL, 0, ENC_MSGPACK,
                                   U8("\x92\x01"), 2, BUDGET),
                     -1);
    assert_out("keep");
    assert_int_equal(msg_build_msg(&B, ENC_MSGPACK, "t", 1, 1, "c", 1, NULL, 0, ENC_JSON,
                                   U8("{\"a\":"), 5, BUDGET),
                     -1);
    assert_out("keep");
    assert_int_equal(
        msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_MSGPACK, U8("\xc1"), 1, BUDGET), -1);
    assert_out("keep");
    assert_int_equal(
        msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_JSON, U8("[1] x"), 5, BUDGET), -1);
    assert_out("keep");
    /* No data at all is not a value in either encoding. */
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 1, "c", 1, NULL, 0, ENC_JSON, U8(""), 0, BUDGET), -1);
    assert_int_equal(
        msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_MSGPACK, NULL, 0, BUDGET), -1);
    assert_out("keep");
}

/* ---- validated splicing: data in the client's own encoding came over a
 * link and is checked before its bytes are copied into the message. */

static void assert_msg_refuses(enum enc enc, const void *data, size_t len, int want)
{
    buf_reset(&B);
    buf_append_str(&B, "keep");
    assert_int_equal(msg_build_msg(&B, enc, "t", 1, 1, "c", 1, NULL, 0, enc, data, len, BUDGET),
                     want);
    assert_out("keep");
    assert_int_equal(msg_build_direct(&B, enc, "c", 1, "u", 1, enc, data, len, BUDGET), want);
    assert_out("keep");
    assert_int_equal(msg_data_check(enc, data, len), want == MSG_DATA_INVALID ? want : 0);
    buf_reset(&B);
}

static void test_msg_build_splice_refuses_json_that_is_not_one_value(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1,\"op\":\"ack\",\"id\":1", /* the injection */
        "1}, {\"op\":\"msg\"",
        "1 2",   /* trailing value */
        "[1] x", /* trailing bytes */
        "{}{}",
        "\"a\"\"b\"",
        "[1", /* truncated */
        "{\"a\":",
        "\"unterminated",
        "",   /* nothing */
        "  ", /* whitespace only */
        "nul",
        "\"\xff\"",         /* invalid UTF-8 */
        "\"\xc0\xaf\"",     /* overlong */
        "\"\xed\xa0\x80\"", /* surrogate */
        "\"a\x01z\"",       /* raw control character */
        "'single'",
        "[1,]",
        "{\"a\\u0000\":1}", /* valid JSON, but a NUL in a key is refused */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_msg_refuses(ENC_JSON, bad[i], strlen(bad[i]), MSG_DATA_INVALID);
    /* A number beyond 64 bits is valid JSON, but has no msgpack form: it is
     * refused for the JSON copy too, so both copies are refused alike (no
     * client could publish it: msg_parse refuses it). */
    assert_msg_refuses(ENC_JSON, "18446744073709551616", 20, MSG_DATA_INVALID);
    /* A NUL byte is not whitespace: "1\0" is not one value either
     * (jansson alone would take the NUL for the end of its input). */
    assert_msg_refuses(ENC_JSON, "1\0", 2, MSG_DATA_INVALID);
    assert_msg_refuses(ENC_JSON, "\"a\0\"", 4, MSG_DATA_INVALID);
    assert_msg_refuses(ENC_JSON, NULL, 0, MSG_DATA_INVALID);
}

static void test_msg_build_splice_keeps_valid_json_verbatim(void **state)
{
    (void)state;
    static const char *const good[] = {
        "0",
        "-1.5e+300",
        "null",
        "true",
        "\"\"",
        "\"a\\u0000b\\\"\"",
        "\"\xe2\x82\xac\"",
        "[]",
        "{}",
        "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
        " [1 , 2] ",
        "\n\"x\"\t",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = strlen(good[i]);
        buf_reset(&B);
        assert_int_equal(
            msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_JSON, U8(good[i]), n, BUDGET),
            MSG_DATA_OK);
        /* {"op":"direct","from":"c","data": + data + } */
        assert_int_equal(buf_readable(&B), 33 + n + 1);
        assert_memory_equal(buf_head(&B) + 33, good[i], n);
    }
}

static void test_msg_build_splice_refuses_msgpack_that_is_not_one_object(void **state)
{
    (void)state;
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"\x01\xa2op", 4}, /* trailing bytes: a second object */
        {"\x01\x02", 2},
        {"\x92\x01", 2}, /* truncated */
        {"\xa3"
         "ab",
         3},
        {"\xc1", 1},                 /* reserved */
        {"\xdd\xff\xff\xff\xff", 5}, /* hostile count */
        {"\xa1\xff", 2},             /* invalid UTF-8 str */
        {"\x81\xa2\xc3\x28\x01", 5}, /* ... as a key */
        {"\x91\xd9\x02\xed\xa0", 5}, /* surrogate in a str8 */
        {"", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_msg_refuses(ENC_MSGPACK, bad[i].b, bad[i].n, MSG_DATA_INVALID);
    /* Nesting: MSG_DATA_MAX_DEPTH levels splice (the message adds one, to
     * msgpack-c's 32), one more does not. */
    uint8_t deep[MSG_DATA_MAX_DEPTH + 2];
    memset(deep, 0x91, sizeof deep);
    deep[MSG_DATA_MAX_DEPTH] = 0xc0;
    assert_int_equal(msg_data_check(ENC_MSGPACK, deep + 1, MSG_DATA_MAX_DEPTH), MSG_DATA_OK);
    deep[MSG_DATA_MAX_DEPTH + 1] = 0xc0;
    assert_msg_refuses(ENC_MSGPACK, deep, MSG_DATA_MAX_DEPTH + 2, MSG_DATA_INVALID);
    /* bin is bytes, not text: any content is fine. */
    assert_int_equal(msg_data_check(ENC_MSGPACK, U8("\xc4\x02\xff\xfe"), 4), MSG_DATA_OK);
}

static void test_msg_build_refuses_data_over_the_budget(void **state)
{
    (void)state;
    /* Spliced: the data itself is the rendering. */
    buf_append_str(&B, "keep");
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 1, "c", 1, NULL, 0, ENC_JSON, U8("[1,2]"), 5, 4),
        MSG_DATA_OVER_BUDGET);
    assert_out("keep");
    assert_int_equal(msg_build_msg(&B, ENC_MSGPACK, "t", 1, 1, "c", 1, NULL, 0, ENC_MSGPACK,
                                   U8("\x92\x01\x02"), 3, 2),
                     MSG_DATA_OVER_BUDGET);
    assert_out("keep");
    /* Transcoded: what counts is the rendering, not the input. */
    assert_int_equal(
        msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_MSGPACK, U8("\x92\xc2\xc2"), 3, 11),
        MSG_DATA_OVER_BUDGET); /* [false,false] */
    assert_out("keep");
    assert_int_equal(msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_JSON, U8("1.5"), 3, 8),
                     MSG_DATA_OVER_BUDGET);
    assert_out("keep");
    /* Data longer than the budget is refused unparsed, even where its
     * rendering would be shorter (whitespace, escapes): no honest edge
     * sends it, and parsing it would cost a multiple of its length. */
    assert_int_equal(
        msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_JSON, U8("[1,          2]"), 15, 8),
        MSG_DATA_OVER_BUDGET);
    assert_out("keep");
    assert_int_equal(
        msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_MSGPACK, U8("£"), 4, 3),
        MSG_DATA_OVER_BUDGET);
    assert_out("keep");
    /* At the budget exactly, it is built. */
    buf_reset(&B);
    assert_int_equal(
        msg_build_direct(&B, ENC_JSON, "c", 1, NULL, 0, ENC_MSGPACK, U8("\x92\xc2\xc2"), 3, 13),
        MSG_DATA_OK);
    assert_out("{\"op\":\"direct\",\"from\":\"c\",\"data\":[false,false]}");
    buf_reset(&B);
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 1, "c", 1, NULL, 0, ENC_JSON, U8("[1,2]"), 5, 5),
        MSG_DATA_OK);
    buf_reset(&B);
    assert_int_equal(msg_build_direct(&B, ENC_MSGPACK, "c", 1, NULL, 0, ENC_JSON, U8("1.5"), 3, 9),
                     MSG_DATA_OK);
}

static void test_msg_build_nested_key_payload_reaches_msgpack_clients_only(void **state)
{
    (void)state;
    /* The payload: keys that are maps, 28 deep. It is valid msgpack
     * (a msgpack client gets it as sent), but has no JSON form. */
    uint8_t mp[57];
    size_t n = 0;
    for (int i = 0; i < 28; i++)
        mp[n++] = 0x81;
    mp[n++] = 0xc0;
    for (int i = 0; i < 28; i++)
        mp[n++] = 0xc0;
    assert_int_equal(
        msg_build_msg(&B, ENC_JSON, "t", 1, 1, "c", 1, NULL, 0, ENC_MSGPACK, mp, n, SIZE_MAX),
        MSG_DATA_INVALID);
    assert_int_equal(buf_readable(&B), 0);
    assert_int_equal(
        msg_build_msg(&B, ENC_MSGPACK, "t", 1, 1, "c", 1, NULL, 0, ENC_MSGPACK, mp, n, BUDGET),
        MSG_DATA_OK);
}

static void test_msg_build_splices_what_the_hub_api_publishes(void **state)
{
    (void)state;
    /* POST /api/publish (hub/http.c) sends jansson's compact dump of the
     * body's "data" with enc JSON: that must pass the splice check. */
    static const char *const bodies[] = {
        "{\"data\":{\"text\":\"h\\u00e9llo\",\"n\":[1,-2.5e-8,null,true,false]}}",
        "{\"data\":\"just a string\"}",
        "{\"data\":9223372036854775807}",
        "{\"data\":{\"\\ud83d\\ude00\":\"\\\"quoted\\\"\\n\"}}",
    };
    char deep[200] = "{\"data\":"; /* 40 levels: deeper than msgpack allows */
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    for (size_t i = 0; i <= sizeof bodies / sizeof bodies[0]; i++) {
        json_error_t je;
        const char *text_in = i < sizeof bodies / sizeof bodies[0] ? bodies[i] : deep;
        json_t *body = json_loads(text_in, JSON_REJECT_DUPLICATES, &je);
        assert_non_null(body);
        char *text = json_dumps(json_object_get(body, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(text);
        buf_reset(&B);
        assert_int_equal(msg_build_msg(&B, ENC_JSON, "t", 1, 1, "hub:api", 7, NULL, 0, ENC_JSON,
                                       U8(text), strlen(text), BUDGET),
                         MSG_DATA_OK);
        /* The whole message is one JSON object that reads back. */
        json_t *back = json_loadb((const char *)buf_head(&B), buf_readable(&B), 0, &je);
        assert_non_null(back);
        assert_true(json_equal(json_object_get(back, "data"), json_object_get(body, "data")));
        json_decref(back);
        free(text);
        json_decref(body);
    }
}

static void test_msg_build_output_parses_back(void **state)
{
    (void)state;
    /* What the builders write for a msgpack client is what a msgpack parser
     * with spoke's own rules accepts: a map with str keys, valid UTF-8. */
    struct msg_parser *p = msg_parser_new();
    struct client_msg m;
    struct msg_error e;
    assert_int_equal(msg_build_msg(&B, ENC_MSGPACK, "x", 1, 3, "c", 1, NULL, 0, ENC_JSON,
                                   U8("{\"k\":[1,2]}"), 11, BUDGET),
                     0);
    /* Not a client message (op "msg"), but it must pass every structural
     * check and fail only on the op. */
    assert_int_equal(msg_parse(p, ENC_MSGPACK, buf_head(&B), buf_readable(&B), &m, &e), -1);
    assert_string_equal(e.reason, "unknown op 'msg'");
    buf_reset(&B);
    assert_int_equal(msg_build_msg(&B, ENC_JSON, "x", 1, 3, "c", 1, NULL, 0, ENC_MSGPACK,
                                   U8("\x81\xa1k\x92\x01\x02"), 6, BUDGET),
                     0);
    assert_int_equal(msg_parse(p, ENC_JSON, buf_head(&B), buf_readable(&B), &m, &e), -1);
    assert_string_equal(e.reason, "unknown op 'msg'");
    msg_parser_free(p);
    msg_parser_free(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, reset, release)
    const struct CMUnitTest tests[] = {
        T(test_msg_build_msg_json_exact_bytes),
        T(test_msg_build_msg_json_formats_full_seq_range),
        T(test_msg_build_json_escapes_strings),
        T(test_msg_build_json_escapes_nul_inside_string),
        T(test_msg_build_direct_json_exact_bytes),
        T(test_msg_build_welcome_json_exact_bytes),
        T(test_msg_build_ack_json_exact_bytes),
        T(test_msg_build_error_json_with_and_without_id),
        T(test_msg_build_appends_after_existing_bytes),
        T(test_msg_build_ack_at_carries_the_position),
        T(test_msg_build_reset_names_the_new_position),
        T(test_msg_build_msg_msgpack_decodes_to_map),
        T(test_msg_build_direct_msgpack_decodes_to_map),
        T(test_msg_build_welcome_msgpack_decodes_to_map),
        T(test_msg_build_rpc_result_and_welcome_data),
        T(test_msg_build_ack_msgpack_exact_bytes),
        T(test_msg_build_error_msgpack_with_and_without_id),
        T(test_msg_build_msg_transcodes_msgpack_data_to_json),
        T(test_msg_build_msg_transcodes_json_data_to_msgpack),
        T(test_msg_build_direct_transcodes_both_ways),
        T(test_msg_build_refuses_corrupt_data_and_leaves_buffer_unchanged),
        T(test_msg_build_splice_refuses_json_that_is_not_one_value),
        T(test_msg_build_splice_keeps_valid_json_verbatim),
        T(test_msg_build_splice_refuses_msgpack_that_is_not_one_object),
        T(test_msg_build_refuses_data_over_the_budget),
        T(test_msg_build_nested_key_payload_reaches_msgpack_clients_only),
        T(test_msg_build_splices_what_the_hub_api_publishes),
        T(test_msg_build_output_parses_back),
    };
    msgpack_unpacked_init(&U);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    msgpack_unpacked_destroy(&U);
    return rc;
}
