/* The `sub` and `idle` roles: open many subscriber connections, subscribe
 * each to its topic, then either count and time the measured messages (sub)
 * or just hold the connections open for a while (idle).
 *
 * sub: READY once every connection's subscription is acknowledged, WARM once
 * every connection has seen a message (the publisher's warm-ups), then the
 * measured phase, which ends when every connection has its expected count,
 * is closed, or --timeout seconds have passed since the phase began (at WARM,
 * at the first measured message or at a "go" line, whichever comes first).
 *
 * With --reconnect (resume.c), a connection closed with 1001 or lost comes
 * back and subscribes again, with since; it is then not done until it has
 * its count, and RECOVERED is printed once every connection has been closed
 * and is back (caught up). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

/* With at most this many topics the result carries "orders": the distinct
 * order digests per topic (each connection's digest of the seq and send
 * time of its measured messages, in arrival order), at most ORDER_MAX of
 * them. Connections of one topic that saw one order have one digest. */
#define ORDER_MAX_TOPICS 16
#define ORDER_MAX 64

/* --spread: per measured message (keyed by its send time t, which one
 * publisher never repeats), how many connections of each URL got it and
 * their first and last arrival. It shows a fan-out's span per server and the
 * time before its first write. Open addressing over a table of at least
 * twice the expected messages (88 B an entry); messages beyond it are
 * counted in spread_dropped. */
#define SPREAD_URLS 4
struct spread_msg {
    uint64_t t; /* 0: free */
    uint32_t n[SPREAD_URLS];
    uint64_t first[SPREAD_URLS], last[SPREAD_URLS];
};
struct spread {
    struct spread_msg *m;
    size_t mask, used;
    uint64_t dropped;
};

struct sub_role {
    struct lg *lg;
    struct conn *conns;
    unsigned n;
    int idle;
    unsigned ready, warm, done, closed;
    int said_ready, said_warm, said_recovered, measuring;
    uint64_t received, expected, gaps, warm_msgs, resets;
    struct resume *res;   /* --reconnect; NULL otherwise */
    uint64_t *order;      /* per connection, with <= ORDER_MAX_TOPICS topics; else NULL */
    struct spread spread; /* --spread; m == NULL otherwise */
    uint64_t first_ns, last_ns;
    uint64_t measure_start_ns;
    double cpu_at_measure;
    struct hist hist;      /* send -> arrival at our socket (kernel timestamp) */
    struct hist read_hist; /* send -> our read of it */
    ev_timer setup_timer, phase_timer;
};

