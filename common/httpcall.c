/* Asynchronous HTTP POST calls on libcurl's multi interface under one libev
 * loop (the pattern of curl's evhiperfifo example): curl names the sockets
 * it wants watched (sock_cb, one ev_io each) and the one timeout it needs
 * (timer_cb, one ev_timer); both watchers call curl_multi_socket_action and
 * then drain curl_multi_info_read for finished transfers (check_done).
 *
 * Nothing calls curl_multi_socket_action from inside a curl callback or a
 * user callback, so user callbacks (which may post or cancel) never re-enter
 * curl's state machine: they run from check_done or deliver_ready only. */
#include "common/httpcall.h"

#include <curl/curl.h>
#include <ev.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

/* A call is on exactly one of h's three lists: queue (waiting for a slot),
 * running (its easy handle is in the multi) or ready (ended without curl,
 * its callback due from ready_timer). */
struct call {
    struct call *prev, *next;
    struct call_list *list;
    struct httpcall *h;
    CURL *easy; /* while running */
    char *url;
    struct curl_slist *headers;
    uint8_t *body;
    size_t len;
    long timeout_ms;
    uint64_t start_ms;
    httpcall_done_fn cb;
    void *ud;
    struct buf resp; /* at most lim.max_body_bytes readable */
    int too_large;
    enum httpcall_kind ready_kind; /* while on ready */
    const char *ready_error;
    char errbuf[CURL_ERROR_SIZE];
};

struct call_list {
    struct call *head, *tail;
    unsigned n;
};

/* One socket curl asked us to watch; freed on CURL_POLL_REMOVE or by
 * httpcall_free. */
struct sock {
    ev_io io; /* first: io_cb casts the watcher back */
    struct sock *prev, *next;
    struct httpcall *h;
    curl_socket_t fd;
};

struct httpcall {
    struct ev_loop *loop;
    CURLM *multi;
    struct httpcall_limits lim;
    ev_timer timer;       /* curl's timeout */
    ev_timer ready_timer; /* zero delay: delivers the ready list */
    struct call_list queue, running, ready;
    CURL **free_easy; /* at most lim.max_in_flight idle easy handles */
    unsigned n_free;
    struct sock *socks;
    struct httpcall_stats st;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void global_init(void)
{
    /* Thread-safe since 7.84 anyway; once keeps it to one call. Never
     * undone: other threads' instances may still use it at exit. */
    global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!(v->features & CURL_VERSION_ASYNCHDNS))
        log_warn("libcurl %s resolves names synchronously: a slow DNS answer blocks the loop; "
                 "give backend hooks an IP address",
                 v->version);
}

/* ---- lists */

static void list_push(struct call_list *l, struct call *c)
{
    c->list = l;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static void list_remove(struct call *c)
{
    struct call_list *l = c->list;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    l->n--;
    c->list = NULL;
    c->prev = c->next = NULL;
}

static void gauges(struct httpcall *h)
{
    h->st.in_flight = h->running.n;
    h->st.queued = h->queue.n;
}

/* ---- calls */

static void call_free(struct call *c)
{
    free(c->url);
    curl_slist_free_all(c->headers);
    free(c->body);
    buf_deinit(&c->resp);
    free(c);
}

/* Takes the easy handle out of the multi (closing its connection if the
 * transfer had not ended) and keeps it for the next call. */
static void release_easy(struct httpcall *h, struct call *c)
{
    curl_multi_remove_handle(h->multi, c->easy);
    if (h->n_free < h->lim.max_in_flight)
        h->free_easy[h->n_free++] = c->easy;
    else
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
}

/* Runs c's callback and frees c; c is on no list any more, so a cancel
 * from inside the callback cannot find it. */
static void deliver(struct httpcall *h, struct call *c, enum httpcall_kind kind, long status,
                    const char *error)
{
    switch (kind) {
    case HTTPCALL_OK: h->st.ok++; break;
    case HTTPCALL_HTTP_5XX: h->st.fail_http_5xx++; break;
    case HTTPCALL_TIMEOUT: h->st.fail_timeout++; break;
    case HTTPCALL_CONNECT: h->st.fail_connect++; break;
    case HTTPCALL_TOO_LARGE: h->st.fail_too_large++; break;
    case HTTPCALL_OTHER: h->st.fail_other++; break;
    }
    gauges(h);
    struct httpcall_result r = {
        .kind = kind,
        .status = status,
        .body = buf_readable(&c->resp) ? buf_head(&c->resp) : (const uint8_t *)"",
        .body_len = buf_readable(&c->resp),
        .error = error,
        .elapsed_ms = clock_mono_ms() - c->start_ms,
    };
    c->cb(&r, c->ud);
    call_free(c);
}

static void ready_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpcall *h = w->data;
    /* A callback may cancel ready calls or add new ones: take the head
     * each time. */
    while (h->ready.head) {
        struct call *c = h->ready.head;
        list_remove(c);
        deliver(h, c, c->ready_kind, 0, c->ready_error);
    }
}

