/* Client WebSocket connections for the load generator: non-blocking connect
 * (optionally from a chosen source address), the HTTP upgrade, reading server
 * frames in big chunks through one shared buffer, and writes batched per loop
 * iteration.
 *
 * Memory: a connection holds no buffer while idle. Input is read into the
 * process's shared 1 MiB buffer and parsed in place; only a partial frame (or,
 * for NATS, a partial protocol operation) left at the end of a read is copied
 * out to a `pend` block, from a pool, and copied back in front of the next
 * read. Output is appended to the connection's `out` buffer and written once
 * per loop iteration by the ev_prepare watcher; EV_WRITE is armed only while
 * the socket refuses bytes.
 *
 * wss (tlsclient.c) runs the same path: the TLS handshake sits between the
 * TCP connect and the upgrade (CS_TLS), SSL_read decrypts into the shared
 * buffer and SSL_write encrypts from `out`. Two differences: a TLS read may
 * need the socket writable and a TLS write may need it readable (tls_rww,
 * tls_wwr), and OpenSSL may hold input that epoll will not report, so a TLS
 * read goes on while OpenSSL has bytes pending.
 *
 * --deflate offers permessage-deflate with no context takeover either way
 * (RFC 7692 §7.1.1). Where the server's answer accepts it, RSV1 messages are
 * inflated (raw inflate of the payload plus the 00 00 ff ff the sender
 * dropped, §7.2.2) into one process-wide buffer bounded like the read
 * buffer, and the roles see the plain message. One z_stream serves every
 * connection, reset per message, so idle connections hold no zlib state.
 * Compressed messages are kept with their inflated form (lg->zcache): the
 * same bytes reaching another subscriber of the process are not inflated
 * again, so one generator can keep up with an edge that compresses once for
 * all of them. */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/net.h"
#include "common/wsframe.h"
#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

/* Partial input: [0, stream) is unwrapped NATS stream bytes, [stream, len)
 * raw bytes of an incomplete frame (or of the HTTP response). */
struct pend {
    struct pend *next;
    uint32_t len, stream, cap;
    uint8_t data[];
};

#define PEND_SMALL 4096u
#define TLS_RECORD_MAX 16384u /* RFC 8446 §5.1: the most plaintext a record carries */
#define PEND_POOL_MAX 4096u
#define HTTP_MAX 8192u

/* RFC 6455 §1.3: any 16 random bytes, base64; the server's Accept value is
 * not checked (the 101 status line is enough for a load generator). */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="

uint64_t now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- partial input blocks */

static struct pend *pend_get(struct lg *lg, size_t n)
{
    struct pend *p;
    if (n <= PEND_SMALL && lg->pend_free) {
        p = lg->pend_free;
        lg->pend_free = p->next;
        lg->pend_nfree--;
        return p;
    }
    uint32_t cap = n <= PEND_SMALL ? PEND_SMALL : (uint32_t)n;
    p = xmalloc(sizeof *p + cap);
    p->cap = cap;
    return p;
}

static void pend_put(struct lg *lg, struct pend *p)
{
    if (p->cap == PEND_SMALL && lg->pend_nfree < PEND_POOL_MAX) {
        p->next = lg->pend_free;
        lg->pend_free = p;
        lg->pend_nfree++;
        return;
    }
    free(p);
}

/* ---- output */

static void set_events(struct conn *c, int events)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&c->io))
        return;
    ev_io_stop(c->lg->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(c->lg->loop, &c->io);
}

struct buf *conn_out(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->dirty_next = c->lg->dirty;
        c->lg->dirty = c;
    }
    return &c->out;
}

struct buf *conn_frame(struct conn *c, uint8_t opcode, size_t n)
{
    struct buf *b = conn_out(c);
    buf_reserve(b, WS_MAX_HEADER + n);
    uint8_t *h = buf_tail(b);
    size_t hl = ws_frame_header(h, opcode, n);
    h[1] |= 0x80; /* MASK bit; the key 0x00000000 leaves the payload as is */
    memset(h + hl, 0, 4);
    buf_commit(b, hl + 4);
    return b;
}

