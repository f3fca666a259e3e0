/* A worker's link to the hub: see uplink.h and docs/protocol.md. */
#include "edge/uplink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hooks_conf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/tls.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/net.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "edge/edge.h"
#include "edge/hubring.h"

enum uplink_state {
    UPLINK_WAITING,    /* backing off before the next attempt */
    UPLINK_CONNECTING, /* TCP connect in progress */
    UPLINK_HELLO,      /* our HELLO sent, waiting for the hub's */
    UPLINK_UP,
};

/* Bytes from the hub worked off per loop iteration, counted after
 * decompression (linkio.h). Everything it decodes is queued to clients
 * before the end-of-iteration flush, so this bounds the burst a client's
 * queue can take in one iteration, keeping it well under send_queue_bytes
 * for a client that reads; and clients get their turn. The rest waits in
 * the link's backlog for the next iteration. */
#define LINK_READ_BUDGET (256 * 1024)

struct uplink {
    struct worker *w;
    uplink_policy_fn on_policy;
    const struct uplink_deliver *deliver;
    uplink_hooks_fn on_hooks;
    enum uplink_state state;
    int fd;
    ev_io io;
    ev_timer retry;
    ev_timer heartbeat;
    ev_timer stats;  /* STATS to the hub about every second */
    ev_idle backlog; /* keeps the loop from sleeping while input waits in lio */
    int64_t next_interest_id;
    struct linkio lio;
    int lio_ready;
    struct hubring ring; /* the hub linked to or tried next (ring.cur), and the delay */
    size_t linked_hub;   /* the hub of the last link made (SIZE_MAX: none yet) */
    ev_tstamp last_rx;   /* last time bytes arrived (or the attempt started) */
    int was_up;          /* log the first failure after being up as a warning */
    uint64_t attempts;
    uint32_t hub_heartbeat_ms; /* from the hub's HELLO: silence is judged by the slower side */
    uint64_t rtt_us;           /* from the last heartbeat the hub echoed */
};

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_stats(struct ev_loop *loop, ev_timer *t, int revents);

static void set_events(struct uplink *u, int events)
{
    if (ev_is_active(&u->io) && u->io.events == events)
        return;
    ev_io_stop(u->w->loop, &u->io);
    ev_io_set(&u->io, u->fd, events);
    ev_io_start(u->w->loop, &u->io);
}

static double jitter(double d)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint32_t)clock_mono_ms();
    return d * (0.5 + 0.5 * ((double)r / 4294967295.0));
}

/* The hub linked to, or the one the next attempt dials. */
static const struct edge_hub *current_hub(const struct uplink *u)
{
    return &u->w->cfg->hubs[u->ring.cur];
}

/* Whatever went wrong with the current hub, the next attempt is at the next
 * one of the list (edge/hubring.h), after the ring's delay with jitter. */
static void schedule_retry(struct uplink *u)
{
    double delay = jitter(hubring_failed(&u->ring));
    u->state = UPLINK_WAITING;
    ev_timer_stop(u->w->loop, &u->retry);
    ev_timer_set(&u->retry, delay, 0.);
    ev_timer_start(u->w->loop, &u->retry);
    log_debug("hub link: next attempt in %.0f ms, to %s", delay * 1000, current_hub(u)->label);
}

static void disconnect(struct uplink *u, const char *reason)
{
    /* Logged below, once the next hub is known; reason may be u->lio.err,
     * which linkio_deinit clears. */
    char why[sizeof u->lio.err + 200];
    snprintf(why, sizeof why, "%s", reason);
    const char *was = current_hub(u)->label;
    int was_linked = u->state == UPLINK_UP;
    if (u->fd >= 0) {
        ev_io_stop(u->w->loop, &u->io);
        close(u->fd);
        u->fd = -1;
    }
    if (u->lio_ready) {
        linkio_deinit(&u->lio);
        u->lio_ready = 0;
    }
    ev_idle_stop(u->w->loop, &u->backlog);
    schedule_retry(u);
    const char *next = current_hub(u)->label;
    if (was_linked || u->was_up) {
        log_warn("hub %s lost: %s; clients stay connected, trying %s", was, why, next);
        u->was_up = 0;
    } else if (u->attempts == 1 || u->attempts % 20 == 0) {
        log_info("hub link to %s: %s (attempt %llu); retrying with %s", was, why,
                 (unsigned long long)u->attempts, next);
    } else {
        log_debug("hub link to %s: %s", was, why);
    }
    if (was_linked) {
        /* Nothing the hub owed us will come now. */
        topic_link_down(&u->w->topics);
        resume_link_down(&u->w->resumes);
        sends_fail_all(&u->w->sends, CODE_TIMEOUT, "the hub link went down before the answer came");
    }
}

