/* What the cluster's files share (see cluster.h): struct cluster, the
 * cache of the other hubs (peers) and of which of them holds which edge
 * worker (routes), and the calls between the cluster's files. They are
 * layered, each calling only those below it: cluster_member.c (the
 * connections and registration) on top, then cluster_relay.c,
 * cluster_policy.c and cluster_api.c, then cluster.c (commands, the
 * cache), which all of them use.
 *
 * Peers. A peer is one process of another hub: (name, boot). It is made
 * when a registry read lists it, or when an envelope comes from it first,
 * and numbered with an id (CLUSTER_VID_BIT | n) under which h->directs
 * keeps the directs sent to it and those it relayed to us. A peer that
 * the latest read no longer lists (or lists with another boot) is gone
 * once it has not been heard of for cluster_ttl: the directs still
 * waiting for it are answered 503 then. At most CLUSTER_MAX_PEERS exist;
 * envelopes from more processes are dropped.
 *
 * Routes. From the views of the peers the latest read listed: (edge name,
 * worker) -> the peer holding that link and the edge's boot. A worker two
 * hubs claim (a link moving, the old hub not yet aware) goes to the
 * younger link. Rebuilt on every read, O(links). */
#ifndef SPOKE_HUB_CLUSTER_INTERNAL_H
#define SPOKE_HUB_CLUSTER_INTERNAL_H
#include <ev.h>
#include <stdint.h>

#include "common/dict.h"
#include "hub/cluster.h"
#include "hub/cluster_wire.h"
#include "hub/hub.h"
#include "hub/redis_conn.h"
#include "hub/redis_ring.h"

#define CLUSTER_MAX_PEERS (2 * CLUSTER_MAX_HUBS)

struct cpeer {
    struct cpeer *next;
    char name[CONNID_MAX_NAME + 1];
    uint32_t name_len;
    uint64_t boot;
    uint64_t vid;
    int listed;         /* in the latest read */
    double heard;       /* ev_now: the last read listing it, or its last envelope */
    long long ttl_left; /* ms its registration had left at that read */
    int has_reg, has_view;
    struct cluster_reg reg;
    struct cluster_view view;
    char key[CLUSTER_KEY_MAX]; /* its channel */
};

struct croute {
    struct cpeer *peer;
    uint32_t boot;   /* the edge worker's */
    uint64_t age_ms; /* of its link */
};

enum cluster_state {
    CLUSTER_JOINING, /* not registered yet (Redis not answered) */
    CLUSTER_IN,      /* registered */
    CLUSTER_OUT,     /* another live boot holds the name */
};

struct cluster_stats {
    uint64_t directs_sent, directs_received, results_sent, results_received;
    uint64_t refused_down, refused_out, refused_full, refused_unheard;
    uint64_t kicks_sent, kicks_received, drains_sent, drains_received;
    uint64_t bad_envelopes, misaddressed, unsolicited, bad_docs, peers_full;
    uint64_t refreshes, refresh_failures;
    uint64_t policy_applied, policy_rejected, policy_written;
};

struct cluster {
    struct hub *h;
    struct cluster_host host; /* the links and the admin server above */
    struct ev_loop *loop;
    char *prefix;
    struct redis_addr addr; /* the cluster's shard */
    struct redis_conn *cmd, *sub;
    char *hb_channel;
    char k_hubs[CLUSTER_KEY_MAX], k_me[CLUSTER_KEY_MAX], k_hub_prefix[CLUSTER_KEY_MAX];
    char k_policy[CLUSTER_KEY_MAX];
    char link_addr[80], http_addr[80];
    double refresh_s, ttl_s;
    double started;

    enum cluster_state state;
    uint64_t holder; /* NAME_TAKEN: the boot that holds the name */
    long long holder_ttl;
    int listening;  /* Redis confirmed our channel's subscription */
    int refreshing; /* a REFRESH awaits its answer */
    int again;      /* ... and another is due right after */
    double read_at; /* ev_now of the last good read (0: none) */
    ev_timer tick;  /* every refresh_s */
    ev_timer soon;  /* a refresh soon after the links changed */
    double warned_at[4];

    struct cpeer *peers;
    size_t npeers;
    uint64_t next_vid;
    struct dict routes; /* edge name, NUL, worker (4 bytes) -> struct croute */
    size_t nlisted;     /* hubs the latest read listed, this one included */

    /* The policy (cluster_policy.c). */
    uint64_t policy_version;  /* in force here (0: none) */
    uint64_t policy_rejected; /* a version found unusable: not read again */
    int policy_reading;       /* an HMGET awaits its answer ... */
    int policy_reread;        /* ... and another is due after it */

    /* cluster_leave */
    int leaving; /* no more refreshes */
    void (*left)(void *);
    void *left_ud;
    ev_timer leave_timer;

    struct cluster_stats st;
};

/* ---- cluster.c ------------------------------------------------------------ */

/* A warning of kind k (0..3), at most one every 10 s each. */
void cluster__warn(struct cluster *c, unsigned k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The peer (name, boot), or NULL. */
struct cpeer *cluster__peer(struct cluster *c, const char *name, size_t len, uint64_t boot);
/* ... made if missing (NULL: CLUSTER_MAX_PEERS reached). */
struct cpeer *cluster__peer_make(struct cluster *c, const char *name, size_t len, uint64_t boot);
struct cpeer *cluster__peer_by_vid(struct cluster *c, uint64_t vid);
/* Frees a peer already unlinked from c->peers. */
void cluster__peer_free(struct cpeer *p);
/* The peer holding edge worker (name, worker), with that worker's boot. */
const struct croute *cluster__route(const struct cluster *c, const char *name, size_t len,
                                    uint32_t worker);
/* Makes the routes again from the listed peers' views. O(links). */
void cluster__routes_rebuild(struct cluster *c);
/* Sends a command on the cluster's command connection. Returns 0 (cb, if
 * any, gets the reply or NULL), or -1 when it is not up. */
int cluster__command(struct cluster *c, redis_reply_fn cb, void *privdata, int argc,
                     const char **argv, const size_t *lens);
/* EVAL of a script with nkeys keys then args (NUL-terminated strings,
 * except args[i] of lens[i] bytes when lens is given). */
int cluster__eval(struct cluster *c, enum cluster_script s, redis_reply_fn cb, void *privdata,
                  int nkeys, int nargs, const char **args, const size_t *lens);

/* ---- cluster_relay.c ---------------------------------------------------------- */

/* A message on this hub's channel. */
void cluster__on_envelope(struct cluster *c, const uint8_t *p, size_t n);
/* Every direct waiting for peer p (or, p NULL, for any peer) gets 503. */
void cluster__fail_directs(struct cluster *c, struct cpeer *p, const char *why);
/* Tells the holder of our name that this process wanted it too. */
void cluster__say_name_taken(struct cluster *c);

/* ---- cluster_policy.c --------------------------------------------------------- */

/* The command connection came up: the policy in Redis wins, or this hub's
 * becomes it if there is none. */
void cluster__policy_sync(struct cluster *c);
/* Reads the policy in Redis and installs it if it is not the one here. */
void cluster__policy_fetch(struct cluster *c);
/* A version was announced (or a read says Redis holds this one). */
void cluster__policy_seen(struct cluster *c, uint64_t version);

#endif
