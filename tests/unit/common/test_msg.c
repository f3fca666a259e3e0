/* Unit tests for common/msg_parse.c: parsing and validating client messages
 * in JSON and msgpack, including hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/msg.h"

static struct msg_parser *P;
static struct client_msg M;
static struct msg_error E;

static int setup(void **state)
{
    (void)state;
    P = msg_parser_new();
    return P ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    msg_parser_free(P);
    P = NULL;
    return 0;
}

static int pj(const char *json)
{
    return msg_parse(P, ENC_JSON, (const uint8_t *)json, strlen(json), &M, &E);
}

static int pm(const void *bytes, size_t len)
{
    return msg_parse(P, ENC_MSGPACK, bytes, len, &M, &E);
}

/* Asserts that the last parse failed with 400 and this reason. */
#define assert_refused(rc, why)                     \
    do {                                            \
        assert_int_equal((rc), -1);                 \
        assert_int_equal(E.code, CODE_BAD_REQUEST); \
        assert_string_equal(E.reason, (why));       \
    } while (0)

#define assert_bytes(p, n, lit)                           \
    do {                                                  \
        assert_int_equal((n), sizeof(lit) - 1);           \
        assert_memory_equal((p), (lit), sizeof(lit) - 1); \
    } while (0)

/* ---- msgpack frame construction: a small packer over an sbuffer. */

static msgpack_sbuffer SB;
static msgpack_packer PK;

static void mp_begin(size_t entries)
{
    msgpack_sbuffer_destroy(&SB);
    msgpack_sbuffer_init(&SB);
    msgpack_packer_init(&PK, &SB, msgpack_sbuffer_write);
    msgpack_pack_map(&PK, entries);
}

static void mp_s(const char *s)
{
    msgpack_pack_str_with_body(&PK, s, strlen(s));
}

static void mp_kv(const char *k, const char *v)
{
    mp_s(k);
    mp_s(v);
}

static int mp_parse(void)
{
    return pm(SB.data, SB.size);
}

static int teardown_all(void **state)
{
    msgpack_sbuffer_destroy(&SB);
    return teardown(state);
}

/* ---- every op, JSON */

static void test_msg_parse_json_sub_unsub(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"sub\",\"topic\":\"chat.room-1\"}"), 0);
    assert_int_equal(M.op, OP_SUB);
    assert_int_equal(M.has_id, 0);
    assert_bytes(M.topic, M.topic_len, "chat.room-1");
    assert_null(M.data);

    assert_int_equal(pj("{ \"topic\" : \"a/b:c_d\", \"op\" : \"unsub\", \"id\" : 7 }"), 0);
    assert_int_equal(M.op, OP_UNSUB);
    assert_int_equal(M.has_id, 1);
    assert_int_equal(M.id, 7);
    assert_bytes(M.topic, M.topic_len, "a/b:c_d");
}

/* A sub's since: a position to resume from, checked strictly. */
static void test_msg_parse_sub_since_in_both_encodings(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"sub\",\"topic\":\"t\",\"id\":1,"
                        "\"since\":{\"seq\":41,\"epoch\":\"k3x9a0qz\"}}"),
                     0);
    assert_int_equal(M.has_since, 1);
    assert_int_equal(M.since_seq, 41);
    assert_string_equal(M.since_epoch, "k3x9a0qz");
    assert_int_equal(pj("{\"op\":\"sub\",\"topic\":\"t\"}"), 0);
    assert_int_equal(M.has_since, 0);
    /* since means nothing to the other ops: ignored like any unknown key */
    assert_int_equal(pj("{\"op\":\"unsub\",\"topic\":\"t\",\"since\":7}"), 0);
    assert_int_equal(M.has_since, 0);

    static const uint8_t mp[] = "\x84\xa2op\xa3sub\xa5topic\xa1t\xa2id\x05\xa5since"
                                "\x82\xa3seq\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa5"
                                "epoch\xa2z9";
    assert_int_equal(pm(mp, sizeof mp - 1), 0);
    assert_int_equal(M.has_since, 1);
    assert_true(M.since_seq == 1ull << 32);
    assert_string_equal(M.since_epoch, "z9");
}

static void test_msg_parse_sub_refuses_a_malformed_since(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":41}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":41}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"epoch\":\"ab\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":-1,\"epoch\":\"ab\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":1.5,\"epoch\":\"ab\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":1,\"epoch\":\"\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":1,\"epoch\":\"AB\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":1,\"epoch\":\"0123456789abcdefg\"}}",
        "{\"op\":\"sub\",\"topic\":\"t\",\"since\":{\"seq\":1,\"epoch\":7}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pj(bad[i]);
        if (rc != -1 || strncmp(E.reason, "invalid since", 13) != 0)
            fail_msg("accepted or misjudged %s (%s)", bad[i], E.reason);
    }
}

