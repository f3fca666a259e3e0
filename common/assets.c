/* Files compiled into the binary and their HTTP answers: see assets.h. */
#include "common/assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

const char *assets_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},   {".ts", "text/plain; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},          {".svg", "image/svg+xml; charset=utf-8"},
        {".json", "application/json; charset=utf-8"}, {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* FNV-1a, 64 bits: the ETag only has to change when the bytes do. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

struct assets *assets_new(const struct asset_raw *raw, size_t n)
{
    struct assets *a = xcalloc(1, sizeof *a);
    a->v = xcalloc(n ? n : 1, sizeof *a->v);
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        struct asset *f = &a->v[i];
        f->name = raw[i].name;
        f->bytes = raw[i].bytes;
        f->len = raw[i].len;
        f->content_type = assets_content_type(f->name);
        f->is_html = strncmp(f->content_type, "text/html", 9) == 0;
        snprintf(f->etag, sizeof f->etag, "\"%016llx\"",
                 (unsigned long long)fnv1a(f->bytes, f->len));
    }
    return a;
}

void assets_free(struct assets *a)
{
    if (!a)
        return;
    free(a->v);
    free(a);
}

const struct asset *assets_find(const struct assets *a, const char *path, size_t len,
                                const char *index)
{
    if (len == 0 || path[0] != '/')
        return NULL;
    const char *name = path + 1;
    size_t nlen = len - 1;
    if (nlen == 0) {
        if (!index)
            return NULL;
        name = index;
        nlen = strlen(index);
    }
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->v[i].name) == nlen && memcmp(a->v[i].name, name, nlen) == 0)
            return &a->v[i];
    return NULL;
}

int assets_etag_matches(const char *v, size_t len, const char *etag)
{
    if (!v)
        return 0;
    size_t elen = strlen(etag);
    const char *end = v + len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *start = v;
        while (v < end && *v != ',')
            v++;
        const char *stop = v;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        size_t n = (size_t)(stop - start);
        if (n == 1 && *start == '*')
            return 1;
        if (n > 2 && start[0] == 'W' && start[1] == '/') { /* weak comparison */
            start += 2;
            n -= 2;
        }
        if (n == elen && memcmp(start, etag, elen) == 0)
            return 1;
    }
    return 0;
}

/* Headers every answer here carries: the bytes can change with a new
 * binary, so caches revalidate (ETag makes that cheap); no sniffing. */
#define COMMON_HEADERS \
    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"

void assets_respond(struct buf *out, const struct asset *f, int head, int not_modified,
                    const char *csp)
{
    const char *csp_name = f->is_html && csp ? "Content-Security-Policy: " : "";
    const char *csp_value = f->is_html && csp ? csp : "";
    const char *csp_end = f->is_html && csp ? "\r\n" : "";
    if (not_modified) {
        /* RFC 9110 §15.4.5: no body, but the ETag and caching headers. */
        buf_printf(out, "HTTP/1.1 304 Not Modified\r\nETag: %s\r\n" COMMON_HEADERS "\r\n", f->etag);
        return;
    }
    buf_printf(out,
               "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nETag: %s\r\n"
               "%s%s%s" COMMON_HEADERS "\r\n",
               f->content_type, f->len, f->etag, csp_name, csp_value, csp_end);
    if (!head)
        buf_append(out, f->bytes, f->len);
}

void assets_respond_status(struct buf *out, int status, const char *text, const char *body)
{
    buf_printf(out,
               "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: %zu\r\n%s" COMMON_HEADERS "\r\n%s",
               status, text, strlen(body), status == 405 ? "Allow: GET, HEAD\r\n" : "", body);
}

void assets_respond_json(struct buf *out, const char *json, size_t len, int head)
{
    buf_printf(out,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
               /* Public by design: a page of any site may read it to pick an edge. */
               "Access-Control-Allow-Origin: *\r\n"
               "Content-Length: %zu\r\n" COMMON_HEADERS "\r\n",
               len);
    if (!head)
        buf_append(out, json, len);
}
