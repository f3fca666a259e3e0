/* Client WebSocket connections: accept, upgrade, frames in, messages
 * dispatched, output queued and flushed once per loop iteration, close.
 *
 * Idle connections are cheap: struct client holds no wslay context and no
 * buffer. When bytes arrive, complete frames are handed to a wslay context
 * created for the purpose; an incomplete frame's bytes wait in a small
 * per-connection buffer (bounded by max_message_bytes). At a message boundary
 * (no partial frame, no fragmented message in progress) the wslay context is
 * freed again, which is safe because wslay was only ever given whole frames,
 * so its 4 KB input buffer is provably empty. */
#include "edge/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

#include "common/log.h"
#include "common/msg.h"
#include "common/net.h"
#include "common/utf8.h"
#include "common/wsframe.h"
#include "common/xalloc.h"
#include "edge/admission.h"
#include "edge/auth.h"
#include "edge/handshake.h"
#include "edge/iplimit.h"
#include "edge/sends.h"
#include "edge/topic.h"
#include "edge/transport.h"
#include "edge/uplink.h"
#include "edge/worker.h"

/* Per-connection WebSocket working state, present only while a frame or a
 * fragmented message is in flight (see the comment at the top). */
struct wsconn {
    wslay_event_context_ptr ctx; /* NULL until a complete frame must be processed */
    struct buf partial;          /* bytes of an incomplete frame */
    const uint8_t *feed;         /* complete frames wslay may take now */
    size_t feed_len;
    uint8_t in_fragmented;       /* wslay holds the first parts of a message */
};

/* Bytes read per wake-up before yielding to other connections. */
#define READ_BUDGET (256 * 1024)

#define client_of(node) ((struct client *)((char *)(node) - offsetof(struct client, deadline)))
#define client_of_idle(node) ((struct client *)((char *)(node) - offsetof(struct client, idle)))

/* Refusals within this window beyond rate_burst close the connection. */
#define RATE_WINDOW_MS 10000

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void process(struct client *c, const uint8_t *p, size_t n, int from_partial);

static const char *conn_id(const struct client *c, char *out, size_t outlen)
{
    worker_conn_id(c->w, c->seq, out, outlen);
    return out;
}

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
    c->ssl = ssl;
    if (ip) {
        c->access = xcalloc(1, sizeof *c->access);
        c->access->ip = ip;
    }
    c->seq = ++w->next_seq;
    c->state = CLIENT_HANDSHAKE;
    c->hs = handshake_new();
    if (cfg->client_sndbuf > 0)
        net_set_sndbuf(fd, (int)cfg->client_sndbuf);
    net_set_nodelay(fd);
    ev_io_init(&c->io, on_io, fd, EV_READ);
    c->io.data = c;
    ev_io_start(w->loop, &c->io);
    deadline_add(&w->handshakes, &c->deadline);
    dict_add(&w->conns, &c->seq, sizeof c->seq, c);
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
    return sendq_cost(&c->q) + transport_backlog_bytes(c);
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

void client_push_frame(struct client *c, struct frame *f)
{
    if (c->state != CLIENT_OPEN || (c->flags & CLIENT_F_SLOW))
        return;
    queue_frame(c, frame_ref(f));
    c->w->stats.msgs_out++;
}

void client_send_payload(struct client *c, const uint8_t *payload, size_t len)
{
    if (c->state != CLIENT_OPEN)
        return;
    uint8_t op = c->enc == ENC_JSON ? WS_OP_TEXT : WS_OP_BINARY;
    queue_frame(c, frame_build(op, payload, len));
    c->w->stats.msgs_out++;
}

