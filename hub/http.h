/* The hub's admin HTTP API: a server on the hub's loop (common/httpd, HTTP
 * or HTTPS) answering its ten endpoints, GET /healthz, /metrics,
 * /api/links, /api/edges, /api/topics and /api/policy, PUT /api/policy,
 * POST /api/publish, /api/disconnect and /api/edges/NAME/drain
 * (docs/configuration.md, "Hub HTTP endpoints"). The per-edge view that
 * /api/edges and /metrics show is hub/http_edges.h. */
#ifndef SPOKE_HUB_HTTP_H
#define SPOKE_HUB_HTTP_H
#include <stddef.h>
#include <stdint.h>

#include "common/net.h"
#include "hub/hub.h"

struct httpd;

/* Listens on addr with the cfg's http_* limits and serves on h->loop.
 * Returns the server, or NULL with a one-line reason in err. */
struct httpd *http_server_new(struct hub *h, const struct net_addr *addr, char *err, size_t errlen);
/* Closes the listener and every admin connection. No-op on NULL. */
void http_server_free(struct httpd *s);
/* The port the listener is bound to (for port 0), or 0. */
uint16_t http_server_port(const struct httpd *s);

#endif
