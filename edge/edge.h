/* The edge's two root structs: struct worker, one per thread (its loop, its
 * connections, topics and hub link), and struct client, one per client
 * WebSocket connection. Every file that acts on them includes this; it holds
 * only data and O(1) inline helpers, so it depends on nothing above it (as
 * hub/hub.h does for the hub). What each file does with them:
 *   worker.c     the thread: loop, end-of-turn flush, policy, drain, stop
 *   listener.c   listening sockets and accept
 *   client.c     a connection's lifecycle, read loop and output
 *   handshake.c  the HTTP upgrade; admission.c who may open one
 *   wsconn.c     WebSocket frames in (wslay glue, partial frames)
 *   request.c    what a client asks for: sub, unsub, pub, send, ping
 *   uplink.c     the link to the hub; deliver.c what comes down it
 *   topic.c      local subscriptions; resume.c subscriptions resuming from a
 *                position; sends.c sends waiting for an answer; pubs.c
 *                publishes waiting to be ordered
 *   sendq.c, transport.c   output queue, plain TCP or TLS underneath */
#ifndef SPOKE_EDGE_EDGE_H
#define SPOKE_EDGE_EDGE_H
#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/connid.h"
#include "common/dict.h"
#include "common/idtab.h"
#include "common/net.h"
#include "common/pmdcodec.h"
#include "common/policy.h"
#include "edge/config.h"
#include "edge/deadline.h"
#include "edge/hook_stats.h"
#include "edge/pubs.h"
#include "edge/resume.h"
#include "edge/sendq.h"
#include "edge/sends.h"
#include "edge/topic.h"

struct uplink;
struct client_calls;
struct msg_parser;
struct handshake;
struct wsconn;
struct auth_identity;
struct hooks_conf;
struct hook_engine;
typedef struct ssl_st SSL;

/* ---- the worker ---------------------------------------------------------- */

#define WORKER_READ_BUF (64 * 1024)

struct worker_stats {
    uint64_t accepted, closed, msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t closed_slow, closed_protocol, closed_idle, closed_dead, closed_rate;
    uint64_t closed_handshake, rate_limited, unwanted;
    uint64_t refused_auth, refused_origin, refused_ip_limit, forbidden, closed_tls;
    uint64_t topics_refused_worker; /* subs to a new topic beyond the policy's worker_max_topics */
    uint64_t topics_refused_hub;    /* topics the hub refused (INTEREST_RESULT 429) */
    uint64_t sends_timed_out;       /* sends answered 504 */
    uint64_t results_unsolicited;   /* DIRECT_RESULTs nothing waited for: dropped */
    /* Payloads from the link not delivered to one encoding's clients
     * (edge/deliver.c): not valid, or their rendering over the budget. */
    uint64_t dropped_invalid, dropped_over_budget;
    uint64_t resets;        /* reset notices: a topic moved on the hub */
    uint64_t duplicates;    /* live MESSAGEs at or below the topic's seq: dropped */
    uint64_t hub_failovers; /* links made to another hub than the previous link's */
    /* Filled in by the snapshot from the modules that count them. */
    uint64_t resumes_recovered, resumes_not_recovered, resumes_cached, history_reads;
    uint64_t publishes_pending, publishes_resent, publishes_expired, publishes_refused;
};

/* What the main thread may read of a worker (under snap_lock): published by
 * the worker a few times a second, off the hot path. */
struct worker_snapshot {
    int have_policy, linked, draining;
    uint64_t hooks_version; /* of the hooks the worker has (0: none yet) */
    size_t hub;             /* in cfg->hubs: linked to (linked), else being tried */
    uint64_t clients, subscriptions, topics;
    uint64_t deflate_clients; /* connections that negotiated permessage-deflate */
    struct worker_stats stats;
    struct pmd_stats pmd;
    struct hook_stats hooks;
};

/* A listening socket of a worker: ws, or wss (TLS terminated here). */
struct listener {
    struct worker *w;
    int fd;  /* bound at start; listen() only once a policy has arrived; -1 when closed */
    int tls; /* connections accepted here speak TLS first */
    ev_io io;
    struct net_acceptor acc; /* accepts, and sheds when out of descriptors */
};
#define WORKER_MAX_LISTENERS 2

