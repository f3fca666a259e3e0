/* Backend hooks on an edge worker: see hooks.h. */
#include "edge/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hooksign.h"
#include "common/httpcall.h"
#include "common/jsonwrite.h"
#include "common/log.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "edge/edge.h"

/* Largest backend answer read: an rpc reply or replaced publish data is
 * then checked against the render budget like any client data. */
#define HOOK_MAX_BODY (1u << 20)
/* Calls waiting for a slot, per allowed in flight. */
#define HOOK_QUEUE_FACTOR 4
/* Disconnect events held, in batches. */
#define HOOK_DISCONNECT_BATCHES 10
/* Longest reason taken from a backend's refusal. */
#define HOOK_REASON_MAX 120

const double hook_latency_bounds_ms[HOOK_LATENCY_BUCKETS] = {1,   2,   5,    10,   25,   50,
                                                             100, 250, 1000, 2500, 10000};

struct hook_call {
    struct hook_engine *e;
    enum hook_event ev;
    hook_done_fn done;
    void *ctx;
    ev_tstamp start;
    struct hook_call *prev, *next;
};

struct hook_engine {
    struct worker *w;
    struct httpcall *http;
    struct httpcall_limits lim;
    struct hook_call *calls; /* in flight or queued in http */
    unsigned fails;          /* consecutive failed calls */
    ev_tstamp open_until;    /* breaker open until then (0: closed) */
    struct hook_stats st;
    struct buf body; /* the request being made */
    /* disconnect reports: events waiting (JSON objects), the batch out */
    char **dq;
    unsigned dq_cap, dq_head, dq_n;
    struct buf batch;
    unsigned batch_n, batch_tries;
    int batch_out;
    ev_timer dtimer;
};

static const char *const event_names[HOOK_EVENTS] = {"connect", "subscribe", "publish", "rpc",
                                                     "disconnect"};

int hooks_on(const struct worker *w, enum hook_event e)
{
    return w->hooks && w->hk && w->hooks->ev[e].mode != HOOK_OFF;
}

int hooks_on_topic(const struct worker *w, enum hook_event e, const char *topic, size_t len)
{
    return hooks_on(w, e) && hooks_conf_topic_matches(&w->hooks->ev[e], topic, len);
}

unsigned hooks_connect_headers(const struct worker *w,
                               const char (**names)[HOOKS_HEADER_NAME_MAX + 1])
{
    if (!hooks_on(w, HOOK_CONNECT))
        return 0;
    *names = (const char(*)[HOOKS_HEADER_NAME_MAX + 1]) w->hooks->headers;
    return w->hooks->nheaders;
}

static void count_latency(struct hook_event_stats *s, double ms)
{
    for (int i = 0; i < HOOK_LATENCY_BUCKETS; i++)
        if (ms <= hook_latency_bounds_ms[i])
            s->latency[i]++;
    s->latency[HOOK_LATENCY_BUCKETS]++;
    s->latency_sum_ms += ms;
}

/* The answer for a call that gave nothing usable: the event's fail mode. */
static struct hook_answer failed_answer(const struct hook_engine *e, enum hook_event ev,
                                        const char *why)
{
    struct hook_answer a = {.failed = 1, .code = 503, .reason = why};
    a.allow = e->w->hooks && e->w->hooks->ev[ev].mode == HOOK_FAIL_OPEN;
    return a;
}

static void breaker_failed(struct hook_engine *e)
{
    const struct hooks_conf *c = e->w->hooks;
    if (++e->fails < (unsigned)c->breaker_failures || e->open_until)
        return;
    e->open_until = ev_now(e->w->loop) + (double)c->breaker_cooldown_ms / 1000.0;
    e->st.breaker_opened++;
    log_warn("backend hooks: %u calls failed in a row: not calling the backend for %ld ms",
             e->fails, c->breaker_cooldown_ms);
}

/* 1 if the breaker lets a call through. After the cooldown one call is let
 * through; one more failure opens it again (half open). */
static int breaker_allows(struct hook_engine *e)
{
    if (!e->open_until)
        return 1;
    if (ev_now(e->w->loop) < e->open_until)
        return 0;
    e->open_until = 0;
    e->fails = (unsigned)e->w->hooks->breaker_failures - 1;
    log_info("backend hooks: trying the backend again");
    return 1;
}

