/* One admin HTTP request, read and checked: see httpreq.h.
 *
 * http-parser is paused twice: after the head, so that the caller checks
 * it before any of the body is parsed, and after the request, so that
 * nothing pipelined behind it is. */
#include "common/httpreq.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- parsing -------------------------------------------------------------- */

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct httpreq *r = p->data;
    if (!r->url_seen) {
        r->url_seen = 1;
        r->url_off = (size_t)(at - r->buf);
    }
    r->url_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpreq *r = p->data;
    if (!r->body_seen) {
        r->body_seen = 1;
        r->body_off = (size_t)(at - r->buf);
    } else if (at != r->buf + r->body_off + r->body_len) {
        r->body_split = 1; /* chunked: pieces with chunk headers between them */
    }
    r->body_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpreq *r = p->data;
    if (r->head_done)
        return 0; /* a trailer field: see on_header_value */
    if (!r->in_field) {
        r->in_field = 1;
        r->field_off = (size_t)(at - r->buf);
        r->field_len = 0;
    }
    r->field_len += len;
    return 0;
}

static const struct {
    const char *name;
    size_t len;
} kept_headers[HTTPREQ_NHEADERS] = {
    [HTTPREQ_H_AUTHORIZATION] = {"authorization", 13},
    [HTTPREQ_H_HOST] = {"host", 4},
    [HTTPREQ_H_ORIGIN] = {"origin", 6},
    [HTTPREQ_H_CONTENT_TYPE] = {"content-type", 12},
    [HTTPREQ_H_IF_NONE_MATCH] = {"if-none-match", 13},
};

/* Names arrive in pieces (LIBRARIES.md §7): the name is whole once its
 * value starts, and the value's pieces are contiguous in r->buf unless the
 * line was folded. */
static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpreq *r = p->data;
    /* Fields after a chunked body are trailers: never merged into the head
     * (RFC 9110 6.5.1), which was checked before them. */
    if (r->head_done)
        return 0;
    if (r->in_field) {
        r->in_field = 0;
        r->cur_hdr = -1;
        for (int k = 0; k < HTTPREQ_NHEADERS; k++) {
            if (r->field_len == kept_headers[k].len &&
                strncasecmp(r->buf + r->field_off, kept_headers[k].name, r->field_len) == 0) {
                r->cur_hdr = k;
                r->hdr[k].seen++;
                r->hdr[k].off = (size_t)(at - r->buf);
                r->hdr[k].len = 0;
                break;
            }
        }
    } else if (at != r->buf + r->value_end) {
        /* The value goes on after a line break: obs-fold, refused (400) as
         * RFC 9112 5.2 allows, rather than kept with the break inside. */
        return -1;
    }
    r->value_end = (size_t)(at - r->buf) + len;
    if (r->cur_hdr >= 0)
        r->hdr[r->cur_hdr].len += len;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct httpreq *r = p->data;
    r->head_done = 1;
    r->in_field = 0;
    r->cur_hdr = -1;
    /* The caller checks the head before the body is parsed. */
    r->paused_at_head = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpreq *r = p->data;
    r->done = 1;
    /* One request per connection: ignore anything pipelined after it. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void httpreq_init(struct httpreq *r, char *buf, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->cap = cap;
    r->cur_hdr = -1;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

/* The result for the state the parser stopped in. */
static int feed_result(const struct httpreq *r)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->done)
        return HTTPREQ_DONE;
    if (e == HPE_PAUSED && r->paused_at_head)
        return HTTPREQ_HEAD;
    if (e != HPE_OK)
        return HTTPREQ_MALFORMED;
    return r->len == r->cap ? HTTPREQ_TOO_LARGE : HTTPREQ_MORE;
}

