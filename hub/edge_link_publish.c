/* Publishes through the hub: a PUBLISH's checks, recognising one an edge
 * sent again after its link broke (hub/publog.h), handing it to the engine
 * and answering its pub_id with PUBLISH_RESULT; and the engine's live
 * messages, fanned out to the links interested in their topic
 * (hub/interest.h). The admin API's publish comes in through
 * edge_link_publish too (docs/protocol.md, "After HELLO": Publish).
 *
 * When the engine moves a topic's numbering under the hub's interest (its
 * store lost state: edge_link_on_moved), every interested link hears
 * TOPIC_RESET with the new position, and live messages go on from there.
 *
 * A publish's result goes to the link its edge worker (name, worker, boot)
 * has when the engine answers, which after a relink is the new one: a
 * PUBLISH sent again while the first is still with the engine needs no
 * answer of its own. One this hub never saw goes to the engine with its
 * origin (name, worker, boot, pub_id): an engine shared with other hubs
 * (redis) recognises one that another hub ordered before the edge moved
 * here, and answers its first position (ENGINE_REPEATED). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/enc.h"
#include "common/link.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"
#include "hub/engine.h"
#include "hub/interest.h"
#include "hub/publog.h"

/* Room for a MESSAGE's fields beyond topic, from and data: msgpack headers,
 * the seq and replay. A PUBLISH that leaves less than this below
 * LINK_MAX_MESSAGE could not be forwarded, because MESSAGE is a few bytes
 * larger. */
#define EDGE_LINK_MESSAGE_OVERHEAD 64

/* A publish with a pub_id, with the engine. It holds its worker's record. */
struct pub_ask {
    struct hub *h;
    struct publog_rec *rec;
    uint64_t pub_id;
};

static void send_result(struct edge_link *l, uint64_t pub_id, const struct publog_result *res)
{
    struct hub *h = l->hub;
    char reason[96] = "";
    if (res->code == 429)
        snprintf(reason, sizeof reason,
                 "the topic is new and the hub holds max_topics (%ld) topics", h->cfg.max_topics);
    else if (res->code == 504)
        snprintf(reason, sizeof reason,
                 "the engine's store went away with it: it may have been published");
    else if (res->code)
        snprintf(reason, sizeof reason, "the engine is unavailable: not ordered");
    struct link_msg m = {.type = LINK_PUBLISH_RESULT,
                         .pub_id = pub_id,
                         .code = res->code,
                         .reason = link_str_c(reason),
                         .seq = res->seq,
                         .epoch = link_str_c(res->epoch)};
    edge_link__send(l, &m);
}

static void on_published(void *ctx, int status, const struct engine_pos *pos)
{
    struct pub_ask *a = ctx;
    struct hub *h = a->h;
    if (status == ENGINE_REPEATED) {
        /* Ordered before through another hub (or this one before a
         * restart), whose answer the edge never got: its first result. */
        h->stats.retransmits++;
        status = ENGINE_OK;
    }
    if (status != ENGINE_GONE) {
        struct publog_result res = {.code = status == ENGINE_OK        ? 0
                                            : status == ENGINE_FULL    ? 429
                                            : status == ENGINE_UNKNOWN ? 504
                                                                       : 503};
        if (status == ENGINE_OK) {
            res.seq = pos->seq;
            memcpy(res.epoch, pos->epoch, sizeof res.epoch);
        }
        /* The worker's link now, a new one if it relinked meanwhile. */
        struct edge_link *l = publog_owner(a->rec);
        if (l) {
            send_result(l, a->pub_id, &res);
            res.answered = l->id;
        }
        publog_done(a->rec, a->pub_id, &res);
    }
    publog_release(h->publog, a->rec);
    free(a);
}

void edge_link_publish(struct hub *h, const struct engine_pub *p, engine_pos_cb cb, void *ctx)
{
    /* The engine's clock (history times, expiry) is the link read's: one
     * read per budget of input, not per publish; milliseconds late at most. */
    struct engine_pub q = *p;
    q.now_ms = h->read_ms ? h->read_ms : clock_mono_ms();
    if (h->stats.route_tick++ & (HUB_ROUTE_SAMPLE - 1)) {
        engine_publish(h->engine, &q, cb, ctx);
        return;
    }
    uint64_t t0 = clock_mono_ns();
    engine_publish(h->engine, &q, cb, ctx);
    /* With the memory engine this is ordering, storing and the fan-out;
     * with one that answers later, handing it over. */
    double us = (double)(clock_mono_ns() - t0) / 1000.0;
    size_t b = 0;
    while (b < HUB_ROUTE_BUCKETS && us > hub_route_bounds_us[b])
        b++;
    h->stats.route_hist[b]++;
    h->stats.route_sum_us += us;
}

/* A pub_id the hub has seen: answered from what it remembers, never ordered
 * again. Returns 1 if m is such a retransmission (handled), 0 if new. */
