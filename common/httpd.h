/* A small HTTP/1.1 server for admin endpoints (the hub's API, the edge's
 * health and metrics), run in the caller's libev loop.
 *
 * Deliberately small: one request per connection (the reply carries
 * Connection: close and the socket closes once it is written), the whole
 * request must fit in HTTPD_MAX_REQUEST bytes, every connection has a
 * deadline, and the number of connections is capped, so a misbehaving
 * client costs at most HTTPD_MAX_CONNS * ~8 KiB and cannot stall the loop.
 * Requests are parsed with http-parser (LIBRARIES.md §7); the bytes are kept
 * in one contiguous buffer, so the pieces the parser reports are contiguous
 * there too. */
#ifndef SPOKE_HTTPD_H
#define SPOKE_HTTPD_H
#include <ev.h>
#include <http_parser.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/net.h"

#define HTTPD_MAX_REQUEST 8192

struct httpd_conn;
/* Called once per complete request; must answer it (httpd_respond*). */
typedef void (*httpd_route_fn)(struct httpd_conn *c, void *ud);

struct httpd {
    struct ev_loop *loop;
    httpd_route_fn route;
    void *ud;
    int fd;
    int spare_fd; /* shed connections when out of descriptors */
    ev_io accept_w;
    struct httpd_conn *conns;
    size_t nconns;
};

/* One request. Routes read: parser.method, the URL at req + url_off
 * (url_len bytes), the body at req + body_off (body_len; body_split if it
 * came in chunks), and the Authorization header at req + auth_off
 * (auth_len; auth_seen counts such headers). */
struct httpd_conn {
    struct httpd *srv;
    struct httpd_conn *prev, *next;
    int fd;
    ev_io io;
    ev_timer timer;
    http_parser parser;
    int url_seen, headers_done, done, responding;
    size_t url_off, url_len;
    size_t body_off, body_len;
    int body_seen, body_split;
    size_t field_off, field_len, auth_off, auth_len;
    int in_field, cur_is_auth, auth_seen;
    size_t len;      /* request bytes received */
    struct buf out;  /* response bytes not yet written */
    char addr[64];
    char req[HTTPD_MAX_REQUEST];
};

/* Listens on addr. Returns the server, or NULL with err set. */
struct httpd *httpd_new(struct ev_loop *loop, const struct net_addr *addr, httpd_route_fn route,
                        void *ud, char *err, size_t errlen);
void httpd_free(struct httpd *s);
/* The bound port (for port 0), or 0. */
uint16_t httpd_port(const struct httpd *s);

/* Answers and closes once written: body is text without the final newline
 * (added). extra: more header lines, each ending in CRLF, or NULL. The
 * connection may be gone on return. */
void httpd_respond_type(struct httpd_conn *c, int status, const char *ctype, const char *extra,
                        const char *body);
void httpd_respond(struct httpd_conn *c, int status, const char *extra, const char *json);
/* Takes ownership of j. */
void httpd_respond_json(struct httpd_conn *c, int status, json_t *j);
/* {"error": msg} with status. */
void httpd_error(struct httpd_conn *c, int status, const char *msg);
/* The body as a JSON object, or NULL after answering 400. Caller decrefs. */
json_t *httpd_json_body(struct httpd_conn *c);
/* 1 if path[0, len) is exactly want. */
int httpd_path_is(const char *path, size_t len, const char *want);

#endif
