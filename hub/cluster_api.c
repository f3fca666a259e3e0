/* What the admin API shows of the cluster (see cluster.h): the other hubs'
 * edges merged into /api/edges, /api/hubs, the cluster's part of /readyz,
 * and the spoke_hub_cluster_* metrics. All of it is read from the cache
 * the last registry read filled: no request waits for Redis. */
#include <stdio.h>
#include <string.h>

#include "common/httpd.h"
#include "common/metrics.h"
#include "common/version.h"
#include "hub/cluster_internal.h"
#include "hub/edge_link.h"
#include "hub/http_edges.h"

/* The cache is shown while younger than cluster_ttl: after that the hubs
 * it lists may be gone, and the listing says "local only". */
static int cache_fresh(const struct cluster *c)
{
    return c->read_at > 0 && ev_now(c->loop) - c->read_at <= c->ttl_s;
}

static const char *state_name(const struct cluster *c)
{
    if (!redis_conn_is_up(c->cmd) || !redis_conn_is_up(c->sub))
        return "redis_down";
    if (c->state == CLUSTER_OUT)
        return "name_taken";
    if (c->state != CLUSTER_IN || !c->listening)
        return "joining";
    return "ok";
}

void cluster_merge_edges(struct cluster *c, struct http_edges *es)
{
    http_edges_tag(es, c->h->cfg.name);
    if (!cache_fresh(c))
        return;
    for (const struct cpeer *p = c->peers; p; p = p->next)
        if (p->listed && p->has_view)
            for (size_t i = 0; i < p->view.nedges; i++)
                http_edges_merge(es, &p->view.edges[i], p->name);
}

json_t *cluster_view_json(const struct cluster *c)
{
    int fresh = cache_fresh(c);
    json_t *j = json_object();
    json_object_set_new(j, "state", json_string(state_name(c)));
    json_object_set_new(j, "local_only", json_boolean(!fresh));
    json_object_set_new(j, "hubs", json_integer(fresh ? (json_int_t)c->nlisted : 1));
    json_object_set_new(j, "age_ms",
                        c->read_at > 0
                            ? json_integer((json_int_t)((ev_now(c->loop) - c->read_at) * 1000))
                            : json_null());
    char why[300];
    if (!cluster_can_send(c, why, sizeof why))
        json_object_set_new(j, "reason", json_string(why));
    return j;
}

static void add_link(const struct edge_link_info *i, void *ud)
{
    http_edges_add(ud, i);
}

static json_t *self_json(const struct cluster *c)
{
    struct hub *h = c->h;
    char boot[17];
    struct http_edges es;
    http_edges_init(&es);
    edge_link_foreach_open(h, add_link, &es);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(h->cfg.name));
    json_object_set_new(o, "boot", json_string(cluster_boot_format(boot, h->boot)));
    json_object_set_new(o, "version", json_string(SPOKE_VERSION));
    json_object_set_new(o, "link", json_string(c->link_addr));
    json_object_set_new(o, "http", json_string(c->http_addr));
    json_object_set_new(o, "https", json_boolean(h->http && h->http->tls));
    json_object_set_new(o, "uptime_s", json_integer((json_int_t)(ev_now(c->loop) - c->started)));
    json_object_set_new(o, "links", json_integer((json_int_t)h->nlinks_open));
    json_object_set_new(o, "edges", json_integer((json_int_t)es.n));
    json_object_set_new(o, "policy_version", json_integer((json_int_t)c->policy_version));
    json_object_set_new(o, "self", json_true());
    json_object_set_new(o, "state", json_string(state_name(c)));
    json_object_set_new(o, "age_ms", json_integer(0));
    json_object_set_new(o, "fresh", json_true());
    http_edges_deinit(&es);
    return o;
}

