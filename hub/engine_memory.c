/* The memory engine: topic states in this process, for a single hub (see
 * engine.h for the interface, history.h for how messages are kept).
 *
 * A topic state (struct mtopic) holds the topic's epoch, its last seq and
 * whether the hub is interested; once the topic is published to, its log
 * (struct mlog: the history ring, the bounds matched from the rules when
 * the log is made and again at each SIGHUP, the listing's rate sample)
 * too, until expiry or eviction empties the ring. A topic of one's own
 * that nobody publishes to, the common case, never has a log. A state
 * is created by a publish or an interest, within max_topics, and lives
 * while the hub is interested or its history holds a message, and then
 * for linger_ms more (on the linger list, oldest first: one duration for
 * all, so the head is the first due); then it is forgotten, and the next
 * one of that name starts a new epoch at seq 1. The linger is what lets an
 * edge whose link broke find the epoch of a topic nobody had published on
 * yet: without it, the topic would be gone, with no message lost, but the
 * edge could not know that.
 * Everything completes before the call returns. Age expiry runs at the
 * start of every call and once a second from a timer, so that idle topics
 * still go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/container.h"
#include "common/strtab.h"
#include "common/xalloc.h"
#include "hub/engine.h"
#include "hub/epoch.h"
#include "hub/history.h"
#include "hub/history_rules.h"

/* What a topic has once it is published to (see above): 88 bytes. */
struct mlog {
    struct history_ring ring; /* on the history's emptied list by this */
    struct history_bounds bounds;
    uint64_t sample_seq, sample_ms; /* for the listing's rate */
    struct mtopic *t;
};

/* 72 bytes and the name in one allocation (96 bytes for a name of up to
 * 15): no holes, for one per topic. */
struct mtopic {
    uint64_t seq; /* last seq ordered in this epoch (0: none yet) */
    union {
        void *cookie;          /* the hub's, while interested (engine_interest_cookie) */
        uint64_t linger_until; /* on the linger list until then (never interested there) */
    };
    struct mtopic *lprev, *lnext; /* the linger list */
    struct mlog *log;             /* NULL: nothing published since it was last empty */
    uint32_t pins; /* calls and callbacks in progress that use it: it stays until they end */
    uint8_t interested;
    uint8_t lingering;             /* on the linger list */
    char epoch[HUB_EPOCH_LEN + 1]; /* always HUB_EPOCH_LEN characters (epoch_mint) */
    struct strnode node;           /* in the topics table, the name right behind it: last */
};

/* How many messages t's history holds. */
static uint32_t held(const struct mtopic *t)
{
    return t->log ? t->log->ring.n : 0;
}

/* mem_prefetch's steps, MEM_STEP calls apart; it keeps MEM_AHEAD (a power
 * of two) names for find. */
#define MEM_STEP 2
#define MEM_AHEAD 8
/* Fewer topic states than this stay in the caches: no prefetching. */
#ifndef MEM_PREFETCH_TOPICS
#define MEM_PREFETCH_TOPICS 4096
#endif

struct memory {
    struct engine base;
    struct strtab topics; /* struct mtopic by name */
    struct history *hist;
    struct history_rules *rules;
    size_t max_topics;
    engine_message_cb on_message;
    void *ud;
    uint64_t (*now_ms)(void *);
    void *test_ud;
    struct ev_loop *loop;
    ev_timer expiry;
    uint64_t linger_ms;
    struct mtopic *linger, *linger_tail; /* oldest first */
    uint64_t refused;
    struct epoch_source epochs;
    /* mem_prefetch: the topics it was told of, by where their names were
     * and their hash; the last MEM_AHEAD, the newest at ahead_at - 1. */
    struct mem_ahead {
        const char *ptr; /* NULL: none */
        uint32_t len, hash;
    } ahead[MEM_AHEAD];
    unsigned ahead_at;
};

static struct memory *mem_of(struct engine *e)
{
    return container_of(e, struct memory, base);
}

static uint64_t now(struct memory *me)
{
    return me->now_ms ? me->now_ms(me->test_ud) : clock_mono_ms();
}

/* ---- topic states ---------------------------------------------------------------- */

