/* The memory-deferred engine, for tests only (`engine = memory-deferred`):
 * a memory engine behind queues, so that the hub meets an engine whose
 * calls complete later, as one over the network would (engine.h, "The
 * rules of the asynchronous interface").
 *
 * Each step waits a loop turn and defer_ms (engine_opts; the hub uses 5
 * ms, so that calls from different links meet as they would at a remote
 * store): a call made in turn T is carried out on the memory engine a step
 * later, in turn M; its callback comes one step after M, and the live
 * messages it caused one or two steps after M, alternately from one
 * publish to the next, so that a history read sometimes completes after
 * the live copies of the messages it returns arrived and sometimes
 * before. Calls are carried out, and their callbacks delivered, in the
 * order they were made (rule 2), live messages in the order the memory
 * engine made them (rule 3). Everything is copied: the caller's pointers
 * are valid only during its call, the memory engine's only during its
 * callbacks. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/container.h"
#include "common/xalloc.h"
#include "hub/engine.h"

enum op_kind { OP_PUBLISH, OP_INTEREST_ADD, OP_INTEREST_REMOVE, OP_READ, OP_TOPICS };

/* A call, or its outcome, or a live message, waiting for later. Its
 * strings live in `copy`: a call's topic, from, user, data; a read's
 * messages; a listing's topic names. */
struct item {
    struct item *next;
    unsigned turn; /* the loop turn from which it is due... */
    double due;    /* ... and the time (ev_now) */
    enum op_kind kind;
    engine_pos_cb pos_cb;
    engine_read_cb read_cb;
    engine_list_cb list_cb;
    void *ctx;
    int status;
    struct engine_pos pos; /* publish, interest: the outcome; read: since or the outcome */
    int has_since;
    size_t max;            /* listing */
    struct engine_msg msg; /* a call's topic, from, user, data and enc; a live message */
    /* A read's outcome: why, first_seq and its messages (pointing into copy
     * once complete). A listing's: its total and topics. */
    enum engine_recovery why;
    uint64_t first_seq;
    struct engine_msg *msgs;
    struct engine_topic *topics;
    size_t n, total, at;
    struct buf copy;
};

struct queue {
    struct item *head, *tail;
};

struct deferred {
    struct engine base;
    struct engine *inner;
    struct ev_loop *loop;
    ev_check check;
    ev_idle idle;   /* defer_ms 0: keeps the loop from sleeping while anything waits */
    ev_timer timer; /* defer_ms > 0: wakes the loop when something is due */
    double step;    /* defer_ms, in seconds */
    engine_message_cb on_message;
    void *ud;
    struct queue calls, done, live;
    unsigned live_steps; /* steps the next publish's live messages wait: 1 or 2 */
};

static struct deferred *def_of(struct engine *e)
{
    return container_of(e, struct deferred, base);
}

/* Queues it, due `steps` steps from now. Dues never decrease along a
 * queue (a live message due sooner than the one before it waits for it),
 * so popping from the head keeps the order. */
static void push(struct deferred *d, struct queue *q, struct item *it, unsigned steps)
{
    it->turn = ev_iteration(d->loop) + steps;
    it->due = ev_now(d->loop) + steps * d->step;
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    if (!d->step && !ev_is_active(&d->idle))
        ev_idle_start(d->loop, &d->idle);
    if (d->step && !ev_is_active(&d->timer)) {
        ev_timer_set(&d->timer, d->step, 0.);
        ev_timer_start(d->loop, &d->timer);
    }
}

/* The head of q if it is due, taken off q; NULL if none. */
static struct item *pop_due(struct deferred *d, struct queue *q)
{
    struct item *it = q->head;
    if (!it || (int)(ev_iteration(d->loop) - it->turn) < 0 || ev_now(d->loop) < it->due)
        return NULL;
    q->head = it->next;
    if (!q->head)
        q->tail = NULL;
    return it;
}

static struct item *pop_any(struct queue *q)
{
    struct item *it = q->head;
    if (it && !(q->head = it->next))
        q->tail = NULL;
    return it;
}

static void item_free(struct item *it)
{
    buf_deinit(&it->copy);
    free(it->msgs);
    free(it->topics);
    free(it);
}

/* Copies s into it->copy and returns its offset there (pointers are made
 * once the copy stops growing: see fix_msg). */
static struct link_str stash(struct item *it, struct link_str s)
{
    size_t off = buf_readable(&it->copy);
    if (s.len)
        buf_append(&it->copy, s.ptr, s.len);
    return (struct link_str){(const char *)(uintptr_t)off, s.len};
}

static struct link_str unstash(const struct item *it, struct link_str s)
{
    return (struct link_str){(const char *)buf_head(&it->copy) + (uintptr_t)s.ptr, s.len};
}

static void stash_msg(struct item *it, struct engine_msg *dst, const struct engine_msg *m)
{
    *dst = *m;
    dst->cookie = NULL; /* the hub's pointer is good during the inner call only */
    dst->topic = stash(it, m->topic);
    dst->epoch = stash(it, m->epoch);
    dst->from = stash(it, m->from);
    dst->user = stash(it, m->user);
    dst->data = stash(it, m->data);
}

