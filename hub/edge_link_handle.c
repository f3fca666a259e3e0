/* The messages of an open edge link, and the admin API's way to the same
 * places: interest, history reads, direct messages and their results; the
 * API's kick, drain, policy push and per-link figures. Each handler checks
 * what the edge may say (its own senders only, its own interest), and
 * queues; no handler writes or closes another link (docs/protocol.md,
 * "After HELLO"). Publishes go to edge_link_publish.c, and everything that
 * waits for an engine read to edge_link_replay.c.
 *
 * Interest is two tables: this hub's own (hub/interest.h: which link
 * wants which topic, and the per-link limit) and the engine's (it learns
 * that the hub needs a topic when the first link wants it, and that it no
 * longer does when the last one goes). An INTEREST_ADD is answered at once
 * when the hub already receives the topic and no position was given; any
 * other goes through a replay, which the engine's read answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/connid.h"
#include "common/hooks_conf.h"
#include "common/enc.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/msg.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "hub/cluster.h"
#include "hub/directs.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"
#include "hub/engine.h"
#include "hub/interest.h"
#include "hub/policy.h"
#include "hub/publog.h"

/* ---- interest ------------------------------------------------------------ */

static void interest_result(struct edge_link *l, const struct link_msg *m, uint32_t code,
                            const char *reason, const struct interest_topic *t, int recovered)
{
    struct link_msg r = {.type = LINK_INTEREST_RESULT,
                         .topic = m->topic,
                         .id = m->id,
                         .code = code,
                         .reason = link_str_c(reason),
                         .epoch = link_str_c(""),
                         .recovered = (uint32_t)recovered};
    if (t && !code) {
        r.seq = t->seq;
        r.epoch = link_str_c(t->epoch);
    }
    edge_link__send(l, &r);
}

/* A topic the hub holds no interest in for this link after all: the
 * engine's limit (hub_full 1), its store down (2), or the link's limit (0). */
static void refuse_interest(struct edge_link *l, const struct link_msg *m, int hub_full)
{
    struct hub *h = l->hub;
    char reason[96];
    if (hub_full == 2) {
        interest_result(l, m, 503, "the engine is unavailable: interest not taken", NULL, 0);
        return;
    }
    if (hub_full) {
        h->stats.interest_refused_hub++;
        snprintf(reason, sizeof reason, "the hub holds max_topics (%ld) topics", h->cfg.max_topics);
    } else {
        h->stats.interest_refused_link++;
        snprintf(reason, sizeof reason, "this edge worker holds link_max_topics (%ld) topics",
                 h->cfg.link_max_topics);
    }
    interest_result(l, m, 429, reason, NULL, 0);
}

/* The engine's answer to the interest of a topic new to the hub; gen tells
 * a topic entry made again since from the one that asked. */
struct interest_ask {
    struct hub *h;
    uint32_t gen;
    uint32_t len;
    char topic[];
};

static void on_engine_interest(void *ctx, int status, const struct engine_pos *pos)
{
    struct interest_ask *a = ctx;
    struct hub *h = a->h;
    struct interest_topic *t =
        status == ENGINE_GONE ? NULL
                              : interest_find(h->interest, (struct link_str){a->topic, a->len});
    if (t && t->gen == a->gen && t->state == INTEREST_PENDING) {
        if (status == ENGINE_OK) {
            /* Every message after pos comes live from now on; those before
             * it that came already are the members' replays' business, and
             * copies of another epoch (in flight from an earlier interest)
             * are stale from now on. */
            t->state = INTEREST_READY;
            if (strcmp(t->epoch, pos->epoch) != 0 || pos->seq > t->seq)
                t->seq = pos->seq;
            snprintf(t->epoch, sizeof t->epoch, "%s", pos->epoch);
            /* Live messages find t without a lookup by name; the engine
             * drops the cookie with engine_interest_remove, which comes
             * before t goes (remove_interest, interest_gone). */
            engine_interest_cookie(h->engine, (struct link_str){t->node.name, t->node.len}, t);
        } else {
            /* Its members hear 429 (or 503) when their replays come up. */
            t->state = status == ENGINE_FULL ? INTEREST_REFUSED : INTEREST_UNAVAILABLE;
        }
    }
    free(a);
}

