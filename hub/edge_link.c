/* One edge link on the hub, the calls every part of the module makes on
 * it: queueing output (the end-of-turn flush in edge_link_loop.c writes
 * it), the fan-out's way onto a link, refusing, all teardown in one place,
 * and finding the open link that holds a connection id. Nothing here calls
 * into the module's other files: they build on this (see
 * edge_link_internal.h for the states and lists). */
#include "hub/edge_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/connid.h"
#include "common/link.h"
#include "common/linkio.h"
#include "hub/cluster.h"
#include "hub/directs.h"
#include "hub/edge_link_internal.h"
#include "hub/engine.h"
#include "hub/interest.h"
#include "hub/publog.h"
#include "hub/registry.h"

const char *edge_link__printable(const struct link_str *s, char *out, size_t cap)
{
    size_t n = s->len < cap - 1 ? s->len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[n] = '\0';
    return out;
}

/* ---- the hub's lists ------------------------------------------------------ */

static void list_remove(struct hub *h, struct edge_link *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        h->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        h->links_tail = l->prev;
    l->prev = l->next = NULL;
}

static void backlog_remove(struct hub *h, struct edge_link *l)
{
    for (struct edge_link **pp = &h->backlogged; *pp; pp = &(*pp)->backlog_next) {
        if (*pp == l) {
            *pp = l->backlog_next;
            break;
        }
    }
    l->backlog_next = NULL;
    l->backlogged = 0;
}

void edge_link__awaiting_add(struct edge_link *l)
{
    struct hub *h = l->hub;
    l->aprev = h->awaiting_tail;
    if (h->awaiting_tail)
        h->awaiting_tail->anext = l;
    else
        h->awaiting = l;
    h->awaiting_tail = l;
    h->nlinks_pending++;
}

void edge_link__stop_awaiting(struct edge_link *l)
{
    struct hub *h = l->hub;
    ev_timer_stop(h->loop, &l->hello_timer);
    if (l->aprev)
        l->aprev->anext = l->anext;
    else
        h->awaiting = l->anext;
    if (l->anext)
        l->anext->aprev = l->aprev;
    else
        h->awaiting_tail = l->aprev;
    l->aprev = l->anext = NULL;
    h->nlinks_pending--;
}

/* ---- output ---------------------------------------------------------------- */

static void out_send(void *owner, const uint8_t *msg, size_t len, void *ud)
{
    struct edge_link *dst = owner;
    if (linkio_send_encoded(&dst->io, msg, len) < 0) {
        edge_link__fail_later(dst, dst->io.err);
        return;
    }
    edge_link__mark_dirty(dst);
    dst->messages_out++;
    dst->hub->stats.messages_out++;
}

static void out_overflow(void *owner, void *ud)
{
    edge_link__fail_later(owner, "congested: more than link_max_pending bytes of live messages "
                                 "held back behind its replays");
}

struct interest_out edge_link__out(struct hub *h)
{
    return (struct interest_out){.send = out_send,
                                 .overflow = out_overflow,
                                 .ud = h,
                                 .max_held = (size_t)h->cfg.link_max_pending};
}

void edge_link__mark_dirty(struct edge_link *l)
{
    if (l->dirty || l->state == EDGE_LINK_CLOSED)
        return;
    l->dirty = 1;
    l->dirty_next = l->hub->dirty;
    l->hub->dirty = l;
}

void edge_link__fail_later(struct edge_link *l, const char *why)
{
    if (!l->fail[0])
        snprintf(l->fail, sizeof l->fail, "%s", why[0] ? why : "send failed");
    edge_link__mark_dirty(l);
}

int edge_link__send(struct edge_link *l, const struct link_msg *m)
{
    if (linkio_send(&l->io, m) < 0) {
        edge_link__fail_later(l, l->io.err);
        return -1;
    }
    edge_link__mark_dirty(l);
    return 0;
}

/* Sends LINK_ERROR and writes it at once, best effort: we are about to close,
 * and the edge logs the reason if the bytes make it. */
void edge_link__goodbye(struct edge_link *l, uint32_t code, const char *reason)
{
    struct link_msg m = {.type = LINK_ERROR, .code = code, .reason = link_str_c(reason)};
    if (linkio_send(&l->io, &m) == 0 && linkio_flush(&l->io) == 0)
        (void)linkio_write(&l->io, l->fd);
}

int edge_link__refuse(struct edge_link *l, uint32_t code, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    edge_link__goodbye(l, code, why);
    edge_link__close(l, LOG_WARN, "dropped: %s", why);
    return LINK_GONE;
}

/* ---- finding a connection's link, and teardown ----------------------------- */

/* The open link holding connection `id`, or NULL: the (name, worker)
 * registry entry, and only if its boot matches, so ids of a restarted edge
 * worker do not reach its successor's connections. */
struct edge_link *edge_link__find_conn(struct hub *h, const struct connid *id)
{
    return edge_link__find_worker(h, id->name, id->name_len, id->worker, id->boot);
}

struct edge_link *edge_link__find_worker(struct hub *h, const char *name, size_t len,
                                         uint32_t worker, uint64_t boot)
{
    struct edge_link *t = registry_find(h->registry, name, len, worker);
    return t && t->boot == boot && t->state == EDGE_LINK_OPEN ? t : NULL;
}

