/* Backend hooks on an edge worker (docs/hooks.md): the application's HTTP
 * backend decides on connect, subscribe and publish, answers rpc, and hears
 * of disconnects. Calls go out through the worker's own libcurl multi
 * (common/httpcall.h) on its loop, signed (common/hooksign.h), at most
 * max_in_flight at a time; a breaker stops calling a backend that keeps
 * failing for breaker_cooldown, and each event's fail mode (open or
 * closed) decides what a failed call means. The configuration is the hub's
 * (common/hooks_conf.h, w->hooks); this file keeps only what is in flight.
 *
 * Every call's answer reaches its `done` exactly once: later from the loop,
 * or at once from hooks_call itself when no call can be made (breaker open,
 * too many calls waiting), so callers make the call their last step. */
#ifndef SPOKE_EDGE_HOOKS_H
#define SPOKE_EDGE_HOOKS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hooks_conf.h"
#include "edge/hook_stats.h"

struct worker;

/* What a hook call decided. */
struct hook_answer {
    int allow;          /* 1: go ahead; 0: refuse with code and reason */
    int code;           /* refused: the status the backend gave (or 503 when it failed) */
    const char *reason; /* refused: why, for the client */
    int failed;         /* no usable answer: allow/refuse came from the fail mode */
    json_t *doc;        /* the backend's answer object, if it sent one (borrowed) */
};
typedef void (*hook_done_fn)(struct worker *w, const struct hook_answer *a, void *ctx);

/* The configuration changed (w->hooks replaced; NULL: all off). */
void hooks_reconfigure(struct worker *w);
/* Ends every call: their `done` runs with failed set (worker stop). */
void hooks_free(struct worker *w);
/* 1 if event e's hook is on (for subscribe and publish: for this topic). */
int hooks_on(const struct worker *w, enum hook_event e);
int hooks_on_topic(const struct worker *w, enum hook_event e, const char *topic, size_t len);
/* The configured connect headers (handshake_keep_headers) and their count. */
unsigned hooks_connect_headers(const struct worker *w,
                               const char (**names)[HOOKS_HEADER_NAME_MAX + 1]);

/* Calls event e's hook. fields: the members of the request's JSON object
 * (without braces), to which the event, edge and worker are added. */
void hooks_call(struct worker *w, enum hook_event e, const struct buf *fields, hook_done_fn done,
                void *ctx);
/* Reports a connection that went (batched; dropped past a bounded queue). */
void hooks_disconnected(struct worker *w, const char *conn, const char *user, const char *why);
/* This worker's figures (zeros without hooks). */
void hooks_stats(const struct worker *w, struct hook_stats *out);
/* sum += s. */
void hooks_stats_add(struct hook_stats *sum, const struct hook_stats *s);
/* Appends the hook metric families for edge (each line after a newline). */
void hooks_metrics(const struct hook_stats *s, const char *edge, struct buf *out);

#endif
