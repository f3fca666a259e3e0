/* httpcall-probe: drives common/httpcall.c from stdin for
 * tests/integration/test_httpcall.py, on one libev loop as an edge worker
 * would.
 *
 * Flags: --max-in-flight N, --max-queued N, --max-body N, --max-host-conns N
 * (struct httpcall_limits) and --secret S (then every call carries
 * X-Spoke-Signature from common/hooksign.h).
 * Commands on stdin, one per line:
 *   post ID URL TIMEOUT_MS BODY   (BODY: the rest of the line, may be empty)
 *   cancel ID
 *   stats
 * Output on stdout, one JSON object per line:
 *   {"ready":true}                                   once, at start
 *   {"tick":N}                                       every 10 ms
 *   {"id":ID,"kind":K,"status":S,"body":B,"body_len":N,"error":E,
 *    "elapsed_ms":N,"tick":N}                        one per finished call
 *   {"id":ID,"refused":true,"rc":RC}                 a post refused at once
 *   {"cancelled":ID,"n":N}, {"stats":{...}}, {"bad":LINE}
 * End of stdin or SIGTERM: frees everything and exits 0. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hooksign.h"
#include "common/httpcall.h"
#include "common/jsonwrite.h"
#include "common/xalloc.h"

/* One call the probe made; the ud of its httpcall. */
struct pcall {
    struct pcall *prev, *next;
    struct probe *p;
    char *id;
};

struct probe {
    struct ev_loop *loop;
    struct httpcall *h;
    const char *secret;
    ev_io in;
    ev_timer tick;
    ev_signal term;
    uint64_t ticks;
    struct buf line; /* stdin bytes not yet ending in '\n' */
    struct pcall *calls;
};

static void emit(struct buf *b)
{
    buf_append_u8(b, '\n');
    fwrite(buf_head(b), 1, buf_readable(b), stdout);
    fflush(stdout);
    buf_deinit(b);
}

static void pcall_free(struct probe *p, struct pcall *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        p->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->id);
    free(c);
}

static void done_cb(const struct httpcall_result *r, void *ud)
{
    struct pcall *c = ud;
    struct probe *p = c->p;
    struct buf b = BUF_INIT;
    BUF_APPEND_LIT(&b, "{\"id\":");
    json_write_str(&b, c->id, strlen(c->id));
    BUF_APPEND_LIT(&b, ",\"kind\":");
    const char *kind = httpcall_kind_name(r->kind);
    json_write_str(&b, kind, strlen(kind));
    BUF_APPEND_LIT(&b, ",\"status\":");
    json_write_i64(&b, r->status);
    BUF_APPEND_LIT(&b, ",\"body\":");
    json_write_str(&b, (const char *)r->body, r->body_len);
    BUF_APPEND_LIT(&b, ",\"body_len\":");
    json_write_u64(&b, r->body_len);
    BUF_APPEND_LIT(&b, ",\"error\":");
    if (r->error)
        json_write_str(&b, r->error, strlen(r->error));
    else
        BUF_APPEND_LIT(&b, "null");
    BUF_APPEND_LIT(&b, ",\"elapsed_ms\":");
    json_write_u64(&b, r->elapsed_ms);
    BUF_APPEND_LIT(&b, ",\"tick\":");
    json_write_u64(&b, p->ticks);
    BUF_APPEND_LIT(&b, "}");
    emit(&b);
    pcall_free(p, c);
}

/* Splits off the next space-separated word of *s (NULL if none). */
static char *word(char **s)
{
    char *w = *s;
    while (*w == ' ')
        w++;
    if (!*w)
        return NULL;
    char *end = strchr(w, ' ');
    if (end) {
        *end = '\0';
        *s = end + 1;
    } else {
        *s = w + strlen(w);
    }
    return w;
}

static void cmd_post(struct probe *p, char *rest)
{
    char *id = word(&rest), *url = word(&rest), *tmo = word(&rest);
    if (!id || !url || !tmo) {
        struct buf b = BUF_INIT;
        BUF_APPEND_LIT(&b, "{\"bad\":\"post wants ID URL TIMEOUT_MS BODY\"}");
        emit(&b);
        return;
    }
    const char *body = rest;
    size_t len = strlen(body);
    char idh[128], sigh[32 + HOOKSIGN_HEADER_MAX];
    snprintf(idh, sizeof idh, "X-Probe-Id: %s", id);
    const char *headers[4] = {"Content-Type: application/json", idh, NULL, NULL};
    if (p->secret) {
        memcpy(sigh, "X-Spoke-Signature: ", 19);
        if (hooksign_header(p->secret, strlen(p->secret), (uint64_t)time(NULL), body, len,
                            sigh + 19, sizeof sigh - 19) < 0)
            abort();
        headers[2] = sigh;
    }
    struct pcall *c = xcalloc(1, sizeof *c);
    c->p = p;
    c->id = xstrdup(id);
    int rc = httpcall_post(p->h, url, headers, body, len, strtol(tmo, NULL, 10), done_cb, c);
    if (rc < 0) {
        struct buf b = BUF_INIT;
        BUF_APPEND_LIT(&b, "{\"id\":");
        json_write_str(&b, id, strlen(id));
        BUF_APPEND_LIT(&b, ",\"refused\":true,\"rc\":");
        json_write_i64(&b, rc);
        BUF_APPEND_LIT(&b, "}");
        emit(&b);
        free(c->id);
        free(c);
        return;
    }
    c->next = p->calls;
    if (p->calls)
        p->calls->prev = c;
    p->calls = c;
}

