/* The admin API's answers that involve the other hubs of a cluster
 * (hub/cluster.h), kept out of hub/http.c: GET /api/hubs, and the held
 * answers of PUT /api/policy, POST /api/disconnect and POST
 * /api/edges/NAME/drain when they go through Redis. Each holds its request
 * (httpd_hold) until Redis answers, which the cluster's connections bound
 * (a reset after redis_heartbeat_ms x 3 of silence answers every command),
 * and httpd's own 10 s deadline bounds in any case. */
#ifndef SPOKE_HUB_HTTP_CLUSTER_H
#define SPOKE_HUB_HTTP_CLUSTER_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/connid.h"
#include "common/httpd.h"

/* GET /api/hubs: this hub and, in a cluster, the others it knows of. */
void http_cluster_hubs(struct httpd_conn *c);
/* PUT /api/policy in a cluster: the change goes to Redis first. */
void http_cluster_policy_put(struct httpd_conn *c, const json_t *changes);
/* POST /api/disconnect for a connection no link of this hub holds:
 * through the hub that holds it (404 when none does). */
void http_cluster_kick(struct httpd_conn *c, const struct connid *id, uint32_t code,
                       const char *reason);
/* POST /api/edges/NAME/drain: the other hubs holding workers of NAME are
 * asked too; local is how many of this hub's links were told. */
void http_cluster_drain(struct httpd_conn *c, const char *name, size_t len, uint64_t period_ms,
                        int local);

#endif
