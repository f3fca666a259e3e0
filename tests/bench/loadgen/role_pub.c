/* The `pub` role: open --conns publisher connections, subscribe them to the
 * topics they publish to (to see their own echoes), send a warm-up message
 * every 20 ms until "go", then publish --messages measured messages, either
 * at --rate (timer-driven with catch-up) or as fast as a window of --window
 * messages not yet echoed allows, and wait for the echoes.
 *
 * Message i goes to topic i mod K on connection i mod P. Topic t is
 * subscribed by connection t mod P only, so each message echoes back to this
 * process exactly once; echoes are recognised as ours by the spoke "from"
 * field (one of our connection ids) or the NATS payload tag. With --echo 0
 * (rate mode only) the publisher subscribes to nothing, so its edge holds no
 * interest in the topics, and it ends after its last send. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

#define WARM_PERIOD 0.020
#define ECHO_WAIT 30.0

struct pub_role {
    struct lg *lg;
    struct conn *conns;
    unsigned n;
    unsigned ready;
    int said_ready, measuring, all_sent, go_early;
    uint64_t sent, echoed, echoed_extra, warm_sent, warm_topic;
    uint64_t start_ns, last_send_ns, last_echo_ns;
    double cpu_at_go;
    struct hist echo;
    ev_timer setup_timer, warm_timer, rate_timer, end_timer;
};

static void finish(struct pub_role *r)
{
    struct lg *lg = r->lg;
    struct buf b = BUF_INIT;
    double elapsed = r->sent ? (double)(r->last_send_ns - r->start_ns) / 1e9 : 0;
    double echo_s = r->echoed ? (double)(r->last_echo_ns - r->start_ns) / 1e9 : 0;

    buf_printf(&b,
               "{\"role\":\"pub\",\"sent\":%" PRIu64 ",\"echoed\":%" PRIu64
               ",\"elapsed_s\":%.6f,\"rate\":%.1f,\"echo_s\":%.6f,\"warm_sent\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"proto_errors\":%" PRIu64 ",",
               r->sent, r->echoed, elapsed, elapsed > 0 ? (double)r->sent / elapsed : 0.0, echo_s,
               r->warm_sent, lg->spoke_errors, lg->proto_errors);
    lg_append_latency(&b, "echo_", &r->echo, 0);
    buf_printf(&b, ",\"cpu_s\":%.3f,\"cpu_measured_s\":%.3f", lg_cpu_s(),
               r->measuring ? lg_cpu_s() - r->cpu_at_go : 0.0);
    lg_result(&b);
}

static void end_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    finish(w->data);
}

static void send_one(struct pub_role *r)
{
    uint64_t i = r->sent++;
    struct conn *c = &r->conns[i % r->n];
    uint64_t now = now_ns();
    proto_send_pub(c, (unsigned)(i % r->lg->o.topics), i, now, 0);
    r->last_send_ns = now;
    if (r->sent == r->lg->o.messages) {
        r->all_sent = 1;
        ev_timer_stop(r->lg->loop, &r->rate_timer);
        /* Without echoes, end once the last message has been written (the
         * flush comes at the end of this loop iteration). */
        ev_timer_init(&r->end_timer, end_timeout_cb, r->lg->o.echo ? ECHO_WAIT : 0.1, 0);
        r->end_timer.data = r;
        ev_timer_start(r->lg->loop, &r->end_timer);
    }
}

/* Rate mode: message i is due at start + i / rate; each tick sends every
 * message that is due (catching up after a late tick). */
static void rate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pub_role *r = w->data;
    double since = (double)(now_ns() - r->start_ns) / 1e9;
    uint64_t due = (uint64_t)floor(since * r->lg->o.rate) + 1;
    if (due > r->lg->o.messages)
        due = r->lg->o.messages;
    while (r->sent < due && !r->all_sent)
        send_one(r);
}

/* Window mode: top up once per loop iteration, so echoes that arrived in
 * one iteration release a batch that leaves in one write per connection. */
static void prepare(struct lg *lg)
{
    struct pub_role *r = lg->role;
    if (!r->measuring || lg->o.rate > 0)
        return;
    while (!r->all_sent && r->sent - r->echoed < lg->o.window)
        send_one(r);
}

static void warm_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pub_role *r = w->data;
    unsigned k = r->lg->o.topics;
    /* All K topics get a warm-up about once a second, and at least one
     * topic every tick: ceil(K / 50) topics per 20 ms. */
    unsigned batch = (k + 49) / 50;
    for (unsigned b = 0; b < batch; b++) {
        uint64_t i = r->warm_sent++;
        unsigned t = (unsigned)(r->warm_topic++ % k);
        proto_send_pub(&r->conns[i % r->n], t, i, now_ns(), 1);
    }
}

