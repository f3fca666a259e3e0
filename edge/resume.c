/* Subscriptions resuming from a position: see resume.h. */
#include "edge/resume.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* One cached message: its seq and its frames (a reference each; NULL for
 * an encoding it has no rendering in), and the bytes it is counted at. */
struct cache_entry {
    uint64_t seq;
    struct frame *f[ENC_COUNT];
    size_t bytes;
};

/* Invariants: ring holds count entries from ring[head & (cap - 1)] on, their
 * seqs consecutive from first_seq; cap is 0 or a power of two, count <= cap
 * <= RESUME_CACHE_MAX; bytes is what the entries hold (frames + slots). A
 * cache serves a position S of its topic when S + 1 >= first_seq (or it is
 * empty) and the last entry is the topic's seq. */
struct topic_cache {
    struct topic *t;
    struct cache_entry *ring;
    uint32_t head, count, cap;
    uint64_t first_seq;
    size_t bytes;
    ev_tstamp used;
    struct topic_cache *prev, *next; /* in the worker's LRU list */
};

#define ENTRY_COST (sizeof(struct cache_entry) + 16)

/* What an entry holds now: its frames and their deflate twins (frame.h).
 * A twin is built at a frame's first deflate subscriber, which may be a
 * connection served from the cache: recount then adds it. */
static size_t entry_bytes(const struct cache_entry *e)
{
    size_t n = ENTRY_COST;
    for (int k = 0; k < ENC_COUNT; k++)
        if (e->f[k])
            n += sizeof(struct frame) + e->f[k]->len + frame_twin_bytes(e->f[k]);
    return n;
}

/* Brings e's count in c up to what it holds (twins only ever appear). */
static void recount(struct resumes *rs, struct topic_cache *c, struct cache_entry *e)
{
    size_t n = entry_bytes(e);
    c->bytes += n - e->bytes;
    rs->cache_bytes += n - e->bytes;
    e->bytes = n;
}

/* ---- the LRU list */

static void lru_unlink(struct resumes *rs, struct topic_cache *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        rs->lru = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        rs->mru = c->prev;
    c->prev = c->next = NULL;
}

static void lru_push(struct resumes *rs, struct topic_cache *c)
{
    c->prev = rs->mru;
    c->next = NULL;
    if (rs->mru)
        rs->mru->next = c;
    else
        rs->lru = c;
    rs->mru = c;
}

static void touch(struct resumes *rs, struct topic_cache *c, ev_tstamp now)
{
    c->used = now;
    lru_unlink(rs, c);
    lru_push(rs, c);
}

/* ---- caches */

static struct cache_entry *entry_at(const struct topic_cache *c, uint32_t i)
{
    return &c->ring[(c->head + i) & (c->cap - 1)];
}

static void drop_oldest(struct resumes *rs, struct topic_cache *c)
{
    struct cache_entry *e = entry_at(c, 0);
    size_t n = e->bytes;
    for (int k = 0; k < ENC_COUNT; k++)
        frame_unref(e->f[k]);
    c->head = (c->head + 1) & (c->cap - 1);
    c->count--;
    c->first_seq++;
    c->bytes -= n;
    rs->cache_bytes -= n;
}

static void cache_free(struct resumes *rs, struct topic *t)
{
    struct topic_cache *c = t->cu->cache;
    if (!c)
        return;
    while (c->count)
        drop_oldest(rs, c);
    lru_unlink(rs, c);
    free(c->ring);
    free(c);
    topic_catchup(t)->cache = NULL;
}

/* A new, empty cache for t whose first entry will be first_seq. */
static struct topic_cache *cache_new(struct resumes *rs, struct topic *t, uint64_t first_seq,
                                     ev_tstamp now)
{
    cache_free(rs, t);
    struct topic_cache *c = xcalloc(1, sizeof *c);
    c->t = t;
    c->first_seq = first_seq;
    c->used = now;
    lru_push(rs, c);
    topic_catchup(t)->cache = c;
    return c;
}

/* Over the worker's budget: other caches go, least recently used first,
 * then c's oldest entries (one stays). */
