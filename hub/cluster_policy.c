/* The cluster's policy in Redis (see cluster.h): PREFIX:policy holds the
 * document (hub/policy_doc.h) and its version; every change is one
 * POLICY_SET script, which bumps the version and announces it on the
 * PREFIX:policy channel; every hub then reads the document and installs
 * it (hub/policy.c) and sends its links what changed for them.
 *
 * Precedence: what Redis holds wins. A hub that starts (or whose command
 * connection comes back) offers the policy in force here as "version 1
 * if there is none"; when Redis has one, that one is installed instead and
 * the log says so. SIGHUP makes this hub's file the cluster's policy, but
 * only if the file changed since it was last read (a SIGHUP that rotates
 * certificates leaves the cluster's policy alone). PUT /api/policy applies
 * its changes to the cluster's policy as this hub knows it, and the script
 * refuses if that is no longer the latest: the hub then installs the
 * latest and tries again (three times). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hub/cluster_internal.h"
#include "hub/policy.h"

#define PUT_TRIES 3

uint64_t cluster_policy_version(const struct cluster *c)
{
    return c->policy_version;
}

/* Puts a version in force here; the log lines say "policy (cluster version
 * V, set on HUB by HOW[; NOTE]): key a -> b". */
static void install(struct cluster *c, const struct policy *base, struct dict *ov, uint64_t version,
                    const char *by, const char *how, const char *note)
{
    char label[200];
    snprintf(label, sizeof label, "cluster version %llu, set on %s by %s%s%s",
             (unsigned long long)version, by[0] ? by : "?", how[0] ? how : "?", note ? "; " : "",
             note ? note : "");
    c->policy_version = version;
    c->st.policy_applied++;
    if (hub_policy_install(c->h, base, ov, label))
        c->host.push_policy(c->h);
}

/* Installs the document Redis holds as version v. Returns 0, or -1 if it
 * is not usable (the policy in force stays; that version is not read
 * again). */
static int adopt(struct cluster *c, uint64_t v, struct link_str doc, const char *note)
{
    struct policy base;
    struct dict *ov;
    struct policy_doc_meta meta;
    char err[256];
    if (policy_doc_decode(doc.ptr, doc.len, &base, &ov, &meta, err, sizeof err) < 0) {
        c->st.policy_rejected++;
        c->policy_rejected = v;
        cluster__warn(c, 3,
                      "policy version %llu in Redis (%s) is not usable: %s; the policy in force "
                      "(version %llu) stays",
                      (unsigned long long)v, c->k_policy, err,
                      (unsigned long long)c->policy_version);
        return -1;
    }
    if (meta.unknown_keys)
        log_info("cluster: policy version %llu has %zu key%s this hub does not know (a newer "
                 "hub's?): ignored",
                 (unsigned long long)v, meta.unknown_keys, meta.unknown_keys == 1 ? "" : "s");
    install(c, &base, ov, v, meta.by, meta.how, note);
    return 0;
}

static char *doc_in_force(const struct cluster *c, const char *how)
{
    struct policy_doc_meta meta = {0};
    snprintf(meta.by, sizeof meta.by, "%s", c->h->cfg.name);
    snprintf(meta.how, sizeof meta.how, "%s", how);
    return policy_doc_encode(&c->h->policy, c->h->overrides, &meta);
}

/* ---- startup and reconnection --------------------------------------------------- */

