/* The hub's admin HTTP/1.1 server: see http.h.
 *
 * Deliberately small: one request per connection (the reply carries
 * Connection: close and the socket closes once it is written), the whole
 * request must fit in HTTP_MAX_REQUEST bytes, every connection has a
 * deadline, and the number of connections is capped, so a misbehaving
 * client costs at most HTTP_MAX_CONNS * ~8 KiB and cannot stall the loop
 * that also carries the edge links. Requests are parsed with http-parser
 * (LIBRARIES.md §7); the bytes are kept in one contiguous buffer, so the URL
 * pieces the parser reports are contiguous there too. */
#include "hub/http.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/enc.h"
#include "common/msg.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hub/link.h"
#include "hub/route.h"
#include "hub/policy.h"

#define HTTP_MAX_REQUEST 8192
#define HTTP_TIMEOUT 10.0
#define HTTP_MAX_CONNS 256
#define HTTP_ACCEPT_BATCH 32

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next;
    int fd;
    ev_io io;
    ev_timer timer;
    http_parser parser;
    int url_seen, headers_done, done, responding;
    size_t url_off, url_len; /* the URL inside req */
    size_t body_off, body_len; /* the body inside req (contiguous: one buffer) */
    int body_seen, body_split;
    /* Header bookkeeping for Authorization (pieces are contiguous in req). */
    size_t field_off, field_len, auth_off, auth_len;
    int in_field, cur_is_auth, auth_seen;
    size_t len;              /* request bytes received */
    struct buf out;          /* response bytes not yet written */
    char addr[64];
    char req[HTTP_MAX_REQUEST];
};

struct http_server {
    struct hub *hub;
    int fd;
    ev_io accept_w;
    struct http_conn *conns;
    size_t nconns;
};

static void http_conn_close(struct http_conn *c)
{
    struct http_server *s = c->srv;
    ev_io_stop(s->hub->loop, &c->io);
    ev_timer_stop(s->hub->loop, &c->timer);
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
    struct http_conn *c = p->data;
    if (!c->url_seen) {
        c->url_seen = 1;
        c->url_off = (size_t)(at - c->req);
    }
    c->url_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
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
    struct http_conn *c = p->data;
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
    struct http_conn *c = p->data;
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
    struct http_conn *c = p->data;
    c->headers_done = 1;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
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
static int http_conn_write(struct http_conn *c)
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
    http_conn_close(c);
    return 0;
}

/* Queues the whole response (body: text without the trailing newline, which
 * is added) and starts writing it. The connection may be gone on return. */
static void http_conn_respond_type(struct http_conn *c, int status, const char *ctype,
                                   const char *extra, const char *body)
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
    ev_io_stop(c->srv->hub->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->srv->hub->loop, &c->io);
    http_conn_write(c);
}

static void http_conn_respond(struct http_conn *c, int status, const char *extra, const char *body)
{
    http_conn_respond_type(c, status, "application/json", extra, body);
}

static void http_conn_respond_json(struct http_conn *c, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) {
        http_conn_respond(c, 500, NULL, "{\"error\":\"internal error\"}");
        return;
    }
    http_conn_respond(c, status, NULL, text);
    free(text);
}

static void add_link(const struct link_info *i, void *ud)
{
    json_t *o = json_object();
    char boot[17];
    snprintf(boot, sizeof boot, "%016llx", (unsigned long long)i->boot);
    json_object_set_new(o, "id", json_integer((json_int_t)i->id));
    json_object_set_new(o, "edge", json_string(i->edge));
    json_object_set_new(o, "region", json_string(i->region));
    json_object_set_new(o, "worker", json_integer(i->worker));
    json_object_set_new(o, "software", json_string(i->software));
    json_object_set_new(o, "boot", json_string(boot));
    json_object_set_new(o, "addr", json_string(i->addr));
    json_object_set_new(o, "topics", json_integer((json_int_t)i->topics));
    json_object_set_new(o, "publishes_in", json_integer((json_int_t)i->publishes_in));
    json_object_set_new(o, "messages_out", json_integer((json_int_t)i->messages_out));
    json_object_set_new(o, "directs_in", json_integer((json_int_t)i->directs_in));
    json_object_set_new(o, "directs_out", json_integer((json_int_t)i->directs_out));
    json_object_set_new(o, "raw_in", json_integer((json_int_t)i->raw_in));
    json_object_set_new(o, "wire_in", json_integer((json_int_t)i->wire_in));
    json_object_set_new(o, "raw_out", json_integer((json_int_t)i->raw_out));
    json_object_set_new(o, "wire_out", json_integer((json_int_t)i->wire_out));
    json_array_append_new(ud, o);
}

