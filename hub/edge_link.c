/* Accepted edge links on the hub: accept, HELLO, message handling, heartbeats
 * and the end-of-turn flush (see link.h).
 *
 * Life of a link: accept -> AWAIT_HELLO -> (HELLO) -> OPEN -> edge_link_close ->
 * CLOSED, then freed in the next end-of-turn prepare callback. edge_link_close is
 * the one place that tears down (watcher, fd, routing state) and the only
 * place the state becomes CLOSED; the memory outlives it until the end of
 * the loop turn so no callback in flight touches freed memory.
 *
 * Writing: message handlers only queue (linkio_send compresses into the
 * link's output buffer) and put the link on the hub's dirty list. One
 * ev_prepare callback per loop turn flushes each dirty link's zstd stream
 * once and writes once, so a burst of publishes in one turn leaves as one
 * zstd flush and usually one write() per link (LIBRARIES.md §3, §4).
 * EV_WRITE is watched only while output is left over after such a write. */
#include "hub/edge_link.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/connid.h"
#include "common/enc.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/msg.h"
#include "common/net.h"
#include "common/tls.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "hub/directs.h"
#include "hub/policy.h"
#include "hub/route.h"

/* Bytes worked off per link per loop turn, counted after decompression
 * (and at most this many read from the socket), before the loop moves on to
 * other links: a small compressed input that inflates to megabytes is
 * spread over several turns. The rest waits in the link's backlog. */
#define EDGE_LINK_READ_BUDGET (1024 * 1024)
/* Connections accepted per wake-up of the listener. */
#define EDGE_LINK_ACCEPT_BATCH 64
/* Room for a MESSAGE's fields beyond topic, from and data: msgpack headers
 * and the seq. A PUBLISH that leaves less than this below LINK_MAX_MESSAGE
 * could not be forwarded, because MESSAGE is a few bytes larger. */
#define EDGE_LINK_MESSAGE_OVERHEAD 64

enum edge_link_state { EDGE_LINK_AWAIT_HELLO, EDGE_LINK_OPEN, EDGE_LINK_CLOSED };

struct edge_link {
    struct hub *hub;
    struct edge_link *prev, *next; /* hub->links while not CLOSED */
    struct edge_link *dirty_next;  /* hub->dirty while dirty is set */
    struct edge_link *close_next;  /* hub->closing once CLOSED */
    struct edge_link *aprev, *anext; /* hub->awaiting while AWAIT_HELLO */
    struct edge_link *backlog_next; /* hub->backlogged while backlogged is set */
    int backlogged;
    ev_timer hello_timer;     /* AWAIT_HELLO: link_hello_timeout_ms */
    uint8_t src[16];          /* source address for the per-address cap: the IPv4 */
    uint8_t srclen;           /* address, or the /64 of an IPv6 one */
    enum edge_link_state state;
    int dirty;
    int writing;              /* EV_WRITE is part of the watched events */
    int fd;
    ev_io w;
    struct linkio io;
    struct route_peer *peer;  /* while OPEN */

    uint64_t id;
    char addr[64];
    char label[80];           /* "edge-a/1" after HELLO, the peer address before */
    char name[LINK_MAX_NAME + 1];
    char region[LINK_MAX_NAME + 1];
    char software[LINK_MAX_NAME + 1];
    uint32_t worker;
    uint64_t boot;
    uint32_t peer_heartbeat_ms; /* from its HELLO: silence is judged by the slower side */
    struct policy policy_sent;  /* the last POLICY sent on this link */
    struct link_stats stats;    /* the edge worker's last STATS */
    char public_url[256];       /* from its HELLO */
    ev_tstamp accepted_at;
    ev_tstamp last_rx;        /* last time any byte arrived */
    char fail[160];           /* set by edge_link_fail_later: dropped at the end of the turn */

    uint64_t publishes_in, messages_out, directs_in, directs_out;
    uint64_t results_in, results_out, interest_adds, interest_removes;
};

static int text_is_printable(const struct link_str *s)
{
    for (uint32_t i = 0; i < s->len; i++)
        if ((unsigned char)s->ptr[i] < 0x20 || (unsigned char)s->ptr[i] > 0x7e)
            return 0;
    return 1;
}

/* Copies a peer-supplied string for a log line: bytes outside printable
 * ASCII become '?', and it is cut to fit out. */
