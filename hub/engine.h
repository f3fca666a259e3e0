/* The engine: where topics are ordered. Each topic's state (its epoch, its
 * last seq and its history) lives behind this interface, so that the hub's
 * link code never learns whether that state is in this process (`memory`),
 * in Redis shared by several hubs, or in a log whose offsets are the
 * positions (docs/architecture.md, "The engine"). What stays in the hub is
 * its own links' interest (hub/interest.h): the engine only knows that this
 * hub needs a topic's messages.
 *
 * A position is (seq, epoch): the seq of a topic's last message in its
 * epoch, a string minted when the topic's state is created (the memory
 * engine: 8 characters of [0-9a-z] from getrandom). seq never repeats
 * within an epoch.
 *
 * The rules of the asynchronous interface, for every engine and caller:
 *  1. Each call that takes a callback calls it exactly once with its ctx:
 *     before the call returns (memory) or on a later loop turn (an engine
 *     over the network, memory-deferred). A caller is ready for both: it
 *     has nothing half done when it calls.
 *  2. Calls on one topic take effect in the order they are made, and their
 *     callbacks come in that order (an engine that talks to its store over
 *     several connections chains them itself). Calls on different topics
 *     have no order between them.
 *  3. Live messages come through the on_message callback given at creation,
 *     for every topic the hub holds interest in: each once, in seq order
 *     within an epoch, and every message ordered after the position that
 *     engine_interest_add answered, unless on_moved says otherwise first:
 *     an engine whose store can lose state (Redis restarted empty, history
 *     gone while its subscription was down) tells the hub where the live
 *     messages go on from, and they go on from there. Each carries its epoch: copies still
 *     in flight from an earlier interest may be of an epoch since ended,
 *     and the caller drops them. They are not ordered with respect to
 *     callbacks: a history read may complete before or after the live
 *     copies of messages it returns arrive, and the caller sorts that out
 *     (hub/edge_link_replay.c holds a link's live messages back meanwhile).
 *  4. After engine_interest_remove, live messages of the topic may still
 *     arrive for a while; the caller drops what it no longer wants.
 *  5. What a callback is handed (messages, a read, a listing) is valid only
 *     during the callback. A callback may call the engine again (not
 *     engine_free).
 *  6. engine_free first calls every pending callback with ENGINE_GONE. A
 *     callback given ENGINE_GONE only frees its ctx.
 *
 * Engines: "memory" (the default: hub/engine_memory.c), "redis" (topics
 * ordered in Redis, shared by every hub that uses the same Redis shards:
 * hub/engine_redis.h) and, for tests only, "memory-deferred"
 * (hub/engine_deferred.c: the memory engine with every call completed, and
 * live messages delivered, on later loop turns).
 *
 * Three things were added to the interface for the redis engine, because
 * no caller could learn them otherwise: on_moved (above, rule 3), and
 * engine_ready and engine_metrics (an engine over the network can be down,
 * and has figures per store that engine_stats's fixed fields cannot
 * carry). The memory engines never move a topic, are always ready and add
 * no metrics. */
#ifndef SPOKE_HUB_ENGINE_H
#define SPOKE_HUB_ENGINE_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/link.h"

struct history_rules;

#define ENGINE_EPOCH_MAX LINK_MAX_EPOCH

enum engine_status {
    ENGINE_OK = 0,
    ENGINE_FULL = -1,        /* the topic is new and the engine holds max_topics states
                              * (redis: this hub holds interest in max_topics topics) */
    ENGINE_GONE = -2,        /* the engine is being freed: free ctx, nothing else */
    ENGINE_UNAVAILABLE = -3, /* the engine's store cannot be reached (not the memory engine) */
    ENGINE_UNKNOWN = -4,     /* the store went away after the call was sent to it: it may
                              * have taken effect (a publish may be ordered) */
    ENGINE_REPEATED = 1,     /* a publish whose origin and pub_id the engine ordered before
                              * (through any hub): not ordered again, pos is its first */
};

struct engine_pos {
    uint64_t seq;
    char epoch[ENGINE_EPOCH_MAX + 1]; /* "" when the topic has no state */
};

/* A message as the engine hands it out (strings valid during the call),
 * with the epoch its seq belongs to. */
struct engine_msg {
    struct link_str topic, epoch, from, user, data;
    uint64_t seq;
    uint8_t enc;
    /* What the hub attached to its interest in the topic with
     * engine_interest_cookie, or NULL (always NULL from an engine without
     * that call): the fan-out's way to its interest entry without a second
     * lookup by name. */
    void *cookie;
};

