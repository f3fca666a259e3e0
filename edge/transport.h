/* The seam between a connection and its socket. Plain TCP today; TLS (the
 * security issue) slots in here, where each connection encrypts its own copy
 * of a shared frame. Both calls follow read(2)/writev(2) conventions:
 * -1 with errno EAGAIN when the socket is not ready. */
#ifndef SPOKE_EDGE_TRANSPORT_H
#define SPOKE_EDGE_TRANSPORT_H
#include <sys/types.h>
#include <sys/uio.h>

struct client;

ssize_t transport_read(struct client *c, void *buf, size_t len);
ssize_t transport_writev(struct client *c, const struct iovec *iov, int iovcnt);

#endif
