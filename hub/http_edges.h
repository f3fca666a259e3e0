/* The per-edge view behind GET /api/edges and the spoke_edge_* and
 * spoke_link_* families of /metrics. Each edge worker reports its figures
 * in STATS; an edge's entry sums its workers'. The figures come from the
 * edges, so they are untrusted: sums are unsigned and saturate at
 * UINT64_MAX (never wrap, never overflow a signed type); JSON, whose
 * integers are signed here, shows at most INT64_MAX, /metrics the full
 * unsigned value.
 *
 * In a cluster (hub/cluster.h) every hub publishes the entries of its own
 * links, and a hub's /api/edges merges the others' into its own: an entry
 * then names the hubs its workers are linked to (`hubs`), and an edge
 * whose workers are split over hubs sums its parts. http_edge_from_json
 * reads an entry another hub wrote, as untrusted as the figures. */
#ifndef SPOKE_HUB_HTTP_EDGES_H
#define SPOKE_HUB_HTTP_EDGES_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "hub/edge_link_info.h"

enum http_edge_counter {
    HTTP_EDGE_WORKERS,
    HTTP_EDGE_CLIENTS,
    HTTP_EDGE_SUBSCRIPTIONS,
    HTTP_EDGE_TOPICS,
    HTTP_EDGE_MSGS_IN,
    HTTP_EDGE_MSGS_OUT,
    HTTP_EDGE_BYTES_IN,
    HTTP_EDGE_BYTES_OUT,
    HTTP_EDGE_LINK_RAW_IN,
    HTTP_EDGE_LINK_WIRE_IN,
    HTTP_EDGE_LINK_RAW_OUT,
    HTTP_EDGE_LINK_WIRE_OUT,
    HTTP_EDGE_NCOUNTERS
};
enum http_edge_close {
    HTTP_CLOSE_IDLE,
    HTTP_CLOSE_DEAD,
    HTTP_CLOSE_SLOW,
    HTTP_CLOSE_PROTOCOL,
    HTTP_CLOSE_RATE,
    HTTP_CLOSE_OTHER,
    HTTP_EDGE_NCLOSES
};

struct http_edge {
    char name[65], region[65], version[65], public_url[256];
    int tls;
    int draining; /* a worker said it drains (STATS): "state": "draining" */
    uint64_t counters[HTTP_EDGE_NCOUNTERS];
    uint64_t closes[HTTP_EDGE_NCLOSES];
    uint64_t uptime_s; /* the longest-running worker's */
    double rtt_ms;     /* the slowest worker link's */
    json_t *addresses; /* each worker link's ip:port (owned) */
    json_t *hubs;      /* names of the hubs its workers are linked to (owned; NULL: not said) */
};

/* Edges in the order their first link was seen. */
struct http_edges {
    struct http_edge *v;
    size_t n, cap;
    json_t *index; /* name -> position in v */
};

void http_edges_init(struct http_edges *es);
void http_edges_deinit(struct http_edges *es);
/* Folds one link (an edge worker) into its edge's entry. */
void http_edges_add(struct http_edges *es, const struct edge_link_info *i);
/* Every entry not yet naming a hub names hub (this hub, before the others'
 * parts are merged). */
void http_edges_tag(struct http_edges *es, const char *hub);
/* Folds part, an entry of another hub's view, into its edge's entry, and
 * adds hub to its hubs. */
void http_edges_merge(struct http_edges *es, const struct http_edge *part, const char *hub);
/* Reads one entry as http_edges_json writes it (`hubs` aside) into *out,
 * which the caller frees with http_edge_deinit. Returns 0, or -1 with a
 * reason in err (a name that is not an edge name, a figure that is not a
 * non-negative integer, more than HTTP_EDGE_MAX_ADDRESSES addresses) and
 * nothing to free. Strings too long for their field are cut. */
#define HTTP_EDGE_MAX_ADDRESSES 1024
int http_edge_from_json(const json_t *o, struct http_edge *out, char *err, size_t errlen);
void http_edge_deinit(struct http_edge *e);
/* The /api/edges array (new reference). */
json_t *http_edges_json(const struct http_edges *es);
/* The spoke_edge_* and spoke_link_* families, one sample per edge. */
void http_edges_metrics(const struct http_edges *es, struct buf *b);
/* a + b, or UINT64_MAX if that does not fit. */
static inline uint64_t http_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
