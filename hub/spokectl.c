/* spokectl: the operator's command line for a running hub, a blocking client
 * of the hub's admin HTTP API (one request per connection, JSON bodies). */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/version.h"
#include "common/xalloc.h"

#define DEFAULT_HUB "http://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_S 5.0
/* The hub's answers are small; this bounds what a wrong peer can make us hold. */
#define MAX_ANSWER_BYTES (16u << 20)

/* Exit codes: 0 done, 1 the hub or the network said no, 2 bad usage. */
enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctl {
    const char *url;      /* as the user gave it, for messages */
    char host[256];       /* for getaddrinfo (brackets of an IPv6 literal removed) */
    char hostport[300];   /* for the Host header */
    char port[8];
    char prefix[256];     /* path before /api/..., without a trailing slash */
    const char *token;
    double timeout_s;
};

struct answer {
    int status;
    char *body; /* NUL-terminated, owned */
    size_t len;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spokectl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- help ------------------------------------------------------------------- */

static const char *const HELP_MAIN =
    "usage: spokectl [--hub URL] [--token T] [--timeout S] COMMAND [ARGS]\n"
    "\n"
    "Operate a running spoke hub through its admin HTTP API.\n"
    "\n"
    "options:\n"
    "  --hub URL      the hub's admin API (env SPOKE_HUB, default " DEFAULT_HUB ")\n"
    "  --token T      admin token, sent as a Bearer token (env SPOKE_TOKEN)\n"
    "  --timeout S    give up on the hub after S seconds (default 5)\n"
    "  --version      print the version\n"
    "\n"
    "commands:\n"
    "  edges [--json] [--watch]        list the edges connected to the hub\n"
    "  topics [--json]                 list topics with their seq and links\n"
    "  policy [--edge NAME] [--json]   show the policy\n"
    "  policy set KEY=VALUE...         change the base policy\n"
    "  publish TOPIC JSON              publish JSON to every subscriber of TOPIC\n"
    "  kick CONN [--reason R] [--code C]  close one client connection\n"
    "  drain EDGE                      drain an edge (its clients move elsewhere)\n"
    "\n"
    "Run `spokectl COMMAND --help` for a command's details.\n";

struct cmd;
typedef int (*cmd_fn)(struct ctl *ctl, int argc, char **argv);
struct cmd {
    const char *name;
    cmd_fn fn;
    const char *help;
};

/* ---- URL -------------------------------------------------------------------- */

/* Accepts http://HOST[:PORT][/PREFIX]; HOST may be a bracketed IPv6 literal. */
static int parse_url(struct ctl *ctl, const char *url)
{
    ctl->url = url;
    if (strncmp(url, "https://", 8) == 0) {
        fail("%s: https is not supported yet, use http:// on a trusted network", url);
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0) {
        fail("%s: the hub URL must start with http://", url);
        return -1;
    }
    const char *p = url + 7;
    const char *slash = strchr(p, '/');
    size_t authlen = slash ? (size_t)(slash - p) : strlen(p);
    if (authlen == 0 || authlen >= sizeof ctl->hostport)
        goto bad;
    memcpy(ctl->hostport, p, authlen);
    ctl->hostport[authlen] = '\0';
    const char *hs = ctl->hostport, *he, *port = NULL;
    if (*hs == '[') {
        he = strchr(hs, ']');
        if (!he)
            goto bad;
        hs++;
        if (he[1] == ':')
            port = he + 2;
        else if (he[1] != '\0')
            goto bad;
    } else {
        he = strchr(hs, ':');
        if (he)
            port = he + 1;
        else
            he = hs + strlen(hs);
    }
    if (he == hs || (size_t)(he - hs) >= sizeof ctl->host)
        goto bad;
    memcpy(ctl->host, hs, (size_t)(he - hs));
    ctl->host[he - hs] = '\0';
    if (port) {
        char *end;
        long n = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || n < 1 || n > 65535)
            goto bad;
        snprintf(ctl->port, sizeof ctl->port, "%ld", n);
    } else {
        strcpy(ctl->port, "80");
    }
    ctl->prefix[0] = '\0';
    if (slash) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof ctl->prefix)
            goto bad;
        memcpy(ctl->prefix, slash, n);
        ctl->prefix[n] = '\0';
    }
    return 0;
