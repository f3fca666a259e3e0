/* The replays a link waits for: INTEREST_ADDs answered through an engine
 * read (a topic new to the hub, or a position to resume from) and
 * HISTORY_READs. Each is queued on its link, asked of the engine when the
 * link has room, and answered when the engine's read comes back: the
 * result message, then the replayed MESSAGEs, then the live messages its
 * interest held back meanwhile (docs/protocol.md, "After HELLO").
 *
 * Order, with an engine that answers later (engine.h, rules 2 and 3):
 * while a replay is pending, the link's interest in the topic holds live
 * messages back (interest_hold). When the read comes back with position P:
 *   - a resume sends INTEREST_RESULT (P), the messages since + 1 .. P, then
 *     what was held above P; live copies at or below P, held or still to
 *     come, are dropped (the replay had them, or they came before the
 *     position the link starts from);
 *   - a history read first sends what was held at or below P (live
 *     messages the edge's other subscribers need, earlier than the
 *     result), then HISTORY_RESULT (P), the messages tagged with the read's
 *     id, then what was held above P.
 * So a link sees no gap and no duplicate whichever comes first, the read's
 * answer or the live messages it covers.
 *
 * Bounds (docs/security.md): a link's replays are served while it has
 * room: at most REPLAY_ASKED_MAX asked of the engine at once, at most
 * REPLAY_TURN_BYTES of replay output queued per loop turn (the first
 * replay of a turn always goes), and none while more than half of
 * link_max_pending waits to be written; the rest waits in the queue for
 * the next turn or for the socket to drain. A single replay longer than
 * link_max_pending drops the link as congested, and so does holding more
 * than that many bytes of live messages back. Queued reads are capped per
 * link (link_max_history_reads: the handler refuses more with 429), queued
 * resumes by link_max_topics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/link.h"
#include "common/linkio.h"
#include "common/xalloc.h"
#include "hub/edge_link_internal.h"
#include "hub/engine.h"
#include "hub/interest.h"

#define REPLAY_ASKED_MAX 64
#define REPLAY_TURN_BYTES (1u << 20)

/* ---- the queue ------------------------------------------------------------ */

static void asked_unlink(struct edge_link *l, struct replay *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->asked = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    l->nasked--;
}

/* r is done with: its link's counts go down. */
static void replay_free(struct replay *r)
{
    struct edge_link *l = r->link;
    if (l) {
        if (r->kind == REPLAY_READ)
            l->nreads--;
        else
            l->nresumes--;
    }
    free(r);
}

void edge_link__queue_replay(struct edge_link *l, enum replay_kind kind, struct link_str topic,
                             int64_t id, const struct engine_pos *since, uint64_t hold_id)
{
    struct replay *r = xcalloc(1, sizeof *r);
    r->link = l;
    r->hub = l->hub;
    r->kind = kind;
    r->id = id;
    r->hold = hold_id;
    if (since) {
        r->since = *since;
        r->has_since = 1;
    }
    r->topic_len = topic.len;
    memcpy(r->topic, topic.ptr, topic.len);
    if (kind == REPLAY_READ)
        l->nreads++;
    else
        l->nresumes++;
    if (l->rq_tail)
        l->rq_tail->next = r;
    else
        l->rq_head = r;
    l->rq_tail = r;
    edge_link__pump(l);
}

/* ---- answers --------------------------------------------------------------- */

static struct link_str topic_of(const struct replay *r)
{
    return (struct link_str){r->topic, r->topic_len};
}

/* Why nothing is replayed, for the result's reason ("" when nothing was
 * asked for, or all of it comes). */
static const char *reason_of(const struct engine_read *er, char *buf, size_t cap)
{
    if (er->status != ENGINE_OK)
        return "the engine is unavailable: no replay";
    switch (er->why) {
    case ENGINE_RECOVERED:
    case ENGINE_NO_SINCE: return "";
    case ENGINE_NO_TOPIC: return "the topic has no state";
    case ENGINE_OTHER_EPOCH: return "epoch changed: the topic's numbering restarted";
    case ENGINE_AHEAD: return "position ahead of the topic";
    case ENGINE_TOO_OLD:
        snprintf(buf, cap, "too old: the history now starts after seq %llu",
                 (unsigned long long)(er->first_seq - 1));
        return buf;
    }
    return "";
}

