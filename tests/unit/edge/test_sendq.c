/* Unit tests for edge/sendq.c: the ring's formulas (sendq.h) hold after
 * every call, frames leave in order through a fake writev that takes
 * partial writes, refuses with EAGAIN or fails, and the ring, the frame
 * references, the cost and the pool of rings are accounted exactly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "edge/sendq.h"

#define BASE_CAP 16 /* sendq.c's SENDQ_BASE_CAP: the ring size that is pooled */

/* A socket stand-in: takes at most `take` bytes per call (0: all of them),
 * or fails `fail` more times with errno `err`; records what it was given. */
struct fake {
    struct buf out;
    size_t take;
    int err, fail;
    int calls, max_iovcnt;
};

static ssize_t fake_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
    struct fake *f = ctx;
    f->calls++;
    if (iovcnt > f->max_iovcnt)
        f->max_iovcnt = iovcnt;
    if (f->fail) {
        f->fail--;
        errno = f->err;
        return -1;
    }
    size_t room = f->take ? f->take : SIZE_MAX, w = 0;
    for (int i = 0; i < iovcnt && room; i++) {
        size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;
        buf_append(&f->out, iov[i].iov_base, n);
        w += n;
        room -= n;
    }
    return (ssize_t)w;
}

static struct sendq_pool pool;
static struct fake fk;

static int setup(void **state)
{
    (void)state;
    memset(&pool, 0, sizeof pool);
    memset(&fk, 0, sizeof fk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sendq_pool_deinit(&pool);
    buf_deinit(&fk.out);
    return 0;
}

/* sendq.h's invariants, and `bytes` equal to what the queued frames hold
 * beyond the head's written part. */
static void assert_invariants(const struct sendq *q)
{
    assert_true((q->ring == NULL) == (q->cap == 0));
    assert_true(q->count <= q->cap);
    assert_int_equal(q->cap & (q->cap - 1), 0);
    uint64_t unwritten = 0;
    for (uint32_t i = 0; i < q->count; i++) {
        const struct frame *f = q->ring[(q->head + i) & (q->cap - 1)];
        unwritten += f->len - (i == 0 ? q->head_off : 0);
    }
    if (q->count)
        assert_true(q->head_off < q->ring[q->head]->len);
    else
        assert_int_equal(q->head_off, 0);
    assert_int_equal(q->bytes, unwritten);
    assert_int_equal(sendq_cost(q), unwritten + (uint64_t)q->count * SENDQ_FRAME_COST);
    assert_int_equal(sendq_is_empty(q), q->count == 0);
}

/* Frame i: `len` bytes, each (i + j) mod 251, so order mistakes show. */
static struct frame *mk(int i, size_t len)
{
    uint8_t b[2048];
    assert_true(len <= sizeof b);
    for (size_t j = 0; j < len; j++)
        b[j] = (uint8_t)((i + j) % 251);
    return frame_raw(b, len);
}

/* The bytes frames first..last (mk(i, len)) hold, in order. */
static void expect(struct buf *want, int first, int last, size_t len)
{
    for (int i = first; i <= last; i++) {
        struct frame *f = mk(i, len);
        buf_append(want, f->data, f->len);
        frame_unref(f);
    }
}

static void assert_written(const struct buf *want)
{
    assert_int_equal(buf_readable(&fk.out), buf_readable(want));
    assert_memory_equal(buf_head(&fk.out), buf_head(want), buf_readable(want));
}

static void test_sendq_idle_queue_holds_no_ring(void **state)
{
    (void)state;
    struct sendq q = {0};
    assert_invariants(&q);
    assert_true(sendq_is_empty(&q));
    assert_int_equal(sendq_cost(&q), 0);
    assert_null(sendq_last_unstarted(&q));
    /* Flushing nothing does not call the transport. */
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 0);
    sendq_drop_unstarted(&q, &pool);
    sendq_clear(&q, &pool);
    assert_null(q.ring);
    assert_int_equal(pool.nfree, 0);
}

static void test_sendq_push_takes_ownership_and_counts_bytes_and_cost(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct frame *f = mk(0, 10);
    frame_ref(f); /* ours, to watch the queue's */
    sendq_push(&q, &pool, f);
    sendq_push(&q, &pool, mk(1, 20));
    sendq_push(&q, &pool, mk(2, 0));
    assert_int_equal(q.cap, BASE_CAP);
    assert_int_equal(q.count, 3);
    assert_int_equal(q.bytes, 30);
    assert_int_equal(sendq_cost(&q), 30 + 3 * SENDQ_FRAME_COST);
    assert_int_equal(f->refs, 2);
    assert_invariants(&q);
    sendq_clear(&q, &pool);
    assert_int_equal(f->refs, 1); /* the queue let go of its reference */
    frame_unref(f);
    assert_invariants(&q);
}

