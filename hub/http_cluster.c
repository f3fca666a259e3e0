/* The admin API's cluster answers (see http_cluster.h). */
#include "hub/http_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textlist.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "hub/cluster.h"
#include "hub/hub.h"
#include "hub/policy.h"

static struct hub *hub_of(const struct httpd_conn *c)
{
    return c->srv->ud;
}

/* A request answered when the cluster calls back. */
struct held {
    struct hub *h;
    uint64_t ticket;
    int local; /* drain: this hub's workers told */
    char what[CONNID_MAX_LEN + 1];
};

static struct held *hold(struct httpd_conn *c, const char *what, size_t len)
{
    struct held *q = xcalloc(1, sizeof *q);
    q->h = hub_of(c);
    q->ticket = httpd_hold(c);
    snprintf(q->what, sizeof q->what, "%.*s", (int)len, what);
    return q;
}

/* The request's connection if it still waits (NULL: the client went, or
 * the deadline passed, or the hub is going). */
static struct httpd_conn *held_conn(const struct held *q)
{
    return httpd_held(q->h->http, q->ticket);
}

/* ---- GET /api/hubs ---------------------------------------------------------------- */

void http_cluster_hubs(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    if (h->cluster) {
        httpd_respond_json(c, 200, cluster_hubs_json(h->cluster));
        return;
    }
    /* A hub of its own: just itself. */
    char boot[17];
    snprintf(boot, sizeof boot, "%016llx", (unsigned long long)h->boot);
    json_t *self = json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:b}", "name", h->cfg.name, "boot",
                             boot, "version", SPOKE_VERSION, "links", (json_int_t)h->nlinks_open,
                             "self", 1, "state", "ok", "fresh", 1);
    json_t *j = json_pack("{s:[o], s:n}", "hubs", self, "cluster");
    httpd_respond_json(c, 200, j);
}

/* ---- PUT /api/policy -------------------------------------------------------------- */

static void on_policy(void *ctx, int status, const char *why)
{
    struct held *q = ctx;
    struct httpd_conn *c = held_conn(q);
    if (c && status == 200)
        httpd_respond_json(c, 200, policy_to_json(&q->h->policy));
    else if (c)
        httpd_error(c, status, why);
    free(q);
}

void http_cluster_policy_put(struct httpd_conn *c, const json_t *changes)
{
    struct hub *h = hub_of(c);
    cluster_policy_put(h->cluster, changes, on_policy, hold(c, "", 0));
}

/* ---- POST /api/disconnect ---------------------------------------------------------- */

static void on_kicked(void *ctx, int status, const char *hubs, long workers, const char *why)
{
    struct held *q = ctx;
    struct httpd_conn *c = held_conn(q);
    if (c && status == 202) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "conn", q->what, "status", "sent", "hub", hubs);
        httpd_respond_json(c, 202, j);
    } else if (c) {
        char msg[400];
        snprintf(msg, sizeof msg, "the hub holding the connection's edge worker %s", why);
        httpd_error(c, 503, msg);
    }
    free(q);
}

void http_cluster_kick(struct httpd_conn *c, const struct connid *id, uint32_t code,
                       const char *reason)
{
    struct hub *h = hub_of(c);
    char to[CONNID_MAX_LEN + 1], why[300];
    int n = connid_format(to, sizeof to, id);
    struct held *q = hold(c, to, n > 0 ? (size_t)n : 0);
    int rc = cluster_kick(h->cluster, id, code, link_str_c(reason), on_kicked, q, why, sizeof why);
    if (rc == 0)
        return;
    free(q);
    if (rc == 404) {
        httpd_error(c, 404,
                    "unknown connection (no edge worker linked to this hub or another "
                    "hub of the cluster holds it)");
    } else {
        char msg[400];
        snprintf(msg, sizeof msg, "no edge worker linked to this hub holds it, and %s", why);
        httpd_error(c, 503, msg);
    }
}

/* ---- POST /api/edges/NAME/drain --------------------------------------------------- */

static void respond_drain(struct httpd_conn *c, const char *name, long workers, json_t *hubs,
                          const char *missed)
{
    json_t *j = json_pack("{s:s, s:I, s:o, s:s}", "edge", name, "workers", (json_int_t)workers,
                          "hubs", hubs, "status", "draining");
    if (missed && *missed)
        json_object_set_new(j, "not_told", json_string(missed));
    httpd_respond_json(c, 202, j);
}

static void on_drained(void *ctx, int status, const char *hubs, long workers, const char *why)
{
    struct held *q = ctx;
    struct httpd_conn *c = held_conn(q);
    if (c && status != 202 && !q->local) {
        httpd_error(c, 503, why);
    } else if (c) {
        json_t *names = json_array();
        if (q->local)
            json_array_append_new(names, json_string(q->h->cfg.name));
        const char *cursor = hubs, *item;
        size_t n;
        while (textlist_next(&cursor, &item, &n))
            json_array_append_new(names, json_stringn(item, n));
        respond_drain(c, q->what, q->local + workers, names, why);
    }
    free(q);
}

void http_cluster_drain(struct httpd_conn *c, const char *name, size_t len, uint64_t period_ms,
                        int local)
{
    struct hub *h = hub_of(c);
    char why[300], edge[CONNID_MAX_NAME + 1];
    snprintf(edge, sizeof edge, "%.*s", (int)len, name);
    struct held *q = hold(c, name, len);
    q->local = local;
    int asked = cluster_drain(h->cluster, name, len, period_ms, on_drained, q, why, sizeof why);
    if (asked > 0)
        return;
    free(q);
    if (local) {
        json_t *names = json_array();
        json_array_append_new(names, json_string(h->cfg.name));
        respond_drain(c, edge, local, names, asked < 0 ? why : NULL);
    } else if (asked < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "no worker of that edge is linked to this hub, and %s", why);
        httpd_error(c, 503, msg);
    } else {
        httpd_error(c, 404,
                    "unknown edge (no worker linked to this hub or another hub of the "
                    "cluster has that name)");
    }
}