static void test_msg_parse_json_pub_reserialises_data_compactly(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"pub\",\"topic\":\"t\",\"id\":1,"
                        "\"data\": { \"x\" : [1, 2.5, \"s\\u00e9\", true],\n \"n\" : null } }"),
                     0);
    assert_int_equal(M.op, OP_PUB);
    assert_bytes(M.topic, M.topic_len, "t");
    assert_bytes(M.data, M.data_len, "{\"x\":[1,2.5,\"s\xc3\xa9\",true],\"n\":null}");
}

static void test_msg_parse_json_pub_accepts_any_data_value(void **state)
{
    (void)state;
    static const struct {
        const char *in, *data;
    } cases[] = {
        {"null", "null"},
        {"0", "0"},
        {"-12", "-12"},
        {"true", "true"},
        {"false", "false"},
        {"\"hi\"", "\"hi\""},
        {"[]", "[]"},
        {"{}", "{}"},
        {"1.5", "1.5"},
        {"\"a\\u0000b\"", "\"a\\u0000b\""}, /* NUL is valid JSON in a string */
        {"9007199254740993", "9007199254740993"},
    };
    char frame[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(frame, sizeof frame, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":%s}", cases[i].in);
        assert_int_equal(pj(frame), 0);
        assert_int_equal(M.data_len, strlen(cases[i].data));
        assert_memory_equal(M.data, cases[i].data, M.data_len);
    }
}

static void test_msg_parse_json_send(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"send\",\"to\":\"e1-42\",\"data\":\"hello\",\"id\":-3}"), 0);
    assert_int_equal(M.op, OP_SEND);
    assert_bytes(M.to, M.to_len, "e1-42");
    assert_bytes(M.data, M.data_len, "\"hello\"");
    assert_int_equal(M.id, -3);
    assert_null(M.topic);
}

static void test_msg_parse_json_results_survive_until_next_parse(void **state)
{
    (void)state;
    char frame[] = "{\"op\":\"pub\",\"topic\":\"keep\",\"data\":[1]}";
    assert_int_equal(pj(frame), 0);
    memset(frame, 'x', sizeof frame - 1); /* the caller may reuse its frame */
    assert_bytes(M.topic, M.topic_len, "keep");
    assert_bytes(M.data, M.data_len, "[1]");
}

static void test_msg_parse_ignores_unknown_keys(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"sub\",\"topic\":\"t\",\"extra\":{\"deep\":[1,2]},\"v\":2}"), 0);
    assert_int_equal(M.op, OP_SUB);
    mp_begin(3);
    mp_kv("op", "sub");
    mp_s("zzz");
    msgpack_pack_array(&PK, 1);
    msgpack_pack_bin_with_body(&PK, "\x01", 1);
    mp_kv("topic", "t");
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_SUB);
}

/* ---- every op, msgpack */

static void test_msg_parse_msgpack_sub_unsub(void **state)
{
    (void)state;
    mp_begin(2);
    mp_kv("op", "sub");
    mp_kv("topic", "x.y");
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_SUB);
    assert_bytes(M.topic, M.topic_len, "x.y");
    assert_int_equal(M.has_id, 0);

    mp_begin(3);
    mp_s("id");
    msgpack_pack_int64(&PK, 99);
    mp_kv("op", "unsub");
    mp_kv("topic", "x.y");
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_UNSUB);
    assert_int_equal(M.has_id, 1);
    assert_int_equal(M.id, 99);
}

static void test_msg_parse_msgpack_pub_points_data_at_its_bytes(void **state)
{
    (void)state;
    /* data first, then a float64 and an ext inside it: the span must be
     * exactly the value's bytes, whatever precedes or follows. */
    mp_begin(4);
    mp_s("data");
    size_t start = SB.size;
    msgpack_pack_map(&PK, 2);
    mp_s("f");
    msgpack_pack_double(&PK, 0.1);
    mp_s("e");
    msgpack_pack_ext_with_body(&PK, "ab", 2, 7);
    size_t end = SB.size;
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_uint64(&PK, 5);
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_PUB);
    assert_int_equal(M.id, 5);
    assert_int_equal(M.data_len, end - start);
    assert_memory_equal(M.data, SB.data + start, end - start);
}

static void test_msg_parse_msgpack_pub_accepts_scalar_data_last(void **state)
{
    (void)state;
    mp_begin(4);
    mp_kv("op", "pub");
    mp_s("unknown");
    mp_s("a long value that has to be skipped over before data is reached");
    mp_kv("topic", "t");
    mp_s("data");
    msgpack_pack_nil(&PK);
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.data_len, 1);
    assert_int_equal(M.data[0], 0xc0);
}

static void test_msg_parse_msgpack_send(void **state)
{
    (void)state;
    mp_begin(3);
    mp_kv("op", "send");
    mp_kv("to", "conn-7");
    mp_s("data");
    msgpack_pack_bin_with_body(&PK, "\x00\xff", 2);
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_SEND);
    assert_bytes(M.to, M.to_len, "conn-7");
    assert_bytes(M.data, M.data_len, "\xc4\x02\x00\xff");
}

