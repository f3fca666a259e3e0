/* libFuzzer driver for ws_frame_scan, ws_frame_check and ws_close_check
 * (common/wsframe.h): the scan that decides how much of a client's bytes
 * make one frame, and the rules judged on it. The first input byte picks the
 * payload limit (and its top bit whether a fragmented message is in
 * progress); the rest is the client's bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/wsframe.h"
#include "tests/fuzz/fuzz_check.h"

static const uint64_t limits[] = {
    0, 1, 125, 126, 127, 65535, 65536, 65537, 1u << 20, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint64_t max = limits[(data[0] & 0x7f) % (sizeof limits / sizeof limits[0])];
    int in_fragmented = data[0] >> 7;
    const uint8_t *p = data + 1;
    size_t len = size - 1;

    struct ws_frame_info info;
    memset(&info, 0xa5, sizeof info);
    long r = ws_frame_scan(p, len, max, &info);
    FUZZ_CHECK(r >= -1);
    if (len < 2) {
        FUZZ_CHECK(r == 0);
        return 0;
    }

    /* The header's own length: 2, plus 2 or 8 for the extended length, plus
     * 4 for the mask key. */
    uint8_t l7 = p[1] & 0x7f;
    size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
    size_t hlen = 2 + ext + (p[1] & 0x80 ? 4 : 0);
    if (len < 2 + ext) {
        FUZZ_CHECK(r == 0); /* the length field itself is incomplete */
        return 0;
    }
    uint64_t plen = l7;
    if (ext) {
        plen = 0;
        for (size_t i = 0; i < ext; i++)
            plen = plen << 8 | p[2 + i];
    }
    FUZZ_CHECK(info.opcode == (p[0] & 0x0f) && info.fin == p[0] >> 7 && info.rsv == (p[0] & 0x70) &&
               info.masked == p[1] >> 7 && info.header_len == hlen && info.payload_len == plen);

    /* The header's verdict: a protocol error with a reason, or fine. */
    const char *why = NULL;
    int code = ws_frame_check(&info, in_fragmented, 0, &why);
    FUZZ_CHECK(code == 0 || (code == WS_CLOSE_PROTOCOL_ERROR && why && *why));
    int control = (p[0] & 0x08) != 0;
    /* With permessage-deflate, RSV1 alone on a first data frame passes too. */
    const char *why1 = NULL;
    int code1 = ws_frame_check(&info, in_fragmented, 1, &why1);
    FUZZ_CHECK(code1 == 0 || (code1 == WS_CLOSE_PROTOCOL_ERROR && why1 && *why1));
    if (info.rsv == 0)
        FUZZ_CHECK(code1 == code);
    else
        FUZZ_CHECK(code != 0 &&
                   (code1 != 0 || (info.rsv == WS_RSV1 &&
                                   (info.opcode == WS_OP_TEXT || info.opcode == WS_OP_BINARY))));
    if (code == 0)
        FUZZ_CHECK(info.masked && !info.rsv && !(plen >> 63) && (ext != 2 || plen >= 126) &&
                   (ext != 8 || plen > 0xffff) &&
                   (!control || (info.fin && plen <= WS_MAX_CONTROL_PAYLOAD)));
    if (ext == 8 && plen >> 63) {
        FUZZ_CHECK(r == -1 && code == WS_CLOSE_PROTOCOL_ERROR);
        return 0;
    }
    if (plen > max) {
        FUZZ_CHECK(r == -1);
        return 0;
    }
    if (len < hlen || len - hlen < plen) {
        FUZZ_CHECK(r == 0);
        return 0;
    }
    FUZZ_CHECK((uint64_t)r == hlen + plen);
    if (code == 0 && info.opcode == WS_OP_CLOSE) {
        why = NULL;
        int cc = ws_close_check(p, &info, &why);
        FUZZ_CHECK(cc == 0 ||
                   ((cc == WS_CLOSE_PROTOCOL_ERROR || cc == WS_CLOSE_INVALID_DATA) && why && *why));
        if (cc == 0 && plen >= 2) {
            const uint8_t *m = p + hlen - 4;
            uint32_t cl = (uint32_t)(p[hlen] ^ m[0]) << 8 | (p[hlen + 1] ^ m[1]);
            FUZZ_CHECK(ws_close_code_is_valid(cl));
        }
        FUZZ_CHECK(plen != 1 || cc == WS_CLOSE_PROTOCOL_ERROR);
    }
    /* One byte short of the frame is "need more". */
    struct ws_frame_info again;
    FUZZ_CHECK(ws_frame_scan(p, (size_t)r - 1, max, &again) == 0);

    /* The writer's header for this opcode and length scans back to them. */
    uint8_t hdr[WS_MAX_HEADER];
    size_t hn = ws_frame_header(hdr, info.opcode, plen);
    FUZZ_CHECK(hn == 2 || hn == 4 || hn == 10);
    struct ws_frame_info back;
    FUZZ_CHECK(ws_frame_scan(hdr, hn, UINT64_MAX, &back) == (plen ? 0 : (long)hn));
    FUZZ_CHECK(back.opcode == info.opcode && back.fin == 1 && back.masked == 0 &&
               back.header_len == hn && back.payload_len == plen);
    return 0;
}
