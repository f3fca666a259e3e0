/* A connection's output queue: a ring of references to frames, written with
 * one writev() per flush. The ring exists only while something is queued:
 * an idle connection's queue is a NULL pointer and a few counters, and
 * rings of the base size are recycled through a per-worker free list. */
#ifndef SPOKE_EDGE_SENDQ_H
#define SPOKE_EDGE_SENDQ_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "edge/frame.h"

/* Invariants: ring == NULL iff cap == 0; count <= cap; cap is 0 or a power
 * of two; entries ring[(head + i) & (cap - 1)] for i < count are queued, the
 * first of them head_off bytes written; bytes counts what is unwritten. */
struct sendq {
    struct frame **ring;
    uint32_t head, count, cap;
    uint32_t head_off;
    uint32_t bytes;
};

/* What a queued frame holds beyond its bytes: its header and the
 * allocator's overhead, and its ring slot. Counted against the
 * slow-consumer bound (sendq_cost), so that a flood of tiny frames (pongs
 * of empty pings) weighs what it really holds. */
#define SENDQ_FRAME_COST 40

/* Per-worker free list of base-size rings. */
struct sendq_pool {
    void *free;
    size_t nfree;
};

void sendq_pool_deinit(struct sendq_pool *pool);
/* Appends frame; takes ownership of one reference. */
void sendq_push(struct sendq *q, struct sendq_pool *pool, struct frame *frame);
/* Writes as much as the transport takes, up to 256 frames per writev call.
 * Returns 0 when the queue is empty (its ring is given back), 1 when bytes
 * remain (socket full), -1 on a write error (errno set). */
typedef ssize_t (*sendq_writev_fn)(void *ctx, const struct iovec *iov, int iovcnt);
int sendq_flush(struct sendq *q, struct sendq_pool *pool, sendq_writev_fn writev_fn, void *ctx);
/* Drops every frame not yet started; the partly written head stays so the
 * byte stream remains a valid sequence of frames. */
void sendq_drop_unstarted(struct sendq *q, struct sendq_pool *pool);
void sendq_clear(struct sendq *q, struct sendq_pool *pool);
static inline int sendq_is_empty(const struct sendq *q)
{
    return q->count == 0;
}
/* Memory the queue holds for its connection: unwritten bytes plus
 * SENDQ_FRAME_COST per queued frame. */
static inline uint64_t sendq_cost(const struct sendq *q)
{
    return (uint64_t)q->bytes + (uint64_t)q->count * SENDQ_FRAME_COST;
}
/* The last queued frame if none of it has been written yet, else NULL. */
struct frame *sendq_last_unstarted(const struct sendq *q);

#endif
