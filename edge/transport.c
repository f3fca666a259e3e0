/* Plain TCP or TLS under a client connection: see transport.h.
 *
 * TLS reads straight from the socket. TLS writes go to a BIO of our own
 * that appends the records to a per-thread stage; each transport call then
 * sends the stage with one send(). A fan-out flush of many frames thus
 * costs one system call for all its records rather than one per 16 KB
 * record, and OpenSSL never sees a full socket (no WANT_WRITE anywhere).
 * What the socket does not take waits in a per-connection backlog, which
 * exists only while it is non-empty and is sent before anything else; new
 * plaintext is encrypted only once it is empty, so it stays below one
 * batch. The error queue is cleared before each SSL call (LIBRARIES.md §6). */
#include "edge/transport.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"

/* Plaintext encrypted per round before the stage is sent: bounds a
 * connection's backlog. */
#define TLS_BATCH (64 * 1024)
/* Small frames are gathered into records of this size (one full TLS
 * record) before encryption. */
#define TLS_GATHER (16 * 1024)

static _Thread_local char last_error[200];
/* Records produced by the SSL call in progress on this thread. Empty
 * between transport calls: every call sends or moves it before returning. */
static _Thread_local struct buf stage;
/* TLS_GATHER bytes, allocated on this thread's first TLS write. */
static _Thread_local uint8_t *gather;

static BIO_METHOD *stage_method;
static pthread_once_t stage_once = PTHREAD_ONCE_INIT;

const char *transport_error(void)
{
    return last_error[0] ? last_error : "TLS error";
}

static int stage_write(BIO *b, const char *data, int len)
{
    BIO_clear_retry_flags(b);
    buf_append(&stage, data, (size_t)len);
    return len;
}

static long stage_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    /* Flush: the caller sends the stage when the SSL call returns. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int stage_create(BIO *b)
{
    BIO_set_data(b, NULL); /* the backlog: a struct buf, only while non-empty */
    BIO_set_init(b, 1);
    return 1;
}

static int stage_destroy(BIO *b)
{
    struct buf *backlog = BIO_get_data(b);
    if (backlog) {
        buf_deinit(backlog);
        free(backlog);
        BIO_set_data(b, NULL);
    }
    return 1;
}

static void stage_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "spoke stage");
    if (!m || !BIO_meth_set_write(m, stage_write) || !BIO_meth_set_ctrl(m, stage_ctrl) ||
        !BIO_meth_set_create(m, stage_create) || !BIO_meth_set_destroy(m, stage_destroy)) {
        log_error("cannot create the TLS output BIO method: out of memory");
        abort();
    }
    stage_method = m;
}

int transport_tls_attach(SSL *ssl, int fd)
{
    pthread_once(&stage_once, stage_method_init);
    BIO *rb = BIO_new_socket(fd, BIO_NOCLOSE), *wb = BIO_new(stage_method);
    if (!rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        return -1;
    }
    SSL_set_bio(ssl, rb, wb); /* ssl owns both now */
    return 0;
}

void transport_thread_done(void)
{
    buf_deinit(&stage);
    free(gather);
    gather = NULL;
}

/* Sends the backlog, then the stage (appended to a backlog that exists, to
 * keep the order). Returns 0 when everything is on the socket, 1 when some
 * waits in the backlog (EAGAIN), -1 on a socket error (errno). */
static int send_out(SSL *ssl, int fd)
{
    BIO *wb = SSL_get_wbio(ssl);
    struct buf *backlog = BIO_get_data(wb);
    if (backlog && buf_readable(&stage)) {
        buf_append(backlog, buf_head(&stage), buf_readable(&stage));
        buf_reset(&stage);
    }
    struct buf *src = backlog ? backlog : &stage;
    int rc = 0;
    while (buf_readable(src)) {
        ssize_t n = send(fd, buf_head(src), buf_readable(src), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                rc = -1;
            break;
        }
        buf_consume(src, (size_t)n);
    }
    if (rc == 0 && src == &stage && buf_readable(&stage)) {
        backlog = xmalloc(sizeof *backlog);
        buf_init(backlog);
        buf_append(backlog, buf_head(&stage), buf_readable(&stage));
        BIO_set_data(wb, backlog);
    } else if (backlog && (rc < 0 || !buf_readable(backlog))) {
        buf_deinit(backlog);
        free(backlog);
        BIO_set_data(wb, NULL);
        backlog = NULL;
    }
    buf_reset(&stage);
    if (rc < 0)
        return -1;
    return BIO_get_data(wb) ? 1 : 0;
}

/* Maps a failed SSL call to read/write conventions. */
static ssize_t tls_result(SSL *ssl, int r, int reading)
{
    int e = SSL_get_error(ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* not expected: the stage never blocks */ errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify, or FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
    case SSL_ERROR_SYSCALL:
        /* No close_notify may follow a broken session. */
        SSL_set_quiet_shutdown(ssl, 1);
        if (errno == 0) {
            if (reading)
                return 0;
            errno = EPIPE;
        }
        ERR_clear_error();
        return -1;
    default:
        SSL_set_quiet_shutdown(ssl, 1);
        tls_error(last_error, sizeof last_error, "TLS protocol error");
        errno = EPROTO;
        return -1;
    }
}

