/* What a client asks for: see request.h. */
#include "edge/request.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/msg.h"
#include "edge/auth.h"
#include "edge/client.h"
#include "edge/edge.h"
#include "edge/hooks.h"
#include "edge/request_hooks.h"
#include "edge/uplink.h"

/* Refusals within this window beyond rate_burst close the connection. */
#define RATE_WINDOW_MS 10000

void request_answer(void *ud, struct client *c, const struct topic *t, int has_id, int64_t id,
                    int code, int recovered, const char *reason)
{
    if (code) {
        client_send_error(c, has_id, id, code, reason);
        return;
    }
    if (!has_id)
        return;
    int pos = t && topic_has_position(t);
    client_send_ack_at(c, id, pos ? t->seq : 0, pos ? t->epoch : NULL, recovered, reason);
}

void request_push(void *ud, struct client *c, struct frame *f)
{
    client_push_frame(c, f);
}

void request_send_done(void *ud, uint64_t seq, int64_t id, int code, const char *reason)
{
    struct client *c = worker_find_client(ud, seq);
    if (!c)
        return; /* the sender left meanwhile */
    if (c->nsends)
        c->nsends--;
    if (c->state == CLIENT_OPEN)
        request_answer(ud, c, NULL, 1, id, code, -1, reason);
}

void request_pub_ended(void *ud, uint64_t conn, int has_id, int64_t id, int code,
                       const char *reason)
{
    struct client *c = worker_find_client(ud, conn);
    if (c && c->state == CLIENT_OPEN)
        client_send_error(c, has_id, id, code, reason);
}

void request_pub_result(struct worker *w, uint64_t pub_id, int code, const char *reason,
                        uint64_t seq, const char *epoch)
{
    uint64_t conn;
    int has_id;
    int64_t id;
    if (!pubs_take(&w->pubs, pub_id, &conn, &has_id, &id))
        return; /* answered already (a retransmission's second result), or made up */
    struct client *c = worker_find_client(w, conn);
    if (!c || c->state != CLIENT_OPEN)
        return; /* the publisher left meanwhile */
    if (code)
        client_send_error(c, has_id, id, code, reason);
    else if (has_id)
        client_send_ack_at(c, id, seq, epoch, -1, NULL);
}

static void tell_hub_topic_went(void *ud, const char *name, size_t len)
{
    struct worker *w = ud;
    uplink_interest_remove(w->up, name, len);
}

void request_release(struct client *c)
{
    topic_unsubscribe_all(&c->w->topics, &c->subs, tell_hub_topic_went, c->w);
}

/* A sub to a topic c holds already: its position, and for `since`
 * whether that is where the client is. */
static void answer_already(struct client *c, const struct client_msg *m, struct topic *t)
{
    int recovered = -1;
    const char *why = NULL;
    if (m->has_since) {
        recovered = topic_has_position(t) && m->since_seq == t->seq &&
                    strcmp(m->since_epoch, t->epoch) == 0;
        why = "already subscribed";
    }
    request_answer(c->w, c, t, m->has_id, m->id, 0, recovered, why);
}

static void handle_sub(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    if (!auth_may_subscribe(edge_auth(w->cfg), client_identity(c), m->topic, m->topic_len)) {
        w->stats.forbidden++;
        client_send_error(c, m->has_id, m->id, CODE_FORBIDDEN,
                          "not allowed to subscribe to this topic");
        return;
    }
    if (hooks_on_topic(w, HOOK_SUBSCRIBE, m->topic, m->topic_len)) {
        request_hook_sub(c, m, request_sub_go); /* the backend decides first */
        return;
    }
    request_sub_go(c, m);
}

