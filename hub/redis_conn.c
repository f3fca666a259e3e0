/* A Redis connection kept up on the hub's loop (see redis_conn.h). */
#include "hub/redis_conn.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/xalloc.h"

/* ---- addresses --------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *what, const char *s, size_t len)
{
    snprintf(err, errlen, "redis address '%.*s': %s", (int)(len > 200 ? 200 : len), s, what);
    return -1;
}

static int host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

int redis_addr_parse(const char *s, size_t len, struct redis_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!len)
        return fail(err, errlen, "empty", s, len);
    if (len >= sizeof out->label)
        return fail(err, errlen, "too long", s, len);
    memcpy(out->label, s, len);
    out->label[len] = '\0';
    if (s[0] == '/') {
        if (len >= sizeof out->host)
            return fail(err, errlen, "a unix socket path must be shorter than 108 bytes", s, len);
        if (memchr(s, ',', len) || memchr(s, '\0', len))
            return fail(err, errlen, "invalid path", s, len);
        out->is_unix = 1;
        memcpy(out->host, s, len);
        return 0;
    }
    const char *host = s, *port = NULL;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1)
            return fail(err, errlen, "an IPv6 address goes in [brackets]", s, len);
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest) {
            if (close[1] != ':')
                return fail(err, errlen, "expected :PORT after ]", s, len);
            port = close + 2;
        }
        for (size_t i = 0; i < hlen; i++)
            if (!(host[i] == ':' || host[i] == '.' || (host[i] >= '0' && host[i] <= '9') ||
                  (host[i] >= 'a' && host[i] <= 'f') || (host[i] >= 'A' && host[i] <= 'F')))
                return fail(err, errlen, "not an IPv6 address in the brackets", s, len);
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            if (memchr(colon + 1, ':', len - hlen - 1))
                return fail(err, errlen, "an IPv6 address goes in [brackets]", s, len);
            port = colon + 1;
        }
        if (!hlen)
            return fail(err, errlen, "no host", s, len);
        for (size_t i = 0; i < hlen; i++)
            if (!host_char(host[i]))
                return fail(err, errlen,
                            "expected HOST:PORT or an absolute unix socket path (/...)", s, len);
    }
    if (hlen >= sizeof out->host)
        return fail(err, errlen, "host name too long", s, len);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = 6379;
    if (port) {
        size_t plen = len - (size_t)(port - s);
        long v = 0;
        if (!plen || plen > 5)
            return fail(err, errlen, "the port must be 1 to 65535", s, len);
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return fail(err, errlen, "the port must be 1 to 65535", s, len);
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return fail(err, errlen, "the port must be 1 to 65535", s, len);
        out->port = (int)v;
    }
    return 0;
}

int redis_addr_list_parse(const char *list, struct redis_addr *out, size_t max, char *err,
                          size_t errlen)
{
    size_t n = 0;
    const char *p = list ? list : "";
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len) {
            snprintf(err, errlen, "redis: %s",
                     n || end ? "an empty address in the list"
                              : "no address (redis = ADDR[,ADDR...])");
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "redis: more than %zu addresses", max);
            return -1;
        }
        if (redis_addr_parse(p, len, &out[n], err, errlen) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(out[i].label, out[n].label) == 0) {
                snprintf(err, errlen, "redis: address '%s' listed twice", out[n].label);
                return -1;
            }
        }
        n++;
        if (!end)
            return (int)n;
        p = end + 1;
    }
}

int redis_addr_resolve(struct redis_addr *a, char *err, size_t errlen)
{
    unsigned char bin[16];
    if (a->is_unix || inet_pton(AF_INET, a->host, bin) == 1 ||
        inet_pton(AF_INET6, a->host, bin) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(a->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "redis address '%s': cannot resolve %s: %s", a->label, a->host,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    const void *where = res->ai_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    char num[INET6_ADDRSTRLEN];
    inet_ntop(res->ai_family, where, num, sizeof num);
    freeaddrinfo(res);
    snprintf(a->host, sizeof a->host, "%s", num);
    return 0;
}

/* ---- the connection ------------------------------------------------------------ */

