/* Socket helpers (in the spirit of Redis anet.c). Addresses are numeric
 * "HOST:PORT" ("[v6]:PORT" for IPv6) or a name resolved once at startup;
 * nothing here is called with a name from inside an event loop. */
#ifndef SPOKE_NET_H
#define SPOKE_NET_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addr {
    char host[256];
    uint16_t port;
};

/* Parses "HOST:PORT". Returns 0, or -1 if malformed (port 0 is allowed only
 * when allow_port0 is set: "pick a free port"). */
int net_parse_addr(const char *s, struct net_addr *out, int allow_port0);

/* A list of addresses in the order given, such as the hubs an edge may link
 * to: "HOST:PORT,HOST:PORT" (blanks around each one are ignored). */
#define NET_ADDR_LIST_MAX 16
struct net_addr_list {
    size_t n; /* 1 to NET_ADDR_LIST_MAX once parsed */
    struct net_addr a[NET_ADDR_LIST_MAX];
};
/* Parses a comma-separated list of "HOST:PORT" (port 0 refused). Returns 0,
 * or -1 with the culprit in err: an element that is not HOST:PORT (an empty
 * one included), more than NET_ADDR_LIST_MAX elements, or one written twice.
 * out is unchanged on error. */
int net_parse_addr_list(const char *s, struct net_addr_list *out, char *err, size_t errlen);
/* 1 if a's host is a loopback address (127.0.0.0/8, ::1, "localhost"). */
int net_addr_is_loopback(const struct net_addr *a);
/* Formats as "HOST:PORT" into out (at least 300 bytes). */
const char *net_format_addr(const struct net_addr *a, char *out, size_t outlen);
/* Resolves a to a socket address (blocking getaddrinfo: startup only).
 * Returns 0, or -1 with a message in err. */
int net_resolve(const struct net_addr *a, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                size_t errlen);
/* Like net_listen without the listen(): a socket bound to a that accepts
 * nothing yet (connections to it are refused until listen()). */
int net_bind(const struct net_addr *a, int reuseport, char *err, size_t errlen);
/* Non-blocking, close-on-exec listening socket with SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport is set. Returns the fd, or -1 with err set. */
int net_listen(const struct net_addr *a, int reuseport, int backlog, char *err, size_t errlen);
/* Starts a non-blocking connect to a resolved address. Returns the fd (the
 * connection may still be in progress), or -1 with errno set. */
int net_connect(const struct sockaddr_storage *ss, socklen_t sslen);
/* For a connect in progress: 0 when connected, or the pending errno. */
int net_connect_result(int fd);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC. Returns the fd or -1 (errno). */
int net_accept(int lfd, struct sockaddr_storage *peer, socklen_t *peerlen);

/* ---- the accept loop, written once for every listener ---------------------
 * A level-triggered listener is drained a burst at a time: at most `burst`
 * connections per wake-up, so one busy listener cannot hold the loop.
 * Out of descriptors (EMFILE/ENFILE), a pending connection would keep the
 * listener readable forever and the loop would spin: the acceptor gives up
 * its spare descriptor, accepts the connection and closes it at once, then
 * reserves the spare again (the connection sees a reset or EOF, never a
 * hang). It logs once when shedding starts and once when accepting works
 * again, with the count, not once per connection. */

/* Takes one accepted connection: fd is non-blocking and close-on-exec, and
 * the callee owns it. */
typedef void (*net_accept_fn)(int fd, const struct sockaddr_storage *peer, void *ud);

struct net_acceptor {
    int fd;              /* the listening socket: not owned, the caller closes it */
    int spare_fd;        /* owned: given up to shed a connection; -1 if none */
    unsigned burst;      /* connections taken per net_acceptor_run at most */
    const char *what;    /* names the connections in log lines ("edge link") */
    int out_of_fds;      /* from an EMFILE/ENFILE until an accept works again */
    uint64_t shedding;   /* connections shed since then */
    uint64_t shed_total; /* connections shed since init */
};

/* Sets a up for listening socket lfd and opens its spare descriptor. what
 * must outlive a (a string literal). */
void net_acceptor_init(struct net_acceptor *a, int lfd, unsigned burst, const char *what);
/* Closes the spare (not the listener). Safe twice and on a zeroed struct
 * whose spare_fd is -1. */
void net_acceptor_deinit(struct net_acceptor *a);
/* For a readable listener: accepts up to a->burst connections, handing each
 * to fn(fd, peer, ud), and sheds pending ones while descriptors run out.
 * Stops early when nothing is pending (EAGAIN), when shedding cannot free a
 * descriptor, or on another accept error (logged). Returns the number of
 * connections handed to fn. */
int net_acceptor_run(struct net_acceptor *a, net_accept_fn fn, void *ud);

int net_set_nodelay(int fd);
int net_set_sndbuf(int fd, int bytes);
/* The port a bound socket listens on (for port 0 listeners), or 0. */
uint16_t net_local_port(int fd);
/* The address per-address limits count a peer under: an IPv4 address
 * (also when v4-mapped into IPv6; 4 bytes), or the /64 an IPv6 address is
 * in (8 bytes). Returns the length written to out, 0 for other families. */
size_t net_sockaddr_group(const struct sockaddr_storage *ss, uint8_t out[16]);
/* Numeric "ip:port" of a socket address. */
const char *net_format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t outlen);

#endif