static void fix_msg(const struct item *it, struct engine_msg *m)
{
    m->topic = unstash(it, m->topic);
    m->epoch = unstash(it, m->epoch);
    m->from = unstash(it, m->from);
    m->user = unstash(it, m->user);
    m->data = unstash(it, m->data);
}

static struct item *item_new(enum op_kind kind, void *ctx)
{
    struct item *it = xcalloc(1, sizeof *it);
    it->kind = kind;
    it->ctx = ctx;
    buf_init(&it->copy);
    return it;
}

/* ---- outcomes of the memory engine, copied for a later turn --------------------- */

static void on_inner_message(void *ud, const struct engine_msg *m)
{
    struct deferred *d = ud;
    struct item *it = item_new(OP_PUBLISH, NULL);
    stash_msg(it, &it->msg, m);
    fix_msg(it, &it->msg);
    push(d, &d->live, it, d->live_steps);
}

static void on_inner_pos(void *ctx, int status, const struct engine_pos *pos)
{
    struct item *it = ctx;
    it->status = status;
    if (pos)
        it->pos = *pos;
}

static void on_inner_read(void *ctx, struct engine_read *r)
{
    struct item *it = ctx;
    it->status = r->status;
    it->pos = r->pos;
    it->why = r->why;
    it->first_seq = r->first_seq;
    /* Appended after the call's own topic; the pointers are made once the
     * copy stops growing. */
    struct engine_msg m;
    size_t cap = 0;
    while (r->next(r, &m)) {
        if (it->n == cap) {
            cap = cap ? cap * 2 : 8;
            it->msgs = xrealloc(it->msgs, cap * sizeof *it->msgs);
        }
        stash_msg(it, &it->msgs[it->n++], &m);
    }
    for (size_t i = 0; i < it->n; i++)
        fix_msg(it, &it->msgs[i]);
}

static void on_inner_list(void *ctx, struct engine_list *l)
{
    struct item *it = ctx;
    it->status = l->status;
    it->total = l->total;
    struct engine_topic t;
    size_t cap = 0;
    while (l->next(l, &t)) {
        if (it->n == cap) {
            cap = cap ? cap * 2 : 8;
            it->topics = xrealloc(it->topics, cap * sizeof *it->topics);
        }
        t.topic = stash(it, t.topic);
        it->topics[it->n++] = t;
    }
    for (size_t i = 0; i < it->n; i++)
        it->topics[i].topic = unstash(it, it->topics[i].topic);
}

/* ---- a later turn: carry calls out, deliver outcomes ------------------------------- */

static void execute(struct deferred *d, struct item *it)
{
    struct engine_msg *m = &it->msg;
    switch (it->kind) {
    case OP_PUBLISH: {
        struct engine_pub p = {m->topic, m->from, m->user, m->data, m->enc};
        engine_publish(d->inner, &p, on_inner_pos, it);
        d->live_steps = d->live_steps == 1 ? 2 : 1;
        break;
    }
    case OP_INTEREST_ADD: engine_interest_add(d->inner, m->topic, on_inner_pos, it); break;
    case OP_INTEREST_REMOVE: engine_interest_remove(d->inner, m->topic); break;
    case OP_READ:
        engine_history_read(d->inner, m->topic, it->has_since ? &it->pos : NULL, on_inner_read, it);
        break;
    case OP_TOPICS: engine_topics(d->inner, it->max, on_inner_list, it); break;
    }
    if (it->kind == OP_INTEREST_REMOVE || (it->kind == OP_PUBLISH && !it->pos_cb)) {
        item_free(it); /* nobody waits for these */
        return;
    }
    push(d, &d->done, it, 1);
}

static int read_next(struct engine_read *r, struct engine_msg *m)
{
    struct item *it = r->impl[0];
    if (it->at >= it->n)
        return 0;
    *m = it->msgs[it->at++];
    return 1;
}

static int list_next(struct engine_list *l, struct engine_topic *t)
{
    struct item *it = l->impl[0];
    if (it->at >= it->n)
        return 0;
    *t = it->topics[it->at++];
    return 1;
}

/* Tells the caller; with gone, only that the engine is going. */
static void complete(struct item *it, int gone)
{
    int status = gone ? ENGINE_GONE : it->status;
    switch (it->kind) {
    case OP_PUBLISH:
    case OP_INTEREST_ADD:
        if (it->pos_cb)
            it->pos_cb(it->ctx, status, status == ENGINE_OK ? &it->pos : NULL);
        break;
    case OP_READ: {
        struct engine_read r = {.status = status,
                                .pos = it->pos,
                                .why = it->why,
                                .first_seq = it->first_seq,
                                .next = read_next};
        if (gone) {
            it->n = 0;
            r.why = ENGINE_NO_TOPIC;
        }
        r.impl[0] = it;
        it->read_cb(it->ctx, &r);
        break;
    }
    case OP_TOPICS: {
        struct engine_list l = {.status = status, .total = it->total, .next = list_next};
        if (gone)
            it->n = 0;
        l.impl[0] = it;
        it->list_cb(it->ctx, &l);
        break;
    }
    case OP_INTEREST_REMOVE: break;
    }
    item_free(it);
}

