/* Requests a backend hook decides: see request_hooks.h and docs/hooks.md.
 * Each keeps what it needs to go on in a context of its own (the client's
 * message is only valid during request_handle) and finds its connection
 * again by seq when the backend has answered. */
#include <stdlib.h>
#include <string.h>

#include "common/jsonwrite.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "edge/auth.h"
#include "edge/client.h"
#include "edge/edge.h"
#include "edge/hooks.h"
#include "edge/request_hooks.h"

/* The connection a context belongs to, if it is still open. */
static struct client *open_client(struct worker *w, uint64_t seq)
{
    struct client *c = worker_find_client(w, seq);
    return c && c->state == CLIENT_OPEN ? c : NULL;
}

/* Appends data (in enc) as JSON; returns -1 if it has no JSON form within
 * the render budget (msgpack-only values). */
static int data_as_json(struct worker *w, struct buf *b, enum enc enc, const uint8_t *data,
                        size_t len)
{
    if (enc == ENC_JSON) {
        buf_append(b, data, len);
        return 0;
    }
    return transcode_msgpack_to_json(data, len, msg_render_budget(w->policy.max_message_bytes), b) <
                   0
               ? -1
               : 0;
}

/* The value of key in the backend's answer, compact JSON in out; 0 if
 * there is one, -1 if not. */
static int answer_value(const struct hook_answer *a, const char *key, struct buf *out)
{
    json_t *v = a->doc ? json_object_get(a->doc, key) : NULL;
    if (!v)
        return -1;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return -1;
    buf_append(out, s, strlen(s));
    free(s);
    return 0;
}

static void refuse(struct client *c, int has_id, int64_t id, const struct hook_answer *a)
{
    client_send_error(c, has_id, id, a->code >= 400 && a->code <= 599 ? a->code : 403,
                      a->reason ? a->reason : "denied by the application");
}

/* ---- subscribe */

struct sub_ctx {
    uint64_t seq;
    request_sub_go_fn go;
    struct client_msg m;
    char topic[TOPIC_MAX_LEN];
};

static void sub_done(struct worker *w, const struct hook_answer *a, void *ud)
{
    struct sub_ctx *x = ud;
    struct client *c = open_client(w, x->seq);
    if (c) {
        if (a->allow)
            x->go(c, &x->m);
        else
            refuse(c, x->m.has_id, x->m.id, a);
    }
    free(x);
}

void request_hook_sub(struct client *c, const struct client_msg *m, request_sub_go_fn go)
{
    struct worker *w = c->w;
    struct sub_ctx *x = xmalloc(sizeof *x);
    x->seq = c->seq;
    x->go = go;
    x->m = *m;
    memcpy(x->topic, m->topic, m->topic_len);
    x->m.topic = x->topic;
    x->m.data = NULL;
    struct buf *b = &w->scratch;
    buf_reset(b);
    client_hook_who(b, c);
    BUF_APPEND_LIT(b, ",\"topic\":");
    json_write_str(b, m->topic, m->topic_len);
    hooks_call(w, HOOK_SUBSCRIBE, b, sub_done, x);
}

/* ---- publish */

struct pub_ctx {
    uint64_t seq;
    request_pub_go_fn go;
    int has_id;
    int64_t id;
    uint8_t enc;
    size_t topic_len, data_len;
    char topic[TOPIC_MAX_LEN];
    uint8_t data[]; /* the client's data */
};

