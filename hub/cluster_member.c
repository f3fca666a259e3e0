/* This hub as a member of the cluster (see cluster.h): making it, its two
 * connections, its registration and view refreshed every cluster_refresh,
 * the other hubs read from each refresh into the cache, leaving and
 * freeing. It sits above cluster_relay.c and cluster_policy.c, which it
 * hands envelopes, policy announcements and lost connections to. */
#include "hub/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "hub/cluster_internal.h"
#include "hub/engine_redis_wire.h"
#include "hub/http_edges.h"

/* ---- this hub's registration and view ------------------------------------------ */

struct view_build {
    struct http_edges es;
    struct cluster_route *links;
    size_t n, cap;
};

static void add_link(const struct edge_link_info *i, void *ud)
{
    struct view_build *vb = ud;
    http_edges_add(&vb->es, i);
    if (vb->n == vb->cap) {
        vb->cap = vb->cap ? vb->cap * 2 : 16;
        vb->links = xrealloc(vb->links, vb->cap * sizeof *vb->links);
    }
    struct cluster_route *r = &vb->links[vb->n++];
    snprintf(r->edge, sizeof r->edge, "%s", i->edge);
    r->worker = i->worker;
    r->boot = (uint32_t)i->boot;
    r->age_ms = i->age_ms;
}

static void refresh(struct cluster *c);

static void on_refreshed(struct redis_conn *rc, redisReply *r, void *privdata);

static void refresh(struct cluster *c)
{
    struct hub *h = c->h;
    if (c->refreshing) {
        c->again = 1;
        return;
    }
    if (!redis_conn_is_up(c->cmd) || c->leaving)
        return;
    struct view_build vb = {0};
    http_edges_init(&vb.es);
    c->host.foreach_link(h, add_link, &vb);
    char *view = cluster_view_encode(&vb.es, vb.links, vb.n, CLUSTER_MAX_VIEW);
    struct cluster_reg reg = {
        .boot = h->boot,
        .https = h->http && h->http->tls,
        .uptime_s = (uint64_t)(ev_now(c->loop) - c->started),
        .ttl_ms = (uint64_t)(c->ttl_s * 1000),
        .refresh_ms = (uint64_t)(c->refresh_s * 1000),
        .links = h->nlinks_open,
        .edges = vb.es.n,
        .policy_version = c->policy_version,
    };
    snprintf(reg.name, sizeof reg.name, "%s", h->cfg.name);
    snprintf(reg.version, sizeof reg.version, "%s", SPOKE_VERSION);
    snprintf(reg.link, sizeof reg.link, "%s", c->link_addr);
    snprintf(reg.http, sizeof reg.http, "%s", c->http_addr);
    char *regtext = cluster_reg_encode(&reg);
    http_edges_deinit(&vb.es);
    free(vb.links);

    char boot[17], ttl[24], max[16];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)reg.ttl_ms);
    snprintf(max, sizeof max, "%d", CLUSTER_MAX_HUBS);
    const char *args[] = {
        c->k_hubs, c->k_me, c->k_policy, h->cfg.name,     cluster_boot_format(boot, h->boot),
        regtext,   view,    ttl,         c->k_hub_prefix, max,
        "1"};
    if (cluster__eval(c, CLUSTER_SCRIPT_REFRESH, on_refreshed, c, 3, 11, args, NULL) == 0)
        c->refreshing = 1;
    c->st.refreshes++;
    free(regtext);
    free(view);
}

static void subscribe_mine(struct cluster *c)
{
    if (c->state == CLUSTER_IN && redis_conn_is_up(c->sub))
        redis_conn_subscribe(c->sub, c->k_me, strlen(c->k_me));
}