static uint64_t order_mix(uint64_t h, uint64_t v)
{
    uint64_t z = (h ^ v) + 0x9e3779b97f4a7c15ULL; /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void spread_init(struct spread *sp, uint64_t messages)
{
    size_t cap = 64;
    while (cap < 2 * messages && cap < (1u << 22))
        cap <<= 1;
    sp->m = xcalloc(cap, sizeof *sp->m);
    sp->mask = cap - 1;
}

static void spread_add(struct spread *sp, uint64_t t, unsigned url, uint64_t now)
{
    if (!t)
        return;
    size_t i = (size_t)((t * 0x9e3779b97f4a7c15ULL) >> 32) & sp->mask;
    while (sp->m[i].t && sp->m[i].t != t)
        i = (i + 1) & sp->mask;
    struct spread_msg *m = &sp->m[i];
    if (!m->t) {
        if (2 * (sp->used + 1) > sp->mask + 1) { /* keep it at most half full */
            sp->dropped++;
            return;
        }
        m->t = t;
        sp->used++;
    }
    url %= SPREAD_URLS;
    if (!m->n[url]++ || now < m->first[url])
        m->first[url] = now;
    if (now > m->last[url])
        m->last[url] = now;
}

/* Appends ,"spread_dropped":D,"spread":[[t,n0,first0,last0,n1,...],...]: per
 * message its send time and, per URL (as many as --url), the connections
 * that got it and their first and last arrival as ns after t. */
static void append_spread(struct buf *b, const struct sub_role *r)
{
    const struct spread *sp = &r->spread;
    unsigned nu = r->lg->o.nurls < SPREAD_URLS ? r->lg->o.nurls : SPREAD_URLS;
    int any = 0;
    buf_printf(b, ",\"spread_dropped\":%" PRIu64 ",\"spread\":[", sp->dropped);
    for (size_t i = 0; i <= sp->mask; i++) {
        const struct spread_msg *m = &sp->m[i];
        if (!m->t)
            continue;
        buf_printf(b, "%s[%" PRIu64, any++ ? "," : "", m->t);
        for (unsigned u = 0; u < nu; u++) {
            uint64_t f = m->n[u] && m->first[u] > m->t ? m->first[u] - m->t : 0;
            uint64_t l = m->n[u] && m->last[u] > m->t ? m->last[u] - m->t : 0;
            buf_printf(b, ",%u,%" PRIu64 ",%" PRIu64, m->n[u], f, l);
        }
        buf_append_u8(b, ']');
    }
    buf_append_u8(b, ']');
}

/* Appends ,"orders":[[topic,"digest",conns],...] (and "orders_overflow"
 * when there were more than ORDER_MAX distinct pairs). */
static void append_orders(struct buf *b, const struct sub_role *r)
{
    struct {
        uint32_t topic;
        uint64_t digest, n;
    } seen[ORDER_MAX];
    unsigned ns = 0, overflow = 0;
    for (unsigned j = 0; j < r->n; j++) {
        unsigned k = 0;
        while (k < ns && (seen[k].topic != r->conns[j].topic || seen[k].digest != r->order[j]))
            k++;
        if (k < ns) {
            seen[k].n++;
        } else if (ns < ORDER_MAX) {
            seen[ns].topic = r->conns[j].topic;
            seen[ns].digest = r->order[j];
            seen[ns++].n = 1;
        } else {
            overflow = 1;
        }
    }
    buf_printf(b, ",\"orders\":[");
    for (unsigned k = 0; k < ns; k++)
        buf_printf(b, "%s[%u,\"%016" PRIx64 "\",%" PRIu64 "]", k ? "," : "", seen[k].topic,
                   seen[k].digest, seen[k].n);
    buf_printf(b, "]%s", overflow ? ",\"orders_overflow\":true" : "");
}

static void finish(struct sub_role *r, int timed_out)
{
    struct lg *lg = r->lg;
    struct buf b = BUF_INIT;

    if (r->idle) {
        buf_printf(&b, "{\"role\":\"idle\",\"conns\":%u,\"alive\":%u,\"messages\":%" PRIu64 ",",
                   r->n, r->n - r->closed, r->warm_msgs + r->received);
        lg_append_close_codes(&b, lg);
        buf_printf(&b, ",\"cpu_s\":%.3f", lg_cpu_s());
        ws_append_deflate(&b, lg);
        lg_result(&b);
    }
    buf_printf(&b,
               "{\"role\":\"sub\",\"conns\":%u,\"received\":%" PRIu64 ",\"expected\":%" PRIu64
               ",\"seq_gaps\":%" PRIu64 ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
               ",\"closed\":%u,\"timed_out\":%s,\"warm_msgs\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"proto_errors\":%" PRIu64 ",\"resets\":%" PRIu64 ",",
               r->n, r->received, r->expected, r->res ? resume_seq_gaps(r->res) : r->gaps,
               r->first_ns, r->last_ns, r->closed, timed_out ? "true" : "false", r->warm_msgs,
               lg->spoke_errors, lg->proto_errors, r->resets);
    lg_append_latency(&b, "", &r->hist, 1);
    buf_printf(&b, ",\"latency_at\":\"%s\",", lg->rx_timestamps ? "kernel_rx" : "read");
    lg_append_latency(&b, "read_", &r->read_hist, 0);
    buf_append_u8(&b, ',');
    lg_append_close_codes(&b, lg);
    buf_printf(&b, ",\"reads\":%" PRIu64 ",\"read_bytes\":%" PRIu64, lg->reads, lg->read_bytes);
    buf_printf(&b, ",\"cpu_s\":%.3f,\"cpu_measured_s\":%.3f", lg_cpu_s(),
               r->measuring ? lg_cpu_s() - r->cpu_at_measure : 0.0);
    if (r->order)
        append_orders(&b, r);
    if (r->spread.m)
        append_spread(&b, r);
    if (r->res)
        resume_append_result(r->res, &b);
    ws_append_deflate(&b, lg);
    lg_result(&b);
}

static void phase_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sub_role *r = w->data;
    finish(r, !r->idle);
}

