/* Positions and recovery for the sub role (--reconnect since|plain): each
 * connection remembers its topic's epoch (from its sub ack) and the seq of
 * the last msg it got; when the server closes it with 1001 ("going away": a
 * drain) or it is lost, it reconnects (to the --reconnect-url list) and
 * subscribes again, with {"since":{"seq":S,"epoch":E}} (docs/protocol.md,
 * "Positions and recovery") or, with `plain`, without it.
 *
 * Every seq must follow the previous one of the connection by exactly 1,
 * across reconnects too: holes and duplicates are counted (a duplicate is not
 * counted as received again); the sub role counts resets. Three times are taken per
 * reconnect, all from the moment the close frame reached our socket (the
 * kernel's stamp; for a lost connection, when we saw it): to the ack of the
 * new sub, to "caught up" (the message with the ack's seq, the last one
 * replayed; the ack itself when nothing was missed or nothing will be
 * replayed), and to the first live message after the replay. They include
 * the generator's own queue: reconnects start at most --inflight at a time.
 *
 * A connection's phases: LIVE (subscribed) -> AWAY (closed; queued or
 * connecting, until the new sub's ack) -> REPLAY (acked with recovered:true,
 * messages up to the ack's seq still to come) -> CAUGHT_UP (waiting for the
 * first live message) -> LIVE. State per connection is kept here, not in
 * struct conn, so the other roles pay nothing for it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

#define EPOCH_MAX 16      /* docs/protocol.md: 1 to 16 bytes of [0-9a-z] */
#define RETRY_PERIOD 0.02 /* a failed reconnect is tried again after this */

enum rphase { RP_LIVE, RP_AWAY, RP_REPLAY, RP_CAUGHT_UP };

struct rconn {
    uint64_t closed_at; /* when the last close reached our socket (CLOCK_MONOTONIC ns) */
    uint64_t ack_seq;   /* the resubscribe ack's seq: the replay ends there */
    uint32_t closes;
    uint8_t phase;  /* enum rphase */
    uint8_t known;  /* c->last_seq is a position (from an ack or a msg) */
    uint8_t queued; /* in the reconnect queue or the retry list */
    uint8_t epoch_len;
    char epoch[EPOCH_MAX];
};

struct resume {
    struct lg *lg;
    struct conn *conns;
    unsigned n;
    struct rconn *rc;
    /* Reconnects waiting for a slot within --inflight: a ring of connection
     * indices, each in it at most once, so n entries suffice. */
    uint32_t *queue;
    unsigned qhead, qlen;
    uint32_t *retry; /* failed attempts, queued again by retry_timer */
    unsigned nretry;
    ev_timer retry_timer;
    unsigned ever_closed, away;
    uint64_t closes, reconnects, connect_failures, acks_with_position;
    uint64_t recovered, not_recovered, unanswered, without_position, resubscribe_errors;
    uint64_t replayed, missed_told, epoch_changes, msgs_before_ack;
    uint64_t missing[2], dups[2]; /* [0] before the connection's first close, [1] after */
    uint64_t first_close_ns, last_close_ns, last_back_ns;
    char first_reason[128]; /* of the first recovered:false (sanitised for JSON) */
    struct hist ack, caught_up, live;
};

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct resume *rs = w->data;
    for (unsigned i = 0; i < rs->nretry; i++) {
        rs->queue[(rs->qhead + rs->qlen) % rs->n] = rs->retry[i];
        rs->qlen++;
    }
    rs->nretry = 0; /* the prepare hook starts them */
}

struct resume *resume_new(struct lg *lg, struct conn *conns, unsigned n)
{
    struct resume *rs = xcalloc(1, sizeof *rs);
    rs->lg = lg;
    rs->conns = conns;
    rs->n = n;
    rs->rc = xcalloc(n, sizeof *rs->rc);
    rs->queue = xcalloc(n, sizeof *rs->queue);
    rs->retry = xcalloc(n, sizeof *rs->retry);
    ev_timer_init(&rs->retry_timer, retry_cb, RETRY_PERIOD, 0);
    rs->retry_timer.data = rs;
    return rs;
}