void client_send_ack(struct client *c, int64_t id)
{
    struct buf *b = &c->w->scratch;
    buf_reset(b);
    msg_build_ack(b, (enum enc)c->enc, id);
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

static void free_ws(struct client *c)
{
    struct wsconn *ws = c->ws;
    if (!ws)
        return;
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    buf_deinit(&ws->partial);
    free(ws);
    c->ws = NULL;
}

/* A close frame with code and reason, the reason cut to at most 123 bytes
 * of valid UTF-8 (RFC 6455 §5.5, §5.5.1): a kick's reason comes from the
 * hub and may be any bytes. */
static struct frame *close_frame(uint16_t code, const char *reason)
{
    uint8_t payload[2 + WS_MAX_CLOSE_REASON + 1];
    size_t rlen = utf8_cut((char *)payload + 2, WS_MAX_CLOSE_REASON, (const uint8_t *)reason,
                           strlen(reason));
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    return frame_build(WS_OP_CLOSE, payload, 2 + rlen);
}

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
                 conn_id(c, id, sizeof id), code);
        code = 1011;
    }
    struct frame *f = close_frame(code, reason);
    log_debug("conn %s: closing with %u %.*s", conn_id(c, id, sizeof id), code,
              (int)(f->len - 4), (const char *)f->data + 4);
    queue_frame(c, f);
    enter_closing(c);
}

/* Fails the connection (RFC 6455 §7.1.7) for a frame that breaks the
 * protocol: our close frame says why, and the socket is closed once it is
 * written, without waiting for a reply the client may never send. */
static void fail_connection(struct client *c, uint16_t code, const char *why)
{
    char id[CONN_ID_MAX_LEN];
    log_info("conn %s: closing with %u: %s", conn_id(c, id, sizeof id), code, why);
    c->w->stats.closed_protocol++;
    client_close(c, code, why);
    c->flags |= CLIENT_F_FLUSH_CLOSE;
}

void client_terminate(struct client *c, const char *why)
{
    struct worker *w = c->w;
    char id[CONN_ID_MAX_LEN];
    if (c->state == CLIENT_CLOSED)
        return;
    if (why)
        log_debug("conn %s: closed: %s", conn_id(c, id, sizeof id), why);
    c->state = CLIENT_CLOSED;
    ev_io_stop(w->loop, &c->io);
    transport_end(c);
    close(c->io.fd);
    if (c->access) {
        iplimit_release(w->cfg->iplimit, c->access->ip);
        auth_identity_free(c->access->id);
        free(c->access);
        c->access = NULL;
    }
    deadline_remove(&c->deadline);
    deadline_remove(&c->idle);
    topic_unsubscribe_all(w, c);
    dict_delete(&w->conns, &c->seq, sizeof c->seq);
    sendq_clear(&c->q, &w->qpool);
    handshake_free(c->hs);
    c->hs = NULL;
    free_ws(c);
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
    log_info("conn %s: closed: no WebSocket upgrade within %ld ms", conn_id(c, id, sizeof id),
             c->w->policy.handshake_timeout_ms);
    client_terminate(c, "handshake timeout");
}

void client_idle_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct client *c = client_of_idle(n);
    char id[CONN_ID_MAX_LEN];
    c->w->stats.closed_idle++;
    log_debug("conn %s: idle for %ld ms", conn_id(c, id, sizeof id), c->w->policy.idle_timeout_ms);
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
             conn_id(c, id, sizeof id), c->w->policy.pong_timeout_ms);
    client_terminate(c, "dead peer");
}

void client_close_expired(struct deadline_list *l, struct deadline_node *n)
{
    client_terminate(client_of(n), "close handshake timed out");
}

static ssize_t writev_to_client(void *ctx, const struct iovec *iov, int iovcnt)
{
    return transport_writev(ctx, iov, iovcnt);
}

/* Writes what the socket takes. Returns 1 if the socket is full, 0 if the
 * queue (and, with TLS, the backlog of encrypted records) is empty, -1 on
 * a write error (errno set; the connection is left as it is). */
