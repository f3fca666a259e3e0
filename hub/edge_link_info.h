/* struct edge_link_info, the snapshot of one open link that the admin API
 * and the cluster's view are built from; apart from hub/edge_link.h so that
 * what reads it (hub/http_edges.h, hub/cluster.h) need not see the links. */
#ifndef SPOKE_HUB_EDGE_LINK_INFO_H
#define SPOKE_HUB_EDGE_LINK_INFO_H
#include <stddef.h>
#include <stdint.h>

#include "common/link.h"

/* A snapshot of one open link for the admin API. Strings are copies. */
struct edge_link_info {
    uint64_t id;
    char edge[65];
    char region[65];
    char software[65];
    uint32_t worker;
    uint64_t boot;
    char addr[64];
    size_t topics;
    uint64_t publishes_in, messages_out, directs_in, directs_out;
    uint64_t raw_in, wire_in, raw_out, wire_out;
    struct link_stats stats; /* the worker's last STATS (zero before the first) */
    char public_url[256];
    int tls;             /* the link runs over TLS */
    char peer_cert[160]; /* its certificate's names ("CN=edge-a, DNS:edge-a"), or "-" */
    uint64_t age_ms;     /* since it was accepted */
};

#endif