static void keep_budget(struct resumes *rs, struct topic_cache *c)
{
    while (rs->cache_bytes > rs->cache_budget && rs->lru && rs->lru != c)
        cache_free(rs, rs->lru->t);
    while (rs->cache_bytes > rs->cache_budget && c->count > 1)
        drop_oldest(rs, c);
}

/* Appends message seq (must be the next one) to t's cache; drops the cache
 * if it is not. Keeps the per-topic and per-worker bounds. */
static void cache_append(struct resumes *rs, struct topic *t, uint64_t seq,
                         struct frame *const frames[ENC_COUNT])
{
    struct topic_cache *c = t->cu->cache;
    if (seq != c->first_seq + c->count) {
        cache_free(rs, t); /* a hole: it could not serve what it lacks */
        return;
    }
    if (c->count == c->cap) {
        if (c->cap == RESUME_CACHE_MAX) {
            drop_oldest(rs, c);
        } else {
            uint32_t ncap = c->cap ? c->cap * 2 : 16;
            struct cache_entry *ring = xmalloc(ncap * sizeof *ring);
            for (uint32_t i = 0; i < c->count; i++)
                ring[i] = *entry_at(c, i);
            free(c->ring);
            c->ring = ring;
            c->cap = ncap;
            c->head = 0;
        }
    }
    struct cache_entry *e = &c->ring[(c->head + c->count) & (c->cap - 1)];
    e->seq = seq;
    for (int k = 0; k < ENC_COUNT; k++)
        e->f[k] = frames[k] ? frame_ref(frames[k]) : NULL;
    c->count++;
    e->bytes = 0;
    recount(rs, c, e);
    keep_budget(rs, c);
}

/* 1 if t's cache can serve position since now. */
static int cache_serves(const struct topic *t, uint64_t since)
{
    const struct topic_cache *c = t->cu->cache;
    if (!c || t->cu->read_id || since > t->seq)
        return 0;
    if (c->count == 0)
        return since == t->seq && c->first_seq == t->seq + 1;
    return since + 1 >= c->first_seq && c->first_seq + c->count - 1 == t->seq;
}

/* ---- answering resumers */

/* Answers r (an ack saying whether it recovered) and makes it a member. */
static void finish(struct resumes *rs, struct topic_resumer *r, int recovered, const char *reason)
{
    struct topic *t = r->sub->t;
    if (recovered)
        rs->recovered++;
    else
        rs->not_recovered++;
    rs->ts->answer(rs->ts->ud, r->c, t, r->has_id, r->id, 0, recovered, reason);
    topic_join(r); /* frees r */
}

/* Serves r from its topic's cache (cache_serves said yes). */
static void serve_cached(struct resumes *rs, struct topic_resumer *r, ev_tstamp now)
{
    struct topic *t = r->sub->t;
    struct topic_cache *c = t->cu->cache;
    uint8_t enc = r->sub->enc;
    struct client *cl = r->c;
    uint64_t since = r->since;
    touch(rs, c, now);
    rs->served_cached++;
    rs->recovered++;
    rs->ts->answer(rs->ts->ud, cl, t, r->has_id, r->id, 0, 1, NULL);
    for (uint32_t i = 0; i < c->count; i++) {
        struct cache_entry *e = entry_at(c, i);
        if (e->seq > since && e->f[enc]) {
            rs->push(rs->ud, cl, e->f[enc]);
            recount(rs, c, e); /* the push may have built a twin */
        }
    }
    keep_budget(rs, c);
    topic_join(r);
}

static void mark_due(struct resumes *rs, struct topic *t)
{
    if (t->cu->due)
        return;
    topic_catchup(t)->due = 1;
    topic_catchup(t)->due_next = rs->due;
    rs->due = t;
}

