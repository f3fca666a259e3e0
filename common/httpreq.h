/* One admin HTTP request, read and checked: parses the bytes of a request
 * as they arrive (http-parser, LIBRARIES.md §7) and checks its head against
 * what no admin endpoint may accept, with no socket, no loop and no
 * allocation, so the server (common/httpd.c), its unit tests and its fuzz
 * driver run the same code.
 *
 * The bytes live in one buffer the caller lends (cap bytes, HTTPD_MAX_REQUEST
 * in the server), so every piece the parser reports is contiguous there and
 * is kept as an offset into it. Stored bytes never move, and:
 *     0 <= parsed <= len <= cap
 *     url_off + url_len <= len, body_off + body_len <= len,
 *     hdr[k].off + hdr[k].len <= len (0 and 0 while hdr[k].seen is 0)
 * One request only: bytes after it are not parsed (the server answers with
 * Connection: close).
 *
 * The checks (docs/security.md, "Admin API"): a missing Host on HTTP/1.1 or
 * several Host headers (400), a Host that names neither an IP address,
 * localhost, the listen host nor an allowed name (DNS rebinding: 421), and,
 * with browser_checks, any Origin header (403) and any request other than
 * GET or HEAD whose Content-Type is not application/json (415): a page in an
 * operator's browser can send neither without the server's consent. */
#ifndef SPOKE_HTTPREQ_H
#define SPOKE_HTTPREQ_H
#include <http_parser.h>
#include <stddef.h>

/* The headers kept for routes and checks. */
enum httpreq_header {
    HTTPREQ_H_AUTHORIZATION,
    HTTPREQ_H_HOST,
    HTTPREQ_H_ORIGIN,
    HTTPREQ_H_CONTENT_TYPE,
    HTTPREQ_H_IF_NONE_MATCH,
    HTTPREQ_NHEADERS
};

/* Where one header's value lies in the request bytes (the last one seen),
 * and how many times it came. */
struct httpreq_hdr {
    size_t off, len;
    int seen;
};

/* Routes read parser.method, the URL at buf + url_off (url_len bytes), the
 * body at buf + body_off (body_len; body_split if it came in chunks) and the
 * kept headers in hdr[]. The rest is the parser's. Not movable once
 * initialised (the parser points back at it). */
struct httpreq {
    http_parser parser; /* method, http_major and http_minor once the head is in */
    char *buf;          /* the caller's, cap bytes */
    size_t cap, len, parsed;
    int head_done, done;
    size_t url_off, url_len;
    size_t body_off, body_len;
    int body_split;
    struct httpreq_hdr hdr[HTTPREQ_NHEADERS];
    int url_seen, body_seen, paused_at_head;
    size_t field_off, field_len, value_end;
    int in_field, cur_hdr; /* the header whose value is arriving, or -1 */
};

/* What httpreq_feed saw. */
enum httpreq_result {
    HTTPREQ_MORE = 0,       /* incomplete: feed more bytes */
    HTTPREQ_HEAD = 1,       /* the head just completed (reported once): check
                             * it (httpreq_check), then feed on, with no bytes
                             * if none came, for what is stored after it */
    HTTPREQ_DONE = 2,       /* the request is complete */
    HTTPREQ_MALFORMED = -1, /* http-parser refused it (httpreq_error_name), or a
                             * header line was folded (RFC 9112 5.2); the URL
                             * and kept headers may then lack their last
                             * pieces, depending on how the bytes came */
    HTTPREQ_TOO_LARGE = -2, /* cap bytes stored and the request not complete:
                             * in its head (431) unless head_done (413) */
};

/* Starts an empty request over buf[0, cap). Does not take ownership of buf,
 * which must outlive r. */
void httpreq_init(struct httpreq *r, char *buf, size_t cap);
/* Stores bytes[0, n) after the bytes already stored (no copy when bytes is
 * buf + len, where the server reads them) and parses what is stored and not
 * parsed yet, stopping after the head and after the request. Stores at
 * most cap - len bytes: a request that needs more is HTTPREQ_TOO_LARGE.
 * bytes may be NULL when n is 0. Returns an enum httpreq_result; DONE,
 * MALFORMED and TOO_LARGE are final: every later call returns the same
 * and stores nothing. */
int httpreq_feed(struct httpreq *r, const char *bytes, size_t n);
/* http-parser's name for what was malformed ("HPE_INVALID_METHOD"). */
const char *httpreq_error_name(const struct httpreq *r);

/* What the head checks allow besides IP literals and localhost. */
struct httpreq_rules {
    const char *listen_host;   /* the host the server listens on, or NULL */
    const char *allowed_hosts; /* comma-separated Host names; "*": any. NULL: none */
    int browser_checks;        /* refuse Origin (403) and non-JSON bodies (415) */
    int tls;                   /* the server speaks HTTPS (its own pages' scheme) */
};

/* Which rule a refusal is for. */
enum httpreq_refused { HTTPREQ_REFUSED_HOST, HTTPREQ_REFUSED_ORIGIN, HTTPREQ_REFUSED_CONTENT_TYPE };

struct httpreq_refusal {
    int status; /* 400, 421, 403 or 415 */
    enum httpreq_refused reason;
    const char *message; /* for the client, static: {"error": message} */
    char detail[300];    /* for the log, quoting at most 100 bytes of a value */
};

/* Checks a complete head (after HTTPREQ_HEAD). Returns 0 if the request may
 * go on, else the refusal's status with *out filled. */
int httpreq_check(const struct httpreq *r, const struct httpreq_rules *rules,
                  struct httpreq_refusal *out);

/* 1 if a Host header value v[0, len) names this server: an IPv4 literal, a
 * bracketed IPv6 literal, localhost, listen_host, or a name in the
 * comma-separated allowed list ("*" in it allows any), each optionally
 * followed by :PORT; names compare case-insensitively, a final dot
 * ignored. 0 otherwise (also when malformed). */
int httpreq_host_is_allowed(const char *v, size_t len, const char *listen_host,
                            const char *allowed);
/* 1 if a Content-Type value v[0, len) is application/json, with or without
 * parameters ("application/json; charset=utf-8"), case-insensitively. */
int httpreq_is_json_type(const char *v, size_t len);

#endif