static void on_go(struct lg *lg)
{
    struct pub_role *r = lg->role;
    if (!r->said_ready) {
        r->go_early = 1; /* honoured at READY */
        return;
    }
    if (r->measuring)
        return;
    ev_timer_stop(lg->loop, &r->warm_timer);
    r->measuring = 1;
    r->cpu_at_go = lg_cpu_s();
    r->start_ns = now_ns();
    if (lg->o.messages == 0)
        finish(r);
    if (lg->o.rate > 0) {
        double period = 1.0 / lg->o.rate;
        if (period < 0.001)
            period = 0.001; /* the loop's timers have ~1 ms resolution: batch */
        ev_timer_init(&r->rate_timer, rate_cb, 0, period);
        r->rate_timer.data = r;
        ev_timer_start(lg->loop, &r->rate_timer);
    }
}

static int is_own(struct pub_role *r, const struct lg_event *e)
{
    if (r->lg->o.proto == PROTO_NATS)
        return e->tag == r->lg->tag;
    if (!e->str)
        return 0;
    for (unsigned j = 0; j < r->n; j++) {
        const struct conn *c = &r->conns[j];
        if (c->conn_id_len == e->str_len && memcmp(c->conn_id, e->str, e->str_len) == 0)
            return 1;
    }
    return 0;
}

static void on_ready(struct pub_role *r)
{
    struct lg *lg = r->lg;
    r->said_ready = 1;
    ev_timer_stop(lg->loop, &r->setup_timer);
    lg_say("READY");
    ev_timer_init(&r->warm_timer, warm_cb, 0, WARM_PERIOD);
    r->warm_timer.data = r;
    ev_timer_start(lg->loop, &r->warm_timer);
    if (r->go_early)
        on_go(lg);
}

static void conn_ready(struct pub_role *r, struct conn *c)
{
    c->ready = 1;
    if (++r->ready == r->n)
        on_ready(r);
}

static void on_event(struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct lg *lg = c->lg;
    struct pub_role *r = lg->role;

    switch (e->kind) {
    case LE_MSG:
        if (e->w || !r->measuring || !is_own(r, e))
            break;
        if (r->echoed >= r->sent) {
            r->echoed_extra++;
            break;
        }
        r->echoed++;
        r->last_echo_ns = now;
        hist_add(&r->echo, e->has_t && now > e->t ? now - e->t : 0);
        if (r->all_sent && r->echoed >= r->sent)
            finish(r);
        break;
    case LE_HELLO:
        if (e->str) {
            c->conn_id = xstrndup(e->str, e->str_len);
            c->conn_id_len = e->str_len;
        } else if (lg->o.proto == PROTO_SPOKE) {
            lg_fatal("connection %u: welcome without a connection id", c->idx);
        }
        proto_on_hello(c);
        for (unsigned t = c->idx; lg->o.echo && t < lg->o.topics; t += r->n) {
            proto_send_sub(c, t, (int64_t)t + 1);
            if (lg->o.proto == PROTO_SPOKE)
                c->acks_wanted++;
        }
        if (lg->o.proto == PROTO_NATS && lg->o.echo) {
            proto_send_sync(c);
            c->acks_wanted = 1;
        }
        if (!c->acks_wanted)
            conn_ready(r, c);
        break;
    case LE_ACK:
        if (!c->ready && c->acks_wanted && --c->acks_wanted == 0)
            conn_ready(r, c);
        break;
    case LE_RESET: break;
    case LE_ERROR:
        if (!c->ready)
            lg_fatal("publisher %u: subscribe refused: %.*s", c->idx, (int)e->str_len, e->str);
        if (lg->spoke_errors == 1)
            fprintf(stderr, "spoke-loadgen: publisher %u got an error: %.*s\n", c->idx,
                    (int)e->str_len, e->str);
        break;
    }
}

static void on_close(struct conn *c, const char *why)
{
    lg_fatal("publisher connection %u closed: %s", c->idx, why);
}

static void setup_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pub_role *r = w->data;
    lg_fatal("setup timed out after %.0f s: %u of %u publisher connections ready",
             r->lg->o.setup_timeout, r->ready, r->n);
}

static const struct role_ops pub_ops = {
    .on_event = on_event,
    .on_close = on_close,
    .prepare = prepare,
    .on_go = on_go,
};

void role_pub_init(struct lg *lg)
{
    struct pub_role *r = xcalloc(1, sizeof *r);
    r->lg = lg;
    r->n = lg->o.conns;
    r->conns = xcalloc(r->n, sizeof *r->conns);
    for (unsigned j = 0; j < r->n; j++) {
        r->conns[j].lg = lg;
        r->conns[j].idx = j;
        r->conns[j].keep_out = 1; /* busy: keep the output buffer between flushes */
    }
    lg->role = r;
    lg->ops = &pub_ops;
    ev_timer_init(&r->setup_timer, setup_timeout_cb, lg->o.setup_timeout, 0);
    r->setup_timer.data = r;
    ev_timer_start(lg->loop, &r->setup_timer);
    ws_launch(lg, r->conns, r->n);
}