static void finish(struct hook_call *call, const struct hook_answer *a)
{
    struct hook_engine *e = call->e;
    struct hook_event_stats *s = &e->st.ev[call->ev];
    if (a->failed)
        s->failed++;
    else if (a->allow)
        s->allowed++;
    else
        s->denied++;
    if (call->prev)
        call->prev->next = call->next;
    else if (e->calls == call)
        e->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    hook_done_fn done = call->done;
    void *ctx = call->ctx;
    free(call);
    done(e->w, a, ctx);
}

/* Reads the backend's answer: 2xx is allow (with the body's object, if
 * any, unless it holds "deny"), 4xx deny with the status; anything else
 * (3xx, 5xx, transport failures, a body that is not a JSON object) failed. */
static void on_result(const struct httpcall_result *r, void *ud)
{
    struct hook_call *call = ud;
    struct hook_engine *e = call->e;
    char why[HOOK_REASON_MAX + 1];
    count_latency(&e->st.ev[call->ev], (double)r->elapsed_ms);
    if (r->kind != HTTPCALL_OK || r->status < 200 || (r->status >= 300 && r->status < 400)) {
        char id[40];
        snprintf(why, sizeof why, "backend unavailable");
        if (r->kind == HTTPCALL_OK || r->kind == HTTPCALL_HTTP_5XX)
            snprintf(id, sizeof id, "HTTP %ld", r->status);
        else
            snprintf(id, sizeof id, "%s", httpcall_kind_name(r->kind));
        log_info("backend hooks: %s call failed: %s%s%s", event_names[call->ev], id,
                 r->error ? ": " : "", r->error ? r->error : "");
        if (e->w->hooks)
            breaker_failed(e);
        struct hook_answer a = failed_answer(e, call->ev, why);
        finish(call, &a);
        return;
    }
    e->fails = 0;
    json_t *doc = NULL;
    if (r->body_len) {
        json_error_t je;
        doc = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(doc)) {
            json_decref(doc);
            log_info("backend hooks: %s answer is not a JSON object: %s", event_names[call->ev],
                     je.text);
            struct hook_answer a = failed_answer(e, call->ev, "bad answer from the backend");
            finish(call, &a);
            return;
        }
    }
    struct hook_answer a = {.allow = r->status < 300, .code = (int)r->status, .doc = doc};
    json_t *deny = doc ? json_object_get(doc, "deny") : NULL;
    if (deny)
        a.allow = 0;
    if (!a.allow) {
        json_t *from = deny && json_is_object(deny) ? deny : doc;
        json_t *code = from ? json_object_get(from, "code") : NULL;
        json_t *reason = from ? json_object_get(from, "reason") : NULL;
        if (json_is_integer(code) && json_integer_value(code) >= 400 &&
            json_integer_value(code) <= 599)
            a.code = (int)json_integer_value(code);
        else if (a.code < 400)
            a.code = 403;
        snprintf(why, sizeof why, "%s",
                 json_is_string(reason) ? json_string_value(reason) : "denied by the application");
        a.reason = why;
    }
    finish(call, &a);
    json_decref(doc);
}

