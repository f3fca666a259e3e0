/* Small admin HTTP/1.1 server: see httpd.h.
 *
 * A connection lives through: TLS handshake (with TLS only), reading the
 * head, the checks (once, when the head is complete), reading the body,
 * the route, writing the answer, close. One timer per connection: first
 * the head deadline, then what is left of HTTPD_TIMEOUT_S. TLS runs over
 * the socket itself (SSL_set_fd): a request is a few KB read once and an
 * answer written once, so there is no batching to win here, unlike the
 * edge's wss path. The error queue is cleared before each SSL call
 * (LIBRARIES.md §6). */
#include "common/httpd.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"

#define HTTP_ACCEPT_BATCH 32
/* A warning per reason at most this often; the rest go to debug, counted. */
#define HTTPD_WARN_EVERY_S 10.0

static const char *const reason_names[HTTPD_NREASONS] = {
    [HTTPD_REFUSED_CONNS] = "conn_limit",
    [HTTPD_REFUSED_PER_IP] = "per_ip_limit",
    [HTTPD_REFUSED_HOST] = "host",
    [HTTPD_REFUSED_ORIGIN] = "origin",
    [HTTPD_REFUSED_CONTENT_TYPE] = "content_type",
    [HTTPD_CLOSED_HEAD_TIMEOUT] = "head_timeout",
    [HTTPD_CLOSED_TIMEOUT] = "timeout",
    [HTTPD_CLOSED_TLS] = "tls_error",
};

/* Counts a refusal or an unanswered close and says so: a warning at most
 * every HTTPD_WARN_EVERY_S per reason (a flood must not flood the log),
 * debug otherwise. */
static void note(struct httpd *s, enum httpd_reason r, const char *addr, const char *what)
{
    s->counts[r]++;
    ev_tstamp now = ev_now(s->loop);
    if (s->logged_at[r] == 0 || now - s->logged_at[r] >= HTTPD_WARN_EVERY_S) {
        if (s->unlogged[r])
            log_warn("admin HTTP %s: %s (and %llu more %s since the last warning)", addr, what,
                     (unsigned long long)s->unlogged[r], reason_names[r]);
        else
            log_warn("admin HTTP %s: %s", addr, what);
        s->logged_at[r] = now;
        s->unlogged[r] = 0;
    } else {
        s->unlogged[r]++;
        log_debug("admin HTTP %s: %s", addr, what);
    }
}

static void httpd_conn_close(struct httpd_conn *c)
{
    struct httpd *s = c->srv;
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    if (c->ssl) {
        if (!c->tls_handshaking && !c->tls_failed) {
            /* close_notify, best effort: the socket is non-blocking. */
            ERR_clear_error();
            SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    buf_deinit(&c->out);
    free(c);
}

/* Watches the socket for ev (EV_READ or EV_WRITE) only. */
static void conn_watch(struct httpd_conn *c, int ev)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) == ev && ev_is_active(&c->io))
        return;
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, ev);
    ev_io_start(c->srv->loop, &c->io);
}

/* ---- TLS ------------------------------------------------------------------ */

/* What a failed SSL call needs: 0 after arranging to wait (EV_READ or
 * EV_WRITE), 1 for a clean end (close_notify or FIN), -1 for an error
 * (counted and logged once; the caller closes). */
