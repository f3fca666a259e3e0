/* Which hub a worker's link tries next, and after how long: the worker goes
 * round the edge's `hub` list, one address per attempt, starting at its own
 * offset so that an edge's workers spread over the hubs. Pure arithmetic
 * (no clock, no randomness, no sockets): the uplink adds the jitter and the
 * timers. See docs/architecture.md, "Hub link failure".
 *
 * Invariants: 0 <= cur < n; 1 <= left <= n; min <= backoff <= max. */
#ifndef SPOKE_EDGE_HUBRING_H
#define SPOKE_EDGE_HUBRING_H
#include <stddef.h>

struct hubring {
    size_t n;       /* addresses in the list (>= 1) */
    size_t cur;     /* the one linked to, or to be tried next */
    size_t left;    /* failures still allowed in this round before backoff doubles */
    double backoff; /* seconds to wait before the next attempt, before jitter */
    double min, max;
};

/* A ring over n addresses (n >= 1) for the worker `index`: it starts at
 * index % n, with the delay at min seconds (min <= max). */
void hubring_init(struct hubring *r, size_t n, unsigned index, double min, double max);
/* The link with r->cur was lost or an attempt at it failed: moves to the next
 * address (round robin) and returns the delay before trying it (seconds,
 * before jitter). The delay doubles, up to max, once every address has
 * failed in a row since the last link (a full round), so that all hubs are
 * tried at one delay before any waits longer. */
double hubring_failed(struct hubring *r);
/* The hub at r->cur answered HELLO: the next failure starts a new round at
 * the minimum delay. */
void hubring_linked(struct hubring *r);

#endif
