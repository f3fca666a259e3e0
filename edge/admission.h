/* Who may open a WebSocket on this edge, decided once the upgrade request
 * is complete: the Origin against allowed_origins (403), then the client's
 * token against the configured JWT key (401). */
#ifndef SPOKE_EDGE_ADMISSION_H
#define SPOKE_EDGE_ADMISSION_H
#include "common/buf.h"

struct worker;
struct handshake;
struct auth_identity;

/* Returns 0 to admit (with *id set to the token's identity, or NULL for an
 * anonymous connection: the caller owns it), or -1 after replacing
 * `response` with the HTTP refusal; *why then says why, for the log. */
int admission_check(struct worker *w, const struct handshake *hs, struct buf *response,
                    struct auth_identity **id, const char **why);

/* 1 if origin is in the comma-separated list (ASCII case-insensitive; an
 * entry "*" allows any). An empty list allows any origin, and so does a
 * request without an Origin header (not a browser: origins guard browsers
 * against pages of other sites, not scripts). */
int admission_origin_allowed(const char *list, const char *origin);

#endif