void request_sub_go(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    struct sub *s = NULL;
    char reason[120];
    int r = topic_subscribe(&w->topics, c, &c->subs, (enum enc)c->enc, m->topic, m->topic_len,
                            (uint32_t)w->policy.max_subscriptions,
                            (uint32_t)w->policy.worker_max_topics, m->has_since, &s);
    if (r == TOPIC_LIMIT_SUBS || r == TOPIC_LIMIT_TOPICS) {
        if (r == TOPIC_LIMIT_SUBS) {
            snprintf(reason, sizeof reason, "subscription limit reached (%ld)",
                     w->policy.max_subscriptions);
        } else {
            w->stats.topics_refused_worker++;
            snprintf(reason, sizeof reason, "topic limit of this edge reached (%ld topics)",
                     w->policy.worker_max_topics);
        }
        client_send_error(c, m->has_id, m->id, CODE_LIMIT, reason);
        return;
    }
    struct topic *t = s->t;
    if (r == TOPIC_ALREADY) {
        answer_already(c, m, t);
        return;
    }
    if (r == TOPIC_FIRST) /* the hub answers with INTEREST_RESULT; 0 while the link is down */
        t->add_id = uplink_interest_add(w->up, t->node.name, t->node.len, 0, NULL);
    if (m->has_since) {
        /* Not a member until it has what it missed (edge/resume.c). */
        struct topic_resumer *rr =
            topic_resume(s, c, m->since_seq, m->since_epoch, m->has_id, m->id);
        resume_request(&w->resumes, rr, uplink_is_up(w->up), ev_now(w->loop));
        return;
    }
    if (!m->has_id)
        return;
    /* Acked once the hub holds the topic for us (or refused with 429). */
    if (t->add_id)
        topic_wait(s, m->id);
    else
        request_answer(w, c, t, 1, m->id, 0, -1, NULL);
}

static void handle_unsub(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    if (topic_unsubscribe(&w->topics, c, &c->subs, m->topic, m->topic_len) == TOPIC_LAST)
        uplink_interest_remove(w->up, m->topic, m->topic_len);
    if (m->has_id)
        client_send_ack(c, m->id);
}

static void handle_pub(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    if (!auth_may_publish(edge_auth(w->cfg), client_identity(c), m->topic, m->topic_len)) {
        w->stats.forbidden++;
        client_send_error(c, m->has_id, m->id, CODE_FORBIDDEN,
                          "not allowed to publish to this topic");
        return;
    }
    if (hooks_on_topic(w, HOOK_PUBLISH, m->topic, m->topic_len)) {
        request_hook_pub(c, m, request_pub_go);
        return;
    }
    request_pub_go(c, m->has_id, m->id, m->topic, m->topic_len, (enum enc)c->enc, m->data,
                   m->data_len);
}

void request_pub_go(struct client *c, int has_id, int64_t id, const char *topic, size_t topic_len,
                    enum enc enc, const uint8_t *data, size_t data_len)
{
    struct worker *w = c->w;
    char from[CONN_ID_MAX_LEN];
    /* Kept until the hub has ordered it (edge/pubs.h): the ack comes with
     * its seq, or an error says it was not. */
    struct pub *p =
        pubs_add(&w->pubs, c->seq, has_id, id, topic, topic_len, client_id(c, from, sizeof from),
                 auth_identity_user(client_identity(c)), (uint8_t)enc, data, data_len);
    if (!p) {
        client_send_error(c, has_id, id, CODE_UNAVAILABLE,
                          "too many publishes waiting for the hub: message not published");
        return;
    }
    if (uplink_publish_pending(w->up, p) == 0)
        p->sent = 1;
}

/* A send to a connection of this very worker never leaves it. */
static void send_here(struct client *c, const struct client_msg *m, struct client *t,
                      const char *from, const char *user)
{
    struct worker *w = c->w;
    if (!t || t->state != CLIENT_OPEN) {
        client_send_error(c, m->has_id, m->id, CODE_NOT_FOUND, "unknown connection");
        return;
    }
    struct buf *b = &w->scratch;
    buf_reset(b);
    int rc = msg_build_direct(b, (enum enc)t->enc, from, strlen(from), user,
                              user ? strlen(user) : 0, (enum enc)c->enc, m->data, m->data_len,
                              msg_render_budget(w->policy.max_message_bytes));
    if (rc < 0) {
        client_send_error(c, m->has_id, m->id, CODE_BAD_REQUEST,
                          rc == MSG_DATA_OVER_BUDGET ? "data too large for the target's encoding"
                                                     : "invalid data");
        return;
    }
    client_send_payload(t, buf_head(b), buf_readable(b));
    if (m->has_id)
        client_send_ack(c, m->id);
}

