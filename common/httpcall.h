/* Asynchronous HTTP POST calls driven by one libev loop (libcurl's multi
 * interface): the client side of backend hooks.
 *
 * One struct httpcall per loop (one per edge worker thread); it is never
 * shared between threads and every function here runs on its loop's thread.
 * Nothing blocks the loop: sockets are watched with ev_io, curl's single
 * timeout with one ev_timer, and names resolve in curl's threaded resolver
 * (httpcall_new warns if this libcurl has none).
 *
 * Life of a call: httpcall_post either refuses it at once (negative return,
 * no callback) or accepts it. An accepted call runs at once if fewer than
 * max_in_flight calls are running, else waits in a FIFO queue of at most
 * max_queued calls. Every accepted call gets exactly one callback, always
 * from a loop callback and never from inside httpcall_post, unless it is
 * cancelled first (httpcall_cancel) or the instance is freed.
 *
 * Memory is bounded: at most max_in_flight + max_queued calls exist, each
 * holding its request copy and at most max_body_bytes of response. Easy
 * handles are kept on a free list (never more than max_in_flight), so
 * connections stay alive between calls to the same host. */
#ifndef SPOKE_HTTPCALL_H
#define SPOKE_HTTPCALL_H
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct httpcall;

struct httpcall_limits {
    unsigned max_in_flight;  /* curl transfers running at once (>= 1) */
    unsigned max_queued;     /* accepted calls waiting for a slot (0: none wait) */
    size_t max_body_bytes;   /* response body cap; beyond it the call fails */
    unsigned max_host_conns; /* connections open to one host (curl holds a
                                 transfer beyond it until one is free); the
                                 idle ones stay open for reuse. 0: no cap */
};

/* Why a call ended. Every kind but HTTPCALL_OK and HTTPCALL_HTTP_5XX is a
 * transport failure and comes with curl's error text. */
enum httpcall_kind {
    HTTPCALL_OK = 0,    /* a response with status < 500 */
    HTTPCALL_HTTP_5XX,  /* a response with status >= 500 (body included) */
    HTTPCALL_TIMEOUT,   /* timeout_ms passed (connecting or waiting) */
    HTTPCALL_CONNECT,   /* could not resolve or connect */
    HTTPCALL_TOO_LARGE, /* the body passed max_body_bytes */
    HTTPCALL_OTHER,     /* any other transport error (reset, bad URL, ...) */
};

/* What a callback receives. body and error are valid only during the
 * callback. */
struct httpcall_result {
    enum httpcall_kind kind;
    long status;         /* HTTP status, 0 if no response head came */
    const uint8_t *body; /* response body (empty unless a response came) */
    size_t body_len;
    const char *error;   /* NULL for HTTPCALL_OK and HTTPCALL_HTTP_5XX */
    uint64_t elapsed_ms; /* from httpcall_post to the callback, queue included */
};

typedef void (*httpcall_done_fn)(const struct httpcall_result *r, void *ud);

/* Counters since httpcall_new (for metrics); in_flight and queued are
 * current values. Every accepted call ends in exactly one of ok,
 * fail_http_5xx, fail_timeout, fail_connect, fail_too_large, fail_other
 * or cancelled. */
struct httpcall_stats {
    uint64_t calls;   /* accepted */
    uint64_t refused; /* refused by httpcall_post (queue full) */
    uint64_t ok;
    uint64_t fail_http_5xx;
    uint64_t fail_timeout;
    uint64_t fail_connect;
    uint64_t fail_too_large;
    uint64_t fail_other;
    uint64_t cancelled;
    unsigned in_flight;
    unsigned queued;
};

/* Returned by httpcall_post. */
#define HTTPCALL_EFULL (-1)  /* max_queued calls already wait */
#define HTTPCALL_EINVAL (-2) /* NULL url or cb, or timeout_ms <= 0 */

/* Makes an instance on loop (which must outlive it). max_in_flight 0 is
 * taken as 1. Initialises libcurl globally on first use. Returns NULL if
 * libcurl cannot make a multi handle. */
struct httpcall *httpcall_new(struct ev_loop *loop, const struct httpcall_limits *lim);

/* Drops every call without its callback, closes every connection and frees
 * h. NULL is a no-op. Not from inside a callback of h. */
void httpcall_free(struct httpcall *h);

/* Starts (or queues) a POST of body[0, len) to url (http:// or https://
 * only; redirects are not followed, a 3xx is an answer like any other).
 * headers is NULL or a NULL-terminated list of "Name: value" lines; h copies
 * url, headers and body, so the caller may free them on return. timeout_ms
 * bounds the whole call from now, queueing included (a call that reaches a
 * slot with no time left ends as HTTPCALL_TIMEOUT). cb(result, ud) runs
 * exactly once, later, from the loop. Returns 0 if accepted, HTTPCALL_EFULL
 * or HTTPCALL_EINVAL if refused (then cb never runs). */
int httpcall_post(struct httpcall *h, const char *url, const char *const *headers, const void *body,
                  size_t len, long timeout_ms, httpcall_done_fn cb, void *ud);

/* Cancels every call of h whose ud is ud (the connection that asked went
 * away): their callbacks never run, and h keeps no pointer to ud. A running
 * call's connection is closed. Safe from inside a callback. Returns how
 * many calls it cancelled. */
unsigned httpcall_cancel(struct httpcall *h, void *ud);

/* The counters; the pointer stays valid until httpcall_free. */
const struct httpcall_stats *httpcall_stats(const struct httpcall *h);

/* A constant name for kind ("ok", "http_5xx", "timeout", "connect",
 * "too_large", "other"). */
const char *httpcall_kind_name(enum httpcall_kind kind);

#endif
