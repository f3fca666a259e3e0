/* libFuzzer driver for the admin server's request reading and head checks
 * (common/httpreq.h), the code the hub's admin API and the edge's admin
 * endpoint run on every request a neighbour sends.
 *
 * Input: one byte of rules, one byte saying how to cut the request into
 * reads, then the raw request (after the allowed-hosts list and "\n" when
 * the rules take the list from the input). Each request is read twice as
 * the server reads it, once in one piece and once cut into reads, with the
 * head checked when it is complete. Beyond no crash, leak or undefined
 * behaviour:
 *   - every offset the parser reports lies inside the bytes stored, which
 *     are the input's first bytes, and never more than the buffer holds;
 *     a kept header value holds no line break;
 *   - the outcome (complete or not, refusal and reason, method, URL, body,
 *     kept headers; for a malformed request, the error, but for a fold)
 *     does not depend on how the bytes were cut;
 *   - a request the checks let through has one Host that
 *     httpreq_host_is_allowed accepts (or none, on HTTP/1.0) and, under
 *     browser_checks, no Origin and a JSON Content-Type unless GET or HEAD;
 *   - on every kept header value, httpreq_host_is_allowed does not depend
 *     on case or surrounding blanks and never refuses once "*" joins the
 *     list, and httpreq_is_json_type says yes only to application/json. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpd.h"
#include "common/httpreq.h"
#include "tests/fuzz/fuzz_check.h"

/* Rules byte: bit 0 browser_checks; bits 1-2 the listen host; bits 3-4 the
 * allowed list (3: from the input, up to "\n"); bit 7 a buffer of 40 to 64
 * bytes (bits 5-6) instead of HTTPD_MAX_REQUEST, so that requests overflow. */
static const char *const listen_hosts[] = {"127.0.0.1", "hub.internal", "::", "0.0.0.0"};
static const char *const allowed_lists[] = {"", "api.example.com, Ops.Example.com.", "*"};

/* How one reading went. */
struct outcome {
    int res, heads, refused;
    struct httpreq_refusal no;
};

/* Cut byte: 0 to 15, reads of one byte; else reads of 1 to 16 * (cut >> 4)
 * bytes drawn from a generator seeded with it. */
static size_t next_cut(uint32_t *x, uint8_t cut)
{
    size_t most = 16 * (size_t)(cut >> 4);
    if (!most)
        return 1;
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return 1 + *x % most;
}

/* Reads req[0, len) as httpd_conn_read does: feeds each read, checks the
 * head when it is complete, stops at a refusal or a final result. whole:
 * one read. */
static void read_request(struct httpreq *r, const struct httpreq_rules *rules, const char *req,
                         size_t len, int whole, uint8_t cut, struct outcome *o)
{
    uint32_t x = 0x9e3779b9u ^ cut;
    memset(o, 0, sizeof *o);
    o->res = HTTPREQ_MORE;
    for (size_t at = 0; at < len && o->res == HTTPREQ_MORE;) {
        size_t n = whole ? len : next_cut(&x, cut);
        if (n > len - at)
            n = len - at;
        o->res = httpreq_feed(r, req + at, n);
        at += n;
        if (o->res == HTTPREQ_HEAD) {
            o->heads++;
            o->refused = httpreq_check(r, rules, &o->no);
            if (o->refused)
                return;
            o->res = httpreq_feed(r, NULL, 0);
            FUZZ_CHECK(o->res != HTTPREQ_HEAD); /* reported once */
        }
    }
}

static void check_span(const struct httpreq *r, size_t off, size_t len)
{
    FUZZ_CHECK(off <= r->len && len <= r->len - off);
}