void hooks_call(struct worker *w, enum hook_event ev, const struct buf *fields, hook_done_fn done,
                void *ctx)
{
    struct hook_engine *e = w->hk;
    struct hook_call *call = xcalloc(1, sizeof *call);
    call->e = e;
    call->ev = ev;
    call->done = done;
    call->ctx = ctx;
    call->start = ev_now(w->loop);
    call->next = e->calls;
    if (e->calls)
        e->calls->prev = call;
    e->calls = call;
    e->st.ev[ev].calls++;
    if (!breaker_allows(e)) {
        e->st.ev[ev].breaker_refused++;
        struct hook_answer a = failed_answer(e, ev, "backend unavailable");
        finish(call, &a);
        return;
    }
    const struct hooks_conf *c = w->hooks;
    struct buf *b = &e->body;
    buf_reset(b);
    BUF_APPEND_LIT(b, "{\"event\":");
    json_write_str(b, event_names[ev], strlen(event_names[ev]));
    BUF_APPEND_LIT(b, ",\"edge\":");
    json_write_str(b, w->cfg->name, strlen(w->cfg->name));
    BUF_APPEND_LIT(b, ",\"worker\":");
    json_write_i64(b, w->index);
    if (buf_readable(fields)) {
        buf_append_u8(b, ',');
        buf_append(b, buf_head(fields), buf_readable(fields));
    }
    buf_append_u8(b, '}');
    char sig[32 + HOOKSIGN_HEADER_MAX], evh[40];
    const char *headers[5] = {"Content-Type: application/json",
                              "User-Agent: spoke-edge/" SPOKE_VERSION, evh, NULL, NULL};
    snprintf(evh, sizeof evh, "X-Spoke-Event: %s", event_names[ev]);
    if (c->secret_len) {
        int n = snprintf(sig, sizeof sig, "X-Spoke-Signature: ");
        if (hooksign_header(c->secret, c->secret_len, (uint64_t)time(NULL), buf_head(b),
                            buf_readable(b), sig + n, sizeof sig - (size_t)n) > 0)
            headers[3] = sig;
    }
    if (httpcall_post(e->http, c->ev[ev].url, headers, buf_head(b), buf_readable(b), c->timeout_ms,
                      on_result, call) < 0) {
        log_info("backend hooks: %s call refused: %u calls waiting already", event_names[ev],
                 e->lim.max_queued);
        /* Refused whatever the fail mode: an overload must not let a flood
         * of requests past a backend that would have been asked. */
        struct hook_answer a = {
            .failed = 1, .code = 503, .reason = "too many backend calls waiting"};
        finish(call, &a);
    }
}

/* ---- disconnect reports */

static void send_batch(struct hook_engine *e);

static void batch_done(struct worker *w, const struct hook_answer *a, void *ctx)
{
    struct hook_engine *e = w->hk ? w->hk : ctx;
    e->batch_out = 0;
    if (!a->failed) {
        e->st.disconnects_sent += e->batch_n;
        e->batch_n = 0;
        buf_reset(&e->batch);
        return;
    }
    long retries = w->hooks ? w->hooks->disconnect_retries : 0;
    if (++e->batch_tries > (unsigned)retries) {
        log_warn("backend hooks: %u disconnect reports dropped after %u tries", e->batch_n,
                 e->batch_tries);
        e->st.disconnects_dropped += e->batch_n;
        e->batch_n = 0;
        buf_reset(&e->batch);
    }
    /* Otherwise the next tick sends it again. */
}

/* The next batch (or the one to retry), if none is out. */
static void send_batch(struct hook_engine *e)
{
    struct worker *w = e->w;
    if (e->batch_out || !hooks_on(w, HOOK_DISCONNECT))
        return;
    if (!e->batch_n) {
        if (!e->dq_n)
            return;
        buf_reset(&e->batch);
        BUF_APPEND_LIT(&e->batch, "\"disconnects\":[");
        while (e->dq_n && e->batch_n < (unsigned)w->hooks->disconnect_batch) {
            char *ev = e->dq[e->dq_head];
            e->dq[e->dq_head] = NULL;
            e->dq_head = (e->dq_head + 1) % e->dq_cap;
            e->dq_n--;
            if (e->batch_n++)
                buf_append_u8(&e->batch, ',');
            buf_append(&e->batch, ev, strlen(ev));
            free(ev);
        }
        buf_append_u8(&e->batch, ']');
        e->batch_tries = 0;
    }
    e->batch_out = 1;
    hooks_call(w, HOOK_DISCONNECT, &e->batch, batch_done, e);
}

static void on_dtimer(struct ev_loop *loop, ev_timer *t, int revents)
{
    send_batch(t->data);
}

void hooks_disconnected(struct worker *w, const char *conn, const char *user, const char *why)
{
    struct hook_engine *e = w->hk;
    if (!hooks_on(w, HOOK_DISCONNECT))
        return;
    unsigned cap = (unsigned)w->hooks->disconnect_batch * HOOK_DISCONNECT_BATCHES;
    if (e->dq_cap != cap && e->dq_n == 0) {
        free(e->dq);
        e->dq = xcalloc(cap, sizeof *e->dq);
        e->dq_cap = cap;
        e->dq_head = 0;
    }
    if (e->dq_n >= e->dq_cap) {
        e->st.disconnects_dropped++;
        return;
    }
    struct buf b = BUF_INIT;
    BUF_APPEND_LIT(&b, "{\"conn\":");
    json_write_str(&b, conn, strlen(conn));
    if (user) {
        BUF_APPEND_LIT(&b, ",\"user\":");
        json_write_str(&b, user, strlen(user));
    }
    BUF_APPEND_LIT(&b, ",\"reason\":");
    json_write_str(&b, why ? why : "", why ? strlen(why) : 0);
    BUF_APPEND_LIT(&b, ",\"time\":");
    json_write_i64(&b, (int64_t)time(NULL));
    buf_append(&b, "}", 2); /* NUL included */
    /* The block is the event's: freed with free() once sent (off is 0: only appended). */
    e->dq[(e->dq_head + e->dq_n++) % e->dq_cap] = (char *)b.data;
    if (e->dq_n >= (unsigned)w->hooks->disconnect_batch)
        send_batch(e);
}

