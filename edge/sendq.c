/* Per-connection output queue with writev flushing: see sendq.h. */
#include "edge/sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "common/xalloc.h"

#define SENDQ_IOV 256 /* frames per writev (IOV_MAX is 1024): one syscall for a busy client */

void sendq_pool_deinit(struct sendq_pool *pool)
{
    while (pool->free) {
        struct sendq_node *n = pool->free;
        pool->free = n->next;
        free(n);
    }
}

static struct sendq_node *node_get(struct sendq_pool *pool)
{
    struct sendq_node *n = pool->free;
    if (n) {
        pool->free = n->next;
        return n;
    }
    return xmalloc(sizeof *n);
}

static void node_put(struct sendq_pool *pool, struct sendq_node *n)
{
    n->next = pool->free;
    pool->free = n;
}

void sendq_push(struct sendq *q, struct sendq_pool *pool, struct frame *frame)
{
    struct sendq_node *n = node_get(pool);
    n->next = NULL;
    n->frame = frame;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->bytes += frame->len;
}

static void pop_head(struct sendq *q, struct sendq_pool *pool)
{
    struct sendq_node *n = q->head;
    q->head = n->next;
    if (!q->head)
        q->tail = NULL;
    q->head_off = 0;
    frame_unref(n->frame);
    node_put(pool, n);
}

int sendq_flush(struct sendq *q, struct sendq_pool *pool, sendq_writev_fn writev_fn, void *ctx)
{
    while (q->head) {
        struct iovec iov[SENDQ_IOV];
        int n = 0;
        size_t total = 0;
        for (struct sendq_node *node = q->head; node && n < SENDQ_IOV; node = node->next, n++) {
            uint32_t off = n == 0 ? q->head_off : 0;
            iov[n].iov_base = node->frame->data + off;
            iov[n].iov_len = node->frame->len - off;
            total += iov[n].iov_len;
        }
        ssize_t w = writev_fn(ctx, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        size_t left = (size_t)w;
        q->bytes -= (uint32_t)w;
        while (left && q->head) {
            size_t avail = q->head->frame->len - q->head_off;
            if (left >= avail) {
                left -= avail;
                pop_head(q, pool);
            } else {
                q->head_off += (uint32_t)left;
                left = 0;
            }
        }
        if ((size_t)w < total)
            return 1; /* short write: the socket is full */
    }
    return 0;
}

void sendq_drop_unstarted(struct sendq *q, struct sendq_pool *pool)
{
    if (!q->head)
        return;
    struct sendq_node *keep = q->head_off ? q->head : NULL;
    struct sendq_node *n = keep ? keep->next : q->head;
    while (n) {
        struct sendq_node *next = n->next;
        q->bytes -= n->frame->len;
        frame_unref(n->frame);
        node_put(pool, n);
        n = next;
    }
    if (keep) {
        keep->next = NULL;
        q->head = q->tail = keep;
    } else {
        q->head = q->tail = NULL;
        q->head_off = 0;
    }
}

void sendq_clear(struct sendq *q, struct sendq_pool *pool)
{
    while (q->head)
        pop_head(q, pool);
    q->bytes = 0;
}
