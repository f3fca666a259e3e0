/* A worker's backend hook figures (edge/hooks.c keeps them; the worker's
 * stats carry them, edge/edge.h), apart from the hooks themselves so that
 * the worker's struct does not need the hook calls' interface. */
#ifndef SPOKE_EDGE_HOOK_STATS_H
#define SPOKE_EDGE_HOOK_STATS_H
#include <stdint.h>

#include "common/hooks_conf.h"

/* Latency buckets of the per-event histogram, in milliseconds (+Inf last). */
#define HOOK_LATENCY_BUCKETS 11
extern const double hook_latency_bounds_ms[HOOK_LATENCY_BUCKETS];

struct hook_event_stats {
    uint64_t calls, allowed, denied, failed, breaker_refused;
    uint64_t latency[HOOK_LATENCY_BUCKETS + 1]; /* cumulative by bucket, as Prometheus wants */
    double latency_sum_ms;
};
struct hook_stats {
    struct hook_event_stats ev[HOOK_EVENTS];
    uint64_t breaker_opened;      /* times the breaker opened */
    uint64_t breaker_open;        /* 1 while it is open */
    uint64_t disconnects_dropped; /* disconnect events not delivered (queue full, retries spent) */
    uint64_t disconnects_sent;    /* disconnect events the backend took */
};

#endif
