/* Files compiled into a binary (edge/www/, hub/www/) and the HTTP answer
 * that serves one. The bytes come from a table the build generates
 * (common/assets_gen.sh writes one .S per directory with .incbin):
 * raw entries {name, bytes, len}; assets_new adds what HTTP needs (content
 * type by extension, a strong ETag over the bytes) once, at startup, so
 * lookups on the loop cost one walk of a short table and no hashing. */
#ifndef SPOKE_ASSETS_H
#define SPOKE_ASSETS_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* One file as the generated table holds it (layout shared with the .S:
 * three pointer-sized words; the bytes are followed by one NUL not counted). */
struct asset_raw {
    const char *name; /* "spoke.js": the file name, no directory */
    const uint8_t *bytes;
    size_t len;
};

struct asset {
    const char *name;
    const char *content_type; /* "text/javascript; charset=utf-8", ... */
    const uint8_t *bytes;
    size_t len;
    char etag[20]; /* "\"" 16 hex digits "\"" NUL */
    int is_html;
};

struct assets {
    struct asset *v;
    size_t n;
};

/* The content type for a file name by its extension (.html, .js, .mjs, .ts,
 * .css, .svg, .json, .txt; anything else application/octet-stream). */
const char *assets_content_type(const char *name);

/* Builds the table over raw[0, n) (the raw bytes are not copied: they live
 * in the binary). Never fails (aborting allocation). Free with assets_free. */
struct assets *assets_new(const struct asset_raw *raw, size_t n);
/* No-op on NULL. */
void assets_free(struct assets *a);

/* The file a request path names: "/NAME" exactly (no query: the caller cuts
 * it), NAME one of the table's; "/" names `index` if not NULL. NULL if none. */
const struct asset *assets_find(const struct assets *a, const char *path, size_t len,
                                const char *index);

/* 1 if an If-None-Match value (NULL: none) matches etag: "*" or a list of
 * entity tags holding it (weak ones compare by value, RFC 9110 §13.1.2). */
int assets_etag_matches(const char *if_none_match, size_t len, const char *etag);

/* Appends the whole HTTP/1.1 answer serving f to out: 304 without a body if
 * not_modified, else 200 with the bytes (head: the headers only, as for
 * HEAD). csp: the Content-Security-Policy value for HTML files (NULL: none).
 * Connection: close; the caller closes once it is written. */
void assets_respond(struct buf *out, const struct asset *f, int head, int not_modified,
                    const char *csp);

/* Appends a short plain-text answer (404, 405 with Allow: GET, HEAD) with
 * the same caching and sniffing headers. */
void assets_respond_status(struct buf *out, int status, const char *text, const char *body);

/* The answer for a JSON document (e.g. /edges.json) built per request:
 * 200, application/json, no-cache, no ETag. head: headers only. */
void assets_respond_json(struct buf *out, const char *json, size_t len, int head);

#endif
