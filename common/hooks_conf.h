/* Backend hooks configuration (docs/hooks.md): which events the edges
 * report to the application's HTTP backend, where, and what to do when it
 * fails. The hub reads it from its INI's [hooks] section (hooks_conf_set
 * per key), serves and takes it as JSON on /api/hooks, and pushes it to
 * every edge worker as a JSON document (LINK_HOOKS, hooks_conf_to_json with
 * the secret); the edge reads that document back (hooks_conf_from_json).
 *
 * The JSON document (every key optional but "version"; an event that is
 * absent is off):
 *   {"version": N,
 *    "url": "http://backend/hooks",     event URL = url + "/" + event name,
 *                                       unless the event gives its own "url"
 *    "secret": "...",                   HMAC key (common/hooksign.h); "" = unsigned
 *    "timeout_ms": 2000, "max_in_flight": 64,
 *    "breaker": {"failures": 5, "cooldown_ms": 5000},
 *    "forward_headers": ["Cookie", "User-Agent"],   upgrade headers sent on connect
 *    "events": {
 *      "connect":    {"fail": "closed"|"open", "url": "..."},
 *      "subscribe":  {"fail": ..., "url": ..., "topics": ["private.*", ...]},
 *      "publish":    {"fail": ..., "url": ..., "topics": [...]},
 *      "rpc":        {"fail": ..., "url": ...},
 *      "disconnect": {"url": ..., "batch": 100, "interval_ms": 1000, "retries": 3}}}
 * "topics" are patterns as in tokens (docs/protocol.md): a topic, or a
 * prefix and "*"; absent or empty means every topic. */
#ifndef SPOKE_HOOKS_CONF_H
#define SPOKE_HOOKS_CONF_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum hook_event {
    HOOK_CONNECT,
    HOOK_SUBSCRIBE,
    HOOK_PUBLISH,
    HOOK_RPC,
    HOOK_DISCONNECT,
    HOOK_EVENTS
};

/* An event's mode: off, or on and what a failed call (timeout, transport
 * error, HTTP 5xx, bad answer, breaker open) means: deny or allow. For
 * disconnect (a report after the fact) any mode but off means on. */
enum hook_mode { HOOK_OFF = 0, HOOK_FAIL_CLOSED = 1, HOOK_FAIL_OPEN = 2 };

#define HOOKS_URL_MAX 1024
#define HOOKS_SECRET_MAX 256
#define HOOKS_TOPICS_MAX 64
#define HOOKS_PATTERN_MAX 255
#define HOOKS_HEADERS_MAX 16
#define HOOKS_HEADER_NAME_MAX 64
#define HOOKS_DOC_MAX 65536 /* longest JSON document accepted */

struct hook_event_conf {
    uint8_t mode;                /* enum hook_mode */
    char url[HOOKS_URL_MAX + 1]; /* the full URL calls of this event go to ("" when off) */
    unsigned ntopics;            /* subscribe, publish: patterns; 0 = every topic */
    char topics[HOOKS_TOPICS_MAX][HOOKS_PATTERN_MAX + 1];
};

struct hooks_conf {
    uint64_t version; /* bumped by the hub on every change */
    struct hook_event_conf ev[HOOK_EVENTS];
    char base_url[HOOKS_URL_MAX + 1];
    char secret[HOOKS_SECRET_MAX + 1];
    size_t secret_len;
    long timeout_ms;          /* per call, 1..60000, default 2000 */
    long max_in_flight;       /* calls per edge worker, 1..4096, default 64 */
    long breaker_failures;    /* consecutive failures that open the breaker, 1..1000, default 5 */
    long breaker_cooldown_ms; /* how long it stays open, 100..600000, default 5000 */
    unsigned nheaders;
    char headers[HOOKS_HEADERS_MAX][HOOKS_HEADER_NAME_MAX + 1];
    long disconnect_batch;       /* events per call, 1..1000, default 100 */
    long disconnect_interval_ms; /* at most one batch per this, 10..60000, default 1000 */
    long disconnect_retries;     /* tries after the first, 0..10, default 3 */
};

/* Every event off, the defaults above, no URL, no secret. */
void hooks_conf_defaults(struct hooks_conf *c);

/* 1 if any event is on. */
int hooks_conf_any(const struct hooks_conf *c);

/* Applies one key of the hub's [hooks] section (docs/configuration.md):
 * url, secret, secret_file, timeout, max_in_flight, breaker_failures,
 * breaker_cooldown, forward_headers (space-separated), and per event E in
 * connect, subscribe, publish, rpc, disconnect: E = off|closed|open (on =
 * closed), E_url, and E_topics (space-separated patterns; subscribe and
 * publish). Also disconnect_batch, disconnect_interval, disconnect_retries.
 * Durations take the policy's form, seconds with fractions allowed ("2",
 * "0.5"; common/policy.h parses them); the JSON document holds them in ms.
 * Event URLs are derived from url at hooks_conf_finish. Returns 0, or -1
 * with err set. */
int hooks_conf_set(struct hooks_conf *c, const char *key, const char *value, char *err,
                   size_t errlen);
/* After the last hooks_conf_set: derives event URLs, checks that every
 * event that is on has an http:// or https:// URL. Returns 0 or -1. */
int hooks_conf_finish(struct hooks_conf *c, char *err, size_t errlen);

/* Appends the JSON document; with_secret 0 writes "secret": "(set)" or ""
 * (for GET /api/hooks). */
void hooks_conf_to_json(const struct hooks_conf *c, struct buf *out, int with_secret);
/* Reads a JSON document (at most HOOKS_DOC_MAX bytes, every value checked
 * against the ranges above; unknown keys are errors) into c, which is
 * reset first; URLs derived as hooks_conf_finish does. Returns 0, or -1
 * with err set and c left in defaults. */
int hooks_conf_from_json(struct hooks_conf *c, const char *doc, size_t len, char *err,
                         size_t errlen);

/* 1 if topic[0, len) is one the event's hook applies to (ntopics == 0, or
 * a pattern matches), else 0. */
int hooks_conf_topic_matches(const struct hook_event_conf *e, const char *topic, size_t len);

/* 1 if a and b configure the same hooks (every member but version), else
 * 0. Both must be finished (hooks_conf_finish or hooks_conf_from_json),
 * which gives every configuration one form: an event that is off keeps no
 * URL or topics, nor disconnect its batch, interval and retries. */
int hooks_conf_equal(const struct hooks_conf *a, const struct hooks_conf *b);

/* "connect", "subscribe", ... */
const char *hooks_event_name(enum hook_event e);

#endif