static void on_synced(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct cluster *c = privdata;
    int set;
    uint64_t v;
    struct link_str doc;
    if (!r)
        return; /* tried again when the connection is back */
    if (r->type == REDIS_REPLY_ERROR || cluster_policy_set_reply(r, &set, &v, &doc) < 0) {
        cluster__warn(c, 3, "reading the policy in %s failed: %.*s", c->k_policy,
                      r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                      r->type == REDIS_REPLY_ERROR ? r->str : "a bad answer");
        return;
    }
    int first = c->policy_version == 0;
    if (set) {
        c->policy_version = v;
        c->st.policy_written++;
        log_info("cluster: Redis held no policy: this hub's (%s) is the cluster's now, version "
                 "%llu",
                 first ? "from its file and flags" : "the one in force", (unsigned long long)v);
        return;
    }
    if (v == c->policy_version || adopt(c, v, doc, first ? "read at startup" : "read again") < 0 ||
        !first)
        return;
    if (hub_policy_file_differs(c->h, &c->h->policy, c->h->overrides))
        log_warn("cluster: the cluster's policy (version %llu, from Redis) is in force: it takes "
                 "precedence over this hub's file, which differs (the lines above say how); "
                 "SIGHUP after editing the file makes the file's the cluster's",
                 (unsigned long long)v);
    else
        log_info("cluster: the cluster's policy (version %llu, from Redis) is in force; this "
                 "hub's file says the same",
                 (unsigned long long)v);
}

void cluster__policy_sync(struct cluster *c)
{
    char *doc = doc_in_force(c, c->policy_version ? "resync" : "startup");
    const char *args[] = {c->k_policy, "0", doc, c->k_policy};
    cluster__eval(c, CLUSTER_SCRIPT_POLICY_SET, on_synced, c, 1, 4, args, NULL);
    free(doc);
}

/* ---- announcements ------------------------------------------------------------------ */

static void on_fetched(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct cluster *c = privdata;
    uint64_t v;
    struct link_str doc;
    c->policy_reading = 0;
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ERROR || cluster_policy_get_reply(r, &v, &doc) < 0) {
        cluster__warn(c, 3, "reading the policy in %s failed", c->k_policy);
    } else if (v && v != c->policy_version && v != c->policy_rejected) {
        adopt(c, v, doc, NULL);
    }
    if (c->policy_reread) {
        c->policy_reread = 0;
        cluster__policy_fetch(c);
    }
}

void cluster__policy_fetch(struct cluster *c)
{
    if (c->policy_reading) {
        c->policy_reread = 1;
        return;
    }
    const char *argv[] = {"HMGET", c->k_policy, "v", "doc"};
    size_t lens[] = {5, strlen(c->k_policy), 1, 3};
    if (cluster__command(c, on_fetched, c, 4, argv, lens) == 0)
        c->policy_reading = 1;
}

void cluster__policy_seen(struct cluster *c, uint64_t version)
{
    /* Versions differ rather than grow: Redis restarted empty counts from 1
     * again, and whatever it holds is the cluster's. */
    if (version && version != c->policy_version && version != c->policy_rejected)
        cluster__policy_fetch(c);
}

/* ---- PUT /api/policy ---------------------------------------------------------------- */

struct put {
    struct cluster *c;
    json_t *changes;
    cluster_policy_fn cb;
    void *ctx;
    int tries;
    struct policy next;
    struct dict *ov; /* the overrides it was computed with */
};

static void put_end(struct put *p, int status, const char *why)
{
    p->cb(p->ctx, status, why);
    json_decref(p->changes);
    policy_overrides_free(p->ov);
    free(p);
}

static void put_try(struct put *p);

static void on_put(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct put *p = privdata;
    struct cluster *c = p->c;
    int set;
    uint64_t v;
    struct link_str doc;
    if (!r) {
        put_end(p, 503,
                "Redis went away before confirming the change: it may or may not be in force "
                "(GET /api/policy shows what is)");
        return;
    }
    if (r->type == REDIS_REPLY_ERROR || cluster_policy_set_reply(r, &set, &v, &doc) < 0) {
        put_end(p, 503, "Redis refused the change: nothing changed");
        return;
    }
    if (set) {
        c->st.policy_written++;
        install(c, &p->next, p->ov, v, c->h->cfg.name, "API", NULL);
        p->ov = NULL;
        put_end(p, 200, "");
        return;
    }
    /* Another change came first: build this one on top of it. */
    if (adopt(c, v, doc, "came before an API change here") < 0 || ++p->tries >= PUT_TRIES) {
        put_end(p, 409, "the cluster's policy kept changing meanwhile: nothing changed; try again");
        return;
    }
    put_try(p);
}

