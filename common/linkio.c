/* Byte side of a link: preamble, zstd streams, framing and counters (see linkio.h). */
#include "common/linkio.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tls.h"
#include "common/zstream.h"

/* LINKIO_CHUNK (linkio.h): 64 KiB keeps a read's stack buffer reasonable and
 * amortises the syscall; the undecoded bytes in l->in never exceed one
 * partial message (< 4 + LINK_MAX_MESSAGE) plus one chunk. */
/* Buffers that grew past this for one large message are released once empty,
 * so a link that saw one 8 MiB message does not keep 16 MiB forever. */
#define LINKIO_KEEP (4 * LINKIO_CHUNK)

/* A read's callbacks (linkio_read_ahead). */
struct linkio_cbs {
    linkio_msg_cb on_msg;
    linkio_peek_cb on_peek; /* NULL: no look-ahead */
    void *ud;
};

static int linkio_fail(struct linkio *l, const char *what, const char *why)
{
    snprintf(l->err, sizeof(l->err), "%s%s", what, why);
    return -1;
}

static void buf_trim(struct buf *b)
{
    if (buf_readable(b) == 0 && b->cap > LINKIO_KEEP)
        buf_deinit(b);
}

int linkio_init(struct linkio *l)
{
    memset(l, 0, sizeof(*l));
    buf_init(&l->out);
    buf_init(&l->in);
    buf_init(&l->scratch);
    buf_init(&l->plain);
    buf_init(&l->pend);
    buf_append(&l->out, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    return 0;
}

/* The streams are created on first use: a peer refused at HELLO, or one
 * that never says anything, never costs a megabyte of zstd state. */
static int ensure_zout(struct linkio *l)
{
    if (!l->zout && !(l->zout = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG)))
        return linkio_fail(l, "zstd: ", "cannot create the compressor");
    return 0;
}

static int ensure_zin(struct linkio *l)
{
    /* One above our own window so a peer on a slightly larger setting still
     * works, while a bomb asking for a huge window is refused. */
    if (!l->zin && !(l->zin = zin_new(ZSTREAM_WINDOW_LOG + 1)))
        return linkio_fail(l, "zstd: ", "cannot create the decompressor");
    return 0;
}

void linkio_deinit(struct linkio *l)
{
    zout_free(l->zout);
    zin_free(l->zin);
    buf_deinit(&l->out);
    buf_deinit(&l->in);
    buf_deinit(&l->scratch);
    buf_deinit(&l->plain);
    buf_deinit(&l->pend);
    SSL_free(l->ssl); /* frees the memory BIOs too */
    memset(l, 0, sizeof(*l));
}

/* send() with MSG_NOSIGNAL so a closed peer gives EPIPE instead of killing
 * the process; plain write() for fds that are not sockets (pipes in tests). */
static ssize_t write_nosig(int fd, const void *p, size_t n)
{
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == ENOTSOCK)
        r = write(fd, p, n);
    return r;
}

/* Where compressed bytes go: straight to the socket's queue, or to TLS. */
static struct buf *sink(struct linkio *l)
{
    return l->ssl ? &l->plain : &l->out;
}

static int tls_fail(struct linkio *l, const char *what)
{
    char why[256];
    long vr = SSL_get_verify_result(l->ssl);
    if (vr != X509_V_OK) {
        ERR_clear_error();
        snprintf(l->err, sizeof(l->err), "tls %s: certificate verify failed (%s)", what,
                 X509_verify_cert_error_string(vr));
    } else {
        snprintf(l->err, sizeof(l->err), "tls %s: %s", what,
                 tls_error(why, sizeof why, "connection failed"));
    }
    return -1;
}

/* Moves the TLS engine along: finishes the handshake when the peer's bytes
 * allow it, encrypts pending plaintext once it is done, and collects what
 * TLS wants on the wire (handshake flights, alerts, records) into l->out.
 * Memory BIOs never block, so the only "wait" is WANT_READ. Returns 0 or -1. */
static int tls_pump(struct linkio *l)
{
    if (!l->tls_up) {
        ERR_clear_error();
        int r = SSL_do_handshake(l->ssl);
        if (r == 1) {
            l->tls_up = 1;
        } else if (SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ) {
            tls_fail(l, "handshake");
            /* Still send our alert so the peer learns why. */
            l->tls_up = -1;
        }
    }
    while (l->tls_up == 1 && buf_readable(&l->plain)) {
        ERR_clear_error();
        size_t n = buf_readable(&l->plain);
        int r = SSL_write(l->ssl, buf_head(&l->plain), n > (1u << 20) ? 1 << 20 : (int)n);
        if (r <= 0)
            return tls_fail(l, "write");
        buf_consume(&l->plain, (size_t)r);
    }
    BIO *wbio = SSL_get_wbio(l->ssl);
    for (size_t n; (n = BIO_ctrl_pending(wbio)) > 0;) {
        buf_reserve(&l->out, n);
        int got = BIO_read(wbio, buf_tail(&l->out), (int)n);
        if (got <= 0)
            break;
        buf_commit(&l->out, (size_t)got);
    }
    buf_trim(&l->plain);
    return l->tls_up < 0 ? -1 : 0;
}

