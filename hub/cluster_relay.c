/* Envelopes between hubs (see cluster.h): a direct for an edge worker
 * linked to another hub goes to that hub's channel, and its result comes
 * back on ours; kicks and drains go the same way. What comes in is
 * checked like what comes from a link: a result is taken only as the
 * answer to a direct we sent to that very hub (h->directs, keyed by the
 * hub's id), and every envelope must be addressed to this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hub/cluster_internal.h"
#include "hub/directs.h"

/* Publishes e on p's channel. cb (may be NULL) gets PUBLISH's answer (how
 * many subscribers heard it) or NULL. Returns 0, or -1 if it could not go. */
static int publish(struct cluster *c, const struct cpeer *p, const struct cluster_env *e,
                   redis_reply_fn cb, void *privdata)
{
    struct buf b = BUF_INIT;
    if (cluster_env_encode(&b, e) < 0) {
        buf_deinit(&b);
        return -1;
    }
    const char *argv[] = {"PUBLISH", p->key, (const char *)buf_head(&b)};
    size_t lens[] = {7, strlen(p->key), buf_readable(&b)};
    int rc = cluster__command(c, cb, privdata, 3, argv, lens);
    buf_deinit(&b);
    return rc;
}

static struct cluster_env env_for(const struct cluster *c, const struct cpeer *to,
                                  enum cluster_kind kind)
{
    return (struct cluster_env){.kind = kind,
                                .from = link_str_c(c->h->cfg.name),
                                .from_boot = c->h->boot,
                                .to_boot = to ? to->boot : 0,
                                .edge = link_str_c("")};
}

/* 1 if PUBLISH's answer says somebody heard it. */
static int someone_heard(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER && r->integer > 0;
}

/* ---- directs out ------------------------------------------------------------ */

/* A direct with an id sent to a peer, until PUBLISH answers. */
struct sent {
    struct cluster *c;
    uint64_t vid;
    int64_t id;
    uint32_t from_len;
    char name[CONNID_MAX_NAME + 1];
    char from[LINK_MAX_CONN_ID];
};

static void on_direct_published(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct sent *s = privdata;
    struct cluster *c = s->c;
    /* Nobody heard it (that hub is gone, or not listening): its sender
     * hears so now, unless something answered it meanwhile. */
    if (!someone_heard(r) &&
        directs_take(c->h->directs, s->vid, s->from, s->from_len, s->id, NULL)) {
        char why[160];
        snprintf(why, sizeof why, "the target's hub (%s) did not receive it%s", s->name,
                 r ? " (it is not listening)" : " (Redis went away)");
        c->st.refused_unheard++;
        c->host.answer_direct(c->h, (struct link_str){s->from, s->from_len}, s->id, 503, why);
    }
    free(s);
}

int cluster_direct(struct cluster *c, const struct link_msg *m, char *why, size_t len)
{
    struct hub *h = c->h;
    struct connid id;
    if (connid_parse(m->to.ptr, m->to.len, &id) < 0)
        return 404;
    if (!cluster_can_send(c, why, len)) {
        c->st.refused_down += c->state != CLUSTER_OUT;
        c->st.refused_out += c->state == CLUSTER_OUT;
        return 503;
    }
    const struct croute *r = cluster__route(c, id.name, id.name_len, id.worker);
    if (!r || r->boot != id.boot)
        return 404;
    struct cpeer *p = r->peer;
    if (m->has_id && directs_add(h->directs, p->vid, m->from.ptr, m->from.len, m->id, 0,
                                 ev_now(c->loop), (size_t)h->cfg.link_max_pending_directs) < 0) {
        c->st.refused_full++;
        snprintf(why, len,
                 "too many sends waiting for the target's hub (%s) (or this id is already "
                 "waiting)",
                 p->name);
        return 503;
    }
    struct cluster_env e = env_for(c, p, CLUSTER_DIRECT);
    e.msg = *m;
    struct sent *s = NULL;
    if (m->has_id) {
        s = xcalloc(1, sizeof *s);
        *s = (struct sent){.c = c, .vid = p->vid, .id = m->id, .from_len = m->from.len};
        memcpy(s->name, p->name, p->name_len);
        memcpy(s->from, m->from.ptr, m->from.len);
    }
    if (publish(c, p, &e, s ? on_direct_published : NULL, s) < 0) {
        if (m->has_id)
            directs_take(h->directs, p->vid, m->from.ptr, m->from.len, m->id, NULL);
        free(s);
        c->st.refused_down++;
        snprintf(why, len, "Redis (%s) cannot take it now", c->addr.label);
        return 503;
    }
    c->st.directs_sent++;
    return 0;
}

