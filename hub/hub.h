/* The hub's root object: one per process, created in main.c and passed to
 * everything that needs the loop, the settings, the links, the engine or
 * the interest table. Nothing of this lives in a global. */
#ifndef SPOKE_HUB_HUB_H
#define SPOKE_HUB_HUB_H
#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/net.h"
#include "common/policy.h"

struct dict;
struct edge_link;
struct engine;
struct history_rules;
struct interest;
struct registry;
struct publog;
struct httpd;
struct directs;
struct cluster;

/* Settings, filled by conf_load in main.c (see the option table there). */
struct hub_config {
    struct net_addr listen; /* edge links */
    struct net_addr http;   /* admin API */
    enum log_level log_level;
    long heartbeat_ms;               /* heartbeat period; 3 silent periods drop a link */
    long link_max_pending;           /* unwritten bytes after which a link is congested */
    long link_max_topics;            /* interest entries one link may hold */
    long max_topics;                 /* topics the hub holds in all */
    long link_hello_timeout_ms;      /* a new link must say HELLO within this */
    long link_max_awaiting_hello;    /* links waiting for HELLO at once */
    long link_max_awaiting_per_addr; /* ... of them from one source address (/64 for IPv6) */
    long link_max_pending_directs;   /* directs one link has not yet answered */
    long link_max_history_reads;     /* HISTORY_READs one link may have waiting */
    long history_bytes;              /* the engine's history budget, all topics */
    long topic_linger_ms;            /* an unwanted topic state without history is kept this long */
    char *engine;                    /* "memory", "redis" or "memory-deferred" (tests) */
    char *redis;                     /* redis: the shards, ADDR[,ADDR...] */
    char *redis_user;                /* redis: AUTH user ("": the default user) */
    char *redis_password;            /* redis: AUTH password ("": no AUTH) */
    char *redis_prefix;              /* redis: of every key and channel */
    long redis_heartbeat_ms;         /* redis: liveness period; 3 silent ones reconnect */
    long cluster_refresh_ms;         /* redis: registration and view written, others read */
    long cluster_ttl_ms;             /* redis: a registration not refreshed lapses after this */
    char *name;                      /* our HELLO name */
    char *admin_token;               /* if set, /api/ requires "Authorization: Bearer" it */
    char *link_ca;   /* TLS on links: CA that issues edge certificates ("": plain TCP) */
    char *link_cert; /* the hub's link certificate and key */
    char *link_key;
    int allow_insecure_links; /* plain TCP links on a non-loopback address */
    /* The admin API (common/httpd limits, hub/http.c). */
    long http_max_conns_per_ip; /* admin connections one address may hold (0: no cap) */
    long http_head_timeout_ms;  /* deadline for the TLS handshake and request head */
    char *http_allowed_hosts;   /* Host names answered besides IPs, localhost, the listen host */
    char *http_tls_cert;        /* HTTPS on the API with this PEM chain and key ("": HTTP) */
    char *http_tls_key;
    int allow_insecure_http; /* admin_token over plain HTTP on a non-loopback address */
    char *ready_file;        /* JSON with the bound ports, once listening ("": none) */
};

/* Totals since start (per-link counts live in struct edge_link). */
/* Upper bounds (µs) of the routing-time histogram buckets; the last bucket
 * (+Inf) is implicit. */
#define HUB_ROUTE_BUCKETS 8
static const double hub_route_bounds_us[HUB_ROUTE_BUCKETS] = {1, 2, 5, 10, 20, 50, 100, 1000};
/* One publish in this many (a power of two) is timed for the histogram: its
 * two clock reads were ~10 % of the hub's time with one link per topic. */
#define HUB_ROUTE_SAMPLE 16