static int tls_failure(struct httpd_conn *c, int r, const char *during)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        conn_watch(c, EV_READ);
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        conn_watch(c, EV_WRITE);
        return 0;
    }
    c->tls_failed = 1;
    SSL_set_quiet_shutdown(c->ssl, 1);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
        ERR_clear_error();
        return 1;
    }
    char why[200], what[300];
    if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST) {
        /* Plain HTTP on the TLS port: say so in plain HTTP (as nginx does),
         * best effort on a socket nothing was written to yet. */
        static const char msg[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 51\r\nConnection: close\r\n\r\n"
                                  "{\"error\":\"this server speaks HTTPS: use https://\"}\n";
        ssize_t w = send(c->fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    if (e == SSL_ERROR_SYSCALL)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else
        tls_error(why, sizeof why, "TLS protocol error");
    snprintf(what, sizeof what, "TLS %s failed: %s", during, why);
    note(c->srv, HTTPD_CLOSED_TLS, c->addr, what);
    return -1;
}

/* Drives the handshake. Returns 1 when done, 0 while waiting, -1 after
 * closing the connection. */
static int conn_handshake(struct httpd_conn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_handshaking = 0;
        conn_watch(c, EV_READ);
        return 1;
    }
    int f = tls_failure(c, r, "handshake");
    if (f == 0)
        return 0;
    if (f > 0)
        log_debug("admin HTTP %s: closed during the TLS handshake", c->addr);
    httpd_conn_close(c);
    return -1;
}

/* read(2) conventions over TLS or not: bytes, 0 at the end, -1 with errno
 * (EAGAIN: wait, the watcher is set; EPROTO: a TLS error, already counted). */
static ssize_t conn_recv(struct httpd_conn *c, char *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int f = tls_failure(c, r, "read");
    if (f == 0) {
        errno = EAGAIN;
        return -1;
    }
    if (f > 0)
        return 0;
    errno = EPROTO;
    return -1;
}

/* send(2) conventions over TLS or not (SSL_MODE_ENABLE_PARTIAL_WRITE). */
static ssize_t conn_send(struct httpd_conn *c, const void *p, size_t n)
{
    if (!c->ssl)
        return send(c->fd, p, n, MSG_NOSIGNAL);
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int f = tls_failure(c, r, "write");
    if (f == 0) {
        errno = EAGAIN;
        return -1;
    }
    errno = f > 0 ? EPIPE : EPROTO;
    return -1;
}

/* ---- checks --------------------------------------------------------------- */

/* The counter for each refusal of httpreq_check. */
static const enum httpd_reason check_reasons[] = {
    [HTTPREQ_REFUSED_HOST] = HTTPD_REFUSED_HOST,
    [HTTPREQ_REFUSED_ORIGIN] = HTTPD_REFUSED_ORIGIN,
    [HTTPREQ_REFUSED_CONTENT_TYPE] = HTTPD_REFUSED_CONTENT_TYPE,
};

/* Runs once the head is complete. Returns 1 if the request may go on, 0
 * after answering it. */
static int conn_check(struct httpd_conn *c)
{
    struct httpd *s = c->srv;
    const struct httpreq_rules rules = {s->listen_host, s->allowed_hosts, s->browser_checks,
                                        s->tls != NULL};
    struct httpreq_refusal no;
    if (!httpreq_check(&c->req, &rules, &no))
        return 1;
    note(s, check_reasons[no.reason], c->addr, no.detail);
    httpd_error(c, no.status, no.message);
    return 0;
}

/* ---- responses -------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Writes what is pending; closes the connection when done or on error.
 * Returns 1 if the connection is still there (waiting for the socket). */
static int httpd_conn_write(struct httpd_conn *c)
{
    while (buf_readable(&c->out)) {
        ssize_t n = conn_send(c, buf_head(&c->out), buf_readable(&c->out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->ssl)
                conn_watch(c, EV_WRITE); /* TLS chose its own (tls_failure) */
            return 1;
        }
        if (n < 0) {
            log_debug("admin %s: write: %s", c->addr, strerror(errno));
            break;
        }
        buf_consume(&c->out, (size_t)n);
    }
    httpd_conn_close(c);
    return 0;
}

/* Queues the whole response (body: text without the trailing newline, which
 * is added) and starts writing it. The connection may be gone on return. */
void httpd_respond_type(struct httpd_conn *c, int status, const char *ctype, const char *extra,
                        const char *body)
{
    size_t blen = strlen(body) + 1;
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Length: %zu\r\n"
               "Cache-Control: no-store\r\n"
               "Connection: close\r\n"
               "%s\r\n",
               status, status_text(status), ctype, blen, extra ? extra : "");
    buf_append_str(&c->out, body);
    buf_append_u8(&c->out, '\n');
    httpd_respond_raw(c, status, NULL, 0);
}

