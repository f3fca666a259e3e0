/* The liveness and limits policy: keys, defaults, parsing and checks. */
#include "common/policy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY(n, u, f, mn, mx, d, h)                     \
    {                                                  \
        n, u, offsetof(struct policy, f), mn, mx, d, h \
    }
#define DAY_MS (24L * 3600 * 1000)

const struct policy_key policy_keys[] = {
    KEY("idle_timeout", POLICY_SECONDS, idle_timeout_ms, 0, DAY_MS, "0",
        "seconds without a client message before the edge closes with 4000 (0: off)"),
    KEY("ping_interval", POLICY_SECONDS, ping_interval_ms, 0, DAY_MS, "25",
        "seconds of silence from a client before the edge sends a ping (0: off)"),
    KEY("pong_timeout", POLICY_SECONDS, pong_timeout_ms, 1, DAY_MS, "10",
        "seconds to wait for any frame after a ping before dropping a dead peer"),
    KEY("handshake_timeout", POLICY_SECONDS, handshake_timeout_ms, 1, 3600L * 1000, "10",
        "seconds a new TCP connection has to complete the WebSocket upgrade"),
    KEY("max_message_bytes", POLICY_BYTES, max_message_bytes, 128, 4L << 20, "65536",
        "largest client message; larger ones close the connection with 1009"),
    KEY("send_queue_bytes", POLICY_BYTES, send_queue_bytes, 4096, 1L << 30, "1048576",
        "output waiting for one client before it is closed as a slow consumer (1008)"),
    KEY("max_subscriptions", POLICY_COUNT, max_subscriptions, 1, 1L << 20, "1000",
        "topics one connection may subscribe to"),
    KEY("rate_limit", POLICY_COUNT, rate_limit, 0, 1L << 24, "0",
        "client messages per second per connection (0: off); excess gets error 429"),
    KEY("rate_burst", POLICY_COUNT, rate_burst, 1, 1L << 24, "100",
        "messages a connection may send at once above rate_limit"),
    KEY("worker_max_topics", POLICY_COUNT, worker_max_topics, 1, 1L << 24, "100000",
        "distinct topics one edge worker holds subscriptions for; a sub to one more gets 429"),
    KEY("send_timeout", POLICY_SECONDS, send_timeout_ms, 100, 3600L * 1000, "10",
        "seconds a send with an id waits for the target's edge before the sender gets 504"),
    KEY("max_pending_sends", POLICY_COUNT, max_pending_sends, 1, 255, "100",
        "sends with an id one connection may have waiting for an answer; more get 429"),
    KEY("publish_timeout", POLICY_SECONDS, publish_timeout_ms, 100, 3600L * 1000, "10",
        "seconds an edge keeps trying to have a publish ordered by the hub (link down: held, "
        "re-sent when it is back) before the publisher gets an error"),
    KEY("max_pending_publishes", POLICY_COUNT, max_pending_publishes, 1, 1L << 20, "10000",
        "publishes one edge worker holds that the hub has not yet ordered; more get 503"),
    KEY("publish_buffer_bytes", POLICY_BYTES, publish_buffer_bytes, 65536, 1L << 30, "8388608",
        "bytes of such publishes one edge worker holds; more get 503"),
    KEY("deflate", POLICY_BOOL, deflate, 0, 1, "on",
        "negotiate permessage-deflate (RFC 7692, no context takeover) when a client offers it"),
    KEY("deflate_threshold", POLICY_BYTES, deflate_threshold, 0, 1L << 30, "256",
        "messages to deflate clients shorter than this many bytes are sent uncompressed"),
};
const size_t policy_nkeys = sizeof policy_keys / sizeof policy_keys[0];

void policy_defaults(struct policy *p)
{
    char err[128];
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < policy_nkeys; i++)
        policy_parse_value(&policy_keys[i], policy_keys[i].def, policy_field(p, &policy_keys[i]),
                           err, sizeof err);
}

const struct policy_key *policy_key_find(const char *name)
{
    for (size_t i = 0; i < policy_nkeys; i++)
        if (strcmp(policy_keys[i].name, name) == 0)
            return &policy_keys[i];
    return NULL;
}

int policy_check_number(const struct policy_key *k, double v, long *out, char *err, size_t errlen)
{
    if (!isfinite(v) || v < 0) {
        snprintf(err, errlen, "%s: must be a non-negative number", k->name);
        return -1;
    }
    double stored = k->unit == POLICY_SECONDS ? v * 1000.0 : v;
    if (k->unit != POLICY_SECONDS && stored != floor(stored)) {
        snprintf(err, errlen, "%s: must be a whole number", k->name);
        return -1;
    }
    stored = floor(stored + 0.5);
    if (v > 0 && stored < 1)
        stored = 1; /* a positive duration never rounds to 0, which means "off" */
    if (stored < (double)k->min || stored > (double)k->max) {
        char lo[32], hi[32];
        policy_format_value(k, k->min, lo, sizeof lo);
        policy_format_value(k, k->max, hi, sizeof hi);
        snprintf(err, errlen, "%s: out of range [%s, %s]%s", k->name, lo, hi,
                 k->unit == POLICY_SECONDS ? " seconds" : "");
        return -1;
    }
    *out = (long)stored;
    return 0;
}

int policy_parse_value(const struct policy_key *k, const char *text, long *out, char *err,
                       size_t errlen)
{
    if (k->unit == POLICY_BOOL) {
        static const char *const yes[] = {"on", "true", "yes", "1"}, *const no[] = {"off", "false",
                                                                                    "no", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(text, yes[i]) == 0 || strcmp(text, no[i]) == 0) {
                *out = strcmp(text, yes[i]) == 0;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: '%s' is not on or off", k->name, text);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end) {
        snprintf(err, errlen, "%s: '%s' is not a number%s", k->name, text,
                 k->unit == POLICY_SECONDS ? " of seconds" : "");
        return -1;
    }
    return policy_check_number(k, v, out, err, errlen);
}

int policy_validate(const struct policy *p, char *err, size_t errlen)
{
    if (p->rate_limit && p->rate_burst < 1) {
        snprintf(err, errlen, "rate_burst must be at least 1 when rate_limit is on");
        return -1;
    }
    return 0;
}

void policy_format_value(const struct policy_key *k, long v, char *out, size_t outlen)
{
    if (k->unit == POLICY_SECONDS) {
        /* Whole milliseconds as seconds without trailing zeros: "0.25", "30". */
        int n = snprintf(out, outlen, "%ld.%03ld", v / 1000, v % 1000);
        while (n > 0 && (size_t)n < outlen && out[n - 1] == '0')
            out[--n] = '\0';
        if (n > 0 && (size_t)n < outlen && out[n - 1] == '.')
            out[--n] = '\0';
    } else if (k->unit == POLICY_BOOL) {
        snprintf(out, outlen, "%s", v ? "on" : "off");
    } else {
        snprintf(out, outlen, "%ld", v);
    }
}

int policy_equal(const struct policy *a, const struct policy *b)
{
    for (size_t i = 0; i < policy_nkeys; i++)
        if (policy_get(a, &policy_keys[i]) != policy_get(b, &policy_keys[i]))
            return 0;
    return 1;
}
