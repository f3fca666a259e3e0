/* A small HTTP/1.1 server for admin endpoints (the hub's API, the edge's
 * health and metrics), run in the caller's libev loop, over plain TCP or
 * TLS.
 *
 * Deliberately small: one request per connection (the reply carries
 * Connection: close and the socket closes once it is written), the whole
 * request must fit in HTTPD_MAX_REQUEST bytes, the request head must arrive
 * within a short deadline and the whole exchange within HTTPD_TIMEOUT_S,
 * and connections are capped in total and per client address, so a
 * misbehaving client costs at most HTTPD_MAX_CONNS * ~9 KiB (plus a TLS
 * session each with TLS) and cannot stall the loop or lock others out.
 * Requests are parsed by httpreq (common/httpreq.h) in one contiguous
 * buffer per connection.
 *
 * Before a route sees a request, httpd refuses what no admin endpoint may
 * accept (httpreq_check; docs/security.md, "Admin API"): a missing or
 * unknown Host (400, 421: DNS rebinding) and, with browser_checks, any
 * Origin header (403) and any body that is not JSON (415). Every refusal
 * and every connection closed unanswered is counted by reason. */
#ifndef SPOKE_HTTPD_H
#define SPOKE_HTTPD_H
#include <ev.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/httpreq.h"
#include "common/net.h"

#define HTTPD_MAX_REQUEST 8192
#define HTTPD_MAX_CONNS 256
#define HTTPD_TIMEOUT_S 10.0

struct httpd_conn;
/* Called once per complete request that passed the checks; must answer it
 * (httpd_respond*), or hold it (httpd_hold) and answer later. */
typedef void (*httpd_route_fn)(struct httpd_conn *c, void *ud);

/* Why a connection got no route: refused with an error answer (or closed
 * at accept), or closed before a complete request. */
enum httpd_reason {
    HTTPD_REFUSED_CONNS,        /* HTTPD_MAX_CONNS open already: 503 */
    HTTPD_REFUSED_PER_IP,       /* the address holds max_conns_per_ip: 503 */
    HTTPD_REFUSED_HOST,         /* httpreq_check: Host missing (400) or not allowed (421) */
    HTTPD_REFUSED_ORIGIN,       /* httpreq_check: Origin under browser_checks (403) */
    HTTPD_REFUSED_CONTENT_TYPE, /* httpreq_check: not JSON under browser_checks (415) */
    HTTPD_CLOSED_HEAD_TIMEOUT,  /* no complete request head (or TLS handshake) in time */
    HTTPD_CLOSED_TIMEOUT,       /* no complete request and answer within HTTPD_TIMEOUT_S */
    HTTPD_CLOSED_TLS,           /* TLS handshake or record error */
    HTTPD_NREASONS
};

struct httpd_opts {
    long max_conns_per_ip;     /* connections one client address may hold (0: no cap) */
    long head_timeout_ms;      /* deadline for the TLS handshake and the request head */
    const char *allowed_hosts; /* comma-separated Host names accepted besides IP
                                * literals, localhost and the listen host; "*": any.
                                * Copied. NULL: none. */
    int browser_checks;        /* refuse Origin (403) and non-JSON bodies (415) */
};

struct httpd {
    struct ev_loop *loop;
    httpd_route_fn route;
    void *ud;
    int fd;
    struct net_acceptor acceptor; /* takes connections off fd, sheds them on EMFILE */
    ev_io accept_w;
    struct httpd_conn *conns;
    size_t nconns;
    SSL_CTX *tls; /* NULL: plain HTTP; owned, replaced by httpd_set_tls */
    long max_conns_per_ip;
    double head_timeout;
    int browser_checks;
    char *listen_host;
    char *allowed_hosts;
    uint64_t next_ticket;
    uint64_t counts[HTTPD_NREASONS];
    double logged_at[HTTPD_NREASONS]; /* warnings are rate-limited per reason */
    uint64_t unlogged[HTTPD_NREASONS];
};

/* One connection. Routes read its request, req (httpreq.h):
 * req.parser.method, the URL at req.buf + req.url_off (req.url_len bytes),
 * the body at req.buf + req.body_off (req.body_len; req.body_split if it
 * came in chunks), and the kept headers in req.hdr[] (e.g. the
 * Authorization value at req.buf + req.hdr[HTTPREQ_H_AUTHORIZATION].off). */
struct httpd_conn {
    struct httpd *srv;
    struct httpd_conn *prev, *next;
    int fd;
    ev_io io;
    ev_timer timer;
    ev_tstamp accepted;
    SSL *ssl; /* NULL on plain HTTP */
    int tls_handshaking, tls_failed;
    int responding;
    uint64_t ticket;      /* held for a later answer (httpd_hold); 0: not held */
    struct httpreq req;   /* the request, in bytes[] */
    struct buf out;       /* response bytes not yet written */
    unsigned char ip[16]; /* the client's address, for the per-address cap */
    unsigned char iplen;
    char addr[64];
    char bytes[HTTPD_MAX_REQUEST];
};

/* Listens on addr. Returns the server, or NULL with err set. */
struct httpd *httpd_new(struct ev_loop *loop, const struct net_addr *addr,
                        const struct httpd_opts *opts, httpd_route_fn route, void *ud, char *err,
                        size_t errlen);
/* Closes the listener and every connection. No-op on NULL. */
void httpd_free(struct httpd *s);
/* The bound port (for port 0), or 0. */
uint16_t httpd_port(const struct httpd *s);
/* Serves TLS with ctx from the next connection on (NULL: plain HTTP). Takes
 * ownership of ctx; the previous context is released, connections already
 * using it keep it until they end. */
void httpd_set_tls(struct httpd *s, SSL_CTX *ctx);

/* Appends the counters as two Prometheus counter families,
 * PREFIX_refused_total and PREFIX_closed_total, each sample labelled
 * {LABELS reason="..."}; labels is "" or ends with a comma
 * ("edge=\"edge-a\","). */
void httpd_metrics(const struct httpd *s, struct buf *b, const char *prefix, const char *labels);

/* Answers and closes once written: body is text without the final newline
 * (added). extra: more header lines, each ending in CRLF, or NULL. The
 * connection may be gone on return. */
void httpd_respond_type(struct httpd_conn *c, int status, const char *ctype, const char *extra,
                        const char *body);
void httpd_respond(struct httpd_conn *c, int status, const char *extra, const char *json);
/* Takes ownership of j. */
void httpd_respond_json(struct httpd_conn *c, int status, json_t *j);
/* Answers with a whole prebuilt HTTP response (status line, headers with
 * Connection: close, body) copied from bytes; status is for the log. The
 * connection may be gone on return. */
void httpd_respond_raw(struct httpd_conn *c, int status, const void *bytes, size_t len);
/* The route answers later (when an engine call it made completes): the
 * connection stops reading and keeps its overall deadline, after which it
 * is closed unanswered. Returns a ticket for httpd_held. */
uint64_t httpd_hold(struct httpd_conn *c);
/* The connection a ticket names, if it is still open and unanswered; else
 * NULL (the client went, or the deadline passed). NULL s: NULL. */
struct httpd_conn *httpd_held(struct httpd *s, uint64_t ticket);
/* {"error": msg} with status. */
void httpd_error(struct httpd_conn *c, int status, const char *msg);
/* The body as a JSON object, or NULL after answering 400. Caller decrefs. */
json_t *httpd_json_body(struct httpd_conn *c);
/* 1 if path[0, len) is exactly want. */
int httpd_path_is(const char *path, size_t len, const char *want);

#endif