static const char *printable(const struct link_str *s, char *out, size_t cap)
{
    size_t n = s->len < cap - 1 ? s->len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->ptr[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[n] = '\0';
    return out;
}

static void copy_str(char *dst, size_t cap, const struct link_str *s)
{
    size_t n = s->len < cap - 1 ? s->len : cap - 1;
    memcpy(dst, s->ptr, n);
    dst[n] = '\0';
}

/* ---- teardown -------------------------------------------------------- */

static void edge_link_list_remove(struct hub *h, struct edge_link *l)
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

static void awaiting_remove(struct hub *h, struct edge_link *l)
{
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

static struct edge_link *edge_link_find_conn(struct hub *h, const struct connid *id);
static struct edge_link *edge_link_find_conn_str(struct hub *h, const struct link_str *id);
static int edge_link_send(struct edge_link *l, const struct link_msg *m);

/* A direct's target link went away before answering: its sender gets 503
 * now rather than waiting for its edge's deadline. */
static void answer_gone(const char *from, size_t from_len, int64_t id, void *ud)
{
    struct hub *h = ud;
    struct link_str to = {from, (uint32_t)from_len};
    struct edge_link *src = edge_link_find_conn_str(h, &to);
    if (!src)
        return;
    struct link_msg r = {.type = LINK_DIRECT_RESULT, .to = to, .has_id = 1, .id = id,
                         .code = 503,
                         .reason = link_str_c("the target's edge went away before answering")};
    if (edge_link_send(src, &r) == 0)
        src->results_out++;
}

/* All teardown: stop the watcher, close the fd, forget routing state, and
 * queue the memory for the end of the turn. Logs "<label> link <why>". */
static void edge_link_close(struct edge_link *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void edge_link_close(struct edge_link *l, enum log_level level, const char *fmt, ...)
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
        h->nlinks_pending--;
        awaiting_remove(h, l);
    } else {
        h->nlinks_open--;
        /* Directs this edge will never answer now: tell their senders. */
        directs_drop_target(h->directs, l->id, answer_gone, h);
    }
    if (l->backlogged)
        backlog_remove(h, l);
    edge_link_list_remove(h, l);
    l->state = EDGE_LINK_CLOSED;
    l->close_next = h->closing;
    h->closing = l;
    h->stats.links_closed++;
}

/* Frees the links closed during this turn. */
static void edge_link_reap(struct hub *h)
{
    struct edge_link *l;
    while ((l = h->closing)) {
        h->closing = l->close_next;
        linkio_deinit(&l->io);
        free(l);
    }
}

/* ---- output ------------------------------------------------------------ */

static void edge_link_mark_dirty(struct edge_link *l)
{
    if (l->dirty || l->state == EDGE_LINK_CLOSED)
        return;
    l->dirty = 1;
    l->dirty_next = l->hub->dirty;
    l->hub->dirty = l;
}

/* For failures found while handling another link's message (a fan-out
 * send, a forwarded direct): closing there could disturb the caller (the
 * routing walk in route_publish), so the link is dropped at the end of the
 * turn instead. */
static void edge_link_fail_later(struct edge_link *l, const char *why)
{
    if (!l->fail[0])
        snprintf(l->fail, sizeof l->fail, "%s", why[0] ? why : "send failed");
    edge_link_mark_dirty(l);
}

/* Queues m on l. Returns 0, or -1 (the link will be dropped at the end of
 * the turn). */
static int edge_link_send(struct edge_link *l, const struct link_msg *m)
{
    if (linkio_send(&l->io, m) < 0) {
        edge_link_fail_later(l, l->io.err);
        return -1;
    }
    edge_link_mark_dirty(l);
    return 0;
}

static void edge_link_want_write(struct edge_link *l, int on)
{
    if (l->writing == on)
        return;
    /* libev applies the change in its next fd_reify: no syscall unless the
     * net interest differs (LIBRARIES.md §3). */
    ev_io_stop(l->hub->loop, &l->w);
    ev_io_set(&l->w, l->fd, EV_READ | (on ? EV_WRITE : 0));
    ev_io_start(l->hub->loop, &l->w);
    l->writing = on;
}

/* Sends LINK_ERROR and writes it at once, best effort: we are about to close,
 * and the edge logs the reason if the bytes make it. */
static void edge_link_goodbye(struct edge_link *l, uint32_t code, const char *reason)
{
    struct link_msg m = {.type = LINK_ERROR, .code = code, .reason = link_str_c(reason)};
    if (linkio_send(&l->io, &m) == 0 && linkio_flush(&l->io) == 0)
        (void)linkio_write(&l->io, l->fd);
}

/* Refuses the link: LINK_ERROR {code, reason}, log, close. Returns LINK_GONE
 * for the message handler to pass back to linkio_read. */
static int edge_link_refuse(struct edge_link *l, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int edge_link_refuse(struct edge_link *l, uint32_t code, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    edge_link_goodbye(l, code, why);
    edge_link_close(l, LOG_WARN, "dropped: %s", why);
    return LINK_GONE;
}

/* Flushes and writes every dirty link once. Links dropped here (congested,
 * write error, deferred failure) are freed by edge_link_reap right after. */
static void edge_link_flush_dirty(struct hub *h)
{
    struct edge_link *l;
    while ((l = h->dirty)) {
        h->dirty = l->dirty_next;
        l->dirty_next = NULL;
        l->dirty = 0;
        if (l->state == EDGE_LINK_CLOSED)
            continue;
        if (l->fail[0]) {
            edge_link_close(l, LOG_WARN, "dropped: %s", l->fail);
            continue;
        }
        if (linkio_flush(&l->io) < 0) {
            edge_link_close(l, LOG_WARN, "dropped: %s", l->io.err);
            continue;
        }
        int rc = linkio_write(&l->io, l->fd);
        if (rc < 0) {
            edge_link_close(l, LOG_WARN, "dropped: %s", l->io.err);
            continue;
        }
        size_t pending = linkio_pending(&l->io);
        if (pending > (size_t)h->cfg.link_max_pending) {
            edge_link_close(l, LOG_WARN, "dropped: congested: %zu bytes pending", pending);
            continue;
        }
        edge_link_want_write(l, rc == 1);
    }
}

static void edge_link_read(struct edge_link *l);

/* Works off one budget of each backlogged link's input (see
 * EDGE_LINK_READ_BUDGET); a link still behind afterwards stays on the list. */
static void edge_link_work_backlog(struct hub *h)
{
    struct edge_link *list = h->backlogged;
    h->backlogged = NULL;
    /* Off the list first, all of them: handling one link's messages may
     * close another one further down (edge_link_close then leaves the chain
     * alone), and a link that stays behind re-enters h->backlogged. */
    for (struct edge_link *l = list; l; l = l->backlog_next)
        l->backlogged = 0;
    while (list) {
        struct edge_link *l = list;
        list = l->backlog_next;
        l->backlog_next = NULL;
        edge_link_read(l); /* skips a closed link */
    }
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct hub *h = w->data;
    edge_link_work_backlog(h);
    edge_link_flush_dirty(h);
    edge_link_reap(h);
    /* Input already read does not wake epoll: while some waits, the loop
     * must not block (an active idle watcher makes the poll return at once). */
    if (h->backlogged && !ev_is_active(&h->backlog_idle))
        ev_idle_start(loop, &h->backlog_idle);
    else if (!h->backlogged && ev_is_active(&h->backlog_idle))
        ev_idle_stop(loop, &h->backlog_idle);
}

static void on_backlog_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    /* Nothing to do here: the prepare watcher works the backlog off. */
}

/* ---- message handlers ---------------------------------------------------- */

/* The open link holding connection `id`, or NULL: the (name, worker)
 * registry entry, and only if its boot matches, so ids of a restarted edge
 * worker do not reach its successor's connections. */
static struct edge_link *edge_link_find_conn(struct hub *h, const struct connid *id)
{
    struct edge_link *t = route_link_find(h->route, id->name, id->name_len, id->worker);
    return t && t->boot == id->boot ? t : NULL;
}

/* The same for an id as it came in a message: NULL if it does not parse. */
static struct edge_link *edge_link_find_conn_str(struct hub *h, const struct link_str *id)
{
    struct connid c;
    return connid_parse(id->ptr, id->len, &c) == 0 ? edge_link_find_conn(h, &c) : NULL;
}

static int edge_link_on_hello(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    int name_ok = connid_name_is_valid(m->name.ptr, m->name.len);
    if (name_ok && m->worker < CONNID_WORKER_LIMIT)
        snprintf(l->label, sizeof l->label, "%.*s/%u", (int)m->name.len, m->name.ptr, m->worker);

    if (m->version != LINK_PROTOCOL_VERSION)
        return edge_link_refuse(l, 426, "unsupported link protocol version %u; this hub speaks %d",
                           m->version, LINK_PROTOCOL_VERSION);
    if (!name_ok)
        return edge_link_refuse(l, 400, "invalid edge name (1..%d bytes of A-Z a-z 0-9 . _ -)",
                           LINK_MAX_NAME);
    if (m->worker >= CONNID_WORKER_LIMIT)
        return edge_link_refuse(l, 400, "invalid worker %u (must be below %d)", m->worker,
                           CONNID_WORKER_LIMIT);
    /* Its connection ids carry the boot as 8 hex digits: a wider one could
     * never match a sender of this link (common/connid.h). */
    if (m->boot > UINT32_MAX)
        return edge_link_refuse(l, 400, "invalid boot %llx (must fit in 32 bits)",
                           (unsigned long long)m->boot);
    if (!text_is_printable(&m->region) || !text_is_printable(&m->software) ||
        !text_is_printable(&m->public_url))
        return edge_link_refuse(l, 400, "region, software and public_url must be printable ASCII");
    if (l->io.ssl) {
        /* With TLS an edge is who its certificate says: a HELLO naming
         * another edge would let one compromised edge take over another's
         * connections and topics. */
        char name[LINK_MAX_NAME + 1];
        copy_str(name, sizeof name, &m->name);
        if (!tls_peer_is(l->io.ssl, name)) {
            char who[300];
            return edge_link_refuse(l, 403, "edge name '%s' is not in this link's certificate (%s)",
                               name, tls_peer_describe(l->io.ssl, who, sizeof who));
        }
    }

    /* An edge worker reconnecting after network trouble may arrive before
     * we noticed its old link is dead: the newer link wins. */
    struct edge_link *old = route_link_find(h->route, m->name.ptr, m->name.len, m->worker);
    if (old)
        edge_link_close(old, LOG_INFO, "replaced by a new link from %s", l->addr);

    copy_str(l->name, sizeof l->name, &m->name);
    copy_str(l->region, sizeof l->region, &m->region);
    copy_str(l->software, sizeof l->software, &m->software);
    l->worker = m->worker;
    l->boot = m->boot;
    l->peer_heartbeat_ms = m->heartbeat_ms;
    copy_str(l->public_url, sizeof l->public_url, &m->public_url);
    l->peer = route_link_register(h->route, m->name.ptr, m->name.len, m->worker, l);
    awaiting_remove(h, l);
    l->state = EDGE_LINK_OPEN;
    h->nlinks_pending--;
    h->nlinks_open++;

    struct link_msg hello = {
        .type = LINK_HELLO,
        .version = LINK_PROTOCOL_VERSION,
        .name = link_str_c(h->cfg.name),
        .region = link_str_c(""),
        .worker = 0,
        .software = link_str_c(SPOKE_VERSION),
        .boot = h->boot,
        .heartbeat_ms = (uint32_t)h->cfg.heartbeat_ms,
    };
    if (linkio_send(&l->io, &hello) < 0)
        return edge_link_refuse(l, 500, "cannot send hello: %s", l->io.err);
    /* The edge accepts no client before it has a policy: send it with the
     * HELLO, in the same flush. */
    struct link_msg pol = {.type = LINK_POLICY};
    hub_policy_effective(h, l->name, strlen(l->name), &pol.policy);
    if (linkio_send(&l->io, &pol) < 0)
        return edge_link_refuse(l, 500, "cannot send policy: %s", l->io.err);
    l->policy_sent = pol.policy;
    edge_link_mark_dirty(l);
    log_info("%s (region %s, version %s) linked from %s", l->label,
             l->region[0] ? l->region : "-", l->software[0] ? l->software : "-", l->addr);
    return 0;
}

/* 1 if connection id `id` belongs to this link's edge worker (its name,
 * worker and boot): the only senders an edge may speak for. */
static int edge_link_owns_conn(const struct edge_link *l, const struct link_str *id)
{
    struct connid c;
    struct connid mine = {.name = l->name, .name_len = strlen(l->name), .worker = l->worker,
                          .boot = (uint32_t)l->boot};
    return connid_parse(id->ptr, id->len, &c) == 0 && connid_same_worker(&c, &mine);
}

/* Drops a link that spoke for a connection of another edge worker: an
 * honest edge never does, so this one is compromised or broken. */
static int edge_link_refuse_forged(struct edge_link *l, const char *what, const struct link_str *from)
{
    char who[LINK_MAX_CONN_ID + 1];
    l->hub->stats.links_refused_hostile++;
    return edge_link_refuse(l, 403, "%s from connection '%s', which is not one of this link's "
                               "(%s/%u): refused",
                       what, printable(from, who, sizeof who), l->name, l->worker);
}

static int edge_link_interest_result(struct edge_link *l, const struct link_msg *m, uint32_t code,
                                const char *reason)
{
    struct link_msg r = {.type = LINK_INTEREST_RESULT, .topic = m->topic, .id = m->id,
                         .code = code, .reason = link_str_c(reason)};
    edge_link_send(l, &r);
    return 0;
}

static int edge_link_on_interest(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    int add = m->type == LINK_INTEREST_ADD;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link_refuse(l, 400, "invalid topic in %s", link_type_name(m->type));
    if (!add) {
        l->interest_removes++;
        route_interest_remove(h->route, l->peer, m->topic.ptr, m->topic.len);
        return 0;
    }
    l->interest_adds++;
    /* One interest refused, never the link: dropping it would make the edge
     * re-send everything on reconnect and be dropped again. */
    if (route_peer_topics(l->peer) >= (size_t)h->cfg.link_max_topics &&
        !route_peer_has(l->peer, m->topic.ptr, m->topic.len)) {
        h->stats.interest_refused_link++;
        char reason[96];
        snprintf(reason, sizeof reason, "this edge worker holds link_max_topics (%ld) topics",
                 h->cfg.link_max_topics);
        return edge_link_interest_result(l, m, 429, reason);
    }
    if (route_interest_add(h->route, l->peer, m->topic.ptr, m->topic.len,
                           (size_t)h->cfg.max_topics) < 0) {
        h->stats.interest_refused_hub++;
        char reason[96];
        snprintf(reason, sizeof reason, "the hub holds max_topics (%ld) topics",
                 h->cfg.max_topics);
        return edge_link_interest_result(l, m, 429, reason);
    }
    return edge_link_interest_result(l, m, 0, "");
}

/* A publish on its way to the interested links: encoded once, on the first
 * link (the seq is known only then), and the same bytes appended to every
 * link's batch; each link still compresses them in its own stream. */
struct fanout {
    struct link_msg msg;
    struct buf *encoded;
    int ready;
};

static void deliver_message(void *owner, uint64_t seq, void *ud)
{
    struct edge_link *dst = owner;
    struct fanout *f = ud;
    if (!f->ready) {
        f->msg.seq = seq;
        buf_reset(f->encoded);
        if (link_encode(f->encoded, &f->msg) < 0) {
            log_error("cannot encode a message on %.*s", (int)f->msg.topic.len,
                      f->msg.topic.ptr);
            return;
        }
        f->ready = 1;
    }
    if (linkio_send_encoded(&dst->io, buf_head(f->encoded), buf_readable(f->encoded)) < 0) {
        edge_link_fail_later(dst, dst->io.err);
        return;
    }
    edge_link_mark_dirty(dst);
    dst->messages_out++;
    dst->hub->stats.messages_out++;
}

static int edge_link_on_publish(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link_refuse(l, 400, "invalid topic in publish");
    if (!edge_link_owns_conn(l, &m->from))
        return edge_link_refuse_forged(l, "publish", &m->from);
    if (m->enc >= ENC_COUNT)
        return edge_link_refuse(l, 400, "invalid encoding %u in publish", m->enc);
    l->publishes_in++;
    h->stats.publishes++;
    if ((size_t)m->topic.len + m->from.len + m->data.len + EDGE_LINK_MESSAGE_OVERHEAD >
        LINK_MAX_MESSAGE) {
        char topic[TOPIC_MAX_LEN + 1];
        log_warn("%s: publish on %s too large to forward (%u bytes of data), dropped", l->label,
                 printable(&m->topic, topic, sizeof topic), m->data.len);
        return 0;
    }
    /* One copy per interested link, the publisher's own link included: its
     * edge fans out to its local subscribers only when the seq comes back. */
    edge_link_publish(h, m->topic, m->from, m->user, m->enc, m->data);
    return 0;
}

int edge_link_kick(struct hub *h, const struct connid *conn, uint32_t code, struct link_str reason)
{
    struct edge_link *t = edge_link_find_conn(h, conn);
    char to[CONNID_MAX_LEN + 1];
    int n = connid_format(to, sizeof to, conn);
    if (!t || n < 0)
        return -1;
    struct link_msg m = {.type = LINK_KICK, .to = {to, (uint32_t)n}, .code = code,
                         .reason = reason};
    return edge_link_send(t, &m);
}

int edge_link_drain(struct hub *h, const char *name, size_t len, uint64_t period_ms)
{
    int n = 0;
    struct link_msg m = {.type = LINK_DRAIN, .time_ms = period_ms};
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state == EDGE_LINK_OPEN && strlen(l->name) == len && memcmp(l->name, name, len) == 0 &&
            edge_link_send(l, &m) == 0) {
            n++;
            log_info("%s: asked to drain", l->label);
        }
    }
    return n;
}