int linkio_use_tls(struct linkio *l, SSL *ssl)
{
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return linkio_fail(l, "tls: ", "out of memory");
    }
    /* An empty read BIO means "more later", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    l->ssl = ssl;
    /* The preamble linkio_init queued travels inside TLS. */
    buf_append(&l->plain, buf_head(&l->out), buf_readable(&l->out));
    buf_reset(&l->out);
    return tls_pump(l);
}

/* Hands the messages encoded so far to the compressor. */
static int compress_pending(struct linkio *l)
{
    size_t n = buf_readable(&l->scratch);
    if (!n)
        return 0;
    if (zout_write(l->zout, buf_head(&l->scratch), n, sink(l)) < 0)
        return linkio_fail(l, "zstd: ", zout_error(l->zout));
    buf_reset(&l->scratch);
    return 0;
}

/* Counts a message of n bytes just added to the batch. */
static int queued(struct linkio *l, size_t n)
{
    l->raw_out += (uint64_t)n;
    l->msgs_out++;
    l->unflushed++;
    if (buf_readable(&l->scratch) >= LINKIO_CHUNK)
        return compress_pending(l);
    return 0;
}

/* The first message goes out uncompressed, straight behind the preamble. */
static int send_first(struct linkio *l, const struct link_msg *m)
{
    struct buf *dst = sink(l);
    size_t mark = buf_readable(dst);
    if (m->type != LINK_HELLO && m->type != LINK_ERROR)
        return linkio_fail(l, "encode: ", "the first message must be hello or error");
    int n = link_encode(dst, m);
    if (n < 0) {
        snprintf(l->err, sizeof(l->err), "encode: invalid %s message", link_type_name(m->type));
        return -1;
    }
    if ((size_t)n > 4 + LINK_MAX_FIRST) {
        dst->len = dst->off + mark;
        return linkio_fail(l, "encode: ", "first message too large");
    }
    l->first_out = 1;
    l->raw_out += (uint64_t)n;
    l->msgs_out++;
    return 0;
}

int linkio_send(struct linkio *l, const struct link_msg *m)
{
    if (!l->first_out)
        return send_first(l, m);
    if (ensure_zout(l) < 0)
        return -1;
    /* Messages are encoded back to back and compressed in one call per
     * batch (at the flush, or every LINKIO_CHUNK bytes): one zstd call per
     * ~100-byte message costs more than the compression itself. */
    int n = link_encode(&l->scratch, m);
    if (n < 0) {
        snprintf(l->err, sizeof(l->err), "encode: invalid %s message", link_type_name(m->type));
        return -1;
    }
    return queued(l, (size_t)n);
}

int linkio_send_encoded(struct linkio *l, const uint8_t *msg, size_t n)
{
    if (!l->first_out)
        return linkio_fail(l, "encode: ", "the first message must be hello or error");
    if (ensure_zout(l) < 0)
        return -1;
    buf_append(&l->scratch, msg, n);
    return queued(l, n);
}

int linkio_flush(struct linkio *l)
{
    if (l->unflushed) {
        if (compress_pending(l) < 0)
            return -1;
        if (zout_flush(l->zout, sink(l)) < 0)
            return linkio_fail(l, "zstd: ", zout_error(l->zout));
        l->unflushed = 0;
        buf_trim(&l->scratch);
    }
    return l->ssl ? tls_pump(l) : 0;
}

int linkio_write(struct linkio *l, int fd)
{
    if (l->ssl && tls_pump(l) < 0)
        return -1;
    while (buf_readable(&l->out)) {
        ssize_t n = write_nosig(fd, buf_head(&l->out), buf_readable(&l->out));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return linkio_fail(l, "write: ", strerror(errno));
        }
        l->wire_out += (uint64_t)n;
        buf_consume(&l->out, (size_t)n);
    }
    buf_trim(&l->out);
    return 0;
}

