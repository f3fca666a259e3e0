/* Client WebSocket connections: accept, upgrade, read and decode frames,
 * dispatch client messages, queue output, close. One state field changed in
 * one place; teardown in one function; memory freed at the end of the loop
 * turn so no callback touches a freed connection. */
#ifndef SPOKE_EDGE_CLIENT_H
#define SPOKE_EDGE_CLIENT_H
#include <ev.h>
#include <stdint.h>

#include "common/enc.h"
#include "edge/deadline.h"
#include "edge/frame.h"
#include "edge/sendq.h"

struct worker;
struct handshake;
struct wsconn;
struct sub;
struct auth_identity;
struct dict_entry;
struct sockaddr_storage;
typedef struct ssl_st SSL;

enum client_state {
    CLIENT_HANDSHAKE, /* HTTP upgrade in progress */
    CLIENT_OPEN,      /* WebSocket open */
    CLIENT_CLOSING,   /* our close frame is queued; waiting for the peer's */
    CLIENT_CLOSED,    /* torn down; freed at the end of the loop turn */
};

enum {
    CLIENT_F_DIRTY = 1,        /* on the worker's dirty list */
    CLIENT_F_WRITING = 2,      /* EV_WRITE armed: the socket was full */
    CLIENT_F_SLOW = 4,         /* cut as a slow consumer: queue nothing more */
    CLIENT_F_FLUSH_CLOSE = 8,  /* tear down once the queue is written */
    CLIENT_F_PONG_WAIT = 16,   /* pinged; `deadline` is in the pong list */
    CLIENT_F_MARK = 128,       /* scratch mark for a walk over clients; clear after use */
};

/* Everything an idle connection holds: no wslay context, no buffers.
 * The first 64 bytes are what fan-out touches for each delivery (state,
 * encoding, flags, the queue, the dirty link and the worker), so a delivery
 * costs one cache line of the connection. */
struct client {
    struct sendq q;
    uint8_t state;
    uint8_t enc;
    uint8_t flags;
    uint8_t nsends;           /* sends with an id waiting for an answer (edge/sends.h) */
    uint32_t nsubs;           /* (in the padding here: not touched by fan-out) */
    struct client *dirty_next;
    struct worker *w;
    /* The rest is touched when the connection itself reads, closes or times out. */
    ev_io io;
    uint64_t seq;
    struct deadline_node deadline; /* in w->handshakes, ping, pong or closing (by state) */
    struct deadline_node idle;     /* in w->idle while OPEN: last client message */
    struct handshake *hs; /* only in CLIENT_HANDSHAKE */
    struct wsconn *ws;    /* only while a frame or message is in flight */
    struct sub *subs;
    float rl_tokens;      /* rate limit: messages allowed now (token bucket) */
    uint32_t rl_stamp;    /* ms since the worker started, at the last refill */
    uint32_t rl_window;   /* ms: start of the current 10 s window of refusals */
    uint32_t rl_strikes;  /* messages refused in that window */
    SSL *ssl;             /* wss only */
    struct client_access *access; /* only with a token or a per-address limit */
};

/* What only some connections have, kept out of struct client so that the
 * others do not pay for it. */
struct client_access {
    struct auth_identity *id; /* from a verified token; NULL: anonymous */
    struct dict_entry *ip;    /* this connection's count in cfg->iplimit */
};

/* The connection's verified identity, or NULL. */
static inline struct auth_identity *client_identity(const struct client *c)
{
    return c->access ? c->access->id : NULL;
}

/* Takes ownership of an accepted, non-blocking socket from peer ss; tls: it
 * came in on the wss listener. */
void client_accept(struct worker *w, int fd, const struct sockaddr_storage *ss, int tls);

/* Queues a new reference to a shared frame (no-op unless OPEN). */
void client_push_frame(struct client *c, struct frame *f);
/* Frames and queues a payload built in this client's encoding. */
void client_send_payload(struct client *c, const uint8_t *payload, size_t len);
void client_send_ack(struct client *c, int64_t id);
void client_send_error(struct client *c, int has_id, int64_t id, int code, const char *reason);

/* Starts the closing handshake with code and reason (OPEN only). The reason
 * goes out cut to at most 123 bytes of valid UTF-8 (utf8_cut); a code that
 * is not valid on the wire (ws_close_code_may_send) is logged and replaced
 * by 1011. */
void client_close(struct client *c, uint16_t code, const char *reason);
/* Tears the connection down now (socket closed, subscriptions dropped). */
void client_terminate(struct client *c, const char *why);
/* End-of-iteration work for a dirty connection: write, slow-consumer
 * handling, deferred closes. Called by the worker's prepare watcher. */
void client_flush(struct client *c);
/* Frees a CLOSED connection (worker's end of turn). */
void client_free(struct client *c);

/* Expiry callbacks of the worker's timeout lists. */
void client_handshake_expired(struct deadline_list *l, struct deadline_node *n);
void client_idle_expired(struct deadline_list *l, struct deadline_node *n);
void client_ping_expired(struct deadline_list *l, struct deadline_node *n);
void client_pong_expired(struct deadline_list *l, struct deadline_node *n);
void client_close_expired(struct deadline_list *l, struct deadline_node *n);

#endif
