/* What the files of the hub's edge-link module share and nothing else
 * sees: struct edge_link, struct replay and the edge_link__ calls between
 * them. They are layered, each calling only the ones below it:
 * edge_link_loop.c (the links on the hub's loop: accept, read, dispatch,
 * heartbeats, the end-of-turn flush) over edge_link_hello.c (a link until
 * its HELLO is taken) and edge_link_handle.c (the messages of an open
 * link: interest, history reads, directs), which hands publishes to
 * edge_link_publish.c (ordering through the engine, results, live
 * fan-out) and replays to edge_link_replay.c (the queue of replays a link
 * waits for, paced, and their answers); all over edge_link.c (one link:
 * output queue, refusal, teardown, lookup by connection id).
 *
 * Life of a link: accept -> AWAIT_HELLO -> (HELLO) -> OPEN -> edge_link__close
 * -> CLOSED, then freed in the next end-of-turn prepare callback.
 * edge_link__close is the one place that tears down (watcher, fd, interest,
 * registry, replays, publish record) and the only place the state becomes
 * CLOSED; the memory outlives it until the end of the loop turn so no
 * callback in flight touches freed memory. Engine calls still in flight for
 * the link hold a struct replay whose `link` it sets to NULL.
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
#include "hub/engine.h"
#include "hub/hub.h"
#include "hub/interest.h"

struct interest_peer;
struct publog_rec;

/* A replay a link waits for: an INTEREST_ADD to answer with the topic's
 * position (and the messages after `since`), or a HISTORY_READ. It is
 * queued on its link (rq_head, oldest first) until the link has room, then
 * asked of the engine (on the link's `asked` list) until the answer comes.
 * While it exists, the link's interest in the topic holds live messages
 * back (interest_hold: `hold`). */
enum replay_kind { REPLAY_RESUME, REPLAY_READ };

struct replay {
    struct replay *prev, *next; /* rq (next only) or asked */
    struct edge_link *link;     /* NULL once the link went: the answer is dropped */
    struct hub *hub;
    enum replay_kind kind;
    int asked;
    int has_since;
    int64_t id;
    uint64_t hold;
    struct engine_pos since;
    uint32_t topic_len;
    char topic[LINK_MAX_TOPIC + 1];
};

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
    struct interest_peer *peer; /* while OPEN */
    struct publog_rec *pubs;    /* while OPEN: this worker's publish results */

    /* Replays (edge_link_replay.c). */
    struct replay *rq_head, *rq_tail; /* waiting for room, oldest first */
    struct replay *asked;             /* asked of the engine, not answered */
    uint32_t nasked;
    uint32_t nreads, nresumes; /* queued or asked, by kind */
    uint64_t replay_turn;      /* the turn replay_bytes counts */
    uint64_t replay_bytes;     /* replay output queued in that turn */
    int pumping;               /* edge_link__pump is running */
    int replay_listed;         /* on hub->replaying */
    int replay_wait_write;     /* waits for its output to drain */
    struct edge_link *replay_next;

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
    uint64_t edges_gen_sent;    /* the generation of /edges.json last sent (hub/edges_doc.h) */
    uint64_t hooks_sent;        /* the hooks version last sent (0: none) */
    struct link_stats stats;    /* the edge worker's last STATS */
    char public_url[256];       /* from its HELLO */
    ev_tstamp accepted_at;
    ev_tstamp last_rx; /* last time any byte arrived */
    char fail[160];    /* set by edge_link__fail_later: dropped at the end of the turn */

    char owned[LINK_MAX_CONN_ID]; /* the last sender edge_link__owns_conn accepted */
    uint32_t owned_len;           /* (0: none yet) */

    uint64_t publishes_in, messages_out, directs_in, directs_out;
    uint64_t results_in, results_out, interest_adds, interest_removes;
    uint64_t history_reads_in, replayed_out;
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
/* Sends the hub's hooks document (LINK_HOOKS) and notes its version in
 * l->hooks_sent. Returns edge_link__send's result. */
int edge_link__send_hooks(struct edge_link *l);
/* Puts l on the dirty list for the end-of-turn flush (idempotent). */
void edge_link__mark_dirty(struct edge_link *l);
/* Drops l at the end of the turn with reason why: for failures found while
 * handling another link's message, where closing could disturb the caller
 * (the fan-out walk in interest_deliver). */
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
/* The open link of edge worker (name, worker) if its boot is boot, or NULL. */
struct edge_link *edge_link__find_worker(struct hub *h, const char *name, size_t len,
                                         uint32_t worker, uint64_t boot);
/* 1 if connection id `id` belongs to this link's edge worker (its name,
 * worker and boot): the only senders an edge may speak for. */
int edge_link__owns_conn(struct edge_link *l, const struct link_str *id);
/* Drops a link that spoke for a connection of another edge worker (403).
 * Returns LINK_GONE. */
int edge_link__refuse_forged(struct edge_link *l, const char *what, const struct link_str *from);
/* How fan-out and replays put a MESSAGE on a link (interest.h): queued on
 * the link; a link holding back more than link_max_pending bytes is
 * dropped as congested. */
struct interest_out edge_link__out(struct hub *h);

/* ---- edge_link_hello.c: the stranger ------------------------------------- */

/* Makes room for one more link waiting for HELLO from source src (see
 * there): may close the oldest waiting link. Call before adopting. */
void edge_link__make_room(struct hub *h, const uint8_t *src, size_t srclen);
/* Starts l's wait for HELLO: its deadline, and its place on the list. */
void edge_link__await_hello(struct edge_link *l);
/* Checks a HELLO, registers the link and answers with the hub's HELLO and
 * the edge's policy. Returns 0, or LINK_GONE when it refused the link. */
int edge_link__on_hello(struct edge_link *l, const struct link_msg *m);

/* ---- edge_link_replay.c: replays ------------------------------------------ */

/* Queues a replay for l's interest in topic, which holds hold_id (see
 * struct replay); since NULL: the position only. The caller checked the
 * caps. Serves it at once if l has room (the memory engine answers before
 * this returns). */
void edge_link__queue_replay(struct edge_link *l, enum replay_kind kind, struct link_str topic,
                             int64_t id, const struct engine_pos *since, uint64_t hold_id);
/* Serves l's queued replays while it has room: asked engine calls, a
 * budget of replay output per turn, and output not piling up. */
void edge_link__pump(struct edge_link *l);
/* The end of a turn: serves the links left with room since. */
void edge_link__pump_listed(struct hub *h);
/* After a write: l may have room again. */
void edge_link__replay_wrote(struct edge_link *l);

/* ---- edge_link_publish.c: publishes ---------------------------------------- */

/* A PUBLISH (checks, retransmission, ordering, its result). Returns 0, or
 * LINK_GONE when it closed l. */
int edge_link__on_publish(struct edge_link *l, const struct link_msg *m);

/* ---- edge_link_handle.c: the messages of an open link -------------------- */

/* Handles an interest, history read, publish, direct or direct result
 * message (anything else is unexpected and refused). Returns 0, or
 * LINK_GONE when it closed l. */
int edge_link__handle(struct edge_link *l, const struct link_msg *m);

#endif