static void send_msg(struct uplink *u, const struct link_msg *m)
{
    if (linkio_send(&u->lio, m) < 0)
        log_error("hub link: cannot encode %s: %s", link_type_name(m->type), u->lio.err);
}

static void connect_now(struct uplink *u)
{
    const struct edge_hub *hub = current_hub(u);
    u->attempts++;
    u->fd = net_connect(&hub->sa, hub->salen);
    if (u->fd < 0) {
        disconnect(u, strerror(errno));
        return;
    }
    net_set_nodelay(u->fd);
    u->state = UPLINK_CONNECTING;
    u->last_rx = ev_now(u->w->loop);
    set_events(u, EV_WRITE);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    connect_now(t->data);
}

static void on_connected(struct uplink *u)
{
    const struct edge_config *cfg = u->w->cfg;
    int err = net_connect_result(u->fd);
    if (err) {
        disconnect(u, strerror(err));
        return;
    }
    if (linkio_init(&u->lio) < 0) {
        disconnect(u, u->lio.err);
        return;
    }
    u->lio_ready = 1;
    if (cfg->link_tls) {
        /* The hub must show a certificate from link_ca naming the host this
         * attempt dialled (SNI too), or link_server_name for every hub;
         * ours, from the same CA, names this edge. */
        const char *host =
            cfg->link_server_name[0] ? cfg->link_server_name : current_hub(u)->addr->host;
        SSL *ssl = tls_slot_new_ssl(cfg->link_tls);
        if (!ssl) {
            disconnect(u, "tls: cannot create a session");
            return;
        }
        SSL_set_connect_state(ssl);
        if (tls_expect_host(ssl, host) < 0) {
            SSL_free(ssl);
            char why[320];
            snprintf(why, sizeof why, "tls: cannot expect the name '%s'", host);
            disconnect(u, why);
            return;
        }
        if (linkio_use_tls(&u->lio, ssl) < 0) {
            char why[200];
            snprintf(why, sizeof why, "%s", u->lio.err);
            disconnect(u, why);
            return;
        }
    }
    struct link_msg m = {.type = LINK_HELLO,
                         .version = LINK_PROTOCOL_VERSION,
                         .worker = u->w->index,
                         .boot = cfg->boot,
                         .heartbeat_ms = (uint32_t)cfg->heartbeat_ms};
    m.name = link_str_c(cfg->name);
    m.region = link_str_c(cfg->region);
    m.software = link_str_c(SPOKE_VERSION);
    m.public_url = link_str_c(cfg->public_url);
    send_msg(u, &m);
    u->state = UPLINK_HELLO;
    set_events(u, EV_READ);
    uplink_flush(u);
}

/* For logs: what the hub sent, non-printable bytes shown as '?'. */
static const char *printable(char *out, size_t outlen, struct link_str s)
{
    size_t n = s.len < outlen - 1 ? s.len : outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? s.ptr[i] : '?';
    out[n] = '\0';
    return out;
}

/* The hub answered HELLO: the link is up. A link to another hub than the
 * last one is a failover. */