/* rpc (docs/hooks.md): a method and an id are required, data defaults to
 * null in either encoding. */
static void test_msg_parse_rpc(void **state)
{
    (void)state;
    assert_int_equal(pj("{\"op\":\"rpc\",\"method\":\"orders.list\",\"data\":{\"p\":1},"
                        "\"id\":5}"),
                     0);
    assert_int_equal(M.op, OP_RPC);
    assert_bytes(M.method, M.method_len, "orders.list");
    assert_bytes(M.data, M.data_len, "{\"p\":1}");
    assert_int_equal(pj("{\"op\":\"rpc\",\"method\":\"ping\",\"id\":1}"), 0);
    assert_bytes(M.data, M.data_len, "null");
    assert_refused(pj("{\"op\":\"rpc\",\"method\":\"x\"}"), "rpc needs an id");
    assert_refused(pj("{\"op\":\"rpc\",\"id\":1}"), "missing method");
    assert_refused(pj("{\"op\":\"rpc\",\"method\":\"a b\",\"id\":1}"), "invalid method");
    assert_refused(pj("{\"op\":\"rpc\",\"method\":7,\"id\":1}"), "invalid method");
    char big[300];
    snprintf(big, sizeof big, "{\"op\":\"rpc\",\"method\":\"%0129d\",\"id\":1}", 0);
    assert_refused(pj(big), "invalid method");
    mp_begin(3);
    mp_kv("op", "rpc");
    mp_kv("method", "add");
    mp_s("id");
    msgpack_pack_int(&PK, 9);
    assert_int_equal(mp_parse(), 0);
    assert_int_equal(M.op, OP_RPC);
    assert_bytes(M.method, M.method_len, "add");
    assert_bytes(M.data, M.data_len, "\xc0");
}

/* ---- ids */

static void test_msg_parse_keeps_ids_exact(void **state)
{
    (void)state;
    static const int64_t ids[] = {
        0, -1, 1, 9007199254740993LL /* 2^53+1 */, -9007199254740993LL, INT64_MAX, INT64_MIN};
    char frame[128];

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(frame, sizeof frame, "{\"op\":\"sub\",\"topic\":\"t\",\"id\":%lld}",
                 (long long)ids[i]);
        assert_int_equal(pj(frame), 0);
        assert_int_equal(M.has_id, 1);
        assert_true(M.id == ids[i]);

        mp_begin(3);
        mp_kv("op", "sub");
        mp_kv("topic", "t");
        mp_s("id");
        msgpack_pack_int64(&PK, ids[i]);
        assert_int_equal(mp_parse(), 0);
        assert_int_equal(M.has_id, 1);
        assert_true(M.id == ids[i]);
    }
}

static void test_msg_parse_rejects_non_integer_id(void **state)
{
    (void)state;
    static const char *const bad[] = {"1.0", "\"5\"", "null", "true", "[1]", "1e3"};
    char frame[128];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(frame, sizeof frame, "{\"op\":\"sub\",\"topic\":\"t\",\"id\":%s}", bad[i]);
        assert_refused(pj(frame), "id must be an integer");
        assert_int_equal(E.has_id, 0);
    }
    mp_begin(3);
    mp_kv("op", "sub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_double(&PK, 3.0);
    assert_refused(mp_parse(), "id must be an integer");
    assert_int_equal(E.has_id, 0);
}

static void test_msg_parse_rejects_id_outside_int64(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"t\",\"id\":9223372036854775808}"),
                   "id must be an integer");
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"t\",\"id\":-9223372036854775809}"),
                   "id must be an integer");
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"t\",\"id\":123456789012345678901234567890}"),
                   "id must be an integer");
    assert_int_equal(E.has_id, 0);

    mp_begin(3);
    mp_kv("op", "sub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_uint64(&PK, (uint64_t)INT64_MAX + 1);
    assert_refused(mp_parse(), "id must be an integer");
    assert_int_equal(E.has_id, 0);
}

static void test_msg_parse_reports_number_overflow_in_data(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"t\",\"id\":1,\"data\":18446744073709551616}"),
                   "number out of range");
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"t\",\"data\":1e999}"), "number out of range");
}

/* ---- errors */

static void test_msg_parse_rejects_malformed_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "{\"op\":\"sub\",",
        "{\"op\":\"sub\",\"topic\":\"t\"} trailing",
        "{op:1}",
        "{\"op\":'sub'}",
        "{\"op\":\"s\xff\"}",
        "nul",
        "{\"a\":1,}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(pj(bad[i]), "malformed JSON");
    assert_refused(msg_parse(P, ENC_JSON, NULL, 0, &M, &E), "malformed JSON");
}

static void test_msg_parse_rejects_non_object_json(void **state)
{
    (void)state;
    assert_refused(pj("[{\"op\":\"sub\",\"topic\":\"t\"}]"), "message must be an object");
    assert_refused(pj("\"sub\""), "message must be an object");
    assert_refused(pj("42"), "message must be an object");
    assert_refused(pj("null"), "message must be an object");
}