static void setup_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sub_role *r = w->data;
    lg_fatal("setup timed out after %.0f s: %u of %u connections subscribed",
             r->lg->o.setup_timeout, r->ready, r->n);
}

static void start_measuring(struct sub_role *r)
{
    if (r->measuring || r->idle)
        return;
    r->measuring = 1;
    r->measure_start_ns = now_ns();
    r->cpu_at_measure = lg_cpu_s();
    ev_timer_init(&r->phase_timer, phase_timeout_cb, r->lg->o.timeout, 0);
    r->phase_timer.data = r;
    ev_timer_start(r->lg->loop, &r->phase_timer);
}

static void check_progress(struct sub_role *r)
{
    if (!r->said_warm && r->said_ready && r->warm >= r->n && !r->idle) {
        r->said_warm = 1;
        lg_say("WARM");
        start_measuring(r);
    }
    if (r->res && !r->said_recovered && resume_all_back(r->res)) {
        r->said_recovered = 1;
        lg_say("RECOVERED");
    }
    if (r->said_warm && r->done >= r->n)
        finish(r, 0);
}

static void on_ready(struct sub_role *r)
{
    struct lg *lg = r->lg;
    r->said_ready = 1;
    ev_timer_stop(lg->loop, &r->setup_timer);
    lg_say("READY");
    if (r->idle) {
        ev_timer_init(&r->phase_timer, phase_timeout_cb, lg->o.duration, 0);
        r->phase_timer.data = r;
        ev_timer_start(lg->loop, &r->phase_timer);
    }
    check_progress(r);
}

static void on_msg(struct sub_role *r, struct conn *c, const struct lg_event *e, uint64_t now)
{
    if (r->idle) {
        r->warm_msgs++;
        return;
    }
    if (!c->warm) {
        c->warm = 1;
        r->warm++;
    }
    /* With --reconnect every message is checked there, and a duplicate is
     * not counted again. */
    if (r->res && resume_on_msg(r->res, c, e, now) < 0)
        return;
    if (e->w) {
        r->warm_msgs++;
        if (e->has_seq && !r->res)
            c->last_seq = e->seq;
    } else {
        if (!r->measuring)
            start_measuring(r);
        /* seq numbers every message on the topic: a measured message must
         * follow the previous one (warm-up or measured) by exactly 1. */
        if (e->has_seq && !r->res) {
            if (c->last_seq && e->seq != c->last_seq + 1)
                r->gaps += e->seq > c->last_seq ? e->seq - c->last_seq - 1 : 1;
            c->last_seq = e->seq;
        }
        if (r->order)
            r->order[c->idx] = order_mix(order_mix(r->order[c->idx], e->seq), e->t);
        c->received++;
        r->received++;
        if (!r->first_ns)
            r->first_ns = now;
        r->last_ns = now;
        hist_add(&r->hist, e->has_t && now > e->t ? now - e->t : 0);
        if (r->spread.m && e->has_t)
            spread_add(&r->spread, e->t, c->url_idx, now);
        hist_add(&r->read_hist, e->has_t && r->lg->read_ns > e->t ? r->lg->read_ns - e->t : 0);
    }
    if (!c->done && c->received >= c->expected) {
        c->done = 1;
        r->done++;
    }
    check_progress(r);
}

static void mark_ready(struct sub_role *r, struct conn *c)
{
    c->ready = 1;
    if (++r->ready == r->n)
        on_ready(r);
}

