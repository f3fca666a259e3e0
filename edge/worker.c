/* One edge worker thread: its loop, the end-of-turn flush, the policy it
 * enforces, drain and stop. See worker.h. */
#include "edge/worker.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hooks_conf.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "edge/client.h"
#include "edge/deliver.h"
#include "edge/hooks.h"
#include "edge/listener.h"
#include "edge/request.h"
#include "edge/transport.h"
#include "edge/uplink.h"

/* End of every loop iteration (LIBRARIES.md §3: prepare runs before the
 * poll): one writev per connection with output, one compressed flush for the
 * hub link, and connections torn down this turn freed. */
/* History reads due this turn (edge/resume.h): one per topic, for every
 * connection that resumed it meanwhile. */
static void send_due_reads(struct worker *w)
{
    if (!uplink_is_up(w->up))
        return;
    struct topic *t;
    uint64_t since;
    int64_t id;
    while ((t = resume_next_read(&w->resumes, &since, &id)))
        uplink_history_read(w->up, t->node.name, t->node.len, id, since, t->epoch);
}

static void flush_all(struct worker *w)
{
    /* Hub input left over from earlier in the turn goes first, so what it
     * queues leaves in this very flush. */
    uplink_work_backlog(w->up);
    send_due_reads(w);
    while (w->dirty) {
        struct client *list = w->dirty;
        w->dirty = NULL;
        while (list) {
            struct client *c = list;
            list = c->dirty_next;
            /* DIRTY stays set during the flush so a re-mark cannot queue c twice. */
            client_flush(c);
            if (c->state == CLIENT_CLOSED) {
                client_free(c);
            } else {
                c->flags &= (uint8_t)~CLIENT_F_DIRTY;
            }
        }
    }
    uplink_flush(w->up);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    flush_all(p->data);
}

static void shutdown_worker(struct worker *w)
{
    w->stopping = 1;
    listener_close_all(w);
    ev_timer_stop(w->loop, &w->drain_timer);
    /* Tell every client why it goes (1001), write what we can, then leave. */
    struct client *c;
    for (size_t i = 0; (c = idtab_next(&w->conns, &i));) {
        if (c->state == CLIENT_OPEN)
            client_close(c, 1001, "going away");
        c->flags |= CLIENT_F_FLUSH_CLOSE;
        worker_mark_dirty(w, c);
    }
    flush_all(w);
    for (size_t i = 0; (c = idtab_next(&w->conns, &i));)
        client_terminate(c, "edge shutting down");
    flush_all(w);
    ev_break(w->loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_async *a, int revents)
{
    shutdown_worker(a->data);
}

/* Closes clients with 1001 so that by the end of the drain period all are
 * gone, a share at each tick: they reconnect through the load balancer to
 * other edges without arriving all at once. */
static void on_drain_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    double period = atomic_load(&w->cfg->ctl->drain_ms) / 1000.0;
    double share = period > 0 ? (ev_now(loop) - w->drain_start) / period : 1.0;
    if (share > 1.0)
        share = 1.0;
    size_t want = (size_t)((double)w->drain_total * share + 0.999999);
    struct client *c;
    for (size_t i = 0; w->drain_closed < want && (c = idtab_next(&w->conns, &i));) {
        if (c->state == CLIENT_OPEN) {
            client_close(c, 1001, "going away");
            w->drain_closed++;
        } else if (c->state == CLIENT_HANDSHAKE) {
            client_terminate(c, "edge draining");
        }
    }
    if (w->nclients == 0 && !w->drain_done) {
        w->drain_done = 1;
        ev_timer_stop(loop, t);
        log_info("drained: every client is gone");
        atomic_fetch_add(&w->cfg->ctl->drained, 1);
        ev_async_send(w->cfg->ctl->loop, &w->cfg->ctl->worker_drained);
    }
    /* Otherwise the last ones are finishing their closing handshakes. */
}

#define SNAPSHOT_PERIOD 0.25

static void publish_snapshot(struct worker *w)
{
    struct worker_snapshot s = {
        .have_policy = w->have_policy,
        .hooks_version = w->hooks ? w->hooks->version : 0,
        .linked = uplink_is_up(w->up),
        .hub = uplink_hub(w->up),
        .draining = w->draining,
        .clients = w->nclients,
        .subscriptions = w->topics.nsubs,
        .topics = topics_count(&w->topics),
        .deflate_clients = w->deflate_clients,
        .stats = w->stats,
    };
    if (w->pmd)
        s.pmd = *pmd_codec_stats(w->pmd);
    hooks_stats(w, &s.hooks);
    s.stats.sends_timed_out = w->sends.timed_out;
    s.stats.results_unsolicited = w->sends.unsolicited;
    s.stats.resumes_recovered = w->resumes.recovered;
    s.stats.resumes_not_recovered = w->resumes.not_recovered;
    s.stats.resumes_cached = w->resumes.served_cached;
    s.stats.history_reads = w->resumes.reads;
    s.stats.publishes_pending = w->pubs.count;
    s.stats.publishes_resent = w->pubs.resent;
    s.stats.publishes_expired = w->pubs.expired;
    s.stats.publishes_refused = w->pubs.refused_full;
    pthread_mutex_lock(&w->snap_lock);
    w->snap = s;
    pthread_mutex_unlock(&w->snap_lock);
}

