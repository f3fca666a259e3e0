/* Unit tests for common/link.c: the link message codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/mpcheck.h"

/* ---- helpers */

static char big[LINK_MAX_EDGES_JSON + 2]; /* 'a' * n, for limit tests */

static struct link_str str_n(size_t n)
{
    struct link_str s = {big, (uint32_t)n};
    return s;
}

static void assert_str_eq(struct link_str a, struct link_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.ptr, b.ptr, a.len);
}

/* Every field of every type set to something distinctive. */
static struct link_msg full_msg(enum link_type t)
{
    static const uint8_t payload[] = {0x00, 0xff, 0x10, 0x80, '{', '}'};
    struct link_msg m;
    memset(&m, 0, sizeof(m));
    m.type = t;
    switch (t) {
    case LINK_HELLO:
        m.version = LINK_PROTOCOL_VERSION;
        m.name = link_str_c("edge-a");
        m.region = link_str_c("eu-west");
        m.worker = 3;
        m.software = link_str_c("spoke 0.1");
        m.boot = 1700000000123ull;
        m.heartbeat_ms = 5000;
        m.public_url = link_str_c("wss://fra-1.example.com/ws");
        break;
    case LINK_INTEREST_ADD:
        m.topic = link_str_c("room:42");
        m.id = 77;
        m.since_seq = UINT64_MAX - 1;
        m.since_epoch = link_str_c("k3x9a0qz");
        break;
    case LINK_HISTORY_READ:
        m.topic = link_str_c("room:42");
        m.id = -5;
        m.since_seq = 41;
        m.since_epoch = link_str_c("0123456789abcdef");
        break;
    case LINK_HISTORY_RESULT:
        m.topic = link_str_c("room:42");
        m.id = -5;
        m.code = 0;
        m.reason = link_str_c("");
        m.seq = 57;
        m.epoch = link_str_c("k3x9a0qz");
        m.recovered = 1;
        break;
    case LINK_TOPIC_RESET:
        m.topic = link_str_c("room:42");
        m.seq = 1ull << 33;
        m.epoch = link_str_c("zz00zz00");
        m.reason = link_str_c("epoch changed: the topic's numbering restarted");
        break;
    case LINK_PUBLISH_RESULT:
        m.pub_id = UINT64_MAX;
        m.code = 429;
        m.reason = link_str_c("max_topics");
        m.seq = 1ull << 40;
        m.epoch = link_str_c("p0q1r2s3");
        break;
    case LINK_INTEREST_REMOVE: m.topic = link_str_c("room:42"); break;
    case LINK_INTEREST_RESULT:
        m.topic = link_str_c("room:42");
        m.id = 77;
        m.code = 429;
        m.reason = link_str_c("the hub holds max_topics (10) topics");
        m.seq = 123456;
        m.epoch = link_str_c("k3x9a0qz");
        m.recovered = 1;
        break;
    case LINK_PUBLISH:
        m.topic = link_str_c("room:42");
        m.from = link_str_c("e1.w0.c17");
        m.user = link_str_c("user-42");
        m.enc = 1;
        m.data.ptr = (const char *)payload;
        m.data.len = sizeof(payload);
        m.pub_id = 9007199254740993ull;
        break;
    case LINK_MESSAGE:
        m.topic = link_str_c("room:42");
        m.seq = UINT64_MAX;
        m.from = link_str_c("e1.w0.c17");
        m.enc = 0;
        m.data = link_str_c("{\"x\":1}");
        m.replay = 88;
        break;
    case LINK_DIRECT:
        m.to = link_str_c("e2.w1.c9");
        m.from = link_str_c("e1.w0.c17");
        m.has_id = 1;
        m.id = -42;
        m.enc = 1;
        m.data.ptr = (const char *)payload;
        m.data.len = sizeof(payload);
        break;
    case LINK_DIRECT_RESULT:
        m.to = link_str_c("e1.w0.c17");
        m.id = INT64_MAX;
        m.code = 404;
        m.reason = link_str_c("no such connection");
        break;
    case LINK_ERROR:
        m.code = UINT32_MAX;
        m.reason = link_str_c("protocol version mismatch");
        break;
    case LINK_HEARTBEAT:
        m.time_ms = 1700000000999ull;
        m.echo_us = 123456789;
        break;
    case LINK_DRAIN: m.time_ms = 2500; break;
    case LINK_HOOKS:
        m.data = link_str_c("{\"version\":3,\"url\":\"http://127.0.0.1:9/hooks\","
                            "\"events\":{\"connect\":{\"fail\":\"open\"}}}");
        break;
    case LINK_EDGES:
        m.data = link_str_c("{\"edges\":[{\"name\":\"edge-a\",\"region\":\"local\","
                            "\"url\":\"ws://127.0.0.1:8080/ws\",\"clients\":1}],"
                            "\"generated_ms\":1765000000000}");
        break;
    case LINK_KICK:
        m.to = link_str_c("edge-a:1:0badcafe:7");
        m.code = 4001;
        m.reason = link_str_c("bye");
        break;
    case LINK_STATS:
        m.stats.uptime_s = 12;
        m.stats.clients = 15000;
        m.stats.msgs_out = UINT64_MAX;
        m.stats.closed_rate = 3;
        break;
    case LINK_POLICY:
        policy_defaults(&m.policy);
        m.policy.idle_timeout_ms = 250;
        m.policy.rate_limit = 1L << 40; /* beyond 32 bits */
        break;
    }
    return m;
}