struct hooks_conf;

struct worker {
    struct ev_loop *loop;
    const struct edge_config *cfg;
    unsigned index;
    char label[96]; /* "edge-a/w0", the log component */
    pthread_t thread;
    int thread_started;

    struct listener listeners[WORKER_MAX_LISTENERS];
    unsigned nlisteners;
    int listening;
    ev_async stop_async;
    ev_async drain_async;
    ev_timer drain_timer;
    int draining, drain_done;
    ev_tstamp drain_start;
    size_t drain_total, drain_closed;
    ev_prepare flush_prepare;
    int stopping;

    struct uplink *up;
    const struct client_calls *client_calls; /* edge/client.h: request_calls */
    struct idtab conns;                      /* struct client by its seq */
    struct topics topics;                    /* local subscriptions (edge/topic.h) */
    uint64_t next_seq;
    size_t nclients;

    struct client *dirty; /* connections with output, a pending close, or torn down
                           * (freed in the flush), linked via dirty_next */
    /* The policy from the hub (none yet: no client is accepted), and the
     * timeout lists that enforce it, one timer each (edge/deadline.h). A
     * connection's `deadline` node is in handshakes, ping, pong or closing
     * (by state); its `idle` node is in idle while OPEN. */
    struct policy policy;
    int have_policy;
    ev_tstamp started;               /* loop time at start: origin of rate-limit stamps */
    struct deadline_list handshakes; /* upgrade must complete in time */
    struct deadline_list idle;       /* by last client message: idle_timeout */
    struct deadline_list ping;       /* by last bytes received: ping_interval */
    struct deadline_list pong;       /* pinged, waiting for any bytes: pong_timeout */
    struct deadline_list closing;    /* waiting for the peer's close frame */
    struct sends sends;              /* sends with an id waiting for their answer */
    struct pubs pubs;                /* publishes the hub has not ordered yet */
    struct resumes resumes;          /* subscriptions resuming from a position */
    ev_timer sweep_timer;            /* drops idle resume caches */

    pthread_mutex_t snap_lock;
    struct worker_snapshot snap;
    ev_timer snap_timer;

    struct sendq_pool qpool;
    struct msg_parser *parser;
    struct buf scratch;       /* payload being built */
    struct buf edges;         /* the hub's last /edges.json (LINK_EDGES); empty: none yet */
    struct hooks_conf *hooks; /* the hub's last hooks (LINK_HOOKS; heap); NULL: all off */
    struct buf wsout;         /* bytes wslay is handing to its send callback */
    /* permessage-deflate for every connection of the worker (no state per
     * connection: common/pmdcodec.h); made at the first connection that
     * negotiates it. */
    struct pmd_codec *pmd;
    size_t deflate_clients;
    struct hook_engine *hk;
    uint8_t *rbuf; /* WORKER_READ_BUF bytes: all reads land here first */
    struct worker_stats stats;
    ev_tstamp drop_logged_at; /* last payload drop logged (deliver.c) */
    uint64_t drop_unlogged;   /* drops since then that were not logged */
};

/* ---- the connection ------------------------------------------------------ */

enum client_state {
    CLIENT_HANDSHAKE, /* HTTP upgrade in progress */
    CLIENT_OPEN,      /* WebSocket open */
    CLIENT_CLOSING,   /* our close frame is queued; waiting for the peer's */
    CLIENT_CLOSED,    /* torn down; freed at the end of the loop turn */
};

enum {
    CLIENT_F_DIRTY = 1,       /* on the worker's dirty list */
    CLIENT_F_WRITING = 2,     /* EV_WRITE armed: the socket was full */
    CLIENT_F_SLOW = 4,        /* cut as a slow consumer: queue nothing more */
    CLIENT_F_FLUSH_CLOSE = 8, /* tear down once the queue is written */
    CLIENT_F_PONG_WAIT = 16,  /* pinged; `deadline` is in the pong list */
    CLIENT_F_DEFLATE = 32,    /* permessage-deflate negotiated (RFC 7692) */
    CLIENT_F_HOOK_WAIT = 64,  /* upgrade waiting for the connect hook (reading stopped) */
};