int httpreq_feed(struct httpreq *r, const char *bytes, size_t n)
{
    int res = feed_result(r);
    if (res == HTTPREQ_DONE || res < 0)
        return res;
    if (n > r->cap - r->len)
        n = r->cap - r->len;
    if (n && bytes != r->buf + r->len)
        memmove(r->buf + r->len, bytes, n);
    r->len += n;
    if (r->paused_at_head) { /* reported last time: go on */
        r->paused_at_head = 0;
        http_parser_pause(&r->parser, 0);
    }
    /* Never an empty execute: http-parser takes that for the end of the
     * stream. */
    if (r->parsed < r->len)
        r->parsed += http_parser_execute(&r->parser, &parser_settings, r->buf + r->parsed,
                                         r->len - r->parsed);
    return feed_result(r);
}

const char *httpreq_error_name(const struct httpreq *r)
{
    return http_errno_name(HTTP_PARSER_ERRNO(&r->parser));
}

/* ---- checks --------------------------------------------------------------- */

/* v[0, len) without surrounding spaces and tabs. */
static void trim(const char **v, size_t *len)
{
    while (*len && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*len)--;
    }
    while (*len && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
        (*len)--;
}

static int name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen && a[alen - 1] == '.')
        alen--;
    if (blen && b[blen - 1] == '.')
        blen--;
    return alen == blen && alen > 0 && strncasecmp(a, b, alen) == 0;
}

