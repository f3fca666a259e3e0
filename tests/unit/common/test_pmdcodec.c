/* Unit tests for common/pmdcodec.c: the RFC 7692 §7.2.3 examples inflate
 * (sync-flush bodies, a BFINAL body, two blocks in one message), a body
 * that needs an earlier message's window is bad data, compression round
 * trips and gives up on what it cannot shrink, and the inflate limit
 * counts inflated bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/pmdcodec.h"

static int inflate_str(struct pmd_codec *z, const uint8_t *p, size_t n, size_t max, char *out)
{
    const uint8_t *msg;
    size_t len;
    int r = pmd_inflate(z, p, n, max, &msg, &len);
    if (r == PMD_INFLATED) {
        memcpy(out, msg, len);
        out[len] = '\0';
    }
    return r;
}

static void test_pmdcodec_inflates_the_rfc_7692_examples(void **state)
{
    /* §7.2.3.1: "Hello", sync flush, 00 00 ff ff removed. */
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    /* §7.2.3.3: "Hello" in a block with BFINAL set, then the 0x00. */
    static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    /* §7.2.3.4: two DEFLATE blocks in one message. */
    static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                                  0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    /* §7.2.3.5: no compression (a stored block). */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
                                     0x65, 0x6c, 0x6c, 0x6f, 0x00};
    struct pmd_codec *z = pmd_codec_new();
    char out[64];
    assert_int_equal(inflate_str(z, hello, sizeof hello, 64, out), PMD_INFLATED);
    assert_string_equal(out, "Hello");
    assert_int_equal(inflate_str(z, bfinal, sizeof bfinal, 64, out), PMD_INFLATED);
    assert_string_equal(out, "Hello");
    assert_int_equal(inflate_str(z, two, sizeof two, 64, out), PMD_INFLATED);
    assert_string_equal(out, "Hello");
    assert_int_equal(inflate_str(z, stored, sizeof stored, 64, out), PMD_INFLATED);
    assert_string_equal(out, "Hello");
    assert_int_equal(pmd_codec_stats(z)->inflated, 4);
    pmd_codec_free(z);
}

/* §7.2.3.2: the second "Hello" of a sender that keeps its window is a
 * back-reference only; without context takeover it cannot stand alone. */
