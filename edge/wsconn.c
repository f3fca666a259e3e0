/* WebSocket frames in: see wsconn.h. */
#include "edge/wsconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "common/pmdcodec.h"
#include "common/utf8.h"
#include "common/wsframe.h"
#include "common/xalloc.h"
#include "edge/edge.h"

/* Per-connection WebSocket working state, present only while a frame or a
 * fragmented message is in flight (see wsconn.h). */
struct wsconn {
    wslay_event_context_ptr ctx; /* NULL until a complete frame must be processed */
    struct buf partial;          /* bytes of an incomplete frame */
    const uint8_t *feed;         /* complete frames wslay may take now */
    size_t feed_len;
    uint8_t in_fragmented; /* wslay holds the first parts of a message */
    const struct wsconn_events *ev;
};

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
 * same code goes out with a reason. Frames are judged before wslay sees
 * them (wsconn_input), so what is left here is invalid UTF-8 in a text
 * message (1007) and a message over max_message_bytes (1009). */
static struct frame *wslay_error_close(const uint8_t *f, size_t len)
{
    /* Server frames are unmasked and control payloads under 126 bytes: the
     * payload starts at f[2]. */
    uint16_t code = len >= 4 ? (uint16_t)(f[2] << 8 | f[3]) : WS_CLOSE_PROTOCOL_ERROR;
    const char *why = code == WS_CLOSE_INVALID_DATA ? "invalid UTF-8 in a text message"
                      : code == 1009                ? "message too big"
                                                    : "protocol error";
    if (!ws_close_code_may_send(code))
        code = WS_CLOSE_PROTOCOL_ERROR;
    return frame_close(code, why);
}

/* wslay's own frames (pongs, close replies) join the connection's queue,
 * so frames never interleave; wslay hands a frame over in pieces (header
 * with WSLAY_MSG_MORE, then payload), gathered in w->wsout. */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user_data)
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
        c->ws->ev->queue(c, f);
    }
    return (ssize_t)len;
}

/* A compressed message (RSV1 on its first frame, permessage-deflate
 * negotiated: wsconn_input let nothing else through) is inflated with the
 * worker's codec into at most max_message_bytes, the limit counting
 * inflated bytes; a text message is checked for UTF-8 once inflated, since
 * wslay does not look inside compressed ones (LIBRARIES.md §2). */