static void test_msg_parse_rejects_duplicate_keys(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"a\",\"topic\":\"b\"}"), "duplicate key");
    /* Duplicates anywhere make the message ambiguous, not only at the top. */
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"a\",\"data\":{\"k\":1,\"k\":2}}"),
                   "duplicate key");

    mp_begin(4);
    mp_s("id");
    msgpack_pack_int(&PK, 4);
    mp_kv("op", "sub");
    mp_kv("topic", "a");
    mp_kv("topic", "b");
    assert_refused(mp_parse(), "duplicate key 'topic'");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 4);
}

static void test_msg_parse_rejects_missing_op(void **state)
{
    (void)state;
    assert_refused(pj("{\"topic\":\"t\",\"id\":12}"), "missing op");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 12);
    assert_refused(pj("{}"), "missing op");
    assert_int_equal(E.has_id, 0);

    mp_begin(1);
    mp_kv("topic", "t");
    assert_refused(mp_parse(), "missing op");
}

static void test_msg_parse_rejects_non_string_op(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":1,\"topic\":\"t\",\"id\":2}"), "op must be a string");
    assert_int_equal(E.has_id, 1);
}

static void test_msg_parse_rejects_unknown_op(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"publish\",\"topic\":\"t\",\"id\":3}"), "unknown op 'publish'");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 3);
    assert_refused(pj("{\"op\":\"SUB\",\"topic\":\"t\"}"), "unknown op 'SUB'");
    assert_refused(pj("{\"op\":\"\",\"topic\":\"t\"}"), "unknown op ''");
    /* Control characters (incl. NUL) are not echoed raw. */
    assert_refused(pj("{\"op\":\"a\\u0000b\\n\"}"), "unknown op 'a?b?'");

    mp_begin(1);
    mp_kv("op", "welcome");
    assert_refused(mp_parse(), "unknown op 'welcome'");
}

static void test_msg_parse_truncates_long_unknown_op(void **state)
{
    (void)state;
    char frame[600], want[128];
    memcpy(frame, "{\"op\":\"", 7);
    memset(frame + 7, 'x', 500);
    strcpy(frame + 507, "\"}");
    assert_refused(pj(frame), "unknown op 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    assert_true(strlen(E.reason) < sizeof E.reason);

    /* A cut never splits a UTF-8 sequence: 31 ASCII bytes then 'é' (2 bytes)
     * must drop the whole 'é'. */
    snprintf(frame, sizeof frame, "{\"op\":\"%s\xc3\xa9zz\"}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    snprintf(want, sizeof want, "unknown op '%s...'", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_refused(pj(frame), want);
}

static void test_msg_parse_rejects_missing_topic(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"sub\",\"id\":1}"), "missing topic");
    assert_int_equal(E.has_id, 1);
    assert_refused(pj("{\"op\":\"unsub\"}"), "missing topic");
    assert_refused(pj("{\"op\":\"pub\",\"data\":1}"), "missing topic");
    mp_begin(1);
    mp_kv("op", "sub");
    assert_refused(mp_parse(), "missing topic");
}

static void test_msg_parse_rejects_invalid_topic(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"\",\"id\":8}"), "invalid topic");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 8);
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"a b\"}"), "invalid topic");
    assert_refused(pj("{\"op\":\"sub\",\"topic\":5}"), "invalid topic");
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"caf\xc3\xa9\",\"data\":1}"), "invalid topic");
    assert_refused(pj("{\"op\":\"sub\",\"topic\":\"a\\u0000\"}"), "invalid topic");
    mp_begin(2);
    mp_kv("op", "sub");
    mp_kv("topic", "a*");
    assert_refused(mp_parse(), "invalid topic");
}

static void test_msg_parse_rejects_missing_data(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"t\",\"id\":4}"), "missing data");
    assert_int_equal(E.has_id, 1);
    assert_refused(pj("{\"op\":\"send\",\"to\":\"c\"}"), "missing data");
    mp_begin(2);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    assert_refused(mp_parse(), "missing data");
}

static void test_msg_parse_rejects_missing_to(void **state)
{
    (void)state;
    assert_refused(pj("{\"op\":\"send\",\"data\":1,\"id\":5}"), "missing to");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 5);
    /* A topic does not stand in for "to". */
    assert_refused(pj("{\"op\":\"send\",\"topic\":\"t\",\"data\":1}"), "missing to");
}

