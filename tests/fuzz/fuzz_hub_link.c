/* libFuzzer driver for the hub's side of a link after HELLO (hub/edge_link*.c,
 * hub/interest.c, hub/publog.c, hub/directs.c and the engine with its
 * history): the input is what a hostile edge sends once it has linked, a
 * stream of length-prefixed link messages (common/link.h), which the driver
 * compresses and writes into one end of a socketpair whose other end the
 * hub has adopted as an accepted link. A second, well-behaved link
 * ("victim", interested in "t" and "u") gives publishes, directs and
 * results somewhere to go. The hub's loop runs until the input is worked
 * off. Inputs of odd length run against the memory-deferred engine (every
 * engine call answered on a later loop turn), even ones against memory;
 * every topic's epoch is "00000000", so that an input can resume from it.
 * Properties: no crash or sanitizer report; the engine's topic states stay
 * within max_topics and its history within its byte budget; the hub's own
 * interest within max_topics, forwarded directs within their cap, history
 * reads waiting within link_max_history_reads; the victim link survives;
 * and once both links are gone, nothing of them is left. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/log.h"
#include "common/policy.h"
#include "common/zstream.h"
#include "hub/directs.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"
#include "hub/engine.h"
#include "hub/hub.h"
#include "hub/interest.h"
#include "hub/publog.h"
#include "hub/registry.h"
#include "tests/fuzz/fuzz_check.h"

#define MAX_TOPICS 64
#define LINK_MAX_TOPICS 32
#define MAX_DIRECTS 16
#define MAX_HISTORY_READS 8
#define HISTORY_BYTES (64 << 10)

static struct hub hub;

static void hub_init(void)
{
    struct hub *h = &hub;
    h->link_fd = -1;
    h->cfg.name = "hub";
    h->cfg.heartbeat_ms = 600000;
    h->cfg.link_max_pending = 1 << 20;
    h->cfg.link_max_topics = LINK_MAX_TOPICS;
    h->cfg.max_topics = MAX_TOPICS;
    h->cfg.link_hello_timeout_ms = 600000;
    h->cfg.link_max_awaiting_hello = 4;
    h->cfg.link_max_awaiting_per_addr = 4;
    h->cfg.link_max_pending_directs = MAX_DIRECTS;
    h->cfg.link_max_history_reads = MAX_HISTORY_READS;
    h->cfg.history_bytes = HISTORY_BYTES;
    net_parse_addr("127.0.0.1:0", &h->cfg.listen, 1);
    policy_defaults(&h->policy);
    buf_init(&h->encoded);
    h->loop = ev_loop_new(EVFLAG_AUTO);
    char err[256];
    FUZZ_CHECK(edge_link_server_start(h, err, sizeof err) == 0);
    log_min_level = LOG_ERROR + 1; /* quiet: every input makes the hub complain */
}

/* One end of a link as an edge worker: a socketpair whose other end the hub
 * adopted, and our compressor. */
struct peer {
    int fd;
    struct zstream_out *z;
};

/* Reads and discards what the hub sent; returns how many bytes. */
static size_t drain(int fd)
{
    uint8_t junk[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, junk, sizeof junk)) > 0)
        total += (size_t)n;
    return total;
}