/* A result that answers nothing after all: the link withdrew its interest
 * meanwhile (a resume is then just dropped: the edge no longer waits). */
static void answer_withdrawn(struct edge_link *l, const struct replay *r)
{
    if (r->kind != REPLAY_READ)
        return;
    struct link_msg m = {.type = LINK_HISTORY_RESULT,
                         .topic = topic_of(r),
                         .id = r->id,
                         .code = 404,
                         .reason = link_str_c("this link holds no interest in the topic"),
                         .epoch = link_str_c("")};
    edge_link__send(l, &m);
}

/* The topic is one the engine refused (max_topics, or its store down):
 * the resume becomes the INTEREST_ADD's refusal, and the link's interest
 * goes. */
static void answer_refused(struct edge_link *l, const struct replay *r, enum interest_state why)
{
    struct hub *h = l->hub;
    if (r->kind == REPLAY_READ) {
        answer_withdrawn(l, r);
        return;
    }
    char reason[96];
    uint32_t code = 503;
    if (why == INTEREST_REFUSED) {
        h->stats.interest_refused_hub++;
        snprintf(reason, sizeof reason, "the hub holds max_topics (%ld) topics", h->cfg.max_topics);
        code = 429;
    } else {
        snprintf(reason, sizeof reason, "the engine is unavailable: interest not taken");
    }
    struct link_msg m = {.type = LINK_INTEREST_RESULT,
                         .topic = topic_of(r),
                         .id = r->id,
                         .code = code,
                         .reason = link_str_c(reason),
                         .epoch = link_str_c("")};
    edge_link__send(l, &m);
    /* Nothing was held for the engine: it refused the topic. */
    interest_remove(h->interest, l->peer, topic_of(r));
}

/* The MESSAGEs of a recovered read, tagged with `replay`. Returns 0, or -1
 * if they would pass link_max_pending (the link is then dropped). */
static int send_replayed(struct edge_link *l, struct engine_read *er, uint64_t replay)
{
    struct hub *h = l->hub;
    uint64_t start = l->io.raw_out;
    struct engine_msg em;
    while (er->next(er, &em)) {
        struct link_msg m = {.type = LINK_MESSAGE,
                             .topic = em.topic,
                             .seq = em.seq,
                             .from = em.from,
                             .enc = em.enc,
                             .data = em.data,
                             .user = em.user,
                             .replay = replay};
        if (edge_link__send(l, &m) < 0)
            return -1;
        l->replayed_out++;
        h->stats.replayed++;
        if (l->io.raw_out - start > (uint64_t)h->cfg.link_max_pending) {
            edge_link__fail_later(l, "congested: a replay longer than link_max_pending");
            return -1;
        }
    }
    l->replay_bytes += l->io.raw_out - start;
    return 0;
}

static void on_read(void *ctx, struct engine_read *er)
{
    struct replay *r = ctx;
    struct edge_link *l = r->link;
    if (!l) {
        free(r); /* its link went: nobody to tell */
        return;
    }
    asked_unlink(l, r);
    if (er->status == ENGINE_GONE) {
        replay_free(r);
        return;
    }
    struct hub *h = l->hub;
    struct interest_out o = edge_link__out(h);
    const struct interest_out *out = &o;
    struct interest_member *mb = interest_member_of(l->peer, topic_of(r));
    if (!mb || !interest_holds(mb, r->hold)) {
        answer_withdrawn(l, r);
    } else if (mb->topic->state == INTEREST_REFUSED || mb->topic->state == INTEREST_UNAVAILABLE) {
        answer_refused(l, r, mb->topic->state);
    } else {
        struct interest_topic *t = mb->topic;
        struct engine_pos pos = er->pos;
        if (er->status != ENGINE_OK || er->why == ENGINE_NO_TOPIC) {
            /* No position from the engine: the one the hub's live stream
             * is at, the next live message being the one after it. */
            pos.seq = t->seq;
            memcpy(pos.epoch, t->epoch, sizeof pos.epoch);
        }
        int recovered = er->status == ENGINE_OK && er->why == ENGINE_RECOVERED && r->has_since;
        char buf[96];
        struct link_msg m = {.type = r->kind == REPLAY_READ ? LINK_HISTORY_RESULT
                                                            : LINK_INTEREST_RESULT,
                             .topic = topic_of(r),
                             .id = r->id,
                             .reason = link_str_c(reason_of(er, buf, sizeof buf)),
                             .seq = pos.seq,
                             .epoch = link_str_c(pos.epoch),
                             .recovered = (uint32_t)recovered};
        if (r->kind == REPLAY_READ) {
            h->stats.history_reads++;
            interest_send_held(mb, pos.seq, link_str_c(pos.epoch), out);
        } else {
            h->stats.resumes++;
        }
        if (edge_link__send(l, &m) == 0 && recovered)
            send_replayed(l, er, r->kind == REPLAY_READ ? (uint64_t)r->id : 0);
        /* A resume covers the topic up to P for this link; a read covers
         * nothing of the link's live stream. */
        interest_release(mb, r->kind == REPLAY_RESUME ? pos.seq : 0, link_str_c(pos.epoch), out);
    }
    replay_free(r);
    edge_link__pump(l); /* no-op when this answer came inside the pump */
}

