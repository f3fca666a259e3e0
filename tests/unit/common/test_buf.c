/* Unit tests for common/buf.c: the invariant 0 <= off <= len <= cap after
 * every call, which calls may move the bytes (reserve, append, compact) and
 * which only move offsets (consume, truncate, reset), growth, and the bytes
 * coming out as they went in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

#define L(lit) (sizeof(lit) - 1)

/* The header's invariant, and its formulas for the readable bytes and the
 * writable tail. */
static void assert_invariant(const struct buf *b)
{
    assert_true(b->off <= b->len);
    assert_true(b->len <= b->cap);
    assert_true((b->cap == 0) == (b->data == NULL));
    assert_int_equal(buf_readable(b), b->len - b->off);
    assert_int_equal(buf_writable(b), b->cap - b->len);
    if (b->data) {
        assert_ptr_equal(buf_head(b), b->data + b->off);
        assert_ptr_equal(buf_tail(b), b->data + b->len);
    }
}

static void assert_holds(const struct buf *b, const void *p, size_t n)
{
    assert_invariant(b);
    assert_int_equal(buf_readable(b), n);
    if (n)
        assert_memory_equal(buf_head(b), p, n);
}
#define assert_holds_lit(b, lit) assert_holds((b), (lit), L(lit))

static void test_buf_starts_empty_without_storage(void **state)
{
    (void)state;
    struct buf a = BUF_INIT, b;
    memset(&b, 0xa5, sizeof b);
    buf_init(&b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_null(b.data);
    assert_holds(&b, NULL, 0);
    /* Appending nothing allocates nothing, whatever the pointer. */
    buf_append(&b, NULL, 0);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_buf_append_grows_by_doubling_from_64(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append_u8(&b, 'x');
    assert_int_equal(b.cap, 64);
    char chunk[40];
    memset(chunk, 'y', sizeof chunk);
    size_t n = 1;
    while (n < 1000) {
        buf_append(&b, chunk, sizeof chunk);
        n += sizeof chunk;
        assert_invariant(&b);
        /* Always a power-of-two multiple of 64, never more than twice the need. */
        assert_int_equal(b.cap & (b.cap - 1), 0);
        assert_true(b.cap >= n && b.cap < 2 * n + 64);
    }
    assert_int_equal(buf_head(&b)[0], 'x');
    assert_int_equal(buf_head(&b)[n - 1], 'y');
    /* One append much larger than the buffer gets the room it needs at once. */
    static char big[100000];
    buf_append(&b, big, sizeof big);
    assert_int_equal(buf_readable(&b), n + sizeof big);
    assert_int_equal(b.cap, 131072);
    buf_deinit(&b);
}

static void test_buf_append_variants_write_their_bytes_without_nul(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "ab", 2);
    buf_append_str(&b, "cd");
    buf_append_u8(&b, 0);
    BUF_APPEND_LIT(&b, "ef");
    buf_printf(&b, "[%d:%s]", 42, "g");
    assert_holds(&b, "abcd\0ef[42:g]", 13);
    buf_deinit(&b);
}

static void test_buf_printf_formats_past_its_first_guess(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    char want[1001];
    memset(want, 'z', 1000);
    want[1000] = '\0';
    buf_append(&b, "<", 1);
    buf_printf(&b, "%s>", want); /* longer than the 256 bytes first reserved */
    assert_int_equal(buf_readable(&b), 1002);
    assert_memory_equal(buf_head(&b) + 1, want, 1000);
    assert_int_equal(buf_head(&b)[1001], '>');
    assert_invariant(&b);
    buf_deinit(&b);
}

static void test_buf_reserve_then_commit_makes_tail_bytes_readable(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_reserve(&b, 10);
    assert_true(buf_writable(&b) >= 10);
    assert_int_equal(buf_readable(&b), 0); /* reserving writes nothing */
    memcpy(buf_tail(&b), "0123456789", 10);
    buf_commit(&b, 4);
    assert_holds_lit(&b, "0123");
    buf_deinit(&b);
}

static void test_buf_reserve_with_room_moves_nothing(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "hello world", 11);
    buf_consume(&b, 6);
    uint8_t *data = b.data;
    size_t off = b.off, cap = b.cap;
    buf_reserve(&b, buf_writable(&b)); /* exactly what is there */
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.off, off);
    assert_int_equal(b.cap, cap);
    assert_holds_lit(&b, "world");
    buf_deinit(&b);
}

static void test_buf_reserve_compacts_instead_of_growing_when_that_is_enough(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    char fill[64];
    memset(fill, 'f', sizeof fill);
    buf_append(&b, fill, 60);
    buf_append(&b, "tail", 4); /* cap 64, full */
    buf_consume(&b, 60);       /* 4 readable bytes at off 60 */
    uint8_t *data = b.data;
    buf_reserve(&b, 50); /* 60 bytes are free ahead: moving 4 is cheaper */
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, 64);
    assert_int_equal(b.off, 0);
    assert_holds_lit(&b, "tail");
    assert_true(buf_writable(&b) >= 50);
    buf_deinit(&b);
}