bad:
    fail("%s: not a valid hub URL (want http://HOST[:PORT])", url);
    return -1;
}

/* ---- the HTTP exchange ------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0 timed
 * out, -1 error (errno set). */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)ceil(left * 1000));
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r > 0;
    }
}

/* Connects to the hub, trying each address, before the deadline. Returns the
 * socket, or -1 after printing why. */
static int hub_connect(const struct ctl *ctl, double deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(ctl->host, ctl->port, &hints, &res);
    if (rc != 0) {
        fail("cannot reach the hub at %s: %s", ctl->url, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = errno;
        if (err == EINPROGRESS) {
            int r = wait_fd(fd, POLLOUT, deadline);
            socklen_t sl = sizeof err;
            if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
                break;
            if (r == 0)
                err = ETIMEDOUT;
            else if (r < 0)
                err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fail("cannot reach the hub at %s: %s", ctl->url, strerror(err ? err : ETIMEDOUT));
    return fd;
}

struct parse_state {
    struct answer *a;
    size_t cap;
    int done;
};

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct parse_state *st = p->data;
    struct answer *a = st->a;
    if (a->len + n + 1 > st->cap) {
        st->cap = (a->len + n + 1) * 2;
        a->body = xrealloc(a->body, st->cap);
    }
    memcpy(a->body + a->len, at, n);
    a->len += n;
    a->body[a->len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    ((struct parse_state *)p->data)->done = 1;
    return 0;
}

/* Parses a whole HTTP response (read to EOF) into a; 0 or -1. */
static int parse_answer(const char *buf, size_t len, struct answer *a)
{
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_body = on_body;
    s.on_message_complete = on_complete;
    struct parse_state st = {.a = a};
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &st;
    a->body = xmalloc(1);
    a->body[0] = '\0';
    a->len = 0;
    size_t used = http_parser_execute(&p, &s, buf, len);
    if (!st.done && used == len && HTTP_PARSER_ERRNO(&p) == HPE_OK)
        http_parser_execute(&p, &s, NULL, 0); /* EOF ends a body without a length */
    if (!st.done) {
        enum http_errno e = HTTP_PARSER_ERRNO(&p);
        fail("a bad answer from the hub: %s",
             e == HPE_OK ? "truncated" : http_errno_description(e));
        free(a->body);
        a->body = NULL;
        return -1;
    }
    a->status = (int)p.status_code;
    return 0;
}

/* METHOD PATH with an optional JSON body (not taken). Returns 0 with the answer
 * in a (free a->body), or -1 after printing one line about what went wrong. */
static int hub_request(const struct ctl *ctl, const char *method, const char *path,
                       const json_t *body, struct answer *a)
{
    double deadline = now_s() + ctl->timeout_s;
    char *payload = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t plen = payload ? strlen(payload) : 0;
    char head[2048];
    int hl = snprintf(head, sizeof head,
                      "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: spokectl/%s\r\n"
                      "Accept: application/json\r\nConnection: close\r\n",
                      method, ctl->prefix, path, ctl->hostport, SPOKE_VERSION);
    if (ctl->token && hl > 0 && (size_t)hl < sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Authorization: Bearer %s\r\n",
                       ctl->token);
    if (payload && hl > 0 && (size_t)hl < sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", plen);
    if (hl > 0 && (size_t)hl < sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    if (hl <= 0 || (size_t)hl >= sizeof head) {
        fail("request too long (check the URL and the token)");
        free(payload);
        return -1;
    }

    int fd = hub_connect(ctl, deadline);
    if (fd < 0) {
        free(payload);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    const char *parts[2] = {head, payload};
    size_t sizes[2] = {(size_t)hl, plen};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < sizes[i]) {
            ssize_t n = send(fd, parts[i] + off, sizes[i] - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                int r = wait_fd(fd, POLLOUT, deadline);
                if (r == 1)
                    continue;
                if (r == 0)
                    errno = ETIMEDOUT;
            }
            fail("sending to the hub at %s: %s", ctl->url, strerror(errno));
            goto out;
        }
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
            if (len > MAX_ANSWER_BYTES) {
                fail("the hub's answer is over %u bytes", MAX_ANSWER_BYTES);
                goto out;
            }
            continue;
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = wait_fd(fd, POLLIN, deadline);
            if (r == 1)
                continue;
            if (r == 0) {
                fail("the hub at %s did not answer within %gs", ctl->url, ctl->timeout_s);
                goto out;
            }
        }
        fail("reading from the hub at %s: %s", ctl->url, strerror(errno));
        goto out;
    }
    rc = parse_answer(buf, len, a);
out:
    close(fd);
    free(buf);
    free(payload);
    return rc;
}

/* The hub's "error" field, or a short excerpt of the body. */
static const char *answer_error(const struct answer *a, char *out, size_t n)
{
    json_t *j = json_loadb(a->body, a->len, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    snprintf(out, n, "%.200s", e ? e : (a->len ? a->body : "(no body)"));
    json_decref(j);
    return out;
}

/* Prints the standard line for a non-2xx answer and returns the exit code. */
static int answer_fail(const struct answer *a)
{
    char msg[256];
    if (a->status == 401)
        fail("auth refused: set --token or SPOKE_TOKEN (%s)", answer_error(a, msg, sizeof msg));
    else
        fail("the hub answered %d: %s", a->status, answer_error(a, msg, sizeof msg));
    return EXIT_FAIL;
}

/* GET or send, expect 2xx and a JSON object. Returns the object (owned by the
 * caller), or NULL with *code set to the exit code after printing why; with
 * quiet404 a 404 prints nothing and sets *code to 404. */
static json_t *hub_json(const struct ctl *ctl, const char *method, const char *path,
                        const json_t *body, int quiet404, int *code, char **raw)
{
    struct answer a = {0};
    *code = EXIT_FAIL;
    if (hub_request(ctl, method, path, body, &a) < 0)
        return NULL;
    json_t *j = NULL;
    if (a.status == 404 && quiet404) {
        char msg[64];
        /* A generic "not found" means the route is missing, not the thing named. */
        *code = strcmp(answer_error(&a, msg, sizeof msg), "not found") == 0 ? 404 : 405;
        if (*code == 405)
            *code = answer_fail(&a);
    } else if (a.status < 200 || a.status > 299) {
        *code = answer_fail(&a);
    } else {
        json_error_t err;
        j = json_loadb(a.body, a.len, 0, &err);
        if (!j || !json_is_object(j)) {
            fail("the hub's answer to %s %s is not a JSON object", method, path);
            json_decref(j);
            j = NULL;
        } else if (raw) {
            *raw = a.body;
            a.body = NULL;
        }
    }
    free(a.body);
    return j;
}

/* ---- command helpers --------------------------------------------------------- */

static int wants_help(int argc, char **argv, const char *help)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return 1;
        }
    }
    return 0;
}

static int usage_error(const char *help, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *help, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("spokectl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* One line, like every other error: the usage line's first words say where
     * --help lives ("usage: spokectl edges ..." -> "spokectl edges --help"). */
    const char *cmd = help + strlen("usage: ");
    size_t n = strcspn(cmd, " [\n");
    if (strncmp(cmd + n, " [--hub", 7) != 0)
        n += 1 + strcspn(cmd + n + 1, " \n");
    fprintf(stderr, " (see `%.*s --help`)\n", (int)n, cmd);
    return EXIT_USAGE;
}

static json_int_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : (json_int_t)json_number_value(v);
}

static void print_value(const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(s ? s : "?", stdout);
        free(s);
    }
}