static int write_out(struct client *c)
{
    struct worker *w = c->w;
    int r;
    if (sendq_is_empty(&c->q)) {
        r = transport_flush_backlog(c);
    } else {
        size_t before = c->q.bytes;
        r = sendq_flush(&c->q, &w->qpool, writev_to_client, c);
        w->stats.bytes_out += before - c->q.bytes;
        if (r == 0 && transport_has_backlog(c))
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
             conn_id(c, id, sizeof id), output_held(c), w->policy.send_queue_bytes);
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

/* ---- wslay glue -------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user_data)
{
    struct client *c = user_data;
    struct wsconn *ws = c->ws;
    if (!ws->feed_len) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->feed_len ? len : ws->feed_len;
    memcpy(buf, ws->feed, n);
    ws->feed += n;
    ws->feed_len -= n;
    return (ssize_t)n;
}

/* A close frame wslay sends on its own (not the echo of the client's) fails
 * the connection for an error wslay found, with a code and no reason: the
 * same code goes out with a reason. The edge checks frames before wslay
 * sees them (ws_input), so what is left here is invalid UTF-8 in a text
 * message (1007) and a message over max_message_bytes (1009). */
static struct frame *wslay_error_close(const uint8_t *f, size_t len)
{
    /* Server frames are unmasked and control payloads under 126 bytes: the
     * payload starts at f[2]. */
    uint16_t code = len >= 4 ? (uint16_t)(f[2] << 8 | f[3]) : WS_CLOSE_PROTOCOL_ERROR;
    const char *why = code == WS_CLOSE_INVALID_DATA ? "invalid UTF-8 in a text message"
                      : code == 1009               ? "message too big"
                                                   : "protocol error";
    if (!ws_close_code_may_send(code))
        code = WS_CLOSE_PROTOCOL_ERROR;
    return close_frame(code, why);
}

/* wslay's own frames (pongs, close replies) join the same queue as ours, so
 * frames never interleave; wslay hands a frame over in pieces (header with
 * WSLAY_MSG_MORE, then payload), gathered in w->wsout. */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user_data)
{
    struct client *c = user_data;
    struct buf *out = &c->w->wsout;
    buf_append(out, data, len);
    if (!(flags & WSLAY_MSG_MORE)) {
        const uint8_t *raw = buf_head(out);
        struct frame *f = (raw[0] & 0x0f) == WS_OP_CLOSE && !wslay_event_get_close_received(ctx)
                              ? wslay_error_close(raw, buf_readable(out))
                              : frame_raw(raw, buf_readable(out));
        buf_reset(out);
        queue_frame(c, f);
    }
    return (ssize_t)len;
}

static void handle_message(struct client *c, uint8_t opcode, const uint8_t *p, size_t n);

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user_data)
{
    struct client *c = user_data;
    if (c->state != CLIENT_OPEN)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        handle_message(c, arg->opcode, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

static struct wsconn *ensure_ws(struct client *c)
{
    if (!c->ws) {
        c->ws = xcalloc(1, sizeof *c->ws);
        buf_init(&c->ws->partial);
    }
    return c->ws;
}

static wslay_event_context_ptr ensure_ctx(struct client *c)
{
    struct wsconn *ws = ensure_ws(c);
    if (!ws->ctx) {
        if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, c) != 0) {
            fprintf(stderr, "fatal: out of memory creating a wslay context\n");
            abort();
        }
        /* wslay allocates whatever length a frame header declares: cap it
         * before it sees a single byte (LIBRARIES.md §2). */
        wslay_event_config_set_max_recv_msg_length(ws->ctx,
                                                   (uint64_t)c->w->policy.max_message_bytes);
    }
    return ws->ctx;
}

