/* WebSocket upgrade handshake over libhttp-parser: see handshake.h. */
#include "edge/handshake.h"

#include <ctype.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonwrite.h"
#include "common/pmdeflate.h"
#include "common/textlist.h"
#include "common/xalloc.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */
#define FIELD_MAX 64
#define VALUE_MAX HANDSHAKE_MAX_TOKEN /* room for a bearer token */
#define URL_MAX HANDSHAKE_MAX_TOKEN   /* room for ?token=... */

enum header_id {
    H_OTHER,
    H_KEY,
    H_VERSION,
    H_PROTOCOL,
    H_UPGRADE,
    H_ORIGIN,
    H_AUTHORIZATION,
    H_IF_NONE_MATCH,
    H_EXTENSIONS
};

struct handshake {
    http_parser parser;
    size_t total;
    /* Header names and values arrive in pieces (LIBRARIES.md §7): accumulate. */
    char field[FIELD_MAX + 1];
    size_t field_len;
    int in_value;
    enum header_id current;
    /* Grown as bytes come (up to VALUE_MAX and URL_MAX), not reserved up front:
     * thousands of upgrades can be in flight, most needing a few hundred bytes. */
    struct buf value;
    int value_overflow;
    char key[32];
    size_t key_len;
    int key_count;
    char version[8];
    int have_version;
    int upgrade_websocket;
    int upgrade_requested; /* http-parser's upgrade flag for the first request */
    struct buf url;
    int url_overflow;
    int headers_done;
    int want_json, want_msgpack, offered_protocols;
    int json_first;
    int bad_header;
    char *origin; /* heap copies, only when sent */
    char *bearer;
    char *query_token;
    char *if_none_match;
    int origin_count, auth_count;
    /* Sec-WebSocket-Extensions, its values joined with ", " (RFC 7230 §3.2.2)
     * up to VALUE_MAX; past it nothing is negotiated. */
    struct buf extensions;
    int extensions_overflow;
    int deflate_allowed; /* the policy's deflate (handshake_allow_deflate) */
    int deflate;         /* permessage-deflate accepted in the answer */
    /* Headers a connect hook forwards (handshake_keep_headers): their names,
     * and what came as a JSON object's members ("Name":"value",...). */
    char (*keep)[HANDSHAKE_KEEP_NAME_MAX + 1];
    unsigned nkeep;
    int current_kept;
    struct buf kept;
    size_t path_off, path_len; /* the target's path in url, once parsed */
};

struct handshake *handshake_new(void)
{
    struct handshake *h = xcalloc(1, sizeof *h);
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    buf_init(&h->value);
    buf_init(&h->url);
    buf_init(&h->extensions);
    buf_init(&h->kept);
    return h;
}

void handshake_free(struct handshake *h)
{
    if (!h)
        return;
    buf_deinit(&h->url);
    buf_deinit(&h->value);
    buf_deinit(&h->extensions);
    buf_deinit(&h->kept);
    free(h->keep);
    free(h->origin);
    free(h->bearer);
    free(h->query_token);
    free(h->if_none_match);
    free(h);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct handshake *h = p->data;
    /* The URL can arrive in pieces: collect it, judge it at the end. */
    if (buf_readable(&h->url) + len > URL_MAX) {
        h->url_overflow = 1;
        return 0;
    }
    buf_append(&h->url, at, len);
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* The first `token` parameter of query[0, len), percent-decoded, or NULL. */
static char *query_token(const char *q, size_t len)
{
    const char *end = q + len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop - q >= 6 && memcmp(q, "token=", 6) == 0) {
            char *out = xmalloc((size_t)(stop - q)); /* the decoded token is shorter */
            size_t n = 0;
            for (const char *p = q + 6; p < stop; p++) {
                if (*p == '%' && stop - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                    out[n++] = (char)(hexval(p[1]) << 4 | hexval(p[2]));
                    p += 2;
                } else {
                    out[n++] = *p == '+' ? ' ' : *p;
                }
            }
            out[n] = '\0';
            return out;
        }
        q = stop + 1;
    }
    return NULL;
}

/* Parses the request target once: returns 1 if its path is /ws, 0 for
 * another path (kept for handshake_http), -1 if there is no usable path;
 * keeps the `token` query parameter (if any) for handshake_token. */
