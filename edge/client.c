/* Client WebSocket connections: see client.h. */
#include "edge/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <http_parser.h>

#include "common/container.h"
#include "common/jsonwrite.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/net.h"
#include "common/wsframe.h"
#include "common/xalloc.h"
#include "edge/admission.h"
#include "edge/auth.h"
#include "edge/handshake.h"
#include "edge/hooks.h"
#include "edge/iplimit.h"
#include "edge/transport.h"
#include "edge/wsconn.h"
#include "edge/www.h"

/* Bytes read per wake-up before yielding to other connections. */
#define READ_BUDGET (256 * 1024)

#define client_of(node) container_of(node, struct client, deadline)
#define client_of_idle(node) container_of(node, struct client, idle)

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void process(struct client *c, const uint8_t *p, size_t n, int from_partial);

/* Refused before any byte is read: a plain connection gets a 429 answer
 * (a fresh socket takes it whole), a TLS one is just closed. */
static void refuse_at_accept(int fd, int tls)
{
    static const char resp[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 39\r\nConnection: close\r\n\r\n"
                               "too many connections from your address\n";
    _Static_assert(sizeof "too many connections from your address\n" - 1 == 39, "length");
    if (!tls)
        (void)!write(fd, resp, sizeof resp - 1);
    close(fd);
}

struct client_extra *client_extra(struct client *c)
{
    if (!c->extra)
        c->extra = xcalloc(1, sizeof *c->extra);
    return c->extra;
}

void client_accept(struct worker *w, int fd, const struct sockaddr_storage *ss, int tls)
{
    const struct edge_config *cfg = w->cfg;
    struct dict_entry *ip = NULL;
    if (cfg->iplimit && !(ip = iplimit_acquire(cfg->iplimit, ss))) {
        w->stats.refused_ip_limit++;
        log_debug("connection refused: its address holds max_conns_per_ip (%ld) connections",
                  cfg->max_conns_per_ip);
        refuse_at_accept(fd, tls);
        return;
    }
    SSL *ssl = NULL;
    if (tls) {
        ssl = tls_slot_new_ssl(cfg->client_tls);
        if (!ssl || transport_tls_attach(ssl, fd) < 0) {
            log_warn("cannot start TLS on a new connection: out of memory");
            SSL_free(ssl);
            iplimit_release(cfg->iplimit, ip);
            close(fd);
            return;
        }
        SSL_set_accept_state(ssl);
    }
    struct client *c = xcalloc(1, sizeof *c);
    c->w = w;
    if (ssl)
        client_extra(c)->ssl = ssl;
    if (ip)
        client_extra(c)->ip = ip;
    c->seq = ++w->next_seq;
    c->state = CLIENT_HANDSHAKE;
    c->hs = handshake_new();
    handshake_allow_deflate(c->hs, (int)w->policy.deflate);
    const char(*keep)[HOOKS_HEADER_NAME_MAX + 1];
    unsigned nkeep = hooks_connect_headers(w, &keep);
    if (nkeep)
        handshake_keep_headers(c->hs, keep, nkeep);
    if (cfg->client_sndbuf > 0)
        net_set_sndbuf(fd, (int)cfg->client_sndbuf);
    net_set_nodelay(fd);
    ev_io_init(&c->io, on_io, fd, EV_READ);
    c->io.data = c;
    ev_io_start(w->loop, &c->io);
    deadline_add(&w->handshakes, &c->deadline);
    idtab_add(&w->conns, c);
    w->nclients++;
    w->stats.accepted++;
}

/* ---- output ------------------------------------------------------------ */

static void set_events(struct client *c, int events)
{
    if (c->io.events == events)
        return;
    ev_io_stop(c->w->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(c->w->loop, &c->io);
}

static int write_out(struct client *c);
static void cut_slow_consumer(struct client *c);

/* Output held for c: queued frames at what they really cost (sendq.h)
 * and, with TLS, encrypted records waiting for the socket. */
static uint64_t output_held(const struct client *c)
{
    return sendq_cost(&c->q) + transport_backlog_bytes(client_ssl(c));
}

/* Queues a frame whatever the state short of CLOSED (close frames and HTTP
 * answers go out while CLOSING). Takes ownership of one reference.
 *
 * The slow-consumer bound holds here, as frames are queued, not only at
 * the end of the turn: past it, the socket first gets the chance to take
 * what it will now (a client that reads is not held to one burst), and if
 * that is not enough the client is cut. Nothing here tears a connection
 * down (callers may be walking a topic's subscribers): a write error waits
 * for the end-of-turn flush. */
static void queue_frame(struct client *c, struct frame *f)
{
    struct worker *w = c->w;
    if (c->state == CLIENT_CLOSED) {
        frame_unref(f);
        return;
    }
    sendq_push(&c->q, &w->qpool, f);
    worker_mark_dirty(w, c);
    if (c->state == CLIENT_OPEN && !(c->flags & CLIENT_F_SLOW) &&
        output_held(c) > (uint64_t)w->policy.send_queue_bytes) {
        (void)write_out(c);
        if (output_held(c) > (uint64_t)w->policy.send_queue_bytes)
            cut_slow_consumer(c);
    }
}

/* The frame c gets for data frame f: f, or for a permessage-deflate
 * connection f's compressed twin (built once, shared by every such
 * subscriber). With the policy's deflate off, negotiated connections get
 * plain frames (always allowed, RFC 7692 §6): the CPU is saved at once. */
static struct frame *frame_for(struct client *c, struct frame *f)
{
    struct worker *w = c->w;
    if (!(c->flags & CLIENT_F_DEFLATE) || !w->policy.deflate)
        return f;
    return frame_for_deflate(f, w->pmd, (size_t)w->policy.deflate_threshold);
}

void client_push_frame(struct client *c, struct frame *f)
{
    if (c->state != CLIENT_OPEN || (c->flags & CLIENT_F_SLOW))
        return;
    queue_frame(c, frame_ref(frame_for(c, f)));
    c->w->stats.msgs_out++;
}

void client_send_payload(struct client *c, const uint8_t *payload, size_t len)
{
    if (c->state != CLIENT_OPEN)
        return;
    uint8_t op = c->enc == ENC_JSON ? WS_OP_TEXT : WS_OP_BINARY;
    struct frame *f = frame_build(op, payload, len), *out = frame_for(c, f);
    if (out != f) {
        frame_ref(out);
        frame_unref(f);
    }
    queue_frame(c, out);
    c->w->stats.msgs_out++;
}

void client_send_ack(struct client *c, int64_t id)
{
    struct buf *b = &c->w->scratch;
    buf_reset(b);
    msg_build_ack(b, (enum enc)c->enc, id);
    client_send_payload(c, buf_head(b), buf_readable(b));
}

void client_send_ack_at(struct client *c, int64_t id, uint64_t seq, const char *epoch,
                        int recovered, const char *reason)
{
    struct buf *b = &c->w->scratch;
    buf_reset(b);
    msg_build_ack_at(b, (enum enc)c->enc, id, seq, epoch, recovered, reason);
    client_send_payload(c, buf_head(b), buf_readable(b));
}

void client_send_error(struct client *c, int has_id, int64_t id, int code, const char *reason)
{
    struct buf *b = &c->w->scratch;
    buf_reset(b);
    msg_build_error(b, (enum enc)c->enc, has_id, id, code, reason);
    client_send_payload(c, buf_head(b), buf_readable(b));
}

/* ---- closing ----------------------------------------------------------- */

static void enter_closing(struct client *c)
{
    c->state = CLIENT_CLOSING;
    c->flags &= (uint8_t)~CLIENT_F_PONG_WAIT;
    deadline_remove(&c->idle);
    deadline_add(&c->w->closing, &c->deadline); /* leaves the ping or pong list */
}

void client_close(struct client *c, uint16_t code, const char *reason)
{
    char id[CONN_ID_MAX_LEN];
    if (c->state == CLIENT_HANDSHAKE) {
        client_terminate(c, reason);
        return;
    }
    if (c->state != CLIENT_OPEN)
        return;
    if (!ws_close_code_may_send(code)) {
        log_warn("conn %s: close code %u is not valid on the wire: closing with 1011 instead",
                 client_id(c, id, sizeof id), code);
        code = 1011;
    }
    struct frame *f = frame_close(code, reason);
    log_debug("conn %s: closing with %u %.*s", client_id(c, id, sizeof id), code, (int)(f->len - 4),
              (const char *)f->data + 4);
    queue_frame(c, f);
    enter_closing(c);
}

void client_terminate(struct client *c, const char *why)
{
    struct worker *w = c->w;
    char id[CONN_ID_MAX_LEN];
    if (c->state == CLIENT_CLOSED)
        return;
    if (why)
        log_debug("conn %s: closed: %s", client_id(c, id, sizeof id), why);
    int was_open = c->state == CLIENT_OPEN || c->state == CLIENT_CLOSING;
    c->state = CLIENT_CLOSED;
    if (was_open && hooks_on(w, HOOK_DISCONNECT))
        hooks_disconnected(w, client_id(c, id, sizeof id), auth_identity_user(client_identity(c)),
                           why ? why : "closed");
    ev_io_stop(w->loop, &c->io);
    transport_end(client_ssl(c), c->io.fd);
    close(c->io.fd);
    if (c->extra) {
        iplimit_release(w->cfg->iplimit, c->extra->ip);
        auth_identity_free(c->extra->id);
        free(c->extra);
        c->extra = NULL;
    }
    deadline_remove(&c->deadline);
    deadline_remove(&c->idle);
    w->client_calls->release(c);
    idtab_delete(&w->conns, c);
    sendq_clear(&c->q, &w->qpool);
    handshake_free(c->hs);
    c->hs = NULL;
    wsconn_free(c);
    if (c->flags & CLIENT_F_DEFLATE)
        w->deflate_clients--;
    w->nclients--;
    w->stats.closed++;
    worker_mark_dirty(w, c); /* freed by the worker at the end of the turn */
}

void client_free(struct client *c)
{
    free(c);
}

void client_handshake_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct client *c = client_of(n);
    char id[CONN_ID_MAX_LEN];
    c->w->stats.closed_handshake++;
    log_info("conn %s: closed: no WebSocket upgrade within %ld ms", client_id(c, id, sizeof id),
             c->w->policy.handshake_timeout_ms);
    client_terminate(c, "handshake timeout");
}

void client_idle_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct client *c = client_of_idle(n);
    char id[CONN_ID_MAX_LEN];
    c->w->stats.closed_idle++;
    log_debug("conn %s: idle for %ld ms", client_id(c, id, sizeof id),
              c->w->policy.idle_timeout_ms);
    client_close(c, 4000, "idle timeout");
}