static struct mtopic *find(struct memory *me, struct link_str name)
{
    /* A name mem_prefetch hashed, at the same place: most likely the same
     * bytes, so its hash is tried first (a hint: only a match counts). */
    for (unsigned k = 0; me->topics.count >= MEM_PREFETCH_TOPICS && k < MEM_AHEAD; k++) {
        const struct mem_ahead *a = &me->ahead[k];
        if (a->ptr == name.ptr && a->len == name.len) {
            struct strnode *n = strtab_find_hashed(&me->topics, name.ptr, name.len, a->hash);
            if (n)
                return container_of(n, struct mtopic, node);
            break;
        }
    }
    return strtab_get(&me->topics, name.ptr, name.len, struct mtopic, node);
}

static void linger_unlink(struct memory *me, struct mtopic *t)
{
    if (!t->lingering)
        return;
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    else
        me->linger = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    else
        me->linger_tail = t->lprev;
    t->lprev = t->lnext = NULL;
    t->lingering = 0;
    t->linger_until = 0; /* the cookie's room: NULL until the hub gives one */
}

static void linger_start(struct memory *me, struct mtopic *t)
{
    t->lingering = 1;
    t->linger_until = now(me) + me->linger_ms;
    t->lnext = NULL;
    t->lprev = me->linger_tail;
    if (me->linger_tail)
        me->linger_tail->lnext = t;
    else
        me->linger = t;
    me->linger_tail = t;
}

/* The topic's state, created if needed; NULL when it is new and the engine
 * holds max_topics. */
static struct mtopic *get_or_create(struct memory *me, struct link_str name)
{
    struct mtopic *t = find(me, name);
    if (t) {
        linger_unlink(me, t); /* wanted again */
        return t;
    }
    if (me->topics.count >= me->max_topics)
        return NULL;
    t = xcalloc(1, sizeof *t + strtab_name_room(name.len));
    epoch_mint(&me->epochs, t->epoch);
    strtab_add(&me->topics, &t->node, name.ptr, name.len);
    return t;
}

/* t's log, made by its first publish (or the first since it emptied) at
 * t_now, before that publish's seq. */
static struct mlog *log_of(struct memory *me, struct mtopic *t, uint64_t t_now)
{
    if (t->log)
        return t->log;
    struct mlog *lg = xcalloc(1, sizeof *lg);
    history_ring_init(&lg->ring);
    lg->bounds = history_rules_match(me->rules, t->node.name, t->node.len);
    lg->sample_seq = t->seq;
    lg->sample_ms = t_now;
    lg->t = t;
    t->log = lg;
    return lg;
}

static void log_free(struct memory *me, struct mtopic *t)
{
    if (!t->log)
        return;
    history_ring_clear(me->hist, &t->log->ring); /* frees its slots */
    free(t->log);
    t->log = NULL;
}

static int unwanted(const struct mtopic *t)
{
    return !t->interested && !held(t) && !t->pins;
}

static void drop(struct memory *me, struct mtopic *t)
{
    linger_unlink(me, t);
    log_free(me, t);
    strtab_remove(&me->topics, &t->node);
    free(t);
    strtab_shrink(&me->topics);
}

/* Once nothing keeps t (no interest, no history, nobody using it), it
 * lingers, or is forgotten at once without a linger. */
static void maybe_drop(struct memory *me, struct mtopic *t)
{
    if (!unwanted(t) || t->lingering)
        return;
    if (me->linger_ms)
        linger_start(me, t);
    else
        drop(me, t);
}

/* Frees the logs whose rings eviction or expiry emptied (not while their
 * topic is in use: a publish whose own store emptied the ring keeps it, so
 * a topic that keeps no history does not make one per publish), and drops
 * the states nothing else keeps. */
static void collect(struct memory *me)
{
    struct history_ring *r = history_take_emptied(me->hist);
    while (r) {
        struct history_ring *next = r->emptied_next;
        struct mtopic *t = container_of(r, struct mlog, ring)->t;
        if (!r->n && !t->pins)
            log_free(me, t);
        maybe_drop(me, t);
        r = next;
    }
}

/* Expiry as of t_now (ms, the engine's clock). */
static void expire_at(struct memory *me, uint64_t t_now)
{
    history_expire(me->hist, t_now);
    collect(me);
    struct mtopic *t;
    while ((t = me->linger) && t->linger_until <= t_now) {
        linger_unlink(me, t);
        if (unwanted(t))
            drop(me, t);
    }
}

static void expire(struct memory *me)
{
    expire_at(me, now(me));
}

static void on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    expire(w->data);
}

static void position(const struct mtopic *t, struct engine_pos *pos)
{
    pos->seq = t->seq;
    memcpy(pos->epoch, t->epoch, sizeof t->epoch);
}