static json_t *peer_json(const struct cluster *c, const struct cpeer *p)
{
    char boot[17];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "boot", json_string(cluster_boot_format(boot, p->boot)));
    /* How old its registration is, by Redis's clock (its TTL as it wrote
     * it, less what is left), plus the time since we read it: no clock of
     * another host is compared with ours. */
    double since_read = ev_now(c->loop) - c->read_at;
    long long age = (long long)(since_read * 1000);
    if (p->has_reg && p->reg.ttl_ms > 0 && p->ttl_left >= 0 &&
        (uint64_t)p->ttl_left <= p->reg.ttl_ms)
        age += (long long)(p->reg.ttl_ms - (uint64_t)p->ttl_left);
    json_object_set_new(o, "age_ms", json_integer(age));
    if (p->has_reg) {
        const struct cluster_reg *r = &p->reg;
        json_object_set_new(o, "version", json_string(r->version));
        json_object_set_new(o, "link", json_string(r->link));
        json_object_set_new(o, "http", json_string(r->http));
        json_object_set_new(o, "https", json_boolean(r->https));
        json_object_set_new(o, "uptime_s", json_integer((json_int_t)(r->uptime_s + age / 1000)));
        json_object_set_new(o, "links", json_integer((json_int_t)r->links));
        json_object_set_new(o, "edges", json_integer((json_int_t)r->edges));
        json_object_set_new(o, "policy_version", json_integer((json_int_t)r->policy_version));
    }
    /* Answered recently: refreshed within three of its own periods. */
    long long period = p->has_reg && p->reg.refresh_ms ? (long long)p->reg.refresh_ms
                                                       : (long long)(c->refresh_s * 1000);
    int fresh = age <= 3 * period;
    json_object_set_new(o, "self", json_false());
    json_object_set_new(o, "state",
                        json_string(!p->has_reg ? "unreadable"
                                    : fresh     ? "up"
                                                : "stale"));
    json_object_set_new(o, "fresh", json_boolean(fresh));
    return o;
}

json_t *cluster_hubs_json(const struct cluster *c)
{
    json_t *arr = json_array();
    json_array_append_new(arr, self_json(c));
    if (cache_fresh(c))
        for (const struct cpeer *p = c->peers; p; p = p->next)
            if (p->listed)
                json_array_append_new(arr, peer_json(c, p));
    json_t *j = json_object();
    json_object_set_new(j, "hubs", arr);
    json_object_set_new(j, "cluster", cluster_view_json(c));
    return j;
}

int cluster_ready(const struct cluster *c, char *why, size_t len)
{
    char reason[300];
    if (cluster_can_send(c, reason, sizeof reason))
        return 1;
    snprintf(why, len,
             "cluster: %s (degraded: /api/edges and /api/hubs show this hub only, directs, "
             "kicks and drains for other hubs are refused, policy changes are refused)",
             reason);
    return 0;
}

#define FAMILY(b, name, type, help) metrics_family(b, name, type, help)