uint64_t edge_link_publish(struct hub *h, struct link_str topic, struct link_str from,
                      struct link_str user, uint8_t enc, struct link_str data)
{
    struct fanout out = {
        .msg = {
            .type = LINK_MESSAGE,
            .topic = topic,
            .from = from,
            .user = user,
            .enc = enc,
            .data = data,
        },
        .encoded = &h->encoded,
    };
    uint64_t t0 = clock_mono_ns();
    uint64_t seq = route_publish(h->route, topic.ptr, topic.len, deliver_message, &out);
    double us = (double)(clock_mono_ns() - t0) / 1000.0;
    size_t b = 0;
    while (b < HUB_ROUTE_BUCKETS && us > hub_route_bounds_us[b])
        b++;
    h->stats.route_hist[b]++;
    h->stats.route_sum_us += us;
    return seq;
}

static int edge_link_on_direct(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!edge_link_owns_conn(l, &m->from))
        return edge_link_refuse_forged(l, "direct", &m->from);
    l->directs_in++;
    h->stats.directs++;
    struct edge_link *t = edge_link_find_conn_str(h, &m->to);
    const char *why = "unknown connection";
    uint32_t code = 404;
    if (t) {
        /* The result of a direct with an id is let through only from the
         * link it went to, for this sender and id, and only once. */
        if (!m->has_id || directs_add(h->directs, t->id, m->from.ptr, m->from.len, m->id,
                                      ev_now(h->loop), (size_t)h->cfg.link_max_pending_directs) == 0) {
            if (edge_link_send(t, m) == 0)
                t->directs_out++;
            return 0;
        }
        code = 503;
        why = "too many sends waiting for the target's edge (or this id is already waiting)";
    } else {
        h->stats.directs_unknown++;
    }
    if (m->has_id) {
        struct link_msg r = {
            .type = LINK_DIRECT_RESULT,
            .to = m->from,
            .has_id = 1,
            .id = m->id,
            .code = code,
            .reason = link_str_c(why),
        };
        l->results_out++;
        edge_link_send(l, &r);
    }
    return 0;
}

