/* Unit tests for common/zstream.c: the long-lived zstd streams of a link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/zstream.h"

/* A chat-like message, different for every i, ~60-130 bytes. */
static size_t make_msg(unsigned i, char *out, size_t cap)
{
    static const char *words[] = {"hello", "world", "spoke",   "relay", "topic",
                                  "the",   "a",     "message", "fan",   "out"};
    int n = snprintf(out, cap, "{\"room\":\"room:%u\",\"user\":\"u%08x\",\"ts\":%u,\"text\":\"",
                     i % 17, i * 2654435761u, 1700000000u + i * 13);
    for (unsigned w = 0; w < 2 + i % 8; w++)
        n += snprintf(out + n, cap - (size_t)n, "%s ", words[(i * 7 + w * 3) % 10]);
    n += snprintf(out + n, cap - (size_t)n, "\"}");
    return (size_t)n;
}

/* Decompresses all of src[0, n) into out, dstcap bytes per call. */
static int inflate_all(struct zstream_in *z, const uint8_t *src, size_t n, struct buf *out,
                       size_t dstcap)
{
    for (;;) {
        size_t used = 0;
        buf_reserve(out, dstcap);
        ssize_t r = zin_read(z, src, n, &used, buf_tail(out), dstcap);
        if (r < 0)
            return -1;
        assert_true((size_t)r <= dstcap);
        buf_commit(out, (size_t)r);
        src += used;
        n -= used;
        if (n == 0 && (size_t)r < dstcap)
            return 0;
        assert_true(used > 0 || r > 0); /* progress */
    }
}

/* 1,000 messages flushed every k: after each flush, everything written so
 * far decodes, and nothing more. */
static void roundtrip_flush_every(unsigned k)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf raw = BUF_INIT, comp = BUF_INIT, dec = BUF_INIT;
    assert_non_null(zo);
    assert_non_null(zi);
    char msg[256];
    for (unsigned i = 0; i < 1000; i++) {
        size_t n = make_msg(i, msg, sizeof(msg));
        buf_append(&raw, msg, n);
        assert_int_equal(zout_write(zo, msg, n, &comp), 0);
        if ((i + 1) % k == 0 || i == 999) {
            assert_int_equal(zout_flush(zo, &comp), 0);
            assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 4096), 0);
            buf_reset(&comp);
            assert_int_equal(buf_readable(&dec), buf_readable(&raw));
            assert_memory_equal(buf_head(&dec), buf_head(&raw), buf_readable(&raw));
        }
    }
    buf_deinit(&raw);
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

static void test_zstream_roundtrip_1000_messages_flush_every_1(void **state)
{
    roundtrip_flush_every(1);
}

static void test_zstream_roundtrip_1000_messages_flush_every_7(void **state)
{
    roundtrip_flush_every(7);
}

static void test_zstream_roundtrip_1000_messages_flush_every_50(void **state)
{
    roundtrip_flush_every(50);
}

static void test_zstream_roundtrip_1000_messages_single_flush(void **state)
{
    roundtrip_flush_every(1000);
}

/* The stream gets smaller per message as history accumulates: batching
 * flushes must beat flushing every message (LIBRARIES.md §4). */
static void test_zstream_batched_flushes_compress_better(void **state)
{
    size_t total[2] = {0, 0};
    const unsigned ks[2] = {1, 50};
    char msg[256];
    for (int t = 0; t < 2; t++) {
        struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
        struct buf comp = BUF_INIT;
        size_t raw = 0;
        for (unsigned i = 0; i < 1000; i++) {
            size_t n = make_msg(i, msg, sizeof(msg));
            raw += n;
            zout_write(zo, msg, n, &comp);
            if ((i + 1) % ks[t] == 0)
                assert_int_equal(zout_flush(zo, &comp), 0);
        }
        total[t] = buf_readable(&comp);
        assert_true(total[t] < raw);
        buf_deinit(&comp);
        zout_free(zo);
    }
    assert_true(total[1] < total[0]);
}

/* A smaller stream fed back split at every possible byte, with output
 * buffers both roomy and tiny (the tiny one forces "output full" loops). */