void client_ping_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct client *c = client_of(n);
    /* Silent for ping_interval: ask for a sign of life (RFC 6455 §5.5.2). */
    queue_frame(c, frame_build(WS_OP_PING, NULL, 0));
    c->flags |= CLIENT_F_PONG_WAIT;
    deadline_add(&c->w->pong, &c->deadline);
}

void client_pong_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct client *c = client_of(n);
    char id[CONN_ID_MAX_LEN];
    c->w->stats.closed_dead++;
    log_info("conn %s: closed: dead peer (nothing received within %ld ms of a ping)",
             client_id(c, id, sizeof id), c->w->policy.pong_timeout_ms);
    client_terminate(c, "dead peer");
}

void client_close_expired(struct deadline_list *l, struct deadline_node *n)
{
    client_terminate(client_of(n), "close handshake timed out");
}

static ssize_t writev_to_client(void *ctx, const struct iovec *iov, int iovcnt)
{
    struct client *c = ctx;
    return transport_writev(client_ssl(c), c->io.fd, iov, iovcnt);
}

/* Writes what the socket takes. Returns 1 if the socket is full, 0 if the
 * queue (and, with TLS, the backlog of encrypted records) is empty, -1 on
 * a write error (errno set; the connection is left as it is). */
static int write_out(struct client *c)
{
    struct worker *w = c->w;
    int r;
    if (sendq_is_empty(&c->q)) {
        r = transport_flush_backlog(client_ssl(c), c->io.fd);
    } else {
        size_t before = c->q.bytes;
        r = sendq_flush(&c->q, &w->qpool, writev_to_client, c);
        w->stats.bytes_out += before - c->q.bytes;
        if (r == 0 && transport_has_backlog(client_ssl(c)))
            r = 1;
    }
    return r;
}

