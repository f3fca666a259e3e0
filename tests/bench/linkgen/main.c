/* spoke-linkgen: options, links, the phases of a run, the control channel
 * (single lines on stdin and stdout, as spoke-loadgen's) and the result.
 *
 * A run: open rx_links receiving links and pub_links publishing links to
 * the hub's link port, each an edge worker of its own (name --name, worker
 * = its index, one random boot); every receiving link declares interest in
 * all --topics topics and waits for their INTEREST_RESULTs; then READY.
 * On "go" the publishing links replay their pre-compressed PUBLISHes
 * (replay.c) until --messages are sent in all, keeping at most --window
 * messages beyond what the slowest receiving link has counted; when every
 * receiving link has counted all of them, RESULT {json}; the links stay
 * open until stdin closes, then exit 0.
 *
 * stdout: READY, RESULT {json}. stderr: one line on error, then exit 1.
 * stdin: "go"; EOF before RESULT aborts with exit 2. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/connid.h"
#include "common/net.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "tests/bench/linkgen/linkgen.h"

static const char usage[] =
    "usage: spoke-linkgen --hub HOST:PORT [options]\n"
    "  --rx-links R        receiving links, each interested in every topic (default 1)\n"
    "  --pub-links P       publishing links (default 1)\n"
    "  --topics T          topics PREFIX.0 .. PREFIX.(T-1) (default 10)\n"
    "  --prefix PREFIX     topic prefix (default hubcap)\n"
    "  --messages M        publishes in all, round-robin over the topics (default 100000)\n"
    "  --size BYTES        data: a JSON string of this many bytes (default 16)\n"
    "  --corpus chat|none  chat: data from spoke-loadgen's chat corpus instead (default none)\n"
    "  --window W          messages sent beyond the slowest receiving link (default 200000)\n"
    "  --check-links K     receiving links that decode every MESSAGE and check seqs (default 1)\n"
    "  --frame-bytes N     uncompressed bytes per replayed zstd frame (default 262144)\n"
    "  --timeout S         give up S seconds after go (default 60)\n"
    "  --name NAME         the edge name in HELLO (default linkgen)\n";

static struct lg g_lg;

/* ---- sending --------------------------------------------------------------- */

static void want_write(struct lg_link *l, int on)
{
    if (l->watching_write == on)
        return;
    ev_io_stop(l->g->loop, &l->w);
    ev_io_set(&l->w, l->fd, EV_READ | (on ? EV_WRITE : 0));
    ev_io_start(l->g->loop, &l->w);
    l->watching_write = on;
}

/* Flushes and writes what linkio holds (HELLO, INTEREST_ADDs, HEARTBEATs). */
static void io_push(struct lg_link *l)
{
    if (linkio_flush(&l->io) < 0)
        lg_fatal("link %u: %s", l->idx, l->io.err);
    int rc = linkio_write(&l->io, l->fd);
    if (rc < 0)
        lg_fatal("link %u: %s", l->idx, l->io.err);
    want_write(l, rc == 1);
}

static uint64_t slowest_rx(const struct lg *g)
{
    uint64_t m = UINT64_MAX;
    for (unsigned i = 0; i < g->o.rx_links; i++)
        if (g->links[i].rx.messages < m)
            m = g->links[i].rx.messages;
    return m == UINT64_MAX ? 0 : m;
}

/* Writes the replay while the window allows. Returns 1 if it waits for the
 * socket. */
