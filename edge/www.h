/* The plain HTTP requests an edge's client port(s) answer besides the /ws
 * upgrade (docs/configuration.md, "Edge HTTP paths"): the files of
 * edge/www/ compiled in (common/assets.h; the demo* files and / only with
 * the `demo` setting) and /edges.json, the hub's last list of ready edges.
 * Every answer closes the connection. */
#ifndef SPOKE_EDGE_WWW_H
#define SPOKE_EDGE_WWW_H
#include "common/buf.h"
#include "edge/handshake.h"

struct worker;

/* The page policy of HTML answers: the page's own scripts, styles and
 * images, and WebSockets to any edge (wss: a page may list several). */
#define WWW_EDGE_CSP "default-src 'self'; connect-src 'self' ws: wss:"

/* The table of edge/www/ files (never fails). Free with assets_free. */
struct assets *www_files_new(void);

/* Appends the whole answer to r (a HANDSHAKE_HTTP request) to out; *why
 * says what it was, for the log. */
void www_answer(struct worker *w, const struct handshake_request *r, struct buf *out,
                const char **why);

#endif
