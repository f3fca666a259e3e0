/* Unit tests for common/linkio.c: a link's bytes over a real socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/zstream.h"

/* ---- fixtures: two linkio ends joined by a non-blocking socketpair */

struct pair {
    struct linkio a, b;
    int fa, fb;
};

static int pair_setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
    p->fa = sv[0];
    p->fb = sv[1];
    assert_int_equal(linkio_init(&p->a), 0);
    assert_int_equal(linkio_init(&p->b), 0);
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    linkio_deinit(&p->a);
    linkio_deinit(&p->b);
    if (p->fa >= 0)
        close(p->fa);
    if (p->fb >= 0)
        close(p->fb);
    free(p);
    return 0;
}

/* The receiving side's view: what it expects, in order, and what it saw. */
struct rx {
    const struct link_msg *want;
    size_t nwant;
    size_t got;
    size_t stop_at; /* return stop_rc on this message (1-based); 0 = never */
    int stop_rc;
};

/* Two messages are equal iff their encodings are: the encoding covers
 * exactly the fields meaningful for the type. */
static void assert_same_msg(const struct link_msg *x, const struct link_msg *y)
{
    struct buf bx = BUF_INIT, by = BUF_INIT;
    assert_true(link_encode(&bx, x) > 0);
    assert_true(link_encode(&by, y) > 0);
    assert_int_equal(buf_readable(&bx), buf_readable(&by));
    assert_memory_equal(buf_head(&bx), buf_head(&by), buf_readable(&bx));
    buf_deinit(&bx);
    buf_deinit(&by);
}

static int on_msg(void *ud, const struct link_msg *m)
{
    struct rx *rx = ud;
    assert_true(rx->got < rx->nwant);
    assert_same_msg(&rx->want[rx->got], m);
    rx->got++;
    if (rx->stop_at && rx->got == rx->stop_at)
        return rx->stop_rc;
    return 0;
}

static int on_msg_unexpected(void *ud, const struct link_msg *m)
{
    fail_msg("unexpected %s message", link_type_name(m->type));
    return 0;
}

/* Writes what `from` has pending and reads it on the other side until all
 * of it has arrived, alternating so a full socket buffer cannot deadlock. */
static void pump(struct linkio *from, int ffrom, struct linkio *to, int fto, struct rx *rx)
{
    for (int guard = 0; guard < 100000; guard++) {
        int w = linkio_write(from, ffrom);
        assert_true(w == 0 || w == 1);
        int r = linkio_read(to, fto, 1u << 20, on_msg, rx);
        if (r != 0)
            fail_msg("linkio_read returned %d: %s", r, to->err);
        if (w == 0 && to->wire_in == from->wire_out)
            return;
    }
    fail_msg("pump made no progress");
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A varied sample of all types; data points into static storage. */
static struct link_msg sample_msg(unsigned i)
{
    static char text[1024][80];
    static const char *topics[] = {"room:1", "room:2", "news", "x/y/z"};
    struct link_msg m;
    char *t = text[i % 1024];
    int n = snprintf(t, 80, "{\"n\":%u,\"text\":\"hello %u\"}", i, i * 7919);
    memset(&m, 0, sizeof(m));
    m.type = (enum link_type)(1 + i % 9);
    m.version = 1;
    m.name = link_str_c("edge-a");
    m.region = link_str_c("eu");
    m.worker = i % 4;
    m.software = link_str_c("spoke test");
    m.boot = 1700000000000ull + i;
    m.topic = link_str_c(topics[i % 4]);
    m.seq = i;
    m.from = link_str_c("e1.w0.c1");
    m.to = link_str_c("e2.w3.c9");
    m.enc = (uint8_t)(i % 2);
    m.has_id = i % 3 != 0;
    m.id = (int64_t)i - 50;
    m.code = i % 2 ? 404 : 0;
    m.reason = link_str_c(i % 2 ? "not found" : "");
    m.time_ms = 1700000000000ull + 10 * i;
    m.data.ptr = t;
    m.data.len = (uint32_t)n;
    return m;
}

/* Writes b[0, n) straight to the socket (no linkio): a hand-made peer. */
static void write_raw(int fd, const void *b, size_t n)
{
    const uint8_t *p = b;
    while (n) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static int accept_hello(void *ud, const struct link_msg *m)
{
    assert_int_equal(m->type, LINK_HELLO);
    return 0;
}

/* a says hello (its preamble and uncompressed first message) and b takes
 * it: what every real link does first. */
static void peer_hello(struct pair *p)
{
    struct link_msg hello = sample_msg(0);
    assert_int_equal(hello.type, LINK_HELLO);
    assert_int_equal(linkio_send(&p->a, &hello), 0);
    assert_int_equal(linkio_flush(&p->a), 0);
    assert_int_equal(linkio_write(&p->a, p->fa), 0);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, accept_hello, NULL), 0);
    assert_int_equal(p->b.first_in, 1);
    assert_int_equal(p->b.msgs_in, 1);
}

