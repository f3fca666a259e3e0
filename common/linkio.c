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
    l->zout = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    if (!l->zout) {
        linkio_fail(l, "zstd: ", "cannot create the compressor");
        goto fail;
    }
    /* One above our own window so a peer on a slightly larger setting still
     * works, while a bomb asking for a huge window is refused. */
    l->zin = zin_new(ZSTREAM_WINDOW_LOG + 1);
    if (!l->zin) {
        linkio_fail(l, "zstd: ", "cannot create the decompressor");
        goto fail;
    }
    buf_append(&l->out, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    return 0;
fail:
    {
        char err[sizeof(l->err)];
        memcpy(err, l->err, sizeof(err));
        linkio_deinit(l);
        memcpy(l->err, err, sizeof(err));
    }
    return -1;
}

void linkio_deinit(struct linkio *l)
{
    zout_free(l->zout);
    zin_free(l->zin);
    buf_deinit(&l->out);
    buf_deinit(&l->in);
    buf_deinit(&l->scratch);
    buf_deinit(&l->plain);
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

int linkio_send(struct linkio *l, const struct link_msg *m)
{
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

/* Decodes and dispatches every complete message in l->in. Returns 0 when
 * more bytes are needed, -1 on a decode error (err set), or the callback's
 * non-zero value (l must not be touched afterwards). */
static int linkio_dispatch(struct linkio *l, linkio_msg_cb on_msg, void *ud)
{
    for (;;) {
        size_t avail = buf_readable(&l->in);
        const uint8_t *p = buf_head(&l->in);
        if (avail < 4)
            return 0;
        /* Refuse an oversized message on its prefix alone, before any of it
         * is buffered. */
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n > LINK_MAX_MESSAGE) {
            snprintf(l->err, sizeof(l->err), "decode: message too large (%u bytes, max %u)",
                     (unsigned)n, (unsigned)LINK_MAX_MESSAGE);
            return -1;
        }
        if (avail - 4 < n)
            return 0;

        struct link_msg m;
        char why[128];
        int used = link_decode(p, avail, &m, why, sizeof(why));
        if (used <= 0) /* 0 cannot happen: the whole message is here */
            return linkio_fail(l, "decode: ", used < 0 ? why : "incomplete message");
        /* buf_consume only moves off, so m's strings stay valid during the
         * callback; consuming first leaves l consistent if it stops us. */
        buf_consume(&l->in, (size_t)used);
        l->msgs_in++;
        int rc = on_msg(ud, &m);
        if (rc)
            return rc;
    }
}

/* Decompresses src[0, n) into l->in, dispatching as it goes. Returns as
 * linkio_dispatch does. */
static int linkio_inflate(struct linkio *l, const uint8_t *src, size_t n, linkio_msg_cb on_msg,
                          void *ud)
{
    for (;;) {
        size_t used = 0;
        buf_reserve(&l->in, LINKIO_CHUNK);
        ssize_t got = zin_read(l->zin, src, n, &used, buf_tail(&l->in), LINKIO_CHUNK);
        if (got < 0)
            return linkio_fail(l, "zstd: ", zin_error(l->zin));
        src += used;
        n -= used;
        buf_commit(&l->in, (size_t)got);
        l->raw_in += (uint64_t)got;
        if (got > 0) {
            int rc = linkio_dispatch(l, on_msg, ud);
            if (rc)
                return rc;
        }
        /* A full output chunk may leave decoded bytes inside zstd: go again
         * even with no input left. */
        if (n == 0 && (size_t)got < LINKIO_CHUNK)
            return 0;
        if (used == 0 && got == 0)
            return linkio_fail(l, "zstd: ", "no progress");
    }
}

/* Takes plaintext link bytes: the peer's preamble, then compressed data. */
static int linkio_take(struct linkio *l, const uint8_t *p, size_t left, linkio_msg_cb on_msg,
                       void *ud)
{
    /* The preamble may arrive split across reads: match byte by byte. */
    while (l->preamble_seen < LINK_PREAMBLE_LEN && left) {
        if (*p != (uint8_t)LINK_PREAMBLE[l->preamble_seen])
            return linkio_fail(l, "", "not a spoke link (bad preamble)");
        l->preamble_seen++;
        p++;
        left--;
    }
    return left ? linkio_inflate(l, p, left, on_msg, ud) : 0;
}

/* Hands n wire bytes in chunk to TLS and takes the plaintext it releases,
 * decrypting into chunk itself (TLS has copied the ciphertext). Returns as
 * linkio_read does. */
static int tls_take(struct linkio *l, uint8_t *chunk, size_t n, linkio_msg_cb on_msg, void *ud)
{
    if (BIO_write(SSL_get_rbio(l->ssl), chunk, (int)n) != (int)n)
        return linkio_fail(l, "tls: ", "out of memory");
    if (tls_pump(l) < 0)
        return -1;
    while (l->tls_up == 1) {
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
        int rc = linkio_take(l, chunk, (size_t)r, on_msg, ud);
        if (rc)
            return rc;
    }
    /* Reading can make TLS answer (tickets, key updates): queue it now. */
    return tls_pump(l);
}

int linkio_read(struct linkio *l, int fd, size_t budget, linkio_msg_cb on_msg, void *ud)
{
    uint8_t chunk[LINKIO_CHUNK];
    size_t total = 0;

    for (;;) {
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

        int rc = l->ssl ? tls_take(l, chunk, (size_t)n, on_msg, ud)
                        : linkio_take(l, chunk, (size_t)n, on_msg, ud);
        if (rc == -1 && l->ssl && buf_readable(&l->out))
            /* Best effort: let the peer read TLS's alert before we close. */
            (void)write_nosig(fd, buf_head(&l->out), buf_readable(&l->out));
        if (rc)
            return rc;
        if (total >= budget)
            break;
    }
    buf_trim(&l->in);
    return 0;
}