ssize_t transport_read(SSL *ssl, int fd, void *buf, size_t len, int *want_flush)
{
    if (!ssl)
        return read(fd, buf, len);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    int saved = errno;
    /* Reading can make TLS write: handshake flights, tickets, alerts. */
    if (buf_readable(&stage) && send_out(ssl, fd) == 1)
        *want_flush = 1; /* the rest waits for EV_WRITE */
    errno = saved;
    return r > 0 ? r : tls_result(ssl, r, 1);
}

/* Encrypts iov[0, iovcnt) from byte `skip` on, up to TLS_BATCH bytes, into
 * the stage: frames are gathered into full 16 KB records (a record per
 * small frame would cost its header and an encryption call each). Returns
 * the plaintext bytes taken, or -1 (errno) if TLS failed before any. */
static ssize_t encrypt_batch(SSL *ssl, const struct iovec *iov, int iovcnt, size_t skip)
{
    size_t taken = 0;
    int i = 0;
    while (i < iovcnt && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    while (i < iovcnt && taken < TLS_BATCH) {
        const uint8_t *p;
        size_t n;
        size_t rest = iov[i].iov_len - skip;
        if (rest >= TLS_GATHER || i + 1 == iovcnt) {
            /* A large frame, or the last one: encrypt it where it is. */
            p = (const uint8_t *)iov[i].iov_base + skip;
            n = rest < TLS_BATCH - taken ? rest : TLS_BATCH - taken;
            skip += n;
            if (skip == iov[i].iov_len) {
                i++;
                skip = 0;
            }
        } else {
            if (!gather)
                gather = xmalloc(TLS_GATHER);
            uint8_t *dst = gather;
            n = 0;
            while (i < iovcnt && n < TLS_GATHER) {
                size_t take = iov[i].iov_len - skip;
                if (take > TLS_GATHER - n)
                    take = TLS_GATHER - n;
                memcpy(dst + n, (const uint8_t *)iov[i].iov_base + skip, take);
                n += take;
                skip += take;
                if (skip == iov[i].iov_len) {
                    i++;
                    skip = 0;
                }
            }
            p = dst;
        }
        if (!n)
            continue;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write(ssl, p, (int)n);
        if (r <= 0)
            return taken ? (ssize_t)taken : tls_result(ssl, r, 0);
        taken += (size_t)r;
        if ((size_t)r < n)
            break; /* cannot happen with a stage that takes everything */
    }
    return (ssize_t)taken;
}

ssize_t transport_writev(SSL *ssl, int fd, const struct iovec *iov, int iovcnt)
{
    if (!ssl)
        return writev(fd, iov, iovcnt);
    if (BIO_get_data(SSL_get_wbio(ssl))) {
        int s = send_out(ssl, fd);
        if (s != 0) {
            if (s == 1)
                errno = EAGAIN;
            return -1;
        }
    }
    size_t total = 0, done = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    /* Batch by batch while the socket takes it all; the plaintext of a
     * batch whose records wait in the backlog counts as written. */
    while (done < total) {
        ssize_t n = encrypt_batch(ssl, iov, iovcnt, done);
        if (n < 0) {
            buf_reset(&stage);
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)n;
        int s = send_out(ssl, fd);
        if (s < 0)
            return -1;
        if (s == 1 || n == 0)
            break;
    }
    return (ssize_t)done;
}

int transport_has_backlog(const SSL *ssl)
{
    return ssl && BIO_get_data(SSL_get_wbio(ssl)) != NULL;
}

size_t transport_backlog_bytes(const SSL *ssl)
{
    const struct buf *backlog = ssl ? BIO_get_data(SSL_get_wbio(ssl)) : NULL;
    return backlog ? buf_readable(backlog) : 0;
}

int transport_flush_backlog(SSL *ssl, int fd)
{
    if (!transport_has_backlog(ssl))
        return 0;
    return send_out(ssl, fd);
}

int transport_is_plain_http(const SSL *ssl, int fd)
{
    if (!ssl || !SSL_in_before(ssl))
        return 0;
    /* A TLS connection opens with a handshake record (type 22); a request
     * line opens with an upper-case method name. */
    unsigned char b;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && b >= 'A' && b <= 'Z';
}

int transport_has_pending(const SSL *ssl)
{
    return ssl && SSL_pending(ssl) > 0;
}

void transport_end(SSL *ssl, int fd)
{
    if (!ssl)
        return;
    if (SSL_is_init_finished(ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(ssl);
        (void)send_out(ssl, fd); /* one try: the socket closes right after */
    }
    buf_reset(&stage);
    ERR_clear_error();
    SSL_free(ssl); /* frees the backlog with its BIO */
}