/* Gives wslay complete frames p[0, n) and sends what it queued in reply. */
static void ws_run(struct client *c, const uint8_t *p, size_t n)
{
    char id[CONN_ID_MAX_LEN];
    wslay_event_context_ptr ctx = ensure_ctx(c);
    c->ws->feed = p;
    c->ws->feed_len = n;
    int r = wslay_event_recv(ctx);
    c->ws->feed_len = 0;
    wslay_event_send(ctx); /* only appends to our queue: cannot block */
    if (c->state == CLIENT_CLOSED)
        return;
    if (wslay_event_get_close_received(ctx)) {
        /* The peer closed; wslay echoed its close frame. Close once written. */
        log_debug("conn %s: peer closed with %u", conn_id(c, id, sizeof id),
                  wslay_event_get_status_code_received(ctx));
        if (c->state == CLIENT_OPEN)
            enter_closing(c);
        c->flags |= CLIENT_F_FLUSH_CLOSE;
        worker_mark_dirty(c->w, c);
    } else if (r != 0 || wslay_event_get_close_sent(ctx)) {
        /* wslay refused the input (1002 protocol, 1007 UTF-8, 1009 size). */
        uint16_t code = wslay_event_get_close_sent(ctx) ? wslay_event_get_status_code_sent(ctx) : 1002;
        log_info("conn %s: closing with %u: %s", conn_id(c, id, sizeof id), code,
                 code == 1007 ? "invalid UTF-8" : code == 1009 ? "message too big"
                                                  : "protocol error");
        c->w->stats.closed_protocol++;
        if (c->state == CLIENT_OPEN)
            enter_closing(c);
        if (r != 0) /* wslay gave up on the stream: do not wait for a reply */
            c->flags |= CLIENT_F_FLUSH_CLOSE;
        worker_mark_dirty(c->w, c);
    }
}

/* Splits p[0, n) at frame boundaries: complete frames go to wslay, an
 * incomplete tail is kept in ws->partial. While the connection is open each
 * frame is judged first (ws_frame_check as soon as its header is in, so a
 * bad header never waits for its payload; ws_close_check once a close frame
 * is whole): the frames before a bad one are processed, then the connection
 * fails with a code and a reason, and the rest of the input is dropped. */
/* Answers a client's ping (a complete frame at f that passed
 * ws_frame_check) without wslay, which would allocate a message for each.
 * Pongs piling up for a client that pings faster than it reads are answered
 * for the latest ping only (RFC 6455 §5.5.3 allows it): an unwritten pong
 * of the same length at the end of the queue takes the new payload in place,
 * so a ping flood costs no memory and no allocation per ping. */
static void answer_ping(struct client *c, const uint8_t *f, const struct ws_frame_info *fi)
{
    uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
    size_t n = ws_control_payload(f, fi, payload);
    struct frame *last = sendq_last_unstarted(&c->q);
    if (last && last->refs == 1 && last->len == 2 + n && last->data[0] == (0x80 | WS_OP_PONG)) {
        memcpy(last->data + 2, payload, n);
        return;
    }
    queue_frame(c, frame_build(WS_OP_PONG, payload, n));
}