struct hub_stats {
    uint64_t links_accepted;
    uint64_t links_closed;
    uint64_t publishes;             /* PUBLISH messages received */
    uint64_t messages_out;          /* MESSAGE copies queued to links */
    uint64_t directs;               /* DIRECT messages received */
    uint64_t directs_unknown;       /* ... whose target was not found */
    uint64_t results_unsolicited;   /* DIRECT_RESULTs answering nothing we forwarded: dropped */
    uint64_t links_evicted;         /* links waiting for HELLO dropped for a newer one */
    uint64_t links_hello_timeout;   /* links dropped for no HELLO in time */
    uint64_t links_refused_hostile; /* links dropped for a forged sender */
    uint64_t interest_refused_link; /* INTEREST_ADDs refused: link_max_topics */
    uint64_t interest_refused_hub;  /* INTEREST_ADDs refused: max_topics */
    uint64_t history_reads;         /* HISTORY_READs answered */
    uint64_t resumes;               /* INTEREST_ADDs answered through a replay */
    uint64_t history_reads_refused; /* HISTORY_READs refused: link_max_history_reads */
    uint64_t replayed;              /* MESSAGEs sent by replays */
    uint64_t retransmits;           /* PUBLISHes recognised as sent again: not ordered */
    uint64_t retransmits_forgotten; /* ... whose result was no longer remembered */
    uint64_t topic_resets;          /* topics the engine moved under our interest (TOPIC_RESET) */
    /* Time from a PUBLISH decoded to its MESSAGEs queued on every link, for
     * one publish in HUB_ROUTE_SAMPLE (route_tick counts them all). */
    uint64_t route_hist[HUB_ROUTE_BUCKETS + 1];
    double route_sum_us;
    uint64_t route_tick;
};

struct hub {
    struct ev_loop *loop;
    struct hub_config cfg;
    uint64_t boot;             /* random per start; edges see it in our HELLO */
    struct engine *engine;     /* topics' order, epochs and history (hub/engine.h) */
    struct interest *interest; /* which of our links want which topic (hub/interest.h) */
    struct registry *registry; /* open links by (edge name, worker) */
    struct publog *publog;     /* edge workers' recent publish results */
    struct httpd *http;

    /* Edge links (hub/edge_link*.c). */
    int link_fd;       /* listening socket, -1 when closed */
    SSL_CTX *link_tls; /* NULL: plain TCP links; replaced on SIGHUP */
    ev_io link_accept;
    struct net_acceptor link_acceptor; /* takes links off link_fd, sheds them on EMFILE */
    struct edge_link *links;           /* accepted, not yet closed, oldest first (doubly linked) */
    struct edge_link *links_tail;
    struct edge_link *awaiting; /* of those, the ones still waiting for HELLO, oldest first */
    struct edge_link *awaiting_tail;
    size_t nlinks_pending;        /* of those, still waiting for HELLO */
    size_t nlinks_open;           /* of those, past HELLO */
    struct edge_link *dirty;      /* links with output to flush this loop turn */
    struct edge_link *closing;    /* closed links, freed at the end of the turn */
    struct edge_link *backlogged; /* links with input read but not yet worked off */
    ev_idle backlog_idle;         /* keeps the loop from sleeping while there are some */
    struct directs *directs;      /* forwarded directs awaiting their result */
    struct cluster *cluster;      /* the other hubs on Redis (hub/cluster.h); NULL: none */
    struct edge_link *replaying;  /* links with replays to serve next turn */
    uint64_t turn;                /* loop turns (end-of-turn flushes) so far */
    uint64_t read_ms;             /* monotonic ms at the link read in progress (0: none) */
    uint64_t interest_gen;        /* numbers the engine interest calls */
    uint64_t next_link_id;
    ev_prepare flush; /* end of the loop turn: flush, write, free */
    ev_timer heartbeat;

    /* /edges.json (hub/edges_doc.h): the last list pushed, as the array's
     * text and as the whole document, and its generation (0: none yet). */
    ev_timer edges_push;
    struct buf edges_list, edges_doc;
    uint64_t edges_gen;

    /* Policy (hub/policy.c): the base policy, the values flags gave it, and
     * per-edge overrides by edge name (struct edge_override). */
    struct policy policy;
    struct policy flag_policy;
    struct dict *overrides;
    struct policy file_policy;           /* what the file (and flags) said when last read ... */
    struct dict *file_overrides;         /* ... (the cluster's policy may be another) */
    struct dict *loading_overrides;      /* being filled while the file is parsed */
    struct history_rules *loading_rules; /* [history] being read (start, SIGHUP) */
    /* Backend hooks (hub/hooks.h): the configuration in force, the one the
     * file's [hooks] fills while it is read, the first error met there, and
     * the document pushed to links (LINK_HOOKS, secret included). hooks
     * is NULL only before hub_hooks_loaded (links then get none). */
    struct hooks_conf *hooks, *loading_hooks;
    char hooks_err[256];
    struct buf hooks_doc;
    struct conf_spec conf_spec; /* kept for SIGHUP */
    unsigned char *from_flag;
    const char *config_path;

    struct buf encoded; /* a MESSAGE encoded once for all its links */

    ev_signal sigint, sigterm, sighup;
    struct hub_stats stats;
};

#endif