/* After peer_hello: a zstd stream of `raw` as the rest of what a peer
 * sends, made by hand. */
static void write_compressed_raw(int fd, const void *raw, size_t n)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct buf out = BUF_INIT;
    assert_int_equal(zout_write(zo, raw, n, &out), 0);
    assert_int_equal(zout_flush(zo, &out), 0);
    assert_true(buf_readable(&out) < 150000); /* fits the socket buffer */
    write_raw(fd, buf_head(&out), buf_readable(&out));
    buf_deinit(&out);
    zout_free(zo);
}

/* ---- tests */

static void test_linkio_init_queues_preamble_and_flush_without_messages_is_a_noop(void **state)
{
    struct pair *p = *state;
    assert_int_equal(linkio_pending(&p->a), LINK_PREAMBLE_LEN);
    assert_memory_equal(buf_head(&p->a.out), LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    assert_int_equal(linkio_flush(&p->a), 0);
    assert_int_equal(linkio_pending(&p->a), LINK_PREAMBLE_LEN);
}

static void test_linkio_delivers_several_messages_per_flush_and_counts_bytes(void **state)
{
    struct pair *p = *state;
    enum { N = 600 };
    static struct link_msg want[N];
    struct rx rx = {want, N, 0, 0, 0};
    for (unsigned i = 0; i < N; i++)
        want[i] = sample_msg(i);
    unsigned batch = 1;
    for (unsigned i = 0; i < N;) {
        unsigned k, first = i == 0; /* the hello goes uncompressed */
        for (k = 0; k < batch && i < N; k++, i++)
            assert_int_equal(linkio_send(&p->a, &want[i]), 0);
        assert_int_equal(p->a.unflushed, k - first);
        assert_int_equal(linkio_flush(&p->a), 0);
        assert_int_equal(p->a.unflushed, 0);
        pump(&p->a, p->fa, &p->b, p->fb, &rx);
        assert_int_equal(rx.got, i); /* each flush delivers its whole batch */
        batch = batch * 3 + 1;
    }
    assert_int_equal(rx.got, N);
    assert_true(p->a.msgs_out == N && p->b.msgs_in == N);
    assert_true(p->a.raw_out == p->b.raw_in);
    assert_true(p->a.wire_out == p->b.wire_in);
    /* The stream compresses: fewer bytes on the wire than encoded. */
    assert_true(p->a.wire_out < p->a.raw_out);
    assert_int_equal(buf_readable(&p->b.in), 0);

    /* The other direction is independent and works too. */
    struct rx back = {want, 5, 0, 0, 0};
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(linkio_send(&p->b, &want[i]), 0);
    assert_int_equal(linkio_flush(&p->b), 0);
    pump(&p->b, p->fb, &p->a, p->fa, &back);
    assert_int_equal(back.got, 5);
    assert_true(p->b.raw_out == p->a.raw_in && p->b.wire_out == p->a.wire_in);
}

/* The peer's bytes (preamble included) trickle in one at a time. */
static void test_linkio_accepts_preamble_and_stream_split_byte_by_byte(void **state)
{
    struct pair *p = *state;
    enum { N = 12 };
    struct link_msg want[N];
    struct rx rx = {want, N, 0, 0, 0};
    for (unsigned i = 0; i < N; i++) {
        want[i] = sample_msg(i);
        assert_int_equal(linkio_send(&p->a, &want[i]), 0);
        if (i % 4 == 3)
            assert_int_equal(linkio_flush(&p->a), 0);
    }
    const uint8_t *bytes = buf_head(&p->a.out);
    size_t n = linkio_pending(&p->a);
    for (size_t i = 0; i < n; i++) {
        write_raw(p->fa, bytes + i, 1);
        assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg, &rx), 0);
        if (i < LINK_PREAMBLE_LEN)
            assert_int_equal(p->b.preamble_seen, (int)i + 1);
    }
    assert_int_equal(rx.got, N);
    assert_true(p->b.wire_in == n);
    assert_true(p->b.raw_in == p->a.raw_out);
}