static void on_snapshot(struct ev_loop *loop, ev_timer *t, int revents)
{
    publish_snapshot(t->data);
}

void worker_snapshot(struct worker *w, struct worker_snapshot *out)
{
    pthread_mutex_lock(&w->snap_lock);
    *out = w->snap;
    pthread_mutex_unlock(&w->snap_lock);
}

static void on_drain(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = a->data;
    if (w->draining || w->stopping)
        return;
    w->draining = 1;
    publish_snapshot(w); /* not ready from now on */
    /* Stop accepting first: new connections go elsewhere at once. */
    listener_close_all(w);
    w->drain_start = ev_now(loop);
    w->drain_total = w->nclients;
    log_info("draining: closing %zu clients with 1001 over %.1f s", w->drain_total,
             atomic_load(&w->cfg->ctl->drain_ms) / 1000.0);
    uplink_send_stats(w->up); /* the hub's /edges.json drops this edge at once */
    ev_timer_set(&w->drain_timer, 0., 0.05);
    ev_timer_start(loop, &w->drain_timer);
}

static void apply_policy(struct worker *w, const struct policy *p);
static void apply_hooks(struct worker *w, struct hooks_conf *c);

/* Resume caches (edge/resume.h): this much per worker, swept this often. */
#define RESUME_CACHE_BUDGET (16u << 20)
#define SWEEP_PERIOD 5.0

static void on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    resume_sweep(&w->resumes, ev_now(loop));
}

int worker_init(struct worker *w, const struct edge_config *cfg, unsigned index, char *err,
                size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->cfg = cfg;
    w->index = index;
    snprintf(w->label, sizeof w->label, "%s/w%u", cfg->name, index);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (!w->loop) {
        snprintf(err, errlen, "cannot create an event loop");
        return -1;
    }
    if (listener_bind_all(w, err, errlen) < 0) {
        ev_loop_destroy(w->loop);
        w->loop = NULL;
        return -1;
    }
    idtab_init(&w->conns, offsetof(struct client, seq));
    topics_init(&w->topics, request_answer, w, offsetof(struct client, subs));
    resumes_init(&w->resumes, &w->topics, request_push, w, RESUME_CACHE_BUDGET);
    ev_timer_init(&w->sweep_timer, on_sweep, SWEEP_PERIOD, SWEEP_PERIOD);
    w->sweep_timer.data = w;
    /* Timeouts stay 0 (never expire) until the hub's policy sets them. */
    deadline_list_init(&w->handshakes, w->loop, 0, client_handshake_expired, w);
    deadline_list_init(&w->idle, w->loop, 0, client_idle_expired, w);
    deadline_list_init(&w->ping, w->loop, 0, client_ping_expired, w);
    deadline_list_init(&w->pong, w->loop, 0, client_pong_expired, w);
    deadline_list_init(&w->closing, w->loop, cfg->close_timeout_ms / 1000.0, client_close_expired,
                       w);
    sends_init(&w->sends, w->loop, request_send_done, w);
    pubs_init(&w->pubs, w->loop, request_pub_ended, w);
    w->parser = msg_parser_new();
    buf_init(&w->scratch);
    buf_init(&w->edges);
    buf_init(&w->wsout);
    w->rbuf = xmalloc(WORKER_READ_BUF);
    w->client_calls = &request_calls;
    w->up = uplink_new(w, apply_policy, apply_hooks, &deliver_ops);
    ev_async_init(&w->stop_async, on_stop);
    w->stop_async.data = w;
    ev_async_init(&w->drain_async, on_drain);
    w->drain_async.data = w;
    ev_init(&w->drain_timer, on_drain_tick);
    w->drain_timer.data = w;
    pthread_mutex_init(&w->snap_lock, NULL);
    ev_timer_init(&w->snap_timer, on_snapshot, SNAPSHOT_PERIOD, SNAPSHOT_PERIOD);
    w->snap_timer.data = w;
    ev_prepare_init(&w->flush_prepare, on_prepare);
    w->flush_prepare.data = w;
    ev_async_start(w->loop, &w->stop_async);
    ev_async_start(w->loop, &w->drain_async);
    return 0;
}

/* Takes the hooks the hub sent (ownership of c): the hook engine takes
 * them from w->hooks. */
static void apply_hooks(struct worker *w, struct hooks_conf *c)
{
    struct hooks_conf *old = w->hooks;
    uint64_t before = old ? old->version : 0;
    w->hooks = c;
    if (before != c->version)
        log_info("hooks: version %llu -> %llu", (unsigned long long)before,
                 (unsigned long long)c->version);
    /* The old one goes only after the engine has moved to the new one, so
     * that it may still look at it while it does. */
    hooks_reconfigure(w);
    free(old);
}