/* write_out, tearing the connection down on a write error (-1). */
static int write_queue(struct client *c)
{
    int r = write_out(c);
    if (r < 0)
        client_terminate(c, strerror(errno));
    return r;
}

/* The client does not keep up: nothing more is queued for it, frames not
 * yet started are dropped, and it gets 1008 without waiting for its reply
 * (it is not reading). */
static void cut_slow_consumer(struct client *c)
{
    struct worker *w = c->w;
    char id[CONN_ID_MAX_LEN];
    log_warn("conn %s: closed: slow consumer (%" PRIu64 " bytes of output held, limit %ld)",
             client_id(c, id, sizeof id), output_held(c), w->policy.send_queue_bytes);
    w->stats.closed_slow++;
    c->flags |= CLIENT_F_SLOW;
    sendq_drop_unstarted(&c->q, &w->qpool);
    client_close(c, 1008, "slow consumer");
    c->flags |= CLIENT_F_FLUSH_CLOSE;
}

void client_flush(struct client *c)
{
    struct worker *w = c->w;
    if (c->state == CLIENT_CLOSED)
        return;
    int r = write_queue(c);
    if (r < 0)
        return;
    /* queue_frame keeps the bound as frames come; this catches what only
     * the write shows (TLS records the socket refused). */
    if (r == 1 && c->state == CLIENT_OPEN && !(c->flags & CLIENT_F_SLOW) &&
        output_held(c) > (uint64_t)w->policy.send_queue_bytes) {
        cut_slow_consumer(c);
        if ((r = write_queue(c)) < 0)
            return;
    }
    if (r == 1) {
        c->flags |= CLIENT_F_WRITING;
        set_events(c, EV_READ | EV_WRITE);
        return;
    }
    if (c->flags & CLIENT_F_WRITING) {
        c->flags &= (uint8_t)~CLIENT_F_WRITING;
        set_events(c, EV_READ);
    }
    if (c->flags & CLIENT_F_FLUSH_CLOSE)
        client_terminate(c, NULL);
}