static int pub_pump(struct lg_link *l)
{
    struct lg *g = l->g;
    for (;;) {
        if (!l->cur) {
            if (l->hb_due) {
                /* A HEARTBEAT between frames: a frame of its own, written
                 * (and waited for) like the others. */
                struct link_msg m = {.type = LINK_HEARTBEAT, .time_ms = clock_wall_ms()};
                buf_reset(&l->hb_bytes);
                lg_frame_one(&m, &l->hb_bytes);
                l->hb = (struct lg_frame){.z = buf_head(&l->hb_bytes),
                                          .zlen = buf_readable(&l->hb_bytes)};
                l->cur = &l->hb;
                l->frame_off = 0;
                l->hb_due = 0;
            }
        }
        if (!l->cur) {
            if (l->sent >= l->target || g->phase != 3)
                return 0;
            const struct lg_frame *f = &l->replay.frames[l->frame];
            uint64_t left = l->target - l->sent;
            /* The window counts every publisher's messages against the
             * slowest receiving link. */
            uint64_t sent_all = 0;
            for (unsigned i = g->o.rx_links; i < g->nlinks; i++)
                sent_all += g->links[i].sent;
            uint32_t n = left < f->n ? (uint32_t)left : f->n;
            /* A frame is sent whole, so with nothing in flight one always
             * goes, whatever the window. */
            uint64_t rx = slowest_rx(g);
            if (sent_all > rx && sent_all + n > rx + g->o.window)
                return 0; /* lg_progress calls again */
            if (n < f->n) {
                lg_frame_prefix(f, n, &l->tail);
                f = &l->tail;
            }
            l->cur = f;
            l->frame_off = 0;
            l->sent += n;
        }
        while (l->frame_off < l->cur->zlen) {
            ssize_t n = write(l->fd, l->cur->z + l->frame_off, l->cur->zlen - l->frame_off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    want_write(l, 1);
                    return 1;
                }
                lg_fatal("link %u: write: %s", l->idx, strerror(errno));
            }
            l->frame_off += (size_t)n;
            l->wire_out += (uint64_t)n;
        }
        if (l->cur == &l->hb) {
            l->cur = NULL;
            continue;
        }
        l->cur = NULL;
        l->frame = (l->frame + 1) % l->replay.nframes;
        if (l->sent >= l->target && !g->t_sent_ns) {
            int all = 1;
            for (unsigned i = g->o.rx_links; i < g->nlinks; i++)
                all &= g->links[i].sent >= g->links[i].target && !g->links[i].cur;
            if (all)
                g->t_sent_ns = clock_mono_ns();
        }
    }
}

/* ---- results ----------------------------------------------------------------- */

static void result(struct lg *g)
{
    g->t_done_ns = clock_mono_ns();
    g->cpu_done = lg_cpu_s();
    uint64_t recv = 0, minr = UINT64_MAX, maxr = 0, wire_in = 0, raw_in = 0, gaps = 0;
    uint64_t wire_out = 0, sent = 0, frame_z = 0, frame_plain = 0, frames = 0;
    for (unsigned i = 0; i < g->o.rx_links; i++) {
        struct lg_rx *r = &g->links[i].rx;
        recv += r->messages;
        minr = r->messages < minr ? r->messages : minr;
        maxr = r->messages > maxr ? r->messages : maxr;
        wire_in += r->io.wire_in;
        raw_in += r->io.raw_in;
        gaps += r->seq_gaps;
    }
    for (unsigned i = g->o.rx_links; i < g->nlinks; i++) {
        struct lg_link *l = &g->links[i];
        wire_out += l->wire_out;
        sent += l->sent;
        frames += l->replay.nframes;
        for (size_t k = 0; k < l->replay.nframes; k++) {
            frame_z += l->replay.frames[k].zlen;
            frame_plain += l->replay.frames[k].plen;
        }
    }
    double go_s = (double)(g->t_done_ns - g->t_go_ns) / 1e9;
    printf("RESULT {\"rx_links\":%u,\"pub_links\":%u,\"topics\":%u,\"messages\":%llu,"
           "\"expected\":%llu,\"received\":%llu,\"min_link\":%llu,\"max_link\":%llu,"
           "\"seq_gaps\":%llu,\"checked_links\":%u,\"wire_in\":%llu,\"raw_in\":%llu,"
           "\"wire_out\":%llu,\"replay_frames\":%llu,\"replay_plain\":%llu,\"replay_z\":%llu,"
           "\"setup_s\":%.3f,\"go_to_sent_s\":%.3f,\"go_to_done_s\":%.3f,\"cpu_s\":%.3f,"
           "\"setup_cpu_s\":%.3f,\"message_links_per_s\":%.0f,\"timed_out\":%s}\n",
           g->o.rx_links, g->o.pub_links, g->o.topics, (unsigned long long)sent,
           (unsigned long long)(sent * g->o.rx_links), (unsigned long long)recv,
           (unsigned long long)(minr == UINT64_MAX ? 0 : minr), (unsigned long long)maxr,
           (unsigned long long)gaps,
           g->o.check_links < g->o.rx_links ? g->o.check_links : g->o.rx_links,
           (unsigned long long)wire_in, (unsigned long long)raw_in, (unsigned long long)wire_out,
           (unsigned long long)frames, (unsigned long long)frame_plain, (unsigned long long)frame_z,
           (double)(g->t_ready_ns - g->t_start_ns) / 1e9,
           g->t_sent_ns ? (double)(g->t_sent_ns - g->t_go_ns) / 1e9 : -1.0, go_s,
           g->cpu_done - g->cpu_go, g->cpu_go, go_s > 0 ? (double)recv / go_s : 0.0,
           g->timed_out ? "true" : "false");
    fflush(stdout);
    /* The links stay open until stdin closes, so the orchestrator can read
     * the hub's per-link counters (/api/links) first. */
    g->phase = 4;
    ev_timer_stop(g->loop, &g->deadline);
    ev_timer_stop(g->loop, &g->hb);
}