/* Decides what r needs; r may be freed (it joined). */
static void evaluate(struct resumes *rs, struct topic_resumer *r, int linked, ev_tstamp now)
{
    struct topic *t = r->sub->t;
    if (t->add_id && linked) {
        r->state = TOPIC_RESUME_WAIT_POSITION; /* the hub's answer is on its way */
        return;
    }
    if (!topic_has_position(t)) {
        finish(rs, r, 0, linked ? "the hub gave no position for the topic" : "hub unavailable");
        return;
    }
    if (strcmp(r->epoch, t->epoch) != 0) {
        finish(rs, r, 0, "epoch changed: the topic's numbering restarted");
    } else if (r->since > t->seq) {
        finish(rs, r, 0, "position ahead of the topic");
    } else if (r->since == t->seq) {
        finish(rs, r, 1, NULL);
    } else if (cache_serves(t, r->since)) {
        serve_cached(rs, r, now);
    } else if (!linked) {
        finish(rs, r, 0, "hub unavailable");
    } else {
        r->state = TOPIC_RESUME_WAIT_READ;
        if (!t->cu->read_id)
            mark_due(rs, t);
    }
}

/* Evaluates every resumer of t in `state` (one pass: evaluating may free
 * records, and moves none to an earlier state). */
static void evaluate_all(struct resumes *rs, struct topic *t, int state, int linked, ev_tstamp now)
{
    struct topic_resumer *r = t->cu->resumers;
    while (r) {
        struct topic_resumer *next = r->next;
        if (r->state == state)
            evaluate(rs, r, linked, now);
        r = next;
    }
}

void resume_request(struct resumes *rs, struct topic_resumer *r, int linked, ev_tstamp now)
{
    evaluate(rs, r, linked, now);
}

void resume_positioned(struct resumes *rs, struct topic *t, ev_tstamp now)
{
    evaluate_all(rs, t, TOPIC_RESUME_WAIT_POSITION, 1, now);
}

struct topic *resume_next_read(struct resumes *rs, uint64_t *since, int64_t *id)
{
    while (rs->due) {
        struct topic *t = rs->due;
        rs->due = t->cu->due_next;
        topic_catchup(t)->due = 0;
        topic_catchup(t)->due_next = NULL;
        if (t->cu->read_id)
            continue; /* one read at a time; the rest wait for its end */
        int any = 0;
        uint64_t min = 0;
        for (struct topic_resumer *r = t->cu->resumers; r; r = r->next) {
            if (r->state != TOPIC_RESUME_WAIT_READ)
                continue;
            if (!any || r->since < min)
                min = r->since;
            any = 1;
        }
        if (!any)
            continue;
        for (struct topic_resumer *r = t->cu->resumers; r; r = r->next)
            if (r->state == TOPIC_RESUME_WAIT_READ)
                r->state = TOPIC_RESUME_IN_READ;
        topic_catchup(t)->read_id = ++rs->next_read_id;
        topic_catchup(t)->read_since = min;
        topic_catchup(t)->read_end = 0;
        topic_catchup(t)->reading = 0;
        rs->reads++;
        *since = min;
        *id = t->cu->read_id;
        return t;
    }
    return NULL;
}

/* The read of t is over: its resumers join (joined: they got the replay)
 * or are answered; the others are evaluated again. */
static void read_done(struct resumes *rs, struct topic *t, int joined, const char *reason,
                      ev_tstamp now)
{
    struct topic_resumer *r = t->cu->resumers;
    while (r) {
        struct topic_resumer *next = r->next;
        if (r->state == TOPIC_RESUME_IN_READ) {
            if (joined)
                topic_join(r);
            else
                finish(rs, r, 0, reason);
        }
        r = next;
    }
    topic_catchup(t)->read_id = 0;
    topic_catchup(t)->reading = 0;
    evaluate_all(rs, t, TOPIC_RESUME_WAIT_READ, 1, now);
}