/* Our refresh found the name held by another boot. */
static void name_taken(struct cluster *c, const struct cluster_refresh *rf)
{
    uint64_t holder = 0;
    cluster_boot_parse(rf->holder.ptr, rf->holder.len, &holder);
    if (c->state == CLUSTER_IN) {
        log_error("cluster: hub name '%s' was taken in Redis by another process (boot %016llx) "
                  "while this one could not refresh it: this hub leaves the cluster",
                  c->h->cfg.name, (unsigned long long)holder);
        if (redis_conn_is_up(c->sub))
            redis_conn_unsubscribe(c->sub, c->k_me, strlen(c->k_me));
        c->listening = 0;
        cluster__fail_directs(c, NULL, "this hub left the cluster (its name was taken)");
    }
    c->state = CLUSTER_OUT;
    c->holder = holder;
    c->holder_ttl = rf->holder_ttl_ms;
    double before = c->warned_at[0];
    cluster__warn(c, 0,
                  "hub name '%s' is registered in Redis by another process (boot %016llx; its "
                  "registration lapses in %lld ms unless that process refreshes it): this hub "
                  "stays out of the cluster and tries again every %.1f s; if that process is "
                  "alive, give each hub its own `name`",
                  c->h->cfg.name, (unsigned long long)holder, rf->holder_ttl_ms, c->refresh_s);
    if (c->warned_at[0] != before) /* as often as the warning */
        cluster__say_name_taken(c);
}

/* Reads the hubs the REFRESH listed into the cache. */
static void read_hubs(struct cluster *c, const struct cluster_refresh *rf)
{
    struct hub *h = c->h;
    double now = ev_now(c->loop);
    size_t mine = strlen(h->cfg.name);
    for (struct cpeer *p = c->peers; p; p = p->next)
        p->listed = 0;
    size_t listed = 0;
    for (size_t i = 0; i < rf->nhubs; i++) {
        struct cluster_listed l;
        uint64_t boot;
        char err[200];
        if (cluster_refresh_hub(rf, i, &l) < 0 || !connid_name_is_valid(l.name.ptr, l.name.len) ||
            cluster_boot_parse(l.boot.ptr, l.boot.len, &boot) < 0) {
            c->st.bad_docs++;
            cluster__warn(c, 1, "an entry of %s is not a hub's: skipped", c->k_hubs);
            continue;
        }
        if (l.name.len == mine && memcmp(l.name.ptr, h->cfg.name, mine) == 0)
            continue; /* this hub, or the holder of its name */
        struct cpeer *p = cluster__peer_make(c, l.name.ptr, l.name.len, boot);
        if (!p)
            continue;
        p->listed = 1;
        listed++;
        p->heard = now;
        p->ttl_left = l.ttl_left_ms;
        p->has_reg = cluster_reg_decode(l.reg.ptr, l.reg.len, &p->reg, err, sizeof err) == 0;
        if (p->has_reg && (p->reg.boot != boot || strcmp(p->reg.name, p->name) != 0))
            p->has_reg = 0;
        if (!p->has_reg) {
            c->st.bad_docs++;
            cluster__warn(c, 1, "the registration of hub %s is not usable: %s", p->name,
                          err[0] ? err : "its name or boot disagree");
        }
        cluster_view_free(&p->view);
        p->has_view = cluster_view_decode(l.view.ptr, l.view.len, &p->view, err, sizeof err) == 0;
        if (!p->has_view) {
            c->st.bad_docs++;
            cluster__warn(c, 1, "the view of hub %s is not usable: %s", p->name, err);
        }
    }
    /* Peers no longer listed: gone once another process holds the name, or
     * nothing was heard of them for cluster_ttl. */
    for (struct cpeer **pp = &c->peers; *pp;) {
        struct cpeer *p = *pp;
        int replaced = 0;
        for (struct cpeer *q = c->peers; q && !p->listed && !replaced; q = q->next)
            replaced = q != p && q->listed && q->name_len == p->name_len &&
                       memcmp(q->name, p->name, p->name_len) == 0;
        if (p->listed || (!replaced && now - p->heard <= c->ttl_s)) {
            pp = &p->next;
            continue;
        }
        char why[160];
        snprintf(why, sizeof why, "the target's hub (%s) went away before answering", p->name);
        log_info("cluster: hub %s (boot %016llx) is gone%s", p->name, (unsigned long long)p->boot,
                 replaced ? ": another process holds its name" : "");
        cluster__fail_directs(c, p, why);
        *pp = p->next;
        c->npeers--;
        cluster__peer_free(p);
    }
    cluster__routes_rebuild(c);
    c->nlisted = listed + 1;
    c->read_at = now;
}

