/* The edge process's own admin endpoint (--admin): /healthz, /readyz and
 * /metrics, served by common/httpd in the main thread's loop from the
 * snapshots the workers publish. */
#ifndef SPOKE_EDGE_ADMIN_H
#define SPOKE_EDGE_ADMIN_H

#include "common/httpd.h"
#include "edge/config.h"

struct worker;

struct edge_admin {
    const struct edge_config *cfg;
    struct worker *workers;
    unsigned nworkers;
    struct httpd *httpd;
};

/* Listens on cfg->admin. Returns 0, or -1 with err set. */
int edge_admin_start(struct edge_admin *a, struct ev_loop *loop, char *err, size_t errlen);
void edge_admin_stop(struct edge_admin *a);

#endif