/* Frames over sendq.c's SENDQ_GATHER_FRAME (512) bytes each go to writev
 * as one iovec per frame. */
static void test_sendq_flush_writes_every_frame_in_order_and_gives_the_ring_back(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 5; i++)
        sendq_push(&q, &pool, mk(i, 600 + i));
    for (int i = 0; i < 5; i++)
        expect(&want, i, i, 600 + i);
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 1); /* one writev for the lot */
    assert_int_equal(fk.max_iovcnt, 5);
    assert_written(&want);
    assert_null(q.ring);
    assert_int_equal(pool.nfree, 1);
    assert_invariants(&q);
    buf_deinit(&want);
}

/* Small frames, up to SENDQ_GATHER (16 KiB) of them, are copied into one
 * buffer and written as a single iovec, in order. */
static void test_sendq_flush_gathers_small_frames_into_one_iovec(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 5; i++)
        sendq_push(&q, &pool, mk(i, 30 + i));
    for (int i = 0; i < 5; i++)
        expect(&want, i, i, 30 + i);
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 1);
    assert_int_equal(fk.max_iovcnt, 1);
    assert_written(&want);
    assert_null(q.ring);
    assert_invariants(&q);
    buf_deinit(&want);
}

/* Past 16 KiB in all, small frames keep one iovec each. */
static void test_sendq_flush_does_not_gather_past_16k(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 40; i++)
        sendq_push(&q, &pool, mk(i, 500));
    expect(&want, 0, 39, 500);
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 1);
    assert_int_equal(fk.max_iovcnt, 40);
    assert_written(&want);
    buf_deinit(&want);
}

/* A gathered write that the socket takes only in part leaves the queue
 * exactly where an iovec write would have. */
static void test_sendq_flush_resumes_a_partial_gathered_write(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 4; i++)
        sendq_push(&q, &pool, mk(i, 100));
    expect(&want, 0, 3, 100);
    fk.take = 150;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_int_equal(q.count, 3);
    assert_int_equal(q.head_off, 50);
    assert_int_equal(q.bytes, 250);
    assert_invariants(&q);
    fk.take = 0;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.max_iovcnt, 1);
    assert_written(&want);
    buf_deinit(&want);
}

static void test_sendq_flush_resumes_a_partial_write_mid_frame(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 4; i++)
        sendq_push(&q, &pool, mk(i, 10));
    expect(&want, 0, 3, 10);
    fk.take = 7; /* never a whole number of frames */
    int rounds = 0, rc;
    while ((rc = sendq_flush(&q, &pool, fake_writev, &fk)) == 1) {
        rounds++;
        /* A short write is one writev: the socket is taken to be full. */
        assert_int_equal(fk.calls, rounds);
        assert_int_equal(q.bytes, 40 - 7 * rounds);
        assert_int_equal(q.head_off, (7 * rounds) % 10);
        assert_int_equal(q.count, 4 - (7 * rounds) / 10);
        assert_invariants(&q);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(rounds, 5); /* 40 bytes, 7 at a time */
    assert_written(&want);
    assert_invariants(&q);
    buf_deinit(&want);
}

static void test_sendq_flush_on_eagain_keeps_everything_and_says_full(void **state)
{
    (void)state;
    struct sendq q = {0};
    sendq_push(&q, &pool, mk(0, 10));
    sendq_push(&q, &pool, mk(1, 10));
    fk.take = 4;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    struct sendq before = q;
    fk.fail = 1;
    fk.err = EAGAIN;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_memory_equal(&q, &before, sizeof q);
    assert_invariants(&q);
    fk.fail = 1;
    fk.err = EWOULDBLOCK;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_memory_equal(&q, &before, sizeof q);
    /* Later the socket drains and the rest goes, from byte 4 on. */
    struct buf want = BUF_INIT;
    expect(&want, 0, 1, 10);
    fk.take = 0;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_written(&want);
    buf_deinit(&want);
}

static void test_sendq_flush_retries_after_eintr(void **state)
{
    (void)state;
    struct sendq q = {0};
    sendq_push(&q, &pool, mk(0, 10));
    fk.fail = 2;
    fk.err = EINTR;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 3);
    assert_int_equal(buf_readable(&fk.out), 10);
}