static void test_msg_parse_rejects_invalid_to(void **state)
{
    (void)state;
    char frame[400], to[CONN_ID_MAX_LEN + 2];

    assert_refused(pj("{\"op\":\"send\",\"to\":\"\",\"data\":1}"), "invalid to");
    assert_refused(pj("{\"op\":\"send\",\"to\":17,\"data\":1,\"id\":6}"), "invalid to");
    assert_int_equal(E.has_id, 1);

    memset(to, 'c', CONN_ID_MAX_LEN);
    to[CONN_ID_MAX_LEN] = '\0';
    snprintf(frame, sizeof frame, "{\"op\":\"send\",\"to\":\"%s\",\"data\":1}", to);
    assert_int_equal(pj(frame), 0);
    assert_int_equal(M.to_len, CONN_ID_MAX_LEN);
    assert_memory_equal(M.to, to, CONN_ID_MAX_LEN);

    to[CONN_ID_MAX_LEN] = 'c';
    to[CONN_ID_MAX_LEN + 1] = '\0';
    snprintf(frame, sizeof frame, "{\"op\":\"send\",\"to\":\"%s\",\"data\":1}", to);
    assert_refused(pj(frame), "invalid to");
}

/* ---- msgpack-specific refusals */

static void test_msg_parse_rejects_malformed_msgpack(void **state)
{
    (void)state;
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"", 0},
        {"\x81\xa2op", 4},            /* value missing */
        {"\x81\xa2op\xa3sub\xc0", 9}, /* trailing byte */
        {"\xc1", 1},                  /* reserved byte */
        {"\x81\xa2op\xa5sub", 8},     /* str runs past the end */
        {"\xdf\x40\x00\x00\x00"
         "\x00\x00\x00\x00\x00",
         10},                        /* map32: 2^30 entries */
        {"\xdd\xff\xff\xff\xff", 5}, /* array32: 2^32-1 entries */
        {"\xdb\xff\xff\xff\xff"
         "abc",
         8}, /* str32: 4 GiB */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(pm(bad[i].b, bad[i].n), "malformed msgpack");
    assert_refused(msg_parse(P, ENC_MSGPACK, NULL, 0, &M, &E), "malformed msgpack");
}

static void test_msg_parse_rejects_non_map_msgpack(void **state)
{
    (void)state;
    assert_refused(pm("\x92\xa2op\xa3sub", 8), "message must be a map");
    assert_refused(pm("\xc0", 1), "message must be a map");
    assert_refused(pm("\xa3sub", 4), "message must be a map");
}

static void test_msg_parse_rejects_non_string_msgpack_keys(void **state)
{
    (void)state;
    mp_begin(3);
    mp_kv("op", "sub");
    mp_kv("topic", "t");
    msgpack_pack_int(&PK, 1);
    msgpack_pack_int(&PK, 2);
    assert_refused(mp_parse(), "map keys must be strings");

    mp_begin(2);
    mp_s("id");
    msgpack_pack_int(&PK, 9);
    msgpack_pack_bin_with_body(&PK, "op", 2);
    mp_s("sub");
    assert_refused(mp_parse(), "map keys must be strings");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 9);
}

static void test_msg_parse_rejects_invalid_utf8_anywhere_in_msgpack(void **state)
{
    (void)state;
    /* Inside data, nested in an array. */
    mp_begin(4);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_int(&PK, 21);
    mp_s("data");
    msgpack_pack_array(&PK, 2);
    mp_s("fine");
    msgpack_pack_str_with_body(&PK, "\xed\xa0\x80", 3); /* a surrogate */
    assert_refused(mp_parse(), "invalid UTF-8 in string");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 21);

    /* In a map key inside data. */
    mp_begin(3);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("data");
    msgpack_pack_map(&PK, 1);
    msgpack_pack_str_with_body(&PK, "\xc0\xaf", 2);
    msgpack_pack_nil(&PK);
    assert_refused(mp_parse(), "invalid UTF-8 in string");

    /* In an ignored key's value, and in the op itself. */
    mp_begin(3);
    mp_kv("op", "sub");
    mp_kv("topic", "t");
    mp_kv("x", "\xff");
    assert_refused(mp_parse(), "invalid UTF-8 in string");
    mp_begin(2);
    mp_kv("op", "su\x80");
    mp_kv("topic", "t");
    assert_refused(mp_parse(), "invalid UTF-8 in string");

    /* bin is not text: any bytes are fine. */
    mp_begin(3);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("data");
    msgpack_pack_bin_with_body(&PK, "\xff\xfe", 2);
    assert_int_equal(mp_parse(), 0);
}

/* ---- data that cannot be delivered everywhere is refused at the source */

static void mp_raw(const void *bytes, size_t n)
{
    msgpack_sbuffer_write(&SB, bytes, n);
}

