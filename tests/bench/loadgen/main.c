/* spoke-loadgen: options, the control channel with the orchestrator
 * (single lines on stdin and stdout), results, and startup of one role.
 *
 * stdout: READY, WARM (sub), RESULT {json}; each line flushed at once.
 * stderr: one line on error, then exit 1. stdin: "go" starts the measured
 * phase (pub; a sub starts its timeout clock); EOF aborts with exit 2. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/net.h"
#include "common/xalloc.h"
#include "tests/bench/loadgen/lg.h"

static const char usage[] =
    "usage: spoke-loadgen --role sub|pub|handshake|churn|idle --url ws[s]://HOST:PORT/PATH [options]\n"
    "  --proto spoke|nats       protocol (default spoke)\n"
    "  --encoding json|msgpack  spoke subprotocol (default json)\n"
    "  --url URL                repeatable; connections are spread round-robin; wss:// uses TLS\n"
    "  --src-ips A-B            bind connections to source addresses A..B round-robin\n"
    "  --conns N                connections (sub/idle/pub: 1; handshake/churn: 50 in flight)\n"
    "  --topic NAME             topic (default bench)\n"
    "  --topics K               sub/idle: conn j on NAME.((B+j) mod K); pub: message i to NAME.(i mod K)\n"
    "  --topic-base B           see --topics (default 0)\n"
    "  --subs S                 idle: subscriptions per connection, conn j on NAME.((B+j*S+s) mod K)\n"
    "                           for s < S; 0: none, the welcome is enough (default 1)\n"
    "  --messages M             pub: measured messages; sub: messages per connection (split over K topics)\n"
    "  --size BYTES             payload size (default 100)\n"
    "  --rate R                 pub: messages/s, 0 = as fast as the window allows (default 0)\n"
    "  --window W               pub: messages in flight when --rate 0 (default 64)\n"
    "  --timeout S              sub: measured phase time limit (default 60)\n"
    "  --duration S             idle: hold time; handshake/churn: run time (default 10)\n"
    "  --corpus chat            pub: deterministic chat messages instead of padding\n"
    "  --inflight N             connection attempts in flight during setup (default 200)\n"
    "  --setup-timeout S        give up if setup takes longer (default 120)\n"
    "  --rx-timestamps 0|1      latency to the kernel's receive timestamp, not to our read (default 1)\n"
    "  --tls                    connect with TLS (wss) to every URL: ALPN http/1.1, SNI from the host\n"
    "  --tls-ca FILE            verify the server's certificate and name against this CA (PEM).\n"
    "                           Without it the certificate is NOT verified (any server is accepted)\n"
    "  --tls-resume             resume TLS sessions (one per URL); default: every handshake is full\n"
    "  --reconnect since|plain|off  sub: after a close with 1001 or a lost connection, reconnect\n"
    "                           and subscribe again, with since (the last seq and the ack's epoch)\n"
    "                           or without it (plain); off: a close ends the connection (default)\n"
    "  --reconnect-url URL      repeatable; where reconnects go, round-robin (default: the --urls)\n"
    "  --deflate                offer permessage-deflate (no context takeover) and inflate\n"
    "  --spread 0|1             sub: per measured message, first and last arrival per URL\n"
    "  --echo 0|1               pub with --rate: 0 = do not subscribe to the topics (no echoes)\n"
    "  (--tls, --tls-resume and --deflate take no value, or 0|1)\n";

static struct lg g_lg;

/* ---- output */

void lg_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void lg_result(struct buf *b)
{
    if (g_lg.tls_ctx)
        tlsc_append_result(b, &g_lg);
    buf_append_u8(b, '}');
    fputs("RESULT ", stdout);
    fwrite(buf_head(b), 1, buf_readable(b), stdout);
    fputc('\n', stdout);
    fflush(stdout);
    exit(0);
}

void lg_append_latency(struct buf *b, const char *prefix, const struct hist *h, int with_hist)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
    for (unsigned i = 0; i < sizeof qs / sizeof qs[0]; i++)
        buf_printf(b, "\"%s%s_ns\":%llu,", prefix, qs[i].name,
                   (unsigned long long)hist_quantile(h, qs[i].q));
    buf_printf(b, "\"%smax_ns\":%llu", prefix, (unsigned long long)h->max);
    if (with_hist) {
        buf_printf(b, ",\"%shist\":", prefix);
        hist_append_json(h, b);
    }
}

void lg_append_close_codes(struct buf *b, const struct lg *lg)
{
    buf_append_str(b, "\"server_close_codes\":{");
    for (unsigned i = 0; i < sizeof lg->close_codes / sizeof lg->close_codes[0]; i++)
        if (lg->close_codes[i].n)
            buf_printf(b, "%s\"%u\":%llu", i ? "," : "", lg->close_codes[i].code,
                       (unsigned long long)lg->close_codes[i].n);
    buf_append_u8(b, '}');
}