static void test_linkio_rejects_peer_with_wrong_preamble(void **state)
{
    struct pair *p = *state;
    write_raw(p->fa, "GET / HTTP/1.1\r\n\r\n", 18);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_string_equal(p->b.err, "not a spoke link (bad preamble)");
}

static void test_linkio_rejects_wrong_preamble_after_a_split_partial_match(void **state)
{
    struct pair *p = *state;
    write_raw(p->fa, "SPOKE", 5);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), 0);
    assert_int_equal(p->b.preamble_seen, 5);
    write_raw(p->fa, "LNX", 3);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_string_equal(p->b.err, "not a spoke link (bad preamble)");
}

/* A length prefix of 100 MB is refused on sight: the buffer never grows
 * past one chunk, however much filler follows. */
static void test_linkio_rejects_declared_100mb_message_without_allocating_it(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    size_t n = 100000;
    uint8_t *raw = malloc(n);
    for (size_t i = 0; i < n; i++)
        raw[i] = (uint8_t)rnd();
    raw[0] = 0x05, raw[1] = 0xf5, raw[2] = 0xe1, raw[3] = 0x00; /* 100,000,000 */
    write_compressed_raw(p->fa, raw, n);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_non_null(strstr(p->b.err, "message too large"));
    assert_true(p->b.in.cap <= 2 * LINKIO_CHUNK);
    free(raw);
}

/* Same, when the huge prefix follows a valid message in the same chunk. */
static void test_linkio_rejects_huge_length_after_valid_message(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    struct link_msg want = sample_msg(8); /* a heartbeat */
    struct rx rx = {&want, 1, 0, 0, 0};
    struct buf raw = BUF_INIT;
    assert_true(link_encode(&raw, &want) > 0);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x92, 0x09, 0x00};
    buf_append(&raw, huge, sizeof(huge));
    write_compressed_raw(p->fa, buf_head(&raw), buf_readable(&raw));
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg, &rx), -1);
    assert_int_equal(rx.got, 1);
    assert_non_null(strstr(p->b.err, "message too large"));
    buf_deinit(&raw);
}

/* 64 MiB of zeros in a few KiB: decoded chunk by chunk, the first four zero
 * bytes are a length of 0 and the link is dropped long before 64 MiB. */
static void test_linkio_drops_link_on_decompression_bomb(void **state)
{
    struct pair *p = *state;
    const size_t total = 64u << 20, step = 1u << 20;
    uint8_t *zeros = calloc(1, step);
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct buf out = BUF_INIT;
    peer_hello(p);
    uint64_t hello_raw = p->b.raw_in;
    for (size_t done = 0; done < total; done += step)
        zout_write(zo, zeros, step, &out);
    zout_flush(zo, &out);
    assert_true(buf_readable(&out) < 100000);
    write_raw(p->fa, buf_head(&out), buf_readable(&out));
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_non_null(strstr(p->b.err, "decode: bad length"));
    assert_true(p->b.raw_in - hello_raw <= LINKIO_CHUNK);
    assert_true(p->b.in.cap <= 2 * LINKIO_CHUNK);
    free(zeros);
    buf_deinit(&out);
    zout_free(zo);
}

/* A bomb shaped as one maximal message of zeros: accepted lengthwise, so
 * buffered, but never more than the bound before decoding refuses it. */
