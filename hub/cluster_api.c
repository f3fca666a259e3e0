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
    c->host.foreach_link(h, add_link, &es);
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

/* The families, in the order they are written. */
enum {
    M_UP,
    M_CONFLICT,
    M_HUBS,
    M_AGE,
    M_REMOTE,
    M_DIRECTS,
    M_RESULTS,
    M_REFUSED,
    M_COMMANDS,
    M_DROPPED,
    M_REFRESHES,
    M_POLICY,
    M_POLICIES,
    M_NFAMILIES
};

static const struct {
    const char *name, *type, *help;
} families[M_NFAMILIES] = {
    [M_UP] = {"spoke_hub_cluster_up", "gauge",
              "1 while this hub takes part in the cluster: Redis reachable, its name "
              "registered, its channel listened to."},
    [M_CONFLICT] = {"spoke_hub_cluster_name_conflict", "gauge",
                    "1 while another process holds this hub's name in Redis (this hub stays "
                    "out)."},
    [M_HUBS] = {"spoke_hub_cluster_hubs", "gauge",
                "Hubs the last registry read listed, this one included (1 while the cache is "
                "older than cluster_ttl)."},
    [M_AGE] = {"spoke_hub_cluster_view_age_seconds", "gauge",
               "Time since the other hubs' views were last read (-1: never)."},
    [M_REMOTE] = {"spoke_hub_cluster_remote_workers", "gauge",
                  "Edge worker links other hubs hold, as their views say."},
    [M_DIRECTS] = {"spoke_hub_cluster_directs_total", "counter",
                   "Directs relayed through Redis: sent to another hub, or received from one "
                   "for a link of this hub."},
    [M_RESULTS] = {"spoke_hub_cluster_direct_results_total", "counter",
                   "Direct results relayed through Redis, by direction."},
    [M_REFUSED] = {"spoke_hub_cluster_directs_refused_total", "counter",
                   "Directs for another hub answered 503 at once, by reason: Redis down, this "
                   "hub out of the cluster (name taken), link_max_pending_directs waiting for "
                   "that hub, or nobody listening on its channel."},
    [M_COMMANDS] = {"spoke_hub_cluster_commands_total", "counter",
                    "Kicks and drains relayed through Redis, by kind and direction."},
    [M_DROPPED] = {"spoke_hub_cluster_dropped_total", "counter",
                   "What was read from Redis and dropped, by what: a message on this hub's "
                   "channel that is not an envelope, one for another process of this name, a "
                   "result answering nothing sent, a registration or view that is not usable, a "
                   "process beyond the peers this hub keeps."},
    [M_REFRESHES] = {"spoke_hub_cluster_refreshes_total", "counter",
                     "Registry refreshes sent (this hub's registration and view written, the "
                     "others' read), and those Redis failed."},
    [M_POLICY] = {"spoke_hub_cluster_policy_version", "gauge",
                  "The version of the cluster's policy in force here (0: none read yet)."},
    [M_POLICIES] = {"spoke_hub_cluster_policy_versions_total", "counter",
                    "Policy versions installed here from Redis or written there by this hub, "
                    "and those found unusable (the policy in force stayed)."},
};

void cluster_metrics(const struct cluster *c, struct buf *b)
{
    const struct cluster_stats *s = &c->st;
    char why[8];
    int fresh = cache_fresh(c);
    const struct {
        int family;
        const char *labels; /* NULL: none */
        double value;
    } rows[] = {
        {M_UP, NULL, cluster_can_send(c, why, sizeof why)},
        {M_CONFLICT, NULL, c->state == CLUSTER_OUT},
        {M_HUBS, NULL, fresh ? (double)c->nlisted : 1},
        {M_AGE, NULL, c->read_at > 0 ? ev_now(c->loop) - c->read_at : -1.0},
        {M_REMOTE, NULL, fresh ? (double)dict_count(&c->routes) : 0},
        {M_DIRECTS, "direction=\"sent\"", (double)s->directs_sent},
        {M_DIRECTS, "direction=\"received\"", (double)s->directs_received},
        {M_RESULTS, "direction=\"sent\"", (double)s->results_sent},
        {M_RESULTS, "direction=\"received\"", (double)s->results_received},
        {M_REFUSED, "reason=\"redis_down\"", (double)s->refused_down},
        {M_REFUSED, "reason=\"out_of_cluster\"", (double)s->refused_out},
        {M_REFUSED, "reason=\"pending_limit\"", (double)s->refused_full},
        {M_REFUSED, "reason=\"not_received\"", (double)s->refused_unheard},
        {M_COMMANDS, "kind=\"kick\",direction=\"sent\"", (double)s->kicks_sent},
        {M_COMMANDS, "kind=\"kick\",direction=\"received\"", (double)s->kicks_received},
        {M_COMMANDS, "kind=\"drain\",direction=\"sent\"", (double)s->drains_sent},
        {M_COMMANDS, "kind=\"drain\",direction=\"received\"", (double)s->drains_received},
        {M_DROPPED, "what=\"envelope\"", (double)s->bad_envelopes},
        {M_DROPPED, "what=\"misaddressed\"", (double)s->misaddressed},
        {M_DROPPED, "what=\"result\"", (double)s->unsolicited},
        {M_DROPPED, "what=\"document\"", (double)s->bad_docs},
        {M_DROPPED, "what=\"peer\"", (double)s->peers_full},
        {M_REFRESHES, "outcome=\"sent\"", (double)s->refreshes},
        {M_REFRESHES, "outcome=\"failed\"", (double)s->refresh_failures},
        {M_POLICY, NULL, (double)c->policy_version},
        {M_POLICIES, "outcome=\"applied\"", (double)s->policy_applied},
        {M_POLICIES, "outcome=\"written\"", (double)s->policy_written},
        {M_POLICIES, "outcome=\"rejected\"", (double)s->policy_rejected},
    };
    int last = -1;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *name = families[rows[i].family].name;
        if (rows[i].family != last)
            metrics_family(b, name, families[rows[i].family].type, families[rows[i].family].help);
        last = rows[i].family;
        /* Counters are exact as doubles up to 2^53: far beyond these. */
        if (rows[i].labels)
            buf_printf(b, "%s{%s} %.15g\n", name, rows[i].labels, rows[i].value);
        else
            buf_printf(b, "%s %.15g\n", name, rows[i].value);
    }
}
