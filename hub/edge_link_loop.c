/* The edge links on the hub's loop: the listener and adopting what it
 * accepts, reading each link's input a budget at a time (a backlog holds
 * the rest) and dispatching its messages, heartbeats and silence, and the
 * end-of-turn flush that writes every link's output once per loop turn and
 * frees the links closed in it (see edge_link_internal.h for the states).
 * HELLO is taken in edge_link_hello.c, the messages of an open link in
 * edge_link_handle.c, and teardown is edge_link__close in edge_link.c.
 *
 * Writing: handlers only queue and put the link on the hub's dirty list.
 * One ev_prepare callback per loop turn flushes each dirty link's zstd
 * stream once and writes once, so a burst of publishes in one turn leaves
 * as one zstd flush and usually one write() per link (LIBRARIES.md §3, §4).
 * EV_WRITE is watched only while output is left over after such a write. */
#include "hub/edge_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "hub/directs.h"
#include "hub/edge_link_internal.h"
#include "hub/interest.h"
#include "hub/edges_doc.h"
#include "hub/engine.h"
#include "hub/publog.h"
#include "hub/registry.h"

/* Bytes worked off per link per loop turn, counted after decompression
 * (and at most this many read from the socket), before the loop moves on to
 * other links: a small compressed input that inflates to megabytes is
 * spread over several turns. The rest waits in the link's backlog. */
#define EDGE_LINK_READ_BUDGET (1024 * 1024)
/* Connections accepted per wake-up of the listener. */
#define EDGE_LINK_ACCEPT_BATCH 64

/* Frees the links closed during this turn. */
static void reap(struct hub *h)
{
    struct edge_link *l;
    while ((l = h->closing)) {
        h->closing = l->close_next;
        linkio_deinit(&l->io);
        free(l);
    }
}

/* ---- the end-of-turn flush ------------------------------------------------ */

static void want_write(struct edge_link *l, int on)
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

/* Flushes and writes every dirty link once. Links dropped here (congested,
 * write error, deferred failure) are freed by reap right after. */
static void flush_dirty(struct hub *h)
{
    struct edge_link *l;
    while ((l = h->dirty)) {
        h->dirty = l->dirty_next;
        l->dirty_next = NULL;
        l->dirty = 0;
        if (l->state == EDGE_LINK_CLOSED)
            continue;
        if (l->fail[0]) {
            edge_link__close(l, LOG_WARN, "dropped: %s", l->fail);
            continue;
        }
        if (linkio_flush(&l->io) < 0) {
            edge_link__close(l, LOG_WARN, "dropped: %s", l->io.err);
            continue;
        }
        int rc = linkio_write(&l->io, l->fd);
        if (rc < 0) {
            edge_link__close(l, LOG_WARN, "dropped: %s", l->io.err);
            continue;
        }
        size_t pending = linkio_pending(&l->io);
        if (pending > (size_t)h->cfg.link_max_pending) {
            edge_link__close(l, LOG_WARN, "dropped: congested: %zu bytes pending", pending);
            continue;
        }
        want_write(l, rc == 1);
        edge_link__replay_wrote(l);
    }
}

static void read_input(struct edge_link *l);

/* Works off one budget of each backlogged link's input (see
 * EDGE_LINK_READ_BUDGET); a link still behind afterwards stays on the list. */
static void work_backlog(struct hub *h)
{
    struct edge_link *list = h->backlogged;
    h->backlogged = NULL;
    /* Off the list first, all of them: handling one link's messages may
     * close another one further down (edge_link__close then leaves the chain
     * alone), and a link that stays behind re-enters h->backlogged. */
    for (struct edge_link *l = list; l; l = l->backlog_next)
        l->backlogged = 0;
    while (list) {
        struct edge_link *l = list;
        list = l->backlog_next;
        l->backlog_next = NULL;
        read_input(l); /* skips a closed link */
    }
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct hub *h = w->data;
    h->turn++; /* a new budget of replay output for every link */
    work_backlog(h);
    edge_link__pump_listed(h);
    flush_dirty(h);
    reap(h);
    /* Input already read, and replays a link has room for, do not wake
     * epoll: while some wait, the loop must not block (an active idle
     * watcher makes the poll return at once). */
    int more = h->backlogged || h->replaying;
    if (more && !ev_is_active(&h->backlog_idle))
        ev_idle_start(loop, &h->backlog_idle);
    else if (!more && ev_is_active(&h->backlog_idle))
        ev_idle_stop(loop, &h->backlog_idle);
}

static void on_backlog_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    /* Nothing to do here: the prepare watcher works the backlog and the
     * replays off. */
}

/* ---- input ---------------------------------------------------------------- */

/* Every message of the link: HELLO first (edge_link_hello.c), then what
 * concerns the link itself here, and the rest in edge_link_handle.c. */
static int on_msg(void *ud, const struct link_msg *m)
{
    struct edge_link *l = ud;
    if (l->state == EDGE_LINK_AWAIT_HELLO) {
        if (m->type != LINK_HELLO)
            return edge_link__refuse(l, 400, "expected hello first, got %s",
                                     link_type_name(m->type));
        return edge_link__on_hello(l, m);
    }
    switch (m->type) {
    case LINK_HEARTBEAT: {
        /* Its arrival already refreshed last_rx. Echo the edge's stamp at
         * once so the edge can measure the link's round trip. */
        if (!m->echo_us)
            return 0;
        struct link_msg echo = {
            .type = LINK_HEARTBEAT, .time_ms = clock_wall_ms(), .echo_us = m->echo_us};
        edge_link__send(l, &echo);
        return 0;
    }
    case LINK_STATS: l->stats = m->stats; return 0;
    case LINK_ERROR: {
        char reason[LINK_MAX_REASON + 1];
        edge_link__close(l, LOG_WARN, "closed by peer with error %u: %s", m->code,
                         edge_link__printable(&m->reason, reason, sizeof reason));
        return LINK_GONE;
    }
    default: return edge_link__handle(l, m);
    }
}

