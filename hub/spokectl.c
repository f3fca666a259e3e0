/* spokectl: the operator's command line for a running hub, a blocking client
 * of the hub's admin HTTP API over http:// or https:// (libcurl's easy
 * interface: a CLI may block), one request per command, JSON bodies. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/net.h"
#include "common/version.h"
#include "common/xalloc.h"

#define DEFAULT_HUB "http://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_S 5.0
/* The hub's answers are small; this bounds what a wrong peer can make us hold. */
#define MAX_ANSWER_BYTES (16u << 20)

/* Exit codes: 0 done, 1 the hub or the network said no, 2 bad usage. */
enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctl {
    const char *url; /* as the user gave it, for messages */
    char *base;      /* scheme://host[:port][/prefix], no trailing slash (owned) */
    int https;
    char host[256]; /* without the brackets of an IPv6 literal */
    const char *token;
    const char *cacert; /* PEM CA certificates to trust besides the system's, or NULL */
    double timeout_s;
    CURL *curl; /* one handle for every request: its TLS session cache
                           * makes --watch resume sessions */
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
    "usage: spokectl [--hub URL] [--token T] [--cacert FILE] [--timeout S] COMMAND [ARGS]\n"
    "\n"
    "Operate a running spoke hub through its admin HTTP API.\n"
    "\n"
    "options:\n"
    "  --hub URL      the hub's admin API, http:// or https:// (env SPOKE_HUB,\n"
    "                 default " DEFAULT_HUB ")\n"
    "  --token T      admin token, sent as a Bearer token (env SPOKE_TOKEN)\n"
    "  --cacert FILE  trust the CA certificates in FILE (PEM) for https, besides\n"
    "                 the system's (env SPOKE_CACERT)\n"
    "  --timeout S    give up on the hub after S seconds (default 5)\n"
    "  --allow-insecure-http\n"
    "                 send the token over plain http to a host that is not\n"
    "                 loopback (refused otherwise: it would cross the network in clear)\n"
    "  --version      print the version\n"
    "\n"
    "commands:\n"
    "  edges [--json] [--watch]        list the edges connected to the hub (in a\n"
    "                                  cluster: to every hub, and which)\n"
    "  hubs [--json]                   list the hubs of the hub's cluster\n"
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

/* Accepts http[s]://HOST[:PORT][/PREFIX] (HOST may be a bracketed IPv6
 * literal) and refuses to send a token in clear off loopback unless
 * allow_insecure. Returns 0, or -1 after printing why. */
static int parse_url(struct ctl *ctl, const char *url, int allow_insecure)
{
    ctl->url = url;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *extra = NULL, *full = NULL;
    int rc = -1;
    if (!u)
        goto bad;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto bad;
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        fail("%s: the hub URL must start with http:// or https://", url);
        goto out;
    }
    static const CURLUPart unwanted[] = {CURLUPART_USER, CURLUPART_QUERY, CURLUPART_FRAGMENT};
    for (size_t i = 0; i < sizeof unwanted / sizeof unwanted[0]; i++) {
        if (curl_url_get(u, unwanted[i], &extra, 0) == CURLUE_OK) {
            curl_free(extra);
            fail("%s: the hub URL takes no user, query or fragment (use --token)", url);
            goto out;
        }
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto bad;
    ctl->https = strcmp(scheme, "https") == 0;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        snprintf(ctl->host, sizeof ctl->host, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(ctl->host, sizeof ctl->host, "%s", host);
    size_t n = strlen(full);
    while (n > 0 && full[n - 1] == '/')
        n--;
    ctl->base = xmalloc(n + 1);
    memcpy(ctl->base, full, n);
    ctl->base[n] = '\0';

    struct net_addr a = {0};
    snprintf(a.host, sizeof a.host, "%s", ctl->host);
    if (ctl->token && !ctl->https && !net_addr_is_loopback(&a) && !allow_insecure) {
        fail("refusing to send the admin token in clear to %s: use https:// (or "
             "--allow-insecure-http on a network you trust)",
             url);
        goto out;
    }
    rc = 0;
    goto out;
bad:
    fail("%s: not a valid hub URL (want http[s]://HOST[:PORT])", url);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

/* ---- the HTTP exchange ------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sink {
    struct answer *a;
    size_t cap;
    int too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    struct answer *a = s->a;
    if (a->len + n > MAX_ANSWER_BYTES) {
        s->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (a->len + n + 1 > s->cap) {
        s->cap = (a->len + n + 1) * 2;
        a->body = xrealloc(a->body, s->cap);
    }
    memcpy(a->body + a->len, p, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

/* One line for a failed transfer: what an operator can act on. */
static void explain(const struct ctl *ctl, CURLcode res, const char *errbuf, int too_big)
{
    long os_errno = 0;
    curl_easy_getinfo(ctl->curl, CURLINFO_OS_ERRNO, &os_errno);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(res);
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
        fail("cannot reach the hub at %s: cannot resolve %s", ctl->url, ctl->host);
        break;
    case CURLE_COULDNT_CONNECT:
        fail("cannot reach the hub at %s: %s", ctl->url, os_errno ? strerror((int)os_errno) : why);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        fail("the hub at %s did not answer within %gs", ctl->url, ctl->timeout_s);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        fail("cannot verify the hub's TLS certificate at %s: %s (trust its CA with --cacert "
             "FILE or SPOKE_CACERT)",
             ctl->url, why);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        fail("--cacert %s: cannot load CA certificates from it (%s)",
             ctl->cacert ? ctl->cacert : "-", why);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        fail("TLS handshake with the hub at %s failed: %s", ctl->url, why);
        break;
    case CURLE_GOT_NOTHING:
        fail("the hub at %s closed the connection without answering%s", ctl->url,
             ctl->https ? "" : " (does it speak https?)");
        break;
    case CURLE_WRITE_ERROR:
        if (too_big) {
            fail("the hub's answer is over %u bytes", MAX_ANSWER_BYTES);
            break;
        }
        /* fall through */
    default: fail("talking to the hub at %s: %s", ctl->url, why); break;
    }
}

/* METHOD PATH with an optional JSON body (not taken). Returns 0 with the answer
 * in a (free a->body), or -1 after printing one line about what went wrong. */
static int hub_request(const struct ctl *ctl, const char *method, const char *path,
                       const json_t *body, struct answer *a)
{
    CURL *c = ctl->curl;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *payload = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t ulen = strlen(ctl->base) + strlen(path) + 1;
    char *url = xmalloc(ulen);
    snprintf(url, ulen, "%s%s", ctl->base, path);
    struct curl_slist *hdrs = NULL;
    char line[4200];
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    if (strcmp(method, "GET") != 0)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (ctl->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", ctl->token);
        hdrs = curl_slist_append(hdrs, line);
    }
    struct sink sink = {.a = a};
    a->body = xmalloc(1);
    a->body[0] = '\0';
    a->len = 0;

    curl_easy_reset(c); /* keeps the TLS session cache */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never through *_proxy: the token goes direct */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(ctl->timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(ctl->timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ctl->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, ctl->cacert);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "spokectl/" SPOKE_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(payload ? strlen(payload) : 0));
    }
    CURLcode res = curl_easy_perform(c);
    int rc = -1;
    if (res == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        a->status = (int)status;
        rc = 0;
    } else {
        explain(ctl, res, errbuf, sink.too_big);
        free(a->body);
        a->body = NULL;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
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
    "(ms, from heartbeats), uptime, state, and the hubs its workers are linked to\n"
    "(HUB: in a cluster of hubs on Redis, every hub's edges are listed; - otherwise).\n"
    "Against a hub without /api/edges the list is built from /api/links (clients\n"
    "and uptime then show as -).\n"
    "  --json    print the hub's JSON instead of the table\n"
    "  --watch   refresh every second until Ctrl-C\n";

/* One edge normalized from either /api/edges or /api/links. Unknown counts are -1. */
struct edge_row {
    char name[64], region[64], state[24], link[8]; /* link: "tls", "plain" or "-" */
    char hubs[160];                                /* "hub-a,hub-b", or "-" */
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
    snprintf(r->hubs, sizeof r->hubs, "-");
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
        json_array_foreach(json_object_get(j, "edges"), i, e)
        {
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
            size_t k;
            json_t *hub;
            json_array_foreach(json_object_get(e, "hubs"), k, hub)
            {
                size_t n = k ? strlen(r->hubs) : 0;
                snprintf(r->hubs + n, sizeof r->hubs - n, "%s%s", k ? "," : "",
                         json_string_value(hub) ?: "?");
            }
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
    json_array_foreach(json_object_get(j, "links"), i, lk)
    {
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
                           (json_int_t)r->msgs_in, "msgs_out", (json_int_t)r->msgs_out, "link_raw",
                           (json_int_t)r->raw, "link_wire", (json_int_t)r->wire, "link_ratio",
                           r->wire ? (double)r->raw / (double)r->wire : 0.0));
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
    int nw = 4, rw = 6, clustered = 0;
    for (size_t i = 0; i < l->n; i++) {
        clustered |= strcmp(l->rows[i].hubs, "-") != 0;
        int a = (int)strlen(l->rows[i].name), b = (int)strlen(l->rows[i].region);
        nw = a > nw ? a : nw;
        rw = b > rw ? b : rw;
    }
    int rates = prev && dt > 0;
    printf("%-*s  %-*s  %7s  %7s  %6s  %10s  %10s  %5s  %7s  %8s  %-5s  %-5s  %s\n", nw, "NAME", rw,
           "REGION", "WORKERS", "CLIENTS", "TOPICS", rates ? "IN/S" : "MSGS_IN",
           rates ? "OUT/S" : "MSGS_OUT", "RATIO", "RTT_MS", "UPTIME", "LINK", "STATE", "HUB");
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
        printf("%-*s  %-*s  %7lld  %7s  %6lld  %10s  %10s  %5s  %7s  %8s  %-5s  %-5s  %s\n", nw,
               r->name, rw, r->region, r->workers, clients, r->topics, in, out, ratio, rtt, up,
               r->link, r->state, r->hubs);
    }
    if (l->n == 0)
        printf("(no edge is linked to this hub)\n");
    if (clustered && l->json) {
        json_t *cl = json_object_get(l->json, "cluster");
        if (json_is_true(json_object_get(cl, "local_only")))
            printf("(this hub's edges only: %s)\n",
                   json_string_value(json_object_get(cl, "reason"))
                       ?: "the other hubs have not been read from Redis recently");
    }
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

/* ---- hubs --------------------------------------------------------------------- */

static const char *const HELP_HUBS =
    "usage: spokectl hubs [--json]\n"
    "\n"
    "One line per hub of the cluster the hub belongs to (hubs sharing its Redis):\n"
    "name, version, link and admin addresses, uptime, links, edges, the policy\n"
    "version it enforces, how long ago it last refreshed its registration, and its\n"
    "state (up, stale: not refreshed for three of its periods; the hub asked is\n"
    "marked with *). A hub of its own lists itself.\n"
    "  --json    print the hub's JSON instead of the table\n";

static int cmd_hubs(struct ctl *ctl, int argc, char **argv)
{
    int as_json = 0, code;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else
            return usage_error(HELP_HUBS, "hubs: unexpected argument '%s'", argv[i]);
    }
    char *raw = NULL;
    json_t *j = hub_json(ctl, "GET", "/api/hubs", NULL, 1, &code, &raw);
    if (!j) {
        if (code == 404)
            fail("this hub has no /api/hubs (it is older than this spokectl)");
        return code == 404 ? EXIT_FAIL : code;
    }
    if (as_json) {
        print_json(raw);
        free(raw);
        json_decref(j);
        return 0;
    }
    json_t *hubs = json_object_get(j, "hubs"), *h;
    size_t i;
    int nw = 4;
    json_array_foreach(hubs, i, h)
    {
        const char *s = json_string_value(json_object_get(h, "name"));
        if (s && (int)strlen(s) + 1 > nw)
            nw = (int)strlen(s) + 1;
    }
    printf("%-*s  %-8s  %-21s  %-21s  %8s  %5s  %5s  %6s  %7s  %s\n", nw, "NAME", "VERSION", "LINK",
           "HTTP", "UPTIME", "LINKS", "EDGES", "POLICY", "SEEN", "STATE");
    json_array_foreach(hubs, i, h)
    {
        char name[80], up[24], seen[24];
        const char *s = json_string_value(json_object_get(h, "name"));
        snprintf(name, sizeof name, "%s%s", s ? s : "?",
                 json_is_true(json_object_get(h, "self")) ? "*" : "");
        json_t *uptime = json_object_get(h, "uptime_s");
        fmt_uptime(json_is_integer(uptime) ? jint(h, "uptime_s") : -1, up, sizeof up);
        snprintf(seen, sizeof seen, "%.1fs", (double)jint(h, "age_ms") / 1000.0);
        printf("%-*s  %-8s  %-21s  %-21s  %8s  %5lld  %5lld  %6lld  %7s  %s\n", nw, name,
               json_string_value(json_object_get(h, "version")) ?: "-",
               json_string_value(json_object_get(h, "link")) ?: "-",
               json_string_value(json_object_get(h, "http")) ?: "-", up,
               (long long)jint(h, "links"), (long long)jint(h, "edges"),
               (long long)jint(h, "policy_version"), seen,
               json_string_value(json_object_get(h, "state")) ?: "-");
    }
    json_t *cl = json_object_get(j, "cluster");
    if (json_is_null(cl) || !cl)
        printf("(a hub of its own: engine memory, no cluster)\n");
    else if (json_is_true(json_object_get(cl, "local_only")))
        printf("(only this hub is shown: %s)\n",
               json_string_value(json_object_get(cl, "reason"))
                   ?: "the other hubs have not been read from Redis recently");
    free(raw);
    json_decref(j);
    return 0;
}

/* ---- topics ------------------------------------------------------------------- */

static const char *const HELP_TOPICS =
    "usage: spokectl topics [--json]\n"
    "\n"
    "One line per topic state the hub holds (interest or history): its epoch and\n"
    "last seq, how many links want it, and what its history holds (messages, bytes,\n"
    "the first seq).\n";

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
        json_array_foreach(topics, i, t)
        {
            const char *s = json_string_value(json_object_get(t, "topic"));
            if (s && (int)strlen(s) > w)
                w = (int)strlen(s);
        }
        printf("%-*s  %-8s  %12s  %5s  %8s  %10s  %12s\n", w, "TOPIC", "EPOCH", "SEQ", "LINKS",
               "HISTORY", "BYTES", "FIRST");
        json_array_foreach(topics, i, t)
        {
            const char *s = json_string_value(json_object_get(t, "topic"));
            const char *ep = json_string_value(json_object_get(t, "epoch"));
            json_t *links = json_object_get(t, "links");
            long long nl = json_is_array(links) ? (long long)json_array_size(links)
                                                : (long long)jint(t, "links");
            printf("%-*s  %-8s  %12lld  %5lld  %8lld  %10lld  %12lld\n", w, s ? s : "?",
                   ep ? ep : "-", (long long)jint(t, "seq"), nl,
                   (long long)jint(t, "history_messages"), (long long)jint(t, "history_bytes"),
                   (long long)jint(t, "history_first_seq"));
        }
        if (json_array_size(topics) == 0)
            printf("(no topic has a subscriber or a history)\n");
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
    json_object_foreach((json_t *)p, k, v)
    {
        if ((int)strlen(k) > w)
            w = (int)strlen(k);
    }
    json_object_foreach((json_t *)p, k, v)
    {
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
            return usage_error(HELP_POLICY, "policy set: %s: '%s' is not a number", argv[i], val);
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
    "hub, as an app backend would; it gets the topic's next seq, is kept in its\n"
    "history and reaches every subscriber on every edge with \"from\":\"hub:api\".\n";

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
    const char *epoch = json_string_value(json_object_get(a, "epoch"));
    printf("published on %s as seq %lld in epoch %s\n", argv[1], (long long)jint(a, "seq"),
           epoch ? epoch : "?");
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
    json_t *body =
        json_pack("{s:s, s:I, s:s}", "conn", conn, "code", (json_int_t)code, "reason", reason);
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
    {"edges", cmd_edges, HELP_EDGES},       {"hubs", cmd_hubs, HELP_HUBS},
    {"topics", cmd_topics, HELP_TOPICS},    {"policy", cmd_policy, HELP_POLICY},
    {"publish", cmd_publish, HELP_PUBLISH}, {"kick", cmd_kick, HELP_KICK},
    {"drain", cmd_drain, HELP_DRAIN},
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
    int allow_insecure = 0;
    ctl.token = getenv("SPOKE_TOKEN");
    ctl.cacert = getenv("SPOKE_CACERT");
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
        if (strcmp(argv[i], "--allow-insecure-http") == 0) {
            allow_insecure = 1;
            continue;
        }
        const char **dst = NULL;
        if (opt_value(argc, argv, &i, "--hub", &v))
            dst = &hub;
        else if (opt_value(argc, argv, &i, "--token", &v))
            dst = &ctl.token;
        else if (opt_value(argc, argv, &i, "--timeout", &v))
            dst = &timeout;
        else if (opt_value(argc, argv, &i, "--cacert", &v))
            dst = &ctl.cacert;
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
    if (ctl.token && strlen(ctl.token) > 4096)
        return usage_error(HELP_MAIN, "the token is over 4096 bytes");
    if (ctl.cacert && !*ctl.cacert)
        ctl.cacert = NULL;
    if (ctl.cacert && access(ctl.cacert, R_OK) != 0) {
        fail("--cacert %s: %s", ctl.cacert, strerror(errno));
        return EXIT_USAGE;
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
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fail("cannot initialise libcurl");
        return EXIT_FAIL;
    }
    int rc = EXIT_USAGE;
    if (parse_url(&ctl, hub, allow_insecure) == 0) {
        ctl.curl = curl_easy_init();
        if (!ctl.curl) {
            fail("cannot initialise libcurl");
            rc = EXIT_FAIL;
        } else {
            rc = cmd->fn(&ctl, argc - i, argv + i);
        }
    }
    curl_easy_cleanup(ctl.curl);
    curl_global_cleanup();
    free(ctl.base);
    return rc;
}