static void pub_done(struct worker *w, const struct hook_answer *a, void *ud)
{
    struct pub_ctx *x = ud;
    struct client *c = open_client(w, x->seq);
    if (c && !a->allow) {
        refuse(c, x->has_id, x->id, a);
    } else if (c) {
        /* The backend may replace the data (JSON, then rendered for each
         * subscriber as any JSON publisher's). */
        struct buf repl = BUF_INIT;
        if (answer_value(a, "data", &repl) == 0) {
            if (buf_readable(&repl) > (size_t)w->policy.max_message_bytes)
                client_send_error(c, x->has_id, x->id, CODE_BAD_REQUEST,
                                  "the backend's data is larger than max_message_bytes");
            else
                x->go(c, x->has_id, x->id, x->topic, x->topic_len, ENC_JSON, buf_head(&repl),
                      buf_readable(&repl));
        } else {
            x->go(c, x->has_id, x->id, x->topic, x->topic_len, (enum enc)x->enc, x->data,
                  x->data_len);
        }
        buf_deinit(&repl);
    }
    free(x);
}

void request_hook_pub(struct client *c, const struct client_msg *m, request_pub_go_fn go)
{
    struct worker *w = c->w;
    struct buf *b = &w->scratch;
    buf_reset(b);
    client_hook_who(b, c);
    BUF_APPEND_LIT(b, ",\"topic\":");
    json_write_str(b, m->topic, m->topic_len);
    BUF_APPEND_LIT(b, ",\"data\":");
    if (data_as_json(w, b, (enum enc)c->enc, m->data, m->data_len) < 0) {
        client_send_error(c, m->has_id, m->id, CODE_BAD_REQUEST,
                          "data has no JSON form for the backend");
        return;
    }
    struct pub_ctx *x = xmalloc(sizeof *x + m->data_len);
    x->seq = c->seq;
    x->go = go;
    x->has_id = m->has_id;
    x->id = m->id;
    x->enc = c->enc;
    x->topic_len = m->topic_len;
    memcpy(x->topic, m->topic, m->topic_len);
    x->data_len = m->data_len;
    memcpy(x->data, m->data, m->data_len);
    hooks_call(w, HOOK_PUBLISH, b, pub_done, x);
}

/* ---- rpc */

struct rpc_ctx {
    uint64_t seq;
    int64_t id;
};

static void rpc_done(struct worker *w, const struct hook_answer *a, void *ud)
{
    struct rpc_ctx *x = ud;
    struct client *c = open_client(w, x->seq);
    if (c && (a->failed || !a->allow)) {
        /* No fail-open for an rpc: there is no answer to give. */
        struct hook_answer no = *a;
        if (a->failed)
            no.code = 503;
        refuse(c, 1, x->id, &no);
    } else if (c) {
        struct buf data = BUF_INIT;
        if (answer_value(a, "data", &data) < 0)
            BUF_APPEND_LIT(&data, "null");
        struct buf *b = &w->scratch;
        buf_reset(b);
        if (msg_build_rpc_result(b, (enum enc)c->enc, x->id, ENC_JSON, buf_head(&data),
                                 buf_readable(&data),
                                 msg_render_budget(w->policy.max_message_bytes)) < 0)
            client_send_error(c, 1, x->id, 502,
                              "the backend's answer is too large or has no "
                              "form in this encoding");
        else
            client_send_payload(c, buf_head(b), buf_readable(b));
        buf_deinit(&data);
    }
    free(x);
}

void request_hook_rpc(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    if (!hooks_on(w, HOOK_RPC)) {
        client_send_error(c, 1, m->id, CODE_NOT_FOUND, "no rpc backend: the rpc hook is off");
        return;
    }
    struct buf *b = &w->scratch;
    buf_reset(b);
    client_hook_who(b, c);
    BUF_APPEND_LIT(b, ",\"method\":");
    json_write_str(b, m->method, m->method_len);
    BUF_APPEND_LIT(b, ",\"data\":");
    if (data_as_json(w, b, (enum enc)c->enc, m->data, m->data_len) < 0) {
        client_send_error(c, 1, m->id, CODE_BAD_REQUEST, "data has no JSON form for the backend");
        return;
    }
    struct rpc_ctx *x = xmalloc(sizeof *x);
    x->seq = c->seq;
    x->id = m->id;
    hooks_call(w, HOOK_RPC, b, rpc_done, x);
}