/* ---- the interface ------------------------------------------------------------------ */

static void mem_publish(struct engine *e, const struct engine_pub *p, engine_pos_cb cb, void *ctx)
{
    struct memory *me = mem_of(e);
    /* One clock read for the expiry and the stored message's time, or none
     * when the hub gave its own (the same clock; not with a test clock). */
    uint64_t t_now = p->now_ms && !me->now_ms ? p->now_ms : now(me);
    expire_at(me, t_now);
    struct mtopic *t = get_or_create(me, p->topic);
    if (!t) {
        me->refused++;
        if (cb)
            cb(ctx, ENGINE_FULL, NULL);
        return;
    }
    t->pins++;
    struct mlog *lg = log_of(me, t, t_now);
    uint64_t seq = ++t->seq;
    struct history_msg hm = {.from = p->from, .user = p->user, .data = p->data, .enc = p->enc};
    history_store(me->hist, &lg->ring, seq, &hm, t_now, lg->bounds.max_count,
                  lg->bounds.max_age_ms);
    collect(me); /* other topics the budget emptied; t is pinned */
    if (t->interested && me->on_message) {
        struct engine_msg m = {.topic = {t->node.name, t->node.len},
                               .epoch = {t->epoch, HUB_EPOCH_LEN},
                               .from = p->from,
                               .user = p->user,
                               .data = p->data,
                               .seq = seq,
                               .enc = p->enc,
                               .cookie = t->cookie};
        me->on_message(me->ud, &m);
    }
    if (cb) {
        struct engine_pos pos;
        position(t, &pos);
        pos.seq = seq;
        cb(ctx, ENGINE_OK, &pos);
    }
    t->pins--;
    maybe_drop(me, t); /* a topic without interest that keeps no history */
}

static void mem_interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx)
{
    struct memory *me = mem_of(e);
    expire(me);
    struct mtopic *t = get_or_create(me, topic);
    if (!t) {
        cb(ctx, ENGINE_FULL, NULL);
        return;
    }
    if (!t->interested)
        t->cookie = NULL; /* until the hub gives one */
    t->interested = 1;
    struct engine_pos pos;
    position(t, &pos);
    cb(ctx, ENGINE_OK, &pos);
}

static void mem_interest_remove(struct engine *e, struct link_str topic)
{
    struct memory *me = mem_of(e);
    struct mtopic *t = find(me, topic);
    if (!t)
        return;
    t->interested = 0;
    t->cookie = NULL;
    maybe_drop(me, t);
}

static void mem_interest_cookie(struct engine *e, struct link_str topic, void *cookie)
{
    struct mtopic *t = find(mem_of(e), topic);
    if (t && t->interested)
        t->cookie = cookie;
}

/* A read's cursor: the messages next..last of t's ring. */
struct mem_cursor {
    struct mtopic *t;
    uint64_t next, last;
};

static int read_next(struct engine_read *r, struct engine_msg *m)
{
    struct mem_cursor *c = r->impl[0];
    if (c->next > c->last)
        return 0;
    const struct history_entry *he = c->t->log ? history_get(&c->t->log->ring, c->next) : NULL;
    if (!he)
        return 0; /* cannot happen: the ring is pinned and holds next..last */
    *m = (struct engine_msg){.topic = {c->t->node.name, c->t->node.len},
                             .epoch = {c->t->epoch, HUB_EPOCH_LEN},
                             .from = history_from(he),
                             .user = history_user(he),
                             .data = history_data(he),
                             .seq = he->seq,
                             .enc = he->enc};
    c->next++;
    return 1;
}

static void mem_history_read(struct engine *e, struct link_str topic,
                             const struct engine_pos *since, engine_read_cb cb, void *ctx)
{
    struct memory *me = mem_of(e);
    expire(me);
    struct engine_read r = {.status = ENGINE_OK, .next = read_next};
    struct mem_cursor c = {.next = 1, .last = 0}; /* empty */
    r.impl[0] = &c;
    struct mtopic *t = find(me, topic);
    if (!t) {
        r.why = ENGINE_NO_TOPIC;
        cb(ctx, &r);
        return;
    }
    position(t, &r.pos);
    c.t = t;
    /* The ring always ends at t->seq when it holds anything (history.h). */
    uint64_t first = held(t) ? t->log->ring.first_seq : t->seq + 1;
    if (!since)
        r.why = ENGINE_NO_SINCE;
    else if (strcmp(since->epoch, t->epoch) != 0)
        r.why = ENGINE_OTHER_EPOCH;
    else if (since->seq > t->seq)
        r.why = ENGINE_AHEAD;
    else if (since->seq + 1 < first)
        r.why = ENGINE_TOO_OLD;
    else
        r.why = ENGINE_RECOVERED;
    r.first_seq = first;
    if (r.why == ENGINE_RECOVERED) {
        c.next = since->seq + 1;
        c.last = t->seq;
    }
    t->pins++;
    cb(ctx, &r);
    t->pins--;
    maybe_drop(me, t);
}