/* Compares the fields meaningful for a.type. */
static void assert_msg_eq(const struct link_msg *a, const struct link_msg *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case LINK_HELLO:
        assert_int_equal(a->version, b->version);
        assert_str_eq(a->name, b->name);
        assert_str_eq(a->region, b->region);
        assert_int_equal(a->worker, b->worker);
        assert_str_eq(a->software, b->software);
        assert_true(a->boot == b->boot);
        assert_int_equal(a->heartbeat_ms, b->heartbeat_ms);
        assert_str_eq(a->public_url, b->public_url);
        break;
    case LINK_INTEREST_ADD:
    case LINK_HISTORY_READ:
        assert_str_eq(a->topic, b->topic);
        assert_true(a->id == b->id);
        assert_true(a->since_seq == b->since_seq);
        assert_str_eq(a->since_epoch, b->since_epoch);
        break;
    case LINK_HISTORY_RESULT:
        assert_str_eq(a->topic, b->topic);
        assert_true(a->id == b->id);
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        assert_true(a->seq == b->seq);
        assert_str_eq(a->epoch, b->epoch);
        assert_int_equal(a->recovered, b->recovered);
        break;
    case LINK_TOPIC_RESET:
        assert_str_eq(a->topic, b->topic);
        assert_true(a->seq == b->seq);
        assert_str_eq(a->epoch, b->epoch);
        assert_str_eq(a->reason, b->reason);
        break;
    case LINK_PUBLISH_RESULT:
        assert_true(a->pub_id == b->pub_id);
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        assert_true(a->seq == b->seq);
        assert_str_eq(a->epoch, b->epoch);
        break;
    case LINK_INTEREST_REMOVE: assert_str_eq(a->topic, b->topic); break;
    case LINK_INTEREST_RESULT:
        assert_str_eq(a->topic, b->topic);
        assert_true(a->id == b->id);
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        assert_true(a->seq == b->seq);
        assert_str_eq(a->epoch, b->epoch);
        assert_int_equal(a->recovered, b->recovered);
        break;
    case LINK_PUBLISH:
        assert_str_eq(a->topic, b->topic);
        assert_str_eq(a->from, b->from);
        assert_str_eq(a->user, b->user);
        assert_int_equal(a->enc, b->enc);
        assert_str_eq(a->data, b->data);
        assert_true(a->pub_id == b->pub_id);
        break;
    case LINK_MESSAGE:
        assert_str_eq(a->topic, b->topic);
        assert_true(a->seq == b->seq);
        assert_str_eq(a->from, b->from);
        assert_str_eq(a->user, b->user);
        assert_int_equal(a->enc, b->enc);
        assert_str_eq(a->data, b->data);
        assert_true(a->replay == b->replay);
        break;
    case LINK_DIRECT:
        assert_str_eq(a->to, b->to);
        assert_str_eq(a->from, b->from);
        assert_int_equal(a->has_id, b->has_id);
        if (a->has_id)
            assert_true(a->id == b->id);
        assert_int_equal(a->enc, b->enc);
        assert_str_eq(a->data, b->data);
        break;
    case LINK_DIRECT_RESULT:
        assert_str_eq(a->to, b->to);
        assert_true(a->id == b->id);
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        break;
    case LINK_ERROR:
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        break;
    case LINK_HEARTBEAT:
        assert_true(a->time_ms == b->time_ms);
        assert_true(a->echo_us == b->echo_us);
        break;
    case LINK_POLICY: assert_true(policy_equal(&a->policy, &b->policy)); break;
    case LINK_STATS: assert_memory_equal(&a->stats, &b->stats, sizeof a->stats); break;
    case LINK_DRAIN: assert_true(a->time_ms == b->time_ms); break;
    case LINK_EDGES:
    case LINK_HOOKS: assert_str_eq(a->data, b->data); break;
    case LINK_KICK:
        assert_str_eq(a->to, b->to);
        assert_int_equal(a->code, b->code);
        assert_str_eq(a->reason, b->reason);
        break;
    }
}

static void roundtrip(const struct link_msg *m)
{
    struct buf b = BUF_INIT;
    struct link_msg d;
    char err[128] = "";
    int n = link_encode(&b, m);
    assert_true(n > 4);
    assert_int_equal((size_t)n, buf_readable(&b));
    int r = link_decode(buf_head(&b), buf_readable(&b), &d, err, sizeof(err));
    if (r != n)
        fail_msg("decode returned %d (%s) for %s", r, err, link_type_name(m->type));
    assert_msg_eq(m, &d);
    buf_deinit(&b);
}

static const enum link_type all_types[] = {
    LINK_HELLO,          LINK_INTEREST_ADD,    LINK_INTEREST_REMOVE, LINK_PUBLISH,
    LINK_MESSAGE,        LINK_DIRECT,          LINK_DIRECT_RESULT,   LINK_ERROR,
    LINK_HEARTBEAT,      LINK_POLICY,          LINK_STATS,           LINK_KICK,
    LINK_DRAIN,          LINK_INTEREST_RESULT, LINK_PUBLISH_RESULT,  LINK_HISTORY_READ,
    LINK_HISTORY_RESULT, LINK_TOPIC_RESET,     LINK_EDGES,           LINK_HOOKS,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

/* Raw frames built with msgpack-c directly, to feed the decoder what our
 * encoder would never produce. */
struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct buf frame;
};

