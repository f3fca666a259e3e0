/* The messages of an open edge link, and the admin API's way to the same
 * places: interest, publish fan-out, direct messages and their results; the
 * API's publish, kick, drain, policy push and per-link figures. Each
 * handler checks what the edge may say (its own senders only), asks
 * hub/route.c where things go, and queues; no handler writes or closes
 * another link (docs/protocol.md, "After HELLO").
 *
 * The handlers ask hub/route.c four things, each one question or one
 * change with its answer in a return value or a per-link callback:
 * route_interest_add (its limits are route's own), route_interest_remove,
 * route_publish and route_link_find. Keeping it to these is what lets the
 * routing state move behind another store later without the handlers
 * learning how it works. */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/connid.h"
#include "common/enc.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/msg.h"
#include "common/tls.h"
#include "hub/directs.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"
#include "hub/policy.h"
#include "hub/route.h"

/* Room for a MESSAGE's fields beyond topic, from and data: msgpack headers
 * and the seq. A PUBLISH that leaves less than this below LINK_MAX_MESSAGE
 * could not be forwarded, because MESSAGE is a few bytes larger. */
#define EDGE_LINK_MESSAGE_OVERHEAD 64

/* 1 if connection id `id` belongs to this link's edge worker (its name,
 * worker and boot): the only senders an edge may speak for. */
static int owns_conn(const struct edge_link *l, const struct link_str *id)
{
    struct connid c;
    struct connid mine = {.name = l->name,
                          .name_len = strlen(l->name),
                          .worker = l->worker,
                          .boot = (uint32_t)l->boot};
    return connid_parse(id->ptr, id->len, &c) == 0 && connid_same_worker(&c, &mine);
}

/* Drops a link that spoke for a connection of another edge worker: an
 * honest edge never does, so this one is compromised or broken. */
static int refuse_forged(struct edge_link *l, const char *what, const struct link_str *from)
{
    char who[LINK_MAX_CONN_ID + 1];
    l->hub->stats.links_refused_hostile++;
    return edge_link__refuse(l, 403,
                             "%s from connection '%s', which is not one of this link's "
                             "(%s/%u): refused",
                             what, edge_link__printable(from, who, sizeof who), l->name, l->worker);
}

/* ---- interest ------------------------------------------------------------ */

static int interest_result(struct edge_link *l, const struct link_msg *m, uint32_t code,
                           const char *reason)
{
    struct link_msg r = {.type = LINK_INTEREST_RESULT,
                         .topic = m->topic,
                         .id = m->id,
                         .code = code,
                         .reason = link_str_c(reason)};
    edge_link__send(l, &r);
    return 0;
}

static int on_interest(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    int add = m->type == LINK_INTEREST_ADD;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link__refuse(l, 400, "invalid topic in %s", link_type_name(m->type));
    if (!add) {
        l->interest_removes++;
        route_interest_remove(h->route, l->peer, m->topic.ptr, m->topic.len);
        return 0;
    }
    l->interest_adds++;
    /* One interest refused, never the link: dropping it would make the edge
     * re-send everything on reconnect and be dropped again. */
    int rc = route_interest_add(h->route, l->peer, m->topic.ptr, m->topic.len);
    if (rc >= 0)
        return interest_result(l, m, 0, "");
    char reason[96];
    if (rc == ROUTE_PEER_FULL) {
        h->stats.interest_refused_link++;
        snprintf(reason, sizeof reason, "this edge worker holds link_max_topics (%ld) topics",
                 h->cfg.link_max_topics);
    } else {
        h->stats.interest_refused_hub++;
        snprintf(reason, sizeof reason, "the hub holds max_topics (%ld) topics", h->cfg.max_topics);
    }
    return interest_result(l, m, 429, reason);
}

/* ---- publish ------------------------------------------------------------- */

/* A publish on its way to the interested links: encoded once, on the first
 * link (the seq is known only then), and the same bytes appended to every
 * link's batch; each link still compresses them in its own stream. */
struct fanout {
    struct link_msg msg;
    struct buf *encoded;
    int ready;
};

