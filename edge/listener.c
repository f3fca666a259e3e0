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

static void take(int fd, const struct sockaddr_storage *peer, void *ud)
{
    struct listener *ls = ud;
    client_accept(ls->w, fd, peer, ls->tls);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct listener *ls = io->data;
    net_acceptor_run(&ls->acc, take, ls);
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
    net_acceptor_init(&ls->acc, ls->fd, ACCEPTS_PER_WAKEUP, tls ? "wss client" : "ws client");
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

unsigned listener_start_all(struct worker *w)
{
    unsigned n = 0;
    for (unsigned i = 0; i < w->nlisteners; i++) {
        struct listener *ls = &w->listeners[i];
        if (listen(ls->fd, 1024) < 0) {
            log_error("cannot accept %s clients: listen: %s", ls->tls ? "wss" : "ws",
                      strerror(errno));
            continue;
        }
        w->listening = 1;
        ev_io_start(w->loop, &ls->io);
        n++;
    }
    return n;
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
        net_acceptor_deinit(&ls->acc);
    }
}