void cluster_result(struct cluster *c, uint64_t origin, const struct link_msg *m)
{
    struct cpeer *p = cluster__peer_by_vid(c, origin);
    if (!p)
        return; /* that hub is gone: nobody is left to tell */
    struct cluster_env e = env_for(c, p, CLUSTER_RESULT);
    e.msg = *m;
    if (publish(c, p, &e, NULL, NULL) == 0)
        c->st.results_sent++;
}

void cluster_answer(struct cluster *c, uint64_t origin, struct link_str to, int64_t id,
                    uint32_t code, const char *reason)
{
    struct link_msg r = link_direct_result(to, id, code, reason);
    cluster_result(c, origin, &r);
}

struct fail_ctx {
    struct cluster *c;
    const char *why;
};

static void fail_target(uint64_t target, void *ud)
{
    struct fail_ctx *f = ud;
    f->c->host.forget_target(f->c->h, target, f->why);
}

void cluster__fail_directs(struct cluster *c, struct cpeer *p, const char *why)
{
    if (!c->h->directs)
        return;
    if (p) {
        c->host.forget_target(c->h, p->vid, why);
        return;
    }
    struct fail_ctx f = {c, why};
    directs_foreach_target(c->h->directs, CLUSTER_VID_BIT, fail_target, &f);
}

/* ---- kicks and drains out --------------------------------------------------- */

struct asked {
    struct cluster *c;
    cluster_done_fn done;
    void *ctx;
    unsigned out, heard;
    long workers;
    char hubs[256];
    char missed[256];
};

static void append_name(char *list, size_t cap, const char *name)
{
    size_t n = strlen(list);
    snprintf(list + n, cap - n, "%s%s", n ? "," : "", name);
}

/* One PUBLISH of a kick or drain answered: the last one calls done. */
struct asked_one {
    struct asked *a;
    char name[CONNID_MAX_NAME + 1];
    long workers;
};

static void on_asked(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct asked_one *o = privdata;
    struct asked *a = o->a;
    if (someone_heard(r)) {
        a->heard++;
        a->workers += o->workers;
        append_name(a->hubs, sizeof a->hubs, o->name);
    } else {
        append_name(a->missed, sizeof a->missed, o->name);
    }
    free(o);
    if (--a->out)
        return;
    char why[320] = "";
    if (a->missed[0])
        snprintf(why, sizeof why, "not received by %s (not listening)", a->missed);
    a->done(a->ctx, a->heard ? 202 : 503, a->hubs, a->workers, why);
    free(a);
}

static int ask(struct asked *a, const struct cpeer *p, const struct cluster_env *e, long workers)
{
    struct asked_one *o = xcalloc(1, sizeof *o);
    o->a = a;
    o->workers = workers;
    memcpy(o->name, p->name, p->name_len);
    a->out++;
    if (publish(a->c, p, e, on_asked, o) == 0)
        return 0;
    a->out--;
    free(o);
    return -1;
}

int cluster_kick(struct cluster *c, const struct connid *id, uint32_t code, struct link_str reason,
                 cluster_done_fn done, void *ctx, char *why, size_t len)
{
    if (!cluster_can_send(c, why, len))
        return 503;
    const struct croute *r = cluster__route(c, id->name, id->name_len, id->worker);
    if (!r || r->boot != id->boot)
        return 404;
    char to[CONNID_MAX_LEN + 1];
    int n = connid_format(to, sizeof to, id);
    struct cluster_env e = env_for(c, r->peer, CLUSTER_KICK);
    e.msg = (struct link_msg){
        .type = LINK_KICK, .to = {to, (uint32_t)(n > 0 ? n : 0)}, .code = code, .reason = reason};
    struct asked *a = xcalloc(1, sizeof *a);
    *a = (struct asked){.c = c, .done = done, .ctx = ctx};
    if (ask(a, r->peer, &e, 0) < 0) {
        free(a);
        snprintf(why, len, "Redis (%s) cannot take it now", c->addr.label);
        return 503;
    }
    c->st.kicks_sent++;
    return 0;
}

int cluster_drain(struct cluster *c, const char *edge, size_t len, uint64_t period_ms,
                  cluster_done_fn done, void *ctx, char *why, size_t whylen)
{
    if (!cluster_can_send(c, why, whylen))
        return -503;
    struct asked *a = xcalloc(1, sizeof *a);
    *a = (struct asked){.c = c, .done = done, .ctx = ctx};
    int asked = 0;
    a->out = 1; /* held while asking, so that no answer finishes it early */
    for (struct cpeer *p = c->peers; p; p = p->next) {
        if (!p->listed || !p->has_view)
            continue;
        long workers = 0;
        for (size_t i = 0; i < p->view.nlinks; i++)
            workers += strlen(p->view.links[i].edge) == len &&
                       memcmp(p->view.links[i].edge, edge, len) == 0;
        if (!workers)
            continue;
        struct cluster_env e = env_for(c, p, CLUSTER_DRAIN);
        e.edge = (struct link_str){edge, (uint32_t)len};
        e.msg = (struct link_msg){.type = LINK_DRAIN, .time_ms = period_ms};
        if (ask(a, p, &e, workers) == 0) {
            asked++;
            c->st.drains_sent++;
        }
    }
    if (!asked) {
        free(a);
        return 0;
    }
    a->out--; /* the answers cannot have come yet: they come on later turns */
    return asked;
}