static void put_try(struct put *p)
{
    struct cluster *c = p->c;
    char err[256];
    if (hub_policy_with_changes(c->h, p->changes, &p->next, err, sizeof err) < 0) {
        put_end(p, 400, err);
        return;
    }
    policy_overrides_free(p->ov);
    p->ov = policy_overrides_copy(c->h->overrides);
    struct policy_doc_meta meta = {.how = "API"};
    snprintf(meta.by, sizeof meta.by, "%s", c->h->cfg.name);
    char *doc = policy_doc_encode(&p->next, p->ov, &meta);
    char expected[24];
    snprintf(expected, sizeof expected, "%llu", (unsigned long long)c->policy_version);
    const char *args[] = {c->k_policy, expected, doc, c->k_policy};
    int rc = cluster__eval(c, CLUSTER_SCRIPT_POLICY_SET, on_put, p, 1, 4, args, NULL);
    free(doc);
    if (rc < 0)
        put_end(p, 503,
                "Redis cannot be reached: the cluster's policy lives there; nothing changed");
}

void cluster_policy_put(struct cluster *c, const json_t *changes, cluster_policy_fn cb, void *ctx)
{
    struct put *p = xcalloc(1, sizeof *p);
    *p = (struct put){.c = c, .changes = json_incref((json_t *)changes), .cb = cb, .ctx = ctx};
    put_try(p);
}

/* ---- SIGHUP ----------------------------------------------------------------------- */

struct reload {
    struct cluster *c;
    struct policy base;
    struct dict *ov;
};

static void on_reloaded(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct reload *rl = privdata;
    struct cluster *c = rl->c;
    int set;
    uint64_t v;
    struct link_str doc;
    if (!r || r->type == REDIS_REPLY_ERROR || cluster_policy_set_reply(r, &set, &v, &doc) < 0 ||
        !set) {
        log_error("cluster: policy reload: Redis did not take the file's policy%s: the cluster's "
                  "stays (send SIGHUP again)",
                  r ? "" : " (the connection went)");
    } else {
        c->st.policy_written++;
        hub_policy_remember_file(c->h, &rl->base, rl->ov);
        install(c, &rl->base, rl->ov, v, c->h->cfg.name, "SIGHUP", NULL);
        rl->ov = NULL;
    }
    policy_overrides_free(rl->ov);
    free(rl);
}

void cluster_policy_file(struct cluster *c, const struct policy *base, struct dict *ov)
{
    struct hub *h = c->h;
    if (!hub_policy_file_differs(h, base, ov)) {
        log_info("policy: [policy] and [edge.*] in %s are as they were when last read: the "
                 "cluster's policy (version %llu) stays",
                 h->config_path, (unsigned long long)c->policy_version);
        policy_overrides_free(ov);
        return;
    }
    struct policy_doc_meta meta = {.how = "SIGHUP"};
    snprintf(meta.by, sizeof meta.by, "%s", h->cfg.name);
    char *doc = policy_doc_encode(base, ov, &meta);
    struct reload *rl = xmalloc(sizeof *rl);
    *rl = (struct reload){.c = c, .base = *base, .ov = ov};
    const char *args[] = {c->k_policy, "any", doc, c->k_policy};
    if (cluster__eval(c, CLUSTER_SCRIPT_POLICY_SET, on_reloaded, rl, 1, 4, args, NULL) < 0) {
        log_error("policy: %s changed, but Redis (%s) cannot be reached: not applied, the "
                  "cluster's policy stays (send SIGHUP again once Redis is back)",
                  h->config_path, c->addr.label);
        policy_overrides_free(ov);
        free(rl);
    } else {
        log_info("policy: %s changed: making it the cluster's policy", h->config_path);
    }
    free(doc);
}