/* Takes the policy the hub sent: applies it to every list and limit, and
 * starts accepting clients if this is the first one. */
static void apply_policy(struct worker *w, const struct policy *p)
{
    if (w->have_policy && policy_equal(&w->policy, p))
        return;
    for (size_t i = 0; i < policy_nkeys; i++) {
        const struct policy_key *k = &policy_keys[i];
        long v = policy_get(p, k);
        if (v < k->min || v > k->max) {
            log_error("hub sent an out-of-range policy (%s = %ld): ignored", k->name, v);
            return;
        }
        if (w->have_policy && v != policy_get(&w->policy, k)) {
            char a[32], b[32];
            policy_format_value(k, policy_get(&w->policy, k), a, sizeof a);
            policy_format_value(k, v, b, sizeof b);
            log_info("policy: %s %s -> %s", k->name, a, b);
        }
    }
    w->policy = *p;
    msg_parser_set_render_budget(w->parser, msg_render_budget(p->max_message_bytes));
    /* Re-arm the lists, not each connection: a changed timeout applies to
     * connections already waiting. */
    deadline_list_set_timeout(&w->handshakes, p->handshake_timeout_ms / 1000.0);
    deadline_list_set_timeout(&w->idle, p->idle_timeout_ms / 1000.0);
    deadline_list_set_timeout(&w->ping, p->ping_interval_ms / 1000.0);
    deadline_list_set_timeout(&w->pong, p->pong_timeout_ms / 1000.0);
    sends_set_timeout(&w->sends, p->send_timeout_ms);
    pubs_set_limits(&w->pubs, p->publish_timeout_ms, p->max_pending_publishes,
                    p->publish_buffer_bytes);
    if (w->have_policy)
        return;
    w->have_policy = 1;
    if (w->draining)
        return; /* a drain started before the policy came: stay closed */
    if (listener_start_all(w) == w->nlisteners) { /* the main thread's ready file counts us */
        atomic_fetch_add(&w->cfg->ctl->listening, 1);
        ev_async_send(w->cfg->ctl->loop, &w->cfg->ctl->worker_listening);
    }
    log_info("policy received (idle_timeout %ld ms, ping_interval %ld ms, max_message_bytes %ld): "
             "accepting clients",
             p->idle_timeout_ms, p->ping_interval_ms, p->max_message_bytes);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    log_set_component(w->label);
    w->started = ev_now(w->loop);
    /* No listener is started here: clients are accepted only once the
     * hub's policy has arrived (apply_policy). */
    ev_prepare_start(w->loop, &w->flush_prepare);
    ev_timer_start(w->loop, &w->snap_timer);
    ev_timer_start(w->loop, &w->sweep_timer);
    uplink_start(w->up);
    log_debug("worker started");
    ev_run(w->loop, 0);
    transport_thread_done(); /* shutdown_worker has ended every connection */
    log_debug("worker stopped");
    return NULL;
}

int worker_start(struct worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    w->thread_started = 1;
    return 0;
}

void worker_stop(struct worker *w)
{
    ev_async_send(w->loop, &w->stop_async);
}

void worker_drain(struct worker *w)
{
    ev_async_send(w->loop, &w->drain_async);
}

void worker_join(struct worker *w)
{
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    w->thread_started = 0;
}

void worker_deinit(struct worker *w)
{
    if (!w->loop)
        return;
    /* Connections that never got a shutdown (thread not started). */
    struct client *c;
    for (size_t i = 0; (c = idtab_next(&w->conns, &i));)
        client_terminate(c, NULL);
    while ((c = w->dirty)) {
        w->dirty = c->dirty_next;
        client_free(c);
    }
    hooks_free(w); /* before the connections' table goes: answers look them up */
    uplink_free(w->up);
    free(w->hooks);
    w->hooks = NULL;
    resumes_deinit(&w->resumes);
    topics_deinit(&w->topics);
    pubs_deinit(&w->pubs);
    idtab_deinit(&w->conns);
    deadline_list_deinit(&w->handshakes);
    deadline_list_deinit(&w->idle);
    deadline_list_deinit(&w->ping);
    deadline_list_deinit(&w->pong);
    deadline_list_deinit(&w->closing);
    sends_deinit(&w->sends);
    msg_parser_free(w->parser);
    buf_deinit(&w->scratch);
    buf_deinit(&w->edges);
    buf_deinit(&w->wsout);
    pmd_codec_free(w->pmd);
    sendq_pool_deinit(&w->qpool);
    free(w->rbuf);
    ev_async_stop(w->loop, &w->stop_async);
    ev_async_stop(w->loop, &w->drain_async);
    ev_timer_stop(w->loop, &w->drain_timer);
    ev_timer_stop(w->loop, &w->snap_timer);
    ev_timer_stop(w->loop, &w->sweep_timer);
    pthread_mutex_destroy(&w->snap_lock);
    ev_prepare_stop(w->loop, &w->flush_prepare);
    listener_close_all(w);
    ev_loop_destroy(w->loop);
    w->loop = NULL;
}