static void queue_message_to_link(void *owner, uint64_t seq, void *ud)
{
    struct edge_link *dst = owner;
    struct fanout *f = ud;
    if (!f->ready) {
        f->msg.seq = seq;
        buf_reset(f->encoded);
        if (link_encode(f->encoded, &f->msg) < 0) {
            log_error("cannot encode a message on %.*s", (int)f->msg.topic.len, f->msg.topic.ptr);
            return;
        }
        f->ready = 1;
    }
    if (linkio_send_encoded(&dst->io, buf_head(f->encoded), buf_readable(f->encoded)) < 0) {
        edge_link__fail_later(dst, dst->io.err);
        return;
    }
    edge_link__mark_dirty(dst);
    dst->messages_out++;
    dst->hub->stats.messages_out++;
}

uint64_t edge_link_publish(struct hub *h, struct link_str topic, struct link_str from,
                           struct link_str user, uint8_t enc, struct link_str data)
{
    struct fanout out = {
        .msg =
            {
                .type = LINK_MESSAGE,
                .topic = topic,
                .from = from,
                .user = user,
                .enc = enc,
                .data = data,
            },
        .encoded = &h->encoded,
    };
    uint64_t t0 = clock_mono_ns();
    uint64_t seq = route_publish(h->route, topic.ptr, topic.len, queue_message_to_link, &out);
    double us = (double)(clock_mono_ns() - t0) / 1000.0;
    size_t b = 0;
    while (b < HUB_ROUTE_BUCKETS && us > hub_route_bounds_us[b])
        b++;
    h->stats.route_hist[b]++;
    h->stats.route_sum_us += us;
    return seq;
}

static int on_publish(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link__refuse(l, 400, "invalid topic in publish");
    if (!owns_conn(l, &m->from))
        return refuse_forged(l, "publish", &m->from);
    if (m->enc >= ENC_COUNT)
        return edge_link__refuse(l, 400, "invalid encoding %u in publish", m->enc);
    l->publishes_in++;
    h->stats.publishes++;
    if ((size_t)m->topic.len + m->from.len + m->data.len + EDGE_LINK_MESSAGE_OVERHEAD >
        LINK_MAX_MESSAGE) {
        char topic[TOPIC_MAX_LEN + 1];
        log_warn("%s: publish on %s too large to forward (%u bytes of data), dropped", l->label,
                 edge_link__printable(&m->topic, topic, sizeof topic), m->data.len);
        return 0;
    }
    /* One copy per interested link, the publisher's own link included: its
     * edge fans out to its local subscribers only when the seq comes back. */
    edge_link_publish(h, m->topic, m->from, m->user, m->enc, m->data);
    return 0;
}

/* ---- direct messages ----------------------------------------------------- */

static int on_direct(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!owns_conn(l, &m->from))
        return refuse_forged(l, "direct", &m->from);
    l->directs_in++;
    h->stats.directs++;
    struct edge_link *t = edge_link__find_conn_str(h, &m->to);
    const char *why = "unknown connection";
    uint32_t code = 404;
    if (t) {
        /* The result of a direct with an id is let through only from the
         * link it went to, for this sender and id, and only once. */
        if (!m->has_id ||
            directs_add(h->directs, t->id, m->from.ptr, m->from.len, m->id, ev_now(h->loop),
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
    if (!directs_take(h->directs, l->id, m->to.ptr, m->to.len, m->id)) {
        /* Not an answer to anything we sent this link: made up, duplicated,
         * or too late (the sender's edge has answered 504 meanwhile). */
        h->stats.results_unsolicited++;
        char who[LINK_MAX_CONN_ID + 1];
        log_debug("%s: dropped a direct result for %s id %lld that nothing awaits", l->label,
                  edge_link__printable(&m->to, who, sizeof who), (long long)m->id);
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
    case LINK_PUBLISH: return on_publish(l, m);
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
            log_debug("%s: sent the new policy", l->label);
        }
    }
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
            .topics = route_peer_topics(l->peer),
            .publishes_in = l->publishes_in,
            .messages_out = l->messages_out,
            .directs_in = l->directs_in,
            .directs_out = l->directs_out,
            .raw_in = l->io.raw_in,
            .wire_in = l->io.wire_in,
            .raw_out = l->io.raw_out,
            .wire_out = l->io.wire_out,
            .stats = l->stats,
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
