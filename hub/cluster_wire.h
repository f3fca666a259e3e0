/* What the hubs of a cluster keep in Redis and say to each other through
 * it: the names of the keys and channels, the Lua scripts, the envelopes
 * one hub publishes on another's channel, and the registration and view
 * documents each hub writes for the others to read. Pure: no I/O, no
 * logging. Every decoder takes its input as hostile (another hub may be
 * buggy, Redis may hold anything): sizes are bounded before anything is
 * parsed, msgpack is structure-checked (common/mpcheck.h) before msgpack-c
 * sees it, JSON is parsed by jansson within a byte bound, and what comes
 * out points into the caller's bytes. docs/architecture.md ("The cluster")
 * describes the same layout for operators.
 *
 * On the cluster's shard (hub/cluster.h), PREFIX being `redis_prefix`:
 *   PREFIX:hubs       sorted set: the names of the hubs registered, each
 *                     scored with the time (ms, Redis's clock) its
 *                     registration lapses unless refreshed
 *   PREFIX:hub:NAME   hash, expiring (cluster_ttl): boot (the 16 hex digits
 *                     of the process holding the name), reg (its
 *                     registration, JSON), view (its links, JSON)
 *   PREFIX:policy     hash: v (the policy's version, 1, 2, ...), doc (the
 *                     policy document, hub/policy_doc.h)
 * and the channels
 *   PREFIX:hub:NAME   envelopes for hub NAME: directs, their results,
 *                     kicks, drains (it subscribes while it holds NAME)
 *   PREFIX:policy     a new policy's version, on every change
 *
 * An envelope is one msgpack array
 *   [1, kind, from hub, from boot, to boot, edge, body]
 * where body (bin) is a link message (common/link.h: DIRECT, DIRECT_RESULT,
 * KICK or DRAIN as kind says) and edge (str) names the edge to drain (""
 * otherwise); to boot is the boot of the hub it is for, so that a process
 * that took over the name (after a restart) drops what was meant for its
 * predecessor. */
#ifndef SPOKE_HUB_CLUSTER_WIRE_H
#define SPOKE_HUB_CLUSTER_WIRE_H
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/link.h"
#include "hub/http_edges.h"

/* Bounds on what is read from Redis. */
#define CLUSTER_MAX_HUBS 128                           /* hubs one read lists */
#define CLUSTER_MAX_ENVELOPE (LINK_MAX_MESSAGE + 1024) /* an envelope's bytes */
#define CLUSTER_MAX_REG 4096                           /* a registration's bytes */
#define CLUSTER_MAX_VIEW (1u << 20)                    /* a view's bytes */
#define CLUSTER_MAX_VIEW_EDGES 4096                    /* edges in one view */
#define CLUSTER_MAX_VIEW_LINKS 16384                   /* links in one view */
#define CLUSTER_KEY_MAX 160                            /* PREFIX (64) + ":hub:" + NAME (64) */

/* ---- keys and channels --------------------------------------------------- */

/* PREFIX:hubs, PREFIX:hub:NAME (a key and a channel), PREFIX:hub: (what
 * the scripts put names after), PREFIX:policy (a key and a channel), into
 * out[CLUSTER_KEY_MAX]. Return out. */
char *cluster_key_hubs(char *out, const char *prefix);
char *cluster_key_hub(char *out, const char *prefix, const char *name, size_t len);
char *cluster_key_hub_prefix(char *out, const char *prefix);
char *cluster_key_policy(char *out, const char *prefix);

/* ---- scripts ------------------------------------------------------------- */

/* REFRESH: registers (or refreshes) this hub and reads every hub's entry.
 *   KEYS hubs, this hub's hash, policy; ARGV name, boot, reg, view, ttl ms,
 *   the hub key prefix, max hubs, '1' to register ('0': read only).
 * Answers {registered (1/0), the boot holding the name ('' if ours), the
 *   ms left of that holder's registration, the policy version ('0': none),
 *   then per hub: name, ms left, boot, reg, view}. A name held by another
 *   boot is not taken; names whose hash expired leave the set.
 * LEAVE: KEYS hubs, this hub's hash; ARGV name, boot: drops the entry if
 *   this boot holds it. Answers 1 or 0.
 * POLICY_SET: KEYS policy; ARGV the version this hub expects to replace
 *   ('any': whichever), the document, the channel. Answers {1, new
 *   version} (and PUBLISHes it), or {0, the version there, its document}
 *   when another was there. */
enum cluster_script { CLUSTER_SCRIPT_REFRESH, CLUSTER_SCRIPT_LEAVE, CLUSTER_SCRIPT_POLICY_SET };
const char *cluster_script_text(enum cluster_script s);

/* One hub of a REFRESH answer (pointing into the reply). */
struct cluster_listed {
    struct link_str name, boot, reg, view;
    long long ttl_left_ms;
};

struct cluster_refresh {
    int registered;
    struct link_str holder; /* the boot holding our name when not registered */
    long long holder_ttl_ms;
    uint64_t policy_version;
    size_t nhubs;
    const redisReply *r; /* the reply, for cluster_refresh_hub */
};