int edge_link__owns_conn(struct edge_link *l, const struct link_str *id)
{
    /* A worker's publishes mostly come from a few connections in a row:
     * the last id accepted is remembered, and the same bytes give the same
     * answer without parsing them again (a memcmp instead of ~40 ns). */
    if (id->len && id->len == l->owned_len && memcmp(id->ptr, l->owned, id->len) == 0)
        return 1;
    struct connid c;
    struct connid mine = {.name = l->name,
                          .name_len = strlen(l->name),
                          .worker = l->worker,
                          .boot = (uint32_t)l->boot};
    if (connid_parse(id->ptr, id->len, &c) != 0 || !connid_same_worker(&c, &mine))
        return 0;
    if (id->len <= sizeof l->owned) {
        memcpy(l->owned, id->ptr, id->len);
        l->owned_len = id->len;
    }
    return 1;
}

/* An honest edge never speaks for another's connection: this one is
 * compromised or broken. */
int edge_link__refuse_forged(struct edge_link *l, const char *what, const struct link_str *from)
{
    char who[LINK_MAX_CONN_ID + 1];
    l->hub->stats.links_refused_hostile++;
    return edge_link__refuse(l, 403,
                             "%s from connection '%s', which is not one of this link's "
                             "(%s/%u): refused",
                             what, edge_link__printable(from, who, sizeof who), l->name, l->worker);
}

/* The same for an id as it came in a message: NULL if it does not parse. */
struct edge_link *edge_link__find_conn_str(struct hub *h, const struct link_str *id)
{
    struct connid c;
    return connid_parse(id->ptr, id->len, &c) == 0 ? edge_link__find_conn(h, &c) : NULL;
}

/* A direct's target link went away before answering: its sender gets 503
 * now rather than waiting for its edge's deadline. */
static void answer_gone(const char *from, size_t from_len, int64_t id, uint64_t origin, void *ud)
{
    struct hub *h = ud;
    struct link_str to = {from, (uint32_t)from_len};
    if (origin) {
        /* Relayed here by another hub: the answer goes back there. */
        if (h->cluster)
            cluster_answer(h->cluster, origin, to, id, 503,
                           "the target's edge went away before answering");
        return;
    }
    struct edge_link *src = edge_link__find_conn_str(h, &to);
    if (!src)
        return;
    struct link_msg r = {.type = LINK_DIRECT_RESULT,
                         .to = to,
                         .has_id = 1,
                         .id = id,
                         .code = 503,
                         .reason = link_str_c("the target's edge went away before answering")};
    if (edge_link__send(src, &r) == 0)
        src->results_out++;
}

/* A topic lost its last interested link with l: the engine hears it, unless
 * it refused the topic in the first place (it then holds no interest). */
static void interest_gone(struct link_str topic, void *ud)
{
    struct hub *h = ud;
    struct interest_topic *t = interest_find(h->interest, topic);
    if (t && t->state != INTEREST_REFUSED && t->state != INTEREST_UNAVAILABLE)
        engine_interest_remove(h->engine, topic);
}

/* Replays of l: those still queued go; those the engine was asked for stay
 * until it answers, without their link. */
static void drop_replays(struct edge_link *l)
{
    struct replay *r;
    while ((r = l->rq_head)) {
        l->rq_head = r->next;
        free(r);
    }
    l->rq_tail = NULL;
    for (r = l->asked; r; r = r->next)
        r->link = NULL;
    l->asked = NULL;
    l->nasked = l->nreads = l->nresumes = 0;
    if (l->replay_listed) {
        for (struct edge_link **pp = &l->hub->replaying; *pp; pp = &(*pp)->replay_next) {
            if (*pp == l) {
                *pp = l->replay_next;
                break;
            }
        }
        l->replay_listed = 0;
    }
}

/* Stops the watcher, closes the fd, forgets the link's interest, registry
 * entry and replays, retires its publish record, and queues the memory for
 * the end of the turn. */
void edge_link__close(struct edge_link *l, enum log_level level, const char *fmt, ...)
{
    struct hub *h = l->hub;
    if (l->state == EDGE_LINK_CLOSED)
        return;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_write(level, "%s link %s", l->label, why);

    ev_io_stop(h->loop, &l->w);
    close(l->fd);
    l->fd = -1;
    drop_replays(l);
    interest_peer_free(h->interest, l->peer, interest_gone, h);
    l->peer = NULL;
    if (l->pubs) {
        /* By then the edge has given up on every publish of this link. */
        publog_detach(h->publog, l->pubs, l, ev_now(h->loop),
                      2.0 * (double)l->policy_sent.publish_timeout_ms / 1000.0);
        l->pubs = NULL;
    }
    if (l->state == EDGE_LINK_AWAIT_HELLO) {
        edge_link__stop_awaiting(l);
    } else {
        h->nlinks_open--;
        registry_remove(h->registry, l->name, strlen(l->name), l->worker, l);
        /* Directs this edge will never answer now: tell their senders. */
        directs_drop_target(h->directs, l->id, answer_gone, h);
        cluster_links_changed(h->cluster);
    }
    if (l->backlogged)
        backlog_remove(h, l);
    list_remove(h, l);
    l->state = EDGE_LINK_CLOSED;
    l->close_next = h->closing;
    h->closing = l;
    h->stats.links_closed++;
}