static void ask_engine_interest(struct hub *h, struct interest_topic *t)
{
    t->gen = (uint32_t)++h->interest_gen; /* compared for equality only: wrapping is fine */
    struct interest_ask *a = xmalloc(sizeof *a + t->node.len);
    a->h = h;
    a->gen = t->gen;
    a->len = t->node.len;
    memcpy(a->topic, t->node.name, t->node.len);
    engine_interest_add(h->engine, (struct link_str){t->node.name, t->node.len}, on_engine_interest,
                        a);
}

/* The position an INTEREST_ADD or HISTORY_READ resumes from (none: NULL). */
static const struct engine_pos *since_of(const struct link_msg *m, struct engine_pos *pos)
{
    if (!m->since_epoch.len)
        return NULL;
    pos->seq = m->since_seq;
    memcpy(pos->epoch, m->since_epoch.ptr, m->since_epoch.len);
    pos->epoch[m->since_epoch.len] = '\0';
    return pos;
}

static void remove_interest(struct hub *h, struct edge_link *l, struct link_str topic)
{
    struct interest_topic *t = interest_find(h->interest, topic);
    int engine_knows = t && t->state != INTEREST_REFUSED && t->state != INTEREST_UNAVAILABLE;
    if (interest_remove(h->interest, l->peer, topic) == 2 && engine_knows)
        engine_interest_remove(h->engine, topic);
}

static int on_interest_add(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    l->interest_adds++;
    struct interest_member *mb;
    int rc = interest_add(h->interest, l->peer, m->topic, &mb);
    /* One interest refused, never the link: dropping it would make the edge
     * re-send everything on reconnect and be dropped again. */
    if (rc == INTEREST_PEER_FULL) {
        refuse_interest(l, m, 0);
        return 0;
    }
    struct interest_topic *t = mb->topic;
    struct engine_pos since;
    const struct engine_pos *from = since_of(m, &since);
    if (rc == 0) {
        /* Already interested (idempotent): where the topic stands; resuming
         * means nothing here, as the link has had the live messages. */
        int same = from && t->state == INTEREST_READY && strcmp(from->epoch, t->epoch) == 0 &&
                   from->seq == t->seq;
        interest_result(l, m, 0, "", t, same);
        return 0;
    }
    if (rc == 2)
        ask_engine_interest(h, t); /* the memory engine answers before it returns */
    if (t->state == INTEREST_REFUSED || t->state == INTEREST_UNAVAILABLE) {
        int why = t->state == INTEREST_REFUSED ? 1 : 2;
        remove_interest(h, l, m->topic);
        refuse_interest(l, m, why);
        return 0;
    }
    if (t->state == INTEREST_READY && !from) {
        interest_result(l, m, 0, "", t, 0);
        return 0;
    }
    if (l->nresumes >= (uint32_t)h->cfg.link_max_topics) {
        remove_interest(h, l, m->topic);
        interest_result(l, m, 429, "too many interest requests of this link are waiting", NULL, 0);
        return 0;
    }
    uint64_t hold = interest_hold(h->interest, mb);
    edge_link__queue_replay(l, REPLAY_RESUME, m->topic, m->id, from, hold);
    return 0;
}

static int on_interest(struct edge_link *l, const struct link_msg *m)
{
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link__refuse(l, 400, "invalid topic in %s", link_type_name(m->type));
    if (m->type == LINK_INTEREST_ADD)
        return on_interest_add(l, m);
    l->interest_removes++;
    remove_interest(l->hub, l, m->topic);
    return 0;
}

/* ---- history reads ------------------------------------------------------- */

static void history_refused(struct edge_link *l, const struct link_msg *m, uint32_t code,
                            const char *reason)
{
    struct link_msg r = {.type = LINK_HISTORY_RESULT,
                         .topic = m->topic,
                         .id = m->id,
                         .code = code,
                         .reason = link_str_c(reason),
                         .epoch = link_str_c("")};
    edge_link__send(l, &r);
}

