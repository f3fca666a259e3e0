/* spoke-sendfloor: the floor of a fan-out that writes once per subscriber
 * from one thread, measured on this machine without any server code.
 *
 * The process listens on 127.0.0.1 port 0 and forks a drainer child that
 * opens --subs connections to it and reads them (epoll, level-triggered, one
 * 64 KiB read per ready socket per wake-up, as a subscriber generator does).
 * The parent accepts them (non-blocking, TCP_NODELAY, as an edge sets its
 * client sockets) and, for each "message", does one write() of the same
 * WebSocket text frame (--frame bytes in all, header included) to every
 * socket in turn. Per message it takes the wall time from the start of the
 * first write to the end of the last (the fan-out span) and its own thread's
 * CPU time over the same writes; --rate paces the messages (0: back to
 * back). The span is the floor: a server that writes once per subscriber
 * from one thread cannot reach the last subscriber sooner, and queueing
 * behind the previous message's span comes on top of it.
 *
 * With --batch K, each write carries K frames (K messages coalesced, as a
 * server does when messages queue up): a writev of K iovecs, or with
 * --gather 1 one iovec holding the K frames copied together (sendq.c's
 * SENDQ_GATHER); per-send figures are then per write, and per_frame_cpu_ns
 * is per delivered frame.
 *
 * Usage: spoke-sendfloor [--subs 1000] [--frame 186] [--messages 2000]
 *                        [--rate 200] [--warmup 50] [--batch 1] [--gather 0]
 * Prints one JSON object on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "spoke-sendfloor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double arg_num(const char *k, const char *v, double lo, double hi)
{
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "spoke-sendfloor: --%s: a number in [%g, %g], got '%s'\n", k, lo, hi, v);
        exit(2);
    }
    return x;
}

/* The drainer: connects n sockets to port, tells the parent (one byte on
 * ready_fd) and reads until every socket has reached EOF. */