/* ---- the control channel: stdin is read only when readable, one read()
 * each time, so it needs no O_NONBLOCK (which would also change a terminal
 * shared with the shell). */

static void ctl_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct lg *lg = w->data;
    char tmp[256];
    ssize_t n = read(0, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        fprintf(stderr, "spoke-loadgen: stdin closed: aborting\n");
        exit(2);
    }
    for (ssize_t i = 0; i < n; i++) {
        char ch = tmp[i];
        if (ch != '\n') {
            if (lg->ctl_len < sizeof lg->ctl_line - 1)
                lg->ctl_line[lg->ctl_len++] = ch;
            continue;
        }
        lg->ctl_line[lg->ctl_len] = 0;
        if (lg->ctl_len && lg->ctl_line[lg->ctl_len - 1] == '\r')
            lg->ctl_line[--lg->ctl_len] = 0;
        if (strcmp(lg->ctl_line, "go") == 0 && lg->ops->on_go)
            lg->ops->on_go(lg);
        lg->ctl_len = 0;
    }
}

/* ---- options */

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("spoke-loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (--help for usage)\n", stderr);
    exit(1);
}

static double num(const char *key, const char *v, double min, double max)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < min || d > max)
        usage_error("--%s: expected a number from %g to %g, got '%s'", key, min, max, v);
    return d;
}

/* Parses s into *u (--url and --reconnect-url). */
static void parse_url(struct lg_url *u, const char *s)
{
    struct net_addr a;
    char hostport[300], err[256];

    memset(u, 0, sizeof *u);
    if (strncmp(s, "ws://", 5) == 0) {
        s += 5;
    } else if (strncmp(s, "wss://", 6) == 0) {
        s += 6;
        u->tls = 1;
    } else {
        usage_error("--url: only ws:// or wss://HOST:PORT/PATH is supported, got '%s'", s);
    }
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof hostport)
        usage_error("--url: bad host");
    memcpy(hostport, s, hl);
    hostport[hl] = 0;
    snprintf(u->path, sizeof u->path, "%s", slash ? slash : "/");
    if (net_parse_addr(hostport, &a, 0) < 0)
        usage_error("--url: expected HOST:PORT, got '%s'", hostport);
    if (net_resolve(&a, &u->ss, &u->sslen, err, sizeof err) < 0)
        usage_error("--url: %s", err);
    snprintf(u->hostport, sizeof u->hostport, "%s", hostport);
    snprintf(u->host, sizeof u->host, "%s", a.host);
    struct in6_addr ip;
    u->host_is_ip = inet_pton(AF_INET, a.host, &ip) == 1 || inet_pton(AF_INET6, a.host, &ip) == 1;
}

static void parse_src_ips(struct lg_opts *o, const char *s)
{
    char a[64], b[64];
    struct in_addr lo, hi;
    const char *dash = strchr(s, '-');

    snprintf(a, sizeof a, "%.*s", dash ? (int)(dash - s) : (int)strlen(s), s);
    snprintf(b, sizeof b, "%s", dash ? dash + 1 : s);
    if (inet_pton(AF_INET, a, &lo) != 1 || inet_pton(AF_INET, b, &hi) != 1)
        usage_error("--src-ips: expected A.B.C.D-A.B.C.D, got '%s'", s);
    uint32_t l = ntohl(lo.s_addr), h = ntohl(hi.s_addr);
    if (h < l || h - l >= 65536)
        usage_error("--src-ips: empty or too large range '%s'", s);
    o->nsrc = h - l + 1;
    o->src_ips = xcalloc(o->nsrc, sizeof *o->src_ips);
    for (uint32_t i = 0; i < o->nsrc; i++)
        o->src_ips[i].s_addr = htonl(l + i);
}