/* What holds after any reading. */
static void check_reading(const struct httpreq *r, const struct outcome *o, const char *req,
                          size_t len, size_t cap)
{
    FUZZ_CHECK(o->res >= HTTPREQ_TOO_LARGE && o->res <= HTTPREQ_DONE);
    FUZZ_CHECK(r->parsed <= r->len && r->len <= cap && r->len <= len);
    FUZZ_CHECK(memcmp(r->buf, req, r->len) == 0);
    FUZZ_CHECK(o->heads == r->head_done);
    FUZZ_CHECK(!r->done || r->head_done);
    FUZZ_CHECK((o->res == HTTPREQ_DONE) == r->done);
    FUZZ_CHECK(o->res != HTTPREQ_TOO_LARGE || r->len == cap);
    if (o->res == HTTPREQ_MALFORMED)
        FUZZ_CHECK(strncmp(httpreq_error_name(r), "HPE_", 4) == 0);
    check_span(r, r->url_off, r->url_len);
    check_span(r, r->body_off, r->body_len);
    FUZZ_CHECK(!r->body_split || r->body_len > 0);
    for (int k = 0; k < HTTPREQ_NHEADERS; k++) {
        const struct httpreq_hdr *h = &r->hdr[k];
        check_span(r, h->off, h->len);
        FUZZ_CHECK(h->seen >= 0 && (h->seen || (h->off == 0 && h->len == 0)));
        /* One line's value: no line break inside (they would reach the log). */
        FUZZ_CHECK(!memchr(r->buf + h->off, '\r', h->len));
        FUZZ_CHECK(!memchr(r->buf + h->off, '\n', h->len));
    }
}

/* A refusal is one of four, counted under the right reason. */
static void check_refusal(const struct outcome *o)
{
    const struct httpreq_refusal *no = &o->no;
    FUZZ_CHECK(o->refused == no->status);
    FUZZ_CHECK(no->message && no->message[0]);
    FUZZ_CHECK(memchr(no->detail, '\0', sizeof no->detail) && no->detail[0]);
    switch (no->status) {
    case 400:
    case 421: FUZZ_CHECK(no->reason == HTTPREQ_REFUSED_HOST); break;
    case 403: FUZZ_CHECK(no->reason == HTTPREQ_REFUSED_ORIGIN); break;
    case 415: FUZZ_CHECK(no->reason == HTTPREQ_REFUSED_CONTENT_TYPE); break;
    default: FUZZ_CHECK(!"a refusal status httpreq_check does not give");
    }
}

/* A request let through has what the checks demand. */
static void check_let_through(const struct httpreq *r, const struct httpreq_rules *rules)
{
    const struct httpreq_hdr *host = &r->hdr[HTTPREQ_H_HOST];
    const http_parser *p = &r->parser;
    FUZZ_CHECK(host->seen <= 1);
    if (host->seen)
        FUZZ_CHECK(httpreq_host_is_allowed(r->buf + host->off, host->len, rules->listen_host,
                                           rules->allowed_hosts));
    else
        FUZZ_CHECK(p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0));
    if (!rules->browser_checks)
        return;
    FUZZ_CHECK(!r->hdr[HTTPREQ_H_ORIGIN].seen);
    const struct httpreq_hdr *ct = &r->hdr[HTTPREQ_H_CONTENT_TYPE];
    if (p->method != HTTP_GET && p->method != HTTP_HEAD)
        FUZZ_CHECK(ct->seen == 1 && httpreq_is_json_type(r->buf + ct->off, ct->len));
}

static void check_same_piece(const struct httpreq *a, const struct httpreq *b, size_t aoff,
                             size_t boff, size_t len)
{
    FUZZ_CHECK(aoff == boff && memcmp(a->buf + aoff, b->buf + boff, len) == 0);
}

/* The reading in one piece and the reading in cuts agree. */
static void check_same(const struct httpreq *a, const struct outcome *oa, const struct httpreq *b,
                       const struct outcome *ob)
{
    FUZZ_CHECK(oa->res == ob->res);
    FUZZ_CHECK(oa->heads == ob->heads && oa->refused == ob->refused);
    if (oa->refused) {
        FUZZ_CHECK(oa->no.reason == ob->no.reason && oa->no.message == ob->no.message);
        FUZZ_CHECK(strcmp(oa->no.detail, ob->no.detail) == 0);
    }
    /* The same error, but for a folded line: httpreq sees the fold when
     * the value's next piece is reported, which is at a cut or at the end
     * of the line, so a bad byte after the fold may come first, or not. */
    enum http_errno ea = HTTP_PARSER_ERRNO(&a->parser), eb = HTTP_PARSER_ERRNO(&b->parser);
    FUZZ_CHECK(ea == eb || ea == HPE_CB_header_value || eb == HPE_CB_header_value);
    FUZZ_CHECK(a->head_done == b->head_done && a->done == b->done);
    if (oa->res == HTTPREQ_MALFORMED)
        return; /* the pieces hold what came before the error, as cut */
    if (a->head_done) {
        FUZZ_CHECK(a->parser.method == b->parser.method);
        FUZZ_CHECK(a->parser.http_major == b->parser.http_major &&
                   a->parser.http_minor == b->parser.http_minor);
    }
    FUZZ_CHECK(a->url_len == b->url_len);
    check_same_piece(a, b, a->url_off, b->url_off, a->url_len);
    FUZZ_CHECK(a->body_len == b->body_len && a->body_split == b->body_split);
    check_same_piece(a, b, a->body_off, b->body_off, a->body_len);
    for (int k = 0; k < HTTPREQ_NHEADERS; k++) {
        FUZZ_CHECK(a->hdr[k].seen == b->hdr[k].seen && a->hdr[k].len == b->hdr[k].len);
        check_same_piece(a, b, a->hdr[k].off, b->hdr[k].off, a->hdr[k].len);
    }
}