static void ws_input(struct client *c, const uint8_t *p, size_t n, int from_partial)
{
    uint64_t max = (uint64_t)c->w->policy.max_message_bytes;
    struct ws_frame_info fi;
    size_t off = 0, group = 0; /* frames [group, off) go to wslay together */
    int peer_close = 0, is_open = c->state == CLIENT_OPEN, fail = 0;
    const char *why = NULL;
    uint8_t in_frag = c->ws ? c->ws->in_fragmented : 0;

    while (off < n) {
        /* Control frames are at most 125 bytes; larger data frames than the
         * limit are handed over at once so wslay closes with 1009. */
        long flen = ws_frame_scan(p + off, n - off, max < 125 ? 125 : max, &fi);
        if (is_open && fi.header_len) {
            fail = ws_frame_check(&fi, in_frag, &why);
            if (!fail && flen > 0 && fi.opcode == WS_OP_CLOSE)
                fail = ws_close_check(p + off, &fi, &why);
            if (fail)
                break;
        }
        if (flen == 0)
            break;
        if (flen < 0) {
            off = n;
            break;
        }
        if (fi.opcode == WS_OP_PING && is_open) {
            /* The frames before it first, in order, then its pong. */
            if (off > group) {
                ensure_ws(c)->in_fragmented = in_frag;
                ws_run(c, p + group, off - group);
            }
            if (c->state == CLIENT_OPEN)
                answer_ping(c, p + off, &fi);
            else
                is_open = 0;
            group = off + (size_t)flen;
        }
        if (fi.opcode == WS_OP_CLOSE)
            peer_close = 1;
        if (fi.opcode == WS_OP_TEXT || fi.opcode == WS_OP_BINARY || fi.opcode == WS_OP_CONT)
            in_frag = !fi.fin;
        off += (size_t)flen;
    }

    if (c->state == CLIENT_OPEN && off > group) {
        ensure_ws(c)->in_fragmented = in_frag;
        ws_run(c, p + group, off - group);
    } else if (c->state == CLIENT_CLOSING && peer_close) {
        /* Our close went first; this is the reply: the handshake is done. */
        c->flags |= CLIENT_F_FLUSH_CLOSE;
        worker_mark_dirty(c->w, c);
    }
    if (c->state == CLIENT_CLOSED)
        return;
    if (fail) {
        if (c->state == CLIENT_OPEN) /* not closed by the frames before */
            fail_connection(c, (uint16_t)fail, why);
        off = n; /* nothing after a bad frame can be framed reliably */
    }

    size_t rest = n - off;
    if (from_partial) {
        buf_consume(&c->ws->partial, off);
    } else if (rest) {
        buf_append(&ensure_ws(c)->partial, p + off, rest);
    }

    /* Release working state at a message boundary. */
    struct wsconn *ws = c->ws;
    if (!ws)
        return;
    if (ws->ctx && (c->state != CLIENT_OPEN ||
                    (!ws->in_fragmented && buf_readable(&ws->partial) == 0 &&
                     wslay_event_get_queued_msg_count(ws->ctx) == 0))) {
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
        ws->in_fragmented = 0;
    }
    if (!ws->ctx && buf_readable(&ws->partial) == 0)
        free_ws(c);
}

/* ---- messages ---------------------------------------------------------- */

static void handle_sub(struct client *c, const struct client_msg *m)
{
    struct worker *w = c->w;
    struct topic *t = NULL;
    char reason[120];
    int r = topic_subscribe(w, c, m->topic, m->topic_len, (uint32_t)w->policy.max_subscriptions,
                            (uint32_t)w->policy.worker_max_topics, &t);
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
    if (!m->has_id)
        return;
    /* Acked once the hub holds the topic for us (or refused with 429). */
    if (t->add_id)
        topic_wait(t, c, m->id);
    else
        client_send_ack(c, m->id);
}

static void handle_send(struct client *c, const struct client_msg *m, const char *from)
{
    struct worker *w = c->w;
    const char *user = auth_identity_user(client_identity(c));
    uint64_t seq;
    if (worker_conn_is_local(w, m->to, m->to_len, &seq)) {
        struct client *t = worker_find_client(w, seq);
        if (!t || t->state != CLIENT_OPEN) {
            client_send_error(c, m->has_id, m->id, CODE_NOT_FOUND, "unknown connection");
            return;
        }
        struct buf *b = &w->scratch;
        buf_reset(b);
        int rc = msg_build_direct(b, (enum enc)t->enc, from, strlen(from), user,
                                  user ? strlen(user) : 0, (enum enc)c->enc, m->data,
                                  m->data_len, msg_render_budget(w->policy.max_message_bytes));
        if (rc < 0) {
            client_send_error(c, m->has_id, m->id, CODE_BAD_REQUEST,
                              rc == MSG_DATA_OVER_BUDGET
                                  ? "data too large for the target's encoding"
                                  : "invalid data");
            return;
        }
        client_send_payload(t, buf_head(b), buf_readable(b));
        if (m->has_id)
            client_send_ack(c, m->id);
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
        int r = sends_add(&w->sends, c, m->id);
        if (r == -1) {
            client_send_error(c, 1, m->id, CODE_CONFLICT,
                              "a send with this id is still waiting for its answer");
            return;
        }
        if (r == -2) {
            char reason[96];
            snprintf(reason, sizeof reason, "too many sends waiting for an answer (%ld)",
                     w->policy.max_pending_sends);
            client_send_error(c, 1, m->id, CODE_LIMIT, reason);
            return;
        }
    }
    uplink_direct(w->up, m->to, m->to_len, from, user, m->has_id, m->id, (enum enc)c->enc,
                  m->data, m->data_len);
}

