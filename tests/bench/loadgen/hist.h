/* Log-linear latency histogram in nanoseconds, mergeable across processes.
 *
 * Values below 128 ns have a bucket each; above, every power of two is split
 * into 64 equal sub-buckets, so a bucket's width is at most 1/64 (1.6 %) of
 * its values. Bucket boundaries are fixed, so histograms from several
 * processes merge by adding the counts of equal upper bounds. */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H
#include <stdint.h>

#include "common/buf.h"

#define HIST_SUB 64
#define HIST_BUCKETS (128 + 57 * HIST_SUB) /* up to 2^64 - 1 */

struct hist {
    uint64_t count, max;
    uint64_t b[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned shift = msb - 6;
    return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

static inline void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

/* The largest value that falls into bucket idx. */
uint64_t hist_bucket_ub(unsigned idx);
/* The upper bound of the bucket holding the ceil(q * count)-th smallest
 * value, capped at the maximum; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Appends the non-empty buckets as [[upper_bound_ns,count],...]. */
void hist_append_json(const struct hist *h, struct buf *out);

#endif