/* The length a message's 4-byte prefix at p declares (big-endian). */
static uint32_t prefix_len(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The bytes of the message at p[0, avail) with its prefix, if all of it
 * is there and its length is allowed; 0 if more bytes are needed; -1 if
 * it is too large. */
static long whole_message(const uint8_t *p, size_t avail)
{
    if (avail < 4)
        return 0;
    uint32_t n = prefix_len(p);
    if (n > LINK_MAX_MESSAGE)
        return -1;
    return avail - 4 < n ? 0 : 4 + (long)n;
}

/* Decodes and dispatches every complete message in l->in. Returns 0 when
 * more bytes are needed, -1 on a decode error (err set), or the callback's
 * non-zero value (l must not be touched afterwards).
 *
 * With an on_peek, up to LINKIO_AHEAD messages behind the one dispatched
 * are decoded ahead and shown to on_peek before it is dispatched, so that
 * the caller can start fetching what they will need. They stay in l->in
 * (buf_consume only moves off, and the buffer is not empty while they are
 * in it) until their own turn, which is as without looking ahead: consumed
 * and counted, then dispatched, in order. One that does not decode ahead
 * (incomplete, too large, malformed) ends the look-ahead; it is decoded
 * again at its turn, which reports the error after everything before it
 * was dispatched. A callback's non-zero value returns at once: nothing
 * decoded ahead is dispatched, peeked at or touched again. */
static int linkio_dispatch(struct linkio *l, struct linkio_cbs *cb)
{
    struct link_msg ms[LINKIO_AHEAD + 1];
    size_t used[LINKIO_AHEAD + 1];
    unsigned head = 0, queued = 0; /* decoded ahead: ms[head], ... (circularly) */
    size_t ahead = 0;              /* their bytes, from buf_head(&l->in) on */
    char why[128];
    for (;;) {
        if (!queued) {
            head = 0; /* not looking ahead: one struct, as without */
            size_t avail = buf_readable(&l->in);
            const uint8_t *p = buf_head(&l->in);
            /* Refuse an oversized message on its prefix alone, before any
             * of it is buffered. */
            long n = whole_message(p, avail);
            if (n < 0) {
                snprintf(l->err, sizeof(l->err), "decode: message too large (%u bytes, max %u)",
                         (unsigned)prefix_len(p), (unsigned)LINK_MAX_MESSAGE);
                return -1;
            }
            if (n == 0)
                return 0;
            int u = link_decode(p, avail, &ms[head], why, sizeof(why));
            if (u <= 0) /* 0 cannot happen: the whole message is here */
                return linkio_fail(l, "decode: ", u < 0 ? why : "incomplete message");
            used[head] = (size_t)u;
            ahead = (size_t)u;
            queued = 1;
        }
        while (cb->on_peek && queued <= LINKIO_AHEAD) {
            const uint8_t *p = buf_head(&l->in) + ahead;
            size_t avail = buf_readable(&l->in) - ahead;
            if (whole_message(p, avail) <= 0)
                break;
            unsigned k = head + queued;
            if (k > LINKIO_AHEAD)
                k -= LINKIO_AHEAD + 1;
            int u = link_decode(p, avail, &ms[k], why, sizeof(why));
            if (u <= 0)
                break;
            used[k] = (size_t)u;
            ahead += (size_t)u;
            queued++;
            if (!cb->on_peek(cb->ud, &ms[k]))
                cb->on_peek = NULL; /* not wanted for the rest of this read */
        }
        /* Consuming first leaves l consistent if the callback stops us;
         * m's strings stay valid (see above). */
        const struct link_msg *m = &ms[head];
        buf_consume(&l->in, used[head]);
        ahead -= used[head];
        if (++head > LINKIO_AHEAD)
            head = 0;
        queued--;
        l->msgs_in++;
        int rc = cb->on_msg(cb->ud, m);
        if (rc)
            return rc;
    }
}

/* Bytes of the zstd frame magic (RFC 8878 §3.1.1), little-endian on the
 * wire: what a version-1 peer sends where a first message's length belongs. */
static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* Counts n bytes of work against the budget of the read in progress. */
static void spend(struct linkio *l, size_t n)
{
    l->work_left = n >= l->work_left ? 0 : l->work_left - n;
}

/* Collects the peer's uncompressed first message from p[0, n) into l->in
 * and dispatches it when complete. Sets *used. Returns 0, -1 (err set), or
 * the callback's non-zero value. */
static int take_first(struct linkio *l, const uint8_t *p, size_t n, size_t *used,
                      struct linkio_cbs *cb)
{
    size_t have = buf_readable(&l->in), want = 4;
    if (have >= 4) {
        const uint8_t *h = buf_head(&l->in);
        want = 4 + (size_t)prefix_len(h);
    }
    size_t take = want - have < n ? want - have : n;
    buf_append(&l->in, p, take);
    *used = take;
    spend(l, take);
    have += take;
    if (have < 4)
        return 0;
    const uint8_t *h = buf_head(&l->in);
    if (want == 4) { /* the length just arrived: check it before buffering more */
        if (memcmp(h, zstd_magic, 4) == 0)
            return linkio_fail(l, "",
                               "the peer speaks an older link protocol (compressed "
                               "hello): upgrade it to this version");
        size_t n1 = prefix_len(h);
        if (n1 == 0 || n1 > LINK_MAX_FIRST) {
            snprintf(l->err, sizeof(l->err), "decode: first message of %zu bytes (max %u)", n1,
                     LINK_MAX_FIRST);
            return -1;
        }
        /* The rest of the message is usually in the same read. */
        size_t more = 4 + n1 - have < n - take ? 4 + n1 - have : n - take;
        buf_append(&l->in, p + take, more);
        *used += more;
        spend(l, more);
        have += more;
        want = 4 + n1;
        h = buf_head(&l->in);
    }
    if (have < want)
        return 0;
    struct link_msg m;
    char why[128];
    if (link_decode(h, have, &m, why, sizeof(why)) != (int)have)
        return linkio_fail(l, "decode: ", why);
    if (m.type != LINK_HELLO && m.type != LINK_ERROR) {
        snprintf(l->err, sizeof(l->err), "decode: expected hello first, got %s",
                 link_type_name(m.type));
        return -1;
    }
    l->first_in = 1;
    l->msgs_in++;
    l->raw_in += (uint64_t)have;
    /* m points into l->in: reset only after the callback (nothing else is
     * in the buffer: the compressed stream starts after this message). */
    int rc = cb->on_msg(cb->ud, &m);
    if (rc)
        return rc;
    buf_reset(&l->in);
    return 0;
}

/* Decompresses from src[0, n) into l->in, dispatching as it goes, until the
 * input is used up or the work budget is. Sets *used. Returns as
 * linkio_dispatch does. */
static int linkio_inflate(struct linkio *l, const uint8_t *src, size_t n, size_t *used_total,
                          struct linkio_cbs *cb)
{
    *used_total = 0;
    if (ensure_zin(l) < 0)
        return -1;
    while (l->work_left) {
        size_t used = 0;
        buf_reserve(&l->in, LINKIO_CHUNK);
        ssize_t got = zin_read(l->zin, src, n, &used, buf_tail(&l->in), LINKIO_CHUNK);
        if (got < 0)
            return linkio_fail(l, "zstd: ", zin_error(l->zin));
        src += used;
        n -= used;
        *used_total += used;
        buf_commit(&l->in, (size_t)got);
        l->raw_in += (uint64_t)got;
        /* A full output chunk may leave decoded bytes inside zstd: they
         * need another call even with no input left. */
        l->zin_more = (size_t)got == LINKIO_CHUNK;
        spend(l, (size_t)got ? (size_t)got : used);
        if (got > 0) {
            int rc = linkio_dispatch(l, cb);
            if (rc)
                return rc;
        }
        if (n == 0 && !l->zin_more)
            return 0;
        if (used == 0 && got == 0)
            return linkio_fail(l, "zstd: ", "no progress");
    }
    return 0;
}

/* Takes plaintext link bytes p[0, n) (the peer's preamble, its first
 * message, then compressed data) as far as the work budget allows. Sets
 * *used to the bytes taken; the caller keeps the rest for later. */
static int linkio_take(struct linkio *l, const uint8_t *p, size_t n, size_t *used,
                       struct linkio_cbs *cb)
{
    *used = 0;
    /* The preamble may arrive split across reads: match byte by byte. */
    while (l->preamble_seen < LINK_PREAMBLE_LEN && *used < n) {
        if (p[*used] != (uint8_t)LINK_PREAMBLE[l->preamble_seen])
            return linkio_fail(l, "", "not a spoke link (bad preamble)");
        l->preamble_seen++;
        (*used)++;
    }
    if (!l->first_in && *used < n) {
        size_t k = 0;
        int rc = take_first(l, p + *used, n - *used, &k, cb);
        if (rc)
            return rc;
        *used += k;
    }
    if (l->first_in && *used < n && l->work_left) {
        size_t k = 0;
        int rc = linkio_inflate(l, p + *used, n - *used, &k, cb);
        if (rc)
            return rc;
        *used += k;
    }
    return 0;
}

/* Takes p[0, n) and keeps what the budget did not cover in the backlog. */
static int take_or_keep(struct linkio *l, const uint8_t *p, size_t n, struct linkio_cbs *cb)
{
    size_t used = 0;
    int rc = linkio_take(l, p, n, &used, cb);
    if (rc)
        return rc;
    if (used < n)
        buf_append(&l->pend, p + used, n - used);
    return 0;
}

/* Reads the records TLS can decrypt now into chunk (LINKIO_CHUNK bytes)
 * and takes them, while the budget lasts. Returns as linkio_read does. */
static int tls_read_records(struct linkio *l, uint8_t *chunk, struct linkio_cbs *cb)
{
    l->tls_more = 0;
    while (l->tls_up == 1) {
        if (!l->work_left || buf_readable(&l->pend)) {
            l->tls_more = 1; /* records may be left: come back */
            break;
        }
        ERR_clear_error();
        int r = SSL_read(l->ssl, chunk, LINKIO_CHUNK);
        if (r <= 0) {
            int e = SSL_get_error(l->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_ZERO_RETURN)
                return 1; /* close_notify: the peer is done */
            return tls_fail(l, "read");
        }
        int rc = take_or_keep(l, chunk, (size_t)r, cb);
        if (rc)
            return rc;
    }
    /* Reading can make TLS answer (tickets, key updates): queue it now. */
    return tls_pump(l);
}

/* Hands n wire bytes in chunk to TLS and takes the plaintext it releases,
 * decrypting into chunk itself (TLS has copied the ciphertext). Returns as
 * linkio_read does. */
static int tls_take(struct linkio *l, uint8_t *chunk, size_t n, struct linkio_cbs *cb)
{
    if (BIO_write(SSL_get_rbio(l->ssl), chunk, (int)n) != (int)n)
        return linkio_fail(l, "tls: ", "out of memory");
    if (tls_pump(l) < 0)
        return -1;
    return tls_read_records(l, chunk, cb);
}

/* Works off the backlog, oldest bytes first, while the budget lasts. */
static int work_backlog(struct linkio *l, uint8_t *chunk, struct linkio_cbs *cb)
{
    while (l->work_left && linkio_has_backlog(l)) {
        int rc;
        if (buf_readable(&l->pend)) {
            size_t used = 0;
            rc = linkio_take(l, buf_head(&l->pend), buf_readable(&l->pend), &used, cb);
            if (rc)
                return rc;
            buf_consume(&l->pend, used);
            if (buf_readable(&l->pend))
                break; /* budget used up */
            buf_trim(&l->pend);
        } else if (l->zin_more) {
            size_t used = 0;
            rc = linkio_inflate(l, NULL, 0, &used, cb);
            if (rc)
                return rc;
        } else {
            rc = tls_read_records(l, chunk, cb);
            if (rc)
                return rc;
            if (l->tls_more && !l->work_left)
                break;
        }
    }
    return 0;
}

static int read_input(struct linkio *l, int fd, size_t budget, struct linkio_cbs *cb)
{
    uint8_t chunk[LINKIO_CHUNK];
    size_t total = 0;

    l->work_left = budget ? budget : 1;
    int rc = work_backlog(l, chunk, cb);
    if (rc)
        return rc;
    while (!linkio_has_backlog(l)) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return linkio_fail(l, "read: ", strerror(errno));
        }
        if (n == 0)
            return 1; /* everything read before has been dispatched */
        total += (size_t)n;
        l->wire_in += (uint64_t)n;

        rc = l->ssl ? tls_take(l, chunk, (size_t)n, cb) : take_or_keep(l, chunk, (size_t)n, cb);
        if (rc == -1 && l->ssl && buf_readable(&l->out))
            /* Best effort: let the peer read TLS's alert before we close. */
            (void)write_nosig(fd, buf_head(&l->out), buf_readable(&l->out));
        if (rc)
            return rc;
        if (total >= budget || !l->work_left)
            break;
    }
    buf_trim(&l->in);
    return 0;
}

int linkio_read(struct linkio *l, int fd, size_t budget, linkio_msg_cb on_msg, void *ud)
{
    struct linkio_cbs cb = {.on_msg = on_msg, .ud = ud};
    return read_input(l, fd, budget, &cb);
}

int linkio_read_ahead(struct linkio *l, int fd, size_t budget, linkio_msg_cb on_msg,
                      linkio_peek_cb on_peek, void *ud)
{
    struct linkio_cbs cb = {.on_msg = on_msg, .on_peek = on_peek, .ud = ud};
    return read_input(l, fd, budget, &cb);
}
