/* Plain TCP transport: see transport.h. */
#include "edge/transport.h"

#include <unistd.h>

#include "edge/client.h"

ssize_t transport_read(struct client *c, void *buf, size_t len)
{
    return read(c->io.fd, buf, len);
}

ssize_t transport_writev(struct client *c, const struct iovec *iov, int iovcnt)
{
    return writev(c->io.fd, iov, iovcnt);
}
