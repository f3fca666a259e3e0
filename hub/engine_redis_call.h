/* What the redis engine's files share (its structures), and its bottom
 * layer, engine_redis_call.c. The files call only the ones below them: engine_redis.c (the engine as the hub sees it: connections,
 * publishes, reads, listings, figures) over engine_redis_topic.c (this
 * hub's interest: subscriptions, positions, live messages, recovery) over
 * engine_redis_call.c (calls, their order, scripts, topic records). A
 * reply goes to its call's own handler (rop.on_reply), set by the file
 * that made the call. See engine_redis.h for the design.
 *
 * Calls and their order (engine.h, rule 2). Every call that takes a
 * callback is a struct rop on its topic's FIFO (struct rtopic, made for
 * the call if the hub has no interest in the topic), in call order; its
 * outcome marks it done, and callbacks are made from the FIFO's head while
 * the head is done, so they come in call order whatever order the replies
 * take (a read of several pages, a resend after NOSCRIPT, an interest that
 * waits for its subscription), and a topic that waits holds up no other.
 * Calls on a topic whose interest waits for Redis to confirm its
 * subscription wait behind it (the topic's wait list) and are sent right
 * after its position read, so they also take effect after it. Internal
 * commands (a topic's sync, a touch) are rops outside any FIFO.
 *
 * Invariants, whenever no call runs:
 *   rop:    on its topic's FIFO iff it has a callback; on at most one wait
 *           list (a topic's adds or waits, or the shard's held list).
 *   rtopic: in its shard's dict while wanted, or while anything of it is in
 *           flight (calls on its FIFO, a sync, adds, a SUBSCRIBE or
 *           UNSUBSCRIBE unconfirmed); subscribed only with no confirmation
 *           outstanding; held messages only while wanted, in the order they
 *           came; on the shard's due list (pinned) iff callbacks came due
 *           while they were suspended. */
#ifndef SPOKE_HUB_ENGINE_REDIS_CALL_H
#define SPOKE_HUB_ENGINE_REDIS_CALL_H
#include <ev.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/dict.h"
#include "hub/engine.h"
#include "hub/engine_redis_wire.h"
#include "hub/epoch.h"
#include "hub/history_rules.h"
#include "hub/redis_conn.h"
#include "hub/redis_ring.h"

/* An interest keeps its topic's state at least this long after it goes
 * (and refreshes it every REDIS_KEEP_MS / 3). */
#define REDIS_KEEP_MS 30000
/* Stream entries per read command: a long replay is read in pages. */
#define REDIS_READ_PAGE 128

/* Arguments of one script call after EVALSHA and the script: numkeys,
 * keys, ARGV (the most: a publish with an origin, 14). */
#define REDIS_MAX_ARGS 14

/* Publish latency buckets (µs; +Inf implied). */
#define REDIS_LAT_BUCKETS 10
static const double redis_lat_bounds_us[REDIS_LAT_BUCKETS] = {100,  250,   500,   1000,   2500,
                                                              5000, 10000, 25000, 100000, 1000000};

enum rop_kind {
    ROP_PUBLISH,  /* a publish */
    ROP_INTEREST, /* an interest add: answered by its topic's sync */
    ROP_READ,     /* a history read (pages) */
    ROP_SYNC,     /* internal: a topic's position, and what it missed */
    ROP_TOUCH,    /* internal: keeps a wanted topic's state */
};

struct rtopic;
struct rshard;

