/* Socket helpers: see net.h. */
#define _GNU_SOURCE
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

int net_parse_addr(const char *s, struct net_addr *out, int allow_port0)
{
    const char *colon;
    const char *host = s;
    size_t hostlen;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        host = s + 1;
        hostlen = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0 || hostlen >= sizeof out->host)
        return -1;
    const char *p = colon + 1;
    if (!*p)
        return -1;
    char *end;
    errno = 0;
    long port = strtol(p, &end, 10);
    if (errno || *end || port < 0 || port > 65535 || (port == 0 && !allow_port0))
        return -1;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->port = (uint16_t)port;
    return 0;
}

int net_parse_addr_list(const char *s, struct net_addr_list *out, char *err, size_t errlen)
{
    struct net_addr_list l = {0};
    for (const char *p = s;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char one[sizeof l.a[0].host + 8];
        if (len >= sizeof one) {
            snprintf(err, errlen, "'%.40s...' is not HOST:PORT", p);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (l.n == NET_ADDR_LIST_MAX) {
            snprintf(err, errlen, "more than %d addresses", NET_ADDR_LIST_MAX);
            return -1;
        }
        if (net_parse_addr(one, &l.a[l.n], 0) < 0) {
            snprintf(err, errlen, "'%s' is not HOST:PORT", one);
            return -1;
        }
        for (size_t i = 0; i < l.n; i++) {
            if (l.a[i].port == l.a[l.n].port && strcmp(l.a[i].host, l.a[l.n].host) == 0) {
                snprintf(err, errlen, "'%s' is listed twice", one);
                return -1;
            }
        }
        l.n++;
        if (!end)
            break;
        p = end;
    }
    *out = l;
    return 0;
}

int net_addr_is_loopback(const struct net_addr *a)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp(a->host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, a->host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, a->host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return 0;
}

const char *net_format_addr(const struct net_addr *a, char *out, size_t outlen)
{
    if (strchr(a->host, ':'))
        snprintf(out, outlen, "[%s]:%u", a->host, a->port);
    else
        snprintf(out, outlen, "%s:%u", a->host, a->port);
    return out;
}

int net_resolve(const struct net_addr *a, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                size_t errlen)
{
    struct addrinfo hints, *res;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", a->port);
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", a->host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_bind(const struct net_addr *a, int reuseport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char name[300];
    if (net_resolve(a, &ss, &sslen, err, errlen) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", net_format_addr(a, name, sizeof name),
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int net_listen(const struct net_addr *a, int reuseport, int backlog, char *err, size_t errlen)
{
    char name[300];
    int fd = net_bind(a, reuseport, err, errlen);
    if (fd < 0)
        return -1;
    if (listen(fd, backlog) < 0) {
        snprintf(err, errlen, "listen on %s: %s", net_format_addr(a, name, sizeof name),
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int net_connect(const struct sockaddr_storage *ss, socklen_t sslen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)ss, sslen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_connect_result(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return errno;
    return e;
}

int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen)
{
    return accept4(lfd, (struct sockaddr *)peer, peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Gives up the spare, accepts one pending connection and closes it, then
 * reserves the spare again. Returns 1 if a connection was shed, 0 if none
 * was pending, -1 if none could be accepted (errno). */
/* A descriptor held only to be given up when descriptors run out. */
static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int shed_one(int lfd, int *spare_fd)
{
    if (*spare_fd >= 0) {
        close(*spare_fd);
        *spare_fd = -1;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int e = errno;
    if (fd >= 0)
        close(fd);
    /* Another thread of the process may take the descriptor first; then
     * there is no spare until one is free again (the next call retries). */
    *spare_fd = open_spare();
    if (fd >= 0)
        return 1;
    errno = e;
    return e == EAGAIN || e == EWOULDBLOCK ? 0 : -1;
}

void net_acceptor_init(struct net_acceptor *a, int lfd, unsigned burst, const char *what)
{
    memset(a, 0, sizeof *a);
    a->fd = lfd;
    a->burst = burst ? burst : 1;
    a->what = what;
    a->spare_fd = open_spare();
}

void net_acceptor_deinit(struct net_acceptor *a)
{
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
}

int net_acceptor_run(struct net_acceptor *a, net_accept_fn fn, void *ud)
{
    int taken = 0;
    if (a->spare_fd < 0)
        a->spare_fd = open_spare(); /* lost to another thread last time */
    for (unsigned k = 0; k < a->burst; k++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = net_accept(a->fd, &ss, &sslen);
        if (fd >= 0) {
            if (a->out_of_fds) {
                log_info("accepting %s connections again; %llu shed while out of file "
                         "descriptors",
                         a->what, (unsigned long long)a->shedding);
                a->out_of_fds = 0;
                a->shedding = 0;
            }
            fn(fd, &ss, ud);
            taken++;
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE) {
            /* Linux allocates the descriptor before it looks at the queue:
             * EMFILE says nothing about whether a connection waits, so only
             * a shed that found one is counted, and EAGAIN ends the burst. */
            if (!a->out_of_fds)
                log_warn("out of file descriptors (%s): shedding new %s connections until "
                         "one can be accepted again",
                         strerror(errno), a->what);
            a->out_of_fds = 1;
            if (shed_one(a->fd, &a->spare_fd) <= 0)
                return taken; /* none pending, or no descriptor even for that */
            a->shedding++;
            a->shed_total++;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_warn("accept on the %s listener: %s", a->what, strerror(errno));
        return taken;
    }
    return taken;
}

int net_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int net_set_sndbuf(int fd, int bytes)
{
    return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

uint16_t net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

const char *net_format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        port = ntohs(s->sin_port);
        snprintf(out, outlen, "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        port = ntohs(s->sin6_port);
        snprintf(out, outlen, "[%s]:%u", ip, port);
    } else {
        snprintf(out, outlen, "?");
    }
    return out;
}

size_t net_sockaddr_group(const struct sockaddr_storage *ss, uint8_t out[16])
{
    if (ss->ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return 4;
    }
    if (ss->ss_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0) {
            memcpy(out, a + 12, 4);
            return 4;
        }
        /* One customer usually gets a whole /64: counting full addresses
         * would let one host use 2^64 of them. */
        memcpy(out, a, 8);
        return 8;
    }
    return 0;
}