static void print_json(const char *raw)
{
    json_t *j = json_loads(raw, 0, NULL);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    puts(s ? s : raw);
    free(s);
    json_decref(j);
}

/* ---- edges -------------------------------------------------------------------- */

static const char *const HELP_EDGES =
    "usage: spokectl edges [--json] [--watch]\n"
    "\n"
    "One line per edge: name, region, workers, clients, topics, messages in and\n"
    "out (totals; per second with --watch), link compression ratio, link round trip\n"
    "(ms, from heartbeats), uptime, state.\n"
    "Against a hub without /api/edges the list is built from /api/links (clients\n"
    "and uptime then show as -).\n"
    "  --json    print the hub's JSON instead of the table\n"
    "  --watch   refresh every second until Ctrl-C\n";

/* One edge normalized from either /api/edges or /api/links. Unknown counts are -1. */
struct edge_row {
    char name[64], region[64], state[24], link[8]; /* link: "tls", "plain" or "-" */
    long long workers, clients, topics, msgs_in, msgs_out, raw, wire, uptime_s;
    double rtt_ms; /* -1: unknown */
};

struct edge_list {
    struct edge_row *rows;
    size_t n;
    json_t *json; /* {"edges":[...]}: the hub's, or built from /api/links */
};

static void edge_list_free(struct edge_list *l)
{
    free(l->rows);
    json_decref(l->json);
    memset(l, 0, sizeof *l);
}