static int raw_write(void *data, const char *p, size_t n)
{
    return msgpack_sbuffer_write(data, p, n);
}

static void raw_begin(struct raw *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, raw_write);
    buf_init(&r->frame);
}

/* Prefixes what was packed with its length; returns the frame. */
static struct buf *raw_end(struct raw *r)
{
    uint32_t n = (uint32_t)r->sb.size;
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    buf_reset(&r->frame);
    buf_append(&r->frame, hdr, 4);
    buf_append(&r->frame, r->sb.data, r->sb.size);
    return &r->frame;
}

static void raw_free(struct raw *r)
{
    msgpack_sbuffer_destroy(&r->sb);
    buf_deinit(&r->frame);
}

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Asserts that decoding the frame fails and the reason mentions `why`. */
static void expect_reject(struct buf *f, const char *why)
{
    struct link_msg m;
    char err[160] = "";
    int r = link_decode(buf_head(f), buf_readable(f), &m, err, sizeof(err));
    if (r != -1)
        fail_msg("decode returned %d, expected -1 (%s)", r, why);
    if (!strstr(err, why))
        fail_msg("reason \"%s\" does not mention \"%s\"", err, why);
}

static void expect_accept(struct buf *f, struct link_msg *m)
{
    char err[160] = "";
    int r = link_decode(buf_head(f), buf_readable(f), m, err, sizeof(err));
    if (r != (int)buf_readable(f))
        fail_msg("decode returned %d (%s), expected %zu", r, err, buf_readable(f));
}

static int setup(void **state)
{
    memset(big, 'a', sizeof(big));
    return 0;
}

/* ---- round trips */

static void test_link_roundtrip_every_type(void **state)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]);
        roundtrip(&m);
    }
}

static void test_link_roundtrip_direct_without_id_and_with_positive_id(void **state)
{
    struct link_msg m = full_msg(LINK_DIRECT);
    m.has_id = 0;
    m.id = 99; /* ignored without has_id */
    roundtrip(&m);

    struct buf b = BUF_INIT;
    struct link_msg d;
    link_encode(&b, &m);
    assert_true(link_decode(buf_head(&b), buf_readable(&b), &d, NULL, 0) > 0);
    assert_int_equal(d.has_id, 0);
    buf_deinit(&b);

    m.has_id = 1;
    m.id = 0;
    roundtrip(&m);
    m.id = INT64_MIN;
    roundtrip(&m);
    m.id = INT64_MAX;
    roundtrip(&m);
}

static void test_link_roundtrip_max_size_strings(void **state)
{
    struct link_msg m = full_msg(LINK_HELLO);
    m.name = str_n(LINK_MAX_NAME);
    m.region = str_n(LINK_MAX_NAME);
    m.software = str_n(LINK_MAX_NAME);
    roundtrip(&m);

    m = full_msg(LINK_MESSAGE);
    m.topic = str_n(LINK_MAX_TOPIC);
    m.from = str_n(LINK_MAX_CONN_ID);
    roundtrip(&m);

    m = full_msg(LINK_DIRECT);
    m.to = str_n(LINK_MAX_CONN_ID);
    m.from = str_n(LINK_MAX_CONN_ID);
    roundtrip(&m);

    m = full_msg(LINK_DIRECT_RESULT);
    m.to = str_n(LINK_MAX_CONN_ID);
    m.reason = str_n(LINK_MAX_REASON);
    roundtrip(&m);

    m = full_msg(LINK_ERROR);
    m.reason = str_n(LINK_MAX_REASON);
    roundtrip(&m);
}

static void test_link_roundtrip_empty_strings_and_zero_values(void **state)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m;
        memset(&m, 0, sizeof(m));
        m.type = all_types[i];
        roundtrip(&m);
    }
}

/* Data near the message limit exercises the 32-bit length forms. */
static void test_link_roundtrip_large_data(void **state)
{
    size_t n = LINK_MAX_MESSAGE - 100;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 31);
    struct link_msg m = full_msg(LINK_PUBLISH);
    m.data.ptr = data;
    m.data.len = (uint32_t)n;
    roundtrip(&m);
    free(data);
}

static void test_link_decode_points_into_input(void **state)
{
    struct link_msg m = full_msg(LINK_MESSAGE), d;
    struct buf b = BUF_INIT;
    int n = link_encode(&b, &m);
    assert_int_equal(link_decode(buf_head(&b), (size_t)n, &d, NULL, 0), n);
    const char *lo = (const char *)buf_head(&b), *hi = lo + n;
    assert_true(d.topic.ptr > lo && d.topic.ptr + d.topic.len <= hi);
    assert_true(d.from.ptr > lo && d.from.ptr + d.from.len <= hi);
    assert_true(d.data.ptr > lo && d.data.ptr + d.data.len <= hi);
    buf_deinit(&b);
}

static void test_link_decode_consumes_one_message_of_a_stream(void **state)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]);
        assert_true(link_encode(&b, &m) > 0);
    }
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]), d;
        int r = link_decode(buf_head(&b), buf_readable(&b), &d, NULL, 0);
        assert_true(r > 0);
        assert_msg_eq(&m, &d);
        buf_consume(&b, (size_t)r);
    }
    assert_int_equal(buf_readable(&b), 0);
    buf_deinit(&b);
}