static int parse_target(struct handshake *h)
{
    struct http_parser_url u;
    const char *url = (const char *)buf_head(&h->url);
    size_t len = buf_readable(&h->url);
    if (h->url_overflow || len == 0)
        return -1;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH)))
        return -1;
    if (u.field_set & (1 << UF_QUERY))
        h->query_token = query_token(url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    h->path_off = u.field_data[UF_PATH].off;
    h->path_len = u.field_data[UF_PATH].len;
    return h->path_len == 3 && memcmp(url + h->path_off, "/ws", 3) == 0;
}

static int token_in_list(const char *list, const char *token)
{
    size_t tlen = strlen(token), n;
    const char *item;
    while (textlist_next(&list, &item, &n))
        if (n == tlen && strncasecmp(item, token, tlen) == 0)
            return 1;
    return 0;
}

static void finish_header(struct handshake *h)
{
    if (!h->in_value)
        return;
    /* NUL-terminated in place (not counted), so the value reads as a string. */
    buf_reserve(&h->value, 1);
    *buf_tail(&h->value) = 0;
    const char *value = (const char *)buf_head(&h->value);
    size_t value_len = buf_readable(&h->value);
    /* A header we interpret but could not hold whole is refused: judging a
     * truncated value would make the answer depend on how TCP split it. */
    if (h->value_overflow && (h->current != H_OTHER || h->current_kept))
        h->bad_header = 1;
    if (h->value_overflow)
        h->current_kept = 0;
    switch (h->current) {
    case H_KEY:
        h->key_count++;
        if (h->value_overflow || value_len >= sizeof h->key) {
            h->key_len = 0;
        } else {
            memcpy(h->key, value, value_len + 1);
            h->key_len = value_len;
        }
        break;
    case H_VERSION:
        if (!h->value_overflow && value_len < sizeof h->version) {
            memcpy(h->version, value, value_len + 1);
            h->have_version = 1;
        } else {
            strcpy(h->version, "?");
            h->have_version = 1;
        }
        break;
    case H_PROTOCOL: {
        /* May be repeated; tokens in the client's order of preference. */
        const char *p = value;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *start = p;
            while (*p && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            size_t n = (size_t)(p - start);
            if (!n)
                continue;
            h->offered_protocols = 1;
            if (n == 10 && memcmp(start, "spoke.json", 10) == 0) {
                if (!h->want_json && !h->want_msgpack)
                    h->json_first = 1;
                h->want_json = 1;
            } else if (n == 13 && memcmp(start, "spoke.msgpack", 13) == 0) {
                if (!h->want_json && !h->want_msgpack)
                    h->json_first = 0;
                h->want_msgpack = 1;
            }
        }
        break;
    }
    case H_UPGRADE:
        if (token_in_list(value, "websocket"))
            h->upgrade_websocket = 1;
        break;
    case H_ORIGIN:
        /* Repeated: refused below rather than picking one of them. */
        if (h->origin_count++ == 0)
            h->origin = xstrdup(value);
        break;
    case H_AUTHORIZATION:
        if (h->auth_count++ == 0 && strncasecmp(value, "Bearer ", 7) == 0) {
            const char *t = value + 7;
            while (*t == ' ')
                t++;
            h->bearer = xstrdup(t);
        }
        break;
    case H_IF_NONE_MATCH:
        if (!h->if_none_match)
            h->if_none_match = xstrdup(value);
        break;
    case H_EXTENSIONS:
        if (buf_readable(&h->extensions) + value_len + 2 > VALUE_MAX) {
            h->extensions_overflow = 1;
            break;
        }
        if (buf_readable(&h->extensions))
            buf_append(&h->extensions, ", ", 2);
        buf_append(&h->extensions, value, value_len);
        break;
    case H_OTHER: break;
    }
    if (h->current_kept) {
        /* A repeated header is sent as its values joined (RFC 7230 §3.2.2). */
        buf_append_u8(&h->kept, buf_readable(&h->kept) ? ',' : '{');
        json_write_str(&h->kept, h->keep[h->current_kept - 1],
                       strlen(h->keep[h->current_kept - 1]));
        buf_append_u8(&h->kept, ':');
        json_write_str(&h->kept, value, value_len);
    }
    h->current_kept = 0;
    h->in_value = 0;
    h->field_len = 0;
    buf_reset(&h->value);
    h->value_overflow = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct handshake *h = p->data;
    finish_header(h);
    if (h->field_len + len > FIELD_MAX) {
        h->field_len = FIELD_MAX + 1; /* too long to be one we care about */
        return 0;
    }
    memcpy(h->field + h->field_len, at, len);
    h->field_len += len;
    return 0;
}