/* The Host and Content-Type answers on one value, copied to exactly its
 * length so that ASan sees an overread. allowed has room for ",*". */
static void check_value(const char *value, size_t vlen, const char *listen, char *allowed)
{
    char *v = malloc(vlen ? vlen : 1), *lower = malloc(vlen + 2);
    size_t alen = strlen(allowed);
    memcpy(v, value, vlen);
    int ok = httpreq_host_is_allowed(v, vlen, listen, allowed);
    FUZZ_CHECK(ok == 0 || ok == 1);
    for (size_t i = 0; i < vlen; i++)
        lower[i + 1] = (char)tolower((unsigned char)v[i]);
    FUZZ_CHECK(httpreq_host_is_allowed(lower + 1, vlen, listen, allowed) == ok);
    lower[0] = ' ';
    lower[vlen + 1] = '\t';
    FUZZ_CHECK(httpreq_host_is_allowed(lower, vlen + 2, listen, allowed) == ok);
    memcpy(allowed + alen, ",*", 3);
    FUZZ_CHECK(httpreq_host_is_allowed(v, vlen, listen, allowed) >= ok);
    allowed[alen] = '\0';

    int json = httpreq_is_json_type(v, vlen);
    FUZZ_CHECK(json == 0 || json == 1);
    if (json) {
        size_t k = 0;
        while (k < vlen && (v[k] == ' ' || v[k] == '\t'))
            k++;
        FUZZ_CHECK(vlen - k >= 16 && strncasecmp(v + k, "application/json", 16) == 0);
    }
    free(v);
    free(lower);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t rb = data[0], cut = data[1];
    const char *req = (const char *)data + 2;
    size_t len = size - 2;
    size_t cap = rb & 0x80 ? 40 + 8 * (size_t)((rb >> 5) & 3) : HTTPD_MAX_REQUEST;
    const char *list = allowed_lists[0];
    size_t alen;
    unsigned pick = (rb >> 3) & 3;
    if (pick == 3) { /* the list from the input: settings hold no NUL */
        const char *nl = memchr(req, '\n', len);
        alen = nl ? (size_t)(nl - req) : len;
        if (memchr(req, '\0', alen))
            return 0;
        list = req;
        req += nl ? alen + 1 : alen;
        len -= nl ? alen + 1 : alen;
    } else {
        list = allowed_lists[pick];
        alen = strlen(list);
    }
    char *allowed = malloc(alen + 3);
    memcpy(allowed, list, alen);
    allowed[alen] = '\0';
    const struct httpreq_rules rules = {listen_hosts[(rb >> 1) & 3], allowed, rb & 1};

    /* Buffers exactly cap long: ASan sees a write past the bound. */
    struct httpreq *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    char *abuf = malloc(cap), *bbuf = malloc(cap);
    struct outcome oa, ob;
    httpreq_init(a, abuf, cap);
    httpreq_init(b, bbuf, cap);
    read_request(a, &rules, req, len, 1, cut, &oa);
    read_request(b, &rules, req, len, 0, cut, &ob);
    check_reading(a, &oa, req, len, cap);
    check_reading(b, &ob, req, len, cap);
    check_same(a, &oa, b, &ob);
    if (oa.refused)
        check_refusal(&oa);
    else if (oa.heads)
        check_let_through(a, &rules);
    for (int k = 0; k < HTTPREQ_NHEADERS; k++)
        if (a->hdr[k].seen)
            check_value(a->buf + a->hdr[k].off, a->hdr[k].len, rules.listen_host, allowed);

    free(abuf);
    free(bbuf);
    free(a);
    free(b);
    free(allowed);
    return 0;
}