static struct edge_row *edge_find(struct edge_list *l, const char *name, int add)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->rows[i].name, name) == 0)
            return &l->rows[i];
    if (!add)
        return NULL;
    l->rows = xrealloc(l->rows, (l->n + 1) * sizeof *l->rows);
    struct edge_row *r = memset(&l->rows[l->n++], 0, sizeof *l->rows);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->clients = r->uptime_s = -1;
    r->rtt_ms = -1;
    snprintf(r->link, sizeof r->link, "-");
    return r;
}

/* Fills l from /api/edges, or from /api/links grouped by edge on a hub without
 * it. Returns 0 or an exit code. */
static int edges_fetch(const struct ctl *ctl, struct edge_list *l)
{
    int code;
    json_t *j = hub_json(ctl, "GET", "/api/edges", NULL, 1, &code, NULL);
    if (j) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, "edges"), i, e) {
            const char *name = json_string_value(json_object_get(e, "name"));
            struct edge_row *r = edge_find(l, name ? name : "?", 1);
            snprintf(r->region, sizeof r->region, "%s",
                     json_string_value(json_object_get(e, "region")) ?: "-");
            snprintf(r->state, sizeof r->state, "%s",
                     json_string_value(json_object_get(e, "state")) ?: "-");
            r->workers = jint(e, "workers");
            r->clients = json_object_get(e, "clients") ? jint(e, "clients") : -1;
            r->topics = jint(e, "topics");
            r->msgs_in = jint(e, "msgs_in");
            r->msgs_out = jint(e, "msgs_out");
            r->raw = jint(e, "link_raw_in") + jint(e, "link_raw_out");
            r->wire = jint(e, "link_wire_in") + jint(e, "link_wire_out");
            r->uptime_s = json_object_get(e, "uptime_s") ? jint(e, "uptime_s") : -1;
            json_t *rtt = json_object_get(e, "rtt_ms");
            r->rtt_ms = json_is_number(rtt) ? json_number_value(rtt) : -1;
            json_t *tls = json_object_get(e, "tls");
            if (json_is_boolean(tls))
                snprintf(r->link, sizeof r->link, "%s", json_is_true(tls) ? "tls" : "plain");
        }
        l->json = j;
        return 0;
    }
    if (code != 404)
        return code;
    j = hub_json(ctl, "GET", "/api/links", NULL, 0, &code, NULL);
    if (!j)
        return code;
    size_t i;
    json_t *lk;
    json_array_foreach(json_object_get(j, "links"), i, lk) {
        const char *name = json_string_value(json_object_get(lk, "edge"));
        struct edge_row *r = edge_find(l, name ? name : "?", 1);
        snprintf(r->region, sizeof r->region, "%s",
                 json_string_value(json_object_get(lk, "region")) ?: "-");
        snprintf(r->state, sizeof r->state, "linked");
        json_t *tls = json_object_get(lk, "tls");
        if (json_is_boolean(tls))
            snprintf(r->link, sizeof r->link, "%s", json_is_true(tls) ? "tls" : "plain");
        r->workers++;
        /* Workers of one edge mostly share topics: the busiest is a lower bound. */
        if (jint(lk, "topics") > r->topics)
            r->topics = jint(lk, "topics");
        r->msgs_in += jint(lk, "publishes_in") + jint(lk, "directs_in");
        r->msgs_out += jint(lk, "messages_out") + jint(lk, "directs_out");
        r->raw += jint(lk, "raw_in") + jint(lk, "raw_out");
        r->wire += jint(lk, "wire_in") + jint(lk, "wire_out");
    }
    json_decref(j);
    json_t *arr = json_array();
    for (size_t k = 0; k < l->n; k++) {
        const struct edge_row *r = &l->rows[k];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "name", r->name,
                           "region", r->region, "state", r->state, "workers",
                           (json_int_t)r->workers, "topics", (json_int_t)r->topics, "msgs_in",
                           (json_int_t)r->msgs_in, "msgs_out", (json_int_t)r->msgs_out,
                           "link_raw", (json_int_t)r->raw, "link_wire", (json_int_t)r->wire,
                           "link_ratio", r->wire ? (double)r->raw / (double)r->wire : 0.0));
    }
    l->json = json_pack("{s:o, s:s}", "edges", arr, "source", "/api/links");
    return 0;
}