/* ---- input ------------------------------------------------------------- */

/* What the frame layer reports (edge/wsconn.h). */
static void ws_closed(struct client *c, uint16_t code)
{
    char id[CONN_ID_MAX_LEN];
    if (code)
        log_debug("conn %s: peer closed with %u", client_id(c, id, sizeof id), code);
    if (c->state == CLIENT_OPEN)
        enter_closing(c);
    c->flags |= CLIENT_F_FLUSH_CLOSE;
    worker_mark_dirty(c->w, c);
}

/* Fails the connection (RFC 6455 §7.1.7) for input that breaks the
 * protocol: the close frame says why, and unless told to wait for the
 * client's reply, the socket is closed once it is written (a client that
 * breaks the protocol may never send one). */
static void ws_failed(struct client *c, uint16_t code, const char *why, int queued, int wait)
{
    char id[CONN_ID_MAX_LEN];
    log_info("conn %s: closing with %u: %s", client_id(c, id, sizeof id), code, why);
    c->w->stats.closed_protocol++;
    if (!queued)
        client_close(c, code, why);
    else if (c->state == CLIENT_OPEN)
        enter_closing(c);
    if (!wait)
        c->flags |= CLIENT_F_FLUSH_CLOSE;
    worker_mark_dirty(c->w, c);
}

void client_hook_who(struct buf *b, struct client *c)
{
    char id[CONN_ID_MAX_LEN];
    const char *user = auth_identity_user(client_identity(c));
    client_id(c, id, sizeof id);
    BUF_APPEND_LIT(b, "\"conn\":");
    json_write_str(b, id, strlen(id));
    BUF_APPEND_LIT(b, ",\"user\":");
    if (user)
        json_write_str(b, user, strlen(user));
    else
        BUF_APPEND_LIT(b, "null");
}

static void on_message(struct client *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    c->w->client_calls->message(c, opcode, p, n);
}

static const struct wsconn_events ws_events = {
    .message = on_message,
    .queue = queue_frame,
    .closed = ws_closed,
    .failed = ws_failed,
};

/* doc: a connect hook's answer (NULL: none): its "data" goes into the
 * welcome, its "subscribe" topics are subscribed to after it. */