static int edge_link_on_direct_result(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    l->results_in++;
    if (!directs_take(h->directs, l->id, m->to.ptr, m->to.len, m->id)) {
        /* Not an answer to anything we sent this link: made up, duplicated,
         * or too late (the sender's edge has answered 504 meanwhile). */
        h->stats.results_unsolicited++;
        char who[LINK_MAX_CONN_ID + 1];
        log_debug("%s: dropped a direct result for %s id %lld that nothing awaits", l->label,
                  printable(&m->to, who, sizeof who), (long long)m->id);
        return 0;
    }
    struct edge_link *t = edge_link_find_conn_str(h, &m->to);
    /* The sender may be gone by now; nobody is left to tell. */
    if (t && edge_link_send(t, m) == 0)
        t->results_out++;
    return 0;
}

static int edge_link_on_msg(void *ud, const struct link_msg *m)
{
    struct edge_link *l = ud;
    if (l->state == EDGE_LINK_AWAIT_HELLO) {
        if (m->type != LINK_HELLO)
            return edge_link_refuse(l, 400, "expected hello first, got %s", link_type_name(m->type));
        return edge_link_on_hello(l, m);
    }
    switch (m->type) {
    case LINK_INTEREST_ADD:
    case LINK_INTEREST_REMOVE:
        return edge_link_on_interest(l, m);
    case LINK_PUBLISH:
        return edge_link_on_publish(l, m);
    case LINK_DIRECT:
        return edge_link_on_direct(l, m);
    case LINK_DIRECT_RESULT:
        return edge_link_on_direct_result(l, m);
    case LINK_HEARTBEAT: {
        /* Its arrival already refreshed last_rx. Echo the edge's stamp at
         * once so the edge can measure the link's round trip. */
        if (!m->echo_us)
            return 0;
        struct link_msg echo = {.type = LINK_HEARTBEAT, .time_ms = clock_wall_ms(),
                                .echo_us = m->echo_us};
        edge_link_send(l, &echo);
        return 0;
    }
    case LINK_STATS:
        l->stats = m->stats;
        return 0;
    case LINK_ERROR: {
        char reason[LINK_MAX_REASON + 1];
        edge_link_close(l, LOG_WARN, "closed by peer with error %u: %s", m->code,
                   printable(&m->reason, reason, sizeof reason));
        return LINK_GONE;
    }
    case LINK_HELLO:
    case LINK_MESSAGE:
    default:
        return edge_link_refuse(l, 400, "unexpected %s", link_type_name(m->type));
    }
}

