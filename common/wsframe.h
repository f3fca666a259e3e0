/* WebSocket frame headers (RFC 6455 §5.2): scanning client frames to find
 * their boundaries before wslay sees them, and writing server frame headers.
 *
 * The edge hands wslay only complete frames so that, between messages, wslay
 * holds no partial input and its context can be released (idle connections
 * keep no wslay context; see docs/architecture.md). */
#ifndef SPOKE_WSFRAME_H
#define SPOKE_WSFRAME_H
#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xa

#define WS_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask) */

struct ws_frame_info {
    uint8_t opcode;
    uint8_t fin;
    uint8_t masked;
    uint8_t header_len;
    uint64_t payload_len;
};

/* Looks at the frame starting at p[0, len).
 * Returns the total frame length (header + payload) if the whole frame is in
 * p; 0 if more bytes are needed; -1 if the header declares a payload larger
 * than max_payload or an invalid 64-bit length (the caller then lets wslay
 * see it, which closes with 1009 or 1002 without buffering the payload).
 * *info is filled whenever the header itself is complete. */
long ws_frame_scan(const uint8_t *p, size_t len, uint64_t max_payload,
                   struct ws_frame_info *info);

/* Writes an unmasked server frame header with FIN set into out (>= 10
 * bytes). Returns its length (2, 4 or 10). */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t payload_len);

#endif