static void test_msg_parse_refuses_msgpack_data_with_map_or_array_keys(void **state)
{
    (void)state;
    /* The payload: fixmaps as keys 28 deep, in an ~80-byte pub. */
    uint8_t nested[57];
    size_t n = 0;
    for (int i = 0; i < 28; i++)
        nested[n++] = 0x81;
    nested[n++] = 0xc0;
    for (int i = 0; i < 28; i++)
        nested[n++] = 0xc0;
    mp_begin(4);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_int(&PK, 31);
    mp_s("data");
    mp_raw(nested, n);
    assert_true(SB.size < 90);
    assert_refused(mp_parse(), "data has a map or array as a map key, which has no JSON form");
    assert_int_equal(E.has_id, 1);
    assert_int_equal(E.id, 31);

    /* send too, and an array key deep inside. */
    mp_begin(3);
    mp_kv("op", "send");
    mp_kv("to", "c");
    mp_s("data");
    msgpack_pack_array(&PK, 2);
    msgpack_pack_nil(&PK);
    msgpack_pack_map(&PK, 1);
    msgpack_pack_array(&PK, 0);
    msgpack_pack_int(&PK, 2);
    assert_refused(mp_parse(), "data has a map or array as a map key, which has no JSON form");

    /* Scalar keys have a JSON form: accepted. */
    mp_begin(3);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("data");
    msgpack_pack_map(&PK, 4);
    msgpack_pack_int(&PK, 1);
    msgpack_pack_nil(&PK);
    msgpack_pack_nil(&PK);
    msgpack_pack_int(&PK, 2);
    msgpack_pack_double(&PK, 1.5);
    msgpack_pack_true(&PK);
    msgpack_pack_bin_with_body(&PK, "\xff", 1);
    msgpack_pack_map(&PK, 0);
    assert_int_equal(mp_parse(), 0);

    /* Outside data (an ignored key) such a key is never rendered: ignored. */
    mp_begin(4);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("x");
    mp_raw(nested, n);
    mp_s("data");
    msgpack_pack_int(&PK, 1);
    assert_int_equal(mp_parse(), 0);
    mp_begin(3);
    mp_kv("op", "sub");
    mp_kv("topic", "t");
    mp_s("x");
    mp_raw(nested, n);
    assert_int_equal(mp_parse(), 0);
}

/* A msgpack pub whose data is a str of n control characters (JSON: 6 n + 2
 * bytes). */
static int pub_control_chars(size_t n)
{
    static char ctl[1 << 16];
    assert_true(n <= sizeof ctl);
    memset(ctl, 0x01, n);
    mp_begin(4);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_int(&PK, 8);
    mp_s("data");
    msgpack_pack_str_with_body(&PK, ctl, n);
    return mp_parse();
}

static void test_msg_parse_default_render_budget_is_4x_default_max_message(void **state)
{
    (void)state;
    /* 4 x 65536 = 262144 = 6 x 43690 + 4: 43690 controls render as 262142
     * bytes of JSON, 43691 as 262148. */
    assert_int_equal(msg_render_budget(65536), 262144);
    assert_int_equal(pub_control_chars(43690), 0);
    assert_refused(pub_control_chars(43691), "data too large: over 262144 bytes as JSON");
    assert_int_equal(E.id, 8);
    /* A new budget applies from the next message on. */
    msg_parser_set_render_budget(P, msg_render_budget(1 << 20));
    assert_int_equal(pub_control_chars(43691), 0);
    msg_parser_set_render_budget(P, msg_render_budget(65536)); /* P is shared */
}

static void test_msg_parse_refuses_data_over_the_render_budget(void **state)
{
    (void)state;
    msg_parser_set_render_budget(P, 100);

    /* msgpack data: {false: false, ...} renders as 14 n + 1 bytes. 7
     * entries (15 bytes, more than 100 / 7: rendered to check) make 99. */
    for (int entries = 7; entries <= 8; entries++) {
        mp_begin(3);
        mp_kv("op", "send");
        mp_kv("to", "c");
        mp_s("data");
        msgpack_pack_map(&PK, (size_t)entries);
        for (int i = 0; i < 2 * entries; i++)
            msgpack_pack_false(&PK);
        if (entries == 7)
            assert_int_equal(mp_parse(), 0);
        else
            assert_refused(mp_parse(), "data too large: over 100 bytes as JSON");
    }
    /* Short data cannot pass the budget (14 x 7 <= 100): not rendered. */
    assert_int_equal(pub_control_chars(14), 0);

    /* JSON data: [0.5,...] is 4 k + 1 bytes, and 1 + 9 k as msgpack. */
    char frame[256];
    for (int k = 11; k <= 12; k++) {
        int n = snprintf(frame, sizeof frame, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":[0.5");
        for (int i = 1; i < k; i++)
            n += snprintf(frame + n, sizeof frame - (size_t)n, ",0.5");
        snprintf(frame + n, sizeof frame - (size_t)n, "],\"id\":3}");
        if (k == 11) {
            assert_int_equal(pj(frame), 0);
        } else {
            assert_refused(pj(frame), "data too large: over 100 bytes as msgpack");
            assert_int_equal(E.id, 3);
        }
    }
    /* JSON data longer than the budget itself (as re-serialised: 1e-7
     * becomes 9.9999999999999995e-08). */
    assert_int_equal(pj("{\"op\":\"pub\",\"topic\":\"t\",\"data\":[1e-7,1e-7,1e-7]}"), 0);
    assert_refused(pj("{\"op\":\"pub\",\"topic\":\"t\",\"data\":[1e-7,1e-7,1e-7,1e-7,1e-7]}"),
                   "data too large: over 100 bytes as JSON");
    /* msgpack data longer than the budget itself. */
    static char big[200];
    memset(big, 'x', sizeof big);
    mp_begin(3);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("data");
    msgpack_pack_bin_with_body(&PK, big, sizeof big);
    assert_refused(mp_parse(), "data too large: over 100 bytes as msgpack");
    msg_parser_set_render_budget(P, msg_render_budget(65536)); /* P is shared */
}