/* Ends c without curl: its callback runs from the next loop iteration. */
static void make_ready(struct httpcall *h, struct call *c, enum httpcall_kind kind,
                       const char *error)
{
    c->ready_kind = kind;
    c->ready_error = error;
    list_push(&h->ready, c);
    if (!ev_is_active(&h->ready_timer)) {
        ev_timer_set(&h->ready_timer, 0., 0.);
        ev_timer_start(h->loop, &h->ready_timer);
    }
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    struct call *c = ud;
    size_t n = size * nmemb;
    /* readable <= max always holds, so the subtraction cannot wrap. */
    if (n > c->h->lim.max_body_bytes - buf_readable(&c->resp)) {
        c->too_large = 1;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&c->resp, p, n);
    return n;
}

/* Gives c an easy handle and adds it to the multi, or makes it ready with
 * its error. */
static void start_call(struct httpcall *h, struct call *c)
{
    long left = c->timeout_ms - (long)(clock_mono_ms() - c->start_ms);
    if (left <= 0) {
        make_ready(h, c, HTTPCALL_TIMEOUT, "timed out waiting for a free call slot");
        return;
    }
    CURL *e = h->n_free ? h->free_easy[--h->n_free] : curl_easy_init();
    if (!e) {
        make_ready(h, c, HTTPCALL_OTHER, "curl_easy_init failed");
        return;
    }
    /* reset keeps the handle's connection, DNS and TLS session caches. */
    curl_easy_reset(e);
    c->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Hooks go straight to the backend: no proxy from *_proxy variables. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    /* Refuses a declared Content-Length over the cap before any byte;
     * write_cb catches the undeclared (chunked) ones. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->lim.max_body_bytes);
    c->easy = e;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        c->easy = NULL;
        curl_easy_cleanup(e);
        make_ready(h, c, HTTPCALL_OTHER, "curl_multi_add_handle failed");
        return;
    }
    list_push(&h->running, c);
}

/* Fills free slots from the queue, oldest first. */
static void pump(struct httpcall *h)
{
    while (h->running.n < h->lim.max_in_flight && h->queue.head) {
        struct call *c = h->queue.head;
        list_remove(c);
        start_call(h, c);
    }
    gauges(h);
}

static enum httpcall_kind classify(const struct call *c, CURLcode code, long status)
{
    if (c->too_large || code == CURLE_FILESIZE_EXCEEDED)
        return HTTPCALL_TOO_LARGE;
    switch (code) {
    case CURLE_OK: return status >= 500 ? HTTPCALL_HTTP_5XX : HTTPCALL_OK;
    case CURLE_OPERATION_TIMEDOUT: return HTTPCALL_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return HTTPCALL_CONNECT;
    default: return HTTPCALL_OTHER;
    }
}

/* Delivers every finished transfer; runs after every socket action. */
static void check_done(struct httpcall *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode code = m->data.result;
        char *priv = NULL;
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct call *c = (struct call *)priv;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        /* m is invalid once its handle leaves the multi. */
        release_easy(h, c);
        list_remove(c);
        pump(h);
        enum httpcall_kind kind = classify(c, code, status);
        const char *error = NULL;
        char big[96];
        if (kind == HTTPCALL_TOO_LARGE) {
            snprintf(big, sizeof big, "response body over the %zu-byte limit",
                     h->lim.max_body_bytes);
            error = big;
            buf_reset(&c->resp); /* a partial body helps nobody */
        } else if (code != CURLE_OK) {
            error = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
        }
        deliver(h, c, kind, status, error);
    }
}

/* ---- curl's callbacks and the watchers */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sock *k = (struct sock *)w;
    struct httpcall *h = k->h;
    int flags =
        ((revents & EV_READ) ? CURL_CSELECT_IN : 0) | ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    /* k may be freed from here on (CURL_POLL_REMOVE inside the action or a
     * cancel inside a callback): only h is used. */
    curl_multi_socket_action(h->multi, k->fd, flags, &running);
    check_done(h);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpcall *h = w->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static void sock_unlink_free(struct httpcall *h, struct sock *k)
{
    ev_io_stop(h->loop, &k->io);
    if (k->prev)
        k->prev->next = k->next;
    else
        h->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    free(k);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct httpcall *h = userp;
    struct sock *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k)
            sock_unlink_free(h, k);
        return 0;
    }
    if (!k) {
        k = xcalloc(1, sizeof *k);
        k->h = h;
        k->fd = s;
        k->next = h->socks;
        if (h->socks)
            h->socks->prev = k;
        h->socks = k;
        ev_init(&k->io, io_cb);
        curl_multi_assign(h->multi, s, k);
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    ev_io_stop(h->loop, &k->io);
    ev_io_set(&k->io, s, events);
    ev_io_start(h->loop, &k->io);
    return 0;
}