void cluster_metrics(const struct cluster *c, struct buf *b)
{
    const struct cluster_stats *s = &c->st;
    char why[8];
    size_t routes = c->routes.count;
    FAMILY(b, "spoke_hub_cluster_up", "gauge",
           "1 while this hub takes part in the cluster: Redis reachable, its name registered, "
           "its channel listened to.");
    buf_printf(b, "spoke_hub_cluster_up %d\n", cluster_can_send(c, why, sizeof why));
    FAMILY(b, "spoke_hub_cluster_name_conflict", "gauge",
           "1 while another process holds this hub's name in Redis (this hub stays out).");
    buf_printf(b, "spoke_hub_cluster_name_conflict %d\n", c->state == CLUSTER_OUT);
    FAMILY(b, "spoke_hub_cluster_hubs", "gauge",
           "Hubs the last registry read listed, this one included (1 while the cache is older "
           "than cluster_ttl).");
    buf_printf(b, "spoke_hub_cluster_hubs %zu\n", cache_fresh(c) ? c->nlisted : (size_t)1);
    FAMILY(b, "spoke_hub_cluster_view_age_seconds", "gauge",
           "Time since the other hubs' views were last read (-1: never).");
    buf_printf(b, "spoke_hub_cluster_view_age_seconds %.3f\n",
               c->read_at > 0 ? ev_now(c->loop) - c->read_at : -1.0);
    FAMILY(b, "spoke_hub_cluster_remote_workers", "gauge",
           "Edge worker links other hubs hold, as their views say.");
    buf_printf(b, "spoke_hub_cluster_remote_workers %zu\n", cache_fresh(c) ? routes : (size_t)0);
    FAMILY(b, "spoke_hub_cluster_directs_total", "counter",
           "Directs relayed through Redis: sent to another hub, or received from one for a link "
           "of this hub.");
    buf_printf(b, "spoke_hub_cluster_directs_total{direction=\"sent\"} %llu\n",
               (unsigned long long)s->directs_sent);
    buf_printf(b, "spoke_hub_cluster_directs_total{direction=\"received\"} %llu\n",
               (unsigned long long)s->directs_received);
    FAMILY(b, "spoke_hub_cluster_direct_results_total", "counter",
           "Direct results relayed through Redis, by direction.");
    buf_printf(b, "spoke_hub_cluster_direct_results_total{direction=\"sent\"} %llu\n",
               (unsigned long long)s->results_sent);
    buf_printf(b, "spoke_hub_cluster_direct_results_total{direction=\"received\"} %llu\n",
               (unsigned long long)s->results_received);
    FAMILY(b, "spoke_hub_cluster_directs_refused_total", "counter",
           "Directs for another hub answered 503 at once, by reason: Redis down, this hub out "
           "of the cluster (name taken), link_max_pending_directs waiting for that hub, or "
           "nobody listening on its channel.");
    buf_printf(b, "spoke_hub_cluster_directs_refused_total{reason=\"redis_down\"} %llu\n",
               (unsigned long long)s->refused_down);
    buf_printf(b, "spoke_hub_cluster_directs_refused_total{reason=\"out_of_cluster\"} %llu\n",
               (unsigned long long)s->refused_out);
    buf_printf(b, "spoke_hub_cluster_directs_refused_total{reason=\"pending_limit\"} %llu\n",
               (unsigned long long)s->refused_full);
    buf_printf(b, "spoke_hub_cluster_directs_refused_total{reason=\"not_received\"} %llu\n",
               (unsigned long long)s->refused_unheard);
    FAMILY(b, "spoke_hub_cluster_commands_total", "counter",
           "Kicks and drains relayed through Redis, by kind and direction.");
    buf_printf(b, "spoke_hub_cluster_commands_total{kind=\"kick\",direction=\"sent\"} %llu\n",
               (unsigned long long)s->kicks_sent);
    buf_printf(b, "spoke_hub_cluster_commands_total{kind=\"kick\",direction=\"received\"} %llu\n",
               (unsigned long long)s->kicks_received);
    buf_printf(b, "spoke_hub_cluster_commands_total{kind=\"drain\",direction=\"sent\"} %llu\n",
               (unsigned long long)s->drains_sent);
    buf_printf(b, "spoke_hub_cluster_commands_total{kind=\"drain\",direction=\"received\"} %llu\n",
               (unsigned long long)s->drains_received);
    FAMILY(b, "spoke_hub_cluster_dropped_total", "counter",
           "What was read from Redis and dropped, by what: a message on this hub's channel that "
           "is not an envelope, one for another process of this name, a result answering "
           "nothing sent, a registration or view that is not usable, a process beyond the "
           "peers this hub keeps.");
    buf_printf(b, "spoke_hub_cluster_dropped_total{what=\"envelope\"} %llu\n",
               (unsigned long long)s->bad_envelopes);
    buf_printf(b, "spoke_hub_cluster_dropped_total{what=\"misaddressed\"} %llu\n",
               (unsigned long long)s->misaddressed);
    buf_printf(b, "spoke_hub_cluster_dropped_total{what=\"result\"} %llu\n",
               (unsigned long long)s->unsolicited);
    buf_printf(b, "spoke_hub_cluster_dropped_total{what=\"document\"} %llu\n",
               (unsigned long long)s->bad_docs);
    buf_printf(b, "spoke_hub_cluster_dropped_total{what=\"peer\"} %llu\n",
               (unsigned long long)s->peers_full);
    FAMILY(b, "spoke_hub_cluster_refreshes_total", "counter",
           "Registry refreshes sent (this hub's registration and view written, the others' "
           "read), and those Redis failed.");
    buf_printf(b, "spoke_hub_cluster_refreshes_total{outcome=\"sent\"} %llu\n",
               (unsigned long long)s->refreshes);
    buf_printf(b, "spoke_hub_cluster_refreshes_total{outcome=\"failed\"} %llu\n",
               (unsigned long long)s->refresh_failures);
    FAMILY(b, "spoke_hub_cluster_policy_version", "gauge",
           "The version of the cluster's policy in force here (0: none read yet).");
    buf_printf(b, "spoke_hub_cluster_policy_version %llu\n", (unsigned long long)c->policy_version);
    FAMILY(b, "spoke_hub_cluster_policy_versions_total", "counter",
           "Policy versions installed here from Redis or written there by this hub, and those "
           "found unusable (the policy in force stayed).");
    buf_printf(b, "spoke_hub_cluster_policy_versions_total{outcome=\"applied\"} %llu\n",
               (unsigned long long)s->policy_applied);
    buf_printf(b, "spoke_hub_cluster_policy_versions_total{outcome=\"written\"} %llu\n",
               (unsigned long long)s->policy_written);
    buf_printf(b, "spoke_hub_cluster_policy_versions_total{outcome=\"rejected\"} %llu\n",
               (unsigned long long)s->policy_rejected);
}