void httpd_respond_raw(struct httpd_conn *c, int status, const void *bytes, size_t len)
{
    if (len)
        buf_append(&c->out, bytes, len);
    log_debug("admin %s: %s %.*s -> %d", c->addr,
              c->req.head_done ? http_method_str(c->req.parser.method) : "-",
              (int)(c->req.url_len > 200 ? 200 : c->req.url_len), c->req.buf + c->req.url_off,
              status);
    c->responding = 1;
    httpd_conn_write(c);
}

void httpd_respond(struct httpd_conn *c, int status, const char *extra, const char *body)
{
    httpd_respond_type(c, status, "application/json", extra, body);
}

void httpd_respond_json(struct httpd_conn *c, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) {
        httpd_respond(c, 500, NULL, "{\"error\":\"internal error\"}");
        return;
    }
    httpd_respond(c, status, NULL, text);
    free(text);
}

uint64_t httpd_hold(struct httpd_conn *c)
{
    /* Nothing more is read: a request is one per connection. */
    ev_io_stop(c->srv->loop, &c->io);
    c->ticket = ++c->srv->next_ticket;
    return c->ticket;
}

struct httpd_conn *httpd_held(struct httpd *s, uint64_t ticket)
{
    if (!s || !ticket)
        return NULL;
    /* O(connections), at most HTTPD_MAX_CONNS. */
    for (struct httpd_conn *c = s->conns; c; c = c->next)
        if (c->ticket == ticket && !c->responding)
            return c;
    return NULL;
}

void httpd_error(struct httpd_conn *c, int status, const char *msg)
{
    json_t *j = json_object();
    json_object_set_new(j, "error", json_string(msg));
    httpd_respond_json(c, status, j);
}