/* Writes what c has queued. One send() per connection per iteration: the
 * whole batch leaves in one syscall unless the socket buffer is full. */
static void conn_flush(struct conn *c)
{
    size_t n = buf_readable(&c->out);
    if (c->state < CS_UPGRADING || c->state > CS_OPEN)
        return;
    if (n) {
        ssize_t w = c->ssl ? tlsc_write(c, buf_head(&c->out), n)
                           : send(c->io.fd, buf_head(&c->out), n, MSG_NOSIGNAL);
        if (w < 0) {
            if (c->ssl || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                c->lg->proto_errors++;
                conn_close(c, "write failed");
                return;
            }
            w = 0;
        }
        buf_consume(&c->out, (size_t)w);
        n -= (size_t)w;
        if (n && c->ssl && c->tls_want == EV_READ) {
            c->tls_wwr = 1; /* retried by the next EV_READ, not EV_WRITE */
            return;
        }
    }
    if (n) {
        if (!c->writing) {
            c->writing = 1;
            set_events(c, EV_READ | EV_WRITE);
        }
        return;
    }
    if (!c->keep_out)
        buf_deinit(&c->out);
    if (c->writing && !c->tls_rww) {
        c->writing = 0;
        set_events(c, EV_READ);
    }
}

void ws_flush_all(struct lg *lg)
{
    /* Closing a connection can restart it (churn), which queues output onto a
     * fresh list: loop until nothing is left, so no write waits for a poll. */
    while (lg->dirty) {
        struct conn *c = lg->dirty;
        lg->dirty = NULL;
        while (c) {
            struct conn *next = c->dirty_next;
            c->dirty = 0;
            if (!c->writing)
                conn_flush(c);
            c = next;
        }
    }
}

/* ---- connection lifecycle */

void conn_close(struct conn *c, const char *why)
{
    struct lg *lg = c->lg;
    if (c->state == CS_IDLE || c->state == CS_CLOSED)
        return;
    ev_io_stop(lg->loop, &c->io);
    if (c->ssl)
        tlsc_close(c, !c->rst); /* no close_notify before an RST */
    if (c->rst) {
        struct linger l = {1, 0};
        setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->io.fd);
    if (c->pend) {
        pend_put(lg, c->pend);
        c->pend = NULL;
    }
    buf_deinit(&c->out);
    c->writing = c->tls_rww = c->tls_wwr = 0;
    c->state = CS_CLOSED;
    c->gen++;
    if (c->counted) {
        c->counted = 0;
        lg->inflight--;
    }
    lg->ops->on_close(c, why);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

int conn_start(struct conn *c)
{
    struct lg *lg = c->lg;
    uint64_t k = lg->attempts++;
    unsigned base = 0, nu = lg->o.nurls;
    if (c->alt_urls && lg->o.nrurls) {
        base = lg->o.nurls;
        nu = lg->o.nrurls;
    }
    unsigned ui = base + (unsigned)(k % nu);
    const struct lg_url *u = &lg->o.urls[ui];
    int one = 1;

    int fd = socket(u->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "spoke-loadgen: socket: %s\n", strerror(errno));
        c->state = CS_CLOSED;
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (lg->rx_timestamps) {
        int ts = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
        if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &ts, sizeof ts) < 0)
            lg->rx_timestamps = 0; /* fall back to the time of the read */
    }
    if (lg->o.nsrc) {
        /* Bind the address only; the port is chosen at connect() time for the
         * full 4-tuple, so each source address offers the whole port range. */
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = lg->o.src_ips[k % lg->o.nsrc]};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
            fprintf(stderr, "spoke-loadgen: bind %s: %s\n", inet_ntoa(sin.sin_addr),
                    strerror(errno));
            close(fd);
            c->state = CS_CLOSED;
            return -1;
        }
    }
    c->state = CS_CONNECTING;
    c->url_idx = (uint16_t)ui;
    c->writing = 0;
    c->counted = 1;
    lg->inflight++;
    ev_io_init(&c->io, io_cb, fd, EV_WRITE);
    ev_io_start(lg->loop, &c->io);
    if (connect(fd, (struct sockaddr *)&u->ss, u->sslen) < 0 && errno != EINPROGRESS) {
        /* Report through on_close like any later failure (e.g. EADDRNOTAVAIL). */
        lg->proto_errors++;
        conn_close(c, errno == EADDRNOTAVAIL ? "connect: no free local port" : "connect failed");
    }
    return 0;
}