static void test_sendq_flush_reports_a_write_error_and_keeps_the_queue(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct frame *f = mk(0, 10);
    sendq_push(&q, &pool, f);
    fk.fail = 1;
    fk.err = EPIPE;
    errno = 0;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.bytes, 10);
    assert_invariants(&q);
    /* The owner tears the connection down: clear gives everything back. */
    sendq_clear(&q, &pool);
    assert_null(q.ring);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(pool.nfree, 1);
}

static void test_sendq_flush_hands_at_most_256_frames_to_one_writev(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    for (int i = 0; i < 600; i++) /* over 512 B each: not gathered */
        sendq_push(&q, &pool, mk(i, 513));
    expect(&want, 0, 599, 513);
    assert_int_equal(q.cap, 1024);
    assert_invariants(&q);
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_int_equal(fk.calls, 3); /* 256 + 256 + 88 */
    assert_int_equal(fk.max_iovcnt, 256);
    assert_written(&want);
    /* A ring that grew is freed, not pooled: the pool holds base rings only
     * (the base ring given up while growing is the one pooled). */
    assert_null(q.ring);
    assert_int_equal(pool.nfree, 1);
    buf_deinit(&want);
}

static void test_sendq_ring_wraps_and_grows_keeping_order(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct buf want = BUF_INIT;
    /* Fill the base ring, write 10 frames and part of the 11th: head moves
     * to slot 10 with head_off 2. */
    for (int i = 0; i < BASE_CAP; i++)
        sendq_push(&q, &pool, mk(i, 8));
    fk.take = 10 * 8 + 2;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_int_equal(q.head, 10);
    assert_int_equal(q.head_off, 2);
    assert_int_equal(q.count, BASE_CAP - 10);
    /* Ten more wrap around the end of the ring and fill it. */
    for (int i = BASE_CAP; i < BASE_CAP + 10; i++)
        sendq_push(&q, &pool, mk(i, 8));
    assert_int_equal(q.cap, BASE_CAP);
    assert_int_equal(q.count, BASE_CAP);
    assert_invariants(&q);
    /* One more: the ring doubles and unwraps, and the partly written head
     * keeps its offset. */
    sendq_push(&q, &pool, mk(BASE_CAP + 10, 8));
    assert_int_equal(q.cap, 2 * BASE_CAP);
    assert_int_equal(q.head, 0);
    assert_int_equal(q.head_off, 2);
    assert_int_equal(q.count, BASE_CAP + 1);
    assert_int_equal(pool.nfree, 1); /* the base ring went back to the pool */
    assert_invariants(&q);
    expect(&want, 0, BASE_CAP + 10, 8);
    fk.take = 0;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_written(&want);
    assert_invariants(&q);
    buf_deinit(&want);
}

static void test_sendq_pool_reuses_rings_between_connections(void **state)
{
    (void)state;
    struct sendq a = {0}, b = {0};
    sendq_push(&a, &pool, mk(0, 4));
    struct frame **ring = a.ring;
    assert_int_equal(sendq_flush(&a, &pool, fake_writev, &fk), 0);
    assert_int_equal(pool.nfree, 1);
    /* The next connection to queue something gets that same ring. */
    sendq_push(&b, &pool, mk(1, 4));
    assert_ptr_equal(b.ring, ring);
    assert_int_equal(pool.nfree, 0);
    assert_int_equal(b.head, 0);
    assert_int_equal(b.count, 1);
    assert_invariants(&b);
    sendq_clear(&b, &pool);
    assert_int_equal(pool.nfree, 1);
    /* deinit frees every pooled ring (the leak checker holds it to that). */
    sendq_pool_deinit(&pool);
    assert_null(pool.free);
    assert_int_equal(pool.nfree, 0);
}

static void test_sendq_drop_unstarted_keeps_the_partly_written_head(void **state)
{
    (void)state;
    struct sendq q = {0};
    for (int i = 0; i < 3; i++)
        sendq_push(&q, &pool, mk(i, 10));
    fk.take = 4;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    sendq_drop_unstarted(&q, &pool);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.bytes, 6);
    assert_int_equal(sendq_cost(&q), 6 + SENDQ_FRAME_COST);
    assert_invariants(&q);
    /* The stream stays whole frames: the rest of frame 0, then nothing. */
    struct buf want = BUF_INIT;
    expect(&want, 0, 0, 10);
    fk.take = 0;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 0);
    assert_written(&want);
    buf_deinit(&want);
}