void resume_read_result(struct resumes *rs, struct topic *t, int64_t id, int code, int recovered,
                        uint64_t seq, const char *reason, ev_tstamp now)
{
    if (!id || id != t->cu->read_id || t->cu->reading)
        return; /* not the read in progress */
    if (code || !recovered) {
        read_done(rs, t, 0, reason && *reason ? reason : "not recovered", now);
        return;
    }
    /* Acked now; the replay follows, then live messages (the hub sends them
     * in that order). The replay becomes the topic's cache. */
    for (struct topic_resumer *r = t->cu->resumers; r; r = r->next) {
        if (r->state == TOPIC_RESUME_IN_READ) {
            rs->recovered++;
            rs->ts->answer(rs->ts->ud, r->c, t, r->has_id, r->id, 0, 1, NULL);
        }
    }
    cache_new(rs, t, t->cu->read_since + 1, now);
    topic_catchup(t)->read_end = seq;
    topic_catchup(t)->reading = 1;
    if (seq <= t->cu->read_since)
        read_done(rs, t, 1, NULL, now);
}

void resume_replayed(struct resumes *rs, struct topic *t, int64_t id, uint64_t seq,
                     struct frame *const frames[ENC_COUNT], ev_tstamp now)
{
    if (!id || id != t->cu->read_id || !t->cu->reading)
        return;
    if (t->cu->cache)
        cache_append(rs, t, seq, frames);
    for (struct topic_resumer *r = t->cu->resumers; r; r = r->next)
        if (r->state == TOPIC_RESUME_IN_READ && r->since < seq && frames[r->sub->enc])
            rs->push(rs->ud, r->c, frames[r->sub->enc]);
    struct topic_cache *c = t->cu->cache;
    if (c && c->count && entry_at(c, c->count - 1)->seq == seq) {
        recount(rs, c, entry_at(c, c->count - 1)); /* twins the pushes built */
        keep_budget(rs, c);
    }
    if (seq < t->cu->read_end)
        return;
    /* The members are at read_end: the hub sent the live messages up to it
     * before the result. If they are not, the cache has a hole. */
    if (t->seq != t->cu->read_end)
        cache_free(rs, t);
    read_done(rs, t, 1, NULL, now);
}

void resume_delivered(struct resumes *rs, struct topic *t, uint64_t seq,
                      struct frame *const frames[ENC_COUNT])
{
    if (t->cu->cache && !t->cu->reading)
        cache_append(rs, t, seq, frames);
}

void resume_topic_moved(struct resumes *rs, struct topic *t)
{
    cache_free(rs, t);
}

static void link_down_one(void *ud, struct topic *t)
{
    struct resumes *rs = ud;
    if (!topic_has_catchup(t))
        return; /* nothing was ever resumed here */
    if (t->cu->reading)
        cache_free(rs, t); /* half filled */
    topic_catchup(t)->read_id = 0;
    topic_catchup(t)->reading = 0;
    topic_catchup(t)->due = 0;
    topic_catchup(t)->due_next = NULL;
    struct topic_resumer *r = t->cu->resumers;
    while (r) {
        struct topic_resumer *next = r->next;
        finish(rs, r, 0, "hub unavailable");
        r = next;
    }
}

void resume_link_down(struct resumes *rs)
{
    rs->due = NULL;
    topic_foreach(rs->ts, link_down_one, rs);
}

void resume_sweep(struct resumes *rs, ev_tstamp now)
{
    while (rs->lru && now - rs->lru->used > RESUME_CACHE_IDLE_S && !rs->lru->t->cu->reading)
        cache_free(rs, rs->lru->t);
}

/* The topic table's hook: t goes. */
static void release(void *ud, struct topic *t)
{
    struct resumes *rs = ud;
    cache_free(rs, t);
    if (t->cu->due) {
        for (struct topic **pp = &rs->due; *pp; pp = &(*pp)->cu->due_next) {
            if (*pp == t) {
                *pp = t->cu->due_next;
                break;
            }
        }
        topic_catchup(t)->due = 0;
    }
}

void resumes_init(struct resumes *rs, struct topics *ts, resume_push_fn push, void *ud,
                  size_t cache_budget)
{
    memset(rs, 0, sizeof *rs);
    rs->ts = ts;
    rs->push = push;
    rs->ud = ud;
    rs->cache_budget = cache_budget;
    ts->release = release;
    ts->release_ud = rs;
}

void resumes_deinit(struct resumes *rs)
{
    while (rs->lru)
        cache_free(rs, rs->lru->t);
    rs->due = NULL;
}