static void send_upgrade(struct conn *c)
{
    const struct lg_url *u = &c->lg->o.urls[c->url_idx];
    struct buf *b = conn_out(c);
    buf_printf(b,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n",
               u->path, u->hostport);
    if (c->lg->o.deflate) /* RFC 7692 §7.1 */
        buf_append_str(b, "Sec-WebSocket-Extensions: permessage-deflate; "
                          "client_no_context_takeover; server_no_context_takeover\r\n");
    if (c->lg->o.proto == PROTO_SPOKE)
        buf_printf(b, "Sec-WebSocket-Protocol: %s\r\n",
                   c->lg->o.enc == ENC_MSGPACK ? "spoke.msgpack" : "spoke.json");
    buf_append_str(b, "\r\n");
}

/* ---- input */

static void keep_pending(struct conn *c, const uint8_t *stream, size_t slen, const uint8_t *raw,
                         size_t rlen)
{
    if (slen + rlen == 0)
        return;
    if (slen + rlen >= LG_READ_BUF - 65536) {
        c->lg->proto_errors++;
        conn_close(c, "message larger than the read buffer");
        return;
    }
    struct pend *p = pend_get(c->lg, slen + rlen);
    memcpy(p->data, stream, slen);
    memcpy(p->data + slen, raw, rlen);
    p->stream = (uint32_t)slen;
    p->len = (uint32_t)(slen + rlen);
    c->pend = p;
}

/* Inflates one RSV1 message (RFC 7692 §7.2.2). Returns its length in
 * lg->zbuf, or -1 if it is corrupt or larger than the bound. */
static long inflate_msg(struct lg *lg, const uint8_t *p, size_t n)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *zs = lg->zs;
    size_t cap = LG_READ_BUF - 65536;

    if (!zs) {
        zs = xcalloc(1, sizeof *zs);
        if (inflateInit2(zs, -15) != Z_OK)
            lg_fatal("inflateInit2 failed");
        lg->zs = zs;
        lg->zbuf = xmalloc(LG_READ_BUF);
    } else {
        inflateReset(zs);
    }
    zs->next_out = lg->zbuf;
    zs->avail_out = (uInt)cap;
    for (int pass = 0; pass < 2; pass++) {
        zs->next_in = pass ? (Bytef *)tail : (Bytef *)p;
        zs->avail_in = pass ? 4 : (uInt)n;
        while (zs->avail_in) {
            int r = inflate(zs, Z_SYNC_FLUSH);
            if (r == Z_STREAM_END)
                break;
            if (r != Z_OK || zs->avail_out == 0)
                return -1;
        }
    }
    return (long)(cap - zs->avail_out);
}

/* inflate_msg through lg->zcache: returns the message's length and points
 * *out at it, or -1 as inflate_msg. */