static void http_error(struct http_conn *c, int status, const char *msg)
{
    json_t *j = json_object();
    json_object_set_new(j, "error", json_string(msg));
    http_conn_respond_json(c, status, j);
}

/* GET /api/policy: the base policy; ?edge=NAME: that edge's effective one. */
static void http_policy_get(struct http_conn *c, const char *query, size_t qlen)
{
    struct hub *h = c->srv->hub;
    struct policy p = h->policy;
    if (qlen > 6 && memcmp(query, "?edge=", 6) == 0) {
        const char *name = query + 6;
        size_t n = qlen - 6;
        if (!link_name_is_valid(name, n)) {
            http_error(c, 400, "invalid edge name");
            return;
        }
        hub_policy_effective(h, name, n, &p);
    }
    http_conn_respond_json(c, 200, hub_policy_to_json(&p));
}

/* The request body as a JSON object, or NULL after answering 400. */
static json_t *http_json_object_body(struct http_conn *c)
{
    json_error_t jerr;
    char err[256];
    if (c->body_split) {
        http_error(c, 400, "chunked bodies are not supported: send Content-Length");
        return NULL;
    }
    json_t *body = json_loadb(c->req + c->body_off, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        snprintf(err, sizeof err, "invalid JSON: %s", jerr.text);
        http_error(c, 400, err);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_error(c, 400, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

/* PUT /api/policy: a JSON object of policy keys; answers the new policy. */
static void http_policy_put(struct http_conn *c)
{
    struct hub *h = c->srv->hub;
    char err[256];
    json_t *body = http_json_object_body(c);
    if (!body)
        return;
    int rc = hub_policy_update(h, body, err, sizeof err);
    json_decref(body);
    if (rc < 0) {
        http_error(c, 400, err);
        return;
    }
    http_conn_respond_json(c, 200, hub_policy_to_json(&h->policy));
}

/* POST /api/publish {"topic":T,"data":D}: the app backend's way to publish.
 * The message gets a seq like any other and reaches every subscriber, its
 * `from` being "hub:api". Answers {"topic":T,"seq":N}; seq 0 means no edge
 * had a subscriber, so nothing was sent. */
static void http_publish(struct http_conn *c)
{
    struct hub *h = c->srv->hub;
    json_t *body = http_json_object_body(c);
    if (!body)
        return;
    json_t *topic = json_object_get(body, "topic");
    json_t *data = json_object_get(body, "data");
    const char *t = json_is_string(topic) ? json_string_value(topic) : NULL;
    if (!t || !topic_is_valid(t, json_string_length(topic))) {
        json_decref(body);
        http_error(c, 400, "missing or invalid topic (1..255 bytes of A-Za-z0-9._:/-)");
        return;
    }
    if (!data) {
        json_decref(body);
        http_error(c, 400, "missing data");
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t tlen = text ? strlen(text) : 0;
    if (!text || tlen > (size_t)h->policy.max_message_bytes) {
        free(text);
        json_decref(body);
        http_error(c, 413 /* the same bound clients have */, "data larger than max_message_bytes");
        return;
    }
    struct link_str ts = {t, (uint32_t)json_string_length(topic)};
    struct link_str ds = {text, (uint32_t)tlen};
    uint64_t seq = link_publish(h, ts, link_str_c("hub:api"), ENC_JSON, ds);
    json_t *j = json_object();
    json_object_set_new(j, "topic", json_stringn(ts.ptr, ts.len));
    json_object_set_new(j, "seq", json_integer((json_int_t)seq));
    free(text);
    json_decref(body);
    http_conn_respond_json(c, 200, j);
}

/* ---- edges, topics, metrics ---------------------------------------------- */

static void add_u64(json_t *o, const char *key, uint64_t v)
{
    json_t *x = json_object_get(o, key);
    json_integer_set(x, json_integer_value(x) + (json_int_t)v);
}

static const char *const edge_counters[] = {
    "workers", "clients", "subscriptions", "topics", "msgs_in", "msgs_out", "bytes_in",
    "bytes_out", "link_raw_in", "link_wire_in", "link_raw_out", "link_wire_out",
};
static const char *const close_reasons[] = {"idle", "dead_peer", "slow_consumer", "protocol",
                                            "rate_limit", "other"};

/* Folds one link (an edge worker) into its edge's entry in `byname`. */
static void add_edge_link(const struct link_info *i, void *ud)
{
    json_t *byname = ud;
    json_t *e = json_object_get(byname, i->edge);
    if (!e) {
        e = json_object();
        json_object_set_new(e, "name", json_string(i->edge));
        json_object_set_new(e, "region", json_string(i->region));
        json_object_set_new(e, "version", json_string(i->software));
        json_object_set_new(e, "state", json_string("up"));
        for (size_t k = 0; k < sizeof edge_counters / sizeof edge_counters[0]; k++)
            json_object_set_new(e, edge_counters[k], json_integer(0));
        json_t *closes = json_object();
        for (size_t k = 0; k < sizeof close_reasons / sizeof close_reasons[0]; k++)
            json_object_set_new(closes, close_reasons[k], json_integer(0));
        json_object_set_new(e, "closes", closes);
        json_object_set_new(e, "uptime_s", json_integer(0));
        json_object_set_new(byname, i->edge, e);
    }
    const struct link_stats *s = &i->stats;
    add_u64(e, "workers", 1);
    add_u64(e, "clients", s->clients);
    add_u64(e, "subscriptions", s->subscriptions);
    add_u64(e, "topics", s->topics);
    add_u64(e, "msgs_in", s->msgs_in);
    add_u64(e, "msgs_out", s->msgs_out);
    add_u64(e, "bytes_in", s->bytes_in);
    add_u64(e, "bytes_out", s->bytes_out);
    add_u64(e, "link_raw_in", i->raw_in);
    add_u64(e, "link_wire_in", i->wire_in);
    add_u64(e, "link_raw_out", i->raw_out);
    add_u64(e, "link_wire_out", i->wire_out);
    json_t *closes = json_object_get(e, "closes");
    add_u64(closes, "idle", s->closed_idle);
    add_u64(closes, "dead_peer", s->closed_dead);
    add_u64(closes, "slow_consumer", s->closed_slow);
    add_u64(closes, "protocol", s->closed_protocol);
    add_u64(closes, "rate_limit", s->closed_rate);
    add_u64(closes, "other", s->closed_other);
    json_t *up = json_object_get(e, "uptime_s");
    if ((json_int_t)s->uptime_s > json_integer_value(up))
        json_integer_set(up, (json_int_t)s->uptime_s);
}

/* The per-edge view: one entry per edge name, its workers' figures summed. */
static json_t *edges_json(struct hub *h)
{
    json_t *byname = json_object();
    link_foreach_open(h, add_edge_link, byname);
    json_t *arr = json_array();
    const char *name;
    json_t *e;
    json_object_foreach(byname, name, e) {
        uint64_t raw = (uint64_t)json_integer_value(json_object_get(e, "link_raw_in")) +
                       (uint64_t)json_integer_value(json_object_get(e, "link_raw_out"));
        uint64_t wire = (uint64_t)json_integer_value(json_object_get(e, "link_wire_in")) +
                        (uint64_t)json_integer_value(json_object_get(e, "link_wire_out"));
        json_object_set_new(e, "link_ratio", json_real(wire ? (double)raw / (double)wire : 0.0));
        json_array_append(arr, e);
    }
    json_decref(byname);
    return arr;
}

#define TOPICS_LISTED_MAX 10000

static void add_topic(const char *t, size_t len, uint64_t seq, uint32_t links, void *ud)
{
    json_t *arr = ud;
    if (json_array_size(arr) >= TOPICS_LISTED_MAX)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "topic", json_stringn(t, len));
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    json_object_set_new(o, "links", json_integer(links));
    json_array_append_new(arr, o);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* GET /metrics in the Prometheus text format (version 0.0.4). */
static void http_metrics(struct http_conn *c)
{
    struct hub *h = c->srv->hub;
    struct buf b = BUF_INIT;
    metric(&b, "spoke_hub_links", "gauge", "Edge worker links past HELLO.");
    buf_printf(&b, "spoke_hub_links %zu\n", h->nlinks_open);
    metric(&b, "spoke_hub_topics", "gauge", "Topics with at least one interested link.");
    buf_printf(&b, "spoke_hub_topics %zu\n", route_topic_count(h->route));
    metric(&b, "spoke_hub_publishes_total", "counter", "Publishes received from edges.");
    buf_printf(&b, "spoke_hub_publishes_total %llu\n", (unsigned long long)h->stats.publishes);
    metric(&b, "spoke_hub_messages_out_total", "counter", "Message copies sent to links.");
    buf_printf(&b, "spoke_hub_messages_out_total %llu\n",
               (unsigned long long)h->stats.messages_out);
    metric(&b, "spoke_hub_directs_total", "counter", "Direct messages received.");
    buf_printf(&b, "spoke_hub_directs_total %llu\n", (unsigned long long)h->stats.directs);

    json_t *edges = edges_json(h);
    static const struct {
        const char *key, *name, *type, *help;
    } per_edge[] = {
        {"workers", "spoke_edge_workers", "gauge", "Linked workers of the edge."},
        {"clients", "spoke_edge_clients", "gauge", "Client WebSocket connections."},
        {"subscriptions", "spoke_edge_subscriptions", "gauge", "Client subscriptions."},
        {"msgs_in", "spoke_edge_messages_in_total", "counter", "Client messages received."},
        {"msgs_out", "spoke_edge_messages_out_total", "counter", "Messages sent to clients."},
        {"bytes_in", "spoke_edge_client_bytes_in_total", "counter", "Bytes read from clients."},
        {"bytes_out", "spoke_edge_client_bytes_out_total", "counter", "Bytes written to clients."},
        {"link_raw_in", "spoke_link_raw_bytes_in_total", "counter", "Link bytes from the edge, decompressed."},
        {"link_wire_in", "spoke_link_wire_bytes_in_total", "counter", "Link bytes from the edge, on the wire."},
        {"link_raw_out", "spoke_link_raw_bytes_out_total", "counter", "Link bytes to the edge, before compression."},
        {"link_wire_out", "spoke_link_wire_bytes_out_total", "counter", "Link bytes to the edge, on the wire."},
        {"link_ratio", "spoke_link_compression_ratio", "gauge", "Raw over wire link bytes."},
    };
    size_t i;
    json_t *e;
    for (size_t k = 0; k < sizeof per_edge / sizeof per_edge[0]; k++) {
        metric(&b, per_edge[k].name, per_edge[k].type, per_edge[k].help);
        json_array_foreach(edges, i, e) {
            json_t *v = json_object_get(e, per_edge[k].key);
            const char *name = json_string_value(json_object_get(e, "name"));
            if (json_is_real(v))
                buf_printf(&b, "%s{edge=\"%s\"} %.3f\n", per_edge[k].name, name, json_real_value(v));
            else
                buf_printf(&b, "%s{edge=\"%s\"} %lld\n", per_edge[k].name, name,
                           (long long)json_integer_value(v));
        }
    }
    metric(&b, "spoke_edge_closes_total", "counter", "Client connections closed by the edge, by reason.");
    json_array_foreach(edges, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *closes = json_object_get(e, "closes");
        for (size_t k = 0; k < sizeof close_reasons / sizeof close_reasons[0]; k++)
            buf_printf(&b, "spoke_edge_closes_total{edge=\"%s\",reason=\"%s\"} %lld\n", name,
                       close_reasons[k],
                       (long long)json_integer_value(json_object_get(closes, close_reasons[k])));
    }
    json_decref(edges);
    if (buf_readable(&b) && b.data[b.len - 1] == '\n')
        b.len--; /* the response adds the final newline */
    buf_append_u8(&b, 0);
    http_conn_respond_type(c, 200, "text/plain; version=0.0.4", NULL, (const char *)buf_head(&b));
    buf_deinit(&b);
}

/* POST /api/disconnect {"conn":C,"code":N,"reason":R}: closes one client
 * connection wherever it is. 202 once the request is on its way to the edge
 * worker holding it (that worker ignores it if the connection is gone by
 * then); 404 if no linked edge worker can hold that id. */
static void http_disconnect(struct http_conn *c)
{
    struct hub *h = c->srv->hub;
    json_t *body = http_json_object_body(c);
    if (!body)
        return;
    json_t *conn = json_object_get(body, "conn");
    json_t *code = json_object_get(body, "code");
    json_t *reason = json_object_get(body, "reason");
    json_int_t v = code ? (json_is_integer(code) ? json_integer_value(code) : -1) : 4001;
    const char *r = reason ? json_string_value(reason) : "disconnected by the operator";
    const char *why = NULL;
    if (!json_is_string(conn) || json_string_length(conn) == 0 ||
        json_string_length(conn) > CONN_ID_MAX_LEN)
        why = "missing or invalid conn";
    else if (!(v == 1000 || v == 1001 || v == 1008 || (v >= 3000 && v <= 4999)))
        why = "code must be 1000, 1001, 1008 or 3000..4999";
    else if (!r || strlen(r) > 123)
        why = "reason must be a string of at most 123 bytes";
    if (why) {
        json_decref(body);
        http_error(c, 400, why);
        return;
    }
    struct link_str cs = {json_string_value(conn), (uint32_t)json_string_length(conn)};
    if (link_kick(h, cs, (uint32_t)v, link_str_c(r)) < 0) {
        json_decref(body);
        http_error(c, 404, "unknown connection (no linked edge worker holds it)");
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "conn", json_stringn(cs.ptr, cs.len));
    json_object_set_new(j, "status", json_string("sent"));
    json_decref(body);
    http_conn_respond_json(c, 202, j);
}

/* POST /api/edges/NAME/drain [{"period": seconds}]: the edge stops accepting,
 * closes its clients with 1001 over the period, and exits. */
static void http_drain(struct http_conn *c, const char *name, size_t nlen)
{
    struct hub *h = c->srv->hub;
    uint64_t period_ms = 0;
    if (!link_name_is_valid(name, nlen)) {
        http_error(c, 400, "invalid edge name");
        return;
    }
    if (c->body_len) {
        json_t *body = http_json_object_body(c);
        if (!body)
            return;
        json_t *p = json_object_get(body, "period");
        if (p && (!json_is_number(p) || json_number_value(p) < 0 ||
                  json_number_value(p) > 3600)) {
            json_decref(body);
            http_error(c, 400, "period must be a number of seconds from 0 to 3600");
            return;
        }
        if (p)
            period_ms = (uint64_t)(json_number_value(p) * 1000.0 + 0.5);
        json_decref(body);
    }
    int n = link_drain(h, name, nlen, period_ms);
    if (!n) {
        http_error(c, 404, "unknown edge (no linked worker has that name)");
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "edge", json_stringn(name, nlen));
    json_object_set_new(j, "workers", json_integer(n));
    json_object_set_new(j, "status", json_string("draining"));
    http_conn_respond_json(c, 202, j);
}

static int path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

static void http_conn_route(struct http_conn *c)
{
    struct hub *h = c->srv->hub;
    const char *path = c->req + c->url_off;
    size_t len = 0;
    while (len < c->url_len && path[len] != '?' && path[len] != '#')
        len++;
    int get = c->parser.method == HTTP_GET;

    /* Everything under /api/ is for administrators: with admin_token set it
     * takes "Authorization: Bearer TOKEN", compared in constant time. */
    if (len >= 5 && memcmp(path, "/api/", 5) == 0 && h->cfg.admin_token &&
        h->cfg.admin_token[0]) {
        const char *tok = h->cfg.admin_token;
        size_t tlen = strlen(tok);
        const char *v = c->req + c->auth_off;
        int ok = c->auth_seen == 1 && c->auth_len == 7 + tlen &&
                 strncasecmp(v, "Bearer ", 7) == 0 && CRYPTO_memcmp(v + 7, tok, tlen) == 0;
        if (!ok) {
            http_conn_respond(c, 401, "WWW-Authenticate: Bearer\r\n",
                              c->auth_seen ? "{\"error\":\"invalid admin token\"}"
                                           : "{\"error\":\"admin token required\"}");
            return;
        }
    }

    if (path_is(path, len, "/healthz")) {
        if (!get)
            goto not_allowed;
        json_t *j = json_object();
        json_object_set_new(j, "status", json_string("ok"));
        json_object_set_new(j, "links", json_integer((json_int_t)h->nlinks_open));
        http_conn_respond_json(c, 200, j);
        return;
    }
    if (path_is(path, len, "/api/links")) {
        if (!get)
            goto not_allowed;
        json_t *arr = json_array();
        link_foreach_open(h, add_link, arr);
        json_t *j = json_object();
        json_object_set_new(j, "links", arr);
        http_conn_respond_json(c, 200, j);
        return;
    }
    if (path_is(path, len, "/api/edges") || path_is(path, len, "/api/topics") ||
        path_is(path, len, "/metrics")) {
        if (!get)
            goto not_allowed;
        if (path_is(path, len, "/metrics")) {
            http_metrics(c);
            return;
        }
        json_t *j = json_object();
        if (path_is(path, len, "/api/edges")) {
            json_object_set_new(j, "edges", edges_json(h));
        } else {
            json_t *arr = json_array();
            route_foreach_topic(h->route, add_topic, arr);
            json_object_set_new(j, "total", json_integer((json_int_t)route_topic_count(h->route)));
            json_object_set_new(j, "topics", arr);
        }
        http_conn_respond_json(c, 200, j);
        return;
    }
    if (len > 17 && memcmp(path, "/api/edges/", 11) == 0 &&
        memcmp(path + len - 6, "/drain", 6) == 0) {
        if (c->parser.method == HTTP_POST)
            http_drain(c, path + 11, len - 17);
        else
            http_conn_respond(c, 405, "Allow: POST\r\n", "{\"error\":\"method not allowed\"}");
        return;
    }
    static const struct {
        const char *path;
        void (*handle)(struct http_conn *);
    } post_routes[] = {
        {"/api/disconnect", http_disconnect},
        {"/api/publish", http_publish},
    };
    for (size_t k = 0; k < sizeof post_routes / sizeof post_routes[0]; k++) {
        if (!path_is(path, len, post_routes[k].path))
            continue;
        if (c->parser.method == HTTP_POST)
            post_routes[k].handle(c);
        else
            http_conn_respond(c, 405, "Allow: POST\r\n", "{\"error\":\"method not allowed\"}");
        return;
    }
    if (path_is(path, len, "/api/policy")) {
        if (get) {
            http_policy_get(c, path + len, c->url_len - len);
        } else if (c->parser.method == HTTP_PUT) {
            http_policy_put(c);
        } else {
            http_conn_respond(c, 405, "Allow: GET, PUT\r\n", "{\"error\":\"method not allowed\"}");
        }
        return;
    }
    http_conn_respond(c, 404, NULL, "{\"error\":\"not found\"}");
    return;
not_allowed:
    http_conn_respond(c, 405, "Allow: GET\r\n", "{\"error\":\"method not allowed\"}");
}

/* ---- socket events ---------------------------------------------------------- */

static void http_conn_read(struct http_conn *c)
{
    for (;;) {
        if (c->len == HTTP_MAX_REQUEST) {
            if (c->headers_done)
                http_conn_respond(c, 413, NULL, "{\"error\":\"request too large\"}");
            else
                http_conn_respond(c, 431, NULL, "{\"error\":\"request headers too large\"}");
            return;
        }
        ssize_t n = read(c->fd, c->req + c->len, HTTP_MAX_REQUEST - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            /* EOF or error before a complete request: nobody to answer. */
            http_conn_close(c);
            return;
        }
        http_parser_execute(&c->parser, &parser_settings, c->req + c->len, (size_t)n);
        c->len += (size_t)n;
        if (c->done) {
            http_conn_route(c);
            return;
        }
        if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
            http_conn_respond(c, 400, NULL, "{\"error\":\"bad request\"}");
            return;
        }
    }
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_conn *c = w->data;
    if (c->responding)
        http_conn_write(c);
    else
        http_conn_read(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_conn *c = w->data;
    log_debug("admin %s: timed out after %.0f s", c->addr, HTTP_TIMEOUT);
    http_conn_close(c);
}

static void http_refuse_busy(int fd)
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
    struct http_server *s = w->data;
    for (int k = 0; k < HTTP_ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = net_accept(s->fd, &ss, &sslen);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                log_warn("out of file descriptors: shedding a new admin HTTP connection");
                net_shed_accept(s->fd, &s->hub->spare_fd);
                return;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("accept on the admin listener: %s", strerror(errno));
            return;
        }
        if (s->nconns >= HTTP_MAX_CONNS) {
            http_refuse_busy(fd);
            continue;
        }
        struct http_conn *c = xcalloc(1, sizeof *c);
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

struct http_server *http_server_new(struct hub *h, const struct net_addr *addr, char *err,
                                    size_t errlen)
{
    int fd = net_listen(addr, 0, 128, err, errlen);
    if (fd < 0)
        return NULL;
    struct http_server *s = xcalloc(1, sizeof *s);
    s->hub = h;
    s->fd = fd;
    ev_io_init(&s->accept_w, on_accept, fd, EV_READ);
    s->accept_w.data = s;
    ev_io_start(h->loop, &s->accept_w);
    return s;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    while (s->conns)
        http_conn_close(s->conns);
    ev_io_stop(s->hub->loop, &s->accept_w);
    close(s->fd);
    free(s);
}

uint16_t http_server_port(const struct http_server *s)
{
    return s ? net_local_port(s->fd) : 0;
}