static void parse_args(struct lg_opts *o, int argc, char **argv)
{
    int conns_set = 0, role_set = 0, enc_set = 0;
    static struct lg_url rurls[LG_MAX_URLS]; /* --reconnect-url, moved behind the --urls */

    *o = (struct lg_opts){
        .proto = PROTO_SPOKE,
        .enc = ENC_JSON,
        .conns = 1,
        .topic = "bench",
        .topics = 1,
        .subs = 1,
        .size = 100,
        .window = 64,
        .timeout = 60,
        .duration = 10,
        .setup_timeout = 120,
        .inflight = 200,
        .rx_timestamps = 1,
        .echo = 1,
    };
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        /* Switches without a value; "--tls 1" (the orchestrator's pairs) works too. */
        if (!strcmp(k, "--tls") || !strcmp(k, "--tls-resume") || !strcmp(k, "--deflate")) {
            int on = 1;
            if (i + 1 < argc && (!strcmp(argv[i + 1], "0") || !strcmp(argv[i + 1], "1")))
                on = argv[++i][0] == '1';
            if (!strcmp(k, "--tls"))
                o->tls = on;
            else if (!strcmp(k, "--deflate"))
                o->deflate = on;
            else
                o->tls_resume = on;
            continue;
        }
        if (strncmp(k, "--", 2) != 0 || i + 1 >= argc)
            usage_error("expected --key value, got '%s'", k);
        k += 2;
        const char *v = argv[++i];
        if (!strcmp(k, "role")) {
            static const char *const names[] = {"sub", "pub", "handshake", "churn", "idle"};
            unsigned r;
            for (r = 0; r < 5 && strcmp(v, names[r]); r++)
                ;
            if (r == 5)
                usage_error("--role: sub, pub, handshake, churn or idle, got '%s'", v);
            o->role = (enum lg_role)r;
            role_set = 1;
        } else if (!strcmp(k, "proto")) {
            if (!strcmp(v, "spoke"))
                o->proto = PROTO_SPOKE;
            else if (!strcmp(v, "nats"))
                o->proto = PROTO_NATS;
            else
                usage_error("--proto: spoke or nats, got '%s'", v);
        } else if (!strcmp(k, "encoding")) {
            if (!strcmp(v, "json"))
                o->enc = ENC_JSON;
            else if (!strcmp(v, "msgpack"))
                o->enc = ENC_MSGPACK;
            else
                usage_error("--encoding: json or msgpack, got '%s'", v);
            enc_set = 1;
        } else if (!strcmp(k, "url")) {
            if (o->nurls == LG_MAX_URLS)
                usage_error("--url: at most %d", LG_MAX_URLS);
            parse_url(&o->urls[o->nurls++], v);
        } else if (!strcmp(k, "reconnect-url")) {
            if (o->nrurls == LG_MAX_URLS)
                usage_error("--reconnect-url: at most %d", LG_MAX_URLS);
            parse_url(&rurls[o->nrurls++], v);
        } else if (!strcmp(k, "reconnect")) {
            if (!strcmp(v, "off"))
                o->reconnect = RC_OFF;
            else if (!strcmp(v, "since"))
                o->reconnect = RC_SINCE;
            else if (!strcmp(v, "plain"))
                o->reconnect = RC_PLAIN;
            else
                usage_error("--reconnect: since, plain or off, got '%s'", v);
        } else if (!strcmp(k, "spread")) {
            o->spread = (int)num(k, v, 0, 1);
        } else if (!strcmp(k, "echo")) {
            o->echo = (int)num(k, v, 0, 1);
        } else if (!strcmp(k, "src-ips")) {
            parse_src_ips(o, v);
        } else if (!strcmp(k, "conns")) {
            o->conns = (unsigned)num(k, v, 1, 1000000);
            conns_set = 1;
        } else if (!strcmp(k, "topic")) {
            if (!*v || strlen(v) > 200)
                usage_error("--topic: 1 to 200 characters");
            o->topic = v;
        } else if (!strcmp(k, "topics")) {
            o->topics = (unsigned)num(k, v, 1, 10000000);
        } else if (!strcmp(k, "subs")) {
            o->subs = (unsigned)num(k, v, 0, 1000);
        } else if (!strcmp(k, "topic-base")) {
            o->topic_base = (unsigned)num(k, v, 0, 4e9);
        } else if (!strcmp(k, "messages")) {
            o->messages = (uint64_t)num(k, v, 0, 1e15);
        } else if (!strcmp(k, "size")) {
            o->size = (unsigned)num(k, v, 0, 60000);
        } else if (!strcmp(k, "rate")) {
            o->rate = num(k, v, 0, 1e9);
        } else if (!strcmp(k, "window")) {
            o->window = (unsigned)num(k, v, 1, 1e9);
        } else if (!strcmp(k, "timeout")) {
            o->timeout = num(k, v, 0.001, 1e7);
        } else if (!strcmp(k, "duration")) {
            o->duration = num(k, v, 0.001, 1e7);
        } else if (!strcmp(k, "setup-timeout")) {
            o->setup_timeout = num(k, v, 0.001, 1e7);
        } else if (!strcmp(k, "inflight")) {
            o->inflight = (unsigned)num(k, v, 1, 100000);
        } else if (!strcmp(k, "rx-timestamps")) {
            o->rx_timestamps = (int)num(k, v, 0, 1);
        } else if (!strcmp(k, "tls-ca")) {
            o->tls_ca = v;
        } else if (!strcmp(k, "corpus")) {
            if (!strcmp(v, "chat"))
                o->corpus_chat = 1;
            else if (!strcmp(v, "chat1k"))
                o->corpus_chat = 2;
            else
                usage_error("--corpus: 'chat' or 'chat1k', got '%s'", v);
        } else {
            usage_error("unknown option --%s", k);
        }
    }
    if (!role_set)
        usage_error("--role is required");
    if (!o->nurls)
        usage_error("at least one --url is required");
    if (o->proto == PROTO_NATS && enc_set && o->enc != ENC_JSON)
        usage_error("--encoding applies to --proto spoke only");
    if (o->corpus_chat == 2 && (o->proto != PROTO_SPOKE || o->enc != ENC_JSON))
        usage_error("--corpus chat1k applies to --proto spoke with json only");
    if (!conns_set && (o->role == ROLE_HANDSHAKE || o->role == ROLE_CHURN))
        o->conns = 50;
    if (o->reconnect != RC_OFF && (o->role != ROLE_SUB || o->proto != PROTO_SPOKE))
        usage_error("--reconnect applies to --role sub with --proto spoke only");
    if (o->nrurls && o->reconnect == RC_OFF)
        usage_error("--reconnect-url needs --reconnect since or plain");
    if (o->subs != 1 && o->role != ROLE_IDLE)
        usage_error("--subs applies to --role idle only");
    if (o->subs > o->topics)
        usage_error("--subs %u needs --topics %u or more", o->subs, o->subs);
    if (o->spread && (o->role != ROLE_SUB || o->nurls > 4 || o->reconnect != RC_OFF))
        usage_error("--spread 1 applies to --role sub with at most 4 --urls, no --reconnect");
    if (!o->echo && (o->role != ROLE_PUB || o->rate <= 0))
        usage_error("--echo 0 applies to --role pub with a --rate only");
    memcpy(&o->urls[o->nurls], rurls, o->nrurls * sizeof rurls[0]);
    int any_tls = 0;
    for (unsigned j = 0; j < o->nurls + o->nrurls; j++) {
        o->urls[j].tls |= (uint8_t)(o->tls != 0);
        any_tls |= o->urls[j].tls;
    }
    if ((o->tls_ca || o->tls_resume) && !any_tls)
        usage_error("--tls-ca and --tls-resume need --tls or a wss:// URL");
}