static void test_zstream_decodes_stream_split_at_every_point(void **state)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf raw = BUF_INIT, comp = BUF_INIT, dec = BUF_INIT;
    char msg[256];
    for (unsigned i = 0; i < 40; i++) {
        size_t n = make_msg(i, msg, sizeof(msg));
        buf_append(&raw, msg, n);
        zout_write(zo, msg, n, &comp);
        if (i % 6 == 5)
            zout_flush(zo, &comp);
    }
    zout_flush(zo, &comp);
    const uint8_t *c = buf_head(&comp);
    size_t clen = buf_readable(&comp);
    static const size_t caps[] = {4096, 7};
    for (size_t ci = 0; ci < 2; ci++) {
        for (size_t s = 0; s <= clen; s++) {
            zin_reset(zi);
            buf_reset(&dec);
            assert_int_equal(inflate_all(zi, c, s, &dec, caps[ci]), 0);
            assert_int_equal(inflate_all(zi, c + s, clen - s, &dec, caps[ci]), 0);
            if (buf_readable(&dec) != buf_readable(&raw) ||
                memcmp(buf_head(&dec), buf_head(&raw), buf_readable(&raw)) != 0)
                fail_msg("split at %zu of %zu (dstcap %zu) decoded wrongly", s, clen, caps[ci]);
        }
    }
    buf_deinit(&raw);
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

/* After reset both ways, a new stream (a reconnect) works from scratch. */
static void test_zstream_reset_starts_a_fresh_stream(void **state)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf comp = BUF_INIT, dec = BUF_INIT;

    zout_write(zo, "first connection", 16, &comp);
    zout_flush(zo, &comp);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 1024), 0);
    buf_reset(&comp);
    /* Half a message is pending in both directions when the link drops. */
    zout_write(zo, "lost", 4, &comp);
    zout_reset(zo);
    zin_reset(zi);
    buf_reset(&comp);
    buf_reset(&dec);

    zout_write(zo, "second connection", 17, &comp);
    zout_flush(zo, &comp);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 1024), 0);
    assert_int_equal(buf_readable(&dec), 17);
    assert_memory_equal(buf_head(&dec), "second connection", 17);

    /* A brand-new decompressor understands the reset stream too. */
    struct zstream_in *fresh = zin_new(ZSTREAM_WINDOW_LOG + 1);
    buf_reset(&dec);
    assert_int_equal(inflate_all(fresh, buf_head(&comp), buf_readable(&comp), &dec, 1024), 0);
    assert_int_equal(buf_readable(&dec), 17);
    zin_free(fresh);
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

static void test_zstream_empty_write_and_flush_produce_nothing_harmful(void **state)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf comp = BUF_INIT, dec = BUF_INIT;
    assert_int_equal(zout_write(zo, NULL, 0, &comp), 0);
    assert_int_equal(buf_readable(&comp), 0);
    assert_int_equal(zout_flush(zo, &comp), 0);
    assert_int_equal(zout_flush(zo, &comp), 0);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 64), 0);
    assert_int_equal(buf_readable(&dec), 0);
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

/* A peer compressing with a window far beyond ours is refused at the frame
 * header instead of making us allocate its window. */
static void test_zstream_rejects_window_above_limit(void **state)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, 27);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf comp = BUF_INIT, dec = BUF_INIT;
    assert_non_null(zo);
    zout_write(zo, "x", 1, &comp);
    zout_flush(zo, &comp);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 4096), -1);
    assert_non_null(strstr(zin_error(zi), "memory"));
    assert_true(zin_sizeof(zi) < (1u << 20));
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

/* 64 MiB of zeros compress to a few KiB; zin_read never yields more than the
 * output space it is given, so the caller's bound holds (linkio then drops
 * the link on the frame length). */
static void test_zstream_bomb_output_is_bounded_per_call(void **state)
{
    const size_t total = 64u << 20, step = 1u << 20;
    uint8_t *zeros = calloc(1, step);
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf comp = BUF_INIT;
    for (size_t done = 0; done < total; done += step)
        zout_write(zo, zeros, step, &comp);
    zout_flush(zo, &comp);
    assert_true(buf_readable(&comp) < 64 * 1024);

    uint8_t dst[4096];
    size_t used = 0, in_off = 0, produced = 0;
    for (int i = 0; i < 100; i++) {
        ssize_t r = zin_read(zi, buf_head(&comp) + in_off, buf_readable(&comp) - in_off, &used, dst,
                             sizeof(dst));
        assert_true(r >= 0 && (size_t)r <= sizeof(dst));
        in_off += used;
        produced += (size_t)r;
    }
    assert_true(produced <= 100 * sizeof(dst));
    assert_true(zin_sizeof(zi) < (2u << 20));
    free(zeros);
    buf_deinit(&comp);
    zout_free(zo);
    zin_free(zi);
}