static void test_linkio_bounds_buffer_for_max_length_garbage(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    uint32_t n = LINK_MAX_MESSAGE;
    uint8_t *raw = calloc(1, 4 + (size_t)n + LINKIO_CHUNK);
    raw[0] = (uint8_t)(n >> 24), raw[1] = (uint8_t)(n >> 16);
    raw[2] = (uint8_t)(n >> 8), raw[3] = (uint8_t)n;
    write_compressed_raw(p->fa, raw, 4 + (size_t)n + LINKIO_CHUNK);
    /* 1 MiB of work per call: the 8 MiB message takes several. */
    int rc, calls = 0;
    while ((rc = linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL)) == 0)
        assert_true(++calls < 100);
    assert_int_equal(rc, -1);
    assert_true(calls >= 7);
    assert_non_null(strstr(p->b.err, "decode: malformed msgpack"));
    assert_true(p->b.raw_in <= LINK_MAX_FIRST + 4 + 4 + (size_t)n + LINKIO_CHUNK);
    free(raw);
}

static void test_linkio_reports_corrupt_zstd(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    write_raw(p->fa, "definitely not zstd", 19);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_memory_equal(p->b.err, "zstd: ", 6);
}

static void test_linkio_reports_decode_error(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    static const uint8_t bad[] = {0, 0, 0, 3, 0x92, 0x3f, 0x00}; /* type 63 */
    write_compressed_raw(p->fa, bad, sizeof(bad));
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_string_equal(p->b.err, "decode: unknown type 63");
}

/* The first message travels uncompressed, and the zstd state appears only
 * with the first compressed byte: a peer that connects and says nothing,
 * or only hello, costs no compression context. */
static void test_linkio_creates_zstd_state_only_after_the_first_message(void **state)
{
    struct pair *p = *state;
    assert_null(p->a.zout);
    assert_null(p->a.zin);
    peer_hello(p);
    assert_null(p->a.zout);
    assert_null(p->b.zin);
    /* The hello is readable as is behind the preamble. */
    struct link_msg second = sample_msg(1);
    struct rx rx = {&second, 1, 0, 0, 0};
    assert_int_equal(linkio_send(&p->a, &second), 0);
    assert_non_null(p->a.zout);
    assert_int_equal(linkio_flush(&p->a), 0);
    pump(&p->a, p->fa, &p->b, p->fb, &rx);
    assert_int_equal(rx.got, 1);
    assert_non_null(p->b.zin);
}

