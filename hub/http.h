/* The hub's admin HTTP/1.1 server, on the hub's loop: GET /healthz and
 * GET /api/links as JSON, one request per connection. */
#ifndef SPOKE_HUB_HTTP_H
#define SPOKE_HUB_HTTP_H
#include <stddef.h>
#include <stdint.h>

#include "common/net.h"
#include "hub/hub.h"

struct httpd;

/* Listens on addr and serves on h->loop. Returns the server, or NULL with a
 * one-line reason in err. */
struct httpd *http_server_new(struct hub *h, const struct net_addr *addr, char *err,
                                    size_t errlen);
/* Closes the listener and every admin connection. No-op on NULL. */
void http_server_free(struct httpd *s);
/* The port the listener is bound to (for port 0), or 0. */
uint16_t http_server_port(const struct httpd *s);

#endif