/* Token bucket: rate_limit messages per second, rate_burst at once. Returns
 * 1 if the message may proceed. Refusals beyond rate_burst within
 * RATE_WINDOW_MS close the connection (1008): persistent abuse. */
static int rate_allows(struct client *c, const struct msg_error *idinfo, int has_id, int64_t id)
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
    if (now - c->rl_window > RATE_WINDOW_MS) {
        c->rl_window = now;
        c->rl_strikes = 0;
    }
    if (++c->rl_strikes > (uint32_t)p->rate_burst) {
        char cid[CONN_ID_MAX_LEN];
        w->stats.closed_rate++;
        log_info("conn %s: closed: over the rate limit of %ld/s for %u messages", conn_id(c, cid, sizeof cid),
                 p->rate_limit, c->rl_strikes);
        client_close(c, 1008, "rate limit exceeded");
        return 0;
    }
    client_send_error(c, has_id, id, CODE_LIMIT, "rate limit exceeded: message dropped");
    return 0;
}

static void handle_message(struct client *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct worker *w = c->w;
    struct client_msg m;
    struct msg_error err;
    char from[CONN_ID_MAX_LEN];

    w->stats.msgs_in++;
    /* A client message, whatever it says, is activity: O(1), no timer call. */
    deadline_add(&w->idle, &c->idle);
    if ((opcode == WSLAY_TEXT_FRAME) != (c->enc == ENC_JSON)) {
        client_send_error(c, 0, 0, CODE_BAD_REQUEST,
                          c->enc == ENC_JSON ? "spoke.json expects text frames"
                                             : "spoke.msgpack expects binary frames");
        return;
    }
    if (msg_parse(w->parser, (enum enc)c->enc, p, n, &m, &err) < 0) {
        if (rate_allows(c, &err, err.has_id, err.id))
            client_send_error(c, err.has_id, err.id, err.code, err.reason);
        return;
    }
    if (!rate_allows(c, &err, m.has_id, m.id))
        return;
    switch (m.op) {
    case OP_PING:
        buf_reset(&w->scratch);
        msg_build_pong(&w->scratch, (enum enc)c->enc, m.has_id, m.id);
        client_send_payload(c, buf_head(&w->scratch), buf_readable(&w->scratch));
        return;
    case OP_SUB:
        if (!auth_may_subscribe(edge_auth(w->cfg), client_identity(c), m.topic, m.topic_len)) {
            w->stats.forbidden++;
            client_send_error(c, m.has_id, m.id, CODE_FORBIDDEN,
                              "not allowed to subscribe to this topic");
            return;
        }
        handle_sub(c, &m);
        return;
    case OP_UNSUB:
        topic_unsubscribe(w, c, m.topic, m.topic_len);
        break;
    case OP_PUB:
        if (!auth_may_publish(edge_auth(w->cfg), client_identity(c), m.topic, m.topic_len)) {
            w->stats.forbidden++;
            client_send_error(c, m.has_id, m.id, CODE_FORBIDDEN,
                              "not allowed to publish to this topic");
            return;
        }
        conn_id(c, from, sizeof from);
        if (uplink_publish(w->up, m.topic, m.topic_len, from,
                           auth_identity_user(client_identity(c)), (enum enc)c->enc, m.data,
                           m.data_len) < 0) {
            client_send_error(c, m.has_id, m.id, CODE_UNAVAILABLE,
                              "hub unavailable: message not published");
            return;
        }
        break;
    case OP_SEND:
        conn_id(c, from, sizeof from);
        handle_send(c, &m, from);
        return;
    }
    if (m.has_id)
        client_send_ack(c, m.id);
}

