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
    /* The header is described anyway, so the check can name the problem. */
    assert_int_equal(fi.header_len, 14);
    const char *why = NULL;
    assert_int_equal(ws_frame_check(&fi, 0, 0, &why), WS_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(why, "invalid frame length");
}

static void test_wsframe_scan_marks_an_incomplete_length_field(void **state)
{
    uint8_t buf[20];
    size_t len = client_frame(buf, WS_OP_PING, 1, 5);
    struct ws_frame_info fi;
    memset(&fi, 0xa5, sizeof fi);
    assert_int_equal(ws_frame_scan(buf, 1, 1000, &fi), 0);
    assert_int_equal(fi.header_len, 0);
    /* The length field is in, the mask and payload are not: judged already. */
    assert_int_equal(ws_frame_scan(buf, 2, 1000, &fi), 0);
    assert_int_equal(fi.header_len, 6);
    assert_int_equal(fi.payload_len, 5);
    assert_int_equal(fi.opcode, WS_OP_PING);
    assert_int_equal(ws_frame_scan(buf, len, 1000, &fi), (long)len);
}

/* The header of a client frame: FIN, RSV bits and opcode in b0, then the
 * mask bit and a 7-bit length (126/127 take 2/8 more bytes). */
static long header(uint8_t *out, uint8_t b0, int masked, uint64_t n, struct ws_frame_info *fi)
{
    size_t h = 0;
    out[h++] = b0;
    uint8_t m = masked ? 0x80 : 0;
    if (n < 126) {
        out[h++] = (uint8_t)(m | n);
    } else if (n <= 0xffff) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (uint8_t)(n >> (56 - 8 * i));
    }
    memset(out + h, 0, 4);
    h += masked ? 4 : 0;
    return ws_frame_scan(out, h, 1u << 20, fi);
}

static const char *check_rsv1(uint8_t b0, int masked, uint64_t n, int in_fragmented,
                              int rsv1_allowed)
{
    uint8_t buf[WS_MAX_HEADER];
    struct ws_frame_info fi;
    header(buf, b0, masked, n, &fi);
    assert_int_not_equal(fi.header_len, 0);
    const char *why = NULL;
    int code = ws_frame_check(&fi, in_fragmented, rsv1_allowed, &why);
    if (!code)
        return NULL;
    assert_int_equal(code, WS_CLOSE_PROTOCOL_ERROR);
    assert_non_null(why);
    return why;
}

static const char *check(uint8_t b0, int masked, uint64_t n, int in_fragmented)
{
    return check_rsv1(b0, masked, n, in_fragmented, 0);
}

static void test_wsframe_check_accepts_valid_client_frames(void **state)
{
    assert_null(check(0x80 | WS_OP_TEXT, 1, 0, 0));
    assert_null(check(0x80 | WS_OP_BINARY, 1, 70000, 0));
    assert_null(check(WS_OP_TEXT, 1, 10, 0));        /* first fragment */
    assert_null(check(WS_OP_CONT, 1, 10, 1));        /* middle fragment */
    assert_null(check(0x80 | WS_OP_CONT, 1, 10, 1)); /* last fragment */
    assert_null(check(0x80 | WS_OP_PING, 1, 125, 0));
    assert_null(check(0x80 | WS_OP_PONG, 1, 0, 1)); /* control inside a message */
    assert_null(check(0x80 | WS_OP_CLOSE, 1, 125, 1));
}

static void test_wsframe_check_names_each_violation(void **state)
{
    assert_string_equal(check(0x80 | WS_OP_PING, 1, 126, 0), "control frame too long");
    assert_string_equal(check(0x80 | WS_OP_PONG, 1, 65536, 0), "control frame too long");
    assert_string_equal(check(0x80 | WS_OP_CLOSE, 1, 126, 0), "control frame too long");
    assert_string_equal(check(WS_OP_PING, 1, 0, 0), "fragmented control frame");
    assert_string_equal(check(WS_OP_CLOSE, 1, 2, 0), "fragmented control frame");
    assert_string_equal(check(0x80 | WS_OP_TEXT, 0, 2, 0), "client frame not masked");
    for (uint8_t op = 3; op <= 0xf; op++) {
        if (op >= WS_OP_CLOSE && op <= WS_OP_PONG)
            continue;
        assert_string_equal(check((uint8_t)(0x80 | op), 1, 0, 0), "reserved opcode");
    }
    for (uint8_t rsv = 0x10; rsv <= 0x70; rsv += 0x10)
        assert_string_equal(check((uint8_t)(0x80 | rsv | WS_OP_TEXT), 1, 0, 0),
                            rsv == WS_RSV1 ? "RSV1 set without permessage-deflate"
                                           : "reserved bits set");
    assert_string_equal(check(0x80 | WS_OP_CONT, 1, 1, 0), "continuation without a message");
    assert_string_equal(check(0x80 | WS_OP_TEXT, 1, 1, 1), "new message inside a fragmented one");
    assert_string_equal(check(WS_OP_BINARY, 1, 1, 1), "new message inside a fragmented one");
}

