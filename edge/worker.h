/* One edge worker: a thread with its own libev loop, its own SO_REUSEPORT
 * listeners, its own client connections, topics and hub link (struct
 * worker, edge/edge.h). Workers share nothing but the read-only
 * configuration; the only cross-thread calls are worker_stop() and
 * worker_drain() (an ev_async each) and worker_snapshot() (a mutex). */
#ifndef SPOKE_EDGE_WORKER_H
#define SPOKE_EDGE_WORKER_H
#include <stddef.h>

#include "edge/edge.h"

/* Creates the loop and binds the listening sockets. Returns 0, or -1 with
 * err set. */
int worker_init(struct worker *w, const struct edge_config *cfg, unsigned index, char *err,
                size_t errlen);
/* Starts the worker thread. Returns 0 or -1 (errno). */
int worker_start(struct worker *w);
/* Asks the worker to close its clients and exit its loop (any thread). */
void worker_stop(struct worker *w);
/* Asks the worker to drain (any thread): stop accepting, then close its
 * clients with 1001 spread over the drain period, then tell the main thread
 * (ctl->worker_drained). */
void worker_drain(struct worker *w);
void worker_join(struct worker *w);
void worker_deinit(struct worker *w);

/* Copies the worker's last published snapshot (any thread). */
void worker_snapshot(struct worker *w, struct worker_snapshot *out);

#endif