static void on_refreshed(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct cluster *c = privdata;
    c->refreshing = 0;
    if (!r)
        return; /* the connection went: on_cmd_down */
    struct cluster_refresh rf;
    if (r->type == REDIS_REPLY_ERROR || cluster_refresh_reply(r, &rf) < 0) {
        c->st.refresh_failures++;
        cluster__warn(c, 1, "the registry refresh on %s failed: %.*s", c->addr.label,
                      r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                      r->type == REDIS_REPLY_ERROR ? r->str : "a bad answer");
        return;
    }
    if (rf.registered && c->state != CLUSTER_IN) {
        log_info("cluster: registered as %s on %s (%zu other hub%s)", c->h->cfg.name, c->addr.label,
                 rf.nhubs ? rf.nhubs - 1 : 0, rf.nhubs == 2 ? "" : "s");
        c->state = CLUSTER_IN;
        subscribe_mine(c);
    } else if (!rf.registered) {
        name_taken(c, &rf);
    }
    read_hubs(c, &rf);
    cluster__policy_seen(c, rf.policy_version);
    if (c->again) {
        c->again = 0;
        refresh(c);
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    refresh(w->data);
}

void cluster_links_changed(struct cluster *c)
{
    if (c && !ev_is_active(&c->soon)) {
        ev_timer_set(&c->soon, 0.05, 0.);
        ev_timer_start(c->loop, &c->soon);
    }
}

/* ---- the connections ------------------------------------------------------------ */

static void on_cmd_up(struct redis_conn *rc, void *ud)
{
    struct cluster *c = ud;
    refresh(c);
    cluster__policy_sync(c);
}

static void on_cmd_down(struct redis_conn *rc, const char *why, void *ud)
{
    struct cluster *c = ud;
    c->refreshing = 0;
    c->again = 0;
    c->policy_reading = 0;
}

static void on_sub_up(struct redis_conn *rc, void *ud)
{
    struct cluster *c = ud;
    redis_conn_subscribe(c->sub, c->k_policy, strlen(c->k_policy));
    subscribe_mine(c);
    /* Announcements made while it was down are lost: read what is there. */
    cluster__policy_fetch(c);
}

static void on_sub_down(struct redis_conn *rc, const char *why, void *ud)
{
    struct cluster *c = ud;
    c->listening = 0;
    /* Results published to us meanwhile are lost: nobody waits in silence. */
    cluster__fail_directs(c, NULL, "the hub lost its link to Redis before the answer came");
}

static int is(const struct redis_push *p, const char *channel)
{
    return p->channel_len == strlen(channel) && memcmp(p->channel, channel, p->channel_len) == 0;
}

static void on_push(struct redis_conn *rc, const struct redis_push *p, void *ud)
{
    struct cluster *c = ud;
    if (strcmp(p->kind, "subscribe") == 0 && is(p, c->k_me)) {
        c->listening = 1;
        log_debug("cluster: listening on %s", c->k_me);
        return;
    }
    if (strcmp(p->kind, "message") != 0)
        return;
    if (is(p, c->k_me) && c->state == CLUSTER_IN) {
        cluster__on_envelope(c, (const uint8_t *)p->payload, p->payload_len);
    } else if (is(p, c->k_policy)) {
        uint64_t v;
        if (redis_wire_u64(p->payload, p->payload_len, &v) == 0)
            cluster__policy_seen(c, v);
    }
}

/* ---- making, leaving, freeing ------------------------------------------------------ */

static void addr_of(char *out, size_t n, const struct net_addr *a, uint16_t port)
{
    struct net_addr shown = *a;
    shown.port = port;
    net_format_addr(&shown, out, n);
}

struct cluster *cluster_new(struct hub *h, const struct cluster_host *host, char *err,
                            size_t errlen)
{
    struct redis_addr addrs[REDIS_MAX_SHARDS];
    int n = redis_addr_list_parse(h->cfg.redis, addrs, REDIS_MAX_SHARDS, err, errlen);
    if (n < 1)
        return NULL;
    const char *prefix =
        h->cfg.redis_prefix && *h->cfg.redis_prefix ? h->cfg.redis_prefix : "spoke";
    struct cluster *c = xcalloc(1, sizeof *c);
    c->h = h;
    c->host = *host;
    c->loop = h->loop;
    c->prefix = xstrdup(prefix);
    cluster_key_hubs(c->k_hubs, prefix);
    cluster_key_hub(c->k_me, prefix, h->cfg.name, strlen(h->cfg.name));
    cluster_key_hub_prefix(c->k_hub_prefix, prefix);
    cluster_key_policy(c->k_policy, prefix);
    /* Every hub given the same addresses picks the same shard. */
    const char *labels[REDIS_MAX_SHARDS];
    for (int i = 0; i < n; i++)
        labels[i] = addrs[i].label;
    struct redis_ring ring;
    redis_ring_init(&ring, labels, (size_t)n);
    c->addr = addrs[redis_ring_shard(&ring, c->k_hubs, strlen(c->k_hubs))];
    redis_ring_deinit(&ring);
    if (redis_addr_resolve(&c->addr, err, errlen) < 0) {
        free(c->prefix);
        free(c);
        return NULL;
    }
    c->refresh_s = (double)h->cfg.cluster_refresh_ms / 1000.0;
    c->ttl_s = (double)h->cfg.cluster_ttl_ms / 1000.0;
    c->started = ev_now(c->loop);
    addr_of(c->link_addr, sizeof c->link_addr, &h->cfg.listen, host->link_port);
    addr_of(c->http_addr, sizeof c->http_addr, &h->cfg.http, host->http_port);
    dict_init(&c->routes);

    char boot[17], name[CLUSTER_KEY_MAX + 40];
    cluster_boot_format(boot, h->boot);
    snprintf(name, sizeof name, "%s:hb:%s:%s:cluster", prefix, h->cfg.name, boot);
    c->hb_channel = xstrdup(name);
    snprintf(name, sizeof name, "spoke-hub:%s:%s:cluster", h->cfg.name, boot);
    struct redis_conn_opts co = {.loop = c->loop,
                                 .addr = &c->addr,
                                 .kind = REDIS_CONN_COMMAND,
                                 .user = h->cfg.redis_user,
                                 .password = h->cfg.redis_password,
                                 .client_name = name,
                                 .period_ms = (unsigned)h->cfg.redis_heartbeat_ms,
                                 .on_up = on_cmd_up,
                                 .on_down = on_cmd_down,
                                 .ud = c};
    c->cmd = redis_conn_new(&co);
    co.kind = REDIS_CONN_PUBSUB;
    co.heartbeat_channel = c->hb_channel;
    co.heartbeat_via = c->cmd;
    co.on_up = on_sub_up;
    co.on_down = on_sub_down;
    co.on_push = on_push;
    c->sub = redis_conn_new(&co);

    ev_timer_init(&c->tick, on_tick, c->refresh_s, c->refresh_s);
    c->tick.data = c;
    ev_timer_start(c->loop, &c->tick);
    ev_timer_init(&c->soon, on_tick, 0., 0.);
    c->soon.data = c;
    ev_timer_init(&c->leave_timer, NULL, 0., 0.);
    log_info("cluster: hub %s on Redis %s (keys under %s:), refresh %.1f s, registration "
             "lapses after %.1f s",
             h->cfg.name, c->addr.label, prefix, c->refresh_s, c->ttl_s);
    return c;
}

static void left(struct cluster *c)
{
    ev_timer_stop(c->loop, &c->leave_timer);
    void (*done)(void *) = c->left;
    c->left = NULL;
    if (done)
        done(c->left_ud);
}

static void on_left(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct cluster *c = privdata;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        log_info("cluster: %s left the registry", c->h->cfg.name);
    left(c);
}

static void on_leave_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    left(w->data);
}

void cluster_leave(struct cluster *c, double timeout_s, void (*done)(void *ud), void *ud)
{
    c->left = done;
    c->left_ud = ud;
    c->leaving = 1;
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->soon);
    char boot[17];
    const char *args[] = {c->k_hubs, c->k_me, c->h->cfg.name,
                          cluster_boot_format(boot, c->h->boot)};
    if (c->state != CLUSTER_IN ||
        cluster__eval(c, CLUSTER_SCRIPT_LEAVE, on_left, c, 2, 4, args, NULL) < 0) {
        left(c);
        return;
    }
    ev_init(&c->leave_timer, on_leave_timeout);
    ev_timer_set(&c->leave_timer, timeout_s, 0.);
    c->leave_timer.data = c;
    ev_timer_start(c->loop, &c->leave_timer);
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    c->left = NULL;
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->soon);
    ev_timer_stop(c->loop, &c->leave_timer);
    redis_conn_free(c->sub);
    redis_conn_free(c->cmd);
    while (c->peers) {
        struct cpeer *p = c->peers;
        c->peers = p->next;
        cluster__peer_free(p);
    }
    dict_deinit(&c->routes, free);
    free(c->hb_channel);
    free(c->prefix);
    free(c);
}