static void test_link_encode_appends_after_existing_bytes(void **state)
{
    struct buf b = BUF_INIT;
    struct link_msg m = full_msg(LINK_HEARTBEAT), d;
    buf_append(&b, "xyz", 3);
    buf_consume(&b, 1);
    int n = link_encode(&b, &m);
    assert_int_equal(buf_readable(&b), 2 + (size_t)n);
    assert_memory_equal(buf_head(&b), "yz", 2);
    assert_int_equal(link_decode(buf_head(&b) + 2, (size_t)n, &d, NULL, 0), n);
    assert_msg_eq(&m, &d);
    buf_deinit(&b);
}

/* ---- incomplete input */

static void test_link_decode_returns_0_for_every_strict_prefix(void **state)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]), d;
        struct buf b = BUF_INIT;
        int n = link_encode(&b, &m);
        for (int k = 0; k < n; k++) {
            /* A copy of exactly k bytes, so ASan catches any read past it. */
            uint8_t *p = malloc(k ? (size_t)k : 1);
            memcpy(p, buf_head(&b), (size_t)k);
            int r = link_decode(p, (size_t)k, &d, NULL, 0);
            free(p);
            if (r != 0)
                fail_msg("%s: prefix of %d/%d bytes returned %d", link_type_name(m.type), k, n, r);
        }
        buf_deinit(&b);
    }
}

static void test_link_decode_needs_more_on_truncated_length_header(void **state)
{
    static const uint8_t f[] = {0, 0, 0, 4, 0x93, 0x09, 0x00, 0x00};
    struct link_msg m;
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(link_decode(f, k, &m, NULL, 0), 0);
    assert_int_equal(link_decode(f, 4, &m, NULL, 0), 0);
    assert_int_equal(link_decode(f, sizeof(f), &m, NULL, 0), (int)sizeof(f));
}

static void test_link_decode_rejects_msgpack_truncated_inside_frame(void **state)
{
    /* The frame is complete but its msgpack ends early inside the N bytes:
     * a str header declaring 5 bytes with none after it. */
    static const uint8_t f[] = {0, 0, 0, 3, 0x92, 0x02, 0xa5};
    struct link_msg m;
    char err[64];
    assert_int_equal(link_decode(f, sizeof(f), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "malformed msgpack");
}

/* ---- bad lengths */

static void test_link_decode_rejects_zero_length(void **state)
{
    static const uint8_t f[] = {0, 0, 0, 0, 0x91, 0x09};
    struct link_msg m;
    char err[64];
    assert_int_equal(link_decode(f, sizeof(f), &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad length"));
    /* Even with nothing after the prefix. */
    assert_int_equal(link_decode(f, 4, &m, NULL, 0), -1);
}

static void test_link_decode_rejects_length_above_max_from_prefix_alone(void **state)
{
    uint32_t n = LINK_MAX_MESSAGE + 1;
    uint8_t f[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    struct link_msg m;
    char err[64];
    assert_int_equal(link_decode(f, 4, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad length"));
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(link_decode(huge, 4, &m, err, sizeof(err)), -1);
}

/* ---- malformed messages */

static void test_link_decode_rejects_non_array_and_empty_array(void **state)
{
    struct raw r;
    raw_begin(&r);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 2);
    expect_reject(raw_end(&r), "not an array");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_uint8(&r.pk, 9);
    expect_reject(raw_end(&r), "not an array");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 0);
    expect_reject(raw_end(&r), "empty array");
    raw_free(&r);
}

static void test_link_decode_rejects_unknown_type(void **state)
{
    static const int64_t bad[] = {0, 21, 63, 127, 255, 65536, -1, -100};
    struct raw r;
    raw_begin(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msgpack_sbuffer_clear(&r.sb);
        msgpack_pack_array(&r.pk, 2);
        msgpack_pack_int64(&r.pk, bad[i]);
        msgpack_pack_uint64(&r.pk, 1);
        expect_reject(raw_end(&r), "unknown type");
    }
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 2);
    pack_s(&r.pk, "hello");
    msgpack_pack_uint64(&r.pk, 1);
    expect_reject(raw_end(&r), "type");
    raw_free(&r);
}

/* For every type, the array cut to fewer elements than the layout needs. */
static void test_link_decode_rejects_too_few_elements(void **state)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]);
        struct buf b = BUF_INIT;
        int n = link_encode(&b, &m);
        uint8_t *p = buf_head(&b);
        /* Our encoder writes a fixarray or an array16 (STATS has 16 elements). */
        assert_true((p[4] >= 0x92 && p[4] <= 0x9f) || p[4] == 0xdc);
        unsigned count = p[4] == 0xdc ? (unsigned)(p[5] << 8 | p[6]) : p[4] & 0x0fu;
        size_t first = p[4] == 0xdc ? 7 : 5;
        for (unsigned keep = 1; keep < count; keep++) {
            /* Keep the first `keep` elements: find where element `keep` starts. */
            struct raw r;
            raw_begin(&r);
            size_t off = first;
            for (unsigned e = 0; e < keep; e++) {
                /* Re-use the decoder-independent walker from msgpack-c. */
                msgpack_zone z;
                msgpack_object o;
                size_t at = off;
                msgpack_zone_init(&z, 256);
                assert_int_equal(msgpack_unpack((const char *)p, (size_t)n, &at, &z, &o),
                                 MSGPACK_UNPACK_EXTRA_BYTES);
                msgpack_zone_destroy(&z);
                off = at;
            }
            msgpack_pack_array(&r.pk, keep);
            msgpack_sbuffer_write(&r.sb, (const char *)p + first, off - first);
            expect_reject(raw_end(&r), "too few elements");
            raw_free(&r);
        }
        buf_deinit(&b);
    }
}