static void fmt_uptime(long long s, char *out, size_t n)
{
    if (s < 0)
        snprintf(out, n, "-");
    else if (s >= 86400)
        snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(out, n, "%llds", s);
}

/* Prints the table; with prev and dt > 0 the message columns are rates. */
static void edges_print(const struct edge_list *l, const struct edge_list *prev, double dt)
{
    int nw = 4, rw = 6;
    for (size_t i = 0; i < l->n; i++) {
        int a = (int)strlen(l->rows[i].name), b = (int)strlen(l->rows[i].region);
        nw = a > nw ? a : nw;
        rw = b > rw ? b : rw;
    }
    int rates = prev && dt > 0;
    printf("%-*s  %-*s  %7s  %7s  %6s  %10s  %10s  %5s  %7s  %8s  %-5s  %s\n", nw, "NAME", rw,
           "REGION", "WORKERS", "CLIENTS", "TOPICS", rates ? "IN/S" : "MSGS_IN",
           rates ? "OUT/S" : "MSGS_OUT", "RATIO", "RTT_MS", "UPTIME", "LINK", "STATE");
    for (size_t i = 0; i < l->n; i++) {
        const struct edge_row *r = &l->rows[i];
        char clients[24], in[24], out[24], ratio[16], up[24], rtt[24];
        snprintf(clients, sizeof clients, r->clients < 0 ? "-" : "%lld", r->clients);
        const struct edge_row *p = rates ? edge_find((struct edge_list *)prev, r->name, 0) : NULL;
        if (rates && p) {
            snprintf(in, sizeof in, "%.1f", (double)(r->msgs_in - p->msgs_in) / dt);
            snprintf(out, sizeof out, "%.1f", (double)(r->msgs_out - p->msgs_out) / dt);
        } else if (rates) {
            snprintf(in, sizeof in, "-");
            snprintf(out, sizeof out, "-");
        } else {
            snprintf(in, sizeof in, "%lld", r->msgs_in);
            snprintf(out, sizeof out, "%lld", r->msgs_out);
        }
        if (r->wire > 0)
            snprintf(ratio, sizeof ratio, "%.1f", (double)r->raw / (double)r->wire);
        else
            snprintf(ratio, sizeof ratio, "-");
        fmt_uptime(r->uptime_s, up, sizeof up);
        if (r->rtt_ms < 0)
            snprintf(rtt, sizeof rtt, "-");
        else
            snprintf(rtt, sizeof rtt, "%.2f", r->rtt_ms);
        printf("%-*s  %-*s  %7lld  %7s  %6lld  %10s  %10s  %5s  %7s  %8s  %-5s  %s\n", nw, r->name,
               rw, r->region, r->workers, clients, r->topics, in, out, ratio, rtt, up, r->link,
               r->state);
    }
    if (l->n == 0)
        printf("(no edge is linked to this hub)\n");
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    interrupted = 1;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int cmd_edges(struct ctl *ctl, int argc, char **argv)
{
    int as_json = 0, watch = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--watch") == 0 || strcmp(argv[i], "-w") == 0)
            watch = 1;
        else
            return usage_error(HELP_EDGES, "edges: unexpected argument '%s'", argv[i]);
    }
    if (as_json && watch)
        return usage_error(HELP_EDGES, "edges: --json and --watch do not mix");
    struct edge_list cur = {0}, prev = {0};
    int rc = edges_fetch(ctl, &cur);
    if (rc != 0 || !watch) {
        if (rc == 0 && as_json) {
            char *s = json_dumps(cur.json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
        } else if (rc == 0) {
            edges_print(&cur, NULL, 0);
        }
        edge_list_free(&cur);
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double t_prev = now_s();
    while (!interrupted) {
        sleep_s(1.0);
        if (interrupted)
            break;
        prev = cur;
        memset(&cur, 0, sizeof cur);
        if ((rc = edges_fetch(ctl, &cur)) != 0)
            break;
        double t = now_s();
        fputs("\033[H\033[2J", stdout); /* cursor home, clear screen */
        printf("spokectl edges --watch  %s  (Ctrl-C to stop)\n\n", ctl->url);
        edges_print(&cur, &prev, t - t_prev);
        fflush(stdout);
        t_prev = t;
        edge_list_free(&prev);
    }
    edge_list_free(&prev);
    edge_list_free(&cur);
    return rc;
}

/* ---- topics ------------------------------------------------------------------- */

static const char *const HELP_TOPICS =
    "usage: spokectl topics [--json]\n"
    "\n"
    "One line per topic the hub routes: its last seq and how many links want it.\n";

static int cmd_topics(struct ctl *ctl, int argc, char **argv)
{
    int as_json = 0, code;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else
            return usage_error(HELP_TOPICS, "topics: unexpected argument '%s'", argv[i]);
    }
    char *raw = NULL;
    json_t *j = hub_json(ctl, "GET", "/api/topics", NULL, 1, &code, &raw);
    if (!j) {
        if (code == 404)
            fail("this hub has no /api/topics (it is older than this spokectl)");
        return code == 404 ? EXIT_FAIL : code;
    }
    if (as_json) {
        print_json(raw);
    } else {
        json_t *topics = json_object_get(j, "topics"), *t;
        int w = 5;
        size_t i;
        json_array_foreach(topics, i, t) {
            const char *s = json_string_value(json_object_get(t, "topic"));
            if (s && (int)strlen(s) > w)
                w = (int)strlen(s);
        }
        printf("%-*s  %12s  %5s\n", w, "TOPIC", "SEQ", "LINKS");
        json_array_foreach(topics, i, t) {
            const char *s = json_string_value(json_object_get(t, "topic"));
            json_t *links = json_object_get(t, "links");
            long long nl = json_is_array(links) ? (long long)json_array_size(links)
                                                : (long long)jint(t, "links");
            printf("%-*s  %12lld  %5lld\n", w, s ? s : "?", (long long)jint(t, "seq"), nl);
        }
        if (json_array_size(topics) == 0)
            printf("(no topic has a subscriber)\n");
    }
    free(raw);
    json_decref(j);
    return 0;
}

/* ---- policy ------------------------------------------------------------------- */

static const char *const HELP_POLICY =
    "usage: spokectl policy [--edge NAME] [--json]\n"
    "       spokectl policy set KEY=VALUE...\n"
    "\n"
    "Shows the hub's base policy (or edge NAME's effective one) as key = value.\n"
    "`set` changes base policy keys at run time (numbers, in config units, e.g.\n"
    "idle_timeout=30); the change is not written to the hub's file.\n";

static void policy_print(const json_t *p)
{
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach((json_t *)p, k, v) {
        if ((int)strlen(k) > w)
            w = (int)strlen(k);
    }
    json_object_foreach((json_t *)p, k, v) {
        printf("%-*s = ", w, k);
        print_value(v);
        putchar('\n');
    }
}

static void url_escape(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static int cmd_policy_set(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 3)
        return usage_error(HELP_POLICY, "policy set: give at least one KEY=VALUE");
    json_t *changes = json_object();
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        char *end;
        if (!eq || eq == argv[i]) {
            json_decref(changes);
            return usage_error(HELP_POLICY, "policy set: '%s' is not KEY=VALUE", argv[i]);
        }
        *eq = '\0';
        const char *val = eq + 1;
        errno = 0;
        double d = strtod(val, &end);
        if (*val == '\0' || *end != '\0' || errno == ERANGE || !isfinite(d)) {
            json_decref(changes);
            return usage_error(HELP_POLICY, "policy set: %s: '%s' is not a number", argv[i],
                               val);
        }
        if (d == floor(d) && fabs(d) < 9e15)
            json_object_set_new(changes, argv[i], json_integer((json_int_t)d));
        else
            json_object_set_new(changes, argv[i], json_real(d));
    }
    int code;
    json_t *p = hub_json(ctl, "PUT", "/api/policy", changes, 0, &code, NULL);
    json_decref(changes);
    if (!p)
        return code;
    policy_print(p);
    json_decref(p);
    return 0;
}

