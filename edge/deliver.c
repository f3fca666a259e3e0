/* Delivery of hub traffic to local connections: see deliver.h. */
#include "edge/deliver.h"

#include <stdint.h>
#include <string.h>

#include "common/link.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/utf8.h"
#include "common/wsframe.h"
#include "edge/client.h"
#include "edge/frame.h"
#include "edge/topic.h"
#include "edge/worker.h"

void deliver_message(struct worker *w, const struct link_msg *m)
{
    struct topic *t = topic_find(w, m->topic.ptr, m->topic.len);
    if (!t) {
        /* Interest was withdrawn while the message was in flight. */
        w->stats.unwanted++;
        return;
    }
    /* One frame per encoding with subscribers: transcoded once per message,
     * never per subscriber. */
    struct frame *frames[ENC_COUNT] = {NULL, NULL};
    for (int enc = 0; enc < ENC_COUNT; enc++) {
        if (!t->count[enc])
            continue;
        struct buf *b = &w->scratch;
        buf_reset(b);
        if (msg_build_msg(b, (enum enc)enc, m->topic.ptr, m->topic.len, m->seq, m->from.ptr,
                          m->from.len, m->user.ptr, m->user.len, (enum enc)m->enc,
                          (const uint8_t *)m->data.ptr, m->data.len) < 0) {
            log_warn("dropping message %.*s#%llu: its data cannot be transcoded",
                     (int)m->topic.len, m->topic.ptr, (unsigned long long)m->seq);
            continue;
        }
        frames[enc] = frame_build(enc == ENC_JSON ? WS_OP_TEXT : WS_OP_BINARY, buf_head(b),
                                  buf_readable(b));
    }
    /* The one loop per delivery: contiguous members, one frame reference
     * and one ring slot per subscriber, no allocation, no copy. */
    struct topic_member *m_end = t->members + t->n;
    for (struct topic_member *mb = t->members; mb < m_end; mb++) {
        struct frame *f = frames[mb->c->enc];
        if (f)
            client_push_frame(mb->c, f);
    }
    for (int enc = 0; enc < ENC_COUNT; enc++)
        frame_unref(frames[enc]);
}

int deliver_direct(struct worker *w, const struct link_msg *m)
{
    uint64_t seq;
    if (!worker_conn_is_local(w, m->to.ptr, m->to.len, &seq))
        return -1;
    struct client *c = worker_find_client(w, seq);
    if (!c || c->state != CLIENT_OPEN)
        return -1;
    struct buf *b = &w->scratch;
    buf_reset(b);
    if (msg_build_direct(b, (enum enc)c->enc, m->from.ptr, m->from.len, m->user.ptr, m->user.len,
                         (enum enc)m->enc, (const uint8_t *)m->data.ptr, m->data.len) < 0)
        return -1;
    client_send_payload(c, buf_head(b), buf_readable(b));
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
                 "using %u", (int)m->to.len, m->to.ptr, m->code, code);
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
    struct client *c = worker_find_client(w, seq);
    if (!c || c->state != CLIENT_OPEN)
        return; /* the sender left meanwhile */
    if (m->code == 0) {
        client_send_ack(c, m->id);
        return;
    }
    size_t n = m->reason.len < sizeof reason - 1 ? m->reason.len : sizeof reason - 1;
    memcpy(reason, m->reason.ptr, n);
    reason[n] = '\0';
    client_send_error(c, 1, m->id, (int)m->code, reason);
}