/* ---- socket events ------------------------------------------------------- */

/* Reads and handles one budget of the link's input (its backlog first). */
static void edge_link_read(struct edge_link *l)
{
    struct hub *h = l->hub;
    if (l->state == EDGE_LINK_CLOSED)
        return;
    /* Bytes read or messages worked off from the backlog: the peer is alive. */
    uint64_t before = l->io.wire_in + l->io.msgs_in;
    int rc = linkio_read(&l->io, l->fd, EDGE_LINK_READ_BUDGET, edge_link_on_msg, l);
    if (rc == LINK_GONE)
        return;
    if (l->io.wire_in + l->io.msgs_in != before)
        l->last_rx = ev_now(h->loop);
    if (rc == 0 && linkio_has_backlog(&l->io) && !l->backlogged) {
        l->backlogged = 1;
        l->backlog_next = h->backlogged;
        h->backlogged = l;
    }
    if (rc == 0 && l->io.ssl && linkio_pending(&l->io))
        edge_link_mark_dirty(l); /* TLS answered the bytes it read (handshake) */
    if (rc == 1) {
        edge_link_close(l, LOG_INFO, "closed by peer");
    } else if (rc < 0) {
        /* Tell a real edge why (it logs it); skip it for whatever sent a
         * wrong preamble, which is not speaking our protocol at all. */
        if (l->io.preamble_seen == LINK_PREAMBLE_LEN)
            edge_link_goodbye(l, 400, l->io.err);
        edge_link_close(l, LOG_WARN, "dropped: %s", l->io.err);
    }
}

