/* WebSocket frame header scanning and writing: see wsframe.h. */
#include "common/wsframe.h"

long ws_frame_scan(const uint8_t *p, size_t len, uint64_t max_payload,
                   struct ws_frame_info *info)
{
    if (len < 2)
        return 0;
    info->fin = p[0] >> 7;
    info->opcode = p[0] & 0x0f;
    info->masked = p[1] >> 7;
    uint64_t plen = p[1] & 0x7f;
    size_t hlen = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = ((uint64_t)p[2] << 8) | p[3];
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | p[2 + i];
        hlen = 10;
        if (plen >> 63) /* RFC 6455 §5.2: the most significant bit must be 0 */
            return -1;
    }
    if (info->masked)
        hlen += 4;
    info->header_len = (uint8_t)hlen;
    info->payload_len = plen;
    if (plen > max_payload)
        return -1;
    if (len < hlen || len - hlen < plen)
        return 0;
    return (long)(hlen + plen);
}

size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t payload_len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}