static void test_link_decode_ignores_extra_trailing_elements(void **state)
{
    struct raw r;
    struct link_msg m;
    raw_begin(&r);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_ADD);
    pack_s(&r.pk, "room:1");
    msgpack_pack_uint64(&r.pk, 42);
    msgpack_pack_uint64(&r.pk, 0);
    pack_s(&r.pk, "");
    msgpack_pack_map(&r.pk, 1);
    pack_s(&r.pk, "future");
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_nil(&r.pk);
    msgpack_pack_double(&r.pk, 1.5);
    pack_s(&r.pk, "more");
    expect_accept(raw_end(&r), &m);
    assert_int_equal(m.type, LINK_INTEREST_ADD);
    assert_int_equal(m.topic.len, 6);
    assert_memory_equal(m.topic.ptr, "room:1", 6);
    raw_free(&r);
}

/* The reader walks the elements after the fields itself (it no longer runs
 * mp_check over the whole frame first): an addition nested as deep as the
 * top array allows is accepted, one level more is malformed, as it was. */
static void test_link_decode_trailing_elements_keep_the_depth_limit(void **state)
{
    for (int extra = 0; extra <= 1; extra++) {
        struct raw r;
        struct link_msg m;
        raw_begin(&r);
        msgpack_pack_array(&r.pk, 3);
        msgpack_pack_uint8(&r.pk, LINK_INTEREST_REMOVE);
        pack_s(&r.pk, "room:1");
        /* The top array is one open container: MP_MAX_DEPTH - 1 more fit. */
        for (int d = 0; d < MP_MAX_DEPTH - 1 + extra; d++)
            msgpack_pack_array(&r.pk, 1);
        msgpack_pack_nil(&r.pk);
        if (extra)
            expect_reject(raw_end(&r), "malformed msgpack");
        else
            expect_accept(raw_end(&r), &m);
        raw_free(&r);
    }
}

/* A field of the wrong type ahead of malformed bytes: the frame is
 * malformed msgpack, whichever byte the reader stopped at; and an array
 * that declares more elements than it holds. */
static void test_link_decode_reports_malformed_before_field_errors(void **state)
{
    struct raw r;
    raw_begin(&r);
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_REMOVE);
    msgpack_pack_uint8(&r.pk, 7); /* not a str */
    msgpack_sbuffer_write(&r.sb, "\xc1", 1);
    expect_reject(raw_end(&r), "malformed msgpack");
    raw_free(&r);

    raw_begin(&r);
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_REMOVE);
    msgpack_pack_uint8(&r.pk, 7);
    expect_reject(raw_end(&r), "topic: expected str");
    raw_free(&r);

    raw_begin(&r);
    msgpack_pack_array(&r.pk, 4);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_REMOVE);
    pack_s(&r.pk, "room:1");
    msgpack_pack_nil(&r.pk); /* one of the two additions declared */
    expect_reject(raw_end(&r), "malformed msgpack");
    raw_free(&r);
}

/* Decoding clears every member the type does not carry, whatever *m held
 * before, except policy (POLICY only) and stats (STATS only). */
static void test_link_decode_clears_what_the_type_does_not_carry(void **state)
{
    for (size_t i = 0; i < NTYPES; i++) {
        struct link_msg m = full_msg(all_types[i]);
        struct buf b = BUF_INIT;
        int n = link_encode(&b, &m);
        assert_true(n > 0);
        struct link_msg dirty, clean;
        memset(&dirty, 0xa5, sizeof dirty);
        memset(&clean, 0, sizeof clean);
        assert_int_equal(link_decode(buf_head(&b), (size_t)n, &dirty, NULL, 0), n);
        assert_int_equal(link_decode(buf_head(&b), (size_t)n, &clean, NULL, 0), n);
        size_t upto = offsetof(struct link_msg, policy);
        if (all_types[i] == LINK_POLICY || all_types[i] == LINK_STATS)
            upto = sizeof(struct link_msg);
        if (memcmp(&dirty, &clean, upto) != 0)
            fail_msg("%s: a member it does not carry kept its old bytes",
                     link_type_name(all_types[i]));
        buf_deinit(&b);
    }
}

