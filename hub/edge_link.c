/* One edge link on the hub, the calls every part of the module makes on
 * it: queueing output (the end-of-turn flush in edge_link_loop.c writes
 * it), refusing, all teardown in one place, and finding the open link that
 * holds a connection id. Nothing here calls into the module's other files:
 * they build on this (see edge_link_internal.h for the states and lists). */
#include "hub/edge_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/connid.h"
#include "common/link.h"
#include "common/linkio.h"
#include "hub/directs.h"
#include "hub/edge_link_internal.h"
#include "hub/route.h"

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
    struct edge_link *t = route_link_find(h->route, id->name, id->name_len, id->worker);
    return t && t->boot == id->boot ? t : NULL;
}

/* The same for an id as it came in a message: NULL if it does not parse. */
struct edge_link *edge_link__find_conn_str(struct hub *h, const struct link_str *id)
{
    struct connid c;
    return connid_parse(id->ptr, id->len, &c) == 0 ? edge_link__find_conn(h, &c) : NULL;
}

/* A direct's target link went away before answering: its sender gets 503
 * now rather than waiting for its edge's deadline. */
static void answer_gone(const char *from, size_t from_len, int64_t id, void *ud)
{
    struct hub *h = ud;
    struct link_str to = {from, (uint32_t)from_len};
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

/* Stops the watcher, closes the fd, forgets routing state, and queues the
 * memory for the end of the turn. */
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
    route_link_gone(h->route, l->peer);
    l->peer = NULL;
    if (l->state == EDGE_LINK_AWAIT_HELLO) {
        edge_link__stop_awaiting(l);
    } else {
        h->nlinks_open--;
        /* Directs this edge will never answer now: tell their senders. */
        directs_drop_target(h->directs, l->id, answer_gone, h);
    }
    if (l->backlogged)
        backlog_remove(h, l);
    list_remove(h, l);
    l->state = EDGE_LINK_CLOSED;
    l->close_next = h->closing;
    h->closing = l;
    h->stats.links_closed++;
}