/* ---- envelopes in ----------------------------------------------------------- */

static void on_direct_in(struct cluster *c, const struct cluster_env *e)
{
    struct cpeer *p = cluster__peer_make(c, e->from.ptr, e->from.len, e->from_boot);
    if (!p)
        return; /* more processes than CLUSTER_MAX_PEERS: no answer can go back */
    p->heard = ev_now(c->loop);
    c->st.directs_received++;
    char why[200];
    int code = c->host.deliver_direct(c->h, &e->msg, p->vid, why, sizeof why);
    if (code && e->msg.has_id)
        cluster_answer(c, p->vid, e->msg.from, e->msg.id, (uint32_t)code, why);
}

static void on_result_in(struct cluster *c, const struct cluster_env *e)
{
    struct cpeer *p = cluster__peer(c, e->from.ptr, e->from.len, e->from_boot);
    c->st.results_received++;
    if (!p || !c->host.deliver_result(c->h, p->vid, &e->msg)) {
        /* Not an answer to anything we sent that hub: made up, repeated,
         * or later than the sender's deadline. */
        c->st.unsolicited++;
        log_debug("cluster: dropped a direct result from %.*s that nothing awaits",
                  (int)e->from.len, e->from.ptr);
    }
}

static void on_kick_in(struct cluster *c, const struct cluster_env *e)
{
    struct connid id;
    c->st.kicks_received++;
    if (connid_parse(e->msg.to.ptr, e->msg.to.len, &id) < 0 ||
        c->host.kick(c->h, &id, e->msg.code, e->msg.reason) < 0)
        log_debug("cluster: a kick from %.*s found no link here", (int)e->from.len, e->from.ptr);
    else
        log_info("cluster: hub %.*s asked to disconnect %.*s", (int)e->from.len, e->from.ptr,
                 (int)e->msg.to.len, e->msg.to.ptr);
}

static void on_drain_in(struct cluster *c, const struct cluster_env *e)
{
    c->st.drains_received++;
    int n = c->host.drain(c->h, e->edge.ptr, e->edge.len, e->msg.time_ms);
    log_info("cluster: hub %.*s asked to drain edge %.*s: %d worker%s told", (int)e->from.len,
             e->from.ptr, (int)e->edge.len, e->edge.ptr, n, n == 1 ? "" : "s");
}

void cluster__on_envelope(struct cluster *c, const uint8_t *p, size_t n)
{
    struct cluster_env e;
    char err[200];
    if (cluster_env_decode(p, n, &e, err, sizeof err) < 0) {
        c->st.bad_envelopes++;
        cluster__warn(c, 2, "a message on %s is not an envelope (%s): dropped", c->k_me, err);
        return;
    }
    struct hub *h = c->h;
    int from_me =
        e.from.len == strlen(h->cfg.name) && memcmp(e.from.ptr, h->cfg.name, e.from.len) == 0;
    if (e.kind == CLUSTER_NAME_TAKEN) {
        if (from_me && e.from_boot != h->boot)
            cluster__warn(c, 0,
                          "another process (boot %016llx) is trying to register as '%s', the "
                          "name this hub holds: give each hub its own `name`",
                          (unsigned long long)e.from_boot, h->cfg.name);
        return;
    }
    if (e.to_boot != h->boot || from_me) {
        /* For an earlier process of this name (or from one of ours). */
        c->st.misaddressed++;
        return;
    }
    switch (e.kind) {
    case CLUSTER_DIRECT: on_direct_in(c, &e); break;
    case CLUSTER_RESULT: on_result_in(c, &e); break;
    case CLUSTER_KICK: on_kick_in(c, &e); break;
    case CLUSTER_DRAIN: on_drain_in(c, &e); break;
    case CLUSTER_NAME_TAKEN: break;
    }
}

void cluster__say_name_taken(struct cluster *c)
{
    if (!redis_conn_is_up(c->cmd))
        return;
    struct cluster_env e = env_for(c, NULL, CLUSTER_NAME_TAKEN);
    struct cpeer me = {.name_len = 0};
    memcpy(me.key, c->k_me, sizeof me.key);
    publish(c, &me, &e, NULL, NULL);
}