static void test_buf_reserve_that_grows_also_compacts(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    char fill[64];
    memset(fill, 'f', sizeof fill);
    buf_append(&b, fill, 10);
    buf_append(&b, "keep", 4);
    buf_consume(&b, 10);
    buf_reserve(&b, 200); /* more than the whole storage: must grow */
    assert_int_equal(b.off, 0);
    assert_true(buf_writable(&b) >= 200);
    assert_holds_lit(&b, "keep");
    buf_deinit(&b);
    /* Consumed space too small to be worth a move on its own (the readable
     * bytes outweigh it) is still reclaimed when the buffer has to grow. */
    buf_append(&b, fill, 2);
    buf_append(&b, fill, 60); /* cap 64 */
    buf_consume(&b, 2);
    buf_reserve(&b, 5); /* 60 readable, 2 consumed, 2 free */
    assert_int_equal(b.cap, 128);
    assert_int_equal(b.off, 0);
    assert_holds(&b, fill, 60);
    buf_deinit(&b);
}

static void test_buf_consume_advances_only_the_offset(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "abcdef", 6);
    uint8_t *data = b.data;
    buf_consume(&b, 2);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.off, 2);
    assert_holds_lit(&b, "cdef");
    buf_consume(&b, 0);
    assert_holds_lit(&b, "cdef");
    buf_deinit(&b);
}

static void test_buf_consume_all_resets_offsets(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "abcdef", 6);
    size_t cap = b.cap;
    buf_consume(&b, 2);
    buf_consume(&b, 4);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* the storage stays for the next bytes */
    assert_non_null(b.data);
    /* So the next append starts at the front, with the whole tail free. */
    buf_append(&b, "g", 1);
    assert_ptr_equal(buf_head(&b), b.data);
    assert_holds_lit(&b, "g");
    buf_deinit(&b);
}

static void test_buf_compact_moves_readable_bytes_to_the_front(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "0123456789", 10);
    buf_compact(&b); /* off is 0: nothing to do */
    assert_holds_lit(&b, "0123456789");
    buf_consume(&b, 7);
    size_t writable = buf_writable(&b);
    buf_compact(&b);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 3);
    assert_int_equal(buf_writable(&b), writable + 7);
    assert_holds_lit(&b, "789");
    buf_deinit(&b);
}

static void test_buf_reset_empties_and_keeps_storage(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "abcdef", 6);
    buf_consume(&b, 1);
    uint8_t *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.off, 0);
    assert_holds(&b, NULL, 0);
    buf_deinit(&b);
}

static void test_buf_truncate_undoes_a_partial_append(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "xxmsg", 5);
    buf_consume(&b, 2);
    size_t mark = buf_readable(&b);
    uint8_t *data = b.data;
    buf_append(&b, ",partial", 8);
    buf_truncate(&b, mark);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.off, 2); /* only len moved */
    assert_holds_lit(&b, "msg");
    /* Across an append that compacted and grew the buffer: the mark counts
     * readable bytes, not a position, so it still holds. */
    static char big[5000];
    buf_append(&b, big, sizeof big);
    assert_int_equal(b.off, 0);
    buf_truncate(&b, mark);
    assert_holds_lit(&b, "msg");
    buf_truncate(&b, 0);
    assert_holds(&b, NULL, 0);
    buf_deinit(&b);
}

static void test_buf_deinit_frees_and_leaves_it_reusable(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_append(&b, "abc", 3);
    buf_deinit(&b);
    assert_null(b.data);
    assert_int_equal(b.off + b.len + b.cap, 0);
    buf_deinit(&b); /* twice is harmless */
    buf_append(&b, "d", 1);
    assert_holds_lit(&b, "d");
    buf_deinit(&b);
}

static void test_buf_keeps_every_byte_through_mixed_use(void **state)
{
    (void)state;
    /* A stream pushed through in uneven pieces and read back in others
     * comes out whole and in order, with the invariant holding throughout;
     * a reader that keeps up keeps the storage small (consumed space is
     * reused, not grown past). */
    struct buf b = BUF_INIT;
    uint8_t src[20000], got[20000];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 8));
    size_t in = 0, out = 0, step = 0;
    while (out < sizeof src) {
        size_t w = (step * 37 + 11) % 300, r = (step * 53 + 5) % 320;
        step++;
        if (w > sizeof src - in)
            w = sizeof src - in;
        buf_append(&b, src + in, w);
        in += w;
        assert_invariant(&b);
        if (r > buf_readable(&b))
            r = buf_readable(&b);
        memcpy(got + out, buf_head(&b), r);
        buf_consume(&b, r);
        out += r;
        assert_invariant(&b);
    }
    assert_memory_equal(got, src, sizeof src);
    assert_true(b.cap <= 1024); /* never more than a few pieces' worth */
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_without_storage),
        cmocka_unit_test(test_buf_append_grows_by_doubling_from_64),
        cmocka_unit_test(test_buf_append_variants_write_their_bytes_without_nul),
        cmocka_unit_test(test_buf_printf_formats_past_its_first_guess),
        cmocka_unit_test(test_buf_reserve_then_commit_makes_tail_bytes_readable),
        cmocka_unit_test(test_buf_reserve_with_room_moves_nothing),
        cmocka_unit_test(test_buf_reserve_compacts_instead_of_growing_when_that_is_enough),
        cmocka_unit_test(test_buf_reserve_that_grows_also_compacts),
        cmocka_unit_test(test_buf_consume_advances_only_the_offset),
        cmocka_unit_test(test_buf_consume_all_resets_offsets),
        cmocka_unit_test(test_buf_compact_moves_readable_bytes_to_the_front),
        cmocka_unit_test(test_buf_reset_empties_and_keeps_storage),
        cmocka_unit_test(test_buf_truncate_undoes_a_partial_append),
        cmocka_unit_test(test_buf_deinit_frees_and_leaves_it_reusable),
        cmocka_unit_test(test_buf_keeps_every_byte_through_mixed_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