/* A listing's cursor: the states pinned when it was made. */
struct mem_list {
    struct mtopic **t;
    size_t n, at;
    uint64_t now;
};

static int list_next(struct engine_list *l, struct engine_topic *out)
{
    struct mem_list *ml = l->impl[0];
    if (ml->at >= ml->n)
        return 0;
    struct mtopic *t = ml->t[ml->at++];
    *out = (struct engine_topic){.topic = {t->node.name, t->node.len}};
    struct mlog *lg = t->log;
    if (lg) {
        /* Messages per second over the window since the last sample (the
         * first: since the log was made); a listing a second or more later
         * starts a new window. Without a log nothing was published since
         * the history last emptied: 0. */
        uint64_t span = ml->now > lg->sample_ms ? ml->now - lg->sample_ms : 1;
        out->rate = (double)(t->seq - lg->sample_seq) * 1000.0 / (double)span;
        if (span >= 1000) {
            lg->sample_seq = t->seq;
            lg->sample_ms = ml->now;
        }
        out->history_messages = lg->ring.n;
        out->history_bytes = lg->ring.bytes;
        out->first_seq = lg->ring.n ? lg->ring.first_seq : 0;
    }
    position(t, &out->pos);
    return 1;
}

static void mem_topics(struct engine *e, size_t max, engine_list_cb cb, void *ctx)
{
    struct memory *me = mem_of(e);
    expire(me);
    struct mem_list ml = {.now = now(me)};
    size_t cap = me->topics.count < max ? me->topics.count : max;
    ml.t = xmalloc((cap ? cap : 1) * sizeof *ml.t);
    struct strtab_iter it;
    strtab_iter_init(&it, &me->topics);
    for (struct strnode *n; ml.n < cap && (n = strtab_next(&it));) {
        struct mtopic *t = container_of(n, struct mtopic, node);
        t->pins++;
        ml.t[ml.n++] = t;
    }
    struct engine_list l = {.status = ENGINE_OK, .total = me->topics.count, .next = list_next};
    l.impl[0] = &ml;
    cb(ctx, &l);
    for (size_t i = 0; i < ml.n; i++) {
        ml.t[i]->pins--;
        maybe_drop(me, ml.t[i]);
    }
    free(ml.t);
}

static void mem_stats(struct engine *e, struct engine_stats *s)
{
    struct memory *me = mem_of(e);
    expire(me);
    s->topics = me->topics.count;
    s->max_topics = me->max_topics;
    s->history_messages = me->hist->messages;
    s->history_bytes = me->hist->bytes;
    s->history_budget = me->hist->budget;
    s->evicted_count = me->hist->evicted[HISTORY_COUNT];
    s->evicted_age = me->hist->evicted[HISTORY_AGE];
    s->evicted_budget = me->hist->evicted[HISTORY_BUDGET];
    s->publishes_refused = me->refused;
}

static void mem_set_rules(struct engine *e, struct history_rules *rules)
{
    struct memory *me = mem_of(e);
    history_rules_free(me->rules);
    me->rules = rules;
    struct strtab_iter it;
    strtab_iter_init(&it, &me->topics);
    for (struct strnode *n; (n = strtab_next(&it));) {
        struct mtopic *t = container_of(n, struct mtopic, node);
        if (t->log)
            t->log->bounds = history_rules_match(rules, t->node.name, t->node.len);
    }
}

static void mem_free(struct engine *e)
{
    struct memory *me = mem_of(e);
    if (me->loop)
        ev_timer_stop(me->loop, &me->expiry);
    struct strtab_iter it;
    strtab_iter_init(&it, &me->topics);
    for (struct strnode *n; (n = strtab_next(&it));) {
        struct mtopic *t = container_of(n, struct mtopic, node);
        log_free(me, t);
        free(t);
    }
    strtab_deinit(&me->topics);
    history_free(me->hist);
    history_rules_free(me->rules);
    free(me);
}