/* RFC 7692 §6.1: with permessage-deflate, RSV1 marks the first frame of a
 * compressed data message and nothing else; RSV2 and RSV3 stay refused. */
static void test_wsframe_check_allows_rsv1_on_a_first_data_frame_only(void **state)
{
    assert_null(check_rsv1(0x80 | WS_RSV1 | WS_OP_TEXT, 1, 10, 0, 1));
    assert_null(check_rsv1(0x80 | WS_RSV1 | WS_OP_BINARY, 1, 10, 0, 1));
    assert_null(check_rsv1(WS_RSV1 | WS_OP_TEXT, 1, 10, 0, 1)); /* first fragment */
    assert_null(check_rsv1(0x80 | WS_OP_CONT, 1, 10, 1, 1));
    assert_null(check_rsv1(0x80 | WS_OP_TEXT, 1, 10, 0, 1)); /* uncompressed is fine too */
    assert_string_equal(check_rsv1(0x80 | WS_RSV1 | WS_OP_CONT, 1, 10, 1, 1),
                        "RSV1 on a continuation frame");
    assert_string_equal(check_rsv1(0x80 | WS_RSV1 | WS_OP_PING, 1, 0, 0, 1),
                        "RSV1 on a control frame");
    assert_string_equal(check_rsv1(0x80 | WS_RSV1 | WS_OP_CLOSE, 1, 2, 0, 1),
                        "RSV1 on a control frame");
    assert_string_equal(check_rsv1(0x80 | WS_RSV2 | WS_OP_TEXT, 1, 1, 0, 1), "reserved bits set");
    assert_string_equal(check_rsv1(0x80 | WS_RSV1 | WS_RSV3 | WS_OP_TEXT, 1, 1, 0, 1),
                        "reserved bits set");
}

/* RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
 * length". wslay refuses the others with an empty close; judged here, the
 * client gets 1002 with a reason. */