int httpreq_host_is_allowed(const char *v, size_t len, const char *listen_host, const char *allowed)
{
    char lit[64];
    const char *name, *port;
    size_t nlen;
    trim(&v, &len);
    if (len == 0)
        return 0;
    if (v[0] == '[') { /* [IPv6]:port (RFC 3986 3.2.2) */
        const char *end = memchr(v, ']', len);
        if (!end)
            return 0;
        name = v + 1;
        nlen = (size_t)(end - name);
        port = end + 1;
        if (port < v + len && *port != ':')
            return 0;
        struct in6_addr a6;
        if (nlen == 0 || nlen >= sizeof lit)
            return 0;
        memcpy(lit, name, nlen);
        lit[nlen] = '\0';
        if (inet_pton(AF_INET6, lit, &a6) != 1)
            return 0;
    } else {
        const char *colon = memchr(v, ':', len);
        name = v;
        nlen = colon ? (size_t)(colon - v) : len;
        port = colon ? colon : v + len;
        if (colon && memchr(colon + 1, ':', len - nlen - 1))
            return 0; /* a bare IPv6 literal or garbage */
    }
    if (port < v + len) { /* ":" then 1 to 5 digits */
        size_t plen = (size_t)(v + len - port) - 1;
        if (plen == 0 || plen > 5)
            return 0;
        for (size_t i = 1; i <= plen; i++)
            if (port[i] < '0' || port[i] > '9')
                return 0;
    }
    if (nlen == 0)
        return 0;
    if (v[0] == '[')
        return 1;
    for (size_t i = 0; i < nlen; i++) { /* a reg-name: no spaces, slashes, @, ... */
        unsigned char ch = (unsigned char)name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return 0;
    }
    struct in_addr a4;
    if (nlen < sizeof lit) {
        memcpy(lit, name, nlen);
        lit[nlen] = '\0';
        if (inet_pton(AF_INET, lit, &a4) == 1)
            return 1;
    }
    if (name_eq(name, nlen, "localhost", 9))
        return 1;
    if (listen_host && name_eq(name, nlen, listen_host, strlen(listen_host)))
        return 1;
    for (const char *p = allowed; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        trim(&item, &n);
        if (n == 1 && item[0] == '*')
            return 1;
        if (name_eq(name, nlen, item, n))
            return 1;
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

int httpreq_is_json_type(const char *v, size_t len)
{
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    trim(&v, &len);
    if (len < n || strncasecmp(v, want, n) != 0)
        return 0;
    v += n;
    len -= n;
    trim(&v, &len);
    return len == 0 || v[0] == ';'; /* parameters (RFC 9110 8.3.1) */
}

/* Fills *out and returns the status. */
__attribute__((format(printf, 5, 6))) static int refuse(struct httpreq_refusal *out, int status,
                                                        enum httpreq_refused reason,
                                                        const char *message, const char *fmt, ...)
{
    va_list ap;
    out->status = status;
    out->reason = reason;
    out->message = message;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
    return status;
}

/* At most 100 bytes of a value, for the log. */
static int quoted_len(size_t len)
{
    return (int)(len > 100 ? 100 : len);
}

/* The allowed list without its "*" entries, in out (NULL when it does not
 * fit: only addresses, localhost and the listen host then). */
static const char *named_hosts(const char *allowed, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = allowed; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *a = p, *b = p + len;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (!(b - a == 1 && *a == '*') && b > a) {
            if (n + (size_t)(b - a) + 2 > cap)
                return NULL;
            if (n)
                out[n++] = ',';
            memcpy(out + n, a, (size_t)(b - a));
            n += (size_t)(b - a);
        }
        p = end ? end + 1 : b;
    }
    out[n] = '\0';
    return out;
}

/* 1 if Origin o[0, len) is this server's own: its scheme and the request's
 * Host, a name the server answers to by itself or by name (not only by
 * "*", or a page of any name, DNS rebinding, would count). Such a request
 * comes from a page this server served (the hub's dashboard). */
static int is_own_origin(const struct httpreq *r, const struct httpreq_rules *rules, const char *o,
                         size_t len)
{
    const struct httpreq_hdr *host = &r->hdr[HTTPREQ_H_HOST];
    const char *scheme = rules->tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    if (host->seen != 1 || len != sl + host->len || strncasecmp(o, scheme, sl) != 0 ||
        strncasecmp(o + sl, r->buf + host->off, host->len) != 0)
        return 0;
    char names[1024];
    return httpreq_host_is_allowed(r->buf + host->off, host->len, rules->listen_host,
                                   named_hosts(rules->allowed_hosts, names, sizeof names));
}

int httpreq_check(const struct httpreq *r, const struct httpreq_rules *rules,
                  struct httpreq_refusal *out)
{
    const struct httpreq_hdr *host = &r->hdr[HTTPREQ_H_HOST];
    const http_parser *p = &r->parser;
    /* RFC 9112 3.2: a request with no Host (HTTP/1.1) or several is 400. */
    if (host->seen > 1 ||
        (!host->seen && (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1))))
        return refuse(out, 400, HTTPREQ_REFUSED_HOST,
                      host->seen ? "several Host headers" : "a Host header is required", "%s",
                      host->seen ? "refused: several Host headers" : "refused: no Host header");
    if (host->seen && !httpreq_host_is_allowed(r->buf + host->off, host->len, rules->listen_host,
                                               rules->allowed_hosts))
        return refuse(out, 421, HTTPREQ_REFUSED_HOST,
                      "this server does not answer for that Host name (add it to the allowed "
                      "hosts setting)",
                      "refused Host '%.*s' (not an allowed name)", quoted_len(host->len),
                      r->buf + host->off);
    if (!rules->browser_checks)
        return 0;
    const struct httpreq_hdr *origin = &r->hdr[HTTPREQ_H_ORIGIN];
    if (origin->seen &&
        !(origin->seen == 1 && is_own_origin(r, rules, r->buf + origin->off, origin->len)))
        return refuse(out, 403, HTTPREQ_REFUSED_ORIGIN,
                      "requests from web pages (with an Origin header) are refused",
                      "refused a request from a web page (Origin '%.*s')", quoted_len(origin->len),
                      r->buf + origin->off);
    const struct httpreq_hdr *ct = &r->hdr[HTTPREQ_H_CONTENT_TYPE];
    int method = p->method;
    if (method != HTTP_GET && method != HTTP_HEAD &&
        (ct->seen != 1 || !httpreq_is_json_type(r->buf + ct->off, ct->len)))
        return refuse(out, 415, HTTPREQ_REFUSED_CONTENT_TYPE,
                      "the body must be sent as Content-Type: application/json",
                      "refused %s with Content-Type '%.*s'", http_method_str(method),
                      ct->seen ? quoted_len(ct->len) : 1, ct->seen ? r->buf + ct->off : "-");
    return 0;
}