/* A message decoded ahead of the one being handled: a PUBLISH's topic is
 * worth prefetching in the engine (a hint; nothing is checked or changed),
 * unless the engine says it is no use. */
static int on_peek(void *ud, const struct link_msg *m)
{
    struct edge_link *l = ud;
    return m->type != LINK_PUBLISH || engine_prefetch(l->hub->engine, m->topic);
}

/* ---- socket events ------------------------------------------------------- */

/* Reads and handles one budget of the link's input (its backlog first). */
static void read_input(struct edge_link *l)
{
    struct hub *h = l->hub;
    if (l->state == EDGE_LINK_CLOSED)
        return;
    /* Bytes read or messages worked off from the backlog: the peer is alive. */
    uint64_t before = l->io.wire_in + l->io.msgs_in;
    h->read_ms = clock_mono_ms(); /* the engine's clock for this budget */
    int rc = linkio_read_ahead(&l->io, l->fd, EDGE_LINK_READ_BUDGET, on_msg, on_peek, l);
    h->read_ms = 0;
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
        edge_link__mark_dirty(l); /* TLS answered the bytes it read (handshake) */
    if (rc == 1) {
        edge_link__close(l, LOG_INFO, "closed by peer");
    } else if (rc < 0) {
        /* Tell a real edge why (it logs it); skip it for whatever sent a
         * wrong preamble, which is not speaking our protocol at all. */
        if (l->io.preamble_seen == LINK_PREAMBLE_LEN)
            edge_link__goodbye(l, 400, l->io.err);
        edge_link__close(l, LOG_WARN, "dropped: %s", l->io.err);
    }
}

static void on_link_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct edge_link *l = w->data;
    if (revents & EV_WRITE)
        edge_link__mark_dirty(l); /* the end-of-turn flush writes */
    if (revents & EV_READ)
        read_input(l);
}

void edge_link_adopt(struct hub *h, int fd, const struct sockaddr_storage *ss)
{
    char addr[64];
    net_format_sockaddr(ss, addr, sizeof addr);
    uint8_t src[16];
    size_t srclen = net_sockaddr_group(ss, src);
    edge_link__make_room(h, src, srclen);

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
    edge_link__await_hello(l);
    l->prev = h->links_tail;
    if (h->links_tail)
        h->links_tail->next = l;
    else
        h->links = l;
    h->links_tail = l;
    h->stats.links_accepted++;
    /* Our preamble is queued by linkio_init; nothing else goes out before
     * the edge's HELLO (and no zstd state exists until then). */
    edge_link__mark_dirty(l);
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
    /* Publish results of workers whose link went long enough ago. */
    publog_expire(h->publog, now);
    for (struct edge_link *l = h->links, *next; l; l = next) {
        next = l->next; /* closing l unlinks only l */
        if (l->state == EDGE_LINK_AWAIT_HELLO)
            continue; /* its own deadline: link_hello_timeout_ms */
        /* Each side heartbeats at its own period: allow 3 of the slower one. */
        ev_tstamp silent_limit = limit;
        if (3.0 * l->peer_heartbeat_ms / 1000.0 > silent_limit)
            silent_limit = 3.0 * l->peer_heartbeat_ms / 1000.0;
        if (now - l->last_rx >= silent_limit) {
            edge_link__close(l, LOG_WARN, "dropped: silent for %.0f ms",
                             (now - l->last_rx) * 1000.0);
            continue;
        }
        if (l->state == EDGE_LINK_OPEN)
            edge_link__send(l, &hb);
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
    h->interest = interest_new((size_t)h->cfg.link_max_topics);
    h->registry = registry_new();
    /* Records of links gone, kept 2 * publish_timeout: enough for every
     * worker of a large deployment to relink at once. */
    h->publog = publog_new(1024);

    double period = (double)h->cfg.heartbeat_ms / 1000.0;
    ev_timer_init(&h->heartbeat, on_heartbeat, period, period);
    h->heartbeat.data = h;
    ev_timer_start(h->loop, &h->heartbeat);
    edges_doc_start(h);
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
            edge_link__goodbye(l, 503, "hub shutting down");
        edge_link__close(l, LOG_INFO, "closed: hub shutting down");
    }
    /* Every link is closed now: nothing on the dirty list needs writing. */
    h->dirty = NULL;
    h->backlogged = NULL;
    h->replaying = NULL;
    ev_prepare_stop(h->loop, &h->flush);
    ev_idle_stop(h->loop, &h->backlog_idle);
    ev_timer_stop(h->loop, &h->heartbeat);
    edges_doc_stop(h);
    reap(h);
    directs_free(h->directs);
    h->directs = NULL;
}

void edge_link_server_free(struct hub *h)
{
    interest_free(h->interest);
    h->interest = NULL;
    registry_free(h->registry);
    h->registry = NULL;
    publog_free(h->publog);
    h->publog = NULL;
}
