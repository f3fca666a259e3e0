/* Unit tests for common/wsframe.c: frame boundary scanning and headers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/wsframe.h"

/* A masked client frame with payload n bytes of 'x'. */
static size_t client_frame(uint8_t *out, uint8_t opcode, int fin, size_t n)
{
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(out + h, "\x01\x02\x03\x04", 4);
    h += 4;
    memset(out + h, 'x', n);
    return h + n;
}

static void test_wsframe_scan_finds_complete_frames_of_every_length_form(void **state)
{
    static uint8_t buf[70000 + 14];
    size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = client_frame(buf, WS_OP_TEXT, 1, sizes[i]);
        struct ws_frame_info fi;
        assert_int_equal(ws_frame_scan(buf, len, 100000, &fi), (long)len);
        assert_int_equal(fi.payload_len, sizes[i]);
        assert_int_equal(fi.opcode, WS_OP_TEXT);
        assert_true(fi.fin);
        assert_true(fi.masked);
    }
}

static void test_wsframe_scan_needs_more_for_every_strict_prefix(void **state)
{
    uint8_t buf[400];
    size_t len = client_frame(buf, WS_OP_BINARY, 0, 300);
    struct ws_frame_info fi;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(ws_frame_scan(buf, cut, 1000, &fi), 0);
    assert_int_equal(ws_frame_scan(buf, len, 1000, &fi), (long)len);
    assert_false(fi.fin);
}

static void test_wsframe_scan_rejects_oversize_from_the_header_alone(void **state)
{
    /* A header declaring 2^40 bytes, with none of them present. */
    uint8_t hdr[14] = {0x82, 0x80 | 127, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    struct ws_frame_info fi;
    assert_int_equal(ws_frame_scan(hdr, sizeof hdr, 65536, &fi), -1);
    assert_int_equal(fi.payload_len, (uint64_t)1 << 40);
}

static void test_wsframe_scan_rejects_64bit_length_with_top_bit(void **state)
{
    uint8_t hdr[14] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    struct ws_frame_info fi;
    assert_int_equal(ws_frame_scan(hdr, sizeof hdr, UINT64_MAX, &fi), -1);
}

static void test_wsframe_header_round_trips_through_scan(void **state)
{
    uint64_t sizes[] = {0, 125, 126, 65535, 65536, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t h[10];
        size_t hl = ws_frame_header(h, WS_OP_TEXT, sizes[i]);
        assert_int_equal(hl, sizes[i] < 126 ? 2 : sizes[i] <= 0xffff ? 4 : 10);
        struct ws_frame_info fi;
        /* Only the header is present: the scan must ask for more, not fail. */
        long r = ws_frame_scan(h, hl, UINT64_MAX >> 1, &fi);
        assert_int_equal(r, sizes[i] == 0 ? 2 : 0);
        assert_int_equal(fi.payload_len, sizes[i]);
        assert_false(fi.masked);
        assert_true(fi.fin);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wsframe_scan_finds_complete_frames_of_every_length_form),
        cmocka_unit_test(test_wsframe_scan_needs_more_for_every_strict_prefix),
        cmocka_unit_test(test_wsframe_scan_rejects_oversize_from_the_header_alone),
        cmocka_unit_test(test_wsframe_scan_rejects_64bit_length_with_top_bit),
        cmocka_unit_test(test_wsframe_header_round_trips_through_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