void lg_progress(struct lg *g)
{
    if (g->phase != 3)
        return;
    uint64_t want = 0;
    for (unsigned i = g->o.rx_links; i < g->nlinks; i++) {
        struct lg_link *l = &g->links[i];
        want += l->target;
        if (!l->watching_write)
            pub_pump(l);
    }
    if (slowest_rx(g) >= want)
        result(g);
}

/* ---- phases ------------------------------------------------------------------ */

static void open_more(struct lg *g);

static void go(struct lg *g)
{
    g->phase = 3;
    g->t_go_ns = clock_mono_ns();
    g->cpu_go = lg_cpu_s();
    ev_timer_set(&g->deadline, g->o.timeout_s, 0.);
    ev_timer_start(g->loop, &g->deadline);
    lg_progress(g);
}

void lg_setup_step(struct lg *g)
{
    if (g->phase == 0) {
        open_more(g);
        for (unsigned i = 0; i < g->nlinks; i++)
            if (!g->links[i].rx.hello)
                return;
        /* Every link is up: the receiving links declare their interest. */
        g->phase = 1;
        for (unsigned i = 0; i < g->o.rx_links; i++) {
            struct lg_link *l = &g->links[i];
            for (unsigned t = 0; t < g->o.topics; t++) {
                char topic[LINK_MAX_TOPIC + 1];
                snprintf(topic, sizeof topic, "%s.%u", g->o.prefix, t);
                struct link_msg m = {.type = LINK_INTEREST_ADD,
                                     .topic = link_str_c(topic),
                                     .id = (int64_t)t + 1,
                                     .since_epoch = link_str_c("")};
                if (linkio_send(&l->io, &m) < 0)
                    lg_fatal("link %u: %s", l->idx, l->io.err);
            }
            io_push(l);
        }
    }
    if (g->phase == 1) {
        for (unsigned i = 0; i < g->o.rx_links; i++) {
            struct lg_rx *r = &g->links[i].rx;
            if (r->interest_refused)
                lg_fatal("link %u: %llu INTEREST_ADDs refused", i,
                         (unsigned long long)r->interest_refused);
            if (r->interest_ok < g->o.topics)
                return;
        }
        g->phase = 2;
        g->t_ready_ns = clock_mono_ns();
        printf("READY\n");
        fflush(stdout);
        if (g->go_seen)
            go(g);
    }
}

static void on_link(struct ev_loop *loop, ev_io *w, int revents)
{
    struct lg_link *l = w->data;
    if (revents & EV_READ) {
        lg_rx_read(l);
        if (l->role == LG_RX)
            lg_progress(l->g);
    }
    if (revents & EV_WRITE) {
        if (l->role == LG_PUB && l->g->phase == 3 && l->io.out.len == l->io.out.off) {
            want_write(l, 0);
            pub_pump(l);
        } else {
            io_push(l);
        }
    }
}