struct rop {
    struct rop *next;  /* its topic's FIFO */
    struct rop *qnext; /* a wait list */
    struct rshard *sh;
    enum rop_kind kind;
    int in_fifo, done, status;
    int sent_sha; /* sent as EVALSHA, not answered yet */
    enum redis_script script;
    /* Its reply (NULL: the connection went before it came, or it could
     * not be sent). */
    void (*on_reply)(struct rop *op, const redisReply *r);
    engine_pos_cb pos_cb;
    engine_read_cb read_cb;
    void *ctx;
    struct engine_pos pos; /* the outcome (publish, interest, read) */
    uint64_t t0_ns;        /* publish: when called */
    struct rtopic *rt;     /* its topic (NULL: a touch) */
    uint64_t gen;          /* sync: the topic's interest it was sent for */
    /* The command after EVALSHA/EVAL and the script: numkeys, keys, args
     * (kept for a resend as EVAL), in args at offsets. */
    struct buf args;
    uint32_t argn;
    uint32_t arg_off[REDIS_MAX_ARGS], arg_len[REDIS_MAX_ARGS];
    uint32_t topic_off, topic_len; /* where the topic is in args */
    /* A read: what was asked, how far it got, what it holds. */
    int has_since;
    struct engine_pos since;
    enum engine_recovery why;
    uint64_t first_seq, next_seq, pages;
    struct buf msgs; /* the replayed messages' strings */
    struct engine_msg *m;
    size_t nm, cap, at;
};

/* A live message held back while its topic syncs (a copy). */
struct rheld {
    struct rheld *next;
    uint64_t seq;
    uint8_t enc, epoch_len;
    char epoch[LINK_MAX_EPOCH];
    uint32_t from_len, user_len, data_len;
    char bytes[]; /* from, user, data */
};

/* A topic this hub is (or was until a moment ago) interested in. */
struct rtopic {
    struct rshard *sh;
    const char *name; /* the dict entry's key */
    uint32_t len;
    int wanted;                    /* between engine_interest_add and _remove */
    uint64_t gen;                  /* counts the interests: a sync sent for an older one is stale */
    int pins;                      /* code walking it: it stays until they end */
    int positioned;                /* last and epoch are known (the adds were answered) */
    int subscribed;                /* Redis confirmed the subscription, nothing outstanding */
    int need_sync;                 /* messages may have been missed: a sync is due */
    uint32_t subs_out, unsubs_out; /* confirmations still to come */
    uint64_t last;                 /* the last seq delivered live (or the position) ... */
    char epoch[LINK_MAX_EPOCH + 1]; /* ... in this epoch */
    struct rop *fifo, *fifo_tail;   /* calls with a callback, in call order */
    int draining;                   /* their callbacks are being made */
    int due;                        /* on the shard's due list */
    struct rtopic *due_next;
    struct rop *sync;               /* the sync in flight */
    struct rop *adds, *adds_tail;   /* interest adds waiting for a position */
    struct rop *waits, *waits_tail; /* calls behind them */
    struct rheld *held, *held_tail;
    size_t held_bytes;
    struct rtopic *rprev, *rnext; /* the shard's refresh rotation, while wanted */
    uint64_t sample_seq, sample_ms;
};

struct rshard_stats {
    uint64_t publishes, publish_errors, unavailable, noscript, bad_messages;
    uint64_t repeated; /* publishes recognised as ordered before (by any hub) */
    uint64_t recovered, moved, held_dropped, syncs;
    uint64_t lat_hist[REDIS_LAT_BUCKETS + 1];
    double lat_sum_us;
};

struct rshard {
    struct redis_engine *re;
    unsigned idx;
    struct redis_addr addr;
    struct redis_conn *cmd, *sub;
    int suspended;          /* callbacks wait (redis__suspend) ... */
    struct rtopic *due;     /* ... these topics' */
    int eval_mode;          /* NOSCRIPT seen: EVAL until SCRIPT LOAD answers */
    unsigned loads_out;     /* SCRIPT LOADs not answered */
    int hold;               /* NOSCRIPT seen: new script calls wait ... */
    uint32_t sha_in_flight; /* ... until no EVALSHA sent before is unanswered */
    struct rop *held_ops, *held_ops_tail;
    struct dict topics; /* name -> struct rtopic */
    size_t nwanted;
    size_t held_bytes;
    int resync_due;                /* a sync failed: retried on the next tick */
    struct rtopic *rot, *rot_tail; /* refresh rotation */
    struct rshard_stats st;
};