static void test_sendq_drop_unstarted_with_nothing_started_empties_the_queue(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct frame *f = mk(0, 10);
    frame_ref(f);
    sendq_push(&q, &pool, f);
    sendq_push(&q, &pool, mk(1, 10));
    sendq_drop_unstarted(&q, &pool);
    assert_true(sendq_is_empty(&q));
    assert_int_equal(q.bytes, 0);
    assert_null(q.ring); /* given back */
    assert_int_equal(pool.nfree, 1);
    assert_int_equal(f->refs, 1); /* dropped frames are unreferenced */
    frame_unref(f);
    assert_invariants(&q);
}

static void test_sendq_last_unstarted_is_the_tail_unless_it_is_being_written(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct frame *a = mk(0, 10), *b = mk(1, 10);
    assert_null(sendq_last_unstarted(&q));
    sendq_push(&q, &pool, a);
    assert_ptr_equal(sendq_last_unstarted(&q), a);
    fk.take = 3;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_null(sendq_last_unstarted(&q)); /* a is on the wire already */
    sendq_push(&q, &pool, b);
    assert_ptr_equal(sendq_last_unstarted(&q), b);
    sendq_clear(&q, &pool);
    assert_null(sendq_last_unstarted(&q));
}

static void test_sendq_cost_weighs_tiny_frames_by_what_they_hold(void **state)
{
    (void)state;
    struct sendq q = {0};
    for (int i = 0; i < 1000; i++)
        sendq_push(&q, &pool, mk(i, 2)); /* a pong of an empty ping */
    assert_int_equal(q.bytes, 2000);
    assert_int_equal(sendq_cost(&q), 2000 + 1000 * SENDQ_FRAME_COST);
    fk.take = 101; /* 50 frames and half of one */
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    assert_int_equal(sendq_cost(&q), 1899 + 950 * SENDQ_FRAME_COST);
    assert_invariants(&q);
    sendq_clear(&q, &pool);
    assert_int_equal(sendq_cost(&q), 0);
}

static void test_sendq_clear_gives_back_a_partly_written_queue(void **state)
{
    (void)state;
    struct sendq q = {0};
    struct frame *f = mk(0, 10);
    frame_ref(f);
    sendq_push(&q, &pool, f);
    sendq_push(&q, &pool, mk(1, 10));
    fk.take = 5;
    assert_int_equal(sendq_flush(&q, &pool, fake_writev, &fk), 1);
    sendq_clear(&q, &pool);
    assert_int_equal(f->refs, 1);
    assert_null(q.ring);
    assert_int_equal(q.head_off, 0);
    assert_int_equal(q.bytes, 0);
    assert_invariants(&q);
    frame_unref(f);
    /* Reusable: a push after clear starts a fresh ring at slot 0. */
    sendq_push(&q, &pool, mk(2, 1));
    assert_int_equal(q.head, 0);
    assert_invariants(&q);
    sendq_clear(&q, &pool);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sendq_idle_queue_holds_no_ring),
        T(test_sendq_push_takes_ownership_and_counts_bytes_and_cost),
        T(test_sendq_flush_writes_every_frame_in_order_and_gives_the_ring_back),
        T(test_sendq_flush_gathers_small_frames_into_one_iovec),
        T(test_sendq_flush_does_not_gather_past_16k),
        T(test_sendq_flush_resumes_a_partial_gathered_write),
        T(test_sendq_flush_resumes_a_partial_write_mid_frame),
        T(test_sendq_flush_on_eagain_keeps_everything_and_says_full),
        T(test_sendq_flush_retries_after_eintr),
        T(test_sendq_flush_reports_a_write_error_and_keeps_the_queue),
        T(test_sendq_flush_hands_at_most_256_frames_to_one_writev),
        T(test_sendq_ring_wraps_and_grows_keeping_order),
        T(test_sendq_pool_reuses_rings_between_connections),
        T(test_sendq_drop_unstarted_keeps_the_partly_written_head),
        T(test_sendq_drop_unstarted_with_nothing_started_empties_the_queue),
        T(test_sendq_last_unstarted_is_the_tail_unless_it_is_being_written),
        T(test_sendq_cost_weighs_tiny_frames_by_what_they_hold),
        T(test_sendq_clear_gives_back_a_partly_written_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
