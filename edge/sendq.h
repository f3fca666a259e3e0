/* A connection's output queue: references to frames, written with one
 * writev() per flush. Queue nodes come from a per-worker free list, so an
 * idle connection's queue is two NULL pointers and a counter. */
#ifndef SPOKE_EDGE_SENDQ_H
#define SPOKE_EDGE_SENDQ_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "edge/frame.h"

struct sendq_node {
    struct sendq_node *next;
    struct frame *frame;
};

struct sendq {
    struct sendq_node *head, *tail;
    uint32_t head_off; /* bytes of head->frame already written */
    uint32_t bytes;    /* unwritten bytes in the queue */
};

/* Per-worker node free list. */
struct sendq_pool {
    struct sendq_node *free;
};

void sendq_pool_deinit(struct sendq_pool *pool);
/* Appends frame; takes ownership of one reference. */
void sendq_push(struct sendq *q, struct sendq_pool *pool, struct frame *frame);
/* Writes as much as the transport takes, up to 64 frames per writev call.
 * Returns 0 when the queue is empty, 1 when bytes remain (socket full), -1 on
 * a write error (errno set). */
typedef ssize_t (*sendq_writev_fn)(void *ctx, const struct iovec *iov, int iovcnt);
int sendq_flush(struct sendq *q, struct sendq_pool *pool, sendq_writev_fn writev_fn, void *ctx);
/* Drops every frame not yet started; the partly written head stays so the
 * byte stream remains a valid sequence of frames. */
void sendq_drop_unstarted(struct sendq *q, struct sendq_pool *pool);
void sendq_clear(struct sendq *q, struct sendq_pool *pool);
static inline int sendq_is_empty(const struct sendq *q) { return q->head == NULL; }

#endif
