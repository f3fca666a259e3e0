/* Log-linear latency histogram: see hist.h. */
#include "tests/bench/loadgen/hist.h"

#include <inttypes.h>
#include <math.h>

uint64_t hist_bucket_ub(unsigned idx)
{
    if (idx < 2 * HIST_SUB)
        return idx;
    unsigned shift = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t m = (idx - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    /* For the top bucket (m + 1) << shift wraps to 0 (unsigned, defined): ub = 2^64 - 1. */
    return ((m + 1) << shift) - 1;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t ub = hist_bucket_ub(i);
            return ub < h->max ? ub : h->max;
        }
    }
    return h->max;
}

void hist_append_json(const struct hist *h, struct buf *out)
{
    int first = 1;
    buf_append_u8(out, '[');
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (!h->b[i])
            continue;
        buf_printf(out, "%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", hist_bucket_ub(i),
                   h->b[i]);
        first = 0;
    }
    buf_append_u8(out, ']');
}