static int on_history_read(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link__refuse(l, 400, "invalid topic in history_read");
    /* Its MESSAGEs carry the id as `replay`, where 0 means live. */
    if (m->id <= 0)
        return edge_link__refuse(l, 400, "history_read id %lld: must be above 0", (long long)m->id);
    l->history_reads_in++;
    struct interest_member *mb = interest_member_of(l->peer, m->topic);
    if (!mb) {
        history_refused(l, m, 404, "this link holds no interest in the topic");
        return 0;
    }
    if (l->nreads >= (uint32_t)h->cfg.link_max_history_reads) {
        h->stats.history_reads_refused++;
        char reason[96];
        snprintf(reason, sizeof reason, "this link has link_max_history_reads (%ld) reads waiting",
                 h->cfg.link_max_history_reads);
        history_refused(l, m, 429, reason);
        return 0;
    }
    struct engine_pos since;
    uint64_t hold = interest_hold(h->interest, mb);
    edge_link__queue_replay(l, REPLAY_READ, m->topic, m->id, since_of(m, &since), hold);
    return 0;
}

/* ---- direct messages ----------------------------------------------------- */

static int on_direct(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!edge_link__owns_conn(l, &m->from))
        return edge_link__refuse_forged(l, "direct", &m->from);
    l->directs_in++;
    h->stats.directs++;
    struct edge_link *t = edge_link__find_conn_str(h, &m->to);
    const char *why = "unknown connection";
    uint32_t code = 404;
    char cwhy[256];
    int rc = !t && h->cluster ? cluster_direct(h->cluster, m, cwhy, sizeof cwhy) : 404;
    if (rc == 0) {
        return 0; /* on its way to the hub that holds the target */
    } else if (rc == 503) {
        code = 503;
        why = cwhy;
    } else if (t) {
        /* The result of a direct with an id is let through only from the
         * link it went to, for this sender and id, and only once. */
        if (!m->has_id ||
            directs_add(h->directs, t->id, m->from.ptr, m->from.len, m->id, 0, ev_now(h->loop),
                        (size_t)h->cfg.link_max_pending_directs) == 0) {
            if (edge_link__send(t, m) == 0)
                t->directs_out++;
            return 0;
        }
        code = 503;
        why = "too many sends waiting for the target's edge (or this id is already waiting)";
    } else {
        h->stats.directs_unknown++;
    }
    if (m->has_id) {
        struct link_msg r = {
            .type = LINK_DIRECT_RESULT,
            .to = m->from,
            .has_id = 1,
            .id = m->id,
            .code = code,
            .reason = link_str_c(why),
        };
        l->results_out++;
        edge_link__send(l, &r);
    }
    return 0;
}

static int on_direct_result(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    l->results_in++;
    uint64_t origin = 0;
    if (!directs_take(h->directs, l->id, m->to.ptr, m->to.len, m->id, &origin)) {
        /* Not an answer to anything we sent this link: made up, duplicated,
         * or too late (the sender's edge has answered 504 meanwhile). */
        h->stats.results_unsolicited++;
        char who[LINK_MAX_CONN_ID + 1];
        log_debug("%s: dropped a direct result for %s id %lld that nothing awaits", l->label,
                  edge_link__printable(&m->to, who, sizeof who), (long long)m->id);
        return 0;
    }
    if (origin) {
        /* Relayed here by another hub: the answer goes back there. */
        if (h->cluster)
            cluster_result(h->cluster, origin, m);
        return 0;
    }
    struct edge_link *t = edge_link__find_conn_str(h, &m->to);
    /* The sender may be gone by now; nobody is left to tell. */
    if (t && edge_link__send(t, m) == 0)
        t->results_out++;
    return 0;
}

int edge_link__handle(struct edge_link *l, const struct link_msg *m)
{
    switch (m->type) {
    case LINK_INTEREST_ADD:
    case LINK_INTEREST_REMOVE: return on_interest(l, m);
    case LINK_HISTORY_READ: return on_history_read(l, m);
    case LINK_PUBLISH: return edge_link__on_publish(l, m);
    case LINK_DIRECT: return on_direct(l, m);
    case LINK_DIRECT_RESULT: return on_direct_result(l, m);
    default: return edge_link__refuse(l, 400, "unexpected %s", link_type_name(m->type));
    }
}

