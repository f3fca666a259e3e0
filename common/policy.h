/* The liveness and limits policy. The hub owns it (its [policy] section,
 * flags, per-edge [edge.NAME] overrides, SIGHUP and PUT /api/policy); every
 * edge worker receives its effective policy over its link and enforces it.
 *
 * Values are held in milliseconds, bytes or counts. Operators write them in
 * config units: seconds (fractions allowed) for the durations, plain
 * integers for the rest; the JSON API uses the same names and units. */
#ifndef SPOKE_POLICY_H
#define SPOKE_POLICY_H
#include <stddef.h>
#include <stdint.h>

struct policy {
    long idle_timeout_ms;       /* no client message this long: close 4000 (0 = off) */
    long ping_interval_ms;      /* silence before the edge pings (0 = off) */
    long pong_timeout_ms;       /* no frame this long after a ping: dead peer */
    long handshake_timeout_ms;  /* TCP connection to completed upgrade */
    long max_message_bytes;     /* larger client messages close with 1009 */
    long send_queue_bytes;      /* slow-consumer bound (1008) */
    long max_subscriptions;     /* per connection */
    long rate_limit;            /* client messages per second (0 = off) */
    long rate_burst;            /* messages allowed in a burst above the rate */
    long worker_max_topics;     /* distinct topics one edge worker holds subscriptions for */
    long send_timeout_ms;       /* a send with an id is answered 504 after this */
    long max_pending_sends;     /* sends with an id one connection may have unanswered */
    long publish_timeout_ms;    /* a publish the hub has not ordered in this time gets an error */
    long max_pending_publishes; /* publishes one edge worker holds unordered (link down) */
    long publish_buffer_bytes;  /* ... and their bytes */
    long deflate;               /* 1: negotiate permessage-deflate (RFC 7692) */
    long deflate_threshold;     /* messages shorter than this go uncompressed */
};

enum policy_unit {
    POLICY_SECONDS,
    POLICY_BYTES,
    POLICY_COUNT,
    POLICY_BOOL /* on|off, held as 1|0 */
};

struct policy_key {
    const char *name; /* config key, flag (with '-') and JSON name */
    enum policy_unit unit;
    size_t off;      /* of the long in struct policy */
    long min, max;   /* in stored units (ms, bytes, count) */
    const char *def; /* default in config units */
    const char *help;
};

extern const struct policy_key policy_keys[];
extern const size_t policy_nkeys;

/* Bit for key index i in a mask of keys. */
#define POLICY_BIT(i) (1u << (i))

void policy_defaults(struct policy *p);
const struct policy_key *policy_key_find(const char *name);
static inline long *policy_field(struct policy *p, const struct policy_key *k)
{
    return (long *)((char *)p + k->off);
}
static inline long policy_get(const struct policy *p, const struct policy_key *k)
{
    return *(const long *)((const char *)p + k->off);
}
/* Parses a value in config units ("30", "0.25" for seconds; integers else)
 * into *out in stored units. Returns 0, or -1 with a message in err. */
int policy_parse_value(const struct policy_key *k, const char *text, long *out, char *err,
                       size_t errlen);
/* Same for a number from JSON (seconds may be fractional). */
int policy_check_number(const struct policy_key *k, double v, long *out, char *err, size_t errlen);
/* Cross-key checks (e.g. a pong timeout when pings are on). 0 or -1 (err). */
int policy_validate(const struct policy *p, char *err, size_t errlen);
/* Formats a stored value in config units ("0.25", "30", "65536"). */
void policy_format_value(const struct policy_key *k, long v, char *out, size_t outlen);
int policy_equal(const struct policy *a, const struct policy *b);

#endif
