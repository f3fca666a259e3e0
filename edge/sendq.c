/* Per-connection output ring with writev flushing: see sendq.h. */
#include "edge/sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define SENDQ_IOV 256       /* frames per writev (IOV_MAX is 1024) */
#define SENDQ_BASE_CAP 16   /* ring entries allocated first, and recycled */
#define SENDQ_POOL_MAX 4096 /* free rings kept per worker */
/* Several frames averaging at most SENDQ_GATHER_FRAME bytes, SENDQ_GATHER in
 * all, are copied into one buffer and written as one iovec. */
#define SENDQ_GATHER 16384
#define SENDQ_GATHER_FRAME 512

/* Free rings are chained through their first slot. */
void sendq_pool_deinit(struct sendq_pool *pool)
{
    while (pool->free) {
        void *r = pool->free;
        pool->free = *(void **)r;
        free(r);
    }
    pool->nfree = 0;
}

static struct frame **ring_get(struct sendq_pool *pool)
{
    void *r = pool->free;
    if (r) {
        pool->free = *(void **)r;
        pool->nfree--;
        return r;
    }
    return xmalloc(SENDQ_BASE_CAP * sizeof(struct frame *));
}

static void ring_put(struct sendq *q, struct sendq_pool *pool)
{
    if (q->cap == SENDQ_BASE_CAP && pool->nfree < SENDQ_POOL_MAX) {
        *(void **)q->ring = pool->free;
        pool->free = q->ring;
        pool->nfree++;
    } else {
        free(q->ring);
    }
    q->ring = NULL;
    q->cap = q->head = q->count = q->head_off = 0;
}

static void grow(struct sendq *q, struct sendq_pool *pool)
{
    if (!q->ring) {
        q->ring = ring_get(pool);
        q->cap = SENDQ_BASE_CAP;
        q->head = 0;
        return;
    }
    /* Unwrap into a ring twice the size. */
    uint32_t cap = q->cap * 2;
    struct frame **r = xmalloc(cap * sizeof *r);
    for (uint32_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) & (q->cap - 1)];
    if (q->cap == SENDQ_BASE_CAP) {
        ring_put(q, pool);
    } else {
        free(q->ring);
    }
    q->ring = r;
    q->cap = cap;
    q->head = 0;
}

void sendq_push(struct sendq *q, struct sendq_pool *pool, struct frame *frame)
{
    if (q->count == q->cap) {
        uint32_t count = q->count, off = q->head_off, bytes = q->bytes;
        grow(q, pool);
        q->count = count;
        q->head_off = off;
        q->bytes = bytes;
    }
    q->ring[(q->head + q->count) & (q->cap - 1)] = frame;
    q->count++;
    q->bytes += frame->len;
}

static void pop_head(struct sendq *q)
{
    frame_unref(q->ring[q->head]);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->head_off = 0;
}

int sendq_flush(struct sendq *q, struct sendq_pool *pool, sendq_writev_fn writev_fn, void *ctx)
{
    while (q->count) {
        struct iovec iov[SENDQ_IOV];
        int n = 0;
        size_t total = 0;
        for (uint32_t i = 0; i < q->count && n < SENDQ_IOV; i++, n++) {
            struct frame *f = q->ring[(q->head + i) & (q->cap - 1)];
            uint32_t off = i == 0 ? q->head_off : 0;
            iov[n].iov_base = f->data + off;
            iov[n].iov_len = f->len - off;
            total += iov[n].iov_len;
        }
        ssize_t w;
        if (n > 1 && total <= SENDQ_GATHER && total <= (size_t)n * SENDQ_GATHER_FRAME) {
            /* Small frames, several of them: one copy into a contiguous
             * buffer here costs less than the kernel's per-segment copy
             * and bookkeeping for each iovec (perf: _copy_from_iter led). */
            static __thread uint8_t gather[SENDQ_GATHER];
            size_t at = 0;
            for (int k = 0; k < n; k++) {
                memcpy(gather + at, iov[k].iov_base, iov[k].iov_len);
                at += iov[k].iov_len;
            }
            struct iovec one = {.iov_base = gather, .iov_len = total};
            w = writev_fn(ctx, &one, 1);
        } else {
            w = writev_fn(ctx, iov, n);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        size_t left = (size_t)w;
        q->bytes -= (uint32_t)w;
        while (left && q->count) {
            struct frame *f = q->ring[q->head];
            size_t avail = f->len - q->head_off;
            if (left >= avail) {
                left -= avail;
                pop_head(q);
            } else {
                q->head_off += (uint32_t)left;
                left = 0;
            }
        }
        if ((size_t)w < total)
            return 1; /* short write: the socket is full */
    }
    if (q->ring)
        ring_put(q, pool);
    return 0;
}

void sendq_drop_unstarted(struct sendq *q, struct sendq_pool *pool)
{
    uint32_t keep = q->head_off ? 1 : 0;
    while (q->count > keep) {
        uint32_t last = (q->head + q->count - 1) & (q->cap - 1);
        q->bytes -= q->ring[last]->len;
        frame_unref(q->ring[last]);
        q->count--;
    }
    if (!q->count && q->ring)
        ring_put(q, pool);
}

void sendq_clear(struct sendq *q, struct sendq_pool *pool)
{
    while (q->count)
        pop_head(q);
    q->bytes = 0;
    if (q->ring)
        ring_put(q, pool);
}

struct frame *sendq_last_unstarted(const struct sendq *q)
{
    if (!q->count || (q->count == 1 && q->head_off))
        return NULL;
    return q->ring[(q->head + q->count - 1) & (q->cap - 1)];
}