static void on_link_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct edge_link *l = w->data;
    if (revents & EV_WRITE)
        edge_link_mark_dirty(l); /* the end-of-turn flush writes */
    if (revents & EV_READ)
        edge_link_read(l);
}

static void on_hello_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct edge_link *l = w->data;
    l->hub->stats.links_hello_timeout++;
    edge_link_close(l, LOG_WARN, "dropped: no hello within %ld ms", l->hub->cfg.link_hello_timeout_ms);
}

/* Makes room for one more link waiting for HELLO from source `src`: the
 * oldest waiting link of that source goes when it holds its share, else the
 * oldest waiting one of all when the hub holds its maximum. Dropping the
 * oldest rather than refusing the newest means connections that never say
 * anything cannot lock real edges out: an edge says HELLO within a round
 * trip of connecting, so it is never the oldest for long. */
static void make_room(struct hub *h, const uint8_t *src, size_t srclen)
{
    size_t same = 0;
    struct edge_link *oldest_same = NULL;
    for (struct edge_link *l = h->awaiting; l; l = l->anext) {
        if (l->srclen == srclen && memcmp(l->src, src, srclen) == 0) {
            if (!oldest_same)
                oldest_same = l;
            same++;
        }
    }
    struct edge_link *victim = NULL;
    if (same >= (size_t)h->cfg.link_max_awaiting_per_addr)
        victim = oldest_same;
    else if (h->nlinks_pending >= (size_t)h->cfg.link_max_awaiting_hello)
        victim = h->awaiting;
    if (victim) {
        h->stats.links_evicted++;
        edge_link_close(victim, LOG_WARN, "dropped: still no hello after %.0f ms, and a newer link "
                                     "needs its place",
                   (ev_now(h->loop) - victim->accepted_at) * 1000.0);
    }
}