static int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "set") == 0)
        return cmd_policy_set(ctl, argc, argv);
    int as_json = 0, code;
    const char *edge = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--edge") == 0 && i + 1 < argc)
            edge = argv[++i];
        else
            return usage_error(HELP_POLICY, "policy: unexpected argument '%s'", argv[i]);
    }
    char path[256] = "/api/policy";
    if (edge) {
        char esc[192];
        url_escape(edge, esc, sizeof esc);
        snprintf(path, sizeof path, "/api/policy?edge=%s", esc);
    }
    char *raw = NULL;
    json_t *p = hub_json(ctl, "GET", path, NULL, 0, &code, &raw);
    if (!p)
        return code;
    if (as_json)
        print_json(raw);
    else
        policy_print(p);
    free(raw);
    json_decref(p);
    return 0;
}

/* ---- publish ------------------------------------------------------------------ */

static const char *const HELP_PUBLISH =
    "usage: spokectl publish TOPIC JSON\n"
    "\n"
    "Publishes JSON (any JSON value: quote strings, '\"hi\"') on TOPIC through the\n"
    "hub, as an app backend would; it gets the topic's next seq and reaches every\n"
    "subscriber on every edge with \"from\":\"hub:api\".\n";

static int cmd_publish(struct ctl *ctl, int argc, char **argv)
{
    if (argc != 3)
        return usage_error(HELP_PUBLISH, "publish: want TOPIC and JSON");
    json_error_t err;
    json_t *data = json_loads(argv[2], JSON_DECODE_ANY, &err);
    if (!data) {
        fail("publish: the data is not valid JSON: %s (column %d); quote a string as "
             "'\"text\"'",
             err.text, err.column);
        return EXIT_USAGE;
    }
    json_t *req = json_pack("{s:s, s:o}", "topic", argv[1], "data", data);
    int code;
    json_t *a = hub_json(ctl, "POST", "/api/publish", req, 0, &code, NULL);
    json_decref(req);
    if (!a)
        return code;
    json_int_t seq = jint(a, "seq");
    if (seq == 0)
        printf("no subscriber anywhere: nothing sent\n");
    else
        printf("published on %s as seq %lld\n", argv[1], (long long)seq);
    json_decref(a);
    return 0;
}