static enum header_id classify(const char *name, size_t len)
{
    static const struct {
        const char *name;
        enum header_id id;
    } known[] = {
        {"sec-websocket-key", H_KEY},
        {"sec-websocket-version", H_VERSION},
        {"sec-websocket-protocol", H_PROTOCOL},
        {"upgrade", H_UPGRADE},
        {"origin", H_ORIGIN},
        {"authorization", H_AUTHORIZATION},
        {"if-none-match", H_IF_NONE_MATCH},
        {"sec-websocket-extensions", H_EXTENSIONS},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && strncasecmp(known[i].name, name, len) == 0)
            return known[i].id;
    return H_OTHER;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct handshake *h = p->data;
    if (!h->in_value) {
        h->in_value = 1;
        h->current = h->field_len <= FIELD_MAX ? classify(h->field, h->field_len) : H_OTHER;
        h->current_kept = 0;
        for (unsigned i = 0; i < h->nkeep && h->field_len <= FIELD_MAX; i++)
            if (strlen(h->keep[i]) == h->field_len &&
                strncasecmp(h->keep[i], h->field, h->field_len) == 0)
                h->current_kept = (int)i + 1;
        buf_reset(&h->value);
    }
    if (h->current == H_OTHER && !h->current_kept)
        return 0;
    if (h->value_overflow || buf_readable(&h->value) + len > VALUE_MAX) {
        h->value_overflow = 1;
        return 0;
    }
    buf_append(&h->value, at, len);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct handshake *h = p->data;
    finish_header(h);
    h->headers_done = 1;
    /* http-parser has set p->upgrade for this request (Upgrade plus a
     * Connection: upgrade token) just before calling us: keep it, then
     * return 2 ("no body, treat as upgrade") so the parser stops right after
     * these headers even for a plain request. Otherwise a pipelined second
     * request would be parsed in the same call and mix its headers into
     * ours, and the outcome would depend on how TCP split the bytes. */
    h->upgrade_requested = p->upgrade;
    return 2;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

void handshake_accept_key(const char *key, size_t keylen, char *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char in[64 + sizeof WS_GUID];
    memcpy(in, key, keylen);
    memcpy(in + keylen, WS_GUID, sizeof WS_GUID - 1);
    EVP_Digest(in, keylen + sizeof WS_GUID - 1, digest, &dlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, digest, (int)dlen);
}

void handshake_refuse(struct buf *out, int status, const char *text, const char *extra,
                      const char *body)
{
    buf_printf(out,
               "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n%s\r\n%s",
               status, text, strlen(body), extra, body);
}

/* A valid key is 16 random bytes in base64: 24 characters ending in "==". */
static int key_is_valid(const char *key, size_t len)
{
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!isalnum((unsigned char)key[i]) && key[i] != '+' && key[i] != '/')
            return 0;
    return 1;
}