struct redis_conn {
    struct ev_loop *loop;
    struct redis_addr addr;
    enum redis_conn_kind kind;
    char *user, *password, *client_name, *hb_channel;
    struct redis_conn *hb_via;
    unsigned bmin_ms, bmax_ms, connect_ms, period_ms, misses;
    void (*on_up)(struct redis_conn *, void *);
    void (*on_down)(struct redis_conn *, const char *, void *);
    void (*on_push)(struct redis_conn *, const struct redis_push *, void *);
    void *ud;

    redisAsyncContext *ac; /* NULL while IDLE */
    enum redis_conn_state state;
    int closing;         /* going: no more commands (a reset asked, or hiredis dropping it) */
    int freeing;         /* redis_conn_free: tell nobody */
    unsigned attempts;   /* failed attempts since it was last up */
    unsigned setup_left; /* SETUP: replies still to come */
    double since;        /* when it came up (or was made) */
    double last_heard;   /* PUBSUB: the last heartbeat */
    int ping_out;        /* COMMAND: a PING awaits its answer ... */
    double ping_sent;    /* ... since then */
    ev_timer retry;      /* IDLE: the backoff; CONNECTING, SETUP: the connect deadline */
    ev_timer tick;       /* UP: liveness, every period */
    ev_timer kill;       /* a reset asked from a callback, done on the next turn */
    char why[160];       /* that reset's reason */
    char last_error[160];
    uint64_t rng;
    struct redis_conn_stats st;
};

/* A command's callback, between hiredis and the owner. */
struct pending {
    struct redis_conn *c;
    redis_reply_fn cb;
    void *privdata;
};

static const char *kind_name(const struct redis_conn *c)
{
    return c->kind == REDIS_CONN_PUBSUB ? "pub/sub" : "command";
}

static char *dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