/* Where a publish comes from, so that an engine shared by several hubs
 * can recognise one an edge worker sent again through another hub after
 * its link broke: one run of an edge worker (name, worker, boot) and its
 * number for the publish. pub_id 0 (an admin API publish, or a PUBLISH
 * that wants no answer): nothing to recognise. The redis engine remembers
 * each such publish's position for keep_ms; the memory engines ignore the
 * origin (one hub: hub/publog.h does it before the engine is asked). */
struct engine_origin {
    struct link_str name;
    uint32_t worker;
    uint64_t boot;
    uint64_t pub_id;
    uint64_t keep_ms; /* twice the link's publish_timeout: the edge gave up by then */
};

/* A publish to order (copied by the engine before the call returns). */
struct engine_pub {
    struct link_str topic, from, user, data;
    uint8_t enc;
    struct engine_origin origin;
    /* CLOCK_MONOTONIC in ms when the hub handed it over (0: not given): an
     * engine on that clock may take it instead of reading the clock again
     * (the memory engine does, unless a test clock is set). */
    uint64_t now_ms;
};

/* Why a read returns no messages (ENGINE_RECOVERED: it returns them). */
enum engine_recovery {
    ENGINE_RECOVERED = 0, /* since is the topic's epoch and the history holds all after it */
    ENGINE_NO_SINCE,      /* asked for the position only */
    ENGINE_NO_TOPIC,      /* the topic has no state */
    ENGINE_OTHER_EPOCH,   /* since names another epoch */
    ENGINE_TOO_OLD,       /* the history starts after since + 1 (see first_seq) */
    ENGINE_AHEAD,         /* since is beyond the topic's last seq */
};

/* A history read's answer: the topic's position now and, when recovered,
 * its messages since + 1 to pos.seq in order through next(). */
struct engine_read {
    int status; /* an enum engine_status */
    struct engine_pos pos;
    enum engine_recovery why;
    uint64_t first_seq; /* ENGINE_TOO_OLD: the oldest seq the history holds (pos.seq + 1: none) */
    /* Fills *m with the next message and returns 1, or returns 0 at the end. */
    int (*next)(struct engine_read *r, struct engine_msg *m);
    void *impl[4]; /* the engine's cursor */
};

/* One topic state, as the listing shows it. */
struct engine_topic {
    struct link_str topic;
    struct engine_pos pos;
    uint64_t history_messages, history_bytes;
    uint64_t first_seq; /* of the oldest message held (0: none) */
    double rate;        /* publishes per second since the previous listing (or creation) */
};

struct engine_list {
    int status;
    size_t total; /* topic states in all (the listing may stop before) */
    int (*next)(struct engine_list *l, struct engine_topic *t);
    void *impl[4];
};

/* Figures the engine keeps in this process, as of now. */
struct engine_stats {
    uint64_t topics; /* topic states */
    uint64_t max_topics;
    uint64_t history_messages, history_bytes, history_budget;
    uint64_t evicted_count, evicted_age, evicted_budget; /* messages that left the history */
    uint64_t publishes_refused;                          /* ENGINE_FULL */
};

typedef void (*engine_pos_cb)(void *ctx, int status, const struct engine_pos *pos);
typedef void (*engine_read_cb)(void *ctx, struct engine_read *r);
typedef void (*engine_list_cb)(void *ctx, struct engine_list *l);
typedef void (*engine_message_cb)(void *ud, const struct engine_msg *m);
/* The numbering of topic moved under the hub's interest (rule 3): live
 * messages go on after pos (reason says why, for the links' notice). */
typedef void (*engine_moved_cb)(void *ud, struct link_str topic, const struct engine_pos *pos,
                                const char *reason);

struct engine_opts {
    struct ev_loop *loop; /* timers and later turns; NULL: none (unit tests) */
    size_t max_topics;    /* topic states in all (ENGINE_FULL beyond) */
    uint64_t history_bytes;
    /* A state nobody is interested in whose history is empty is kept this
     * long (0: forgotten at once), so that a link that comes back finds
     * its epoch. */
    uint64_t linger_ms;
    struct history_rules *rules; /* taken over by the engine */
    engine_message_cb on_message;
    engine_moved_cb on_moved; /* NULL: nobody is told */
    void *ud;
    /* For tests: the clock, in ms (NULL: the monotonic clock), moved by
     * hand; the bytes epochs are made of (NULL: getrandom), made
     * predictable. Both get test_ud. */
    uint64_t (*now_ms)(void *test_ud);
    void (*random)(void *buf, size_t n, void *test_ud);
    void *test_ud;
    unsigned defer_ms; /* memory-deferred: each step waits a turn and this long */
    /* redis (hub/engine_redis.h). */
    const char *redis;           /* the shards: ADDR[,ADDR...] */
    const char *redis_user;      /* AUTH (NULL or "": none) */
    const char *redis_password;  /* ... */
    const char *redis_prefix;    /* of every key and channel (NULL: "spoke") */
    unsigned redis_heartbeat_ms; /* liveness period (0: 1000) */
    const char *instance;        /* unique to this hub process: its private channel, its name */
    size_t max_read_bytes; /* a replay longer than this is answered as too old (0: no bound) */
};

