/* The cluster: with `engine = redis`, every hub using the same Redis
 * shards and `redis_prefix` is one service. Each hub registers in Redis
 * (name, boot, addresses, its links) under a key it refreshes every
 * `cluster_refresh` and that lapses after `cluster_ttl`, publishes its
 * links there (which edge workers it holds) and reads everyone else's into
 * a cache; directs, their results, kicks and drains for an edge worker
 * linked to another hub go through that hub's channel; the policy lives
 * in Redis with a version and reaches every hub when it changes. Cluster
 * data live on one shard, the one the consistent hash (hub/redis_ring.h)
 * gives the key PREFIX:hubs, so every hub listing the same addresses
 * agrees. The layout in Redis is hub/cluster_wire.h; docs/architecture.md
 * ("The cluster") tells the story.
 *
 * Names. A name is held by one process at a time: a hub whose name is
 * registered by another live boot stays out of the cluster (it serves its
 * own links, refuses traffic to other hubs with 503, /readyz says why) and
 * tries again every refresh, so a crashed hub that restarts at once gets
 * its name back within cluster_ttl.
 *
 * Failures. While Redis cannot be reached, or the hub is not registered,
 * traffic to other hubs is refused at once (503), the views show this
 * hub's links only once the cache is older than cluster_ttl, policy
 * changes are refused, and nothing blocks. Files: cluster_member.c
 * (connections, registration), cluster_relay.c (envelopes out and in),
 * cluster_policy.c (the policy in Redis), cluster_api.c (what the admin
 * API shows), cluster.c (commands, the cache of the other hubs).
 * Nothing here runs with the memory engines (h->cluster is NULL). */
#ifndef SPOKE_HUB_CLUSTER_H
#define SPOKE_HUB_CLUSTER_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/connid.h"
#include "common/link.h"
#include "hub/edge_link_info.h"
#include "hub/hub.h"

struct cluster;
struct http_edges;

/* What the cluster needs of the layers above it (the links, the admin
 * server), given by the caller of cluster_new: the cluster sits below
 * hub/edge_link.h and hub/http.h, which call it, so it reaches them only
 * through these. Each call has the contract of its hub/edge_link.h
 * namesake (edge_link_foreach_open, edge_link_push_policy, ...). */
struct cluster_host {
    uint16_t link_port, http_port; /* the bound listeners' (for port 0) */
    void (*foreach_link)(struct hub *h, void (*fn)(const struct edge_link_info *, void *),
                         void *ud);
    void (*push_policy)(struct hub *h);
    int (*deliver_direct)(struct hub *h, const struct link_msg *m, uint64_t origin, char *why,
                          size_t len);
    int (*deliver_result)(struct hub *h, uint64_t target, const struct link_msg *m);
    void (*answer_direct)(struct hub *h, struct link_str to, int64_t id, uint32_t code,
                          const char *reason);
    void (*forget_target)(struct hub *h, uint64_t target, const char *reason);
    int (*kick)(struct hub *h, const struct connid *conn, uint32_t code, struct link_str reason);
    int (*drain)(struct hub *h, const char *name, size_t len, uint64_t period_ms);
};

/* The ids another hub goes by in h->directs (as a target, and as the
 * origin of a relayed direct) have this bit set; link ids never do. */
#define CLUSTER_VID_BIT (1ull << 63)

/* Connects to the cluster's shard of h->cfg.redis (addresses resolved
 * now) and starts registering once it is up; host is copied, its ports
 * go in the registration. Returns NULL with err set for settings it
 * cannot use. */
struct cluster *cluster_new(struct hub *h, const struct cluster_host *host, char *err,
                            size_t errlen);
/* Drops the connections and the cache. No-op on NULL. */
void cluster_free(struct cluster *c);
/* Clean shutdown: drops this hub's registration (if it holds it) and
 * calls done(ud) once Redis has answered, at once if it cannot, or after
 * timeout_s. */
void cluster_leave(struct cluster *c, double timeout_s, void (*done)(void *ud), void *ud);