static void test_linkio_refuses_a_first_message_that_is_not_hello_or_error(void **state)
{
    struct pair *p = *state;
    struct link_msg m = sample_msg(1);
    assert_int_equal(linkio_send(&p->a, &m), -1); /* our side refuses to send it */
    assert_memory_equal(p->a.err, "encode: ", 8);
    /* A hand-made peer sending one gets the link dropped. */
    struct buf raw = BUF_INIT;
    buf_append(&raw, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    assert_true(link_encode(&raw, &m) > 0);
    write_raw(p->fa, buf_head(&raw), buf_readable(&raw));
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_string_equal(p->b.err, "decode: expected hello first, got interest_add");
    buf_deinit(&raw);
}

/* A length beyond LINK_MAX_FIRST is refused on its 4 bytes: a stranger
 * gets no buffer before it said who it is. */
static void test_linkio_refuses_an_oversized_first_message_on_its_prefix(void **state)
{
    struct pair *p = *state;
    static const uint8_t big[] = {0x00, 0x00, 0x08, 0x01}; /* 2049 */
    write_raw(p->fa, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    write_raw(p->fa, big, sizeof big);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_non_null(strstr(p->b.err, "first message of 2049 bytes"));
    assert_true(p->b.in.cap <= 64);
}

/* A version-1 peer compresses its hello: say what is wrong. */
static void test_linkio_names_a_version_1_peer(void **state)
{
    struct pair *p = *state;
    struct link_msg hello = sample_msg(0);
    struct buf raw = BUF_INIT;
    assert_true(link_encode(&raw, &hello) > 0);
    write_raw(p->fa, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    write_compressed_raw(p->fa, buf_head(&raw), buf_readable(&raw));
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg_unexpected, NULL), -1);
    assert_non_null(strstr(p->b.err, "older link protocol"));
    buf_deinit(&raw);
}

/* Work per call is bounded by decompressed bytes: 64 MiB of valid
 * messages in a few hundred KiB on the wire are dispatched a budget at a
 * time, the rest waiting as a backlog that needs no socket readiness. */
static int count_msg(void *ud, const struct link_msg *m)
{
    (*(size_t *)ud)++;
    return 0;
}

static void test_linkio_works_off_an_inflating_input_a_budget_per_call(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    /* One incompressible-looking header, then a long run of identical
     * messages that compress to almost nothing. */
    enum { SIZE = 60000, N = 1100 };
    static uint8_t data[SIZE];
    struct link_msg m = sample_msg(3); /* publish */
    m.data.ptr = (const char *)data;
    m.data.len = SIZE;
    for (int i = 0; i < N; i++)
        assert_int_equal(linkio_send(&p->a, &m), 0);
    assert_int_equal(linkio_flush(&p->a), 0);
    assert_true(linkio_pending(&p->a) < 1u << 20); /* ~66 MB squeezed */
    size_t got = 0, calls = 0;
    const size_t budget = 256 * 1024;
    while (got < (size_t)N) {
        (void)linkio_write(&p->a, p->fa);
        uint64_t raw_before = p->b.raw_in;
        assert_int_equal(linkio_read(&p->b, p->fb, budget, count_msg, &got), 0);
        /* At most one decompression step beyond the budget per call. */
        assert_true(p->b.raw_in - raw_before <= budget + LINKIO_CHUNK);
        /* The backlog is at most one read of wire bytes. */
        assert_true(buf_readable(&p->b.pend) <= LINKIO_CHUNK);
        assert_true(++calls < 100000);
        if (got < (size_t)N && p->b.wire_in == p->a.wire_out)
            assert_true(linkio_has_backlog(&p->b)); /* nothing left to wake epoll */
    }
    assert_true(calls >= (size_t)N * SIZE / (budget + LINKIO_CHUNK));
    assert_false(linkio_has_backlog(&p->b));
}

static void test_linkio_callback_nonzero_stops_reading(void **state)
{
    struct pair *p = *state;
    struct link_msg want[5];
    struct rx rx = {want, 5, 0, 2, 7};
    for (unsigned i = 0; i < 5; i++) {
        want[i] = sample_msg(i);
        linkio_send(&p->a, &want[i]);
    }
    linkio_flush(&p->a);
    assert_int_equal(linkio_write(&p->a, p->fa), 0);
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg, &rx), 7);
    assert_int_equal(rx.got, 2);
    assert_true(p->b.msgs_in == 2);
}

/* The callback may free the link: linkio_read must not touch it after. */
struct owner {
    struct linkio *l;
    int calls;
};

static int free_link_cb(void *ud, const struct link_msg *m)
{
    struct owner *o = ud;
    o->calls++;
    linkio_deinit(o->l);
    free(o->l);
    o->l = NULL;
    return 1;
}

static void test_linkio_callback_may_free_the_link(void **state)
{
    struct pair *p = *state;
    struct linkio *heap = calloc(1, sizeof(*heap));
    assert_int_equal(linkio_init(heap), 0);
    struct owner o = {heap, 0};
    struct link_msg m = sample_msg(0); /* hello, then two more of them */
    for (int i = 0; i < 3; i++)
        linkio_send(&p->a, &m);
    linkio_flush(&p->a);
    assert_int_equal(linkio_write(&p->a, p->fa), 0);
    assert_int_equal(linkio_read(heap, p->fb, 1u << 20, free_link_cb, &o), 1);
    assert_int_equal(o.calls, 1);
    assert_null(o.l);
}

static void test_linkio_returns_eof_after_dispatching_what_arrived(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    struct link_msg want[3];
    struct rx rx = {want, 3, 0, 0, 0};
    for (unsigned i = 0; i < 3; i++) {
        want[i] = sample_msg(i + 20);
        linkio_send(&p->a, &want[i]);
    }
    linkio_flush(&p->a);
    assert_int_equal(linkio_write(&p->a, p->fa), 0);
    close(p->fa);
    p->fa = -1;
    assert_int_equal(linkio_read(&p->b, p->fb, 1u << 20, on_msg, &rx), 1);
    assert_int_equal(rx.got, 3);
}

