/* The HTTP/1.1 upgrade that opens a client WebSocket (RFC 6455 §4.2),
 * parsed incrementally with libhttp-parser. State lives only while the
 * handshake is in progress. */
#ifndef SPOKE_EDGE_HANDSHAKE_H
#define SPOKE_EDGE_HANDSHAKE_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/enc.h"

/* Request headers beyond this many bytes are refused (431). */
#define HANDSHAKE_MAX_BYTES 8192
/* Longest URL and longest value of a header we read (Authorization). */
#define HANDSHAKE_MAX_TOKEN 4096

enum handshake_result {
    HANDSHAKE_NEED_MORE = 0,
    HANDSHAKE_DONE = 1,   /* response holds the 101 answer */
    HANDSHAKE_FAILED = 2, /* response holds an HTTP error answer; close after it */
    HANDSHAKE_HTTP = 3    /* a complete request for a path other than /ws, response
                           * empty: the caller answers it (handshake_http), then closes */
};

struct handshake;

struct handshake *handshake_new(void);
void handshake_free(struct handshake *h);

/* Feeds request bytes. *consumed is set to the bytes that belonged to the
 * HTTP request (on DONE, the rest of p is WebSocket data). On DONE, *enc is
 * the chosen subprotocol's encoding; the caller may still refuse (origin,
 * token) by replacing the response with handshake_refuse. A short reason for a failure is left in
 * *why (static string) for the log. */
enum handshake_result handshake_feed(struct handshake *h, const uint8_t *p, size_t n,
                                     size_t *consumed, struct buf *response, enum enc *enc,
                                     const char **why);

/* Request headers a connect hook forwards to the backend (docs/hooks.md):
 * names (matched case-insensitively) are copied. Call before feeding. */
#define HANDSHAKE_KEEP_NAME_MAX 64
void handshake_keep_headers(struct handshake *h, const char (*names)[HANDSHAKE_KEEP_NAME_MAX + 1],
                            unsigned n);
/* After DONE: the kept headers as one JSON object appended to out
 * ({"Name":"value",...}, names as configured, repeated headers one member
 * each). */
void handshake_kept_headers(const struct handshake *h, struct buf *out);
/* After DONE: the request target (path and query) as received. */
const char *handshake_target(const struct handshake *h, size_t *len);

/* Whether permessage-deflate may be negotiated (the policy's deflate);
 * off until called. Call before the request completes. */
void handshake_allow_deflate(struct handshake *h, int on);
/* After DONE: 1 if the answer accepted permessage-deflate (RFC 7692, no
 * context takeover either way), else 0. */
int handshake_deflate(const struct handshake *h);

/* After DONE: the Origin header (NULL if none), and the client's token from
 * "Authorization: Bearer T" or else the `token` query parameter (NULL if
 * neither). Valid until handshake_free. */
const char *handshake_origin(const struct handshake *h);
const char *handshake_token(const struct handshake *h);

/* After HTTP: the request the caller answers. Strings valid until
 * handshake_free; path is not NUL-terminated and has no query. */
struct handshake_request {
    int method; /* enum http_method (HTTP_GET, HTTP_HEAD, ...) */
    const char *path;
    size_t path_len;
    const char *if_none_match; /* the first If-None-Match value, or NULL */
};
void handshake_http(const struct handshake *h, struct handshake_request *r);

/* Writes an HTTP error answer (status, reason phrase, extra header lines
 * ending in CRLF or "", and a short plain-text body). */
void handshake_refuse(struct buf *out, int status, const char *text, const char *extra,
                      const char *body);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)); out >= 29 bytes. */
void handshake_accept_key(const char *key, size_t keylen, char *out);

#endif