/* ---- nesting */

static void test_msg_parse_limits_nesting(void **state)
{
    (void)state;
    char frame[512];
    int n;

    /* JSON: the envelope plus 31 levels of data is the limit (as msgpack). */
    n = snprintf(frame, sizeof frame, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":");
    for (int i = 0; i < 31; i++)
        frame[n++] = '[';
    frame[n++] = '1';
    for (int i = 0; i < 31; i++)
        frame[n++] = ']';
    strcpy(frame + n, "}");
    assert_int_equal(pj(frame), 0);

    n = snprintf(frame, sizeof frame, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":");
    for (int i = 0; i < 32; i++)
        frame[n++] = '[';
    frame[n++] = '1';
    for (int i = 0; i < 32; i++)
        frame[n++] = ']';
    strcpy(frame + n, "}");
    assert_refused(pj(frame), "nesting too deep");

    /* jansson's own limit (2048) is reported the same way. */
    char *deep = malloc(5000);
    memset(deep, '[', 4999);
    deep[4999] = '\0';
    assert_refused(pj(deep), "nesting too deep");
    free(deep);

    /* msgpack: the same count, enforced by mp_check. */
    for (int depth = 31; depth <= 32; depth++) {
        mp_begin(3);
        mp_kv("op", "pub");
        mp_kv("topic", "t");
        mp_s("data");
        for (int i = 0; i < depth; i++)
            msgpack_pack_array(&PK, 1);
        msgpack_pack_int(&PK, 1);
        if (depth == 31)
            assert_int_equal(mp_parse(), 0);
        else
            assert_refused(mp_parse(), "malformed msgpack");
    }
}

/* ---- topics */

static void test_topic_is_valid_edge_cases(void **state)
{
    (void)state;
    char t[TOPIC_MAX_LEN + 2];

    assert_int_equal(topic_is_valid("", 0), 0);
    assert_int_equal(topic_is_valid(NULL, 0), 0);
    assert_int_equal(topic_is_valid("a", 1), 1);
    memset(t, 'a', sizeof t);
    assert_int_equal(topic_is_valid(t, TOPIC_MAX_LEN), 1);
    assert_int_equal(topic_is_valid(t, TOPIC_MAX_LEN + 1), 0);

    const char *ok = "AZaz09._:/-";
    for (const char *c = ok; *c; c++)
        assert_int_equal(topic_is_valid(c, 1), 1);
    assert_int_equal(topic_is_valid(ok, strlen(ok)), 1);

    const char *bad = " \t*#+?&%@!,;=\\\"'{}[]()<>|~`$^";
    for (const char *c = bad; *c; c++) {
        char s[3] = {'a', *c, 'b'};
        assert_int_equal(topic_is_valid(s, 3), 0);
    }
    assert_int_equal(topic_is_valid("a\0b", 3), 0);
    assert_int_equal(topic_is_valid("caf\xc3\xa9", 5), 0);
    assert_int_equal(topic_is_valid("\x7f", 1), 0);
    for (int c = 0x80; c <= 0xff; c++) {
        char s = (char)c;
        assert_int_equal(topic_is_valid(&s, 1), 0);
    }
}

static void test_msg_parse_accepts_topic_of_255_not_256(void **state)
{
    (void)state;
    char frame[400], t[TOPIC_MAX_LEN + 2];

    memset(t, 'q', TOPIC_MAX_LEN);
    t[TOPIC_MAX_LEN] = '\0';
    snprintf(frame, sizeof frame, "{\"op\":\"sub\",\"topic\":\"%s\"}", t);
    assert_int_equal(pj(frame), 0);
    assert_int_equal(M.topic_len, TOPIC_MAX_LEN);
    assert_memory_equal(M.topic, t, TOPIC_MAX_LEN);

    t[TOPIC_MAX_LEN] = 'q';
    t[TOPIC_MAX_LEN + 1] = '\0';
    snprintf(frame, sizeof frame, "{\"op\":\"sub\",\"topic\":\"%s\"}", t);
    assert_refused(pj(frame), "invalid topic");
}

/* ---- hostile input: never crash, never read out of bounds (ASan). */