/* curl's one timeout: -1 stops it, 0 means "act at once", which we do from
 * the next loop iteration (never from inside curl). */
static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct httpcall *h = userp;
    ev_timer_stop(h->loop, &h->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&h->timer, (double)timeout_ms / 1000., 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return 0;
}

/* ---- public */

struct httpcall *httpcall_new(struct ev_loop *loop, const struct httpcall_limits *lim)
{
    pthread_once(&global_once, global_init);
    if (!global_ok)
        return NULL;
    struct httpcall *h = xcalloc(1, sizeof *h);
    h->loop = loop;
    h->lim = *lim;
    if (h->lim.max_in_flight == 0)
        h->lim.max_in_flight = 1;
    h->multi = curl_multi_init();
    if (!h->multi)
        goto fail;
    h->free_easy = xcalloc(h->lim.max_in_flight, sizeof *h->free_easy);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->lim.max_host_conns);
    /* The connection cache: one per slot is all that can be busy at once. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->lim.max_in_flight);
    ev_init(&h->timer, timer_cb);
    h->timer.data = h;
    ev_init(&h->ready_timer, ready_cb);
    h->ready_timer.data = h;
    return h;
fail:
    free(h);
    return NULL;
}

static void free_list(struct httpcall *h, struct call_list *l)
{
    while (l->head) {
        struct call *c = l->head;
        list_remove(c);
        if (c->easy) {
            curl_multi_remove_handle(h->multi, c->easy);
            curl_easy_cleanup(c->easy);
        }
        call_free(c);
    }
}

void httpcall_free(struct httpcall *h)
{
    if (!h)
        return;
    free_list(h, &h->running);
    free_list(h, &h->queue);
    free_list(h, &h->ready);
    for (unsigned i = 0; i < h->n_free; i++)
        curl_easy_cleanup(h->free_easy[i]);
    curl_multi_cleanup(h->multi);
    /* Sockets curl did not report removed before closing them. */
    while (h->socks)
        sock_unlink_free(h, h->socks);
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_stop(h->loop, &h->ready_timer);
    free(h->free_easy);
    free(h);
}

int httpcall_post(struct httpcall *h, const char *url, const char *const *headers, const void *body,
                  size_t len, long timeout_ms, httpcall_done_fn cb, void *ud)
{
    if (!url || !cb || timeout_ms <= 0)
        return HTTPCALL_EINVAL;
    int slot = h->running.n < h->lim.max_in_flight && !h->queue.head;
    if (!slot && h->queue.n >= h->lim.max_queued) {
        h->st.refused++;
        return HTTPCALL_EFULL;
    }
    struct call *c = xcalloc(1, sizeof *c);
    c->h = h;
    c->url = xstrdup(url);
    for (const char *const *p = headers; p && *p; p++)
        if (!(c->headers = curl_slist_append(c->headers, *p)))
            abort(); /* out of memory: the xalloc policy */
    /* No "Expect: 100-continue" round trip before the body. */
    if (!(c->headers = curl_slist_append(c->headers, "Expect:")))
        abort();
    c->body = xmalloc(len ? len : 1);
    if (len)
        memcpy(c->body, body, len);
    c->len = len;
    c->timeout_ms = timeout_ms;
    c->start_ms = clock_mono_ms();
    c->cb = cb;
    c->ud = ud;
    buf_init(&c->resp);
    h->st.calls++;
    if (slot)
        start_call(h, c); /* curl_timer_cb defers the first action to the loop */
    else
        list_push(&h->queue, c);
    gauges(h);
    return 0;
}

static unsigned cancel_list(struct httpcall *h, struct call_list *l, void *ud)
{
    unsigned n = 0;
    struct call *c = l->head;
    while (c) {
        struct call *next = c->next;
        if (c->ud == ud) {
            list_remove(c);
            if (c->easy)
                release_easy(h, c);
            call_free(c);
            n++;
        }
        c = next;
    }
    return n;
}

unsigned httpcall_cancel(struct httpcall *h, void *ud)
{
    unsigned n = cancel_list(h, &h->running, ud);
    n += cancel_list(h, &h->queue, ud);
    n += cancel_list(h, &h->ready, ud);
    h->st.cancelled += n;
    pump(h);
    return n;
}

const struct httpcall_stats *httpcall_stats(const struct httpcall *h)
{
    return &h->st;
}

const char *httpcall_kind_name(enum httpcall_kind kind)
{
    switch (kind) {
    case HTTPCALL_OK: return "ok";
    case HTTPCALL_HTTP_5XX: return "http_5xx";
    case HTTPCALL_TIMEOUT: return "timeout";
    case HTTPCALL_CONNECT: return "connect";
    case HTTPCALL_TOO_LARGE: return "too_large";
    case HTTPCALL_OTHER: return "other";
    }
    return "other";
}
