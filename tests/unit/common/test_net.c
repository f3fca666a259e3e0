/* Unit tests for common/net.c's accept loop (struct net_acceptor): the burst
 * limit per wake-up, and shedding pending connections with the spare
 * descriptor when the process is out of descriptors. Each case runs in a
 * forked child, where RLIMIT_NOFILE can be lowered without touching the
 * test runner, against a real listener on 127.0.0.1:0. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"

/* In the child: a failed check exits 1 (cmocka's asserts belong to the
 * parent). */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            _exit(1);                                                                \
        }                                                                            \
    } while (0)

static void run_in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        log_min_level = LOG_ERROR + 1; /* the acceptor's warnings are expected here */
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int listen_local(uint16_t *port)
{
    struct net_addr a;
    char err[256];
    CHECK(net_parse_addr("127.0.0.1:0", &a, 1) == 0);
    int fd = net_listen(&a, 0, 64, err, sizeof err);
    CHECK(fd >= 0);
    *port = net_local_port(fd);
    return fd;
}

/* A blocking client connected to port (the listener's backlog takes it
 * before anyone accepts), with a receive timeout so no check can hang. */
static int connect_local(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* 1 if the server side of client fd was closed (EOF or reset). */
static int was_shed(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

/* 1 if the server side of client fd is already closed, without waiting. */
static int was_shed_now(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int taken[64];
static int ntaken;

static void take(int fd, const struct sockaddr_storage *peer, void *ud)
{
    CHECK(peer->ss_family == AF_INET);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    (*(int *)ud)++;
    taken[ntaken++] = fd;
}

/* Uses up every descriptor below a lowered soft limit; returns how many it
 * took (kept open in fill[]). */
static int fill_fd_table(int *fill, int cap)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = 64; /* far above what the child holds, far below the usual 1024 */
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int n = 0;
    while (n < cap) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            CHECK(errno == EMFILE);
            break;
        }
        fill[n++] = fd;
    }
    CHECK(n > 0 && n < cap);
    return n;
}

static void burst_limit(void)
{
    uint16_t port;
    int lfd = listen_local(&port);
    struct net_acceptor a;
    net_acceptor_init(&a, lfd, 2, "test");
    CHECK(a.spare_fd >= 0);
    int clients[5];
    for (int i = 0; i < 5; i++)
        clients[i] = connect_local(port);
    int calls = 0;
    CHECK(net_acceptor_run(&a, take, &calls) == 2);
    CHECK(net_acceptor_run(&a, take, &calls) == 2);
    CHECK(net_acceptor_run(&a, take, &calls) == 1);
    CHECK(net_acceptor_run(&a, take, &calls) == 0); /* EAGAIN: nothing waits */
    CHECK(calls == 5 && a.shed_total == 0 && !a.out_of_fds);
    for (int i = 0; i < 5; i++)
        CHECK(!was_shed_now(clients[i]));
    net_acceptor_deinit(&a);
    CHECK(a.spare_fd == -1);
    net_acceptor_deinit(&a); /* twice is fine */
}

static void test_net_acceptor_takes_at_most_a_burst_per_run(void **state)
{
    run_in_child(burst_limit);
}

static void sheds_when_out_of_fds(void)
{
    uint16_t port;
    int lfd = listen_local(&port);
    struct net_acceptor a;
    net_acceptor_init(&a, lfd, 8, "test");
    int clients[3];
    for (int i = 0; i < 3; i++)
        clients[i] = connect_local(port);
    int fill[64];
    int nfill = fill_fd_table(fill, 64);

    int calls = 0;
    CHECK(net_acceptor_run(&a, take, &calls) == 0);
    CHECK(calls == 0);
    CHECK(a.shed_total == 3 && a.shedding == 3 && a.out_of_fds);
    CHECK(a.spare_fd >= 0); /* reserved again for the next time */
    for (int i = 0; i < 3; i++)
        CHECK(was_shed(clients[i]));

    /* Descriptors free again: the next connection is taken, and the
     * episode ends. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    int late = connect_local(port);
    CHECK(net_acceptor_run(&a, take, &calls) == 1);
    CHECK(calls == 1 && !a.out_of_fds && a.shedding == 0 && a.shed_total == 3);
    close(late);
    net_acceptor_deinit(&a);
}

static void test_net_acceptor_sheds_pending_connections_when_out_of_fds(void **state)
{
    run_in_child(sheds_when_out_of_fds);
}

static void counts_nothing_when_none_waits(void)
{
    uint16_t port;
    int lfd = listen_local(&port);
    struct net_acceptor a;
    net_acceptor_init(&a, lfd, 8, "test");
    int fill[64];
    fill_fd_table(fill, 64);
    /* Linux reports EMFILE before it looks at the queue: with nothing
     * waiting, the acceptor must stop at once and count no shed. */
    int calls = 0;
    CHECK(net_acceptor_run(&a, take, &calls) == 0);
    CHECK(calls == 0 && a.shed_total == 0 && a.spare_fd >= 0);
    net_acceptor_deinit(&a);
}

static void test_net_acceptor_counts_no_shed_when_nothing_waits(void **state)
{
    run_in_child(counts_nothing_when_none_waits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_acceptor_takes_at_most_a_burst_per_run),
        cmocka_unit_test(test_net_acceptor_sheds_pending_connections_when_out_of_fds),
        cmocka_unit_test(test_net_acceptor_counts_no_shed_when_nothing_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