/* ---- the admin API's kick and drain --------------------------------------- */

int edge_link_kick(struct hub *h, const struct connid *conn, uint32_t code, struct link_str reason)
{
    struct edge_link *t = edge_link__find_conn(h, conn);
    char to[CONNID_MAX_LEN + 1];
    int n = connid_format(to, sizeof to, conn);
    if (!t || n < 0)
        return -1;
    struct link_msg m = {
        .type = LINK_KICK, .to = {to, (uint32_t)n}, .code = code, .reason = reason};
    return edge_link__send(t, &m);
}

int edge_link_drain(struct hub *h, const char *name, size_t len, uint64_t period_ms)
{
    int n = 0;
    struct link_msg m = {.type = LINK_DRAIN, .time_ms = period_ms};
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state == EDGE_LINK_OPEN && strlen(l->name) == len &&
            memcmp(l->name, name, len) == 0 && edge_link__send(l, &m) == 0) {
            n++;
            log_info("%s: asked to drain", l->label);
        }
    }
    return n;
}

void edge_link_push_policy(struct hub *h)
{
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state != EDGE_LINK_OPEN)
            continue;
        struct link_msg pol = {.type = LINK_POLICY};
        hub_policy_effective(h, l->name, strlen(l->name), &pol.policy);
        if (policy_equal(&pol.policy, &l->policy_sent))
            continue;
        if (edge_link__send(l, &pol) == 0) {
            l->policy_sent = pol.policy;
            publog_set_window(l->pubs, (size_t)pol.policy.max_pending_publishes);
            log_debug("%s: sent the new policy", l->label);
        }
    }
}

int edge_link__send_hooks(struct edge_link *l)
{
    struct hub *h = l->hub;
    struct link_msg m = {.type = LINK_HOOKS};
    m.data.ptr = (const char *)buf_head(&h->hooks_doc);
    m.data.len = (uint32_t)buf_readable(&h->hooks_doc);
    if (edge_link__send(l, &m) < 0)
        return -1;
    l->hooks_sent = h->hooks->version;
    return 0;
}

void edge_link_push_hooks(struct hub *h)
{
    if (!h->hooks)
        return; /* none loaded (a harness without main): all off */
    for (struct edge_link *l = h->links; l; l = l->next)
        if (l->state == EDGE_LINK_OPEN && l->hooks_sent != h->hooks->version &&
            edge_link__send_hooks(l) == 0)
            log_debug("%s: sent hooks version %llu", l->label,
                      (unsigned long long)h->hooks->version);
}

void edge_link_foreach_open(struct hub *h, void (*fn)(const struct edge_link_info *, void *),
                            void *ud)
{
    for (struct edge_link *l = h->links; l; l = l->next) {
        if (l->state != EDGE_LINK_OPEN)
            continue;
        struct edge_link_info info = {
            .id = l->id,
            .worker = l->worker,
            .boot = l->boot,
            .topics = interest_peer_topics(l->peer),
            .publishes_in = l->publishes_in,
            .messages_out = l->messages_out,
            .directs_in = l->directs_in,
            .directs_out = l->directs_out,
            .raw_in = l->io.raw_in,
            .wire_in = l->io.wire_in,
            .raw_out = l->io.raw_out,
            .wire_out = l->io.wire_out,
            .stats = l->stats,
            .age_ms = (uint64_t)((ev_now(h->loop) - l->accepted_at) * 1000.0),
        };
        snprintf(info.public_url, sizeof info.public_url, "%s", l->public_url);
        info.tls = l->io.ssl != NULL;
        tls_peer_describe(l->io.ssl, info.peer_cert, sizeof info.peer_cert);
        snprintf(info.edge, sizeof info.edge, "%s", l->name);
        snprintf(info.region, sizeof info.region, "%s", l->region);
        snprintf(info.software, sizeof info.software, "%s", l->software);
        snprintf(info.addr, sizeof info.addr, "%s", l->addr);
        fn(&info, ud);
    }
}
