/* WebSocket frames in, for an open (or closing) connection: the bytes the
 * read loop got are split at frame boundaries, each frame header is judged
 * before its payload is buffered, complete frames go to wslay (message
 * assembly, UTF-8, close handshake) and an incomplete tail waits in a small
 * per-connection buffer (bounded by max_message_bytes).
 *
 * Idle connections are cheap: a connection holds no wslay context and no
 * buffer between messages. When bytes arrive, complete frames are handed to
 * a wslay context created for the purpose; at a message boundary (no
 * partial frame, no fragmented message in progress) the context is freed
 * again, which is safe because wslay was only ever given whole frames, so
 * its 4 KB input buffer is provably empty.
 *
 * This file reports upward through struct wsconn_events (the connection's
 * owner, edge/client.c, acts on them) and calls nobody above it, so it can
 * be driven alone (tests/fuzz/fuzz_wsconn.c). */
#ifndef SPOKE_EDGE_WSCONN_H
#define SPOKE_EDGE_WSCONN_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "edge/frame.h"

struct client;

struct wsconn_events {
    /* A complete text (opcode 1) or binary (2) message. */
    void (*message)(struct client *c, uint8_t opcode, const uint8_t *p, size_t n);
    /* Queue frame f for c (a pong, or wslay's close frame); takes ownership. */
    void (*queue)(struct client *c, struct frame *f);
    /* The closing handshake is complete (the peer's close came, and the
     * reply or our own close is queued): tear down once it is written.
     * code: the peer's close code (0 when it answered our close). */
    void (*closed)(struct client *c, uint16_t code);
    /* The input breaks the protocol: close with code (1002, 1007, 1009)
     * and why. queued: a close frame with that code is queued already (by
     * wslay); wait: wait for the peer's close frame, else close as soon as
     * ours is written. */
    void (*failed)(struct client *c, uint16_t code, const char *why, int queued, int wait);
};

/* Handles bytes p[0, n) read for connection c, which is CLIENT_OPEN or
 * CLIENT_CLOSING; from_partial: p is c's partial-frame buffer itself (see
 * wsconn_partial), else the bytes are the read buffer's. The frames before
 * a bad one are processed, then `failed` is reported and the rest of the
 * input is dropped. Events may change c's state as they are reported; the
 * function returns once c is CLIENT_CLOSED, without touching it again. */
void wsconn_input(struct client *c, const uint8_t *p, size_t n, int from_partial,
                  const struct wsconn_events *ev);
/* c's partial-frame buffer when it holds the start of a frame (the next
 * read should land after it), else NULL. */
struct buf *wsconn_partial(struct client *c);
/* Frees c's working state (a connection torn down). */
void wsconn_free(struct client *c);

#endif