/* ---- life */

static void fail_all(struct hook_engine *e, const char *why)
{
    while (e->calls) {
        struct hook_answer a = failed_answer(e, e->calls->ev, why);
        finish(e->calls, &a);
    }
}

static void hook_engine_free(struct worker *w)
{
    struct hook_engine *e = w->hk;
    if (!e)
        return;
    httpcall_free(e->http); /* drops its calls without callbacks: ours end below */
    e->http = NULL;
    fail_all(e, "backend hooks switched off");
    ev_timer_stop(w->loop, &e->dtimer);
    for (unsigned i = 0; i < e->dq_n; i++)
        free(e->dq[(e->dq_head + i) % e->dq_cap]);
    free(e->dq);
    buf_deinit(&e->batch);
    buf_deinit(&e->body);
    w->hk = NULL;
    free(e);
}

void hooks_reconfigure(struct worker *w)
{
    const struct hooks_conf *c = w->hooks;
    if (!c || !hooks_conf_any(c)) {
        hook_engine_free(w);
        return;
    }
    struct httpcall_limits lim = {
        .max_in_flight = (unsigned)c->max_in_flight,
        .max_queued = (unsigned)c->max_in_flight * HOOK_QUEUE_FACTOR,
        .max_body_bytes = HOOK_MAX_BODY,
        .max_host_conns = (unsigned)c->max_in_flight,
    };
    struct hook_engine *e = w->hk;
    if (e && memcmp(&e->lim, &lim, sizeof lim) != 0) {
        /* New limits need a new multi handle: calls under the old one end
         * as failed (their fail mode decides). */
        fail_all(e, "backend hooks reconfigured");
        httpcall_free(e->http);
        e->http = NULL;
    }
    if (!e) {
        e = xcalloc(1, sizeof *e);
        e->w = w;
        buf_init(&e->batch);
        buf_init(&e->body);
        ev_timer_init(&e->dtimer, on_dtimer, 0., 0.);
        e->dtimer.data = e;
        w->hk = e;
    }
    if (!e->http) {
        e->lim = lim;
        e->http = httpcall_new(w->loop, &lim);
        if (!e->http) {
            log_warn("backend hooks: cannot start libcurl: hooks off on this worker");
            hook_engine_free(w);
            return;
        }
    }
    ev_timer_stop(w->loop, &e->dtimer);
    if (c->ev[HOOK_DISCONNECT].mode != HOOK_OFF) {
        double iv = (double)c->disconnect_interval_ms / 1000.0;
        ev_timer_set(&e->dtimer, iv, iv);
        ev_timer_start(w->loop, &e->dtimer);
    }
    log_info("backend hooks: version %llu: connect %s, subscribe %s, publish %s, rpc %s, "
             "disconnect %s",
             (unsigned long long)c->version, c->ev[HOOK_CONNECT].mode ? "on" : "off",
             c->ev[HOOK_SUBSCRIBE].mode ? "on" : "off", c->ev[HOOK_PUBLISH].mode ? "on" : "off",
             c->ev[HOOK_RPC].mode ? "on" : "off", c->ev[HOOK_DISCONNECT].mode ? "on" : "off");
}

void hooks_free(struct worker *w)
{
    hook_engine_free(w);
}

void hooks_stats(const struct worker *w, struct hook_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w->hk)
        return;
    *out = w->hk->st;
    out->breaker_open = w->hk->open_until > 0;
}