/* ---- input ------------------------------------------------------------- */

static void finish_handshake(struct client *c, const uint8_t *rest, size_t n, enum enc enc)
{
    struct worker *w = c->w;
    char id[CONN_ID_MAX_LEN];
    handshake_free(c->hs);
    c->hs = NULL;
    c->enc = (uint8_t)enc;
    c->state = CLIENT_OPEN;
    deadline_add(&w->ping, &c->deadline); /* leaves the handshake list */
    deadline_add(&w->idle, &c->idle);
    c->rl_tokens = (float)w->policy.rate_burst;
    c->rl_stamp = (uint32_t)((ev_now(w->loop) - w->started) * 1000.0);
    conn_id(c, id, sizeof id);
    buf_reset(&w->scratch);
    msg_build_welcome(&w->scratch, enc, id, w->cfg->name, w->cfg->region, &w->policy,
                      auth_identity_user(client_identity(c)));
    client_send_payload(c, buf_head(&w->scratch), buf_readable(&w->scratch));
    log_debug("conn %s: open (%s)", id, enc == ENC_JSON ? "spoke.json" : "spoke.msgpack");
    if (n)
        process(c, rest, n, 0);
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
        struct auth_identity *who = NULL;
        if (r == HANDSHAKE_DONE && admission_check(w, c->hs, resp, &who, &why) < 0)
            r = HANDSHAKE_FAILED;
        if (who) {
            if (!c->access)
                c->access = xcalloc(1, sizeof *c->access);
            c->access->id = who;
        }
        queue_frame(c, frame_raw(buf_head(resp), buf_readable(resp)));
        if (r == HANDSHAKE_FAILED) {
            char id[CONN_ID_MAX_LEN];
            log_info("conn %s: upgrade refused: %s", conn_id(c, id, sizeof id), why);
            handshake_free(c->hs);
            c->hs = NULL;
            enter_closing(c);
            c->flags |= CLIENT_F_FLUSH_CLOSE;
            return;
        }
        finish_handshake(c, p + used, n - used, enc);
        return;
    }
    if (c->state == CLIENT_OPEN || c->state == CLIENT_CLOSING)
        ws_input(c, p, n, from_partial);
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
    if (transport_is_plain_http(c)) {
        refuse_plain_http(c);
        return;
    }
    while (budget && c->state != CLIENT_CLOSED) {
        struct wsconn *ws = c->ws;
        int partial = ws && buf_readable(&ws->partial) > 0;
        uint8_t *dst;
        size_t cap;
        if (partial) {
            buf_reserve(&ws->partial, 16 * 1024);
            dst = buf_tail(&ws->partial);
            cap = buf_writable(&ws->partial);
        } else {
            dst = w->rbuf;
            cap = WORKER_READ_BUF;
        }
        ssize_t r = transport_read(c, dst, cap);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EPROTO && c->ssl) {
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
            client_terminate(c, c->state == CLIENT_CLOSING ? "closed" : "peer went away without a close frame");
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
            buf_commit(&ws->partial, (size_t)r);
            process(c, buf_head(&ws->partial), buf_readable(&ws->partial), 1);
        } else {
            process(c, dst, (size_t)r, 0);
        }
        if ((size_t)r < cap && !transport_has_pending(c))
            return; /* drained; level-triggered epoll wakes us for more */
    }
    /* Out of budget: the socket wakes us again, but bytes TLS already
     * decrypted would not. */
    if (c->state != CLIENT_CLOSED && transport_has_pending(c))
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