static void finish_handshake(struct client *c, const uint8_t *rest, size_t n, enum enc enc,
                             json_t *doc)
{
    struct worker *w = c->w;
    char id[CONN_ID_MAX_LEN];
    if (handshake_deflate(c->hs)) {
        if (!w->pmd)
            w->pmd = pmd_codec_new();
        c->flags |= CLIENT_F_DEFLATE;
        w->deflate_clients++;
    }
    handshake_free(c->hs);
    c->hs = NULL;
    c->enc = (uint8_t)enc;
    c->state = CLIENT_OPEN;
    deadline_add(&w->ping, &c->deadline); /* leaves the handshake list */
    deadline_add(&w->idle, &c->idle);
    c->rl_tokens = (float)w->policy.rate_burst;
    c->rl_stamp = (uint32_t)((ev_now(w->loop) - w->started) * 1000.0);
    client_id(c, id, sizeof id);
    buf_reset(&w->scratch);
    msg_build_welcome(&w->scratch, enc, id, w->cfg->name, w->cfg->region, &w->policy,
                      auth_identity_user(client_identity(c)));
    json_t *data = doc ? json_object_get(doc, "data") : NULL;
    if (data) {
        char *s = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s || msg_welcome_add_data(&w->scratch, 0, enc, ENC_JSON, (const uint8_t *)s, strlen(s),
                                       msg_render_budget(w->policy.max_message_bytes)) < 0)
            log_warn("conn %s: the connect hook's data has no form for this client: left out", id);
        free(s);
    }
    client_send_payload(c, buf_head(&w->scratch), buf_readable(&w->scratch));
    json_t *subs = doc ? json_object_get(doc, "subscribe") : NULL;
    size_t i, bad = 0;
    json_t *t;
    json_array_foreach(subs, i, t)
    {
        if (json_is_string(t) && topic_is_valid(json_string_value(t), json_string_length(t)))
            w->client_calls->sub_auto(c, json_string_value(t), json_string_length(t));
        else
            bad++;
    }
    if (bad) /* one line per connection, however many the answer named */
        log_warn("conn %s: the connect hook named %zu invalid topics to subscribe to: skipped", id,
                 bad);
    log_debug("conn %s: open (%s%s)", id, enc == ENC_JSON ? "spoke.json" : "spoke.msgpack",
              c->flags & CLIENT_F_DEFLATE ? ", permessage-deflate" : "");
    if (n)
        process(c, rest, n, 0);
}

/* A plain HTTP request (a file, /edges.json): answered, then closed once
 * written, as a refused upgrade is. */
static void answer_http(struct client *c, struct buf *resp)
{
    struct handshake_request r;
    const char *why = "";
    char id[CONN_ID_MAX_LEN];
    handshake_http(c->hs, &r);
    www_answer(c->w, &r, resp, &why);
    log_debug("conn %s: HTTP %s %.*s: %s", client_id(c, id, sizeof id), http_method_str(r.method),
              (int)(r.path_len > 200 ? 200 : r.path_len), r.path, why);
    queue_frame(c, frame_raw(buf_head(resp), buf_readable(resp)));
    handshake_free(c->hs);
    c->hs = NULL;
    enter_closing(c);
    c->flags |= CLIENT_F_FLUSH_CLOSE;
}

/* ---- the connect hook: the backend decides before the 101 goes out */

struct connect_ctx {
    uint64_t seq;
    enum enc enc;
    struct buf answer; /* the 101 */
    size_t nrest;
    uint8_t rest[]; /* WebSocket bytes that came behind the request */
};