static void test_link_decode_rejects_wrong_element_types(void **state)
{
    struct raw r;
    raw_begin(&r);

    /* topic as an integer */
    msgpack_pack_array(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_ADD);
    msgpack_pack_uint8(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "interest_add: topic: expected str");

    /* topic as bin */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_REMOVE);
    msgpack_pack_bin_with_body(&r.pk, "t", 1);
    expect_reject(raw_end(&r), "interest_remove: topic: expected str");

    /* data as str */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_PUBLISH);
    pack_s(&r.pk, "t");
    pack_s(&r.pk, "c");
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "{}");
    pack_s(&r.pk, "");
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "publish: data: expected bin");

    /* enc as str */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_PUBLISH);
    pack_s(&r.pk, "t");
    pack_s(&r.pk, "c");
    pack_s(&r.pk, "json");
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "publish: enc: expected an unsigned integer");

    /* seq negative */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 8);
    msgpack_pack_uint8(&r.pk, LINK_MESSAGE);
    pack_s(&r.pk, "t");
    msgpack_pack_int64(&r.pk, -1);
    pack_s(&r.pk, "c");
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "message: seq: expected an unsigned integer");

    /* seq as float */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 8);
    msgpack_pack_uint8(&r.pk, LINK_MESSAGE);
    pack_s(&r.pk, "t");
    msgpack_pack_double(&r.pk, 1.0);
    pack_s(&r.pk, "c");
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "message: seq");

    /* version above uint32 */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 9);
    msgpack_pack_uint8(&r.pk, LINK_HELLO);
    msgpack_pack_uint64(&r.pk, (uint64_t)UINT32_MAX + 1);
    pack_s(&r.pk, "n");
    pack_s(&r.pk, "r");
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "s");
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "hello: version: out of range");

    /* id as str */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_DIRECT);
    pack_s(&r.pk, "to");
    pack_s(&r.pk, "from");
    pack_s(&r.pk, "1");
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "direct: id: expected an integer or nil");

    /* id above INT64_MAX */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, LINK_DIRECT_RESULT);
    pack_s(&r.pk, "to");
    msgpack_pack_uint64(&r.pk, (uint64_t)INT64_MAX + 1);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "ok");
    expect_reject(raw_end(&r), "direct_result: id: out of range");

    /* nil id where no nil is allowed */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, LINK_DIRECT_RESULT);
    pack_s(&r.pk, "to");
    msgpack_pack_nil(&r.pk);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "ok");
    expect_reject(raw_end(&r), "direct_result: id: expected an integer");

    /* time_ms as bool */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, LINK_HEARTBEAT);
    msgpack_pack_true(&r.pk);
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "heartbeat: time_ms");

    /* code as nested array */
    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, LINK_ERROR);
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 1);
    pack_s(&r.pk, "bye");
    expect_reject(raw_end(&r), "error: code");
    raw_free(&r);
}

static void test_link_decode_rejects_unknown_enc(void **state)
{
    struct raw r;
    raw_begin(&r);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_PUBLISH);
    pack_s(&r.pk, "t");
    pack_s(&r.pk, "c");
    msgpack_pack_uint8(&r.pk, 2);
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    msgpack_pack_uint8(&r.pk, 0);
    expect_reject(raw_end(&r), "unknown enc");
    raw_free(&r);
}

/* Positive values in signed encodings are values like any other (msgpack-c
 * itself decodes them as POSITIVE_INTEGER); negative ids in any width work. */
static void test_link_decode_accepts_any_integer_encoding_in_range(void **state)
{
    static const uint8_t body[] = {
        0x99, 0xd0, 0x01,                                              /* type 1 as int8 */
        0xd1, 0x00, 0x01,                                              /* version 1 as int16 */
        0xa1, 'n',  0xa1, 'r',  0xce, 0x00, 0x00, 0x00, 0x05,          /* worker 5 as uint32 */
        0xa1, 's',  0xd3, 0x00, 0,    0,    0,    0,    0,    0, 0x07, /* boot 7 as int64 */
        0xcd, 0x13, 0x88, /* heartbeat_ms 5000 as uint16 */
        0xa0,             /* public_url "" */
    };
    struct buf f = BUF_INIT;
    uint8_t hdr[4] = {0, 0, 0, sizeof(body)};
    buf_append(&f, hdr, 4);
    buf_append(&f, body, sizeof(body));
    struct link_msg m;
    expect_accept(&f, &m);
    assert_int_equal(m.type, LINK_HELLO);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.worker, 5);
    assert_true(m.boot == 7);
    assert_int_equal(m.heartbeat_ms, 5000);

    static const uint8_t ids[][10] = {
        {1, 0xff},                                                 /* -1 fixint */
        {2, 0xd0, 0x80},                                           /* -128 */
        {3, 0xd1, 0x80, 0x00},                                     /* -32768 */
        {5, 0xd2, 0x80, 0, 0, 0},                                  /* INT32_MIN */
        {9, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},                      /* INT64_MIN */
        {9, 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, /* INT64_MAX */
    };
    static const int64_t want[] = {-1, -128, -32768, INT32_MIN, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        buf_reset(&f);
        uint8_t msg[32];
        size_t n = 0;
        msg[n++] = 0x95;
        msg[n++] = LINK_DIRECT_RESULT;
        msg[n++] = 0xa1;
        msg[n++] = 't';
        memcpy(msg + n, ids[i] + 1, ids[i][0]);
        n += ids[i][0];
        msg[n++] = 0x00;
        msg[n++] = 0xa0;
        uint8_t h[4] = {0, 0, 0, (uint8_t)n};
        buf_append(&f, h, 4);
        buf_append(&f, msg, n);
        expect_accept(&f, &m);
        assert_true(m.id == want[i]);
    }
    buf_deinit(&f);
}