static void inflate_message(struct client *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    const struct wsconn_events *ev = c->ws->ev;
    const uint8_t *msg = NULL;
    size_t len = 0;
    int r = pmd_inflate(c->w->pmd, p, n, (size_t)c->w->policy.max_message_bytes, &msg, &len);
    if (r == PMD_TOO_BIG)
        ev->failed(c, 1009, "message too big once inflated", 0, 0);
    else if (r != PMD_INFLATED)
        ev->failed(c, WS_CLOSE_PROTOCOL_ERROR,
                   "invalid compressed message (each must stand alone: no context takeover)", 0, 0);
    else if (opcode == WSLAY_TEXT_FRAME && !utf8_is_valid(msg, len))
        ev->failed(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a text message", 0, 0);
    else
        ev->message(c, opcode, msg, len);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user_data)
{
    struct client *c = user_data;
    if (c->state != CLIENT_OPEN)
        return;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;
    if (wslay_get_rsv1(arg->rsv))
        inflate_message(c, arg->opcode, arg->msg, arg->msg_length);
    else
        c->ws->ev->message(c, arg->opcode, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

static struct wsconn *ensure_ws(struct client *c, const struct wsconn_events *ev)
{
    if (!c->ws) {
        c->ws = xcalloc(1, sizeof *c->ws);
        buf_init(&c->ws->partial);
    }
    c->ws->ev = ev;
    return c->ws;
}

static wslay_event_context_ptr ensure_ctx(struct client *c)
{
    struct wsconn *ws = c->ws;
    if (!ws->ctx) {
        if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, c) != 0) {
            fprintf(stderr, "fatal: out of memory creating a wslay context\n");
            abort();
        }
        /* wslay allocates whatever length a frame header declares: cap it
         * before it sees a single byte (LIBRARIES.md §2). */
        wslay_event_config_set_max_recv_msg_length(ws->ctx,
                                                   (uint64_t)c->w->policy.max_message_bytes);
        /* RSV1 marks a compressed message (RFC 7692 §6); wsconn_input has
         * judged where it may appear before wslay sees it. */
        if (c->flags & CLIENT_F_DEFLATE)
            wslay_event_config_set_allowed_rsv_bits(ws->ctx, WSLAY_RSV1_BIT);
    }
    return ws->ctx;
}

void wsconn_free(struct client *c)
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

struct buf *wsconn_partial(struct client *c)
{
    return c->ws && buf_readable(&c->ws->partial) ? &c->ws->partial : NULL;
}

/* Gives wslay complete frames p[0, n) and queues what it sends in reply. */
static void ws_run(struct client *c, const uint8_t *p, size_t n, uint8_t in_frag,
                   const struct wsconn_events *ev)
{
    ensure_ws(c, ev)->in_fragmented = in_frag;
    wslay_event_context_ptr ctx = ensure_ctx(c);
    c->ws->feed = p;
    c->ws->feed_len = n;
    int r = wslay_event_recv(ctx);
    c->ws->feed_len = 0;
    wslay_event_send(ctx); /* only appends to our queue: cannot block */
    if (c->state == CLIENT_CLOSED)
        return;
    if (wslay_event_get_close_received(ctx)) {
        /* The peer closed; wslay echoed its close frame. */
        ev->closed(c, wslay_event_get_status_code_received(ctx));
    } else if (r != 0 || wslay_event_get_close_sent(ctx)) {
        /* wslay refused the input (1002 protocol, 1007 UTF-8, 1009 size);
         * if it gave up on the stream (r != 0), do not wait for a reply. */
        uint16_t code = wslay_event_get_close_sent(ctx) ? wslay_event_get_status_code_sent(ctx)
                                                        : WS_CLOSE_PROTOCOL_ERROR;
        if (!ws_close_code_may_send(code)) /* as wslay_error_close put it on the wire */
            code = WS_CLOSE_PROTOCOL_ERROR;
        ev->failed(c, code,
                   code == WS_CLOSE_INVALID_DATA ? "invalid UTF-8"
                   : code == 1009                ? "message too big"
                                                 : "protocol error",
                   1, r == 0);
    }
}

/* Answers a client's ping (a complete frame at f that passed
 * ws_frame_check) without wslay, which would allocate a message for each.
 * Pongs piling up for a client that pings faster than it reads are answered
 * for the latest ping only (RFC 6455 §5.5.3 allows it): an unwritten pong
 * of the same length at the end of the queue takes the new payload in place,
 * so a ping flood costs no memory and no allocation per ping. */
static void answer_ping(struct client *c, const uint8_t *f, const struct ws_frame_info *fi,
                        const struct wsconn_events *ev)
{
    uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
    size_t n = ws_control_payload(f, fi, payload);
    struct frame *last = sendq_last_unstarted(&c->q);
    if (last && last->refs == 1 && last->len == 2 + n && last->data[0] == (0x80 | WS_OP_PONG)) {
        memcpy(last->data + 2, payload, n);
        return;
    }
    ev->queue(c, frame_build(WS_OP_PONG, payload, n));
}

/* Frees the working state at a message boundary. */
static void release_at_boundary(struct client *c)
{
    struct wsconn *ws = c->ws;
    if (!ws)
        return;
    if (ws->ctx &&
        (c->state != CLIENT_OPEN || (!ws->in_fragmented && buf_readable(&ws->partial) == 0 &&
                                     wslay_event_get_queued_msg_count(ws->ctx) == 0))) {
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
        ws->in_fragmented = 0;
    }
    if (!ws->ctx && buf_readable(&ws->partial) == 0)
        wsconn_free(c);
}

/* While the connection is open each frame is judged first (ws_frame_check
 * as soon as its header is in, so a bad header never waits for its
 * payload; ws_close_check once a close frame is whole). */
void wsconn_input(struct client *c, const uint8_t *p, size_t n, int from_partial,
                  const struct wsconn_events *ev)
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
            fail = ws_frame_check(&fi, in_frag, c->flags & CLIENT_F_DEFLATE, &why);
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
            if (off > group)
                ws_run(c, p + group, off - group, in_frag, ev);
            if (c->state == CLIENT_OPEN)
                answer_ping(c, p + off, &fi, ev);
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
        ws_run(c, p + group, off - group, in_frag, ev);
    } else if (c->state == CLIENT_CLOSING && peer_close) {
        ev->closed(c, 0); /* our close went first; this is the reply */
    }
    if (c->state == CLIENT_CLOSED)
        return;
    if (fail) {
        if (c->state == CLIENT_OPEN) /* not closed by the frames before */
            ev->failed(c, (uint16_t)fail, why, 0, 0);
        off = n; /* nothing after a bad frame can be framed reliably */
    }

    size_t rest = n - off;
    if (from_partial)
        buf_consume(&c->ws->partial, off);
    else if (rest)
        buf_append(&ensure_ws(c, ev)->partial, p + off, rest);
    release_at_boundary(c);
}
