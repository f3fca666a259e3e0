/* TLS for the load generator's connections (wss): one client SSL_CTX per
 * process, a socket BIO of our own that keeps the kernel's receive
 * timestamps, and non-blocking handshake, read and write steps for
 * wsclient.c. See LIBRARIES.md §6 for the OpenSSL rules followed here.
 *
 * Memory: a connection holds an SSL object (about 18 KB after the handshake,
 * with SSL_MODE_RELEASE_BUFFERS releasing its record buffers whenever they
 * are empty) from the end of its TCP connect until it closes. Decrypted input
 * goes straight into the shared read buffer, and SSL_write encrypts straight
 * from the connection's `out` buffer: TLS adds no copy of our own. */
#include <errno.h>
#include <limits.h>
#include <linux/net_tstamp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "tests/bench/loadgen/lg.h"

/* ALPN (RFC 7301 §3.1): length-prefixed protocol names. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

static BIO_METHOD *bio_meth;

/* ---- the socket BIO: recvmsg with SO_TIMESTAMPING, send with MSG_NOSIGNAL */

static int bio_read(BIO *b, char *out, int len)
{
    struct conn *c = BIO_get_data(b);
    struct lg *lg = c->lg;
    union {
        char buf[CMSG_SPACE(3 * sizeof(struct timespec))];
        struct cmsghdr align;
    } cmsg;
    struct iovec iov = {out, (size_t)len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    BIO_clear_retry_flags(b);
    if (lg->rx_timestamps) {
        mh.msg_control = cmsg.buf;
        mh.msg_controllen = sizeof cmsg.buf;
    }
    ssize_t n = recvmsg(c->io.fd, &mh, 0);
    if (n > 0) {
        lg->reads++;
        lg->read_bytes += (uint64_t)n;
        if (lg->rx_timestamps) {
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPING)
                    continue;
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(cm), sizeof ts); /* [0]: the software stamp */
                if (ts.tv_sec || ts.tv_nsec)
                    lg->tls_rx_real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
                break;
            }
        }
        return (int)n;
    }
    if (n == 0) {
        /* BIO_eof() must say so: OpenSSL 3 tells a peer's FIN from an error
         * by it (SSL_OP_IGNORE_UNEXPECTED_EOF then reports ZERO_RETURN). */
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_read(b);
    return -1;
}

static int bio_write(BIO *b, const char *in, int len)
{
    struct conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(c->io.fd, in, (size_t)len, MSG_NOSIGNAL);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* writes go straight to the socket */ return 1;
    case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- the context */

/* --tls-resume: keep the newest session per URL. OpenSSL gives us a
 * reference; returning 1 says we keep it. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct conn *c = SSL_get_app_data(ssl);
    struct lg *lg = c->lg;
    SSL_SESSION_free(lg->tls_sess[c->url_idx]);
    lg->tls_sess[c->url_idx] = sess;
    return 1;
}

void tlsc_init(struct lg *lg)
{
    char why[256];

    bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "loadgen socket");
    if (!bio_meth || !BIO_meth_set_read(bio_meth, bio_read) ||
        !BIO_meth_set_write(bio_meth, bio_write) || !BIO_meth_set_ctrl(bio_meth, bio_ctrl) ||
        !BIO_meth_set_create(bio_meth, bio_create))
        lg_fatal("TLS: cannot create the socket BIO method");

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        lg_fatal("TLS: SSL_CTX_new: %s", tlsc_error(why, sizeof why));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* The generator holds thousands of connections: release the record
     * buffers while they are empty; a retried SSL_write may come from a
     * moved `out` buffer with more bytes appended; return after each record. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* A FIN without close_notify is the server closing, as on ws://. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Read whole socket chunks, not a record header and then its body: one
     * recvmsg per wake-up as on ws://. The cost is that decrypted-but-unread
     * bytes can sit inside OpenSSL, which tlsc_read's callers handle. */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11 - 1) != 0) /* 0: success */
        lg_fatal("TLS: cannot set ALPN");
    if (lg->o.tls_ca) {
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx, lg->o.tls_ca, NULL) != 1)
            lg_fatal("--tls-ca %s: %s", lg->o.tls_ca, tlsc_error(why, sizeof why));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (lg->o.tls_resume) {
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    } else {
        /* Every handshake is a full one. TLS 1.2: no ticket extension;
         * TLS 1.3 tickets the server sends anyway are read and dropped. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    lg->tls_ctx = ctx;
}

const char *tlsc_error(char *out, size_t outlen)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, outlen, "connection closed or reset"); /* SSL_ERROR_SYSCALL */
        return out;
    }
    ERR_error_string_n(e, out, outlen);
    ERR_clear_error();
    return out;
}

/* ---- connections */