static void linked(struct uplink *u, const struct link_msg *m)
{
    const struct edge_hub *hub = current_hub(u);
    char name[LINK_MAX_NAME + 1], software[LINK_MAX_NAME + 1], from[360] = "";
    size_t last = u->linked_hub;
    if (last != SIZE_MAX && last != u->ring.cur) {
        u->w->stats.hub_failovers++;
        snprintf(from, sizeof from, "; failed over from %s", u->w->cfg->hubs[last].label);
    }
    log_info("linked to hub %s (name %s, software %s)%s", hub->label,
             printable(name, sizeof name, m->name),
             printable(software, sizeof software, m->software), from);
    u->linked_hub = u->ring.cur;
    u->state = UPLINK_UP;
    u->was_up = 1;
    u->hub_heartbeat_ms = m->heartbeat_ms;
    u->attempts = 0;
    hubring_linked(&u->ring);
}

/* After (re)linking the hub knows nothing of us: each topic is registered
 * again, and its answer awaited as for a new one. */
static void register_interest(void *ud, struct topic *t)
{
    struct uplink *u = ud;
    /* From the last seq delivered here: the hub sends what was missed. */
    int pos = topic_has_position(t);
    t->add_id =
        uplink_interest_add(u, t->node.name, t->node.len, pos ? t->seq : 0, pos ? t->epoch : NULL);
}

/* Every publish the hub has not ordered goes (again): those sent before
 * keep their pub_id, so the hub orders none twice. */
static void resend_publishes(struct uplink *u)
{
    struct pubs *ps = &u->w->pubs;
    size_t n = 0;
    for (struct pub *p = pubs_first(ps); p; p = p->next, n++) {
        if (p->sent)
            ps->resent++;
        if (uplink_publish_pending(u, p) == 0)
            p->sent = 1;
    }
    if (n)
        log_info("hub link: sent %zu publishes held while it was down", n);
}

/* The hub's hooks document: parsed here, handed to the worker if valid. A
 * bad one is the hub's bug, not a reason to drop the link. */
static void receive_hooks(struct uplink *u, const struct link_msg *m)
{
    struct hooks_conf *c = xmalloc(sizeof *c);
    char err[200];
    if (hooks_conf_from_json(c, m->data.ptr, m->data.len, err, sizeof err) < 0) {
        log_warn("hub sent invalid hooks, the old ones stay: %s", err);
        free(c);
        return;
    }
    u->on_hooks(u->w, c);
}

static int on_msg(void *ud, const struct link_msg *m)
{
    struct uplink *u = ud;
    struct worker *w = u->w;
    if (u->state == UPLINK_HELLO) {
        if (m->type == LINK_ERROR) {
            log_error("hub refused the link: %u %.*s", m->code, (int)m->reason.len, m->reason.ptr);
            disconnect(u, "refused by the hub");
            return LINK_GONE;
        }
        if (m->type != LINK_HELLO) {
            disconnect(u, "protocol error: expected HELLO from the hub");
            return LINK_GONE;
        }
        if (m->version != LINK_PROTOCOL_VERSION) {
            log_error("hub speaks link protocol version %u, this edge speaks %d", m->version,
                      LINK_PROTOCOL_VERSION);
            disconnect(u, "link protocol version mismatch");
            return LINK_GONE;
        }
        linked(u, m);
        /* After (re)linking the hub knows nothing of us. */
        topic_foreach(&w->topics, register_interest, u);
        if (topics_count(&w->topics))
            log_info("hub link: re-sent interest in %zu topics", topics_count(&w->topics));
        resend_publishes(u);
        on_stats(w->loop, &u->stats, 0); /* the hub knows our figures at once */
        return 0;
    }
    switch (m->type) {
    case LINK_MESSAGE: u->deliver->message(w, m); break;
    case LINK_DIRECT: {
        const char *why;
        int rc = u->deliver->direct(w, m, &why);
        if (m->has_id)
            uplink_direct_result(u, m->from.ptr, m->from.len, m->id, rc, why);
        break;
    }
    case LINK_DIRECT_RESULT: u->deliver->direct_result(w, m); break;
    case LINK_INTEREST_RESULT: u->deliver->interest_result(w, m); break;
    case LINK_HISTORY_RESULT: u->deliver->history_result(w, m); break;
    case LINK_PUBLISH_RESULT: u->deliver->publish_result(w, m); break;
    case LINK_TOPIC_RESET: u->deliver->topic_reset(w, m); break;
    case LINK_HEARTBEAT:
        if (m->echo_us) {
            uint64_t now = clock_mono_us();
            u->rtt_us = now > m->echo_us ? now - m->echo_us : 0;
        }
        break;
    case LINK_POLICY: u->on_policy(w, &m->policy); break;
    case LINK_KICK: u->deliver->kick(w, m); break;
    case LINK_EDGES:
        /* Served as /edges.json until the next one (edge/www.h). */
        buf_reset(&w->edges);
        buf_append(&w->edges, m->data.ptr, m->data.len);
        break;
    case LINK_HOOKS: receive_hooks(u, m); break;
    case LINK_DRAIN: {
        /* The whole edge drains, not just this worker: the main thread
         * coordinates (the other workers get the same message anyway). */
        struct edge_ctl *ctl = w->cfg->ctl;
        if (m->time_ms)
            atomic_store(&ctl->drain_ms, (long)m->time_ms);
        log_info("the hub asked this edge to drain");
        ev_async_send(ctl->loop, &ctl->drain_request);
        break;
    }
    case LINK_ERROR:
        log_error("hub closed the link: %u %.*s", m->code, (int)m->reason.len, m->reason.ptr);
        disconnect(u, "closed by the hub");
        return LINK_GONE;
    default:
        log_error("hub link: unexpected %s message", link_type_name(m->type));
        disconnect(u, "protocol error");
        return LINK_GONE;
    }
    return 0;
}

