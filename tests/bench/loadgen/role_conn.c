/* The `handshake` and `churn` roles: keep --conns connection attempts in
 * flight for --duration seconds and count how many complete per second.
 *
 * handshake: connect, upgrade, wait for the welcome (spoke) or INFO (NATS),
 * close. churn: connect, subscribe to a topic of its own, publish one message
 * to it, receive it, close. Sockets are closed with SO_LINGER 0 (an RST, no
 * TIME_WAIT), or tens of thousands of closes per second would exhaust the
 * local ports within a minute. */
#include <inttypes.h>
#include <stdio.h>

#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

struct conn_role {
    struct lg *lg;
    struct conn *slots;
    unsigned n;
    int churn, running;
    uint64_t start_ns, completed, failed;
    const char *first_failure;
    struct hist lat;
    ev_timer dur_timer, retry_timer;
};

static void finish(struct conn_role *r)
{
    struct buf b = BUF_INIT;
    double elapsed = (double)(now_ns() - r->start_ns) / 1e9;
    buf_printf(&b,
               "{\"role\":\"%s\",\"conns\":%u,\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"elapsed_s\":%.3f,\"rate\":%.1f,",
               r->churn ? "churn" : "handshake", r->n, r->completed, r->failed, elapsed,
               elapsed > 0 ? (double)r->completed / elapsed : 0.0);
    if (r->first_failure)
        buf_printf(&b, "\"first_failure\":\"%s\",", r->first_failure);
    lg_append_latency(&b, "", &r->lat, 0);
    buf_printf(&b, ",\"cpu_s\":%.3f", lg_cpu_s());
    lg_result(&b);
}

static void duration_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    finish(w->data);
}

static void complete(struct conn *c, uint64_t now)
{
    struct conn_role *r = c->lg->role;
    r->completed++;
    hist_add(&r->lat, now - c->t0);
    c->done = 1;
    conn_close(c, "done");
}

static void on_event(struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct conn_role *r = c->lg->role;

    switch (e->kind) {
    case LE_HELLO:
        if (!r->churn) {
            complete(c, now);
            return;
        }
        proto_on_hello(c);
        proto_send_sub(c, c->topic, 1);
        proto_send_sync(c);
        break;
    case LE_ACK:
        if (!c->ready) {
            c->ready = 1;
            proto_send_pub(c, c->topic, c->received, now_ns(), 0);
        }
        break;
    case LE_MSG: complete(c, now); break;
    case LE_ERROR: conn_close(c, "error reply"); break;
    case LE_RESET: break;
    }
}

static void on_close(struct conn *c, const char *why)
{
    struct conn_role *r = c->lg->role;
    if (c->done)
        return;
    r->failed++;
    if (!r->first_failure)
        r->first_failure = why;
}

/* Refills the slots that closed during the last iteration. A slot whose
 * connect failed at once waits for the next iteration. */
static void prepare(struct lg *lg)
{
    struct conn_role *r = lg->role;
    if (!r->running)
        return;
    for (unsigned j = 0; j < r->n; j++) {
        struct conn *c = &r->slots[j];
        if (c->state != CS_IDLE && c->state != CS_CLOSED)
            continue;
        c->done = c->ready = 0;
        c->received++; /* attempt number: picks the corpus message */
        c->t0 = now_ns();
        if (conn_start(c) < 0)
            lg_fatal("cannot create sockets");
        /* A connect that failed at once leaves nothing to wake the loop:
         * retry after 1 ms rather than sleep until the end of the run. */
        if (c->state == CS_CLOSED && !ev_is_active(&r->retry_timer)) {
            ev_timer_set(&r->retry_timer, 0.001, 0);
            ev_timer_start(lg->loop, &r->retry_timer);
        }
    }
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    /* Nothing to do: waking up runs prepare(), which refills the slots. */
}

static const struct role_ops conn_ops = {
    .on_event = on_event,
    .on_close = on_close,
    .prepare = prepare,
};

void role_handshake_init(struct lg *lg)
{
    struct conn_role *r = xcalloc(1, sizeof *r);
    r->lg = lg;
    r->n = lg->o.conns;
    r->churn = lg->o.role == ROLE_CHURN;
    r->slots = xcalloc(r->n, sizeof *r->slots);
    for (unsigned j = 0; j < r->n; j++) {
        r->slots[j].lg = lg;
        r->slots[j].idx = j;
        r->slots[j].rst = 1;
        r->slots[j].topic = r->churn ? j : 0; /* main.c names topic j "NAME.<pid>.<j>" */
    }
    lg->role = r;
    lg->ops = &conn_ops;
    /* Every slot is always in flight: the setup limit does not apply. */
    lg->o.inflight = r->n;
    lg_say("READY");
    r->running = 1;
    r->start_ns = now_ns();
    ev_timer_init(&r->dur_timer, duration_cb, lg->o.duration, 0);
    r->dur_timer.data = r;
    ev_timer_start(lg->loop, &r->dur_timer);
    ev_timer_init(&r->retry_timer, retry_cb, 0.001, 0);
}