static long inflate_cached(struct lg *lg, const uint8_t *p, size_t n, const uint8_t **out)
{
    uint64_t h = 1469598103934665603ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    if (!lg->zcache)
        lg->zcache = xcalloc(LG_ZCACHE, sizeof *lg->zcache);
    struct lg_zcache *e = &lg->zcache[(h ^ h >> 29) % LG_ZCACHE];
    if (e->z && e->zlen == n && memcmp(e->z, p, n) == 0) {
        lg->zcache_hits++;
        *out = e->plain;
        return (long)e->plen;
    }
    long zl = inflate_msg(lg, p, n);
    if (zl < 0)
        return -1;
    free(e->z);
    free(e->plain);
    e->z = xmalloc(n ? n : 1);
    memcpy(e->z, p, n);
    e->zlen = (uint32_t)n;
    e->plain = xmalloc(zl ? (size_t)zl : 1);
    memcpy(e->plain, lg->zbuf, (size_t)zl);
    e->plen = (uint32_t)zl;
    *out = e->plain;
    return zl;
}

void ws_append_deflate(struct buf *b, const struct lg *lg)
{
    buf_printf(b,
               ",\"deflate\":{\"offered\":%s,\"negotiated\":%s,\"accepted\":%" PRIu64
               ",\"declined\":%" PRIu64 ",\"wire_payload_bytes\":%" PRIu64
               ",\"inflated_bytes\":%" PRIu64 ",\"compressed_msgs\":%" PRIu64
               ",\"inflate_cache_hits\":%" PRIu64 "}",
               lg->o.deflate ? "true" : "false", lg->deflate_accepted ? "true" : "false",
               lg->deflate_accepted, lg->deflate_declined, lg->wire_payload_bytes,
               lg->inflated_bytes, lg->compressed_msgs, lg->zcache_hits);
}

/* Walks the frames in rb[p, have). Spoke messages are handled frame by frame;
 * NATS payloads are unwrapped in place into one stream after the `stream`
 * bytes already pending, then parsed as a whole. */
static void process_frames(struct conn *c, uint8_t *rb, size_t stream, size_t p, size_t have,
                           uint64_t now)
{
    struct lg *lg = c->lg;
    uint32_t gen = c->gen;
    size_t w = stream;
    int nats = lg->o.proto == PROTO_NATS;

    for (;;) {
        struct ws_frame_info fi;
        long fl = ws_frame_scan(rb + p, have - p, LG_READ_BUF - 65536, &fi);
        if (fl == 0)
            break;
        if (fl < 0 || fi.masked) { /* RFC 6455 §5.1: server frames are never masked */
            lg->proto_errors++;
            conn_close(c, fl < 0 ? "frame too large" : "masked server frame");
            return;
        }
        /* RFC 7692 §6: RSV1 only on the first frame of a data message, and
         * only once negotiated; RSV2/RSV3 never. */
        if ((fi.rsv & 0x40 && (!c->deflate || fi.opcode >= WS_OP_CLOSE || nats)) || fi.rsv & 0x30) {
            lg->proto_errors++;
            conn_close(c, "unexpected RSV bits");
            return;
        }
        uint8_t *payload = rb + p + fi.header_len;
        size_t plen = (size_t)fi.payload_len;
        p += (size_t)fl;
        switch (fi.opcode) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
        case WS_OP_CONT:
            if (nats) {
                memmove(rb + w, payload, plen);
                w += plen;
            } else if (!fi.fin || fi.opcode == WS_OP_CONT) {
                lg->proto_errors++;
                conn_close(c, "fragmented spoke message (not supported)");
                return;
            } else if (fi.rsv & 0x40) {
                const uint8_t *msg;
                long zl = inflate_cached(lg, payload, plen, &msg);
                if (zl < 0) {
                    lg->proto_errors++;
                    conn_close(c, "bad or oversized compressed message");
                    return;
                }
                lg->wire_payload_bytes += plen;
                lg->inflated_bytes += (uint64_t)zl;
                lg->compressed_msgs++;
                spoke_on_message(c, msg, (size_t)zl, now);
                if (c->gen != gen)
                    return;
            } else {
                lg->wire_payload_bytes += plen;
                lg->inflated_bytes += plen;
                spoke_on_message(c, payload, plen, now);
                if (c->gen != gen)
                    return;
            }
            break;
        case WS_OP_PING: { /* RFC 6455 §5.5.3: answer with the same payload */
            struct buf *b = conn_frame(c, WS_OP_PONG, plen);
            buf_append(b, payload, plen);
            break;
        }
        case WS_OP_PONG: break;
        case WS_OP_CLOSE: {
            uint16_t code = plen >= 2 ? (uint16_t)(payload[0] << 8 | payload[1]) : 0;
            for (unsigned i = 0; i < sizeof lg->close_codes / sizeof lg->close_codes[0]; i++) {
                if (lg->close_codes[i].n == 0 || lg->close_codes[i].code == code) {
                    lg->close_codes[i].code = code;
                    lg->close_codes[i].n++;
                    break;
                }
            }
            lg->server_closes++;
            /* on_close may want the code and when the close arrived (resume.c) */
            lg->close_code = code;
            lg->close_now = now;
            conn_close(c, code == 1008   ? "closed by the server: 1008 (slow consumer)"
                          : code == 1009 ? "closed by the server: 1009 (message too big)"
                          : code == 1001 ? "closed by the server: 1001 (going away)"
                                         : "closed by the server (close frame)");
            lg->close_code = 0;
            lg->close_now = 0;
            return;
        }
        default:
            lg->proto_errors++;
            conn_close(c, "unknown opcode");
            return;
        }
    }
    size_t used = 0;
    if (nats) {
        long r = nats_on_stream(c, rb, w, now);
        if (c->gen != gen)
            return;
        if (r < 0) {
            lg->proto_errors++;
            conn_close(c, "NATS protocol error");
            return;
        }
        used = (size_t)r;
    }
    keep_pending(c, rb + used, w - used, rb + p, have - p);
}