void edge_link_adopt(struct hub *h, int fd, const struct sockaddr_storage *ss)
{
    char addr[64];
    net_format_sockaddr(ss, addr, sizeof addr);
    uint8_t src[16];
    size_t srclen = net_sockaddr_group(ss, src);
    make_room(h, src, srclen);

    struct edge_link *l = xcalloc(1, sizeof *l);
    if (linkio_init(&l->io) < 0) {
        log_warn("link from %s refused: %s", addr, l->io.err);
        linkio_deinit(&l->io);
        close(fd);
        free(l);
        return;
    }
    if (h->link_tls) {
        SSL *ssl = SSL_new(h->link_tls);
        if (!ssl || (SSL_set_accept_state(ssl), linkio_use_tls(&l->io, ssl) < 0)) {
            log_warn("link from %s refused: %s", addr, ssl ? l->io.err : "SSL_new failed");
            linkio_deinit(&l->io);
            close(fd);
            free(l);
            return;
        }
    }
    /* Output is already batched once per loop turn; Nagle would only add a
     * delay on top. */
    net_set_nodelay(fd);
    l->hub = h;
    l->fd = fd;
    l->id = ++h->next_link_id;
    l->state = EDGE_LINK_AWAIT_HELLO;
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    snprintf(l->label, sizeof l->label, "%s", addr);
    memcpy(l->src, src, srclen);
    l->srclen = (uint8_t)srclen;
    l->accepted_at = l->last_rx = ev_now(h->loop);
    ev_io_init(&l->w, on_link_io, fd, EV_READ);
    l->w.data = l;
    ev_io_start(h->loop, &l->w);
    ev_timer_init(&l->hello_timer, on_hello_timeout, h->cfg.link_hello_timeout_ms / 1000.0, 0.);
    l->hello_timer.data = l;
    ev_timer_start(h->loop, &l->hello_timer);
    l->aprev = h->awaiting_tail;
    if (h->awaiting_tail)
        h->awaiting_tail->anext = l;
    else
        h->awaiting = l;
    h->awaiting_tail = l;

    l->prev = h->links_tail;
    if (h->links_tail)
        h->links_tail->next = l;
    else
        h->links = l;
    h->links_tail = l;
    h->nlinks_pending++;
    h->stats.links_accepted++;
    /* Our preamble is queued by linkio_init; nothing else goes out before
     * the edge's HELLO (and no zstd state exists until then). */
    edge_link_mark_dirty(l);
    log_debug("%s connected (link %llu)", addr, (unsigned long long)l->id);
}