static void write_all(struct peer *p, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = write(p->fd, b, n);
        if (w < 0) {
            FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EPIPE ||
                       errno == ECONNRESET);
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return; /* the hub dropped the link */
            ev_run(hub.loop, EVRUN_NOWAIT);
            drain(p->fd);
            continue;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void send_msgs(struct peer *p, const uint8_t *raw, size_t n)
{
    struct buf out = BUF_INIT;
    FUZZ_CHECK(zout_write(p->z, raw, n, &out) == 0 && zout_flush(p->z, &out) == 0);
    write_all(p, buf_head(&out), buf_readable(&out));
    buf_deinit(&out);
}

static void send_msg(struct peer *p, const struct link_msg *m)
{
    struct buf b = BUF_INIT;
    FUZZ_CHECK(link_encode(&b, m) > 0);
    send_msgs(p, buf_head(&b), buf_readable(&b));
    buf_deinit(&b);
}

static void peer_open(struct peer *p, const char *name)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    for (int i = 0; i < 2; i++)
        FUZZ_CHECK(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK) == 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(0x7f000001);
    edge_link_adopt(&hub, sv[0], &ss);
    p->fd = sv[1];
    p->z = zout_new(ZSTREAM_LEVEL, ZSTREAM_WINDOW_LOG);
    FUZZ_CHECK(p->z != NULL);
    struct buf b = BUF_INIT;
    buf_append(&b, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
    struct link_msg hello = {.type = LINK_HELLO,
                             .version = LINK_PROTOCOL_VERSION,
                             .worker = 0,
                             .boot = 1,
                             .heartbeat_ms = 5000};
    hello.name = link_str_c(name);
    hello.region = link_str_c("fuzz");
    hello.software = link_str_c("fuzz");
    hello.public_url = link_str_c("");
    FUZZ_CHECK(link_encode(&b, &hello) > 0);
    write_all(p, buf_head(&b), buf_readable(&b));
    buf_deinit(&b);
}

static void peer_close(struct peer *p)
{
    close(p->fd);
    zout_free(p->z);
}

static int victim_linked(void)
{
    return registry_find(hub.registry, "victim", 6, 0) != NULL;
}

/* Epochs made of zero bytes: every topic's epoch is "00000000", so inputs
 * can name it and reach the replays. */
static void zero_random(void *buf, size_t n, void *ud)
{
    memset(buf, 0, n);
}

/* A fresh engine per input, so that one input's topic states do not fill
 * max_topics for the next. */
static void engine_start(int deferred)
{
    char err[256];
    struct engine_opts o = {.loop = hub.loop,
                            .max_topics = MAX_TOPICS,
                            .history_bytes = HISTORY_BYTES,
                            .on_message = edge_link_on_message,
                            .ud = &hub,
                            .random = zero_random};
    hub.engine = engine_new(deferred ? "memory-deferred" : "memory", &o, err, sizeof err);
    FUZZ_CHECK(hub.engine != NULL);
}

static void check_bounds(void)
{
    struct engine_stats st;
    engine_stats(hub.engine, &st);
    FUZZ_CHECK(st.topics <= MAX_TOPICS);
    FUZZ_CHECK(st.history_bytes <= HISTORY_BYTES);
    FUZZ_CHECK(interest_topic_count(hub.interest) <= MAX_TOPICS);
    FUZZ_CHECK(directs_count(hub.directs) <= 2 * MAX_DIRECTS);
    for (struct edge_link *l = hub.links; l; l = l->next) {
        FUZZ_CHECK(l->nreads <= MAX_HISTORY_READS);
        FUZZ_CHECK(interest_peer_topics(l->peer) <= LINK_MAX_TOPICS);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hub.loop)
        hub_init();
    engine_start(size & 1);
    struct peer victim, evil;
    peer_open(&victim, "victim");
    for (int i = 0; i < 4; i++)
        ev_run(hub.loop, EVRUN_NOWAIT);
    FUZZ_CHECK(victim_linked());
    static const char *topics[] = {"t", "u"};
    for (int i = 0; i < 2; i++) {
        struct link_msg m = {.type = LINK_INTEREST_ADD, .id = i + 1};
        m.topic = link_str_c(topics[i]);
        send_msg(&victim, &m);
    }
    peer_open(&evil, "evil");
    for (int i = 0; i < 4; i++)
        ev_run(hub.loop, EVRUN_NOWAIT);

    if (size)
        send_msgs(&evil, data, size);
    /* Work it off (the hub takes a budget per loop turn) until nothing
     * moves for a few turns. */
    for (int i = 0, quiet = 0; i < 1000 && quiet < 3; i++) {
        ev_run(hub.loop, EVRUN_NOWAIT);
        check_bounds();
        size_t moved = drain(victim.fd) + drain(evil.fd);
        quiet = moved || hub.backlogged || hub.replaying ? 0 : quiet + 1;
    }
    FUZZ_CHECK(victim_linked()); /* whatever the evil link did, the victim stays */

    peer_close(&evil);
    peer_close(&victim);
    for (int i = 0; i < 8; i++)
        ev_run(hub.loop, EVRUN_NOWAIT);
    FUZZ_CHECK(!victim_linked());
    FUZZ_CHECK(interest_topic_count(hub.interest) == 0);
    FUZZ_CHECK(directs_count(hub.directs) == 0);
    FUZZ_CHECK(registry_count(hub.registry) == 0);
    engine_free(hub.engine); /* its last answers find no link */
    hub.engine = NULL;
    publog_expire(hub.publog, 1e18); /* the next input starts without records */
    FUZZ_CHECK(publog_count(hub.publog) == 0);
    return 0;
}