/* Checks the upgrade response in rb[0, have). Returns the offset of the first
 * byte after the headers, 0 if incomplete, or -1 (connection closed). */
static long parse_upgrade(struct conn *c, const uint8_t *rb, size_t have)
{
    const uint8_t *end = memmem(rb, have, "\r\n\r\n", 4);
    if (!end) {
        if (have >= HTTP_MAX) {
            c->lg->proto_errors++;
            conn_close(c, "upgrade response too long");
            return -1;
        }
        return 0;
    }
    if ((size_t)(end - rb) > HTTP_MAX) { /* also bounds the copy for --deflate below */
        c->lg->proto_errors++;
        conn_close(c, "upgrade response too long");
        return -1;
    }
    if (have < 12 || memcmp(rb, "HTTP/1.1 101", 12) != 0) {
        const uint8_t *eol = memchr(rb, '\r', have);
        fprintf(stderr, "spoke-loadgen: upgrade refused: %.*s\n", (int)(eol - rb),
                (const char *)rb);
        c->lg->proto_errors++;
        conn_close(c, "upgrade refused");
        return -1;
    }
    c->state = CS_OPEN;
    c->deflate = 0;
    if (c->lg->o.deflate) {
        /* The answer names the extension only if it was accepted (RFC 7692 §5). */
        char hdr[HTTP_MAX + 1];
        size_t hl = (size_t)(end - rb);
        memcpy(hdr, rb, hl);
        hdr[hl] = 0;
        const char *x = strcasestr(hdr, "\r\nSec-WebSocket-Extensions:");
        const char *eol = x ? strstr(x + 2, "\r\n") : NULL;
        if (x && (!eol || memmem(x, (size_t)(eol - x), "permessage-deflate", 18)))
            c->deflate = 1;
        if (c->deflate)
            c->lg->deflate_accepted++;
        else
            c->lg->deflate_declined++;
    }
    return (long)(end + 4 - rb);
}

