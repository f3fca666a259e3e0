/* A worker's listening sockets (struct listener, edge/edge.h): ws, and wss
 * when configured, each SO_REUSEPORT so that every worker has its own.
 * They are bound at start but listen() only once the hub's first policy has
 * arrived, so a client never reaches an edge that cannot enforce it.
 * Accepted connections go to client_accept. */
#ifndef SPOKE_EDGE_LISTENER_H
#define SPOKE_EDGE_LISTENER_H
#include <stddef.h>

struct worker;

/* Binds w's listening sockets. Returns 0, or -1 with err set (nothing
 * stays bound). */
int listener_bind_all(struct worker *w, char *err, size_t errlen);
/* Listens and accepts on every bound socket; a failure is logged. Returns
 * how many listen now. */
unsigned listener_start_all(struct worker *w);
/* Closes every listening socket: new connections to this worker fail at
 * once, so a balancer sends them elsewhere. Safe to call twice. */
void listener_close_all(struct worker *w);

#endif
