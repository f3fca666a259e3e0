/* The edge's settings, read once at startup and shared read-only by all
 * workers (see docs/configuration.md). The liveness and limits policy is not
 * among them: the hub owns it and sends it over each worker's link. */
#ifndef SPOKE_EDGE_CONFIG_H
#define SPOKE_EDGE_CONFIG_H
#include <ev.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/net.h"

/* What workers may ask of the main thread; the ev_async calls are the only
 * cross-thread calls, as libev requires. */
struct edge_ctl {
    struct ev_loop *loop;     /* the main thread's loop */
    ev_async drain_request;   /* a worker got DRAIN from the hub */
    ev_async worker_drained;  /* a worker has closed all its clients */
    atomic_uint drained;      /* workers done draining */
    atomic_long drain_ms;     /* the period of the drain in progress */
};

struct edge_config {
    char *name;
    char *region;
    char *public_url;         /* where clients reach this edge (for operators); may be empty */
    struct net_addr listen;
    struct net_addr hub;
    struct net_addr admin;    /* /healthz, /readyz, /metrics for this edge process */
    struct sockaddr_storage hub_sa; /* resolved once at startup */
    socklen_t hub_salen;
    long workers;
    enum log_level log_level;
    long client_sndbuf;
    long heartbeat_ms;
    long reconnect_min_ms;
    long reconnect_max_ms;
    long close_timeout_ms;
    long drain_ms;            /* default period over which a drain closes clients */
    struct edge_ctl *ctl;     /* set by main before the workers start */
    long link_max_pending;
    uint32_t boot; /* random per process start: part of every connection id */
};

#endif