/* The lines of n's topic state (72 bytes and the name behind it: the
 * first line, and the one the name starts in). */
static void prefetch_topic(const struct strnode *n)
{
    __builtin_prefetch(container_of(n, struct mtopic, node));
    __builtin_prefetch(n->name);
}

/* A publish on topic is coming (the hub's link read decodes a few messages
 * ahead): start loading what it will touch, in steps MEM_STEP calls apart,
 * each loading what the previous one brought in points to: the table's
 * bucket; the topic's state; its log and the hub's interest entry (the
 * cookie); one call later, the log's ring slots. Reads only what is there
 * now; a hint, it changes nothing (find takes the hash kept here as a hint
 * only). */
static int mem_prefetch(struct engine *e, struct link_str topic)
{
    struct memory *me = mem_of(e);
    if (me->topics.count < MEM_PREFETCH_TOPICS)
        return 0;
    uint32_t h = strtab_hash(&me->topics, topic.ptr, topic.len);
    strtab_prefetch(&me->topics, h);
    unsigned at = me->ahead_at;
    const struct mem_ahead *a1 = &me->ahead[(at - MEM_STEP) % MEM_AHEAD];
    const struct mem_ahead *a2 = &me->ahead[(at - 2 * MEM_STEP) % MEM_AHEAD];
    const struct mem_ahead *a3 = &me->ahead[(at - 2 * MEM_STEP - 1) % MEM_AHEAD];
    if (a1->ptr) {
        struct strnode *n = strtab_bucket(&me->topics, a1->hash);
        if (n)
            prefetch_topic(n);
    }
    if (a2->ptr) {
        struct strnode *n = strtab_bucket(&me->topics, a2->hash);
        if (n && n->hash != a2->hash) {
            /* Not the first of its bucket: the next one is likely, and
             * walking on would wait for it. */
            if (n->next)
                prefetch_topic(n->next);
        } else if (n) {
            const struct mtopic *t = container_of(n, struct mtopic, node);
            if (t->log) {
                __builtin_prefetch(t->log);
                __builtin_prefetch((const char *)t->log + 64);
            }
            if (t->interested && t->cookie) {
                __builtin_prefetch(t->cookie);
                __builtin_prefetch((const char *)t->cookie + 64);
            }
        }
    }
    if (a3->ptr) {
        struct strnode *n = strtab_bucket(&me->topics, a3->hash);
        const struct mtopic *t =
            n && n->hash == a3->hash ? container_of(n, struct mtopic, node) : NULL;
        const struct history_ring *r = t && t->log ? &t->log->ring : NULL;
        if (r && r->cap) {
            __builtin_prefetch(&r->slot[(r->head + r->n) & (r->cap - 1)]);
            __builtin_prefetch(&r->slot[r->head]);
        }
    }
    me->ahead[at % MEM_AHEAD] = (struct mem_ahead){.ptr = topic.ptr, .len = topic.len, .hash = h};
    me->ahead_at = at + 1;
    return 1;
}

static const struct engine_ops memory_ops = {
    .publish = mem_publish,
    .interest_add = mem_interest_add,
    .interest_remove = mem_interest_remove,
    .history_read = mem_history_read,
    .topics = mem_topics,
    .stats = mem_stats,
    .set_rules = mem_set_rules,
    .free = mem_free,
    .interest_cookie = mem_interest_cookie,
    .prefetch = mem_prefetch,
};

struct engine *engine_memory_new(const struct engine_opts *o)
{
    struct memory *me = xcalloc(1, sizeof *me);
    me->base.ops = &memory_ops;
    strtab_init(&me->topics);
    me->hist = history_new(o->history_bytes);
    me->rules = o->rules ? o->rules : history_rules_new();
    me->max_topics = o->max_topics;
    me->linger_ms = o->linger_ms;
    me->on_message = o->on_message;
    me->ud = o->ud;
    me->now_ms = o->now_ms;
    me->epochs.random = o->random;
    me->epochs.ud = o->test_ud;
    me->test_ud = o->test_ud;
    me->loop = o->loop;
    if (me->loop) {
        ev_timer_init(&me->expiry, on_expiry, 1.0, 1.0);
        me->expiry.data = me;
        ev_timer_start(me->loop, &me->expiry);
    }
    return &me->base;
}