static void connect_done(struct worker *w, const struct hook_answer *a, void *ud)
{
    struct connect_ctx *x = ud;
    struct client *c = worker_find_client(w, x->seq);
    char id[CONN_ID_MAX_LEN];
    if (!c || c->state != CLIENT_HANDSHAKE || !(c->flags & CLIENT_F_HOOK_WAIT))
        goto out; /* gone meanwhile (handshake timeout) */
    c->flags &= (uint8_t)~CLIENT_F_HOOK_WAIT;
    client_id(c, id, sizeof id);
    if (!a->allow) {
        struct buf *resp = &w->scratch;
        int status = a->code >= 400 && a->code <= 599 ? a->code : 403;
        char body[160];
        snprintf(body, sizeof body, "%s\n", a->reason ? a->reason : "denied by the application");
        buf_reset(resp);
        handshake_refuse(resp, status,
                         status == 401   ? "Unauthorized"
                         : status == 403 ? "Forbidden"
                         : status >= 500 ? "Service Unavailable"
                                         : "Refused",
                         "", body);
        log_info("conn %s: upgrade refused by the connect hook: %d %s", id, status, body);
        queue_frame(c, frame_raw(buf_head(resp), buf_readable(resp)));
        handshake_free(c->hs);
        c->hs = NULL;
        enter_closing(c);
        c->flags |= CLIENT_F_FLUSH_CLOSE;
        goto out;
    }
    json_t *user = a->doc ? json_object_get(a->doc, "user") : NULL;
    if (json_is_string(user)) {
        struct auth_identity *now = auth_identity_with_user(
            client_identity(c), json_string_value(user), json_string_length(user));
        if (!now) {
            log_warn("conn %s: the connect hook's user is not a valid user id: ignored", id);
        } else {
            auth_identity_free(client_extra(c)->id);
            c->extra->id = now;
        }
    }
    queue_frame(c, frame_raw(buf_head(&x->answer), buf_readable(&x->answer)));
    ev_io_start(w->loop, &c->io);
    finish_handshake(c, x->rest, x->nrest, x->enc, a->doc);
out:
    buf_deinit(&x->answer);
    free(x);
}

/* Asks the backend whether c may open (docs/hooks.md): reading stops, the
 * 101 answer and the bytes behind the request wait in the call's context. */
static void connect_hook(struct client *c, const struct buf *answer, const uint8_t *rest, size_t n,
                         enum enc enc)
{
    struct worker *w = c->w;
    struct connect_ctx *x = xmalloc(sizeof *x + n);
    x->seq = c->seq;
    x->enc = enc;
    buf_init(&x->answer);
    buf_append(&x->answer, buf_head(answer), buf_readable(answer));
    x->nrest = n;
    if (n)
        memcpy(x->rest, rest, n);
    ev_io_stop(w->loop, &c->io);
    c->flags |= CLIENT_F_HOOK_WAIT;

    char addr[80] = "";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(c->io.fd, (struct sockaddr *)&ss, &sl) == 0)
        net_format_sockaddr(&ss, addr, sizeof addr);
    size_t tlen;
    const char *target = handshake_target(c->hs, &tlen);
    struct buf *b = &w->scratch;
    buf_reset(b);
    client_hook_who(b, c);
    BUF_APPEND_LIT(b, ",\"remote\":");
    json_write_str(b, addr, strlen(addr));
    BUF_APPEND_LIT(b, ",\"target\":");
    json_write_str(b, target, tlen);
    BUF_APPEND_LIT(b, ",\"protocol\":");
    if (enc == ENC_JSON)
        BUF_APPEND_LIT(b, "\"spoke.json\"");
    else
        BUF_APPEND_LIT(b, "\"spoke.msgpack\"");
    BUF_APPEND_LIT(b, ",\"tls\":");
    if (client_ssl(c))
        BUF_APPEND_LIT(b, "true");
    else
        BUF_APPEND_LIT(b, "false");
    BUF_APPEND_LIT(b, ",\"headers\":");
    handshake_kept_headers(c->hs, b);
    hooks_call(w, HOOK_CONNECT, b, connect_done, x);
}