/* Reads and handles one budget of the hub's input (the backlog first). */
static void uplink_read(struct uplink *u)
{
    struct ev_loop *loop = u->w->loop;
    /* Bytes read or messages worked off from the backlog: the hub is alive. */
    uint64_t before = u->lio.wire_in + u->lio.msgs_in;
    int r = linkio_read(&u->lio, u->fd, LINK_READ_BUDGET, on_msg, u);
    if (r == LINK_GONE)
        return; /* on_msg disconnected: u->lio is gone */
    if (u->lio.wire_in + u->lio.msgs_in != before)
        u->last_rx = ev_now(loop);
    if (r == 1) {
        disconnect(u, "closed by the hub");
        return;
    }
    if (r < 0) {
        char why[200];
        snprintf(why, sizeof why, "%s", u->lio.err);
        disconnect(u, why);
        return;
    }
    /* Bytes already read do not wake epoll: keep the loop from sleeping
     * until they are worked off (uplink_work_backlog). */
    if (linkio_has_backlog(&u->lio))
        ev_idle_start(loop, &u->backlog);
    else
        ev_idle_stop(loop, &u->backlog);
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct uplink *u = io->data;
    if (u->state == UPLINK_CONNECTING) {
        if (revents & (EV_WRITE | EV_READ))
            on_connected(u);
        return;
    }
    if (revents & EV_READ)
        uplink_read(u);
    if (revents & EV_WRITE)
        uplink_flush(u);
}

static void on_backlog_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    /* Nothing here: the worker's end-of-iteration hook works the backlog. */
}

void uplink_work_backlog(struct uplink *u)
{
    if ((u->state == UPLINK_HELLO || u->state == UPLINK_UP) && linkio_has_backlog(&u->lio))
        uplink_read(u);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct uplink *u = t->data;
    if (u->state == UPLINK_WAITING)
        return;
    double silent = ev_now(loop) - u->last_rx;
    long period = u->w->cfg->heartbeat_ms;
    if (u->state == UPLINK_UP && u->hub_heartbeat_ms > period)
        period = u->hub_heartbeat_ms;
    double limit = 3 * period / 1000.0;
    if (silent > limit) {
        char why[80];
        snprintf(why, sizeof why, "hub silent for %.0f ms", silent * 1000);
        disconnect(u, why);
        return;
    }
    if (u->state == UPLINK_UP || u->state == UPLINK_HELLO) {
        /* echo_us: the hub sends it straight back, which gives the RTT. */
        struct link_msg m = {
            .type = LINK_HEARTBEAT, .time_ms = clock_wall_ms(), .echo_us = clock_mono_us()};
        send_msg(u, &m);
    }
}

