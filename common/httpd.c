/* Small admin HTTP/1.1 server: see httpd.h. */
#include "common/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

#define HTTP_TIMEOUT 10.0
#define HTTP_MAX_CONNS 256
#define HTTP_ACCEPT_BATCH 32
#define HTTP_MAX_REQUEST HTTPD_MAX_REQUEST

static void httpd_conn_close(struct httpd_conn *c)
{
    struct httpd *s = c->srv;
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
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

/* ---- request parsing ------------------------------------------------------ */

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (!c->url_seen) {
        c->url_seen = 1;
        c->url_off = (size_t)(at - c->req);
    }
    c->url_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (!c->body_seen) {
        c->body_seen = 1;
        c->body_off = (size_t)(at - c->req);
    } else if (at != c->req + c->body_off + c->body_len) {
        c->body_split = 1; /* chunked: pieces with chunk headers between them */
    }
    c->body_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (!c->in_field) {
        c->in_field = 1;
        c->field_off = (size_t)(at - c->req);
        c->field_len = 0;
    }
    c->field_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (c->in_field) {
        c->in_field = 0;
        c->cur_is_auth = c->field_len == 13 &&
                         strncasecmp(c->req + c->field_off, "authorization", 13) == 0;
        if (c->cur_is_auth) {
            c->auth_seen++;
            c->auth_off = (size_t)(at - c->req);
            c->auth_len = 0;
        }
    }
    if (c->cur_is_auth)
        c->auth_len += len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    c->headers_done = 1;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    c->done = 1;
    /* One request per connection: ignore anything pipelined after it. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- responses -------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Writes what is pending; closes the connection when done or on error.
 * Returns 1 if the connection is still there (waiting for EV_WRITE). */
static int httpd_conn_write(struct httpd_conn *c)
{
    while (buf_readable(&c->out)) {
        ssize_t n = send(c->fd, buf_head(&c->out), buf_readable(&c->out), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
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
    log_debug("admin %s: %s %.*s -> %d", c->addr,
              c->headers_done ? http_method_str(c->parser.method) : "-",
              (int)(c->url_len > 200 ? 200 : c->url_len), c->req + c->url_off, status);
    c->responding = 1;
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->srv->loop, &c->io);
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
    if (c->body_split) {
        httpd_error(c, 400, "chunked bodies are not supported: send Content-Length");
        return NULL;
    }
    json_t *body = json_loadb(c->req + c->body_off, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
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

static void httpd_conn_read(struct httpd_conn *c)
{
    for (;;) {
        if (c->len == HTTP_MAX_REQUEST) {
            if (c->headers_done)
                httpd_respond(c, 413, NULL, "{\"error\":\"request too large\"}");
            else
                httpd_respond(c, 431, NULL, "{\"error\":\"request headers too large\"}");
            return;
        }
        ssize_t n = read(c->fd, c->req + c->len, HTTP_MAX_REQUEST - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            /* EOF or error before a complete request: nobody to answer. */
            httpd_conn_close(c);
            return;
        }
        http_parser_execute(&c->parser, &parser_settings, c->req + c->len, (size_t)n);
        c->len += (size_t)n;
        if (c->done) {
            c->srv->route(c, c->srv->ud);
            return;
        }
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
            httpd_respond(c, 400, NULL, "{\"error\":\"bad request\"}");
            return;
        }
    }
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd_conn *c = w->data;
    if (c->responding)
        httpd_conn_write(c);
    else
        httpd_conn_read(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_conn *c = w->data;
    log_debug("admin %s: timed out after %.0f s", c->addr, HTTP_TIMEOUT);
    httpd_conn_close(c);
}

static void httpd_refuse_busy(int fd)
{
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: 32\r\nConnection: close\r\n\r\n{\"error\":\"too many connections\"}";
    /* Best effort on a fresh socket: the send buffer is empty, so this does
     * not block and nearly always goes out whole. */
    ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd *s = w->data;
    for (int k = 0; k < HTTP_ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = net_accept(s->fd, &ss, &sslen);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                log_warn("out of file descriptors: shedding a new admin HTTP connection");
                net_shed_accept(s->fd, &s->spare_fd);
                return;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("accept on the admin listener: %s", strerror(errno));
            return;
        }
        if (s->nconns >= HTTP_MAX_CONNS) {
            httpd_refuse_busy(fd);
            continue;
        }
        struct httpd_conn *c = xcalloc(1, sizeof *c);
        c->srv = s;
        c->fd = fd;
        net_format_sockaddr(&ss, c->addr, sizeof c->addr);
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->timer, on_conn_timeout, HTTP_TIMEOUT, 0.0);
        c->timer.data = c;
        ev_timer_start(loop, &c->timer);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
    }
}

/* ---- public ------------------------------------------------------------------- */

struct httpd *httpd_new(struct ev_loop *loop, const struct net_addr *addr, httpd_route_fn route,
                        void *ud, char *err, size_t errlen)
{
    int fd = net_listen(addr, 0, 128, err, errlen);
    if (fd < 0)
        return NULL;
    struct httpd *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->route = route;
    s->ud = ud;
    s->fd = fd;
    s->spare_fd = net_open_spare();
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
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s);
}

uint16_t httpd_port(const struct httpd *s)
{
    return s ? net_local_port(s->fd) : 0;
}
