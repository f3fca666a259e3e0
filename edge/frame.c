/* Reference-counted server frames: see frame.h. */
#include "edge/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/wsframe.h"
#include "common/xalloc.h"

struct frame *frame_build(uint8_t opcode, const uint8_t *payload, size_t len)
{
    uint8_t hdr[10];
    size_t hlen = ws_frame_header(hdr, opcode, len);
    struct frame *f = xmalloc(sizeof *f + hlen + len);
    f->refs = 1;
    f->len = (uint32_t)(hlen + len);
    memcpy(f->data, hdr, hlen);
    if (len)
        memcpy(f->data + hlen, payload, len);
    return f;
}

struct frame *frame_close(uint16_t code, const char *reason)
{
    uint8_t payload[2 + WS_MAX_CLOSE_REASON + 1];
    size_t rlen =
        utf8_cut((char *)payload + 2, WS_MAX_CLOSE_REASON, (const uint8_t *)reason, strlen(reason));
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    return frame_build(WS_OP_CLOSE, payload, 2 + rlen);
}

struct frame *frame_raw(const void *bytes, size_t len)
{
    struct frame *f = xmalloc(sizeof *f + len);
    f->refs = 1;
    f->len = (uint32_t)len;
    memcpy(f->data, bytes, len);
    return f;
}

void frame_unref(struct frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}