/* Every loop turn, after the poll: delivers and carries out what is due
 * (live messages first, then callbacks, then calls). */
static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    struct deferred *d = w->data;
    struct item *it;
    while ((it = pop_due(d, &d->live))) {
        if (d->on_message)
            d->on_message(d->ud, &it->msg);
        item_free(it);
    }
    while ((it = pop_due(d, &d->done)))
        complete(it, 0);
    while ((it = pop_due(d, &d->calls)))
        execute(d, it);
    int waiting = d->calls.head || d->done.head || d->live.head;
    if (!waiting)
        ev_idle_stop(loop, &d->idle);
    if (waiting && d->step && !ev_is_active(&d->timer)) {
        ev_timer_set(&d->timer, d->step, 0.);
        ev_timer_start(loop, &d->timer);
    }
}

/* Nothing to do in these two: the loop turned, and on_check looks at what
 * is due. */
static void on_idle(struct ev_loop *loop, ev_idle *w, int revents) {}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {}

/* ---- the interface: queue the call -------------------------------------------------- */

static struct item *call(struct deferred *d, enum op_kind kind, struct link_str topic, void *ctx)
{
    struct item *it = item_new(kind, ctx);
    it->msg.topic = stash(it, topic);
    return it;
}

static void queue_call(struct deferred *d, struct item *it)
{
    fix_msg(it, &it->msg);
    push(d, &d->calls, it, 1);
}

static void def_publish(struct engine *e, const struct engine_pub *p, engine_pos_cb cb, void *ctx)
{
    struct deferred *d = def_of(e);
    struct item *it = call(d, OP_PUBLISH, p->topic, ctx);
    it->msg.from = stash(it, p->from);
    it->msg.user = stash(it, p->user);
    it->msg.data = stash(it, p->data);
    it->msg.enc = p->enc;
    it->pos_cb = cb;
    queue_call(d, it);
}

static void def_interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx)
{
    struct deferred *d = def_of(e);
    struct item *it = call(d, OP_INTEREST_ADD, topic, ctx);
    it->pos_cb = cb;
    queue_call(d, it);
}

static void def_interest_remove(struct engine *e, struct link_str topic)
{
    struct deferred *d = def_of(e);
    queue_call(d, call(d, OP_INTEREST_REMOVE, topic, NULL));
}

static void def_history_read(struct engine *e, struct link_str topic,
                             const struct engine_pos *since, engine_read_cb cb, void *ctx)
{
    struct deferred *d = def_of(e);
    struct item *it = call(d, OP_READ, topic, ctx);
    if (since) {
        it->pos = *since;
        it->has_since = 1;
    }
    it->read_cb = cb;
    queue_call(d, it);
}

static void def_topics(struct engine *e, size_t max, engine_list_cb cb, void *ctx)
{
    struct deferred *d = def_of(e);
    struct item *it = call(d, OP_TOPICS, (struct link_str){"", 0}, ctx);
    it->max = max;
    it->list_cb = cb;
    queue_call(d, it);
}

static void def_stats(struct engine *e, struct engine_stats *s)
{
    engine_stats(def_of(e)->inner, s);
}

static void def_set_rules(struct engine *e, struct history_rules *rules)
{
    engine_set_rules(def_of(e)->inner, rules);
}

static void def_free(struct engine *e)
{
    struct deferred *d = def_of(e);
    struct item *it;
    ev_check_stop(d->loop, &d->check);
    ev_idle_stop(d->loop, &d->idle);
    ev_timer_stop(d->loop, &d->timer);
    /* Rule 6: every pending callback hears ENGINE_GONE. */
    while ((it = pop_any(&d->done)))
        complete(it, 1);
    while ((it = pop_any(&d->calls))) {
        if (it->kind == OP_INTEREST_REMOVE || (it->kind == OP_PUBLISH && !it->pos_cb))
            item_free(it);
        else
            complete(it, 1);
    }
    while ((it = pop_any(&d->live)))
        item_free(it);
    engine_free(d->inner);
    free(d);
}

static const struct engine_ops deferred_ops = {
    .publish = def_publish,
    .interest_add = def_interest_add,
    .interest_remove = def_interest_remove,
    .history_read = def_history_read,
    .topics = def_topics,
    .stats = def_stats,
    .set_rules = def_set_rules,
    .free = def_free,
};

struct engine *engine_deferred_new(const struct engine_opts *o)
{
    struct deferred *d = xcalloc(1, sizeof *d);
    d->base.ops = &deferred_ops;
    d->loop = o->loop;
    d->on_message = o->on_message;
    d->ud = o->ud;
    struct engine_opts inner = *o;
    inner.on_message = on_inner_message;
    inner.ud = d;
    d->inner = engine_memory_new(&inner);
    ev_check_init(&d->check, on_check);
    d->check.data = d;
    ev_check_start(d->loop, &d->check);
    ev_idle_init(&d->idle, on_idle);
    ev_init(&d->timer, on_timer);
    d->step = o->defer_ms / 1000.0;
    d->live_steps = 1;
    return &d->base;
}
