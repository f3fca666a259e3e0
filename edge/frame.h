/* Server-to-client WebSocket frames as immutable, reference-counted byte
 * blocks: a topic message is framed once per encoding and the same block is
 * queued to every local subscriber (server frames are unmasked, so the bytes
 * are identical for all). Frames never cross threads: counts are plain ints. */
#ifndef SPOKE_EDGE_FRAME_H
#define SPOKE_EDGE_FRAME_H
#include <stddef.h>
#include <stdint.h>

struct pmd_codec;

struct frame {
    uint32_t refs;
    uint32_t len;
    /* For permessage-deflate connections: the same message compressed
     * (RSV1 set), built at the first such subscriber and shared like f;
     * NULL: not tried yet (see frame_for_deflate). Owned by this frame. */
    struct frame *deflated;
    uint8_t data[];
};

/* A frame holding header + payload for opcode (FIN set). refs = 1. */
struct frame *frame_build(uint8_t opcode, const uint8_t *payload, size_t len);
/* A close frame with code and reason, the reason cut to at most 123 bytes
 * of valid UTF-8 (RFC 6455 §5.5, §5.5.1): a kick's reason comes from the
 * hub and may be any bytes. refs = 1. */
struct frame *frame_close(uint16_t code, const char *reason);
/* Raw bytes (e.g. an HTTP response) as a frame. refs = 1. */
struct frame *frame_raw(const void *bytes, size_t len);
static inline struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}
void frame_unref(struct frame *f);

/* The frame a connection that negotiated permessage-deflate gets for the
 * data frame f (text or binary, RSV clear): f's compressed twin, built with
 * codec z the first time and kept with f, so a message is compressed once
 * per worker however many subscribers get it; or f itself when its payload
 * is shorter than threshold or would not get smaller. Borrowed: f owns the
 * twin (take a reference to keep it). */
struct frame *frame_for_deflate(struct frame *f, struct pmd_codec *z, size_t threshold);
/* What f's compressed twin holds (0: none, or not built yet): a holder of
 * f that counts its bytes (edge/resume.c) counts these too. */
size_t frame_twin_bytes(const struct frame *f);
/* The payload of a server frame (after its 2-, 4- or 10-byte header). */
const uint8_t *frame_payload(const struct frame *f, size_t *len);

#endif