static void on_event(struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct sub_role *r = c->lg->role;

    switch (e->kind) {
    case LE_MSG: on_msg(r, c, e, now); return; /* checks progress itself */
    case LE_HELLO:
        if (c->ready && r->res) { /* reconnected */
            resume_on_hello(r->res, c);
            break;
        }
        proto_on_hello(c);
        if (!c->acks_wanted) { /* idle --subs 0 */
            mark_ready(r, c);
            break;
        }
        for (unsigned s = 0; s < r->lg->o.subs; s++)
            proto_send_sub(c, (c->topic + s) % r->lg->o.topics, 1);
        proto_send_sync(c);
        break;
    case LE_ACK:
        if (!c->ready && c->acks_wanted > 1) {
            c->acks_wanted--;
        } else if (!c->ready) {
            if (r->res)
                resume_on_first_ack(r->res, c, e);
            mark_ready(r, c);
        } else if (r->res) {
            resume_on_ack(r->res, c, e, now);
        }
        break;
    case LE_ERROR:
        if (!c->ready)
            lg_fatal("connection %u: subscribe refused: %.*s", c->idx, (int)e->str_len, e->str);
        if (r->res)
            resume_on_error(r->res, c, e, now);
        break;
    case LE_RESET:
        r->resets++;
        if (r->res)
            resume_on_reset(r->res, c, e);
        break;
    }
    check_progress(r);
}

static void on_close(struct conn *c, const char *why)
{
    struct sub_role *r = c->lg->role;
    if (!r->said_ready)
        lg_fatal("connection %u failed during setup: %s", c->idx, why);
    if (r->res && resume_on_close(r->res, c)) { /* it comes back */
        check_progress(r);
        return;
    }
    r->closed++;
    if (!c->warm) { /* a closed connection no longer holds up WARM */
        c->warm = 1;
        r->warm++;
    }
    if (!c->done) {
        c->done = 1;
        r->done++;
    }
    if (r->closed == 1)
        fprintf(stderr, "spoke-loadgen: connection %u closed: %s\n", c->idx, why);
    check_progress(r);
}

static void on_go(struct lg *lg)
{
    start_measuring(lg->role);
}

static void prepare(struct lg *lg)
{
    struct sub_role *r = lg->role;
    if (r->res)
        resume_prepare(r->res);
}

static const struct role_ops sub_ops = {
    .on_event = on_event,
    .on_close = on_close,
    .prepare = prepare,
    .on_go = on_go,
};

void role_sub_init(struct lg *lg)
{
    struct sub_role *r = xcalloc(1, sizeof *r);
    unsigned k = lg->o.topics;
    uint64_t m = lg->o.messages;

    r->lg = lg;
    r->n = lg->o.conns;
    r->idle = lg->o.role == ROLE_IDLE;
    r->conns = xcalloc(r->n, sizeof *r->conns);
    for (unsigned j = 0; j < r->n; j++) {
        struct conn *c = &r->conns[j];
        c->lg = lg;
        c->idx = j;
        /* Connection j of this process listens on topic (base + j) mod K
         * (idle: and the --subs - 1 after it); topic t receives the
         * messages i < M with i mod K == t. */
        c->topic =
            k > 1 ? (unsigned)(((uint64_t)lg->o.topic_base + (uint64_t)j * lg->o.subs) % k) : 0;
        /* spoke acks every sub, NATS's PONG all of them at once */
        c->acks_wanted = lg->o.proto == PROTO_SPOKE ? lg->o.subs : lg->o.subs > 0;
        c->expected = k > 1 ? m / k + (c->topic < m % k) : m;
        r->expected += c->expected;
    }
    if (lg->o.reconnect != RC_OFF)
        r->res = resume_new(lg, r->conns, r->n);
    if (!r->idle && k <= ORDER_MAX_TOPICS)
        r->order = xcalloc(r->n, sizeof *r->order);
    if (!r->idle && lg->o.spread)
        spread_init(&r->spread, m);
    lg->role = r;
    lg->ops = &sub_ops;
    ev_timer_init(&r->setup_timer, setup_timeout_cb, lg->o.setup_timeout, 0);
    r->setup_timer.data = r;
    ev_timer_start(lg->loop, &r->setup_timer);
    ws_launch(lg, r->conns, r->n);
}
