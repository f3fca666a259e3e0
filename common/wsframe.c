/* WebSocket frame header scanning, checking and writing: see wsframe.h. */
#include "common/wsframe.h"

#include "common/utf8.h"

long ws_frame_scan(const uint8_t *p, size_t len, uint64_t max_payload, struct ws_frame_info *info)
{
    info->header_len = 0;
    if (len < 2)
        return 0;
    info->fin = p[0] >> 7;
    info->rsv = p[0] & 0x70;
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
    }
    if (info->masked)
        hlen += 4;
    info->header_len = (uint8_t)hlen;
    info->payload_len = plen;
    if (plen >> 63) /* RFC 6455 §5.2: the most significant bit must be 0 */
        return -1;
    if (plen > max_payload)
        return -1;
    if (len < hlen || len - hlen < plen)
        return 0;
    return (long)(hlen + plen);
}

int ws_frame_check(const struct ws_frame_info *info, int in_fragmented, int rsv1_allowed,
                   const char **why)
{
    uint8_t op = info->opcode;
    size_t len_field = info->header_len - (info->masked ? 4u : 0u); /* 2, 4 or 10 */
    if (info->payload_len >> 63)
        *why = "invalid frame length";
    else if ((len_field == 4 && info->payload_len < 126) ||
             (len_field == 10 && info->payload_len <= 0xffff))
        *why = "payload length not in its shortest form"; /* §5.2 */
    else if (info->rsv & (WS_RSV2 | WS_RSV3))
        *why = "reserved bits set"; /* §5.2: no extension defines them */
    else if (info->rsv && !rsv1_allowed)
        *why = "RSV1 set without permessage-deflate"; /* §5.2: not negotiated */
    else if (info->rsv && op == WS_OP_CONT)
        *why = "RSV1 on a continuation frame"; /* RFC 7692 §6.1: first frame only */
    else if (info->rsv && op >= WS_OP_CLOSE)
        *why = "RSV1 on a control frame"; /* RFC 7692 §6.1 */
    else if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
             op != WS_OP_PING && op != WS_OP_PONG)
        *why = "reserved opcode";
    else if (!info->masked)
        *why = "client frame not masked"; /* §5.1 */
    else if (op >= WS_OP_CLOSE && !info->fin)
        *why = "fragmented control frame"; /* §5.5 */
    else if (op >= WS_OP_CLOSE && info->payload_len > WS_MAX_CONTROL_PAYLOAD)
        *why = "control frame too long";
    else if (op == WS_OP_CONT && !in_fragmented)
        *why = "continuation without a message"; /* §5.4 */
    else if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && in_fragmented)
        *why = "new message inside a fragmented one";
    else
        return 0;
    return WS_CLOSE_PROTOCOL_ERROR;
}

size_t ws_control_payload(const uint8_t *frame, const struct ws_frame_info *info,
                          uint8_t out[WS_MAX_CONTROL_PAYLOAD])
{
    size_t n = (size_t)info->payload_len;
    const uint8_t *mask = frame + info->header_len - 4, *in = frame + info->header_len;
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] ^ mask[i & 3];
    return n;
}

int ws_close_check(const uint8_t *frame, const struct ws_frame_info *info, const char **why)
{
    size_t n = (size_t)info->payload_len;
    if (n == 0)
        return 0; /* no status code: allowed (§5.5.1) */
    if (n == 1) {
        *why = "close payload of 1 byte";
        return WS_CLOSE_PROTOCOL_ERROR;
    }
    uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
    ws_control_payload(frame, info, payload);
    if (!ws_close_code_is_valid(((uint32_t)payload[0] << 8) | payload[1])) {
        *why = "invalid close code";
        return WS_CLOSE_PROTOCOL_ERROR;
    }
    if (!utf8_is_valid(payload + 2, n - 2)) {
        *why = "close reason is not UTF-8";
        return WS_CLOSE_INVALID_DATA;
    }
    return 0;
}

int ws_close_code_is_valid(uint32_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

int ws_close_code_may_send(uint32_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1009) ||
           (code >= 1011 && code <= 1014) || (code >= 3000 && code <= 4999);
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