static void drain(unsigned n, uint16_t port, int ready_fd)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (unsigned i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
            die("connect");
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
    if (write(ready_fd, "r", 1) != 1)
        die("write ready");
    static char buf[65536];
    struct epoll_event evs[256];
    unsigned open = n;
    while (open) {
        int k = epoll_wait(ep, evs, 256, -1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            die("epoll_wait");
        for (int j = 0; j < k; j++) {
            ssize_t r = read(evs[j].data.fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                close(evs[j].data.fd); /* also leaves the epoll set */
                open--;
            }
        }
    }
    _exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v[0..n) (nearest rank), in microseconds. */
static double q_us(const uint64_t *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return (double)v[i - 1] / 1000.0;
}

/* A WebSocket text frame of `total` bytes (RFC 6455 §5.2: 2-byte header up
 * to 125 payload bytes, 4 bytes up to 65535) holding JSON shaped like the
 * edge's msg, padded to length. */
static char *make_frame(size_t total)
{
    size_t hdr = total - 2 <= 125 ? 2 : 4;
    char *f = malloc(total);
    if (!f || total < hdr + 2)
        return NULL;
    size_t n = total - hdr;
    f[0] = (char)0x81;
    if (hdr == 2) {
        f[1] = (char)n;
    } else {
        f[1] = 126;
        f[2] = (char)(n >> 8);
        f[3] = (char)(n & 0xff);
    }
    char *p = f + hdr;
    int w = snprintf(p, n + 1, "{\"op\":\"msg\",\"topic\":\"bench.fanout\",\"seq\":1,\"data\":\"");
    size_t fixed = (size_t)(w > 0 ? w : 0);
    if (fixed + 2 > n) {
        memset(p, 'x', n);
        return f;
    }
    memset(p + fixed, 'x', n - fixed - 2);
    p[n - 2] = '"';
    p[n - 1] = '}';
    return f;
}

int main(int argc, char **argv)
{
    unsigned subs = 1000, warmup = 50, batch = 1, gather = 0;
    size_t frame_len = 186;
    uint64_t messages = 2000;
    double rate = 200;

    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            puts("usage: spoke-sendfloor [--subs N] [--frame BYTES] [--messages M] "
                 "[--rate PER_S (0: back to back)] [--warmup M]");
            return 0;
        }
        if (strncmp(k, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "spoke-sendfloor: expected --key value, got '%s'\n", k);
            return 2;
        }
        const char *v = argv[++i];
        k += 2;
        if (!strcmp(k, "subs"))
            subs = (unsigned)arg_num(k, v, 1, 100000);
        else if (!strcmp(k, "frame"))
            frame_len = (size_t)arg_num(k, v, 4, 65000);
        else if (!strcmp(k, "messages"))
            messages = (uint64_t)arg_num(k, v, 1, 1e8);
        else if (!strcmp(k, "rate"))
            rate = arg_num(k, v, 0, 1e6);
        else if (!strcmp(k, "batch"))
            batch = (unsigned)arg_num(k, v, 1, 1024);
        else if (!strcmp(k, "gather"))
            gather = (unsigned)arg_num(k, v, 0, 1);
        else if (!strcmp(k, "warmup"))
            warmup = (unsigned)arg_num(k, v, 0, 1e6);
        else {
            fprintf(stderr, "spoke-sendfloor: unknown option --%s\n", k);
            return 2;
        }
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < subs + 64) {
        rl.rlim_cur = rl.rlim_max < subs + 64 ? rl.rlim_max : subs + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char *frame = make_frame(frame_len);
    if (!frame) {
        fprintf(stderr, "spoke-sendfloor: --frame too small\n");
        return 2;
    }
    /* K iovecs over K copies of the frame (distinct buffers, as queued
     * frames are), and the same bytes contiguous for --gather. */
    struct iovec *iov = malloc(batch * sizeof *iov);
    char *copies = malloc(batch * frame_len), *joined = malloc(batch * frame_len);
    if (!iov || !copies || !joined)
        die("malloc");
    for (unsigned j = 0; j < batch; j++) {
        memcpy(copies + j * frame_len, frame, frame_len);
        iov[j].iov_base = copies + j * frame_len;
        iov[j].iov_len = frame_len;
    }
    size_t write_len = batch * frame_len;

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, (int)subs) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
        die("listen on 127.0.0.1 port 0");
    int ready[2];
    if (pipe(ready) < 0)
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(lfd);
        close(ready[0]);
        drain(subs, ntohs(a.sin_port), ready[1]);
    }
    close(ready[1]);

    int *fds = malloc(subs * sizeof *fds);
    uint64_t *span = malloc(messages * sizeof *span), *cpu = malloc(messages * sizeof *cpu);
    if (!fds || !span || !cpu)
        die("malloc");
    for (unsigned i = 0; i < subs; i++) {
        /* Waits for the next connection, or the drainer's end: it writes
         * its ready byte only after all of them, so a pipe readable before
         * that means it died (EOF), and 30 s without either is a hang. */
        struct pollfd pf[2] = {{.fd = lfd, .events = POLLIN}, {.fd = ready[0], .events = POLLIN}};
        int pr;
        while ((pr = poll(pf, 2, 30000)) < 0 && errno == EINTR)
            ;
        if (pr <= 0 || !(pf[0].revents & POLLIN)) {
            fprintf(stderr, "spoke-sendfloor: the drainer made %u of %u connections and %s\n", i,
                    subs, pr == 0 ? "stalled for 30 s" : "ended");
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            return 1;
        }
        fds[i] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fds[i] < 0)
            die("accept4");
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) {
        fprintf(stderr, "spoke-sendfloor: the drainer did not get ready\n");
        return 1;
    }

    /* Messages are due every 1/rate from the start; a late one goes at once,
     * so queueing in this loop shows as a late start (late_starts). */
    uint64_t period = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    uint64_t t_start = clock_ns(CLOCK_MONOTONIC), sends = 0, blocked = 0, late = 0;
    uint64_t cpu_all0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (uint64_t m = 0; m < warmup + messages; m++) {
        if (m == warmup) {
            t_start = clock_ns(CLOCK_MONOTONIC);
            cpu_all0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        }
        if (period) {
            /* Pacing of the load itself (not a wait for readiness). */
            uint64_t due = t_start + (m >= warmup ? m - warmup : m) * period;
            uint64_t now = clock_ns(CLOCK_MONOTONIC);
            if (due > now) {
                struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u),
                                      .tv_nsec = (long)(due % 1000000000u)};
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                    ;
            } else if (m > warmup && now - due > period) {
                late++;
            }
        }
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC);
        for (unsigned i = 0; i < subs; i++) {
            ssize_t w;
            if (batch == 1) {
                w = write(fds[i], frame, frame_len);
            } else if (gather) {
                for (unsigned j = 0; j < batch; j++)
                    memcpy(joined + j * frame_len, iov[j].iov_base, frame_len);
                struct iovec one = {.iov_base = joined, .iov_len = write_len};
                w = writev(fds[i], &one, 1);
            } else {
                w = writev(fds[i], iov, (int)batch);
            }
            if (w != (ssize_t)write_len)
                blocked++; /* the peer did not drain in time: a real server would queue */
        }
        uint64_t t1 = clock_ns(CLOCK_MONOTONIC), c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (m >= warmup) {
            span[m - warmup] = t1 - t0;
            cpu[m - warmup] = c1 - c0;
            sends += subs;
        }
    }
    uint64_t wall = clock_ns(CLOCK_MONOTONIC) - t_start;
    uint64_t cpu_all = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_all0;
    for (unsigned i = 0; i < subs; i++)
        close(fds[i]);
    int status;
    struct rusage ru;
    if (wait4(child, &status, 0, &ru) < 0)
        die("wait4");
    double child_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;

    uint64_t span_sum = 0, cpu_sum = 0;
    for (uint64_t m = 0; m < messages; m++) {
        span_sum += span[m];
        cpu_sum += cpu[m];
    }
    qsort(span, messages, sizeof *span, cmp_u64);
    qsort(cpu, messages, sizeof *cpu, cmp_u64);
    printf("{\"subs\":%u,\"frame_bytes\":%zu,\"batch\":%u,\"gather\":%u,"
           "\"per_frame_cpu_ns\":%.1f,\"messages\":%" PRIu64 ",\"rate\":%g,"
           "\"sends\":%" PRIu64 ",\"blocked_sends\":%" PRIu64 ",\"late_starts\":%" PRIu64 ","
           "\"per_send_cpu_ns\":%.0f,\"per_send_wall_ns\":%.0f,"
           "\"span_mean_us\":%.1f,\"span_p50_us\":%.1f,\"span_p90_us\":%.1f,"
           "\"span_p99_us\":%.1f,\"span_max_us\":%.1f,"
           "\"cpu_per_msg_p50_us\":%.1f,\"cpu_per_msg_p99_us\":%.1f,"
           "\"busy\":%.3f,\"sender_cpu_s\":%.3f,\"drainer_cpu_s\":%.3f,\"wall_s\":%.3f}\n",
           subs, frame_len, batch, gather, (double)cpu_sum / (double)sends / batch, messages, rate,
           sends, blocked, late, (double)cpu_sum / (double)sends, (double)span_sum / (double)sends,
           (double)span_sum / (double)messages / 1000.0, q_us(span, messages, 0.50),
           q_us(span, messages, 0.90), q_us(span, messages, 0.99),
           (double)span[messages - 1] / 1000.0, q_us(cpu, messages, 0.50),
           q_us(cpu, messages, 0.99), wall ? (double)span_sum / (double)wall : 0.0,
           (double)cpu_all / 1e9, child_cpu, (double)wall / 1e9);
    free(span);
    free(cpu);
    free(fds);
    free(iov);
    free(copies);
    free(joined);
    free(frame);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