/* Everything an idle connection holds: no wslay context, no buffers, in
 * 200 bytes (a 208-byte allocation; docs/performance.md, "Memory per
 * connection"). The first 64 bytes are what fan-out touches for each
 * delivery (state, encoding, flags, the queue, the dirty link and the
 * worker), so a delivery costs one cache line of the connection. */
struct client {
    struct sendq q;
    uint8_t state;
    uint8_t enc;
    uint8_t flags;
    uint8_t nsends;  /* sends with an id waiting for an answer (edge/sends.h) */
    float rl_tokens; /* rate limit: messages allowed now (token bucket) */
    struct client *dirty_next;
    struct worker *w;
    /* The rest is touched when the connection itself reads, closes or times out. */
    ev_io io;
    uint64_t seq;
    struct deadline_node deadline; /* in w->handshakes, ping, pong or closing (by state) */
    struct deadline_node idle;     /* in w->idle while OPEN: last client message */
    struct handshake *hs;          /* only in CLIENT_HANDSHAKE */
    struct wsconn *ws;             /* only while a frame or message is in flight */
    struct topic_subs subs;
    struct client_extra *extra; /* NULL unless one of its fields is needed */
    uint32_t rl_stamp;          /* ms since the worker started, at the last refill */
};

/* What only some connections have, kept out of struct client so that the
 * others do not pay for it (made by client_extra). */
struct client_extra {
    struct auth_identity *id; /* from a verified token; NULL: anonymous */
    struct dict_entry *ip;    /* this connection's count in cfg->iplimit */
    SSL *ssl;                 /* wss only */
    uint32_t rl_window;       /* ms: start of the current 10 s window of refusals */
    uint32_t rl_strikes;      /* messages refused in that window */
};

/* ---- helpers ------------------------------------------------------------- */

/* Queues c for the end-of-iteration flush (idempotent). */
static inline void worker_mark_dirty(struct worker *w, struct client *c)
{
    if (c->flags & CLIENT_F_DIRTY)
        return;
    c->flags |= CLIENT_F_DIRTY;
    c->dirty_next = w->dirty;
    w->dirty = c;
}

static inline struct client *worker_find_client(struct worker *w, uint64_t seq)
{
    return idtab_get(&w->conns, seq);
}

/* The id of this worker's connections but for their SEQ. */
static inline struct connid worker_connid(const struct worker *w, uint64_t seq)
{
    struct connid id = {w->cfg->name, strlen(w->cfg->name), w->index, w->cfg->boot, seq};
    return id;
}

/* Writes the connection id of local connection seq (common/connid.h).
 * Returns its length. */
static inline int worker_conn_id(const struct worker *w, uint64_t seq, char *out, size_t outlen)
{
    struct connid id = worker_connid(w, seq);
    return connid_format(out, outlen, &id);
}

/* 1 and *seq if id names a connection of this very worker (same name,
 * worker and boot), 0 otherwise. */
static inline int worker_conn_is_local(const struct worker *w, const char *id, size_t len,
                                       uint64_t *seq)
{
    struct connid c, mine = worker_connid(w, 0);
    if (connid_parse(id, len, &c) < 0 || !connid_same_worker(&c, &mine))
        return 0;
    *seq = c.seq;
    return 1;
}

/* The connection's verified identity, or NULL. */
static inline struct auth_identity *client_identity(const struct client *c)
{
    return c->extra ? c->extra->id : NULL;
}

/* c's extra fields, made at the first need (edge/client.c). */
struct client_extra *client_extra(struct client *c);

/* The connection's TLS session (wss), or NULL. */
static inline SSL *client_ssl(const struct client *c)
{
    return c->extra ? c->extra->ssl : NULL;
}

/* c's connection id, for log lines. */
static inline const char *client_id(const struct client *c, char *out, size_t outlen)
{
    worker_conn_id(c->w, c->seq, out, outlen);
    return out;
}

#endif