static void test_pmdcodec_refuses_a_body_that_needs_another_messages_window(void **state)
{
    static const uint8_t second[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct pmd_codec *z = pmd_codec_new();
    char out[64];
    assert_int_equal(inflate_str(z, second, sizeof second, 64, out), PMD_BAD_DATA);
    assert_int_equal(inflate_str(z, garbage, sizeof garbage, 64, out), PMD_BAD_DATA);
    assert_int_equal(pmd_codec_stats(z)->inflate_bad, 2);
    pmd_codec_free(z);
}

static void test_pmdcodec_round_trips_and_shrinks_text(void **state)
{
    struct pmd_codec *z = pmd_codec_new();
    char text[4000];
    size_t n = 0;
    static const char *const words[] = {"deploy ", "latency ", "weekend, ", "budget? ", "the "};
    for (unsigned i = 0; n + 10 < sizeof text; i = i * 7 + 3)
        n += (size_t)sprintf(text + n, "%s", words[i % 5]);
    const uint8_t *body;
    size_t blen = pmd_compress(z, (const uint8_t *)text, n, &body);
    assert_true(blen > 0 && blen < n / 2);
    assert_int_equal(body[blen - 1], 0x00); /* the RFC 7692 §7.2.3.3 tail */
    uint8_t *copy = malloc(blen);
    memcpy(copy, body, blen);
    const uint8_t *msg;
    size_t len;
    assert_int_equal(pmd_inflate(z, copy, blen, n, &msg, &len), PMD_INFLATED);
    assert_int_equal(len, n);
    assert_memory_equal(msg, text, n);
    /* The limit counts inflated bytes: one short of the message fails. */
    assert_int_equal(pmd_inflate(z, copy, blen, n - 1, &msg, &len), PMD_TOO_BIG);
    assert_int_equal(pmd_codec_stats(z)->compressed, 1);
    assert_int_equal(pmd_codec_stats(z)->inflate_big, 1);
    free(copy);
    pmd_codec_free(z);
}

/* Two BFINAL streams in one message, as a sender that finishes a stream
 * per fragment may send: both are inflated, in order. */
static void test_pmdcodec_inflates_streams_one_after_the_other(void **state)
{
    struct pmd_codec *z = pmd_codec_new();
    static const char a[] = "the first half of a message, the first half of a message; ";
    static const char b[] = "and then the second half, and then the second half, and then the "
                            "second half, and then the second half.";
    uint8_t both[512];
    const uint8_t *body;
    size_t la = pmd_compress(z, (const uint8_t *)a, sizeof a - 1, &body);
    assert_true(la > 1);
    memcpy(both, body, la - 1); /* its final block, without the tail */
    size_t lb = pmd_compress(z, (const uint8_t *)b, sizeof b - 1, &body);
    assert_true(lb > 1);
    memcpy(both + la - 1, body, lb);
    char out[256];
    assert_int_equal(inflate_str(z, both, la - 1 + lb, sizeof out - 1, out), PMD_INFLATED);
    assert_int_equal(strlen(out), sizeof a - 1 + sizeof b - 1);
    assert_memory_equal(out, a, sizeof a - 1);
    assert_string_equal(out + sizeof a - 1, b);
    pmd_codec_free(z);
}

static void test_pmdcodec_gives_up_on_what_it_cannot_shrink(void **state)
{
    struct pmd_codec *z = pmd_codec_new();
    uint8_t noise[300];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift: incompressible */
        noise[i] = (uint8_t)x;
    }
    const uint8_t *body;
    assert_int_equal(pmd_compress(z, noise, sizeof noise, &body), 0);
    assert_int_equal(pmd_compress(z, (const uint8_t *)"ab", 2, &body), 0);
    assert_int_equal(pmd_compress(z, (const uint8_t *)"", 0, &body), 0);
    assert_int_equal(pmd_codec_stats(z)->not_smaller, 3);
    assert_int_equal(pmd_codec_stats(z)->compressed, 0);
    pmd_codec_free(z);
}

/* A bomb: 16 MiB of zeros in a few KB. Inflating stops at the limit. */
static void test_pmdcodec_stops_a_bomb_at_the_limit(void **state)
{
    struct pmd_codec *z = pmd_codec_new();
    size_t big = (size_t)16 << 20;
    uint8_t *zeros = calloc(1, big);
    const uint8_t *body;
    size_t blen = pmd_compress(z, zeros, big, &body);
    assert_true(blen > 0 && blen < 32 * 1024);
    uint8_t *copy = malloc(blen);
    memcpy(copy, body, blen);
    const uint8_t *msg;
    size_t len;
    assert_int_equal(pmd_inflate(z, copy, blen, 65536, &msg, &len), PMD_TOO_BIG);
    assert_int_equal(pmd_inflate(z, copy, blen, 0, &msg, &len), PMD_TOO_BIG);
    /* An empty body is an empty message. */
    assert_int_equal(pmd_inflate(z, copy, 0, 0, &msg, &len), PMD_INFLATED);
    assert_int_equal(len, 0);
    free(copy);
    free(zeros);
    pmd_codec_free(z);
    pmd_codec_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pmdcodec_inflates_the_rfc_7692_examples),
        cmocka_unit_test(test_pmdcodec_refuses_a_body_that_needs_another_messages_window),
        cmocka_unit_test(test_pmdcodec_round_trips_and_shrinks_text),
        cmocka_unit_test(test_pmdcodec_inflates_streams_one_after_the_other),
        cmocka_unit_test(test_pmdcodec_gives_up_on_what_it_cannot_shrink),
        cmocka_unit_test(test_pmdcodec_stops_a_bomb_at_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