static void test_msg_parse_survives_every_truncation(void **state)
{
    (void)state;
    const char *json = "{\"op\":\"pub\",\"topic\":\"t\",\"id\":1,\"data\":{\"a\":[1,\"x\",null]}}";
    size_t n = strlen(json);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(copy, json, cut);
        assert_int_equal(msg_parse(P, ENC_JSON, copy, cut, &M, &E), -1);
        assert_int_equal(E.code, CODE_BAD_REQUEST);
        free(copy);
    }

    mp_begin(4);
    mp_kv("op", "pub");
    mp_kv("topic", "t");
    mp_s("id");
    msgpack_pack_int(&PK, 1);
    mp_s("data");
    msgpack_pack_map(&PK, 1);
    mp_s("a");
    msgpack_pack_double(&PK, 1.5);
    for (size_t cut = 0; cut < SB.size; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, SB.data, cut);
        assert_refused(msg_parse(P, ENC_MSGPACK, copy, cut, &M, &E), "malformed msgpack");
        free(copy);
    }
    assert_int_equal(mp_parse(), 0);
}

static void test_msg_parse_survives_random_bytes(void **state)
{
    (void)state;
    uint32_t x = 12345;
    uint8_t frame[64];

    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 1 + iter % sizeof frame;
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            frame[i] = (uint8_t)(x >> 16);
        }
        /* Bias towards plausible starts so the walk goes deeper. */
        if (iter & 1)
            frame[0] = (uint8_t)(0x80 | (frame[0] & 0x0f));
        int rc = msg_parse(P, ENC_MSGPACK, frame, n, &M, &E);
        assert_true(rc == 0 || (rc == -1 && E.code == CODE_BAD_REQUEST && E.reason[0]));
        rc = msg_parse(P, ENC_JSON, frame, n, &M, &E);
        assert_true(rc == 0 || (rc == -1 && E.code == CODE_BAD_REQUEST && E.reason[0]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_parse_json_sub_unsub),
        cmocka_unit_test(test_msg_parse_sub_since_in_both_encodings),
        cmocka_unit_test(test_msg_parse_sub_refuses_a_malformed_since),
        cmocka_unit_test(test_msg_parse_json_pub_reserialises_data_compactly),
        cmocka_unit_test(test_msg_parse_json_pub_accepts_any_data_value),
        cmocka_unit_test(test_msg_parse_json_send),
        cmocka_unit_test(test_msg_parse_json_results_survive_until_next_parse),
        cmocka_unit_test(test_msg_parse_ignores_unknown_keys),
        cmocka_unit_test(test_msg_parse_msgpack_sub_unsub),
        cmocka_unit_test(test_msg_parse_msgpack_pub_points_data_at_its_bytes),
        cmocka_unit_test(test_msg_parse_msgpack_pub_accepts_scalar_data_last),
        cmocka_unit_test(test_msg_parse_msgpack_send),
        cmocka_unit_test(test_msg_parse_rpc),
        cmocka_unit_test(test_msg_parse_keeps_ids_exact),
        cmocka_unit_test(test_msg_parse_rejects_non_integer_id),
        cmocka_unit_test(test_msg_parse_rejects_id_outside_int64),
        cmocka_unit_test(test_msg_parse_reports_number_overflow_in_data),
        cmocka_unit_test(test_msg_parse_rejects_malformed_json),
        cmocka_unit_test(test_msg_parse_rejects_non_object_json),
        cmocka_unit_test(test_msg_parse_rejects_duplicate_keys),
        cmocka_unit_test(test_msg_parse_rejects_missing_op),
        cmocka_unit_test(test_msg_parse_rejects_non_string_op),
        cmocka_unit_test(test_msg_parse_rejects_unknown_op),
        cmocka_unit_test(test_msg_parse_truncates_long_unknown_op),
        cmocka_unit_test(test_msg_parse_rejects_missing_topic),
        cmocka_unit_test(test_msg_parse_rejects_invalid_topic),
        cmocka_unit_test(test_msg_parse_rejects_missing_data),
        cmocka_unit_test(test_msg_parse_rejects_missing_to),
        cmocka_unit_test(test_msg_parse_rejects_invalid_to),
        cmocka_unit_test(test_msg_parse_rejects_malformed_msgpack),
        cmocka_unit_test(test_msg_parse_rejects_non_map_msgpack),
        cmocka_unit_test(test_msg_parse_rejects_non_string_msgpack_keys),
        cmocka_unit_test(test_msg_parse_rejects_invalid_utf8_anywhere_in_msgpack),
        cmocka_unit_test(test_msg_parse_refuses_msgpack_data_with_map_or_array_keys),
        cmocka_unit_test(test_msg_parse_default_render_budget_is_4x_default_max_message),
        cmocka_unit_test(test_msg_parse_refuses_data_over_the_render_budget),
        cmocka_unit_test(test_msg_parse_limits_nesting),
        cmocka_unit_test(test_topic_is_valid_edge_cases),
        cmocka_unit_test(test_msg_parse_accepts_topic_of_255_not_256),
        cmocka_unit_test(test_msg_parse_survives_every_truncation),
        cmocka_unit_test(test_msg_parse_survives_random_bytes),
    };
    msgpack_sbuffer_init(&SB);
    return cmocka_run_group_tests(tests, setup, teardown_all);
}
