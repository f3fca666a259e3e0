/* The hub's public pages over its HTTP server: the files of hub/www/
 * compiled in (common/assets.h; `/` is index.html, the operators'
 * dashboard) and GET /edges.json (hub/edges_doc.h). Neither needs the
 * admin token: the files are the same for everyone, and the edge list is
 * public by design (docs/security.md). */
#ifndef SPOKE_HUB_HTTP_WWW_H
#define SPOKE_HUB_HTTP_WWW_H
#include <stddef.h>

struct httpd_conn;
struct hub;

/* The page policy of HTML answers: nothing but the hub's own origin. */
#define HTTP_WWW_CSP "default-src 'self'"

/* If path[0, len) (no query) is one of these, answers the request (405
 * for a method other than GET and HEAD) and returns 1; else 0. */
int http_www_serve(struct hub *h, struct httpd_conn *c, const char *path, size_t len);

#endif