static int retransmitted(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    struct publog_result res;
    switch (publog_check(l->pubs, m->pub_id, &res)) {
    case PUBLOG_NEW: return 0;
    case PUBLOG_PENDING: h->stats.retransmits++; return 1; /* on_published answers this link */
    case PUBLOG_DONE:
        h->stats.retransmits++;
        if (res.answered != l->id) {
            send_result(l, m->pub_id, &res);
            res.answered = l->id;
            publog_done(l->pubs, m->pub_id, &res);
        }
        return 1;
    case PUBLOG_FORGOTTEN: break;
    }
    /* At most the highest pub_id ordered, but no longer remembered (older
     * than the window, or never ordered): the edge answers its client 504
     * after publish_timeout, which is the truth ("it may have been"). */
    h->stats.retransmits_forgotten++;
    log_debug("%s: pub_id %llu is not above the highest ordered and its result is gone: not "
              "ordered again",
              l->label, (unsigned long long)m->pub_id);
    return 1;
}

int edge_link__on_publish(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    if (!topic_is_valid(m->topic.ptr, m->topic.len))
        return edge_link__refuse(l, 400, "invalid topic in publish");
    if (!edge_link__owns_conn(l, &m->from))
        return edge_link__refuse_forged(l, "publish", &m->from);
    if (m->enc >= ENC_COUNT)
        return edge_link__refuse(l, 400, "invalid encoding %u in publish", m->enc);
    l->publishes_in++;
    h->stats.publishes++;
    if ((size_t)m->topic.len + m->from.len + m->user.len + m->data.len +
            EDGE_LINK_MESSAGE_OVERHEAD >
        LINK_MAX_MESSAGE) {
        char topic[TOPIC_MAX_LEN + 1];
        log_warn("%s: publish on %s too large to forward (%u bytes of data), dropped", l->label,
                 edge_link__printable(&m->topic, topic, sizeof topic), m->data.len);
        return 0;
    }
    struct pub_ask *a = NULL;
    if (m->pub_id) {
        if (retransmitted(l, m))
            return 0;
        publog_begin(l->pubs, m->pub_id);
        a = xmalloc(sizeof *a);
        a->h = h;
        a->rec = l->pubs;
        a->pub_id = m->pub_id;
        publog_hold(a->rec);
    }
    /* One copy per interested link, the publisher's own link included: its
     * edge fans out to its local subscribers only when the seq comes back. */
    struct engine_pub p = {m->topic, m->from, m->user, m->data, m->enc};
    if (a) {
        /* So that an engine shared with other hubs recognises it if the
         * edge sent it to one of them before (engine.h, engine_origin). */
        p.origin = (struct engine_origin){
            .name = link_str_c(l->name),
            .worker = l->worker,
            .boot = l->boot,
            .pub_id = m->pub_id,
            .keep_ms = 2 * (uint64_t)l->policy_sent.publish_timeout_ms,
        };
    }
    edge_link_publish(h, &p, a ? on_published : NULL, a);
    return 0;
}

void edge_link_on_message(void *ud, const struct engine_msg *em)
{
    struct hub *h = ud;
    struct interest_topic *t = em->cookie ? em->cookie : interest_find(h->interest, em->topic);
    if (!t || !interest_is_new(t, em->seq, em->epoch))
        return; /* no link wants it (any more), a copy already fanned out, or stale */
    /* Only MESSAGE's fields: link_encode reads no other member, and
     * zeroing all 560 bytes of a struct link_msg per message showed in
     * perf. */
    struct link_msg m;
    m.type = LINK_MESSAGE;
    m.topic = em->topic;
    m.seq = em->seq;
    m.from = em->from;
    m.enc = em->enc;
    m.data = em->data;
    m.user = em->user;
    m.replay = 0;
    /* Encoded once, the same bytes appended to every link's batch; each
     * link still compresses them in its own stream. */
    buf_reset(&h->encoded);
    if (link_encode(&h->encoded, &m) < 0) {
        log_error("cannot encode a message on %.*s", (int)em->topic.len, em->topic.ptr);
        return;
    }
    struct interest_out out = edge_link__out(h);
    interest_deliver(h->interest, t, em->seq, em->epoch, buf_head(&h->encoded),
                     buf_readable(&h->encoded), &out);
}

void edge_link_on_moved(void *ud, struct link_str topic, const struct engine_pos *pos,
                        const char *reason)
{
    struct hub *h = ud;
    struct interest_topic *t = interest_find(h->interest, topic);
    if (!t || t->state != INTEREST_READY)
        return; /* nobody here wants it, or the engine's answer is still to come */
    interest_moved(t, pos->seq, link_str_c(pos->epoch));
    h->stats.topic_resets++;
    char name[TOPIC_MAX_LEN + 1];
    log_info("topic %s: the engine moved it to seq %llu of epoch %s (%s): %u links told",
             edge_link__printable(&topic, name, sizeof name), (unsigned long long)pos->seq,
             pos->epoch, reason, t->n);
    struct link_msg m = {.type = LINK_TOPIC_RESET,
                         .topic = topic,
                         .seq = pos->seq,
                         .epoch = link_str_c(pos->epoch),
                         .reason = link_str_c(reason)};
    /* Queued only: nothing here changes the interest table. A link whose
     * replay of the topic is pending gets it too; its edge ignores it
     * while its INTEREST_ADD waits, and the answer tells it where the
     * topic stands. */
    for (uint32_t k = 0; k < t->n; k++)
        edge_link__send(interest_slots(t)[k].owner, &m);
}