/* ---- kick and drain ----------------------------------------------------------- */

static const char *const HELP_KICK =
    "usage: spokectl kick CONN [--reason R] [--code C]\n"
    "\n"
    "Closes client connection CONN (its id, as in the welcome message) with close\n"
    "code C (default 4001, 4000..4999) and reason R.\n";

static const char *const HELP_DRAIN =
    "usage: spokectl drain EDGE\n"
    "\n"
    "Drains edge EDGE: it stops accepting, turns not-ready, moves its clients off\n"
    "with 1001 \"going away\" over its drain period, then exits.\n";

/* Sends an action; a hub without the route gets one clear line. */
static int send_action(struct ctl *ctl, const char *path, json_t *body, const char *done)
{
    int code;
    json_t *a = hub_json(ctl, "POST", path, body, 1, &code, NULL);
    if (!a) {
        if (code == 404)
            fail("this hub does not support kick/drain yet");
        return code == 404 ? EXIT_FAIL : code;
    }
    printf("%s\n", done);
    json_decref(a);
    return 0;
}

static int cmd_kick(struct ctl *ctl, int argc, char **argv)
{
    const char *conn = NULL, *reason = "kicked by an operator";
    long code = 4001;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (strcmp(argv[i], "--code") == 0 && i + 1 < argc) {
            char *end;
            code = strtol(argv[++i], &end, 10);
            if (*end != '\0' || code < 1000 || code > 4999)
                return usage_error(HELP_KICK, "kick: --code wants a close code 1000..4999");
        } else if (argv[i][0] != '-' && !conn) {
            conn = argv[i];
        } else {
            return usage_error(HELP_KICK, "kick: unexpected argument '%s'", argv[i]);
        }
    }
    if (!conn)
        return usage_error(HELP_KICK, "kick: which connection?");
    if (strlen(reason) > 123) /* RFC 6455 5.5: a close payload holds 125 bytes */
        return usage_error(HELP_KICK, "kick: the reason is over 123 bytes");
    json_t *body = json_pack("{s:s, s:I, s:s}", "conn", conn, "code", (json_int_t)code,
                             "reason", reason);
    char done[160];
    snprintf(done, sizeof done, "closed %s with %ld", conn, code);
    int rc = send_action(ctl, "/api/disconnect", body, done);
    json_decref(body);
    return rc;
}

