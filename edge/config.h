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
#include "common/tls.h"

struct assets;
struct auth;
struct iplimit;

/* What workers may ask of the main thread; the ev_async calls are the only
 * cross-thread calls, as libev requires. */
struct edge_ctl {
    struct ev_loop *loop;      /* the main thread's loop */
    ev_async drain_request;    /* a worker got DRAIN from the hub */
    ev_async worker_drained;   /* a worker has closed all its clients */
    atomic_uint drained;       /* workers done draining */
    atomic_long drain_ms;      /* the period of the drain in progress */
    ev_async worker_listening; /* a worker listens on all its sockets (the ready file) */
    atomic_uint listening;     /* workers that do */
};

/* One address of the `hub` list, resolved once at startup. */
struct edge_hub {
    const struct net_addr *addr; /* in edge_config.hub */
    char label[300];             /* "HOST:PORT" as logs, /readyz and /metrics show it */
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct edge_config {
    char *name;
    char *region;
    char *public_url;            /* where clients reach this edge (for operators); may be empty */
    struct net_addr listen;      /* port 0 until the first worker's bind picks one */
    struct net_addr_list hub;    /* the `hub` setting: the hubs, in the order tried */
    struct net_addr admin;       /* /healthz, /readyz, /metrics for this edge process */
    long admin_max_conns_per_ip; /* admin connections one address may hold (0: no cap) */
    long admin_head_timeout_ms;  /* deadline for an admin request's head */
    char *admin_allowed_hosts;   /* Host names answered besides IPs, localhost, the admin host */
    struct edge_hub hubs[NET_ADDR_LIST_MAX]; /* hubs[i] is hub.a[i], resolved */
    size_t nhubs;                            /* = hub.n */
    long workers;
    enum log_level log_level;
    long client_sndbuf;
    long heartbeat_ms;
    long reconnect_min_ms;
    long reconnect_max_ms;
    long close_timeout_ms;
    long drain_ms;        /* default period over which a drain closes clients */
    struct edge_ctl *ctl; /* set by main before the workers start */
    long link_max_pending;
    uint32_t boot; /* random per process start: part of every connection id */

    /* wss: a second listener (same workers) terminating TLS. */
    char *tls_listen_str; /* "" : no wss listener */
    struct net_addr tls_listen;
    char *tls_cert, *tls_key;
    struct tls_slot *client_tls; /* NULL without tls_listen; replaced on SIGHUP */

    /* The link: TLS with a certificate from link_ca, or plain TCP. */
    char *link_ca, *link_cert, *link_key;
    char *link_server_name; /* name every hub's certificate must carry ("": the host dialled) */
    int allow_insecure_links;
    struct tls_slot *link_tls; /* NULL: plain TCP */

    /* Who may connect, and to what. */
    char *jwt_secret, *jwt_public_key;
    int auth_required;
    char *topic_default; /* "allow" or "deny": topics for tokens without a spoke claim */
    long jwt_leeway_s;
    char *jwt_audience; /* "": aud not checked */
    char *jwt_issuer;   /* "": iss not checked */
    /* Immutable once built and shared by the workers; replaced whole when
     * SIGHUP re-reads jwt_public_key (edge_auth() reads it). Replaced ones
     * are kept until exit: a worker may still be using one. */
    struct auth *_Atomic auth;
    struct auth **auth_retired;
    size_t nauth_retired;
    char *allowed_origins;   /* comma-separated; "" allows any */
    long max_conns_per_ip;   /* 0: no limit */
    struct iplimit *iplimit; /* shared by the workers; NULL without a limit */
    char *ready_file;        /* JSON with the bound ports and whether clients get in ("": none) */

    /* Plain HTTP on the client port (edge/www.h). */
    int demo;                   /* serve the demo* files and / */
    const struct assets *files; /* edge/www/, compiled in; built by main */
};

/* The current token verifier. */
static inline struct auth *edge_auth(const struct edge_config *cfg)
{
    return atomic_load_explicit((struct auth * _Atomic *)&cfg->auth, memory_order_acquire);
}

#endif