struct redis_engine {
    struct engine base;
    struct ev_loop *loop;
    struct rshard *shards;
    size_t nshards;
    struct redis_ring ring;
    struct history_rules *rules;
    size_t max_topics;
    size_t nwanted;
    uint64_t linger_ms;
    size_t max_read_bytes;
    char *prefix;
    char *hb_channel;
    char *instance;
    engine_message_cb on_message;
    engine_moved_cb on_moved;
    void *ud;
    uint64_t (*now_ms)(void *);
    void *test_ud;
    struct epoch_source epochs;
    ev_timer tick; /* every second: refresh rotation, failed syncs */
    unsigned tick_n;
    int freeing;
    double warned_at; /* the last rate-limited warning */
    uint64_t unwarned;
};

/* ---- engine_redis_call.c ------------------------------------------------------ */

struct rshard *redis__shard_of(struct redis_engine *re, struct link_str topic);
uint64_t redis__now_ms(struct redis_engine *re);
/* A warning, at most one every few seconds (a failing Redis must not
 * flood the log). */
void redis__warn(struct redis_engine *re, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The bounds and TTLs for topic under the rules now. */
struct history_bounds redis__bounds(struct redis_engine *re, struct link_str topic);
uint64_t redis__meta_ttl(struct redis_engine *re, struct history_bounds b);
/* 1 if the shard's command connection takes commands. */
int redis__cmd_is_up(const struct rshard *sh);

/* A new call or internal command on rt; on rt's FIFO if it has a callback. */
struct rop *redis__op_new(struct rshard *sh, struct rtopic *rt, enum rop_kind kind, void *ctx,
                          int has_cb);
/* Its outcome is in: callbacks due are made (in FIFO order); one outside
 * the FIFO is freed. */
void redis__op_done(struct rop *op, int status);
/* op could not be sent, or its connection went: internal ones hear it
 * through on_reply(NULL), calls complete with ENGINE_UNAVAILABLE
 * (ENGINE_GONE while freeing). */
void redis__fail(struct rop *op);
/* No callback is made between these two (nested): what the engine walks
 * meanwhile (a shard's topics) cannot change under it. */
void redis__suspend(struct rshard *sh);
void redis__resume(struct rshard *sh);

/* Puts one argument of op's command (copied). */
void redis__arg(struct rop *op, const void *p, size_t n);
void redis__arg_u64(struct rop *op, uint64_t v);
void redis__arg_key(struct rop *op, char kind, struct link_str topic);
/* PREFIX:p:{T}:NAME:WORKER:BOOT:PUB_ID, the record of one publish. */
void redis__arg_pub_key(struct rop *op, struct link_str topic, const struct engine_origin *o);
/* Keeps topic at the front of op->args (before any argument), for its keys
 * and its callback; redis__op_topic gives it back. redis__args_reset drops
 * the arguments after it, to build the next command. */
void redis__put_topic(struct rop *op, struct link_str topic);
struct link_str redis__op_topic(const struct rop *op);
void redis__args_reset(struct rop *op);

/* Sends op's script (EVALSHA, or EVAL after NOSCRIPT; held while a
 * NOSCRIPT resend is under way). A command connection down fails it
 * (redis__fail). */
void redis__send(struct rop *op);
/* SCRIPT LOAD of every script (on each connect, and after a NOSCRIPT). */
void redis__load_scripts(struct rshard *sh);
/* The command connection went: calls held behind a NOSCRIPT fail. */
void redis__calls_down(struct rshard *sh);

/* The topic's record (NULL: none); the second makes one if need be. */
struct rtopic *redis__topic(struct rshard *sh, struct link_str topic);
struct rtopic *redis__topic_make(struct rshard *sh, struct link_str topic);
/* Frees rt if nothing holds it any more (see the invariants). */
void redis__topic_release(struct rtopic *rt);
void redis__held_clear(struct rtopic *rt);

#endif