/* The kernel's receive stamp `rt` (CLOCK_REALTIME) as CLOCK_MONOTONIC, using
 * the current offset between the clocks; `now` if it makes no sense. */
static uint64_t rx_to_mono(uint64_t rt, uint64_t now)
{
    uint64_t off = now_real_ns() - now;
    return rt > off && rt - off <= now ? rt - off : now;
}

/* Handles rb[0, have) after a read: [0, stream) is pending NATS stream,
 * then the upgrade response (while upgrading) and frames. */
static void conn_input(struct conn *c, uint8_t *rb, size_t stream, size_t have, uint64_t now)
{
    size_t p = stream;
    if (c->state == CS_UPGRADING) {
        long off = parse_upgrade(c, rb, have);
        if (off < 0)
            return;
        if (off == 0) {
            keep_pending(c, NULL, 0, rb, have);
            return;
        }
        p = (size_t)off;
    }
    process_frames(c, rb, stream, p, have, now);
}

/* wss: SSL_read until OpenSSL holds nothing more; the socket is read at
 * most once per record batch, as the plain path reads once per wake-up.
 * Further passes only when OpenSSL holds more than the read buffer takes. */
static void conn_read_tls(struct conn *c)
{
    struct lg *lg = c->lg;
    uint8_t *rb = lg->rbuf;
    uint32_t gen = c->gen;

    lg->tls_rx_real = 0; /* set by each socket read (tlsclient.c) */
    for (;;) {
        /* Decrypt behind the pending bytes and copy those in front only if
         * something arrived. */
        size_t have = c->pend ? c->pend->len : 0, got = 0;
        long r = 0;
        while (LG_READ_BUF - have - got >= TLS_RECORD_MAX) {
            r = tlsc_read(c, rb + have + got, LG_READ_BUF - have - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            if (!tlsc_has_pending(c))
                break;
        }
        if (r == 0 && c->tls_want == EV_WRITE && !c->tls_rww) {
            c->tls_rww = 1; /* retried by EV_WRITE (io_cb) */
            if (!c->writing) {
                c->writing = 1;
                set_events(c, EV_READ | EV_WRITE);
            }
        }
        if (got) {
            size_t stream = 0;
            if (c->pend) {
                memcpy(rb, c->pend->data, c->pend->len);
                stream = c->pend->stream;
                pend_put(lg, c->pend);
                c->pend = NULL;
            }
            uint64_t now = now_ns();
            lg->read_ns = now;
            if (lg->rx_timestamps && lg->tls_rx_real)
                now = rx_to_mono(lg->tls_rx_real, now);
            conn_input(c, rb, stream, have + got, now);
            if (c->gen != gen)
                return;
        }
        if (r < 0) { /* like a failed read() on ws://: not counted as a protocol error */
            conn_close(c, r == -2 ? "closed by the server (EOF)" : "TLS read failed");
            return;
        }
        if (r == 0 || !tlsc_has_pending(c))
            return;
    }
}

static void conn_read(struct conn *c)
{
    struct lg *lg = c->lg;
    uint8_t *rb = lg->rbuf;
    size_t have = 0, stream = 0;

    if (c->ssl) {
        conn_read_tls(c);
        return;
    }
    if (c->pend) {
        memcpy(rb, c->pend->data, c->pend->len);
        have = c->pend->len;
        stream = c->pend->stream;
        pend_put(lg, c->pend);
        c->pend = NULL;
    }
    /* With SO_TIMESTAMPING the kernel also says when the last segment of
     * this read reached the socket (CLOCK_REALTIME). Latency is measured to
     * that moment, so the time this one thread takes to get round to each of
     * its many sockets does not count against the server. */
    union {
        char buf[CMSG_SPACE(3 * sizeof(struct timespec))];
        struct cmsghdr align;
    } cmsg;
    struct iovec iov = {rb + have, LG_READ_BUF - have};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (lg->rx_timestamps) {
        mh.msg_control = cmsg.buf;
        mh.msg_controllen = sizeof cmsg.buf;
    }
    ssize_t n = recvmsg(c->io.fd, &mh, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            keep_pending(c, rb, stream, rb + stream, have - stream);
            return;
        }
        conn_close(c, n == 0 ? "closed by the server (EOF)" : "read failed");
        return;
    }
    have += (size_t)n;
    lg->reads++;
    lg->read_bytes += (uint64_t)n;
    /* One clock read per read: every frame in this chunk arrived together. */
    uint64_t now = now_ns();
    lg->read_ns = now;
    if (lg->rx_timestamps) {
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPING)
                continue;
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts); /* [0] is the software timestamp */
            if (ts.tv_sec == 0 && ts.tv_nsec == 0)
                break;
            now = rx_to_mono((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, now);
            break;
        }
    }
    conn_input(c, rb, stream, have, now);
}