static void on_ctl(struct ev_loop *loop, ev_io *w, int revents)
{
    struct lg *g = w->data;
    buf_reserve(&g->ctlbuf, 256);
    ssize_t n = read(0, buf_tail(&g->ctlbuf), buf_writable(&g->ctlbuf));
    if (n == 0) {
        if (g->phase == 4)
            exit(0); /* after RESULT: done */
        fprintf(stderr, "spoke-linkgen: stdin closed: aborting\n");
        exit(2);
    }
    if (n < 0)
        return;
    buf_commit(&g->ctlbuf, (size_t)n);
    char *p = (char *)buf_head(&g->ctlbuf), *nl;
    while ((nl = memchr(p, '\n', buf_readable(&g->ctlbuf)))) {
        size_t len = (size_t)(nl - p);
        if (len >= 2 && memcmp(p, "go", 2) == 0) {
            g->go_seen = 1;
            if (g->phase == 2)
                go(g);
        }
        buf_consume(&g->ctlbuf, len + 1);
        p = (char *)buf_head(&g->ctlbuf);
    }
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lg *g = w->data;
    for (unsigned i = 0; i < g->nopen; i++) {
        struct lg_link *l = &g->links[i];
        if (l->role == LG_PUB) {
            /* Never through linkio's zstd stream: its frame would stay open
             * under the replayed ones. A frame of its own, between two
             * frames of the replay. */
            if (l->io.out.len != l->io.out.off)
                continue; /* the HELLO is not out yet */
            l->hb_due = 1;
            if (!l->watching_write)
                pub_pump(l);
            continue;
        }
        struct link_msg m = {.type = LINK_HEARTBEAT, .time_ms = clock_wall_ms()};
        if (linkio_send(&l->io, &m) < 0)
            lg_fatal("link %u: %s", l->idx, l->io.err);
        io_push(l);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lg *g = w->data;
    fprintf(stderr, "spoke-linkgen: timed out %.0f s after go (slowest link %llu messages)\n",
            g->o.timeout_s, (unsigned long long)slowest_rx(g));
    g->timed_out = 1;
    result(g);
}

static void link_open(struct lg *g, struct lg_link *l, const struct sockaddr_storage *ss,
                      socklen_t sslen)
{
    l->g = g;
    l->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || connect(l->fd, (const struct sockaddr *)ss, sslen) < 0)
        lg_fatal("connect to %s: %s", g->o.hub, strerror(errno));
    fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
    net_set_nodelay(l->fd);
    lg_rx_init(&l->rx);
    if (linkio_init(&l->io) < 0)
        lg_fatal("linkio: %s", l->io.err);
    struct link_msg hello = {.type = LINK_HELLO,
                             .version = LINK_PROTOCOL_VERSION,
                             .name = link_str_c(g->o.name),
                             .region = link_str_c("bench"),
                             .worker = l->idx,
                             .software = link_str_c(SPOKE_VERSION),
                             .boot = g->boot,
                             .heartbeat_ms = 5000,
                             .public_url = link_str_c("")};
    if (linkio_send(&l->io, &hello) < 0)
        lg_fatal("link %u: %s", l->idx, l->io.err);
    ev_io_init(&l->w, on_link, l->fd, EV_READ);
    l->w.data = l;
    ev_io_start(g->loop, &l->w);
    io_push(l);
}

/* Opens links while fewer than LG_AWAITING wait for the hub's HELLO: the
 * hub keeps at most link_max_awaiting_hello (64) strangers and drops the
 * oldest beyond. */
#define LG_AWAITING 16
static void open_more(struct lg *g)
{
    unsigned waiting = 0;
    for (unsigned i = 0; i < g->nopen; i++)
        waiting += !g->links[i].rx.hello;
    while (g->nopen < g->nlinks && waiting < LG_AWAITING) {
        struct lg_link *l = &g->links[g->nopen++];
        int check = l->rx.check;
        link_open(g, l, &g->ss, g->sslen);
        l->rx.check = check;
        if (check)
            l->rx.last_seq = xcalloc(g->o.topics, sizeof *l->rx.last_seq);
        waiting++;
    }
}

static unsigned long num(const char *flag, const char *v, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        lg_fatal("%s: %s is not a number in [%lu, %lu]", flag, v, lo, hi);
    return x;
}

