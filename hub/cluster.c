/* What every file of the cluster uses (see cluster.h, cluster_internal.h):
 * warnings, commands on the cluster's shard, the cache of the other hubs
 * and whether traffic can go to them. It calls no other cluster file, so
 * the files above it form no circle. */
#include "hub/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hub/cluster_internal.h"

void cluster__warn(struct cluster *c, unsigned k, const char *fmt, ...)
{
    double now = ev_now(c->loop);
    if (c->warned_at[k] > 0 && now - c->warned_at[k] < 10.0)
        return;
    c->warned_at[k] = now;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_warn("cluster: %s", line);
}

/* ---- commands ---------------------------------------------------------------- */

int cluster__command(struct cluster *c, redis_reply_fn cb, void *privdata, int argc,
                     const char **argv, const size_t *lens)
{
    return redis_conn_command(c->cmd, cb, privdata, argc, argv, lens);
}

int cluster__eval(struct cluster *c, enum cluster_script s, redis_reply_fn cb, void *privdata,
                  int nkeys, int nargs, const char **args, const size_t *lens)
{
    const char *argv[16];
    size_t argl[16];
    char nk[8];
    if (nargs > 13)
        return -1;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = cluster_script_text(s);
    argv[2] = nk;
    for (int i = 0; i < 3; i++)
        argl[i] = strlen(argv[i]);
    for (int i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        argl[3 + i] = lens ? lens[i] : strlen(args[i]);
    }
    return cluster__command(c, cb, privdata, 3 + nargs, argv, argl);
}

/* ---- peers and routes ---------------------------------------------------------- */

struct cpeer *cluster__peer(struct cluster *c, const char *name, size_t len, uint64_t boot)
{
    for (struct cpeer *p = c->peers; p; p = p->next)
        if (p->boot == boot && p->name_len == len && memcmp(p->name, name, len) == 0)
            return p;
    return NULL;
}

struct cpeer *cluster__peer_make(struct cluster *c, const char *name, size_t len, uint64_t boot)
{
    struct cpeer *p = cluster__peer(c, name, len, boot);
    if (p || len > CONNID_MAX_NAME)
        return p;
    if (c->npeers >= CLUSTER_MAX_PEERS) {
        c->st.peers_full++;
        return NULL;
    }
    p = xcalloc(1, sizeof *p);
    memcpy(p->name, name, len);
    p->name_len = (uint32_t)len;
    p->boot = boot;
    p->vid = CLUSTER_VID_BIT | ++c->next_vid;
    p->heard = ev_now(c->loop);
    cluster_key_hub(p->key, c->prefix, name, len);
    p->next = c->peers;
    c->peers = p;
    c->npeers++;
    return p;
}

struct cpeer *cluster__peer_by_vid(struct cluster *c, uint64_t vid)
{
    for (struct cpeer *p = c->peers; p; p = p->next)
        if (p->vid == vid)
            return p;
    return NULL;
}

void cluster__peer_free(struct cpeer *p)
{
    cluster_view_free(&p->view);
    free(p);
}

/* The routes key of (name, worker). */
static size_t route_key(char *out, const char *name, size_t len, uint32_t worker)
{
    memcpy(out, name, len);
    out[len] = '\0';
    memcpy(out + len + 1, &worker, 4);
    return len + 5;
}

const struct croute *cluster__route(const struct cluster *c, const char *name, size_t len,
                                    uint32_t worker)
{
    char key[CONNID_MAX_NAME + 5];
    if (len > CONNID_MAX_NAME)
        return NULL;
    return dict_get(&c->routes, key, route_key(key, name, len, worker));
}

void cluster__routes_rebuild(struct cluster *c)
{
    dict_deinit(&c->routes, free);
    dict_init(&c->routes);
    for (struct cpeer *p = c->peers; p; p = p->next) {
        if (!p->listed || !p->has_view)
            continue;
        for (size_t i = 0; i < p->view.nlinks; i++) {
            const struct cluster_route *l = &p->view.links[i];
            char key[CONNID_MAX_NAME + 5];
            size_t klen = route_key(key, l->edge, strlen(l->edge), l->worker);
            struct croute *r = dict_get(&c->routes, key, klen);
            if (r && r->age_ms <= l->age_ms)
                continue; /* two hubs claim it: the younger link is the live one */
            if (!r) {
                r = xmalloc(sizeof *r);
                dict_add(&c->routes, key, klen, r);
            }
            *r = (struct croute){.peer = p, .boot = l->boot, .age_ms = l->age_ms};
        }
    }
}

/* ---- whether traffic can go ---------------------------------------------------- */

int cluster_can_send(const struct cluster *c, char *why, size_t len)
{
    const struct redis_conn *down = !redis_conn_is_up(c->cmd)   ? c->cmd
                                    : !redis_conn_is_up(c->sub) ? c->sub
                                                                : NULL;
    if (down) {
        const char *e = redis_conn_last_error(down);
        snprintf(why, len, "Redis (%s) cannot be reached (%s): traffic to other hubs is refused",
                 c->addr.label, *e ? e : "connecting");
        return 0;
    }
    if (c->state == CLUSTER_OUT) {
        snprintf(why, len,
                 "this hub is out of the cluster: its name '%s' is held by another process "
                 "(boot %016llx)",
                 c->h->cfg.name, (unsigned long long)c->holder);
        return 0;
    }
    if (c->state != CLUSTER_IN || !c->listening) {
        snprintf(why, len, "this hub has not joined the cluster yet");
        return 0;
    }
    return 1;
}