static void test_linkio_write_reports_closed_peer(void **state)
{
    struct pair *p = *state;
    struct link_msg m = sample_msg(0);
    close(p->fb);
    p->fb = -1;
    linkio_send(&p->a, &m);
    linkio_flush(&p->a);
    /* MSG_NOSIGNAL: EPIPE comes back as an error, no SIGPIPE kills us. */
    assert_int_equal(linkio_write(&p->a, p->fa), -1);
    assert_memory_equal(p->a.err, "write: ", 7);
}

/* Incompressible data fills the socket: write says "wait for EV_WRITE",
 * and everything arrives once the reader drains. */
static void test_linkio_write_returns_1_when_socket_is_full(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    enum { N = 40, SIZE = 32 * 1024 };
    static uint8_t data[N][SIZE];
    struct link_msg want[N];
    struct rx rx = {want, N, 0, 0, 0};
    for (unsigned i = 0; i < N; i++) {
        for (size_t k = 0; k < SIZE; k++)
            data[i][k] = (uint8_t)rnd();
        want[i] = sample_msg(3); /* publish */
        want[i].data.ptr = (const char *)data[i];
        want[i].data.len = SIZE;
        assert_int_equal(linkio_send(&p->a, &want[i]), 0);
    }
    assert_int_equal(linkio_flush(&p->a), 0);
    assert_int_equal(linkio_write(&p->a, p->fa), 1);
    assert_true(linkio_pending(&p->a) > 0);
    pump(&p->a, p->fa, &p->b, p->fb, &rx);
    assert_int_equal(rx.got, N);
    assert_int_equal(linkio_pending(&p->a), 0);
    assert_true(p->a.wire_out == p->b.wire_in && p->a.raw_out == p->b.raw_in);
}

/* A small budget reads one chunk and leaves the rest for the next call. */
static void test_linkio_read_stops_at_budget(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    enum { N = 5, SIZE = 24 * 1024 };
    static uint8_t data[N][SIZE];
    struct link_msg want[N];
    struct rx rx = {want, N, 0, 0, 0};
    for (unsigned i = 0; i < N; i++) {
        for (size_t k = 0; k < SIZE; k++)
            data[i][k] = (uint8_t)rnd();
        want[i] = sample_msg(3);
        want[i].data.ptr = (const char *)data[i];
        want[i].data.len = SIZE;
        linkio_send(&p->a, &want[i]);
    }
    linkio_flush(&p->a);
    assert_int_equal(linkio_write(&p->a, p->fa), 0); /* ~120 KiB fits the socket */
    uint64_t wire0 = p->b.wire_in;
    assert_int_equal(linkio_read(&p->b, p->fb, 1, on_msg, &rx), 0);
    assert_true(p->b.wire_in - wire0 <= LINKIO_CHUNK);
    assert_true(rx.got < N);
    for (int guard = 0; rx.got < N; guard++) {
        assert_true(guard < 10000);
        assert_int_equal(linkio_read(&p->b, p->fb, 1, on_msg, &rx), 0);
    }
    assert_int_equal(rx.got, N);
    assert_true(p->b.wire_in == p->a.wire_out);
}

/* A message at the size limit crosses; the large buffers it needed are
 * released once it is through, so an idle link is small again. */
static void test_linkio_carries_max_size_message_and_releases_buffers(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    size_t n = LINK_MAX_MESSAGE - 200;
    uint8_t *data = malloc(n);
    for (size_t k = 0; k < n; k++)
        data[k] = (uint8_t)rnd();
    struct link_msg want = sample_msg(3);
    want.data.ptr = (const char *)data;
    want.data.len = (uint32_t)n;
    struct rx rx = {&want, 1, 0, 0, 0};
    assert_int_equal(linkio_send(&p->a, &want), 0);
    assert_int_equal(linkio_flush(&p->a), 0);
    pump(&p->a, p->fa, &p->b, p->fb, &rx);
    assert_int_equal(rx.got, 1);
    assert_true(p->a.out.cap <= 4 * LINKIO_CHUNK);
    assert_true(p->a.scratch.cap <= 4 * LINKIO_CHUNK);
    assert_true(p->b.in.cap <= 4 * LINKIO_CHUNK);
    free(data);
}

