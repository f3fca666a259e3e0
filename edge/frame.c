/* Reference-counted server frames: see frame.h. */
#include "edge/frame.h"

#include <stdlib.h>
#include <string.h>

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