/* A link of h opened or closed: the view is written again soon. */
void cluster_links_changed(struct cluster *c);

/* 1 if traffic can go to other hubs now; else 0 with why. */
int cluster_can_send(const struct cluster *c, char *why, size_t len);

/* ---- directs (cluster_relay.c) -------------------------------------------- */

/* A DIRECT from one of h's links whose target is not one of h's links.
 * Returns 0 when it went to the hub holding the target (its result comes
 * back through cluster, and an error comes to the sender if it cannot);
 * 404 when no hub holds a worker of that id (the caller answers as for a
 * local miss); 503 with why when it cannot go (Redis down, this hub out
 * of the cluster, too many sends waiting for that hub). */
int cluster_direct(struct cluster *c, const struct link_msg *m, char *why, size_t len);
/* A DIRECT_RESULT from one of h's links for a direct another hub relayed
 * to it (origin: that hub's id): sent back there. */
void cluster_result(struct cluster *c, uint64_t origin, const struct link_msg *m);
/* The same for an answer of h's own (the target's link went: 503). */
void cluster_answer(struct cluster *c, uint64_t origin, struct link_str to, int64_t id,
                    uint32_t code, const char *reason);

/* ---- kick and drain through another hub (cluster_relay.c) ----------------- */

/* status: 202 (the hub holding it has it) or 503 (it did not receive it);
 * hub names it; workers: of the edge, for a drain. */
typedef void (*cluster_done_fn)(void *ctx, int status, const char *hubs, long workers,
                                const char *why);
/* Kicks connection id on the hub whose link holds its worker. Returns 0
 * (done is called later), 404 when no hub holds it, or 503 with why (done
 * is not called then). */
int cluster_kick(struct cluster *c, const struct connid *id, uint32_t code, struct link_str reason,
                 cluster_done_fn done, void *ctx, char *why, size_t len);
/* Asks every other hub holding links of edge to drain them. Returns the
 * number of hubs asked (done is called once all answered), 0 if none
 * holds any (done is not called), or -503 with why. */
int cluster_drain(struct cluster *c, const char *edge, size_t len, uint64_t period_ms,
                  cluster_done_fn done, void *ctx, char *why, size_t whylen);

/* ---- the policy (cluster_policy.c) ------------------------------------------ */

/* status: 200 (in force everywhere soon), 400 (bad changes), 409 (the
 * cluster's policy kept changing under it), 503 (Redis down). */
typedef void (*cluster_policy_fn)(void *ctx, int status, const char *why);
/* PUT /api/policy: applies changes (a JSON object of policy keys) to the
 * cluster's base policy. cb is called once, now or later. */
void cluster_policy_put(struct cluster *c, const json_t *changes, cluster_policy_fn cb, void *ctx);
/* SIGHUP: base and ov (taken over) are what this hub's file says now
 * (hub_policy_read_file); if that changed since it was last read, it
 * becomes the cluster's policy. Logs what it did. */
void cluster_policy_file(struct cluster *c, const struct policy *base, struct dict *ov);
/* The cluster policy's version in force here (0: none yet). */
uint64_t cluster_policy_version(const struct cluster *c);

/* ---- what the admin API shows (cluster_api.c) -------------------------------- */

/* Tags h's own entries with its name and merges the other hubs' (from a
 * cache younger than cluster_ttl). */
void cluster_merge_edges(struct cluster *c, struct http_edges *es);
/* {"state", "local_only", "age_ms", "reason"?}: how complete and fresh the
 * other hubs' part of a listing is (new reference). */
json_t *cluster_view_json(const struct cluster *c);
/* GET /api/hubs: this hub first, then the others (new reference). */
json_t *cluster_hubs_json(const struct cluster *c);
/* 1 if this hub takes part (registered, connections up); else 0 with why
 * and what is degraded (for /readyz). */
int cluster_ready(const struct cluster *c, char *why, size_t len);
/* The spoke_hub_cluster_* families. */
void cluster_metrics(const struct cluster *c, struct buf *b);

#endif
