/* Delivery of hub traffic to local connections: see deliver.h. */
#include "edge/deliver.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/link.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/utf8.h"
#include "common/wsframe.h"
#include "edge/client.h"
#include "edge/edge.h"
#include "edge/frame.h"
#include "edge/request.h"
#include "edge/uplink.h"

/* One drop log line per this many seconds per worker at most: a stream of
 * bad payloads (a compromised or misbehaving edge) must not flood the log. */
#define DROP_LOG_INTERVAL 10.0

static const char *const enc_name[ENC_COUNT] = {"JSON", "msgpack"};

/* Counts a payload that could not be rendered for the clients of encoding
 * enc (rc: a msg_data_result) and logs it unless another drop was logged less
 * than DROP_LOG_INTERVAL ago; the next line says how many were not. */
static void note_dropped(struct worker *w, int rc, int enc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note_dropped(struct worker *w, int rc, int enc, const char *fmt, ...)
{
    if (rc == MSG_DATA_OVER_BUDGET)
        w->stats.dropped_over_budget++;
    else
        w->stats.dropped_invalid++;
    ev_tstamp now = ev_now(w->loop);
    if (w->drop_logged_at > 0 && now - w->drop_logged_at < DROP_LOG_INTERVAL) {
        w->drop_unlogged++;
        return;
    }
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char more[96] = "";
    if (w->drop_unlogged)
        snprintf(more, sizeof more, " (and %llu more dropped since the last such line)",
                 (unsigned long long)w->drop_unlogged);
    if (rc == MSG_DATA_OVER_BUDGET)
        log_warn("dropping %s: its data is over the render budget of %zu bytes "
                 "(%d x max_message_bytes)%s",
                 what, msg_render_budget(w->policy.max_message_bytes), MSG_RENDER_BUDGET_FACTOR,
                 more);
    else
        log_warn("dropping %s: its data is not one valid value, or has no %s form%s", what,
                 enc_name[enc], more);
    w->drop_logged_at = now;
    w->drop_unlogged = 0;
}

/* Builds m's frame for each encoding in `want` (a bit per enc) into
 * frames: transcoded once per message, never per subscriber. A rendering
 * that fails is dropped, counted and logged (frames[enc] stays NULL). */
static void build_frames(struct worker *w, const struct link_msg *m, unsigned want,
                         struct frame *frames[ENC_COUNT])
{
    size_t budget = msg_render_budget(w->policy.max_message_bytes);
    for (int enc = 0; enc < ENC_COUNT; enc++) {
        frames[enc] = NULL;
        if (!(want & (1u << enc)))
            continue;
        struct buf *b = &w->scratch;
        buf_reset(b);
        int rc = msg_build_msg(b, (enum enc)enc, m->topic.ptr, m->topic.len, m->seq, m->from.ptr,
                               m->from.len, m->user.ptr, m->user.len, (enum enc)m->enc,
                               (const uint8_t *)m->data.ptr, m->data.len, budget);
        if (rc < 0) {
            note_dropped(w, rc, enc, "the %s copy of message %.*s#%llu from %.*s (%u bytes of %s)",
                         enc_name[enc], (int)m->topic.len, m->topic.ptr, (unsigned long long)m->seq,
                         (int)m->from.len, m->from.ptr, (unsigned)m->data.len, enc_name[m->enc]);
            continue;
        }
        frames[enc] =
            frame_build(enc == ENC_JSON ? WS_OP_TEXT : WS_OP_BINARY, buf_head(b), buf_readable(b));
    }
}

#define BOTH_ENCODINGS ((1u << ENC_COUNT) - 1)

void deliver_message(struct worker *w, const struct link_msg *m)
{
    struct topic *t = topic_find(&w->topics, m->topic.ptr, m->topic.len);
    struct frame *frames[ENC_COUNT];
    if (!t) {
        /* Interest was withdrawn while the message was in flight. */
        w->stats.unwanted++;
        return;
    }
    if (m->replay) {
        /* For the connections catching up in that read only. */
        build_frames(w, m, BOTH_ENCODINGS, frames);
        resume_replayed(&w->resumes, t, (int64_t)m->replay, m->seq, frames, ev_now(w->loop));
        for (int enc = 0; enc < ENC_COUNT; enc++)
            frame_unref(frames[enc]);
        return;
    }
    if (topic_has_position(t) && m->seq <= t->seq) {
        w->stats.duplicates++; /* delivered already (a resumed link re-sent it) */
        return;
    }
    unsigned want = resume_wants_both(t) ? BOTH_ENCODINGS : 0;
    for (int enc = 0; enc < ENC_COUNT; enc++)
        if (topic_count(t, (enum enc)enc))
            want |= 1u << enc;
    build_frames(w, m, want, frames);
    t->seq = m->seq;
    /* The one loop per delivery: contiguous members, one frame reference
     * and one ring slot per subscriber, no allocation, no copy. */
    struct topic_member *m_end = t->members + t->n;
    for (struct topic_member *mb = t->members; mb < m_end; mb++) {
        struct frame *f = frames[mb->c->enc];
        if (f)
            client_push_frame(mb->c, f);
    }
    resume_delivered(&w->resumes, t, m->seq, frames);
    for (int enc = 0; enc < ENC_COUNT; enc++)
        frame_unref(frames[enc]);
}

/* Copies a link string into a NUL-terminated buffer of cap bytes. */
static const char *cstr(char *out, size_t cap, struct link_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(out, s.ptr, n);
    out[n] = '\0';
    return out;
}

/* Tells t's members that the hub could not go on from their position. */
static void tell_reset(struct worker *w, struct topic *t, const char *reason)
{
    struct frame *frames[ENC_COUNT] = {NULL, NULL};
    for (int enc = 0; enc < ENC_COUNT; enc++) {
        if (!topic_count(t, (enum enc)enc))
            continue;
        struct buf *b = &w->scratch;
        buf_reset(b);
        msg_build_reset(b, (enum enc)enc, t->node.name, t->node.len, t->seq, t->epoch, reason);
        frames[enc] =
            frame_build(enc == ENC_JSON ? WS_OP_TEXT : WS_OP_BINARY, buf_head(b), buf_readable(b));
    }
    for (uint32_t i = 0; i < t->n; i++)
        if (frames[t->members[i].c->enc])
            client_push_frame(t->members[i].c, frames[t->members[i].c->enc]);
    for (int enc = 0; enc < ENC_COUNT; enc++)
        frame_unref(frames[enc]);
    w->stats.resets++;
    log_info("topic %s: the hub could not go on from seq %llu (%s): %u subscribers told",
             t->node.name, (unsigned long long)t->seq, reason, t->n);
}

void deliver_interest_result(struct worker *w, const struct link_msg *m)
{
    char reason[LINK_MAX_REASON + 1];
    cstr(reason, sizeof reason, m->reason);
    /* A hub that gives no valid epoch gives no position: acks go without
     * one, and resumes are answered "recovered": false. */
    size_t elen = epoch_is_valid(m->epoch.ptr, m->epoch.len) ? m->epoch.len : 0;
    struct topic *t;
    enum topic_result r =
        topic_interest_result(&w->topics, m->topic.ptr, m->topic.len, m->id, (int)m->code, reason,
                              m->seq, m->epoch.ptr, elen, (int)m->recovered && elen, &t);
    switch (r) {
    case TOPIC_RESULT_STALE: return;
    case TOPIC_RESULT_REFUSED: w->stats.topics_refused_hub++; return;
    case TOPIC_RESULT_MOVED:
        resume_topic_moved(&w->resumes, t);
        tell_reset(w, t,
                   *reason ? reason : "the hub could not go on from here: messages were lost");
        break;
    case TOPIC_RESULT_POSITIONED:
    case TOPIC_RESULT_RESUMED: break;
    }
    resume_positioned(&w->resumes, t, ev_now(w->loop));
}

void deliver_topic_reset(struct worker *w, const struct link_msg *m)
{
    char reason[LINK_MAX_REASON + 1];
    struct topic *t = topic_find(&w->topics, m->topic.ptr, m->topic.len);
    if (!t || t->add_id || !epoch_is_valid(m->epoch.ptr, m->epoch.len))
        return; /* nobody here wants it, or the pending answer will say */
    int same = topic_has_position(t) && strlen(t->epoch) == m->epoch.len &&
               memcmp(t->epoch, m->epoch.ptr, m->epoch.len) == 0;
    if (same && m->seq <= t->seq)
        return; /* not news: the members are there already */
    cstr(reason, sizeof reason, m->reason);
    resume_topic_moved(&w->resumes, t);
    topic_set_position(t, m->seq, m->epoch.ptr, m->epoch.len);
    tell_reset(w, t, *reason ? reason : "the hub could not go on from here: messages were lost");
}

void deliver_history_result(struct worker *w, const struct link_msg *m)
{
    char reason[LINK_MAX_REASON + 1];
    struct topic *t = topic_find(&w->topics, m->topic.ptr, m->topic.len);
    if (!t)
        return; /* everyone left meanwhile */
    resume_read_result(&w->resumes, t, m->id, (int)m->code, (int)m->recovered, m->seq,
                       cstr(reason, sizeof reason, m->reason), ev_now(w->loop));
}

void deliver_publish_result(struct worker *w, const struct link_msg *m)
{
    char reason[LINK_MAX_REASON + 1], epoch[EPOCH_MAX_LEN + 1];
    request_pub_result(w, m->pub_id, (int)m->code, cstr(reason, sizeof reason, m->reason), m->seq,
                       cstr(epoch, sizeof epoch, m->epoch));
}

int deliver_direct(struct worker *w, const struct link_msg *m, const char **why)
{
    uint64_t seq;
    *why = "unknown connection";
    if (!worker_conn_is_local(w, m->to.ptr, m->to.len, &seq))
        return CODE_NOT_FOUND;
    struct client *c = worker_find_client(w, seq);
    if (!c || c->state != CLIENT_OPEN)
        return CODE_NOT_FOUND;
    struct buf *b = &w->scratch;
    buf_reset(b);
    int rc = msg_build_direct(b, (enum enc)c->enc, m->from.ptr, m->from.len, m->user.ptr,
                              m->user.len, (enum enc)m->enc, (const uint8_t *)m->data.ptr,
                              m->data.len, msg_render_budget(w->policy.max_message_bytes));
    if (rc < 0) {
        note_dropped(w, rc, c->enc, "a direct message from %.*s to %.*s (%u bytes of %s)",
                     (int)m->from.len, m->from.ptr, (int)m->to.len, m->to.ptr,
                     (unsigned)m->data.len, enc_name[m->enc]);
        *why = rc == MSG_DATA_OVER_BUDGET ? "data too large for the target's encoding"
                                          : "invalid data";
        return CODE_BAD_REQUEST;
    }
    client_send_payload(c, buf_head(b), buf_readable(b));
    *why = "";
    return 0;
}

/* The code a kick closes with when the hub asks for one that is not valid on
 * the wire (docs/protocol.md, "Close codes"). */
#define KICK_FALLBACK_CODE 4001

void deliver_kick(struct worker *w, const struct link_msg *m)
{
    uint64_t seq;
    char reason[WS_MAX_CLOSE_REASON + 1];
    if (!worker_conn_is_local(w, m->to.ptr, m->to.len, &seq))
        return;
    struct client *c = worker_find_client(w, seq);
    if (!c || c->state != CLIENT_OPEN)
        return; /* gone meanwhile */
    /* The hub's API allows only valid codes and short UTF-8 reasons, but the
     * link carries any code and up to 1024 bytes of any reason: a close
     * frame must hold a valid code and at most 123 bytes of UTF-8. */
    utf8_cut(reason, WS_MAX_CLOSE_REASON, (const uint8_t *)m->reason.ptr, m->reason.len);
    uint16_t code = ws_close_code_may_send(m->code) ? (uint16_t)m->code : KICK_FALLBACK_CODE;
    if (code != m->code)
        log_warn("conn %.*s: the hub asked for close code %u, which is not valid on the wire: "
                 "using %u",
                 (int)m->to.len, m->to.ptr, m->code, code);
    log_info("conn %.*s: disconnected by the hub with %u: %s", (int)m->to.len, m->to.ptr, code,
             reason);
    client_close(c, code, reason);
}

void deliver_direct_result(struct worker *w, const struct link_msg *m)
{
    uint64_t seq;
    char reason[256];
    if (!worker_conn_is_local(w, m->to.ptr, m->to.len, &seq))
        return;
    /* Exactly one reply per send: only an answer to a send still waiting
     * is passed on (a late one was answered 504 already). */
    if (!sends_take(&w->sends, seq, m->id))
        return;
    size_t n = m->reason.len < sizeof reason - 1 ? m->reason.len : sizeof reason - 1;
    memcpy(reason, m->reason.ptr, n);
    reason[n] = '\0';
    request_send_done(w, seq, m->id, (int)m->code, reason);
}

const struct uplink_deliver deliver_ops = {
    .message = deliver_message,
    .direct = deliver_direct,
    .direct_result = deliver_direct_result,
    .interest_result = deliver_interest_result,
    .history_result = deliver_history_result,
    .publish_result = deliver_publish_result,
    .topic_reset = deliver_topic_reset,
    .kick = deliver_kick,
};