/* Keeps the epoch if it is one (1 to 16 of [0-9a-z]); returns 1 if kept. */
static int take_epoch(struct resume *rs, struct rconn *rc, const struct lg_event *e)
{
    if (!e->epoch || e->epoch_len == 0 || e->epoch_len > EPOCH_MAX)
        return 0;
    for (size_t i = 0; i < e->epoch_len; i++) {
        char ch = e->epoch[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')))
            return 0;
    }
    if (rc->epoch_len &&
        (rc->epoch_len != e->epoch_len || memcmp(rc->epoch, e->epoch, e->epoch_len) != 0))
        rs->epoch_changes++;
    memcpy(rc->epoch, e->epoch, e->epoch_len);
    rc->epoch_len = (uint8_t)e->epoch_len;
    return 1;
}

void resume_on_first_ack(struct resume *rs, struct conn *c, const struct lg_event *e)
{
    struct rconn *rc = &rs->rc[c->idx];
    if (take_epoch(rs, rc, e))
        rs->acks_with_position++;
    /* docs/protocol.md: the next message is the ack's seq + 1. */
    if (e->has_seq && !rc->known) {
        c->last_seq = e->seq;
        rc->known = 1;
    }
}

void resume_on_hello(struct resume *rs, struct conn *c)
{
    struct rconn *rc = &rs->rc[c->idx];
    if (rs->lg->o.reconnect == RC_SINCE && rc->known && rc->epoch_len) {
        spoke_send_sub_since(c, c->topic, 2, c->last_seq, rc->epoch, rc->epoch_len);
        return;
    }
    if (rs->lg->o.reconnect == RC_SINCE)
        rs->without_position++; /* the server never told us an epoch */
    spoke_send_sub(c, c->topic, 2);
}

/* c is in service again: caught up, or subscribed from the ack's position. */
static void back(struct resume *rs, struct conn *c, uint64_t now)
{
    struct rconn *rc = &rs->rc[c->idx];
    rs->away--;
    hist_add(&rs->caught_up, now > rc->closed_at ? now - rc->closed_at : 0);
    if (now > rs->last_back_ns)
        rs->last_back_ns = now;
}

static void keep_reason(struct resume *rs, const struct conn *c, const struct lg_event *e)
{
    size_t o = 0;
    if (rs->first_reason[0] || !e->str)
        return;
    for (size_t i = 0; i < e->str_len && o < sizeof rs->first_reason - 1; i++) {
        char ch = e->str[i];
        rs->first_reason[o++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? ch : '?';
    }
    rs->first_reason[o] = 0;
    if (!o)
        snprintf(rs->first_reason, sizeof rs->first_reason, "(empty)");
    fprintf(stderr, "spoke-loadgen: connection %u not recovered: %s\n", c->idx, rs->first_reason);
}

void resume_on_ack(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct rconn *rc = &rs->rc[c->idx];
    if (rc->phase != RP_AWAY)
        return; /* not the answer to a resubscribe */
    rs->reconnects++;
    hist_add(&rs->ack, now > rc->closed_at ? now - rc->closed_at : 0);
    /* An epoch change shows in epoch_changes (and the ack says recovered:false). */
    int same_epoch = rc->epoch_len && e->epoch && e->epoch_len == rc->epoch_len &&
                     memcmp(e->epoch, rc->epoch, rc->epoch_len) == 0;
    take_epoch(rs, rc, e);
    rc->ack_seq = c->last_seq;
    rc->phase = RP_CAUGHT_UP;
    if (!e->has_recovered) {
        /* No since sent, or a server that ignores it: continue from where we
         * were, so whatever was missed shows as missing seqs. */
        rs->unanswered++;
    } else if (e->recovered) {
        rs->recovered++;
        if (e->has_seq && rc->known && e->seq > c->last_seq) {
            rc->ack_seq = e->seq;
            rc->phase = RP_REPLAY; /* back once the message with ack_seq is in */
            return;
        }
    } else {
        /* Told: subscribed from the ack's position; what lay between is
         * counted as told, not as missing. */
        rs->not_recovered++;
        keep_reason(rs, c, e);
        if (e->has_seq) {
            if (same_epoch && rc->known && e->seq > c->last_seq)
                rs->missed_told += e->seq - c->last_seq;
            c->last_seq = rc->ack_seq = e->seq;
            rc->known = 1;
        }
    }
    back(rs, c, now);
}

void resume_on_error(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct rconn *rc = &rs->rc[c->idx];
    if (rc->phase != RP_AWAY)
        return; /* a later error (counted in "errors") */
    /* The resubscribe was refused: the connection stays unsubscribed and its
     * losses show as missing messages; it no longer holds up RECOVERED. */
    rs->resubscribe_errors++;
    if (rs->resubscribe_errors == 1)
        fprintf(stderr, "spoke-loadgen: connection %u: resubscribe refused: %.*s\n", c->idx,
                (int)e->str_len, e->str);
    rc->phase = RP_LIVE;
    back(rs, c, now);
}

void resume_on_reset(struct resume *rs, struct conn *c, const struct lg_event *e)
{
    struct rconn *rc = &rs->rc[c->idx];
    take_epoch(rs, rc, e);
    if (e->has_seq) { /* the next message is seq + 1 */
        c->last_seq = e->seq;
        rc->known = 1;
    }
}

int resume_on_msg(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now)
{
    struct rconn *rc = &rs->rc[c->idx];
    int after = rc->closes > 0;

    if (!e->has_seq)
        return 0;
    if (rc->known) {
        if (e->seq <= c->last_seq) {
            rs->dups[after]++;
            return -1;
        }
        if (e->seq != c->last_seq + 1)
            rs->missing[after] += e->seq - c->last_seq - 1;
    }
    c->last_seq = e->seq;
    rc->known = 1;
    switch (rc->phase) {
    case RP_LIVE: break;
    case RP_AWAY: rs->msgs_before_ack++; break;
    case RP_REPLAY:
        if (e->seq <= rc->ack_seq) {
            rs->replayed++;
            if (e->seq == rc->ack_seq) {
                rc->phase = RP_CAUGHT_UP;
                back(rs, c, now);
            }
            break;
        }
        /* Past the ack's seq without it (a hole, counted above): caught up
         * now, and this is the first live message. */
        rc->phase = RP_CAUGHT_UP;
        back(rs, c, now);
        /* fall through */
    case RP_CAUGHT_UP:
        if (e->seq > rc->ack_seq) {
            hist_add(&rs->live, now > rc->closed_at ? now - rc->closed_at : 0);
            rc->phase = RP_LIVE;
        }
        break;
    }
    return 0;
}

static void enqueue(struct resume *rs, struct conn *c)
{
    struct rconn *rc = &rs->rc[c->idx];
    if (rc->queued)
        return;
    rc->queued = 1;
    rs->queue[(rs->qhead + rs->qlen) % rs->n] = c->idx;
    rs->qlen++;
}

int resume_on_close(struct resume *rs, struct conn *c)
{
    struct lg *lg = rs->lg;
    struct rconn *rc = &rs->rc[c->idx];

    if (rc->phase == RP_AWAY) { /* a reconnect attempt failed: again, a little later */
        rs->connect_failures++;
        if (!rc->queued) {
            rc->queued = 1;
            rs->retry[rs->nretry++] = c->idx;
        }
        if (!ev_is_active(&rs->retry_timer)) {
            ev_timer_set(&rs->retry_timer, RETRY_PERIOD, 0);
            ev_timer_start(lg->loop, &rs->retry_timer);
        }
        return 1;
    }
    /* docs/protocol.md, "The reconnect contract": 1001 and a lost connection
     * mean "reconnect now and resubscribe with since"; other codes end it. */
    if (lg->close_code && lg->close_code != 1001)
        return 0;
    uint64_t t = lg->close_now ? lg->close_now : now_ns();
    rc->closed_at = t;
    if (rc->phase == RP_REPLAY)
        rs->away--; /* closed again before it was back: still one away */
    rc->phase = RP_AWAY;
    if (rc->closes++ == 0)
        rs->ever_closed++;
    rs->closes++;
    rs->away++;
    if (!rs->first_close_ns || t < rs->first_close_ns)
        rs->first_close_ns = t;
    if (t > rs->last_close_ns)
        rs->last_close_ns = t;
    enqueue(rs, c);
    return 1;
}

void resume_prepare(struct resume *rs)
{
    struct lg *lg = rs->lg;
    while (rs->qlen && lg->inflight < lg->o.inflight) {
        struct conn *c = &rs->conns[rs->queue[rs->qhead]];
        rs->qhead = (rs->qhead + 1) % rs->n;
        rs->qlen--;
        rs->rc[c->idx].queued = 0;
        c->alt_urls = 1;
        if (conn_start(c) < 0)
            lg_fatal("cannot open a socket to reconnect connection %u", c->idx);
    }
}

int resume_all_back(const struct resume *rs)
{
    return rs->ever_closed == rs->n && rs->away == 0;
}

void resume_append_result(const struct resume *rs, struct buf *b)
{
    static const char *const modes[] = {"off", "since", "plain"};
    buf_printf(b,
               ",\"resume\":{\"mode\":\"%s\",\"conns_closed\":%u,\"away\":%u,\"closes\":%" PRIu64
               ",\"reconnects\":%" PRIu64 ",\"connect_failures\":%" PRIu64
               ",\"acks_with_position\":%" PRIu64 ",\"recovered\":%" PRIu64
               ",\"not_recovered\":%" PRIu64 ",\"unanswered\":%" PRIu64
               ",\"without_position\":%" PRIu64 ",\"resubscribe_errors\":%" PRIu64
               ",\"replayed\":%" PRIu64 ",\"missed_told\":%" PRIu64 ",\"epoch_changes\":%" PRIu64
               ",\"msgs_before_ack\":%" PRIu64 ",\"seq_missing\":%" PRIu64 ",\"seq_dups\":%" PRIu64
               ",\"seq_missing_before_close\":%" PRIu64 ",\"seq_dups_before_close\":%" PRIu64
               ",\"first_close_ns\":%" PRIu64 ",\"last_close_ns\":%" PRIu64
               ",\"last_back_ns\":%" PRIu64 ",\"first_not_recovered_reason\":\"%s\",",
               modes[rs->lg->o.reconnect], rs->ever_closed, rs->away, rs->closes, rs->reconnects,
               rs->connect_failures, rs->acks_with_position, rs->recovered, rs->not_recovered,
               rs->unanswered, rs->without_position, rs->resubscribe_errors, rs->replayed,
               rs->missed_told, rs->epoch_changes, rs->msgs_before_ack, rs->missing[1], rs->dups[1],
               rs->missing[0], rs->dups[0], rs->first_close_ns, rs->last_close_ns, rs->last_back_ns,
               rs->first_reason);
    lg_append_latency(b, "ack_", &rs->ack, 1);
    buf_append_u8(b, ',');
    lg_append_latency(b, "caught_up_", &rs->caught_up, 1);
    buf_append_u8(b, ',');
    lg_append_latency(b, "live_", &rs->live, 1);
    buf_append_u8(b, '}');
}

/* The counts the sub's own "seq_gaps" adds up (holes plus duplicates). */
uint64_t resume_seq_gaps(const struct resume *rs)
{
    return rs->missing[0] + rs->missing[1] + rs->dups[0] + rs->dups[1];
}