enum handshake_result handshake_feed(struct handshake *h, const uint8_t *p, size_t n,
                                     size_t *consumed, struct buf *response, enum enc *enc,
                                     const char **why)
{
    size_t room = HANDSHAKE_MAX_BYTES - h->total;
    size_t feed = n < room ? n : room;
    size_t used = http_parser_execute(&h->parser, &settings, (const char *)p, feed);
    h->total += used;
    *consumed = used;
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);

    if (!h->headers_done) {
        if (err != HPE_OK) {
            *why = "malformed HTTP request";
            handshake_refuse(response, 400, "Bad Request", "", "malformed HTTP request\n");
            return HANDSHAKE_FAILED;
        }
        if (h->total >= HANDSHAKE_MAX_BYTES) {
            *why = "request headers too large";
            handshake_refuse(response, 431, "Request Header Fields Too Large", "",
                             "request headers too large\n");
            return HANDSHAKE_FAILED;
        }
        return HANDSHAKE_NEED_MORE;
    }

    if (h->bad_header) {
        *why = "WebSocket header value too long";
        handshake_refuse(response, 400, "Bad Request", "",
                         "a WebSocket header value is too long\n");
        return HANDSHAKE_FAILED;
    }
    int target = parse_target(h);
    if (target < 0) {
        *why = "not found (no usable request target)";
        handshake_refuse(response, 404, "Not Found", "",
                         "not found: WebSockets are served on /ws\n");
        return HANDSHAKE_FAILED;
    }
    if (target == 0) {
        *why = "plain HTTP request";
        return HANDSHAKE_HTTP; /* the caller answers it: handshake_http */
    }
    if (h->parser.method != HTTP_GET) {
        *why = "method not allowed";
        handshake_refuse(response, 405, "Method Not Allowed", "Allow: GET\r\n", "use GET\n");
        return HANDSHAKE_FAILED;
    }
    if (!h->upgrade_requested || !h->upgrade_websocket) {
        *why = "not a WebSocket upgrade";
        handshake_refuse(response, 426, "Upgrade Required",
                         "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
                         "this endpoint needs a WebSocket upgrade\n");
        return HANDSHAKE_FAILED;
    }
    if (h->parser.http_major != 1 || h->parser.http_minor < 1) {
        *why = "HTTP/1.1 required";
        handshake_refuse(response, 400, "Bad Request", "", "HTTP/1.1 required\n");
        return HANDSHAKE_FAILED;
    }
    if (!h->have_version || strcmp(h->version, "13") != 0) {
        *why = "unsupported Sec-WebSocket-Version";
        handshake_refuse(response, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n",
                         "unsupported WebSocket version: use 13\n");
        return HANDSHAKE_FAILED;
    }
    if (h->key_count != 1 || !key_is_valid(h->key, h->key_len)) {
        *why = "bad Sec-WebSocket-Key";
        handshake_refuse(response, 400, "Bad Request", "",
                         "missing or invalid Sec-WebSocket-Key\n");
        return HANDSHAKE_FAILED;
    }
    const char *proto = NULL;
    if (h->offered_protocols) {
        if (h->want_json && (h->json_first || !h->want_msgpack))
            proto = "spoke.json";
        else if (h->want_msgpack)
            proto = "spoke.msgpack";
        if (!proto) {
            *why = "no supported subprotocol offered";
            handshake_refuse(response, 400, "Bad Request", "",
                             "unsupported subprotocol: offer spoke.json or spoke.msgpack\n");
            return HANDSHAKE_FAILED;
        }
    }
    if (h->origin_count > 1 || h->auth_count > 1) {
        *why = "repeated Origin or Authorization header";
        handshake_refuse(response, 400, "Bad Request", "",
                         "repeated Origin or Authorization header\n");
        return HANDSHAKE_FAILED;
    }
    *enc = proto && strcmp(proto, "spoke.msgpack") == 0 ? ENC_MSGPACK : ENC_JSON;

    /* permessage-deflate only when the policy allows it and an offer can be
     * honoured whole (common/pmdeflate.h); otherwise the extension is simply
     * not in the answer and the connection runs uncompressed (RFC 6455
     * §9.1: a server declines by leaving it out). */
    char ext[PMD_ANSWER_MAX] = "";
    h->deflate =
        h->deflate_allowed && !h->extensions_overflow &&
        pmd_negotiate((const char *)buf_head(&h->extensions), buf_readable(&h->extensions), ext);

    char accept[32];
    handshake_accept_key(h->key, h->key_len, accept);
    buf_printf(response,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s%s%s%s\r\n",
               accept, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
               proto ? "\r\n" : "", h->deflate ? "Sec-WebSocket-Extensions: " : "",
               h->deflate ? ext : "", h->deflate ? "\r\n" : "");
    return HANDSHAKE_DONE;
}

void handshake_keep_headers(struct handshake *h, const char (*names)[HANDSHAKE_KEEP_NAME_MAX + 1],
                            unsigned n)
{
    free(h->keep);
    h->keep = n ? xmalloc(n * sizeof *h->keep) : NULL;
    if (n)
        memcpy(h->keep, names, n * sizeof *h->keep);
    h->nkeep = n;
}

void handshake_kept_headers(const struct handshake *h, struct buf *out)
{
    if (!buf_readable(&h->kept)) {
        BUF_APPEND_LIT(out, "{}");
        return;
    }
    buf_append(out, buf_head(&h->kept), buf_readable(&h->kept));
    buf_append_u8(out, '}');
}

const char *handshake_target(const struct handshake *h, size_t *len)
{
    *len = buf_readable(&h->url);
    return (const char *)buf_head(&h->url);
}

void handshake_allow_deflate(struct handshake *h, int on)
{
    h->deflate_allowed = on;
}

int handshake_deflate(const struct handshake *h)
{
    return h->deflate;
}

const char *handshake_origin(const struct handshake *h)
{
    return h->origin;
}

const char *handshake_token(const struct handshake *h)
{
    return h->bearer ? h->bearer : h->query_token;
}

void handshake_http(const struct handshake *h, struct handshake_request *r)
{
    r->method = (int)h->parser.method;
    r->path = (const char *)buf_head(&h->url) + h->path_off;
    r->path_len = h->path_len;
    r->if_none_match = h->if_none_match;
}