static void process(struct client *c, const uint8_t *p, size_t n, int from_partial)
{
    if (c->state == CLIENT_HANDSHAKE) {
        struct worker *w = c->w;
        size_t used = 0;
        enum enc enc = ENC_JSON;
        const char *why = "";
        struct buf *resp = &w->scratch;
        buf_reset(resp);
        enum handshake_result r = handshake_feed(c->hs, p, n, &used, resp, &enc, &why);
        if (r == HANDSHAKE_NEED_MORE)
            return;
        if (r == HANDSHAKE_HTTP) {
            answer_http(c, resp);
            return;
        }
        struct auth_identity *who = NULL;
        if (r == HANDSHAKE_DONE && admission_check(w, c->hs, resp, &who, &why) < 0)
            r = HANDSHAKE_FAILED;
        if (who)
            client_extra(c)->id = who;
        if (r == HANDSHAKE_FAILED) {
            queue_frame(c, frame_raw(buf_head(resp), buf_readable(resp)));
            char id[CONN_ID_MAX_LEN];
            log_info("conn %s: upgrade refused: %s", client_id(c, id, sizeof id), why);
            handshake_free(c->hs);
            c->hs = NULL;
            enter_closing(c);
            c->flags |= CLIENT_F_FLUSH_CLOSE;
            return;
        }
        if (hooks_on(w, HOOK_CONNECT)) {
            connect_hook(c, resp, p + used, n - used, enc);
            return;
        }
        queue_frame(c, frame_raw(buf_head(resp), buf_readable(resp)));
        finish_handshake(c, p + used, n - used, enc, NULL);
        return;
    }
    if (c->state == CLIENT_OPEN || c->state == CLIENT_CLOSING)
        wsconn_input(c, p, n, from_partial, &ws_events);
}

/* A ws:// client on the wss port would only see TLS fail: tell it in its
 * own terms (nginx answers the same way), then close. */
static void refuse_plain_http(struct client *c)
{
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 50\r\nConnection: close\r\n\r\n"
                               "plain HTTP sent to a TLS port: use wss:// instead\n";
    _Static_assert(sizeof "plain HTTP sent to a TLS port: use wss:// instead\n" - 1 == 50,
                   "length");
    (void)!write(c->io.fd, resp, sizeof resp - 1);
    c->w->stats.closed_tls++;
    client_terminate(c, "plain HTTP on the wss port");
}

static void on_readable(struct client *c)
{
    struct worker *w = c->w;
    size_t budget = READ_BUDGET;
    if (transport_is_plain_http(client_ssl(c), c->io.fd)) {
        refuse_plain_http(c);
        return;
    }
    while (budget && c->state != CLIENT_CLOSED && !(c->flags & CLIENT_F_HOOK_WAIT)) {
        struct buf *partial = wsconn_partial(c);
        uint8_t *dst;
        size_t cap;
        if (partial) {
            buf_reserve(partial, 16 * 1024);
            dst = buf_tail(partial);
            cap = buf_writable(partial);
        } else {
            dst = w->rbuf;
            cap = WORKER_READ_BUF;
        }
        int want_flush = 0;
        ssize_t r = transport_read(client_ssl(c), c->io.fd, dst, cap, &want_flush);
        if (want_flush)
            worker_mark_dirty(w, c); /* TLS output waits for EV_WRITE */
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EPROTO && client_ssl(c)) {
                char why[240];
                snprintf(why, sizeof why, "TLS: %s", transport_error());
                w->stats.closed_tls++;
                client_terminate(c, why);
                return;
            }
            client_terminate(c, strerror(errno));
            return;
        }
        if (r == 0) {
            client_terminate(
                c, c->state == CLIENT_CLOSING ? "closed" : "peer went away without a close frame");
            return;
        }
        w->stats.bytes_in += (uint64_t)r;
        budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
        if (c->state == CLIENT_OPEN) {
            /* Any bytes are a sign of life: restart the ping wait. */
            c->flags &= (uint8_t)~CLIENT_F_PONG_WAIT;
            deadline_add(&w->ping, &c->deadline);
        }
        if (partial) {
            buf_commit(partial, (size_t)r);
            process(c, buf_head(partial), buf_readable(partial), 1);
        } else {
            process(c, dst, (size_t)r, 0);
        }
        if ((size_t)r < cap && !transport_has_pending(client_ssl(c)))
            return; /* drained; level-triggered epoll wakes us for more */
    }
    /* Out of budget: the socket wakes us again, but bytes TLS already
     * decrypted would not. */
    if (c->state != CLIENT_CLOSED && !(c->flags & CLIENT_F_HOOK_WAIT) &&
        transport_has_pending(client_ssl(c)))
        ev_feed_event(w->loop, &c->io, EV_READ);
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct client *c = io->data;
    if (revents & EV_WRITE)
        worker_mark_dirty(c->w, c); /* the end-of-iteration flush writes */
    if (revents & EV_READ)
        on_readable(c);
}