static void test_link_decode_rejects_strings_over_their_limit(void **state)
{
    struct raw r;
    raw_begin(&r);

    msgpack_pack_array(&r.pk, 5);
    msgpack_pack_uint8(&r.pk, LINK_INTEREST_ADD);
    msgpack_pack_str_with_body(&r.pk, big, LINK_MAX_TOPIC + 1);
    msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "interest_add: topic: too long");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 9);
    msgpack_pack_uint8(&r.pk, LINK_HELLO);
    msgpack_pack_uint8(&r.pk, 1);
    pack_s(&r.pk, "n");
    msgpack_pack_str_with_body(&r.pk, big, LINK_MAX_NAME + 1);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "s");
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_uint8(&r.pk, 0);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "hello: region: too long");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 7);
    msgpack_pack_uint8(&r.pk, LINK_DIRECT);
    msgpack_pack_str_with_body(&r.pk, big, LINK_MAX_CONN_ID + 1);
    pack_s(&r.pk, "f");
    msgpack_pack_nil(&r.pk);
    msgpack_pack_uint8(&r.pk, 0);
    msgpack_pack_bin_with_body(&r.pk, "{}", 2);
    pack_s(&r.pk, "");
    expect_reject(raw_end(&r), "direct: to: too long");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 3);
    msgpack_pack_uint8(&r.pk, LINK_ERROR);
    msgpack_pack_uint8(&r.pk, 1);
    msgpack_pack_str_with_body(&r.pk, big, LINK_MAX_REASON + 1);
    expect_reject(raw_end(&r), "error: reason: too long");

    msgpack_sbuffer_clear(&r.sb);
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_uint8(&r.pk, LINK_EDGES);
    msgpack_pack_str_with_body(&r.pk, big, LINK_MAX_EDGES_JSON + 1);
    expect_reject(raw_end(&r), "edges: edges: too long");
    raw_free(&r);
}

/* Huge array32/map32/str32/bin32 headers in a frame of a few bytes: refused
 * by the structural check, so nothing ever sizes an allocation from them. */
static void test_link_decode_rejects_hostile_size_headers_in_small_frame(void **state)
{
    static const uint8_t frames[][16] = {
        {0, 0, 0, 5, 0xdd, 0xff, 0xff, 0xff, 0xff},
        {0, 0, 0, 5, 0xdd, 0x04, 0x00, 0x00, 0x00},
        {0, 0, 0, 7, 0xdd, 0x00, 0x00, 0x00, 0x02, 0x02, 0xdf},
        {0, 0, 0, 8, 0x92, 0x02, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x00},
        {0, 0, 0, 8, 0x92, 0x02, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
        {0, 0, 0, 12, 0x95, 0x04, 0xa1, 't', 0xa1, 'c', 0x00, 0xc6, 0xff, 0xff, 0xff, 0xf0},
        {0, 0, 0, 6, 0x92, 0x02, 0xc9, 0x7f, 0xff, 0xff},
    };
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        size_t len = 4 + frames[i][3];
        struct link_msg m;
        char err[64];
        uint8_t *p = malloc(len); /* exact size: ASan flags any overread */
        memcpy(p, frames[i], len);
        if (link_decode(p, len, &m, err, sizeof(err)) != -1)
            fail_msg("hostile frame %zu accepted", i);
        assert_string_equal(err, "malformed msgpack");
        free(p);
    }
}