/* Size of a zstd frame header (RFC 8878 §3.1.1.1); ZSTD_frameHeaderSize
 * needs ZSTD_STATIC_LINKING_ONLY. */
static size_t frame_header_size(const uint8_t *p, size_t n)
{
    static const size_t fcs_sizes[4] = {0, 2, 4, 8};
    static const size_t did_sizes[4] = {0, 1, 2, 4};
    assert_true(n > 5);
    uint8_t fhd = p[4];
    int single = (fhd >> 5) & 1;
    size_t fcs = fcs_sizes[fhd >> 6];
    if (single && fcs == 0)
        fcs = 1;
    return 4 + 1 + (single ? 0 : 1) + did_sizes[fhd & 3] + fcs;
}

static void test_zstream_rejects_corrupt_stream(void **state)
{
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf dec = BUF_INIT;

    /* Not zstd at all. */
    static const char junk[] = "this is not a zstd stream";
    assert_int_equal(inflate_all(zi, (const uint8_t *)junk, sizeof(junk), &dec, 256), -1);
    assert_true(strlen(zin_error(zi)) > 0);

    /* A real stream whose first block header says "reserved block type". */
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct buf comp = BUF_INIT;
    char msg[256];
    for (unsigned i = 0; i < 20; i++)
        zout_write(zo, msg, make_msg(i, msg, sizeof(msg)), &comp);
    zout_flush(zo, &comp);
    size_t fh = frame_header_size(buf_head(&comp), buf_readable(&comp));
    buf_head(&comp)[fh] |= 0x06; /* block type bits = 3 */
    zin_reset(zi);
    buf_reset(&dec);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 4096), -1);
    assert_true(strlen(zin_error(zi)) > 0);

    /* reset recovers the decompressor for a new, valid stream. */
    zin_reset(zi);
    assert_string_equal(zin_error(zi), "no error");
    buf_reset(&comp);
    buf_reset(&dec);
    zout_reset(zo);
    zout_write(zo, "ok", 2, &comp);
    zout_flush(zo, &comp);
    assert_int_equal(inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 4096), 0);
    assert_int_equal(buf_readable(&dec), 2);

    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

static void test_zstream_refuses_invalid_parameters(void **state)
{
    assert_null(zout_new(ZSTREAM_LEVEL, 40));
    assert_null(zout_new(ZSTREAM_LEVEL, 5));
    assert_null(zin_new(5));
    assert_null(zin_new(40));
    zout_free(NULL);
    zin_free(NULL);
}

static void test_zstream_sizeof_reports_small_contexts(void **state)
{
    struct zstream_out *zo = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    struct zstream_in *zi = zin_new(ZSTREAM_WINDOW_LOG + 1);
    struct buf comp = BUF_INIT, dec = BUF_INIT;
    char msg[256];
    for (unsigned i = 0; i < 100; i++)
        zout_write(zo, msg, make_msg(i, msg, sizeof(msg)), &comp);
    zout_flush(zo, &comp);
    inflate_all(zi, buf_head(&comp), buf_readable(&comp), &dec, 4096);
    /* LIBRARIES.md §4: L1 wlog17 ~1 MB compressor, ~0.6 MB decompressor. */
    assert_true(zout_sizeof(zo) > 0 && zout_sizeof(zo) < (2u << 20));
    assert_true(zin_sizeof(zi) > 0 && zin_sizeof(zi) < (2u << 20));
    buf_deinit(&comp);
    buf_deinit(&dec);
    zout_free(zo);
    zin_free(zi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zstream_roundtrip_1000_messages_flush_every_1),
        cmocka_unit_test(test_zstream_roundtrip_1000_messages_flush_every_7),
        cmocka_unit_test(test_zstream_roundtrip_1000_messages_flush_every_50),
        cmocka_unit_test(test_zstream_roundtrip_1000_messages_single_flush),
        cmocka_unit_test(test_zstream_batched_flushes_compress_better),
        cmocka_unit_test(test_zstream_decodes_stream_split_at_every_point),
        cmocka_unit_test(test_zstream_reset_starts_a_fresh_stream),
        cmocka_unit_test(test_zstream_empty_write_and_flush_produce_nothing_harmful),
        cmocka_unit_test(test_zstream_rejects_window_above_limit),
        cmocka_unit_test(test_zstream_bomb_output_is_bounded_per_call),
        cmocka_unit_test(test_zstream_rejects_corrupt_stream),
        cmocka_unit_test(test_zstream_refuses_invalid_parameters),
        cmocka_unit_test(test_zstream_sizeof_reports_small_contexts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
