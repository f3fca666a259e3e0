/* What the four files of the hub's edge-link module share and nothing else
 * sees: struct edge_link and the edge_link__ calls between them. They are
 * layered, each calling only the ones below it: edge_link_loop.c (the links
 * on the hub's loop: accept, read, dispatch, heartbeats, the end-of-turn
 * flush) over edge_link_hello.c (a link until its HELLO is taken) and
 * edge_link_handle.c (the messages of an open link), all over edge_link.c
 * (one link: output queue, refusal, teardown, lookup by connection id).
 *
 * Life of a link: accept -> AWAIT_HELLO -> (HELLO) -> OPEN -> edge_link__close
 * -> CLOSED, then freed in the next end-of-turn prepare callback.
 * edge_link__close is the one place that tears down (watcher, fd, routing
 * state) and the only place the state becomes CLOSED; the memory outlives it
 * until the end of the loop turn so no callback in flight touches freed
 * memory.
 *
 * Writing: message handlers only queue (edge_link__send compresses into the
 * link's output buffer) and put the link on the hub's dirty list; the
 * end-of-turn flush in edge_link_loop.c writes. */
#ifndef SPOKE_HUB_EDGE_LINK_INTERNAL_H
#define SPOKE_HUB_EDGE_LINK_INTERNAL_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/connid.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/log.h"
#include "common/policy.h"
#include "hub/hub.h"

struct route_peer;

enum edge_link_state { EDGE_LINK_AWAIT_HELLO, EDGE_LINK_OPEN, EDGE_LINK_CLOSED };

struct edge_link {
    struct hub *hub;
    struct edge_link *prev, *next;   /* hub->links while not CLOSED */
    struct edge_link *dirty_next;    /* hub->dirty while dirty is set */
    struct edge_link *close_next;    /* hub->closing once CLOSED */
    struct edge_link *aprev, *anext; /* hub->awaiting while AWAIT_HELLO */
    struct edge_link *backlog_next;  /* hub->backlogged while backlogged is set */
    int backlogged;
    ev_timer hello_timer; /* AWAIT_HELLO: link_hello_timeout_ms */
    uint8_t src[16];      /* source address for the per-address cap: the IPv4 */
    uint8_t srclen;       /* address, or the /64 of an IPv6 one */
    enum edge_link_state state;
    int dirty;
    int writing; /* EV_WRITE is part of the watched events */
    int fd;
    ev_io w;
    struct linkio io;
    struct route_peer *peer; /* while OPEN */

    uint64_t id;
    char addr[64];
    char label[80]; /* "edge-a/1" after HELLO, the peer address before */
    char name[LINK_MAX_NAME + 1];
    char region[LINK_MAX_NAME + 1];
    char software[LINK_MAX_NAME + 1];
    uint32_t worker;
    uint64_t boot;              /* from its HELLO: at most 32 bits (common/connid.h) */
    uint32_t peer_heartbeat_ms; /* from its HELLO: silence is judged by the slower side */
    struct policy policy_sent;  /* the last POLICY sent on this link */
    struct link_stats stats;    /* the edge worker's last STATS */
    char public_url[256];       /* from its HELLO */
    ev_tstamp accepted_at;
    ev_tstamp last_rx; /* last time any byte arrived */
    char fail[160];    /* set by edge_link__fail_later: dropped at the end of the turn */

    uint64_t publishes_in, messages_out, directs_in, directs_out;
    uint64_t results_in, results_out, interest_adds, interest_removes;
};

/* ---- edge_link.c: one link (calls nothing else of the module) ----------- */

/* All teardown (see above). Logs "<label> link <why>". No-op on a CLOSED
 * link. */
void edge_link__close(struct edge_link *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends LINK_ERROR {code, reason} and writes it at once, best effort: for
 * a link about to be closed (the edge logs the reason if the bytes make
 * it). */
void edge_link__goodbye(struct edge_link *l, uint32_t code, const char *reason);
/* Refuses the link: edge_link__goodbye, a log line, edge_link__close.
 * Returns LINK_GONE, for the message handler to pass back to linkio_read. */
int edge_link__refuse(struct edge_link *l, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues m on l. Returns 0, or -1 (the link will be dropped at the end of
 * the turn: safe to call while another link's message is handled). */
int edge_link__send(struct edge_link *l, const struct link_msg *m);
/* Puts l on the dirty list for the end-of-turn flush (idempotent). */
void edge_link__mark_dirty(struct edge_link *l);
/* Drops l at the end of the turn with reason why: for failures found while
 * handling another link's message, where closing could disturb the caller
 * (the routing walk in route_publish). */
void edge_link__fail_later(struct edge_link *l, const char *why);
/* Copies a peer-supplied string for a log line into out[0, cap): bytes
 * outside printable ASCII become '?', and it is cut to fit. Returns out. */
const char *edge_link__printable(const struct link_str *s, char *out, size_t cap);
/* Puts l at the end of the hub's list of links waiting for HELLO, and
 * takes it off again (also stopping its HELLO deadline). */
void edge_link__awaiting_add(struct edge_link *l);
void edge_link__stop_awaiting(struct edge_link *l);
/* The open link holding connection `id`, or NULL; the second form takes
 * the id as it came in a message (NULL if it does not parse). */
struct edge_link *edge_link__find_conn(struct hub *h, const struct connid *id);
struct edge_link *edge_link__find_conn_str(struct hub *h, const struct link_str *id);

/* ---- edge_link_hello.c: the stranger ------------------------------------- */

/* Makes room for one more link waiting for HELLO from source src (see
 * there): may close the oldest waiting link. Call before adopting. */
void edge_link__make_room(struct hub *h, const uint8_t *src, size_t srclen);
/* Starts l's wait for HELLO: its deadline, and its place on the list. */
void edge_link__await_hello(struct edge_link *l);
/* Checks a HELLO, registers the link and answers with the hub's HELLO and
 * the edge's policy. Returns 0, or LINK_GONE when it refused the link. */
int edge_link__on_hello(struct edge_link *l, const struct link_msg *m);

/* ---- edge_link_handle.c: the messages of an open link -------------------- */

/* Handles an interest, publish, direct or direct result message (anything
 * else is unexpected and refused). Returns 0, or LINK_GONE when it closed l. */
int edge_link__handle(struct edge_link *l, const struct link_msg *m);

#endif
