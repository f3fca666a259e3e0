/* The consistent hash of topics to Redis shards (see redis_ring.h). */
#include "hub/redis_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"
#include "common/xalloc.h"

/* Fixed keys: every hub must place every point and topic alike. */
#define RING_K0 0x73706f6b65726e67ull /* "spokerng" */
#define RING_K1 0x0123456789abcdefull

struct labelled {
    struct redis_ring_point p;
    const char *label;
};

static int by_point(const void *a, const void *b)
{
    const struct labelled *x = a, *y = b;
    if (x->p.at != y->p.at)
        return x->p.at < y->p.at ? -1 : 1;
    /* Equal hashes are all but impossible; order them by label, not by
     * their place in the list, so that the list's order never matters. */
    return strcmp(x->label, y->label);
}

void redis_ring_init(struct redis_ring *r, const char *const *labels, size_t nshards)
{
    r->n = nshards * REDIS_RING_POINTS;
    struct labelled *tmp = xmalloc(r->n * sizeof *tmp);
    char key[512];
    for (size_t s = 0; s < nshards; s++) {
        for (unsigned i = 0; i < REDIS_RING_POINTS; i++) {
            int n = snprintf(key, sizeof key, "%s#%u", labels[s], i);
            struct labelled *l = &tmp[s * REDIS_RING_POINTS + i];
            l->p.at = siphash13(RING_K0, RING_K1, key,
                                (size_t)n < sizeof key ? (size_t)n : sizeof key - 1);
            l->p.shard = (uint32_t)s;
            l->label = labels[s];
        }
    }
    qsort(tmp, r->n, sizeof *tmp, by_point);
    r->pts = xmalloc(r->n * sizeof *r->pts);
    for (size_t i = 0; i < r->n; i++)
        r->pts[i] = tmp[i].p;
    free(tmp);
}

void redis_ring_deinit(struct redis_ring *r)
{
    free(r->pts);
    r->pts = NULL;
    r->n = 0;
}

uint32_t redis_ring_shard(const struct redis_ring *r, const char *topic, size_t len)
{
    uint64_t h = siphash13(RING_K0, RING_K1, topic, len);
    size_t lo = 0, hi = r->n; /* the first point at or after h is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->pts[mid].at < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return r->pts[lo == r->n ? 0 : lo].shard; /* past the last point: the circle wraps */
}