#define STATS_PERIOD 1.0

static void on_stats(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct uplink *u = t->data;
    struct worker *w = u->w;
    if (u->state != UPLINK_UP)
        return;
    const struct worker_stats *s = &w->stats;
    struct link_msg m = {.type = LINK_STATS};
    m.stats.uptime_s = (uint64_t)(ev_now(loop) - w->started);
    m.stats.clients = w->nclients;
    m.stats.subscriptions = w->topics.nsubs;
    m.stats.topics = topics_count(&w->topics);
    m.stats.msgs_in = s->msgs_in;
    m.stats.msgs_out = s->msgs_out;
    m.stats.bytes_in = s->bytes_in;
    m.stats.bytes_out = s->bytes_out;
    m.stats.closed_idle = s->closed_idle;
    m.stats.closed_dead = s->closed_dead;
    m.stats.closed_slow = s->closed_slow;
    m.stats.closed_protocol = s->closed_protocol;
    m.stats.closed_rate = s->closed_rate;
    uint64_t known =
        s->closed_idle + s->closed_dead + s->closed_slow + s->closed_protocol + s->closed_rate;
    m.stats.closed_other = s->closed > known ? s->closed - known : 0;
    m.stats.rtt_us = u->rtt_us;
    m.stats.draining = w->draining != 0;
    send_msg(u, &m);
}

void uplink_send_stats(struct uplink *u)
{
    on_stats(u->w->loop, &u->stats, 0);
}

struct uplink *uplink_new(struct worker *w, uplink_policy_fn on_policy, uplink_hooks_fn on_hooks,
                          const struct uplink_deliver *deliver)
{
    struct uplink *u = xcalloc(1, sizeof *u);
    u->w = w;
    u->on_policy = on_policy;
    u->deliver = deliver;
    u->on_hooks = on_hooks;
    u->fd = -1;
    u->state = UPLINK_WAITING;
    hubring_init(&u->ring, w->cfg->nhubs, w->index, w->cfg->reconnect_min_ms / 1000.0,
                 w->cfg->reconnect_max_ms / 1000.0);
    u->linked_hub = SIZE_MAX;
    ev_init(&u->io, on_io);
    u->io.data = u;
    ev_init(&u->retry, on_retry);
    u->retry.data = u;
    double hb = w->cfg->heartbeat_ms / 1000.0;
    ev_timer_init(&u->heartbeat, on_heartbeat, hb, hb);
    u->heartbeat.data = u;
    ev_timer_init(&u->stats, on_stats, STATS_PERIOD, STATS_PERIOD);
    u->stats.data = u;
    ev_idle_init(&u->backlog, on_backlog_idle);
    u->backlog.data = u;
    return u;
}

void uplink_start(struct uplink *u)
{
    ev_timer_start(u->w->loop, &u->heartbeat);
    ev_timer_start(u->w->loop, &u->stats);
    connect_now(u);
}

void uplink_free(struct uplink *u)
{
    if (!u)
        return;
    struct ev_loop *loop = u->w->loop;
    ev_timer_stop(loop, &u->retry);
    ev_timer_stop(loop, &u->heartbeat);
    ev_timer_stop(loop, &u->stats);
    ev_idle_stop(loop, &u->backlog);
    if (u->fd >= 0) {
        ev_io_stop(loop, &u->io);
        close(u->fd);
    }
    if (u->lio_ready)
        linkio_deinit(&u->lio);
    free(u);
}

int uplink_is_up(const struct uplink *u)
{
    return u->state == UPLINK_UP;
}

size_t uplink_hub(const struct uplink *u)
{
    return u->ring.cur;
}