void hooks_stats_add(struct hook_stats *sum, const struct hook_stats *s)
{
    for (int i = 0; i < HOOK_EVENTS; i++) {
        struct hook_event_stats *d = &sum->ev[i];
        const struct hook_event_stats *x = &s->ev[i];
        d->calls += x->calls;
        d->allowed += x->allowed;
        d->denied += x->denied;
        d->failed += x->failed;
        d->breaker_refused += x->breaker_refused;
        for (int k = 0; k <= HOOK_LATENCY_BUCKETS; k++)
            d->latency[k] += x->latency[k];
        d->latency_sum_ms += x->latency_sum_ms;
    }
    sum->breaker_opened += s->breaker_opened;
    sum->breaker_open += s->breaker_open;
    sum->disconnects_dropped += s->disconnects_dropped;
    sum->disconnects_sent += s->disconnects_sent;
}

void hooks_metrics(const struct hook_stats *s, const char *edge, struct buf *b)
{
    static const char *const outcome[] = {"allowed", "denied", "failed", "breaker_refused"};
    buf_printf(b, "\n# HELP spoke_edge_hook_calls_total Backend hook calls, by event and outcome "
                  "(failed: no usable answer, the fail mode decided; breaker_refused: not made, "
                  "the breaker was open).\n# TYPE spoke_edge_hook_calls_total counter");
    for (int i = 0; i < HOOK_EVENTS; i++) {
        const struct hook_event_stats *x = &s->ev[i];
        const uint64_t v[] = {x->allowed, x->denied, x->failed, x->breaker_refused};
        for (int k = 0; k < 4; k++)
            buf_printf(
                b, "\nspoke_edge_hook_calls_total{edge=\"%s\",event=\"%s\",outcome=\"%s\"} %llu",
                edge, event_names[i], outcome[k], (unsigned long long)v[k]);
    }
    buf_printf(b, "\n# HELP spoke_edge_hook_latency_ms Backend hook call latency, queueing "
                  "included.\n# TYPE spoke_edge_hook_latency_ms histogram");
    for (int i = 0; i < HOOK_EVENTS; i++) {
        const struct hook_event_stats *x = &s->ev[i];
        for (int k = 0; k < HOOK_LATENCY_BUCKETS; k++)
            buf_printf(
                b, "\nspoke_edge_hook_latency_ms_bucket{edge=\"%s\",event=\"%s\",le=\"%g\"} %llu",
                edge, event_names[i], hook_latency_bounds_ms[k], (unsigned long long)x->latency[k]);
        buf_printf(b,
                   "\nspoke_edge_hook_latency_ms_bucket{edge=\"%s\",event=\"%s\",le=\"+Inf\"} %llu"
                   "\nspoke_edge_hook_latency_ms_sum{edge=\"%s\",event=\"%s\"} %.3f"
                   "\nspoke_edge_hook_latency_ms_count{edge=\"%s\",event=\"%s\"} %llu",
                   edge, event_names[i], (unsigned long long)x->latency[HOOK_LATENCY_BUCKETS], edge,
                   event_names[i], x->latency_sum_ms, edge, event_names[i],
                   (unsigned long long)x->latency[HOOK_LATENCY_BUCKETS]);
    }
    buf_printf(b,
               "\n# HELP spoke_edge_hook_breaker_open Workers whose breaker is open (the backend "
               "is not called).\n# TYPE spoke_edge_hook_breaker_open gauge"
               "\nspoke_edge_hook_breaker_open{edge=\"%s\"} %llu"
               "\n# HELP spoke_edge_hook_breaker_opened_total Times a worker's breaker opened."
               "\n# TYPE spoke_edge_hook_breaker_opened_total counter"
               "\nspoke_edge_hook_breaker_opened_total{edge=\"%s\"} %llu"
               "\n# HELP spoke_edge_hook_disconnects_total Disconnect reports, by outcome."
               "\n# TYPE spoke_edge_hook_disconnects_total counter"
               "\nspoke_edge_hook_disconnects_total{edge=\"%s\",outcome=\"sent\"} %llu"
               "\nspoke_edge_hook_disconnects_total{edge=\"%s\",outcome=\"dropped\"} %llu",
               edge, (unsigned long long)s->breaker_open, edge,
               (unsigned long long)s->breaker_opened, edge, (unsigned long long)s->disconnects_sent,
               edge, (unsigned long long)s->disconnects_dropped);
}