static void handle_send(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    const char *user = auth_identity_user(client_identity(c));
    char from[CONN_ID_MAX_LEN];
    uint64_t seq;
    client_id(c, from, sizeof from);
    if (worker_conn_is_local(w, m->to, m->to_len, &seq)) {
        send_here(c, m, worker_find_client(w, seq), from, user);
        return;
    }
    if (!uplink_is_up(w->up)) {
        client_send_error(c, m->has_id, m->id, CODE_UNAVAILABLE,
                          "hub unavailable: message not sent");
        return;
    }
    /* With an id, the ack or error comes back from the target's edge; a
     * record makes sure exactly one reply reaches the client (sends.h). */
    if (m->has_id) {
        if (sends_is_waiting(&w->sends, c->seq, m->id)) {
            client_send_error(c, 1, m->id, CODE_CONFLICT,
                              "a send with this id is still waiting for its answer");
            return;
        }
        if (c->nsends >= w->policy.max_pending_sends || c->nsends == UINT8_MAX) {
            char reason[96];
            snprintf(reason, sizeof reason, "too many sends waiting for an answer (%ld)",
                     w->policy.max_pending_sends);
            client_send_error(c, 1, m->id, CODE_LIMIT, reason);
            return;
        }
        sends_add(&w->sends, c->seq, m->id);
        c->nsends++;
    }
    uplink_direct(w->up, m->to, m->to_len, from, user, m->has_id, m->id, (enum enc)c->enc, m->data,
                  m->data_len);
}

/* Token bucket: rate_limit messages per second, rate_burst at once. Returns
 * 1 if the message may proceed. Refusals beyond rate_burst within
 * RATE_WINDOW_MS close the connection (1008): persistent abuse. */
static int rate_allows(struct client *c, int has_id, int64_t id)
{
    struct worker *w = c->w;
    const struct policy *p = &w->policy;
    if (!p->rate_limit)
        return 1;
    uint32_t now = (uint32_t)((ev_now(w->loop) - w->started) * 1000.0);
    float tokens = c->rl_tokens + (float)(now - c->rl_stamp) * (float)p->rate_limit / 1000.0f;
    c->rl_stamp = now;
    c->rl_tokens = tokens > (float)p->rate_burst ? (float)p->rate_burst : tokens;
    if (c->rl_tokens >= 1.0f) {
        c->rl_tokens -= 1.0f;
        return 1;
    }
    w->stats.rate_limited++;
    struct client_extra *x = client_extra(c); /* a refusal: rare */
    if (now - x->rl_window > RATE_WINDOW_MS) {
        x->rl_window = now;
        x->rl_strikes = 0;
    }
    if (++x->rl_strikes > (uint32_t)p->rate_burst) {
        char cid[CONN_ID_MAX_LEN];
        w->stats.closed_rate++;
        log_info("conn %s: closed: over the rate limit of %ld/s for %u messages",
                 client_id(c, cid, sizeof cid), p->rate_limit, x->rl_strikes);
        client_close(c, 1008, "rate limit exceeded");
        return 0;
    }
    client_send_error(c, has_id, id, CODE_LIMIT, "rate limit exceeded: message dropped");
    return 0;
}

void request_handle(struct client *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct worker *w = c->w;
    struct client_msg m;
    struct msg_error err;

    w->stats.msgs_in++;
    /* A client message, whatever it says, is activity: O(1), no timer call. */
    deadline_add(&w->idle, &c->idle);
    if ((opcode == 1) != (c->enc == ENC_JSON)) { /* 1: a text frame (RFC 6455 §5.2) */
        client_send_error(c, 0, 0, CODE_BAD_REQUEST,
                          c->enc == ENC_JSON ? "spoke.json expects text frames"
                                             : "spoke.msgpack expects binary frames");
        return;
    }
    if (msg_parse(w->parser, (enum enc)c->enc, p, n, &m, &err) < 0) {
        if (rate_allows(c, err.has_id, err.id))
            client_send_error(c, err.has_id, err.id, err.code, err.reason);
        return;
    }
    if (!rate_allows(c, m.has_id, m.id))
        return;
    switch (m.op) {
    case OP_PING:
        buf_reset(&w->scratch);
        msg_build_pong(&w->scratch, (enum enc)c->enc, m.has_id, m.id);
        client_send_payload(c, buf_head(&w->scratch), buf_readable(&w->scratch));
        return;
    case OP_SUB: handle_sub(c, &m); return;
    case OP_UNSUB: handle_unsub(c, &m); return;
    case OP_PUB: handle_pub(c, &m); return;
    case OP_SEND: handle_send(c, &m); return;
    case OP_RPC: request_hook_rpc(c, &m); return;
    }
}

void request_sub_auto(struct client *c, const char *topic, size_t len)
{
    struct client_msg m = {.op = OP_SUB, .topic = topic, .topic_len = len};
    request_sub_go(c, &m);
}

const struct client_calls request_calls = {
    .message = request_handle,
    .release = request_release,
    .sub_auto = request_sub_auto,
};