static int cmd_drain(struct ctl *ctl, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return usage_error(HELP_DRAIN, "drain: want one EDGE name");
    char esc[192], path[256], done[160];
    url_escape(argv[1], esc, sizeof esc);
    snprintf(path, sizeof path, "/api/edges/%s/drain", esc);
    snprintf(done, sizeof done, "draining %s", argv[1]);
    json_t *body = json_object();
    int rc = send_action(ctl, path, body, done);
    json_decref(body);
    return rc;
}

/* ---- main --------------------------------------------------------------------- */

static const struct cmd CMDS[] = {
    {"edges", cmd_edges, HELP_EDGES},     {"topics", cmd_topics, HELP_TOPICS},
    {"policy", cmd_policy, HELP_POLICY},  {"publish", cmd_publish, HELP_PUBLISH},
    {"kick", cmd_kick, HELP_KICK},        {"drain", cmd_drain, HELP_DRAIN},
};

/* Matches --name VALUE and --name=VALUE; advances *i past what it used. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *out = NULL;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.timeout_s = DEFAULT_TIMEOUT_S};
    const char *hub = getenv("SPOKE_HUB"), *timeout = NULL, *v;
    ctl.token = getenv("SPOKE_TOKEN");
    if (!hub || !*hub)
        hub = DEFAULT_HUB;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(HELP_MAIN, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("spokectl %s\n", SPOKE_VERSION);
            return 0;
        }
        const char **dst = NULL;
        if (opt_value(argc, argv, &i, "--hub", &v))
            dst = &hub;
        else if (opt_value(argc, argv, &i, "--token", &v))
            dst = &ctl.token;
        else if (opt_value(argc, argv, &i, "--timeout", &v))
            dst = &timeout;
        else
            return usage_error(HELP_MAIN, "unknown option '%s'", argv[i]);
        if (!v)
            return usage_error(HELP_MAIN, "%s wants a value", argv[i]);
        *dst = v;
    }
    if (timeout) {
        char *end;
        ctl.timeout_s = strtod(timeout, &end);
        if (*end != '\0' || !(ctl.timeout_s > 0 && ctl.timeout_s <= 3600))
            return usage_error(HELP_MAIN, "--timeout wants seconds (0 < S <= 3600)");
    }
    if (ctl.token && !*ctl.token)
        ctl.token = NULL;
    for (const char *t = ctl.token; t && *t; t++) {
        if ((unsigned char)*t < 0x21 || *t == 0x7f) /* no header injection */
            return usage_error(HELP_MAIN, "the token has spaces or control characters");
    }
    if (i >= argc)
        return usage_error(HELP_MAIN, "which command?");
    const struct cmd *cmd = NULL;
    for (size_t k = 0; k < sizeof CMDS / sizeof CMDS[0]; k++)
        if (strcmp(argv[i], CMDS[k].name) == 0)
            cmd = &CMDS[k];
    if (!cmd)
        return usage_error(HELP_MAIN, "unknown command '%s'", argv[i]);
    if (wants_help(argc - i, argv + i, cmd->help))
        return 0;
    if (parse_url(&ctl, hub) < 0)
        return EXIT_USAGE;
    return cmd->fn(&ctl, argc - i, argv + i);
}
