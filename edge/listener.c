/* A worker's listening sockets: see listener.h. */
#include "edge/listener.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "edge/client.h"
#include "edge/edge.h"

#define ACCEPTS_PER_WAKEUP 64

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct listener *ls = io->data;
    struct worker *w = ls->w;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = net_accept(ls->fd, &ss, &sslen);
        if (fd >= 0) {
            client_accept(w, fd, &ss, ls->tls);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE) {
            /* Out of descriptors: the pending connection would make EV_READ
             * fire forever. Use the spare fd to accept and drop it. */
            log_warn("out of file descriptors with %zu connections: refusing a connection",
                     w->nclients);
            net_shed_accept(ls->fd, &w->spare_fd);
            return;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warn("accept: %s", strerror(errno));
        return;
    }
}

static int bind_one(struct worker *w, const struct net_addr *addr, int tls, char *err,
                    size_t errlen)
{
    struct listener *ls = &w->listeners[w->nlisteners];
    ls->w = w;
    ls->tls = tls;
    ls->fd = net_bind(addr, 1, err, errlen);
    if (ls->fd < 0)
        return -1;
    ev_io_init(&ls->io, on_accept, ls->fd, EV_READ);
    ls->io.data = ls;
    w->nlisteners++;
    return 0;
}

int listener_bind_all(struct worker *w, char *err, size_t errlen)
{
    const struct edge_config *cfg = w->cfg;
    if (bind_one(w, &cfg->listen, 0, err, errlen) < 0 ||
        (cfg->client_tls && bind_one(w, &cfg->tls_listen, 1, err, errlen) < 0)) {
        listener_close_all(w);
        return -1;
    }
    return 0;
}

void listener_start_all(struct worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        struct listener *ls = &w->listeners[i];
        if (listen(ls->fd, 1024) < 0) {
            log_error("cannot accept %s clients: listen: %s", ls->tls ? "wss" : "ws",
                      strerror(errno));
            continue;
        }
        w->listening = 1;
        ev_io_start(w->loop, &ls->io);
    }
}

void listener_close_all(struct worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        struct listener *ls = &w->listeners[i];
        if (w->loop)
            ev_io_stop(w->loop, &ls->io);
        if (ls->fd >= 0)
            close(ls->fd);
        ls->fd = -1;
    }
}