static void test_linkio_send_rejects_invalid_message(void **state)
{
    struct pair *p = *state;
    struct link_msg m;
    memset(&m, 0, sizeof(m));
    m.type = (enum link_type)42;
    assert_int_equal(linkio_send(&p->a, &m), -1);
    assert_memory_equal(p->a.err, "encode: ", 8);
    assert_true(p->a.msgs_out == 0 && p->a.raw_out == 0 && p->a.unflushed == 0);
}

static void test_linkio_deinit_is_safe_on_zeroed_struct_and_twice(void **state)
{
    struct linkio l;
    memset(&l, 0, sizeof(l));
    linkio_deinit(&l);
    assert_int_equal(linkio_init(&l), 0);
    linkio_deinit(&l);
    linkio_deinit(&l);
}

/* ---- looking ahead (linkio_read_ahead) */

/* What the peek callback saw, checked against rx's messages as they are
 * dispatched. */
struct ahead {
    struct rx rx;
    size_t next;         /* the index in rx.want the next peek must show */
    size_t peeked;       /* messages shown to on_peek */
    size_t peek_stop_at; /* return 0 on this peek (1-based); 0 = never */
    size_t peeked_at_stop;
};

static int ahead_peek(void *ud, const struct link_msg *m)
{
    struct ahead *a = ud;
    if (a->next <= a->rx.got)
        a->next = a->rx.got + 1; /* the next to go is dispatched as decoded */
    /* Each message at most once, in order, never one already dispatched. */
    assert_true(a->next < a->rx.nwant);
    assert_same_msg(&a->rx.want[a->next], m);
    a->next++;
    a->peeked++;
    return !(a->peek_stop_at && a->peeked == a->peek_stop_at);
}

static int ahead_msg(void *ud, const struct link_msg *m)
{
    struct ahead *a = ud;
    if (a->next <= a->rx.got)
        a->next = a->rx.got + 1; /* dispatched as it was decoded, without a peek */
    /* At most LINKIO_AHEAD shown beyond this one. */
    assert_true(a->next <= a->rx.got + 1 + LINKIO_AHEAD);
    /* Dispatched in order, with the strings of one decoded ahead intact. */
    int rc = on_msg(&a->rx, m);
    a->peeked_at_stop = a->peeked;
    return rc;
}

/* Sends n sample messages after the hello and writes them. */
static void send_samples(struct pair *p, struct link_msg *want, unsigned n)
{
    peer_hello(p);
    for (unsigned i = 0; i < n; i++) {
        want[i] = sample_msg(i + 1);
        assert_int_equal(linkio_send(&p->a, &want[i]), 0);
    }
    assert_int_equal(linkio_flush(&p->a), 0);
    assert_int_equal(linkio_write(&p->a, p->fa), 0);
}

static void test_linkio_read_ahead_shows_messages_before_dispatching_them_in_order(void **state)
{
    struct pair *p = *state;
    enum { N = 40 };
    struct link_msg want[N];
    send_samples(p, want, N);
    struct ahead a = {.rx = {want, N, 0, 0, 0}};
    /* The first is dispatched as it is decoded; each later one is shown
     * LINKIO_AHEAD messages before its turn. */
    assert_int_equal(linkio_read_ahead(&p->b, p->fb, 1u << 20, ahead_msg, ahead_peek, &a), 0);
    assert_int_equal(a.rx.got, N);
    assert_int_equal(a.peeked, N - 1); /* all but the first */
    assert_int_equal(p->b.msgs_in, 1 + N);
    assert_false(linkio_has_backlog(&p->b));
}

static void test_linkio_read_ahead_stops_peeking_when_told(void **state)
{
    struct pair *p = *state;
    enum { N = 20 };
    struct link_msg want[N];
    send_samples(p, want, N);
    struct ahead a = {.rx = {want, N, 0, 0, 0}, .peek_stop_at = 2};
    assert_int_equal(linkio_read_ahead(&p->b, p->fb, 1u << 20, ahead_msg, ahead_peek, &a), 0);
    assert_int_equal(a.rx.got, N);
    assert_int_equal(a.peeked, 2);
}

