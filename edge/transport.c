/* Plain TCP or TLS under a client connection: see transport.h.
 *
 * TLS follows LIBRARIES.md §6: the error queue is cleared before each call;
 * WANT_WRITE while reading (a handshake flight the socket would not take)
 * sets CLIENT_F_TLS_READ_WANTS_WRITE so the caller waits for EV_WRITE and
 * reads again; renegotiation is off, so writing never has to read. A write
 * that TLS could not finish is retried from the same queue position: the
 * queue only grows behind it, which SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
 * allows. */
#include "edge/transport.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tls.h"
#include "edge/client.h"
#include "edge/worker.h"

static _Thread_local char last_error[200];

const char *transport_error(void)
{
    return last_error[0] ? last_error : "TLS error";
}

/* Maps an SSL result to read/write conventions. */
static ssize_t tls_result(struct client *c, int r, int reading)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            c->flags |= CLIENT_F_TLS_READ_WANTS_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify, or FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
    case SSL_ERROR_SYSCALL:
        /* No close_notify may follow a broken session. */
        SSL_set_quiet_shutdown(c->ssl, 1);
        if (errno == 0) {
            if (reading)
                return 0;
            errno = EPIPE;
        }
        ERR_clear_error();
        return -1;
    default:
        SSL_set_quiet_shutdown(c->ssl, 1);
        tls_error(last_error, sizeof last_error, "TLS protocol error");
        errno = EPROTO;
        return -1;
    }
}

ssize_t transport_read(struct client *c, void *buf, size_t len)
{
    if (!c->ssl)
        return read(c->io.fd, buf, len);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    return r > 0 ? r : tls_result(c, r, 1);
}

ssize_t transport_writev(struct client *c, const struct iovec *iov, int iovcnt)
{
    if (!c->ssl)
        return writev(c->io.fd, iov, iovcnt);
    /* One SSL_write makes one record per 16 KB: gather small frames into a
     * full record first rather than sending a record (and its 22-byte
     * overhead and syscall) per frame. */
    const void *p = iov[0].iov_base;
    size_t n = iov[0].iov_len;
    if (iovcnt > 1 && n < WORKER_TLS_WBUF) {
        uint8_t *dst = c->w->tls_wbuf;
        n = 0;
        for (int i = 0; i < iovcnt && n < WORKER_TLS_WBUF; i++) {
            size_t take = iov[i].iov_len;
            if (take > WORKER_TLS_WBUF - n)
                take = WORKER_TLS_WBUF - n;
            memcpy(dst + n, iov[i].iov_base, take);
            n += take;
        }
        p = dst;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : tls_result(c, r, 0);
}

int transport_is_plain_http(const struct client *c)
{
    if (!c->ssl || !SSL_in_before(c->ssl))
        return 0;
    /* A TLS connection opens with a handshake record (type 22); a request
     * line opens with an upper-case method name. */
    unsigned char b;
    return recv(c->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && b >= 'A' && b <= 'Z';
}

int transport_has_pending(const struct client *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

void transport_end(struct client *c)
{
    if (!c->ssl)
        return;
    if (SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl); /* one try: the socket closes right after */
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
}