/* The request body as a JSON object, or NULL after answering 400. */
json_t *httpd_json_body(struct httpd_conn *c)
{
    json_error_t jerr;
    char err[256];
    if (c->req.body_split) {
        httpd_error(c, 400, "chunked bodies are not supported: send Content-Length");
        return NULL;
    }
    json_t *body =
        json_loadb(c->req.buf + c->req.body_off, c->req.body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        snprintf(err, sizeof err, "invalid JSON: %s", jerr.text);
        httpd_error(c, 400, err);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        httpd_error(c, 400, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

int httpd_path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

/* ---- socket events ---------------------------------------------------------- */

/* The head is in: the rest of the overall deadline applies from now. */
static void conn_head_done(struct httpd_conn *c)
{
    struct ev_loop *loop = c->srv->loop;
    double left = c->accepted + HTTPD_TIMEOUT_S - ev_now(loop);
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, left > 0.001 ? left : 0.001, 0.0);
    ev_timer_start(loop, &c->timer);
}

static void httpd_conn_read(struct httpd_conn *c)
{
    struct httpreq *r = &c->req;
    for (;;) {
        /* Straight into the request's buffer: httpreq_feed copies nothing. */
        ssize_t n = conn_recv(c, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            /* EOF or error before a complete request: nobody to answer. */
            httpd_conn_close(c);
            return;
        }
        int res = httpreq_feed(r, r->buf + r->len, (size_t)n);
        if (res == HTTPREQ_HEAD) {
            if (!conn_check(c))
                return;
            conn_head_done(c);
            res = httpreq_feed(r, NULL, 0);
        }
        switch (res) {
        case HTTPREQ_MORE: continue;
        case HTTPREQ_DONE: c->srv->route(c, c->srv->ud); return;
        case HTTPREQ_TOO_LARGE:
            if (r->head_done)
                httpd_respond(c, 413, NULL, "{\"error\":\"request too large\"}");
            else
                httpd_respond(c, 431, NULL, "{\"error\":\"request headers too large\"}");
            return;
        default: httpd_respond(c, 400, NULL, "{\"error\":\"bad request\"}"); return;
        }
    }
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd_conn *c = w->data;
    if (c->tls_handshaking && conn_handshake(c) <= 0)
        return;
    if (c->responding)
        httpd_conn_write(c);
    else
        httpd_conn_read(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_conn *c = w->data;
    char what[120];
    if (!c->req.head_done) {
        snprintf(what, sizeof what, "closed: no complete request head within %.1f s%s",
                 c->srv->head_timeout, c->tls_handshaking ? " (TLS handshake unfinished)" : "");
        note(c->srv, HTTPD_CLOSED_HEAD_TIMEOUT, c->addr, what);
    } else {
        snprintf(what, sizeof what, "closed: request not %s within %.0f s",
                 c->responding ? "answered (the client does not read)" : "complete",
                 HTTPD_TIMEOUT_S);
        note(c->srv, HTTPD_CLOSED_TIMEOUT, c->addr, what);
    }
    httpd_conn_close(c);
}

static void refuse_at_accept(struct httpd *s, int fd, int tls, const char *body)
{
    /* Plain HTTP gets a short answer, best effort on a fresh socket: the
     * send buffer is empty, so this does not block and nearly always goes
     * out whole. A TLS client would not understand it: it is just closed. */
    if (!tls) {
        char msg[256];
        int n = snprintf(msg, sizeof msg,
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                         strlen(body) + 1, body);
        ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    close(fd);
}

/* The address a client is counted under: IPv4, or the /64 of an IPv6
 * address, as for every per-address limit (net_sockaddr_group). */
static void peer_ip(const struct sockaddr_storage *ss, unsigned char ip[16], unsigned char *len)
{
    *len = (unsigned char)net_sockaddr_group(ss, ip);
}

/* Connections the address holds: O(open connections), at most
 * HTTPD_MAX_CONNS, once per accept. */
static long conns_from(const struct httpd *s, const unsigned char *ip, unsigned char len)
{
    long n = 0;
    for (const struct httpd_conn *c = s->conns; c; c = c->next)
        n += c->iplen == len && memcmp(c->ip, ip, len) == 0;
    return n;
}

/* Takes one connection from the acceptor: refused at once when the server
 * or its address holds its maximum, else served. */
static void take_conn(int fd, const struct sockaddr_storage *ss, void *ud)
{
    struct httpd *s = ud;
    char addr[64];
    unsigned char ip[16], iplen;
    net_format_sockaddr(ss, addr, sizeof addr);
    peer_ip(ss, ip, &iplen);
    if (s->nconns >= HTTPD_MAX_CONNS) {
        note(s, HTTPD_REFUSED_CONNS, addr, "refused: too many admin connections open");
        refuse_at_accept(s, fd, s->tls != NULL, "{\"error\":\"too many connections\"}");
        return;
    }
    if (s->max_conns_per_ip > 0 && conns_from(s, ip, iplen) >= s->max_conns_per_ip) {
        note(s, HTTPD_REFUSED_PER_IP, addr,
             "refused: this address holds its maximum of admin connections");
        refuse_at_accept(s, fd, s->tls != NULL,
                         "{\"error\":\"too many connections from your address\"}");
        return;
    }
    SSL *ssl = NULL;
    if (s->tls) {
        ERR_clear_error();
        ssl = SSL_new(s->tls);
        if (!ssl || SSL_set_fd(ssl, fd) != 1) {
            char why[200];
            log_warn("admin HTTP %s: cannot start TLS: %s", addr,
                     tls_error(why, sizeof why, "out of memory"));
            SSL_free(ssl);
            close(fd);
            return;
        }
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_set_accept_state(ssl);
    }
    struct httpd_conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->ssl = ssl;
    c->tls_handshaking = ssl != NULL;
    c->accepted = ev_now(s->loop);
    memcpy(c->ip, ip, sizeof ip);
    c->iplen = iplen;
    memcpy(c->addr, addr, sizeof addr);
    httpreq_init(&c->req, c->bytes, sizeof c->bytes);
    ev_io_init(&c->io, on_conn_io, fd, EV_READ);
    c->io.data = c;
    ev_io_start(s->loop, &c->io);
    ev_timer_init(&c->timer, on_conn_timeout, s->head_timeout, 0.0);
    c->timer.data = c;
    ev_timer_start(s->loop, &c->timer);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd *s = w->data;
    net_acceptor_run(&s->acceptor, take_conn, s);
}

/* ---- public ------------------------------------------------------------------- */

struct httpd *httpd_new(struct ev_loop *loop, const struct net_addr *addr,
                        const struct httpd_opts *opts, httpd_route_fn route, void *ud, char *err,
                        size_t errlen)
{
    int fd = net_listen(addr, 0, 128, err, errlen);
    if (fd < 0)
        return NULL;
    struct httpd *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->route = route;
    s->ud = ud;
    s->fd = fd;
    net_acceptor_init(&s->acceptor, fd, HTTP_ACCEPT_BATCH, "admin HTTP");
    s->max_conns_per_ip = opts->max_conns_per_ip;
    s->head_timeout = opts->head_timeout_ms > 0 ? opts->head_timeout_ms / 1000.0 : HTTPD_TIMEOUT_S;
    if (s->head_timeout > HTTPD_TIMEOUT_S)
        s->head_timeout = HTTPD_TIMEOUT_S;
    s->browser_checks = opts->browser_checks;
    s->listen_host = xstrdup(addr->host);
    s->allowed_hosts = xstrdup(opts->allowed_hosts ? opts->allowed_hosts : "");
    ev_io_init(&s->accept_w, on_accept, fd, EV_READ);
    s->accept_w.data = s;
    ev_io_start(loop, &s->accept_w);
    return s;
}

void httpd_free(struct httpd *s)
{
    if (!s)
        return;
    while (s->conns)
        httpd_conn_close(s->conns);
    ev_io_stop(s->loop, &s->accept_w);
    close(s->fd);
    net_acceptor_deinit(&s->acceptor);
    SSL_CTX_free(s->tls);
    free(s->listen_host);
    free(s->allowed_hosts);
    free(s);
}

uint16_t httpd_port(const struct httpd *s)
{
    return s ? net_local_port(s->fd) : 0;
}

void httpd_set_tls(struct httpd *s, SSL_CTX *ctx)
{
    SSL_CTX_free(s->tls); /* SSL objects hold their own reference */
    s->tls = ctx;
}

void httpd_metrics(const struct httpd *s, struct buf *b, const char *prefix, const char *labels)
{
    static const struct {
        const char *family, *help;
        int from, to;
    } fam[] = {
        {"refused", "Admin HTTP connections or requests refused, by reason.", HTTPD_REFUSED_CONNS,
         HTTPD_REFUSED_CONTENT_TYPE},
        {"closed", "Admin HTTP connections closed before a complete request or answer, by reason.",
         HTTPD_CLOSED_HEAD_TIMEOUT, HTTPD_CLOSED_TLS},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        buf_printf(b, "# HELP %s_%s_total %s\n# TYPE %s_%s_total counter\n", prefix, fam[f].family,
                   fam[f].help, prefix, fam[f].family);
        for (int r = fam[f].from; r <= fam[f].to; r++)
            buf_printf(b, "%s_%s_total{%sreason=\"%s\"} %llu\n", prefix, fam[f].family, labels,
                       reason_names[r], (unsigned long long)(s ? s->counts[r] : 0));
    }
}
