/* WebSocket frame headers (RFC 6455 §5.2): scanning client frames to find
 * their boundaries before wslay sees them, judging the rules a client frame
 * must follow, and writing server frame headers.
 *
 * The edge hands wslay only complete frames so that, between messages, wslay
 * holds no partial input and its context can be released (idle connections
 * keep no wslay context; see docs/architecture.md). Because the edge sees
 * each frame first, it also fails bad frames itself, with a close frame that
 * says why: wslay would answer some of them with an empty close frame and
 * accept others (LIBRARIES.md §2). */
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
/* RFC 6455 §5.5: control frame payloads are at most 125 bytes, so a close
 * reason (after the 2-byte code) is at most 123. */
#define WS_MAX_CONTROL_PAYLOAD 125
#define WS_MAX_CLOSE_REASON 123

/* The RSV bits as ws_frame_info.rsv holds them (first byte & 0x70). RSV1
 * marks a compressed message under permessage-deflate (RFC 7692 §6). */
#define WS_RSV1 0x40
#define WS_RSV2 0x20
#define WS_RSV3 0x10

/* Close codes (RFC 6455 §7.4.1). */
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_INVALID_DATA 1007

struct ws_frame_info {
    uint8_t opcode;
    uint8_t fin;
    uint8_t rsv; /* the RSV1..RSV3 bits, in place (first byte & 0x70) */
    uint8_t masked;
    uint8_t header_len; /* 0 until the length field is complete; mask included */
    uint64_t payload_len;
};

/* Looks at the frame starting at p[0, len).
 * Returns the total frame length (header + payload) if the whole frame is in
 * p; 0 if more bytes are needed; -1 if the header declares a payload larger
 * than max_payload or an invalid 64-bit length (most significant bit set).
 * info->header_len is 0 while the length field is incomplete; once it is
 * complete, every field of *info is set (also when -1 is returned), so the
 * header can be judged before the payload arrives. */
long ws_frame_scan(const uint8_t *p, size_t len, uint64_t max_payload, struct ws_frame_info *info);

/* Judges a client frame by its header (info->header_len != 0) against RFC
 * 6455: the length's top bit clear and the length in its shortest form
 * (§5.2), no RSV2 or RSV3, RSV1 only when rsv1_allowed (permessage-deflate
 * negotiated) and then only on the first frame of a data message (RFC 7692
 * §6.1), a defined opcode (§5.2), masked (§5.1), control frames
 * unfragmented and at most 125 bytes (§5.5), continuation frames only inside
 * a fragmented message and no new data message inside one (§5.4).
 * in_fragmented: a fragmented data message is in progress.
 * Returns 0 if the header is fine, else WS_CLOSE_PROTOCOL_ERROR with *why set
 * to a short static reason for the close frame ("control frame too long",
 * "fragmented control frame", ...). */
int ws_frame_check(const struct ws_frame_info *info, int in_fragmented, int rsv1_allowed,
                   const char **why);

/* Copies the unmasked payload of a complete, masked client control frame
 * whose header passed ws_frame_check (so at most 125 bytes) into out.
 * Returns its length. */
size_t ws_control_payload(const uint8_t *frame, const struct ws_frame_info *info,
                          uint8_t out[WS_MAX_CONTROL_PAYLOAD]);

/* Judges the payload of a complete client close frame at frame[0, header_len
 * + payload_len) whose header passed ws_frame_check (so the payload is at
 * most 125 bytes): empty, or a code valid for a peer to send
 * (ws_close_code_is_valid) followed by a UTF-8 reason (§5.5.1, §7.4).
 * Returns 0, WS_CLOSE_PROTOCOL_ERROR ("close payload of 1 byte", "invalid
 * close code") or WS_CLOSE_INVALID_DATA ("close reason is not UTF-8") with
 * *why set. */
int ws_close_check(const uint8_t *frame, const struct ws_frame_info *info, const char **why);

/* 1 if a client may send code in a close frame: 1000-1003, 1007-1011 and
 * 3000-4999 (RFC 6455 §7.4.1-7.4.2; the same set wslay accepts, so 1012-1014,
 * which RFC 6455 does not define, are refused), else 0. */
int ws_close_code_is_valid(uint32_t code);

/* 1 if a server may send code in a close frame: 1000-1003, 1007-1009,
 * 1011-1014 (1012-1014 from the IANA registry) and 3000-4999, else 0. Never
 * 1005, 1006 or 1015 (RFC 6455 §7.4.1: for APIs, never on the wire), nor 1004
 * (reserved) or 1010 (sent by clients only). */
int ws_close_code_may_send(uint32_t code);

/* Writes an unmasked server frame header with FIN set into out (>= 10
 * bytes). Returns its length (2, 4 or 10). */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t payload_len);

#endif