/* xorshift64*: jitter only, nothing secret. */
static double jitter(struct redis_conn *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (double)((c->rng * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

/* The next delay: min * 2^attempts capped at max, drawn in [d/2, d]. */
static double backoff_s(struct redis_conn *c)
{
    double d = c->bmin_ms / 1000.0;
    for (unsigned i = 0; i < c->attempts && d < c->bmax_ms / 1000.0; i++)
        d *= 2;
    if (d > c->bmax_ms / 1000.0)
        d = c->bmax_ms / 1000.0;
    c->attempts++;
    return d / 2 + d / 2 * jitter(c);
}

/* The context is gone (hiredis freed it, or is about to): back to IDLE,
 * a retry after the backoff, and the owner told if it was up. */
static void lost(struct redis_conn *c, const char *why)
{
    int was_up = c->state == REDIS_CONN_UP;
    c->ac = NULL;
    c->state = REDIS_CONN_IDLE;
    c->closing = 0;
    c->why[0] = '\0';
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->kill);
    snprintf(c->last_error, sizeof c->last_error, "%s", why && *why ? why : "connection lost");
    c->st.failures++;
    if (c->freeing)
        return;
    double delay = backoff_s(c);
    if (was_up || c->attempts == 1)
        log_warn("redis %s: %s connection %s: %s; retrying in %.0f ms", c->addr.label, kind_name(c),
                 was_up ? "lost" : "failed", c->last_error, delay * 1000);
    else
        log_debug("redis %s: %s connection failed again: %s; retrying in %.0f ms", c->addr.label,
                  kind_name(c), c->last_error, delay * 1000);
    ev_timer_set(&c->retry, delay, 0.);
    ev_timer_start(c->loop, &c->retry);
    if (was_up && c->on_down)
        c->on_down(c, c->last_error, c->ud);
}

/* Drops the context now. Never from inside a hiredis callback (it frees
 * the context on return from it): a timer's, or redis_conn_free. */
static void kill_now(struct redis_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (!ac)
        return;
    c->closing = 1;
    snprintf(c->why, sizeof c->why, "%s", why);
    /* Pending callbacks get NULL; a connected context also calls
     * on_disconnect, which calls lost. */
    redisAsyncFree(ac);
    if (c->ac) {
        char copy[sizeof c->why];
        snprintf(copy, sizeof copy, "%s", c->why);
        lost(c, copy);
    }
}

static void on_kill(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_conn *c = w->data;
    char why[sizeof c->why];
    snprintf(why, sizeof why, "%s", c->why);
    kill_now(c, why);
}

void redis_conn_reset(struct redis_conn *c, const char *why)
{
    if (!c->ac || (c->closing && ev_is_active(&c->kill)))
        return;
    c->closing = 1;
    snprintf(c->why, sizeof c->why, "%s", why);
    ev_timer_set(&c->kill, 0., 0.);
    ev_timer_start(c->loop, &c->kill);
}

/* ---- hiredis's callbacks ---------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending *p = privdata;
    struct redis_conn *c = p->c;
    redisReply *r = reply;
    if (!r)
        c->closing = 1; /* the context is going: refuse what the callbacks send */
    else if (r->type == REDIS_REPLY_ERROR)
        c->st.error_replies++;
    if (p->cb)
        p->cb(c, r, p->privdata);
    free(p);
}

static void on_push_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_conn *c = privdata;
    redisReply *r = reply;
    if (!r) {
        c->closing = 1;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return; /* hiredis asserts on worse; nothing else is a push */
    struct redis_push p = {.kind = r->element[0]->str,
                           .channel = r->element[1]->str,
                           .channel_len = r->element[1]->len};
    redisReply *third = r->element[2];
    int message = strcmp(p.kind, "message") == 0;
    if (message && third->type == REDIS_REPLY_STRING) {
        p.payload = third->str;
        p.payload_len = third->len;
    } else if (third->type == REDIS_REPLY_INTEGER) {
        p.count = third->integer;
    }
    if (c->hb_channel && p.channel_len == strlen(c->hb_channel) &&
        memcmp(p.channel, c->hb_channel, p.channel_len) == 0) {
        if (message)
            c->last_heard = ev_now(c->loop);
        return;
    }
    if (message)
        c->st.pushes++;
    if (c->on_push)
        c->on_push(c, &p, c->ud);
}

static void became_up(struct redis_conn *c)
{
    c->state = REDIS_CONN_UP;
    c->since = c->last_heard = ev_now(c->loop);
    c->ping_out = 0;
    c->st.connects++;
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_set(&c->tick, c->period_ms / 1000.0, c->period_ms / 1000.0);
    ev_timer_start(c->loop, &c->tick);
    if (c->attempts || c->st.connects > 1)
        log_info("redis %s: %s connection up", c->addr.label, kind_name(c));
    else
        log_debug("redis %s: %s connection up", c->addr.label, kind_name(c));
    c->attempts = 0;
    if (c->hb_channel)
        redis_conn_subscribe(c, c->hb_channel, strlen(c->hb_channel));
    if (c->on_up)
        c->on_up(c, c->ud);
}

static void on_setup_reply(struct redis_conn *c, redisReply *r, void *privdata)
{
    if (!r)
        return; /* lost meanwhile: on_disconnect says so */
    if (r->type == REDIS_REPLY_ERROR) {
        char why[sizeof c->why];
        snprintf(why, sizeof why, "%s refused: %.*s", (const char *)privdata, (int)r->len, r->str);
        redis_conn_reset(c, why);
        return;
    }
    if (--c->setup_left == 0 && !c->closing)
        became_up(c);
}

/* A command during SETUP (the owner's go through redis_conn_command). */
static void setup_command(struct redis_conn *c, const char *what, int argc, const char **argv)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    struct pending *p = xmalloc(sizeof *p);
    *p = (struct pending){c, on_setup_reply, (void *)what};
    if (redisAsyncCommandArgv(c->ac, on_reply, p, argc, argv, lens) != REDIS_OK) {
        free(p);
        redis_conn_reset(c, "cannot queue the connection's setup");
        return;
    }
    c->st.commands++;
    c->setup_left++;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns. */
        lost(c, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    c->state = REDIS_CONN_SETUP;
    c->setup_left = 0;
    if (c->password) {
        const char *argv[] = {"AUTH", c->user ? c->user : c->password, c->password};
        setup_command(c, "AUTH", c->user ? 3 : 2, argv);
    }
    if (c->client_name) {
        const char *argv[] = {"CLIENT", "SETNAME", c->client_name};
        setup_command(c, "CLIENT SETNAME", 3, argv);
    }
    if (!c->setup_left && !c->closing)
        became_up(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    char why[sizeof c->why];
    if (c->why[0])
        snprintf(why, sizeof why, "%s", c->why);
    else
        snprintf(why, sizeof why, "%s",
                 status == REDIS_OK || !ac->errstr[0] ? "closed by the server" : ac->errstr);
    lost(c, why); /* hiredis frees the context when this returns */
}

/* ---- timers ------------------------------------------------------------------------ */

static void start_connect(struct redis_conn *c)
{
    redisAsyncContext *ac = c->addr.is_unix ? redisAsyncConnectUnix(c->addr.host)
                                            : redisAsyncConnect(c->addr.host, c->addr.port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        c->state = REDIS_CONN_CONNECTING; /* so that lost() counts it as an attempt */
        lost(c, why);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = REDIS_CONN_CONNECTING;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (!c->addr.is_unix)
        redisEnableKeepAlive(&ac->c);
    ev_timer_set(&c->retry, c->connect_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->retry);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_conn *c = w->data;
    if (c->state == REDIS_CONN_IDLE) {
        start_connect(c);
        return;
    }
    if (c->state != REDIS_CONN_UP) {
        char why[96];
        snprintf(why, sizeof why, "not up within %u ms", c->connect_ms);
        kill_now(c, why);
    }
}

static void on_ping(struct redis_conn *c, redisReply *r, void *privdata)
{
    c->ping_out = 0;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_conn *c = w->data;
    double now = ev_now(loop), limit = c->misses * (c->period_ms / 1000.0);
    if (c->state != REDIS_CONN_UP || c->closing)
        return;
    char why[128];
    if (c->kind == REDIS_CONN_COMMAND) {
        if (c->ping_out && now - c->ping_sent >= limit) {
            snprintf(why, sizeof why, "no answer to PING for %.0f ms", (now - c->ping_sent) * 1000);
            kill_now(c, why);
            return;
        }
        if (!c->ping_out) {
            const char *argv[] = {"PING"};
            size_t len[] = {4};
            if (redis_conn_command(c, on_ping, NULL, 1, argv, len) == 0) {
                c->ping_out = 1;
                c->ping_sent = now;
            }
        }
        return;
    }
    struct redis_conn *via = c->hb_via;
    if (!c->hb_channel || !via || !redis_conn_is_up(via))
        return; /* nobody to publish heartbeats: silence proves nothing */
    double ref = c->last_heard;
    if (c->since > ref)
        ref = c->since;
    if (via->since > ref)
        ref = via->since;
    if (now - ref >= limit) {
        snprintf(why, sizeof why, "heard no heartbeat for %.0f ms", (now - ref) * 1000);
        kill_now(c, why);
        return;
    }
    const char *argv[] = {"PUBLISH", c->hb_channel, "1"};
    size_t len[] = {7, strlen(c->hb_channel), 1};
    redis_conn_command(via, NULL, NULL, 3, argv, len);
}

/* ---- the interface ------------------------------------------------------------------ */

struct redis_conn *redis_conn_new(const struct redis_conn_opts *o)
{
    struct redis_conn *c = xcalloc(1, sizeof *c);
    c->loop = o->loop;
    c->addr = *o->addr;
    c->kind = o->kind;
    c->user = dup_or_null(o->user);
    c->password = dup_or_null(o->password);
    c->client_name = dup_or_null(o->client_name);
    c->hb_channel = o->kind == REDIS_CONN_PUBSUB ? dup_or_null(o->heartbeat_channel) : NULL;
    c->hb_via = o->heartbeat_via;
    c->bmin_ms = o->backoff_min_ms ? o->backoff_min_ms : 100;
    c->bmax_ms = o->backoff_max_ms ? o->backoff_max_ms : 5000;
    if (c->bmax_ms < c->bmin_ms)
        c->bmax_ms = c->bmin_ms;
    c->connect_ms = o->connect_ms ? o->connect_ms : 2000;
    c->period_ms = o->period_ms ? o->period_ms : 1000;
    c->misses = o->misses ? o->misses : 3;
    c->on_up = o->on_up;
    c->on_down = o->on_down;
    c->on_push = o->on_push;
    c->ud = o->ud;
    c->state = REDIS_CONN_IDLE;
    c->since = ev_now(c->loop);
    c->rng = (uint64_t)(ev_time() * 1e6) ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
    if (!c->rng)
        c->rng = 1;
    ev_timer_init(&c->retry, on_retry, 0., 0.);
    c->retry.data = c;
    ev_timer_init(&c->tick, on_tick, 0., 0.);
    c->tick.data = c;
    ev_timer_init(&c->kill, on_kill, 0., 0.);
    c->kill.data = c;
    ev_timer_start(c->loop, &c->retry); /* connects on the next turn */
    return c;
}

void redis_conn_free(struct redis_conn *c)
{
    if (!c)
        return;
    c->freeing = 1;
    kill_now(c, "shutting down");
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->kill);
    free(c->user);
    free(c->password);
    free(c->client_name);
    free(c->hb_channel);
    free(c);
}

int redis_conn_command(struct redis_conn *c, redis_reply_fn cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (c->state != REDIS_CONN_UP || c->closing || c->kind != REDIS_CONN_COMMAND)
        return -1;
    struct pending *p = xmalloc(sizeof *p);
    *p = (struct pending){c, cb, privdata};
    if (redisAsyncCommandArgv(c->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p); /* hiredis is dropping the context */
        c->closing = 1;
        return -1;
    }
    c->st.commands++;
    return 0;
}

static int subscription(struct redis_conn *c, const char *verb, const char *channel, size_t len)
{
    if (c->state != REDIS_CONN_UP || c->closing || c->kind != REDIS_CONN_PUBSUB)
        return -1;
    const char *argv[] = {verb, channel};
    size_t lens[] = {strlen(verb), len};
    /* UNSUBSCRIBE registers no callback: its confirmation goes to the
     * channel's, which is on_push_reply like every other's. */
    if (redisAsyncCommandArgv(c->ac, verb[0] == 'S' ? on_push_reply : NULL, c, 2, argv, lens) !=
        REDIS_OK)
        return -1;
    c->st.commands++;
    return 0;
}

int redis_conn_subscribe(struct redis_conn *c, const char *channel, size_t len)
{
    return subscription(c, "SUBSCRIBE", channel, len);
}

int redis_conn_unsubscribe(struct redis_conn *c, const char *channel, size_t len)
{
    return subscription(c, "UNSUBSCRIBE", channel, len);
}

int redis_conn_is_up(const struct redis_conn *c)
{
    return c->state == REDIS_CONN_UP && !c->closing;
}

enum redis_conn_state redis_conn_state(const struct redis_conn *c)
{
    return c->state;
}

double redis_conn_since(const struct redis_conn *c)
{
    return c->since;
}

const char *redis_conn_last_error(const struct redis_conn *c)
{
    return c->last_error;
}

const struct redis_conn_stats *redis_conn_stats(const struct redis_conn *c)
{
    return &c->st;
}

const struct redis_addr *redis_conn_addr(const struct redis_conn *c)
{
    return &c->addr;
}