int64_t uplink_interest_add(struct uplink *u, const char *topic, size_t len, uint64_t since_seq,
                            const char *since_epoch)
{
    if (u->state != UPLINK_UP)
        return 0;
    struct link_msg m = {.type = LINK_INTEREST_ADD, .id = ++u->next_interest_id};
    m.topic.ptr = topic;
    m.topic.len = (uint32_t)len;
    if (since_epoch) {
        m.since_seq = since_seq;
        m.since_epoch = link_str_c(since_epoch);
    }
    send_msg(u, &m);
    return m.id;
}

int uplink_history_read(struct uplink *u, const char *topic, size_t len, int64_t id,
                        uint64_t since_seq, const char *since_epoch)
{
    if (u->state != UPLINK_UP)
        return -1;
    struct link_msg m = {.type = LINK_HISTORY_READ, .id = id, .since_seq = since_seq};
    m.topic.ptr = topic;
    m.topic.len = (uint32_t)len;
    m.since_epoch = link_str_c(since_epoch);
    send_msg(u, &m);
    return 0;
}

int uplink_interest_remove(struct uplink *u, const char *topic, size_t len)
{
    if (u->state != UPLINK_UP)
        return -1;
    struct link_msg m = {.type = LINK_INTEREST_REMOVE};
    m.topic.ptr = topic;
    m.topic.len = (uint32_t)len;
    send_msg(u, &m);
    return 0;
}

int uplink_publish_pending(struct uplink *u, const struct pub *p)
{
    if (u->state != UPLINK_UP)
        return -1;
    struct link_msg m = {.type = LINK_PUBLISH, .enc = p->enc, .pub_id = p->pub_id};
    m.topic.ptr = pub_topic(p);
    m.topic.len = p->topic_len;
    m.from.ptr = pub_from(p);
    m.from.len = p->from_len;
    m.user.ptr = pub_user(p);
    m.user.len = p->user_len;
    m.data.ptr = (const char *)pub_data(p);
    m.data.len = p->data_len;
    send_msg(u, &m);
    return 0;
}

int uplink_direct(struct uplink *u, const char *to, size_t to_len, const char *from,
                  const char *user, int has_id, int64_t id, enum enc enc, const uint8_t *data,
                  size_t len)
{
    if (u->state != UPLINK_UP)
        return -1;
    struct link_msg m = {
        .type = LINK_DIRECT, .has_id = (uint8_t)has_id, .id = id, .enc = (uint8_t)enc};
    m.to.ptr = to;
    m.to.len = (uint32_t)to_len;
    m.from = link_str_c(from);
    m.user = link_str_c(user);
    m.data.ptr = (const char *)data;
    m.data.len = (uint32_t)len;
    send_msg(u, &m);
    return 0;
}

int uplink_direct_result(struct uplink *u, const char *to, size_t to_len, int64_t id, int code,
                         const char *reason)
{
    if (u->state != UPLINK_UP)
        return -1;
    struct link_msg m = {.type = LINK_DIRECT_RESULT, .has_id = 1, .id = id, .code = (uint32_t)code};
    m.to.ptr = to;
    m.to.len = (uint32_t)to_len;
    m.reason = link_str_c(reason);
    send_msg(u, &m);
    return 0;
}

void uplink_flush(struct uplink *u)
{
    if (u->state != UPLINK_HELLO && u->state != UPLINK_UP)
        return;
    if (linkio_flush(&u->lio) < 0) {
        disconnect(u, u->lio.err);
        return;
    }
    if (!linkio_pending(&u->lio)) {
        set_events(u, EV_READ);
        return;
    }
    int r = linkio_write(&u->lio, u->fd);
    if (r < 0) {
        char why[200];
        snprintf(why, sizeof why, "%s", u->lio.err);
        disconnect(u, why);
        return;
    }
    if (r == 1 && linkio_pending(&u->lio) > (size_t)u->w->cfg->link_max_pending) {
        char why[120];
        snprintf(why, sizeof why, "congested: %zu bytes unsent", linkio_pending(&u->lio));
        disconnect(u, why);
        return;
    }
    set_events(u, r == 1 ? EV_READ | EV_WRITE : EV_READ);
}