static void test_link_decode_rejects_reserved_byte_c1(void **state)
{
    static const uint8_t f[] = {0, 0, 0, 4, 0x93, 0x09, 0x01, 0xc1};
    struct link_msg m;
    char err[64];
    assert_int_equal(link_decode(f, sizeof(f), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "malformed msgpack");
}

static void test_link_decode_rejects_trailing_garbage_inside_length(void **state)
{
    struct link_msg m = full_msg(LINK_HEARTBEAT), d;
    struct buf b = BUF_INIT;
    int n = link_encode(&b, &m);
    buf_append_u8(&b, 0x00); /* inside the frame once N is bumped */
    buf_head(&b)[3]++;
    char err[64];
    assert_int_equal(link_decode(buf_head(&b), (size_t)n + 1, &d, err, sizeof(err)), -1);
    assert_string_equal(err, "malformed msgpack");
    buf_deinit(&b);
}

static void test_link_decode_tolerates_null_err_and_tiny_errlen(void **state)
{
    static const uint8_t f[] = {0, 0, 0, 2, 0x91, 0x3f};
    struct link_msg m;
    char err[4] = "zzz";
    assert_int_equal(link_decode(f, sizeof(f), &m, NULL, 0), -1);
    assert_int_equal(link_decode(f, sizeof(f), &m, err, 0), -1);
    assert_string_equal(err, "zzz");
    assert_int_equal(link_decode(f, sizeof(f), &m, err, sizeof(err)), -1);
    assert_string_equal(err, "unk");
}

/* ---- encoder refusals */

static void expect_encode_refused(const struct link_msg *m)
{
    struct buf b = BUF_INIT;
    buf_append(&b, "keep", 4);
    if (link_encode(&b, m) != -1)
        fail_msg("encoded an invalid %s", link_type_name(m->type));
    assert_int_equal(buf_readable(&b), 4);
    assert_memory_equal(buf_head(&b), "keep", 4);
    buf_deinit(&b);
}

static void test_link_encode_rejects_invalid_messages_and_leaves_out_unchanged(void **state)
{
    struct link_msg m;
    memset(&m, 0, sizeof(m));
    m.type = (enum link_type)0;
    expect_encode_refused(&m);
    m.type = (enum link_type)63;
    expect_encode_refused(&m);

    m = full_msg(LINK_PUBLISH);
    m.enc = 2;
    expect_encode_refused(&m);

    m = full_msg(LINK_INTEREST_ADD);
    m.topic = str_n(LINK_MAX_TOPIC + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_HELLO);
    m.software = str_n(LINK_MAX_NAME + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_DIRECT);
    m.from = str_n(LINK_MAX_CONN_ID + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_ERROR);
    m.reason = str_n(LINK_MAX_REASON + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_EDGES);
    m.data = str_n(LINK_MAX_EDGES_JSON + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_HOOKS);
    m.data = str_n(LINK_MAX_HOOKS_JSON + 1);
    expect_encode_refused(&m);

    m = full_msg(LINK_PUBLISH);
    m.data.ptr = NULL;
    m.data.len = 3;
    expect_encode_refused(&m);
}

static void test_link_encode_rejects_message_over_max(void **state)
{
    /* Data that fits alone but not with the envelope around it. */
    size_t n = LINK_MAX_MESSAGE - 8;
    char *data = calloc(1, n);
    assert_non_null(data);
    struct link_msg m = full_msg(LINK_PUBLISH);
    m.data.ptr = data;
    m.data.len = (uint32_t)n;
    expect_encode_refused(&m);
    m.data.len = LINK_MAX_MESSAGE + 1;
    expect_encode_refused(&m);
    free(data);
}

/* ---- small helpers */

static void test_link_type_name_names_every_type(void **state)
{
    static const char *names[] = {
        "hello",        "interest_add",   "interest_remove", "publish",         "message",
        "direct",       "direct_result",  "error",           "heartbeat",       "policy",
        "stats",        "kick",           "drain",           "interest_result", "publish_result",
        "history_read", "history_result", "topic_reset",     "edges",           "hooks"};
    for (size_t i = 0; i < NTYPES; i++)
        assert_string_equal(link_type_name(all_types[i]), names[i]);
    assert_string_equal(link_type_name((enum link_type)0), "unknown");
    assert_string_equal(link_type_name((enum link_type)63), "unknown");
    assert_string_equal(link_type_name((enum link_type) - 1), "unknown");
}

static void test_link_str_c_wraps_a_c_string(void **state)
{
    struct link_str s = link_str_c("abc");
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "abc", 3);
    s = link_str_c("");
    assert_int_equal(s.len, 0);
    s = link_str_c(NULL);
    assert_int_equal(s.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_roundtrip_every_type),
        cmocka_unit_test(test_link_roundtrip_direct_without_id_and_with_positive_id),
        cmocka_unit_test(test_link_roundtrip_max_size_strings),
        cmocka_unit_test(test_link_roundtrip_empty_strings_and_zero_values),
        cmocka_unit_test(test_link_roundtrip_large_data),
        cmocka_unit_test(test_link_decode_points_into_input),
        cmocka_unit_test(test_link_decode_consumes_one_message_of_a_stream),
        cmocka_unit_test(test_link_encode_appends_after_existing_bytes),
        cmocka_unit_test(test_link_decode_returns_0_for_every_strict_prefix),
        cmocka_unit_test(test_link_decode_needs_more_on_truncated_length_header),
        cmocka_unit_test(test_link_decode_rejects_msgpack_truncated_inside_frame),
        cmocka_unit_test(test_link_decode_rejects_zero_length),
        cmocka_unit_test(test_link_decode_rejects_length_above_max_from_prefix_alone),
        cmocka_unit_test(test_link_decode_rejects_non_array_and_empty_array),
        cmocka_unit_test(test_link_decode_rejects_unknown_type),
        cmocka_unit_test(test_link_decode_rejects_too_few_elements),
        cmocka_unit_test(test_link_decode_ignores_extra_trailing_elements),
        cmocka_unit_test(test_link_decode_trailing_elements_keep_the_depth_limit),
        cmocka_unit_test(test_link_decode_reports_malformed_before_field_errors),
        cmocka_unit_test(test_link_decode_clears_what_the_type_does_not_carry),
        cmocka_unit_test(test_link_decode_rejects_wrong_element_types),
        cmocka_unit_test(test_link_decode_rejects_unknown_enc),
        cmocka_unit_test(test_link_decode_accepts_any_integer_encoding_in_range),
        cmocka_unit_test(test_link_decode_rejects_strings_over_their_limit),
        cmocka_unit_test(test_link_decode_rejects_hostile_size_headers_in_small_frame),
        cmocka_unit_test(test_link_decode_rejects_reserved_byte_c1),
        cmocka_unit_test(test_link_decode_rejects_trailing_garbage_inside_length),
        cmocka_unit_test(test_link_decode_tolerates_null_err_and_tiny_errlen),
        cmocka_unit_test(test_link_encode_rejects_invalid_messages_and_leaves_out_unchanged),
        cmocka_unit_test(test_link_encode_rejects_message_over_max),
        cmocka_unit_test(test_link_type_name_names_every_type),
        cmocka_unit_test(test_link_str_c_wraps_a_c_string),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