struct engine;

/* The engine called name ("memory", "redis", "memory-deferred"), or NULL
 * with a one-line reason in err (for redis: a bad address, or a host name
 * that does not resolve; Redis being down is no reason: it connects
 * later). */
struct engine *engine_new(const char *name, const struct engine_opts *o, char *err, size_t errlen);
/* Completes every pending call with ENGINE_GONE, then frees. No-op on NULL. */
void engine_free(struct engine *e);
/* 1 if name is an engine engine_new knows. */
int engine_known(const char *name);

/* Orders a publish: the topic's next seq (creating its state, within
 * max_topics), stored in its history and delivered live if the hub is
 * interested. cb (may be NULL) gets ENGINE_OK and the message's position,
 * or ENGINE_FULL; or ENGINE_REPEATED and the position it was given before
 * if the engine recognises its origin and pub_id (then nothing is stored
 * or delivered). */
void engine_publish(struct engine *e, const struct engine_pub *p, engine_pos_cb cb, void *ctx);
/* This hub needs topic's live messages (creating its state, within
 * max_topics). cb gets ENGINE_OK and the position after which every
 * message is delivered live, or ENGINE_FULL. Idempotent. */
void engine_interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx);
/* No more: the state may go once its history is empty. Idempotent. Drops
 * the topic's cookie. */
void engine_interest_remove(struct engine *e, struct link_str topic);
/* Attaches cookie to this hub's interest in topic (after engine_interest_add
 * answered ENGINE_OK): live messages of the topic carry it (engine_msg)
 * until engine_interest_remove. An engine may not keep cookies (the call
 * is then a no-op and messages carry NULL). */
void engine_interest_cookie(struct engine *e, struct link_str topic, void *cookie);
/* A hint: a publish on topic is likely to come soon (the hub's link read
 * decodes its input a few messages ahead), so the engine may start
 * loading the memory it will touch. Changes nothing. Returns 1, or 0 if
 * hints are no use to the engine now (none for an engine without the
 * operation; the memory engine's topics all fit in the caches). */
int engine_prefetch(struct engine *e, struct link_str topic);
/* The topic's position, and with since (NULL: position only) the messages
 * after it if since is in the topic's epoch and the history holds all of
 * them. */
void engine_history_read(struct engine *e, struct link_str topic, const struct engine_pos *since,
                         engine_read_cb cb, void *ctx);
/* Lists at most max topic states, in no order. */
void engine_topics(struct engine *e, size_t max, engine_list_cb cb, void *ctx);
void engine_stats(struct engine *e, struct engine_stats *out);
/* New history rules (SIGHUP), taken over; they bound what is stored from
 * now on. */
void engine_set_rules(struct engine *e, struct history_rules *rules);
/* 1 if the engine's store can be reached; else 0 with a one-line reason
 * in why (for /readyz). */
int engine_ready(struct engine *e, char *why, size_t len);
/* Appends the engine's own Prometheus families to out (none: nothing). */
void engine_metrics(struct engine *e, struct buf *out);

/* ---- for implementations ------------------------------------------------- */

struct engine_ops {
    void (*publish)(struct engine *, const struct engine_pub *, engine_pos_cb, void *);
    void (*interest_add)(struct engine *, struct link_str, engine_pos_cb, void *);
    void (*interest_remove)(struct engine *, struct link_str);
    void (*history_read)(struct engine *, struct link_str, const struct engine_pos *,
                         engine_read_cb, void *);
    void (*topics)(struct engine *, size_t, engine_list_cb, void *);
    void (*stats)(struct engine *, struct engine_stats *);
    void (*set_rules)(struct engine *, struct history_rules *);
    void (*free)(struct engine *);
    int (*ready)(struct engine *, char *, size_t);                     /* NULL: always ready */
    void (*metrics)(struct engine *, struct buf *);                    /* NULL: none */
    void (*interest_cookie)(struct engine *, struct link_str, void *); /* NULL: none kept */
    int (*prefetch)(struct engine *, struct link_str);                 /* NULL: no use */
};

/* Every implementation's struct starts with this. */
struct engine {
    const struct engine_ops *ops;
};

struct engine *engine_memory_new(const struct engine_opts *o);
/* A memory engine whose every call completes, and every live message
 * arrives, on a later turn of o->loop (required). For tests only. */
struct engine *engine_deferred_new(const struct engine_opts *o);
/* The redis engine (hub/engine_redis.h); NULL with err set. */
struct engine *engine_redis_new(const struct engine_opts *o, char *err, size_t errlen);

#endif