/* ---- pacing --------------------------------------------------------------- */

static void list_for_next_turn(struct edge_link *l)
{
    if (l->replay_listed)
        return;
    l->replay_listed = 1;
    l->replay_next = l->hub->replaying;
    l->hub->replaying = l;
}

/* 1 if l may serve one more replay now; else it is listed for later. */
static int has_room(struct edge_link *l)
{
    struct hub *h = l->hub;
    if (l->replay_turn != h->turn) {
        l->replay_turn = h->turn;
        l->replay_bytes = 0;
    }
    if (l->nasked >= REPLAY_ASKED_MAX)
        return 0; /* an answer pumps again */
    if (linkio_pending(&l->io) > (size_t)h->cfg.link_max_pending / 2) {
        l->replay_wait_write = 1; /* edge_link__replay_wrote pumps again */
        return 0;
    }
    if (l->replay_bytes >= REPLAY_TURN_BYTES) {
        list_for_next_turn(l);
        return 0;
    }
    return 1;
}

/* Asks the engine for r (or answers at once what needs no engine). */
static void ask(struct edge_link *l, struct replay *r)
{
    struct hub *h = l->hub;
    struct interest_member *mb = interest_member_of(l->peer, topic_of(r));
    if (!mb || !interest_holds(mb, r->hold)) {
        answer_withdrawn(l, r);
        replay_free(r);
        return;
    }
    if (mb->topic->state == INTEREST_REFUSED || mb->topic->state == INTEREST_UNAVAILABLE) {
        answer_refused(l, r, mb->topic->state);
        replay_free(r);
        return;
    }
    r->asked = 1;
    r->prev = NULL;
    r->next = l->asked;
    if (l->asked)
        l->asked->prev = r;
    l->asked = r;
    l->nasked++;
    engine_history_read(h->engine, topic_of(r), r->has_since ? &r->since : NULL, on_read, r);
}

void edge_link__pump(struct edge_link *l)
{
    /* An answer that comes inside ask (the memory engine) returns here: the
     * loop below goes on, instead of recursing once per replay. */
    if (l->pumping)
        return;
    l->pumping = 1;
    while (l->rq_head && l->state == EDGE_LINK_OPEN && !l->fail[0] && has_room(l)) {
        struct replay *r = l->rq_head;
        l->rq_head = r->next;
        if (!l->rq_head)
            l->rq_tail = NULL;
        r->next = NULL;
        ask(l, r);
    }
    l->pumping = 0;
}

void edge_link__pump_listed(struct hub *h)
{
    struct edge_link *list = h->replaying;
    h->replaying = NULL;
    for (struct edge_link *l = list; l; l = l->replay_next)
        l->replay_listed = 0;
    while (list) {
        struct edge_link *l = list;
        list = l->replay_next;
        l->replay_next = NULL;
        edge_link__pump(l); /* may list l again */
    }
}

void edge_link__replay_wrote(struct edge_link *l)
{
    if (!l->replay_wait_write || linkio_pending(&l->io) > (size_t)l->hub->cfg.link_max_pending / 2)
        return;
    l->replay_wait_write = 0;
    list_for_next_turn(l);
}
