/* The seam between a connection and its socket: plain TCP when ssl is NULL,
 * or TLS (wss), each connection encrypting its own copy of a shared frame.
 * It knows nothing of connections: every call takes the session and the
 * socket. Reads and writes follow read(2)/writev(2) conventions: -1 with
 * errno EAGAIN when the socket is not ready; a TLS failure is -1 with EPROTO
 * and its reason in transport_error(). With TLS, bytes transport_writev
 * reports written may still wait in a backlog of encrypted records: the
 * caller keeps EV_WRITE armed while transport_has_backlog(). */
#ifndef SPOKE_EDGE_TRANSPORT_H
#define SPOKE_EDGE_TRANSPORT_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct ssl_st SSL;

/* Gives ssl (server side, accept state) its socket fd: reads from it, and
 * writes through the transport's batching. Returns 0, or -1 (no memory). */
int transport_tls_attach(SSL *ssl, int fd);
/* Frees this thread's staging buffers (a worker thread ending). */
void transport_thread_done(void);

/* Reading TLS can make it write (handshake flights, tickets, alerts): when
 * some of that waits for the socket, *want_flush is set to 1 and the caller
 * schedules a flush (EV_WRITE); otherwise *want_flush is left as it is. */
ssize_t transport_read(SSL *ssl, int fd, void *buf, size_t len, int *want_flush);
ssize_t transport_writev(SSL *ssl, int fd, const struct iovec *iov, int iovcnt);
/* 1 while encrypted records wait for the socket. */
int transport_has_backlog(const SSL *ssl);
/* Bytes of encrypted records waiting for the socket (0 for plain TCP). */
size_t transport_backlog_bytes(const SSL *ssl);
/* Sends what waits. Returns 0 (all sent), 1 (still waiting), -1 (errno). */
int transport_flush_backlog(SSL *ssl, int fd);
/* 1 if TLS holds decrypted bytes the next read returns: epoll will not
 * report them, so the reader must not wait for the socket. */
int transport_has_pending(const SSL *ssl);
/* Why the last call failed with EPROTO (this thread's last TLS error). */
const char *transport_error(void);
/* 1 if a wss connection that has not started its TLS handshake begins with
 * what looks like a plain HTTP request (a ws:// client on the wss port). */
int transport_is_plain_http(const SSL *ssl, int fd);
/* Ends the TLS session (close_notify when it is still healthy) and frees
 * ssl; the socket stays open. No-op for plain TCP (ssl NULL). */
void transport_end(SSL *ssl, int fd);

#endif