/* Topic names, built once: "NAME" or "NAME.<t>"; churn gives every slot a
 * topic of its own, "NAME.<pid>.<slot>", so loops never see each other. */
static void build_topics(struct lg *lg)
{
    unsigned n = lg->o.role == ROLE_CHURN ? lg->o.conns : lg->o.topics;
    char tmp[300];

    lg->topic_names = xcalloc(n, sizeof *lg->topic_names);
    lg->topic_lens = xcalloc(n, sizeof *lg->topic_lens);
    for (unsigned t = 0; t < n; t++) {
        int l;
        if (lg->o.role == ROLE_CHURN)
            l = snprintf(tmp, sizeof tmp, "%s.%d.%u", lg->o.topic, (int)getpid(), t);
        else if (lg->o.topics > 1)
            l = snprintf(tmp, sizeof tmp, "%s.%u", lg->o.topic, t);
        else
            l = snprintf(tmp, sizeof tmp, "%s", lg->o.topic);
        lg->topic_names[t] = xstrndup(tmp, (size_t)l);
        lg->topic_lens[t] = (uint16_t)l;
    }
}

/* Connections need descriptors: raise the soft limit to the hard one. */
static void raise_fd_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && want + 16 > rl.rlim_cur)
        lg_fatal("--conns %u needs more descriptors than the limit of %llu", want,
                 (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    struct lg *lg = &g_lg;

    parse_args(&lg->o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(lg->o.conns);
    lg->loop = ev_default_loop(0);
    lg->tag = (uint64_t)getpid();
    lg->rx_timestamps = lg->o.rx_timestamps;
    build_topics(lg);
    if (lg->o.corpus_chat == 1)
        corpus_init(&lg->corpus, 4096, 42);
    else if (lg->o.corpus_chat == 2)
        corpus_init_chat1k(&lg->corpus, 4096, 42);
    ws_init(lg);
    for (unsigned j = 0; j < lg->o.nurls + lg->o.nrurls; j++)
        if (lg->o.urls[j].tls) {
            tlsc_init(lg);
            break;
        }

    ev_io_init(&lg->ctl, ctl_cb, 0, EV_READ);
    lg->ctl.data = lg;
    ev_io_start(lg->loop, &lg->ctl);

    switch (lg->o.role) {
    case ROLE_SUB:
    case ROLE_IDLE: role_sub_init(lg); break;
    case ROLE_PUB: role_pub_init(lg); break;
    case ROLE_HANDSHAKE:
    case ROLE_CHURN: role_handshake_init(lg); break;
    }
    ev_run(lg->loop, 0);
    return 0;
}