/* A callback that stops the read: what was decoded ahead is neither
 * dispatched nor shown again, and is not counted. */
static void test_linkio_read_ahead_stops_at_once_mid_batch(void **state)
{
    struct pair *p = *state;
    enum { N = 20 };
    struct link_msg want[N];
    send_samples(p, want, N);
    struct ahead a = {.rx = {want, N, 0, 3, 7}};
    assert_int_equal(linkio_read_ahead(&p->b, p->fb, 1u << 20, ahead_msg, ahead_peek, &a), 7);
    assert_int_equal(a.rx.got, 3);
    assert_int_equal(a.peeked, a.peeked_at_stop);
    assert_int_equal(a.peeked, 2 + LINKIO_AHEAD); /* the 3rd's look-ahead */
    assert_int_equal(p->b.msgs_in, 1 + 3);
}

/* An undecodable message behind good ones: they are dispatched first, it
 * is never shown, and the error is the one linkio_read reports. */
static void test_linkio_read_ahead_reports_a_decode_error_at_its_turn(void **state)
{
    struct pair *p = *state;
    peer_hello(p);
    struct link_msg want[3];
    struct buf raw = BUF_INIT;
    for (unsigned i = 0; i < 3; i++) {
        want[i] = sample_msg(i + 1);
        assert_true(link_encode(&raw, &want[i]) > 0);
    }
    static const uint8_t bad[] = {0, 0, 0, 3, 0x92, 0x3f, 0x00}; /* type 63 */
    buf_append(&raw, bad, sizeof bad);
    write_compressed_raw(p->fa, buf_head(&raw), buf_readable(&raw));
    buf_deinit(&raw);
    struct ahead a = {.rx = {want, 3, 0, 0, 0}};
    assert_int_equal(linkio_read_ahead(&p->b, p->fb, 1u << 20, ahead_msg, ahead_peek, &a), -1);
    assert_string_equal(p->b.err, "decode: unknown type 63");
    assert_int_equal(a.rx.got, 3);
    assert_int_equal(a.peeked, 2); /* the second and third: the first went at once */
}

#define T(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_linkio_init_queues_preamble_and_flush_without_messages_is_a_noop),
        T(test_linkio_delivers_several_messages_per_flush_and_counts_bytes),
        T(test_linkio_accepts_preamble_and_stream_split_byte_by_byte),
        T(test_linkio_rejects_peer_with_wrong_preamble),
        T(test_linkio_rejects_wrong_preamble_after_a_split_partial_match),
        T(test_linkio_rejects_declared_100mb_message_without_allocating_it),
        T(test_linkio_rejects_huge_length_after_valid_message),
        T(test_linkio_drops_link_on_decompression_bomb),
        T(test_linkio_bounds_buffer_for_max_length_garbage),
        T(test_linkio_reports_corrupt_zstd),
        T(test_linkio_reports_decode_error),
        T(test_linkio_creates_zstd_state_only_after_the_first_message),
        T(test_linkio_refuses_a_first_message_that_is_not_hello_or_error),
        T(test_linkio_refuses_an_oversized_first_message_on_its_prefix),
        T(test_linkio_names_a_version_1_peer),
        T(test_linkio_works_off_an_inflating_input_a_budget_per_call),
        T(test_linkio_callback_nonzero_stops_reading),
        T(test_linkio_callback_may_free_the_link),
        T(test_linkio_returns_eof_after_dispatching_what_arrived),
        T(test_linkio_write_reports_closed_peer),
        T(test_linkio_write_returns_1_when_socket_is_full),
        T(test_linkio_read_stops_at_budget),
        T(test_linkio_carries_max_size_message_and_releases_buffers),
        T(test_linkio_send_rejects_invalid_message),
        T(test_linkio_deinit_is_safe_on_zeroed_struct_and_twice),
        T(test_linkio_read_ahead_shows_messages_before_dispatching_them_in_order),
        T(test_linkio_read_ahead_stops_peeking_when_told),
        T(test_linkio_read_ahead_stops_at_once_mid_batch),
        T(test_linkio_read_ahead_reports_a_decode_error_at_its_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