/* wss: one step of the TLS handshake; the upgrade request follows it. */
static void tls_step(struct conn *c)
{
    int r = tlsc_handshake(c);
    if (r == 0) {
        set_events(c, c->tls_want);
        return;
    }
    if (r < 0) {
        c->lg->proto_errors++;
        conn_close(c, r == -2 ? "TLS handshake failed: certificate not verified"
                              : "TLS handshake failed");
        return;
    }
    c->state = CS_UPGRADING;
    set_events(c, EV_READ);
    send_upgrade(c);
    /* Bytes read along with the server's last flight wait inside OpenSSL. */
    if (tlsc_has_pending(c))
        conn_read(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = (struct conn *)w;
    uint32_t gen = c->gen;

    if (c->state == CS_CONNECTING) {
        int err = net_connect_result(c->io.fd);
        if (err) {
            c->lg->proto_errors++;
            conn_close(c, err == ECONNREFUSED ? "connection refused" : "connect failed");
            return;
        }
        if (c->lg->o.urls[c->url_idx].tls) {
            if (tlsc_begin(c) < 0) {
                c->lg->proto_errors++;
                conn_close(c, "TLS: out of memory");
                return;
            }
            c->state = CS_TLS;
            tls_step(c);
            return;
        }
        c->state = CS_UPGRADING;
        set_events(c, EV_READ);
        send_upgrade(c);
        return;
    }
    if (c->state == CS_TLS) {
        tls_step(c);
        return;
    }
    if (revents & EV_WRITE) {
        if (c->tls_rww) {
            c->tls_rww = 0;
            conn_read(c);
            if (c->gen != gen)
                return;
        }
        conn_flush(c);
        if (c->gen != gen)
            return;
    }
    if (revents & EV_READ) {
        if (c->tls_wwr) {
            c->tls_wwr = 0;
            conn_flush(c);
            if (c->gen != gen)
                return;
        }
        conn_read(c);
    }
}

void conn_greeted(struct conn *c)
{
    if (c->counted) {
        c->counted = 0;
        c->lg->inflight--;
    }
}

/* ---- launcher and the end-of-iteration flush */

void ws_launch(struct lg *lg, struct conn *conns, unsigned n)
{
    lg->launch = conns;
    lg->launch_next = 0;
    lg->launch_total = n;
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct lg *lg = w->data;

    while (lg->launch_next < lg->launch_total && lg->inflight < lg->o.inflight) {
        struct conn *c = &lg->launch[lg->launch_next++];
        if (conn_start(c) < 0)
            lg_fatal("cannot open connection %u", c->idx);
    }
    if (lg->ops->prepare)
        lg->ops->prepare(lg);
    ws_flush_all(lg);
}

void ws_init(struct lg *lg)
{
    lg->rbuf = xmalloc(LG_READ_BUF);
    ev_prepare_init(&lg->prep, prepare_cb);
    lg->prep.data = lg;
    ev_prepare_start(lg->loop, &lg->prep);
}
