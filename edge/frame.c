/* Reference-counted server frames: see frame.h. */
#include "edge/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/pmdcodec.h"
#include "common/utf8.h"
#include "common/wsframe.h"
#include "common/xalloc.h"

struct frame *frame_build(uint8_t opcode, const uint8_t *payload, size_t len)
{
    uint8_t hdr[10];
    size_t hlen = ws_frame_header(hdr, opcode, len);
    struct frame *f = xmalloc(sizeof *f + hlen + len);
    f->refs = 1;
    f->deflated = NULL;
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
    f->deflated = NULL;
    f->len = (uint32_t)len;
    memcpy(f->data, bytes, len);
    return f;
}

/* frame.deflated when compression was tried and the frame goes plain. */
static struct frame plain_is_best;

void frame_unref(struct frame *f)
{
    if (!f || --f->refs)
        return;
    if (f->deflated != &plain_is_best)
        frame_unref(f->deflated);
    free(f);
}

const uint8_t *frame_payload(const struct frame *f, size_t *len)
{
    uint8_t l7 = f->data[1] & 0x7f;
    size_t hlen = l7 == 127 ? 10 : l7 == 126 ? 4 : 2;
    *len = f->len - hlen;
    return f->data + hlen;
}

struct frame *frame_for_deflate(struct frame *f, struct pmd_codec *z, size_t threshold)
{
    if (f->deflated)
        return f->deflated == &plain_is_best ? f : f->deflated;
    uint8_t op = f->data[0] & 0x0f;
    size_t n;
    const uint8_t *payload = frame_payload(f, &n), *body;
    size_t blen = 0;
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && !(f->data[0] & 0x70) && n >= threshold)
        blen = pmd_compress(z, payload, n, &body);
    if (!blen) {
        f->deflated = &plain_is_best;
        return f;
    }
    struct frame *d = frame_build(op, body, blen);
    d->data[0] |= WS_RSV1; /* RFC 7692 §6: a compressed message */
    f->deflated = d;
    return d;
}

size_t frame_twin_bytes(const struct frame *f)
{
    const struct frame *d = f->deflated;
    return d && d != &plain_is_best ? sizeof(*d) + d->len : 0;
}