static void parse(struct lg_opts *o, int argc, char **argv)
{
    *o = (struct lg_opts){.rx_links = 1,
                          .pub_links = 1,
                          .topics = 10,
                          .messages = 100000,
                          .size = 16,
                          .window = 200000,
                          .check_links = 1,
                          .timeout_s = 60,
                          .frame_bytes = 256 << 10,
                          .name = "linkgen",
                          .prefix = "hubcap"};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!v)
            lg_fatal("%s needs a value\n%s", k, usage);
        i++;
        if (!strcmp(k, "--hub"))
            snprintf(o->hub, sizeof o->hub, "%s", v);
        else if (!strcmp(k, "--rx-links"))
            o->rx_links = (unsigned)num(k, v, 1, 1000);
        else if (!strcmp(k, "--pub-links"))
            o->pub_links = (unsigned)num(k, v, 1, 16);
        else if (!strcmp(k, "--topics"))
            o->topics = (unsigned)num(k, v, 1, 10000000);
        else if (!strcmp(k, "--prefix"))
            o->prefix = v;
        else if (!strcmp(k, "--messages"))
            o->messages = num(k, v, 1, 1UL << 40);
        else if (!strcmp(k, "--size"))
            o->size = (unsigned)num(k, v, 2, 4096);
        else if (!strcmp(k, "--window"))
            o->window = num(k, v, 1, 1UL << 40);
        else if (!strcmp(k, "--check-links"))
            o->check_links = (unsigned)num(k, v, 0, 1000);
        else if (!strcmp(k, "--frame-bytes"))
            o->frame_bytes = num(k, v, 1024, 8u << 20);
        else if (!strcmp(k, "--timeout"))
            o->timeout_s = (double)num(k, v, 1, 86400);
        else if (!strcmp(k, "--corpus"))
            o->chat = !strcmp(v, "chat")   ? 1
                      : !strcmp(v, "none") ? 0
                                           : (lg_fatal("--corpus chat|none"), 0);
        else if (!strcmp(k, "--name"))
            o->name = v;
        else
            lg_fatal("unknown option %s\n%s", k, usage);
    }
    if (!o->hub[0])
        lg_fatal("--hub is required\n%s", usage);
    if (o->rx_links + o->pub_links > CONNID_WORKER_LIMIT)
        lg_fatal("at most %d links (one edge worker each)", CONNID_WORKER_LIMIT);
}

int main(int argc, char **argv)
{
    struct lg *g = &g_lg;
    signal(SIGPIPE, SIG_IGN); /* a closed link is an error message, not a signal */
    parse(&g->o, argc, argv);
    g->t_start_ns = clock_mono_ns();
    struct net_addr a;
    struct sockaddr_storage ss;
    socklen_t sslen;
    char err[256];
    if (net_parse_addr(g->o.hub, &a, 0) < 0 || net_resolve(&a, &ss, &sslen, err, sizeof err) < 0)
        lg_fatal("--hub %s: not HOST:PORT", g->o.hub);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srandom((unsigned)(ts.tv_nsec ^ getpid()));
    g->boot = (uint32_t)random() | 1u;
    g->loop = EV_DEFAULT;
    g->nlinks = g->o.rx_links + g->o.pub_links;
    g->links = xcalloc(g->nlinks, sizeof *g->links);
    buf_init(&g->ctlbuf);

    for (unsigned i = 0; i < g->nlinks; i++) {
        struct lg_link *l = &g->links[i];
        l->idx = i;
        l->role = i < g->o.rx_links ? LG_RX : LG_PUB;
        if (l->role == LG_RX && i < g->o.check_links) {
            l->rx.check = 1;
        }
    }
    /* The replays first: the hub should not wait for them with links open. */
    uint64_t per = g->o.messages / g->o.pub_links, extra = g->o.messages % g->o.pub_links;
    for (unsigned i = g->o.rx_links; i < g->nlinks; i++) {
        struct lg_link *l = &g->links[i];
        struct connid c = {.name = g->o.name,
                           .name_len = strlen(g->o.name),
                           .worker = l->idx,
                           .boot = g->boot,
                           .seq = 1};
        if (connid_format(l->conn, sizeof l->conn, &c) < 0)
            lg_fatal("--name %s: not a valid edge name", g->o.name);
        lg_replay_build(&l->replay, &g->o, l->conn);
        l->target = per + (i - g->o.rx_links < extra ? 1 : 0);
    }
    g->ss = ss;
    g->sslen = sslen;
    open_more(g);
    ev_io_init(&g->ctl, on_ctl, 0, EV_READ);
    g->ctl.data = g;
    ev_io_start(g->loop, &g->ctl);
    ev_timer_init(&g->hb, on_heartbeat, 2.0, 2.0);
    g->hb.data = g;
    ev_timer_start(g->loop, &g->hb);
    ev_init(&g->deadline, on_deadline);
    g->deadline.data = g;
    ev_run(g->loop, 0);
    return 1;
}
