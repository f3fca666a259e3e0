/* The order and pacing of a worker's hub link attempts: see hubring.h. */
#include "edge/hubring.h"

void hubring_init(struct hubring *r, size_t n, unsigned index, double min, double max)
{
    r->n = n ? n : 1;
    r->cur = index % r->n;
    r->min = min;
    r->max = max < min ? min : max;
    hubring_linked(r);
}

double hubring_failed(struct hubring *r)
{
    double delay = r->backoff;
    r->cur = (r->cur + 1) % r->n;
    if (--r->left == 0) {
        /* A whole round failed: every hub gets the next, longer, delay. */
        r->left = r->n;
        r->backoff *= 2;
        if (r->backoff > r->max)
            r->backoff = r->max;
    }
    return delay;
}

void hubring_linked(struct hubring *r)
{
    r->left = r->n;
    r->backoff = r->min;
}
