/* The seam between a connection and its socket: plain TCP, or TLS (wss)
 * when c->ssl is set, each connection encrypting its own copy of a shared
 * frame. Both calls follow read(2)/writev(2) conventions: -1 with errno
 * EAGAIN when the socket is not ready; a TLS failure is -1 with EPROTO and
 * its reason in transport_error(). */
#ifndef SPOKE_EDGE_TRANSPORT_H
#define SPOKE_EDGE_TRANSPORT_H
#include <sys/types.h>
#include <sys/uio.h>

struct client;

ssize_t transport_read(struct client *c, void *buf, size_t len);
ssize_t transport_writev(struct client *c, const struct iovec *iov, int iovcnt);
/* 1 if TLS holds decrypted bytes the next read returns: epoll will not
 * report them, so the reader must not wait for the socket. */
int transport_has_pending(const struct client *c);
/* Why the last call failed with EPROTO (this thread's last TLS error). */
const char *transport_error(void);
/* 1 if a wss connection that has not started its TLS handshake begins with
 * what looks like a plain HTTP request (a ws:// client on the wss port). */
int transport_is_plain_http(const struct client *c);
/* Ends the TLS session (close_notify when it is still healthy) and frees
 * it; the socket stays open. No-op for plain TCP. */
void transport_end(struct client *c);

#endif