static void cmd_cancel(struct probe *p, char *rest)
{
    char *id = word(&rest);
    unsigned n = 0;
    for (struct pcall *c = p->calls, *next; c && id; c = next) {
        next = c->next;
        if (strcmp(c->id, id) == 0) {
            n += httpcall_cancel(p->h, c);
            pcall_free(p, c);
        }
    }
    struct buf b = BUF_INIT;
    BUF_APPEND_LIT(&b, "{\"cancelled\":");
    json_write_str(&b, id ? id : "", id ? strlen(id) : 0);
    BUF_APPEND_LIT(&b, ",\"n\":");
    json_write_u64(&b, n);
    BUF_APPEND_LIT(&b, "}");
    emit(&b);
}

static void cmd_stats(struct probe *p)
{
    const struct httpcall_stats *s = httpcall_stats(p->h);
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "{\"stats\":{\"calls\":%llu,\"refused\":%llu,\"ok\":%llu,\"http_5xx\":%llu,"
               "\"timeout\":%llu,\"connect\":%llu,\"too_large\":%llu,\"other\":%llu,"
               "\"cancelled\":%llu,\"in_flight\":%u,\"queued\":%u}}",
               (unsigned long long)s->calls, (unsigned long long)s->refused,
               (unsigned long long)s->ok, (unsigned long long)s->fail_http_5xx,
               (unsigned long long)s->fail_timeout, (unsigned long long)s->fail_connect,
               (unsigned long long)s->fail_too_large, (unsigned long long)s->fail_other,
               (unsigned long long)s->cancelled, s->in_flight, s->queued);
    emit(&b);
}

static void command(struct probe *p, char *line)
{
    char *rest = line;
    char *verb = word(&rest);
    if (verb && strcmp(verb, "post") == 0) {
        cmd_post(p, rest);
    } else if (verb && strcmp(verb, "cancel") == 0) {
        cmd_cancel(p, rest);
    } else if (verb && strcmp(verb, "stats") == 0) {
        cmd_stats(p);
    } else if (verb) {
        struct buf b = BUF_INIT;
        BUF_APPEND_LIT(&b, "{\"bad\":");
        json_write_str(&b, verb, strlen(verb));
        BUF_APPEND_LIT(&b, "}");
        emit(&b);
    }
}

static void in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct probe *p = w->data;
    buf_reserve(&p->line, 4096);
    ssize_t n = read(w->fd, buf_tail(&p->line), buf_writable(&p->line));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    buf_commit(&p->line, (size_t)n);
    uint8_t *nl;
    while ((nl = memchr(buf_head(&p->line), '\n', buf_readable(&p->line)))) {
        size_t len = (size_t)(nl - buf_head(&p->line));
        char *line = xstrndup((const char *)buf_head(&p->line), len);
        buf_consume(&p->line, len + 1);
        command(p, line);
        free(line);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;
    p->ticks++;
    struct buf b = BUF_INIT;
    BUF_APPEND_LIT(&b, "{\"tick\":");
    json_write_u64(&b, p->ticks);
    BUF_APPEND_LIT(&b, "}");
    emit(&b);
}

static void term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static unsigned long flag_num(const char *name, const char *v)
{
    char *end;
    unsigned long n = v ? strtoul(v, &end, 10) : 0;
    if (!v || *end) {
        fprintf(stderr, "httpcall-probe: %s wants a number\n", name);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    struct httpcall_limits lim = {
        .max_in_flight = 8, .max_queued = 64, .max_body_bytes = 65536, .max_host_conns = 0};
    struct probe p = {.line = BUF_INIT};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--max-in-flight") == 0)
            lim.max_in_flight = (unsigned)flag_num(argv[i], v);
        else if (strcmp(argv[i], "--max-queued") == 0)
            lim.max_queued = (unsigned)flag_num(argv[i], v);
        else if (strcmp(argv[i], "--max-body") == 0)
            lim.max_body_bytes = flag_num(argv[i], v);
        else if (strcmp(argv[i], "--max-host-conns") == 0)
            lim.max_host_conns = (unsigned)flag_num(argv[i], v);
        else if (strcmp(argv[i], "--secret") == 0 && v)
            p.secret = v;
        else {
            fprintf(stderr, "httpcall-probe: unknown flag %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    p.loop = ev_loop_new(EVFLAG_AUTO);
    p.h = httpcall_new(p.loop, &lim);
    if (!p.h) {
        fprintf(stderr, "httpcall-probe: httpcall_new failed\n");
        return 1;
    }
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    ev_io_init(&p.in, in_cb, 0, EV_READ);
    p.in.data = &p;
    ev_io_start(p.loop, &p.in);
    ev_timer_init(&p.tick, tick_cb, 0.01, 0.01);
    p.tick.data = &p;
    ev_timer_start(p.loop, &p.tick);
    ev_signal_init(&p.term, term_cb, SIGTERM);
    ev_signal_start(p.loop, &p.term);
    struct buf b = BUF_INIT;
    BUF_APPEND_LIT(&b, "{\"ready\":true}");
    emit(&b);
    ev_run(p.loop, 0);
    httpcall_free(p.h);
    while (p.calls)
        pcall_free(&p, p.calls);
    buf_deinit(&p.line);
    ev_loop_destroy(p.loop);
    return 0;
}