static void adopt_accepted(int fd, const struct sockaddr_storage *ss, void *ud)
{
    edge_link_adopt(ud, fd, ss);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct hub *h = w->data;
    net_acceptor_run(&h->link_acceptor, adopt_accepted, h);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct hub *h = w->data;
    ev_tstamp now = ev_now(loop);
    ev_tstamp limit = 3.0 * (double)h->cfg.heartbeat_ms / 1000.0;
    struct link_msg hb = {.type = LINK_HEARTBEAT, .time_ms = clock_wall_ms()};
    /* Results nobody sent in time: the senders' edges have answered 504. */
    directs_expire(h->directs, now - 2.0 * (double)h->policy.send_timeout_ms / 1000.0 - limit);
    for (struct edge_link *l = h->links, *next; l; l = next) {
        next = l->next; /* closing l unlinks only l */
        if (l->state == EDGE_LINK_AWAIT_HELLO)
            continue; /* its own deadline: link_hello_timeout_ms */
        /* Each side heartbeats at its own period: allow 3 of the slower one. */
        ev_tstamp silent_limit = limit;
        if (3.0 * l->peer_heartbeat_ms / 1000.0 > silent_limit)
            silent_limit = 3.0 * l->peer_heartbeat_ms / 1000.0;
        if (now - l->last_rx >= silent_limit) {
            edge_link_close(l, LOG_WARN, "dropped: silent for %.0f ms", (now - l->last_rx) * 1000.0);
            continue;
        }
        if (l->state == EDGE_LINK_OPEN)
            edge_link_send(l, &hb);
    }
}

/* ---- public ---------------------------------------------------------------- */

int edge_link_server_start(struct hub *h, char *err, size_t errlen)
{
    h->link_fd = net_listen(&h->cfg.listen, 0, 511, err, errlen);
    if (h->link_fd < 0)
        return -1;
    net_acceptor_init(&h->link_acceptor, h->link_fd, EDGE_LINK_ACCEPT_BATCH, "edge link");
    ev_io_init(&h->link_accept, on_accept, h->link_fd, EV_READ);
    h->link_accept.data = h;
    ev_io_start(h->loop, &h->link_accept);

    ev_prepare_init(&h->flush, on_flush);
    h->flush.data = h;
    ev_prepare_start(h->loop, &h->flush);
    ev_idle_init(&h->backlog_idle, on_backlog_idle);
    h->backlog_idle.data = h;
    h->directs = directs_new();

    double period = (double)h->cfg.heartbeat_ms / 1000.0;
    ev_timer_init(&h->heartbeat, on_heartbeat, period, period);
    h->heartbeat.data = h;
    ev_timer_start(h->loop, &h->heartbeat);
    return 0;
}

uint16_t edge_link_server_port(const struct hub *h)
{
    return h->link_fd >= 0 ? net_local_port(h->link_fd) : 0;
}

void edge_link_server_stop(struct hub *h)
{
    if (h->link_fd >= 0) {
        ev_io_stop(h->loop, &h->link_accept);
        close(h->link_fd);
        h->link_fd = -1;
        net_acceptor_deinit(&h->link_acceptor);
    }
    while (h->links) {
        struct edge_link *l = h->links;
        if (l->state == EDGE_LINK_OPEN)
            edge_link_goodbye(l, 503, "hub shutting down");
        edge_link_close(l, LOG_INFO, "closed: hub shutting down");
    }
    /* Every link is closed now: nothing on the dirty list needs writing. */
    h->dirty = NULL;
    h->backlogged = NULL;
    ev_prepare_stop(h->loop, &h->flush);
    ev_idle_stop(h->loop, &h->backlog_idle);
    ev_timer_stop(h->loop, &h->heartbeat);
    edge_link_reap(h);
    directs_free(h->directs);
    h->directs = NULL;
}

void edge_link_push_policy(struct hub *h)
{
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state != EDGE_LINK_OPEN)
            continue;
        struct link_msg pol = {.type = LINK_POLICY};
        hub_policy_effective(h, l->name, strlen(l->name), &pol.policy);
        if (policy_equal(&pol.policy, &l->policy_sent))
            continue;
        if (edge_link_send(l, &pol) == 0) {
            l->policy_sent = pol.policy;
            log_debug("%s: sent the new policy", l->label);
        }
    }
}

void edge_link_foreach_open(struct hub *h, void (*fn)(const struct edge_link_info *, void *), void *ud)
{
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state != EDGE_LINK_OPEN)
            continue;
        struct edge_link_info info = {
            .id = l->id,
            .worker = l->worker,
            .boot = l->boot,
            .topics = route_peer_topics(l->peer),
            .publishes_in = l->publishes_in,
            .messages_out = l->messages_out,
            .directs_in = l->directs_in,
            .directs_out = l->directs_out,
            .raw_in = l->io.raw_in,
            .wire_in = l->io.wire_in,
            .raw_out = l->io.raw_out,
            .wire_out = l->io.wire_out,
            .stats = l->stats,
        };
        snprintf(info.public_url, sizeof info.public_url, "%s", l->public_url);
        info.tls = l->io.ssl != NULL;
        tls_peer_describe(l->io.ssl, info.peer_cert, sizeof info.peer_cert);
        snprintf(info.edge, sizeof info.edge, "%s", l->name);
        snprintf(info.region, sizeof info.region, "%s", l->region);
        snprintf(info.software, sizeof info.software, "%s", l->software);
        snprintf(info.addr, sizeof info.addr, "%s", l->addr);
        fn(&info, ud);
    }
}
