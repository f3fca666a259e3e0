/* One edge worker: a thread with its own libev loop, its own SO_REUSEPORT
 * listener, its own client connections, topics and hub link. Workers share
 * nothing but the read-only configuration; the only cross-thread call is
 * worker_stop() (an ev_async). */
#ifndef SPOKE_EDGE_WORKER_H
#define SPOKE_EDGE_WORKER_H
#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/dict.h"
#include "common/policy.h"
#include "edge/config.h"
#include "edge/deadline.h"
#include "edge/sendq.h"
#include "edge/sends.h"

struct client;
struct uplink;
struct msg_parser;

#define WORKER_READ_BUF (64 * 1024)
#define WORKER_TLS_WBUF (16 * 1024) /* one full TLS record */

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
};

/* What the main thread may read of a worker (under snap_lock): published by
 * the worker a few times a second, off the hot path. */
struct worker_snapshot {
    int have_policy, linked, draining;
    uint64_t clients, subscriptions, topics;
    struct worker_stats stats;
    ev_tstamp drop_logged_at; /* last payload drop logged (deliver.c) */
    uint64_t drop_unlogged;   /* drops since then that were not logged */
};

/* A listening socket of a worker: ws, or wss (TLS terminated here). */
struct listener {
    struct worker *w;
    int fd;  /* bound at start; listen() only once a policy has arrived; -1 when closed */
    int tls; /* connections accepted here speak TLS first */
    ev_io io;
};
#define WORKER_MAX_LISTENERS 2

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
    int spare_fd; /* kept open to shed connections when out of descriptors */
    ev_async stop_async;
    ev_async drain_async;
    ev_timer drain_timer;
    int draining, drain_done;
    ev_tstamp drain_start;
    size_t drain_total, drain_closed;
    ev_prepare flush_prepare;
    int stopping;

    struct uplink *up;
    struct dict conns;  /* connection seq (8 bytes) -> struct client */
    struct dict topics; /* topic name -> struct topic */
    uint64_t next_seq;
    size_t nclients;
    size_t nsubs; /* (connection, topic) pairs */

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

    pthread_mutex_t snap_lock;
    struct worker_snapshot snap;
    ev_timer snap_timer;

    struct sendq_pool qpool;
    struct msg_parser *parser;
    struct buf scratch; /* payload being built */
    struct buf wsout;   /* bytes wslay is handing to its send callback */
    uint8_t *rbuf;      /* WORKER_READ_BUF bytes: all reads land here first */
    uint8_t *tls_wbuf;  /* WORKER_TLS_WBUF bytes: small frames gathered into one TLS record */
    struct worker_stats stats;
    ev_tstamp drop_logged_at; /* last payload drop logged (deliver.c) */
    uint64_t drop_unlogged;   /* drops since then that were not logged */
};

/* Creates the loop and the listening socket. Returns 0, or -1 with err set. */
int worker_init(struct worker *w, const struct edge_config *cfg, unsigned index, char *err,
                size_t errlen);
/* Starts the worker thread. Returns 0 or -1 (errno). */
int worker_start(struct worker *w);
/* Asks the worker to close its clients and exit its loop (any thread). */
void worker_stop(struct worker *w);
/* Asks the worker to drain (any thread): stop accepting, then close its
 * clients with 1001 spread over the drain period, then tell the main thread
 * (ctl->worker_drained). */
void worker_drain(struct worker *w);
void worker_join(struct worker *w);
void worker_deinit(struct worker *w);

/* Takes the policy the hub sent: applies it to every list and limit, and
 * starts accepting clients if this is the first one. */
void worker_apply_policy(struct worker *w, const struct policy *p);

/* Copies the worker's last published snapshot (any thread). */
void worker_snapshot(struct worker *w, struct worker_snapshot *out);

/* Queues c for the end-of-iteration flush (idempotent). */
void worker_mark_dirty(struct worker *w, struct client *c);
/* Builds the connection id "NAME:WORKER:BOOT:SEQ" of a local connection. */
int worker_conn_id(const struct worker *w, uint64_t seq, char *out, size_t outlen);
/* Parses a connection id. Returns 1 and sets *seq if it names a connection of
 * this very worker (same name, worker and boot), 0 otherwise. */
int worker_conn_is_local(const struct worker *w, const char *id, size_t len, uint64_t *seq);
struct client *worker_find_client(struct worker *w, uint64_t seq);

#endif