static void test_wsframe_check_refuses_lengths_not_in_shortest_form(void **state)
{
    static const uint8_t in16[] = {0x81, 0x80 | 126, 0x00, 0x7d, 0, 0, 0, 0};
    static const uint8_t in64[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    static const uint8_t ok64[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    const uint8_t *frames[] = {in16, in64};
    size_t lens[] = {sizeof in16, sizeof in64};
    for (int i = 0; i < 2; i++) {
        struct ws_frame_info fi;
        ws_frame_scan(frames[i], lens[i], UINT64_MAX >> 1, &fi);
        const char *why = NULL;
        assert_int_equal(ws_frame_check(&fi, 0, 0, &why), WS_CLOSE_PROTOCOL_ERROR);
        assert_string_equal(why, "payload length not in its shortest form");
    }
    struct ws_frame_info fi;
    ws_frame_scan(ok64, sizeof ok64, UINT64_MAX >> 1, &fi);
    const char *why = NULL;
    assert_int_equal(ws_frame_check(&fi, 0, 0, &why), 0);
}

/* A whole masked close frame with payload p[0, n), masked with a key that
 * changes every byte. */
static size_t close_frame(uint8_t *out, const uint8_t *p, size_t n, struct ws_frame_info *fi)
{
    static const uint8_t key[4] = {0x5a, 0xa5, 0xff, 0x01};
    out[0] = 0x80 | WS_OP_CLOSE;
    out[1] = (uint8_t)(0x80 | n);
    memcpy(out + 2, key, 4);
    for (size_t i = 0; i < n; i++)
        out[6 + i] = p[i] ^ key[i & 3];
    assert_int_equal(ws_frame_scan(out, 6 + n, 1000, fi), (long)(6 + n));
    return 6 + n;
}

static int close_check(const char *payload, size_t n, const char **why)
{
    uint8_t frame[6 + 125];
    struct ws_frame_info fi;
    close_frame(frame, (const uint8_t *)payload, n, &fi);
    *why = NULL;
    return ws_close_check(frame, &fi, why);
}

#define CLOSE_CHECK(lit, why) close_check(lit, sizeof(lit) - 1, why)

static void test_wsframe_close_check_accepts_valid_payloads(void **state)
{
    const char *why;
    assert_int_equal(CLOSE_CHECK("", &why), 0);
    assert_int_equal(CLOSE_CHECK("\x03\xe8", &why), 0);                  /* 1000 */
    assert_int_equal(CLOSE_CHECK("\x03\xe9going", &why), 0);             /* 1001 */
    assert_int_equal(CLOSE_CHECK("\x0f\x9f\xc3\xa9t\xc3\xa9", &why), 0); /* 3999 "été" */
    assert_int_equal(CLOSE_CHECK("\x13\x87\xf0\x9f\x98\x80", &why), 0);  /* 4999 emoji */
    char full[125] = {0x03, (char)0xf0};                                 /* 1008 + 123 bytes */
    memset(full + 2, 'r', sizeof full - 2);
    assert_int_equal(close_check(full, sizeof full, &why), 0);
}

static void test_wsframe_close_check_refuses_bad_payloads(void **state)
{
    const char *why;
    assert_int_equal(CLOSE_CHECK("\x03", &why), WS_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(why, "close payload of 1 byte");
    assert_int_equal(CLOSE_CHECK("\x03\xed", &why), WS_CLOSE_PROTOCOL_ERROR); /* 1005 */
    assert_string_equal(why, "invalid close code");
    assert_int_equal(CLOSE_CHECK("\x03\xee", &why), WS_CLOSE_PROTOCOL_ERROR); /* 1006 */
    assert_int_equal(CLOSE_CHECK("\x03\xf7", &why), WS_CLOSE_PROTOCOL_ERROR); /* 1015 */
    assert_int_equal(CLOSE_CHECK("\x00\x00reason", &why), WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(CLOSE_CHECK("\xff\xffreason", &why), WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(CLOSE_CHECK("\x03\xe8"
                                 "bad \xff",
                                 &why),
                     WS_CLOSE_INVALID_DATA);
    assert_string_equal(why, "close reason is not UTF-8");
    assert_int_equal(CLOSE_CHECK("\x03\xe8\xe2\x82", &why), WS_CLOSE_INVALID_DATA);
    assert_int_equal(CLOSE_CHECK("\x03\xe8\xed\xa0\x80", &why), WS_CLOSE_INVALID_DATA);
}

static void test_wsframe_close_codes_valid_to_receive_and_to_send(void **state)
{
    /* RFC 6455 §7.4: what a client may send us. */
    for (uint32_t code = 0; code < 70000; code++) {
        int in = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                 (code >= 3000 && code <= 4999);
        assert_int_equal(ws_close_code_is_valid(code), in);
    }
    /* What we may send: never 1004-1006, 1010 or 1015. */
    static const uint32_t yes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011,
                                   1012, 1013, 1014, 3000, 4000, 4001, 4999};
    static const uint32_t no[] = {0,    999,  1004, 1005, 1006,  1010,         1015,
                                  1016, 2000, 2999, 5000, 65535, 65536 + 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(ws_close_code_may_send(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(ws_close_code_may_send(no[i]));
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
        cmocka_unit_test(test_wsframe_scan_marks_an_incomplete_length_field),
        cmocka_unit_test(test_wsframe_check_accepts_valid_client_frames),
        cmocka_unit_test(test_wsframe_check_names_each_violation),
        cmocka_unit_test(test_wsframe_check_allows_rsv1_on_a_first_data_frame_only),
        cmocka_unit_test(test_wsframe_check_refuses_lengths_not_in_shortest_form),
        cmocka_unit_test(test_wsframe_close_check_accepts_valid_payloads),
        cmocka_unit_test(test_wsframe_close_check_refuses_bad_payloads),
        cmocka_unit_test(test_wsframe_close_codes_valid_to_receive_and_to_send),
        cmocka_unit_test(test_wsframe_header_round_trips_through_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