int tlsc_begin(struct conn *c)
{
    struct lg *lg = c->lg;
    const struct lg_url *u = &lg->o.urls[c->url_idx];

    SSL *ssl = SSL_new(lg->tls_ctx);
    BIO *b = ssl ? BIO_new(bio_meth) : NULL;
    if (!b) {
        SSL_free(ssl);
        return -1;
    }
    BIO_set_data(b, c);
    SSL_set_bio(ssl, b, b); /* ssl owns b */
    SSL_set_app_data(ssl, c);
    SSL_set_connect_state(ssl);
    /* RFC 6066 §3: SNI carries DNS names only, never address literals. */
    if (!u->host_is_ip && SSL_set_tlsext_host_name(ssl, u->host) != 1)
        goto fail;
    /* OpenSSL 3 checks an address literal against the IP SANs here. */
    if (lg->o.tls_ca && SSL_set1_host(ssl, u->host) != 1)
        goto fail;
    if (lg->o.tls_resume && lg->tls_sess[c->url_idx])
        SSL_set_session(ssl, lg->tls_sess[c->url_idx]);
    c->ssl = ssl;
    c->tls_rww = c->tls_wwr = c->tls_dead = 0;
    c->tls_t0 = now_ns();
    return 0;
fail:
    SSL_free(ssl);
    return -1;
}

/* Classifies a failed call: 0 to wait (c->tls_want says for what), -1 for a
 * fatal error (the SSL object may not be used again, not even to shut down),
 * -2 for the peer's close_notify or FIN. */
static int failed(struct conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: c->tls_want = EV_READ; return 0;
    case SSL_ERROR_WANT_WRITE: c->tls_want = EV_WRITE; return 0;
    case SSL_ERROR_ZERO_RETURN: return -2;
    default: c->tls_dead = 1; return -1;
    }
}

int tlsc_handshake(struct conn *c)
{
    struct lg *lg = c->lg;
    ERR_clear_error(); /* a stale error would turn WANT_READ into SSL_ERROR_SSL */
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (!lg->tls_version) { /* static strings inside OpenSSL */
            lg->tls_version = SSL_get_version(c->ssl);
            lg->tls_cipher = SSL_get_cipher_name(c->ssl);
        }
        lg->tls_done++;
        if (SSL_session_reused(c->ssl))
            lg->tls_resumed++;
        hist_add(&lg->tls_hist, now_ns() - c->tls_t0);
        return 1;
    }
    int f = failed(c, r);
    if (f == 0)
        return 0;
    c->tls_dead = 1;
    lg->tls_failed++;
    /* Without --tls-ca the verify result is recorded but not enforced. */
    long v = lg->o.tls_ca ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    if (!lg->tls_said_error) {
        /* Once per process: the detail is the same for every connection. */
        char why[256];
        lg->tls_said_error = 1;
        fprintf(stderr, "spoke-loadgen: TLS handshake with %s failed: %s%s\n",
                lg->o.urls[c->url_idx].hostport, v != X509_V_OK ? "certificate: " : "",
                v != X509_V_OK ? X509_verify_cert_error_string(v)
                : f == -2      ? "closed by the server"
                               : tlsc_error(why, sizeof why));
    }
    ERR_clear_error();
    return v != X509_V_OK ? -2 : -1;
}

long tlsc_read(struct conn *c, uint8_t *p, size_t n)
{
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    return failed(c, r);
}

long tlsc_write(struct conn *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    /* With partial writes SSL_write returns after each record (16 KiB). */
    while (done < n) {
        size_t k = n - done;
        ERR_clear_error();
        int r = SSL_write(c->ssl, p + done, k > INT_MAX ? INT_MAX : (int)k);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        int f = failed(c, r);
        if (f < 0)
            return -1;
        break;
    }
    return (long)done;
}

int tlsc_has_pending(struct conn *c)
{
    return SSL_has_pending(c->ssl);
}

void tlsc_close(struct conn *c, int polite)
{
    if (!c->ssl)
        return;
    /* One non-blocking close_notify, so the server sees a clean end; never
     * after a fatal error (OpenSSL forbids it) or before the handshake.
     * Before an RST a quiet shutdown sends nothing, but it marks the session
     * as properly closed: SSL_free would otherwise make it non-resumable
     * (--tls-resume). */
    if (!c->tls_dead && SSL_is_init_finished(c->ssl)) {
        if (!polite)
            SSL_set_quiet_shutdown(c->ssl, 1);
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
}

void tlsc_append_result(struct buf *b, const struct lg *lg)
{
    buf_printf(b,
               ",\"tls\":{\"handshakes\":%llu,\"resumed\":%llu,\"failed\":%llu,\"verify\":%s,"
               "\"version\":\"%s\",\"cipher\":\"%s\",",
               (unsigned long long)lg->tls_done, (unsigned long long)lg->tls_resumed,
               (unsigned long long)lg->tls_failed, lg->o.tls_ca ? "true" : "false",
               lg->tls_version ? lg->tls_version : "", lg->tls_cipher ? lg->tls_cipher : "");
    lg_append_latency(b, "handshake_", &lg->tls_hist, 0);
    buf_append_u8(b, '}');
}