/* Reads a REFRESH answer. Returns 0, or -1 if r is not one. At most
 * CLUSTER_MAX_HUBS hubs are counted. */
int cluster_refresh_reply(const redisReply *r, struct cluster_refresh *out);
/* The i-th hub (i < nhubs). Returns 0, or -1 if its fields are not
 * strings and a number (the caller skips it). */
int cluster_refresh_hub(const struct cluster_refresh *rf, size_t i, struct cluster_listed *out);

/* A POLICY_SET answer: *set 1 and *version the new one, or *set 0 with
 * the version there and its document in *doc. Returns 0, or -1. */
int cluster_policy_set_reply(const redisReply *r, int *set, uint64_t *version,
                             struct link_str *doc);
/* An HMGET v doc answer of the policy hash: *version 0 when there is none.
 * Returns 0, or -1. */
int cluster_policy_get_reply(const redisReply *r, uint64_t *version, struct link_str *doc);

/* A hub's boot as its hash holds it: 16 lower-case hex digits. Returns 0,
 * or -1. */
int cluster_boot_parse(const char *s, size_t n, uint64_t *boot);
/* Writes a boot as 16 lower-case hex digits and a NUL into out[17]. */
char *cluster_boot_format(char *out, uint64_t boot);

/* ---- envelopes ----------------------------------------------------------- */

enum cluster_kind {
    CLUSTER_DIRECT = 1,     /* a DIRECT for a connection of one of the hub's links */
    CLUSTER_RESULT = 2,     /* a DIRECT_RESULT going back to the hub that relayed the direct */
    CLUSTER_KICK = 3,       /* a KICK for a connection of one of the hub's links */
    CLUSTER_DRAIN = 4,      /* a DRAIN for the hub's links of edge `edge` */
    CLUSTER_NAME_TAKEN = 5, /* notice: another process tried to register the hub's name */
};

struct cluster_env {
    enum cluster_kind kind;
    struct link_str from; /* the sending hub's name */
    uint64_t from_boot, to_boot;
    struct link_str edge; /* DRAIN: the edge */
    struct link_msg msg;  /* the link message (NAME_TAKEN: none) */
};

/* Appends e's envelope (e->msg encoded with link_encode) to out. Returns
 * its length, or -1 (out unchanged) if the message cannot be encoded or
 * the envelope would pass CLUSTER_MAX_ENVELOPE. */
int cluster_env_encode(struct buf *out, const struct cluster_env *e);
/* Reads the envelope p[0, n) into *e, its strings pointing into p.
 * Returns 0, or -1 with a one-line reason in err: too long, not an
 * envelope, a hub name or edge that is not a name, a body that is not
 * exactly one link message of the kind's type. */
int cluster_env_decode(const uint8_t *p, size_t n, struct cluster_env *e, char *err, size_t errlen);

/* ---- documents ----------------------------------------------------------- */

/* What a hub says of itself (PREFIX:hub:NAME reg). */
struct cluster_reg {
    char name[65];
    uint64_t boot;
    char version[33];
    char link[80], http[80]; /* its listen addresses */
    int https;
    uint64_t uptime_s;   /* when it wrote this */
    uint64_t ttl_ms;     /* its cluster_ttl */
    uint64_t refresh_ms; /* its cluster_refresh */
    uint64_t links, edges, policy_version;
};

/* The registration's JSON text (malloc'd). */
char *cluster_reg_encode(const struct cluster_reg *r);
/* Reads a registration (at most CLUSTER_MAX_REG bytes). Returns 0, or -1
 * with err set. Strings too long for their field are cut, non-printable
 * bytes become '?'. */
int cluster_reg_decode(const char *p, size_t n, struct cluster_reg *r, char *err, size_t errlen);

/* One link of a view: which edge worker (and run of it) the hub holds. */
struct cluster_route {
    char edge[65];
    uint32_t worker;
    uint32_t boot;   /* the edge's, as its connection ids carry it */
    uint64_t age_ms; /* how long the link had been up when the view was written */
};

/* What a hub publishes of its links (PREFIX:hub:NAME view): its edges'
 * entries (as /api/edges shows them) and its links. */
struct cluster_view {
    struct http_edge *edges;
    size_t nedges;
    struct cluster_route *links;
    size_t nlinks;
    int truncated; /* the writer had more than fitted */
};

/* The view's JSON text (malloc'd) for es's entries and links[0, n), within
 * max bytes: entries and links are left out (halving) until it fits, and
 * the text then says "truncated". */
char *cluster_view_encode(const struct http_edges *es, const struct cluster_route *links, size_t n,
                          size_t max);
/* Reads a view (at most CLUSTER_MAX_VIEW bytes, CLUSTER_MAX_VIEW_EDGES
 * entries, CLUSTER_MAX_VIEW_LINKS links) into *v, freed by
 * cluster_view_free. Returns 0, or -1 with err set and nothing to free. */
int cluster_view_decode(const char *p, size_t n, struct cluster_view *v, char *err, size_t errlen);
void cluster_view_free(struct cluster_view *v);

#endif
