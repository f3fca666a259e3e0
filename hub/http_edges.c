/* The per-edge view: see http_edges.h. */
#include "hub/http_edges.h"

#include <stdio.h>
#include <string.h>

#include "common/connid.h"
#include "common/metrics.h"
#include "common/printable.h"
#include "common/xalloc.h"

/* JSON keys and metric names of the per-edge figures, in enum order. */
static const struct {
    const char *key, *metric, *type, *help;
} edge_counters[HTTP_EDGE_NCOUNTERS] = {
    [HTTP_EDGE_WORKERS] = {"workers", "spoke_edge_workers", "gauge", "Linked workers of the edge."},
    [HTTP_EDGE_CLIENTS] = {"clients", "spoke_edge_clients", "gauge",
                           "Client WebSocket connections."},
    [HTTP_EDGE_SUBSCRIPTIONS] = {"subscriptions", "spoke_edge_subscriptions", "gauge",
                                 "Client subscriptions."},
    [HTTP_EDGE_TOPICS] = {"topics", NULL, NULL, NULL},
    [HTTP_EDGE_MSGS_IN] = {"msgs_in", "spoke_edge_messages_in_total", "counter",
                           "Client messages received."},
    [HTTP_EDGE_MSGS_OUT] = {"msgs_out", "spoke_edge_messages_out_total", "counter",
                            "Messages sent to clients."},
    [HTTP_EDGE_BYTES_IN] = {"bytes_in", "spoke_edge_client_bytes_in_total", "counter",
                            "Bytes read from clients."},
    [HTTP_EDGE_BYTES_OUT] = {"bytes_out", "spoke_edge_client_bytes_out_total", "counter",
                             "Bytes written to clients."},
    [HTTP_EDGE_LINK_RAW_IN] = {"link_raw_in", "spoke_link_raw_bytes_in_total", "counter",
                               "Link bytes from the edge, decompressed."},
    [HTTP_EDGE_LINK_WIRE_IN] = {"link_wire_in", "spoke_link_wire_bytes_in_total", "counter",
                                "Link bytes from the edge, on the wire."},
    [HTTP_EDGE_LINK_RAW_OUT] = {"link_raw_out", "spoke_link_raw_bytes_out_total", "counter",
                                "Link bytes to the edge, before compression."},
    [HTTP_EDGE_LINK_WIRE_OUT] = {"link_wire_out", "spoke_link_wire_bytes_out_total", "counter",
                                 "Link bytes to the edge, on the wire."},
};
static const char *const close_reasons[HTTP_EDGE_NCLOSES] = {
    [HTTP_CLOSE_IDLE] = "idle",          [HTTP_CLOSE_DEAD] = "dead_peer",
    [HTTP_CLOSE_SLOW] = "slow_consumer", [HTTP_CLOSE_PROTOCOL] = "protocol",
    [HTTP_CLOSE_RATE] = "rate_limit",    [HTTP_CLOSE_OTHER] = "other",
};

_Static_assert(sizeof(json_int_t) == sizeof(int64_t), "json_int_t is 64 bits");

/* JSON integers are signed: an unsigned figure beyond INT64_MAX shows as it. */
static json_t *json_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

void http_edges_init(struct http_edges *es)
{
    memset(es, 0, sizeof *es);
    es->index = json_object();
}

void http_edge_deinit(struct http_edge *e)
{
    json_decref(e->addresses);
    json_decref(e->hubs);
    e->addresses = e->hubs = NULL;
}

void http_edges_deinit(struct http_edges *es)
{
    for (size_t k = 0; k < es->n; k++)
        http_edge_deinit(&es->v[k]);
    free(es->v);
    json_decref(es->index);
    memset(es, 0, sizeof *es);
}

/* The entry of edge `name`, made with the rest of its first part if new
 * (*made says which). */
static struct http_edge *entry(struct http_edges *es, const char *name, int *made)
{
    json_t *pos = json_object_get(es->index, name);
    *made = !pos;
    if (pos)
        return &es->v[json_integer_value(pos)];
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 8;
        es->v = xrealloc(es->v, es->cap * sizeof *es->v);
    }
    struct http_edge *e = memset(&es->v[es->n], 0, sizeof *es->v);
    json_object_set_new(es->index, name, json_integer((json_int_t)es->n));
    es->n++;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->addresses = json_array();
    return e;
}

void http_edges_add(struct http_edges *es, const struct edge_link_info *i)
{
    int made;
    struct http_edge *e = entry(es, i->edge, &made);
    if (made) {
        snprintf(e->region, sizeof e->region, "%s", i->region);
        snprintf(e->version, sizeof e->version, "%s", i->software);
        snprintf(e->public_url, sizeof e->public_url, "%s", i->public_url);
        e->tls = i->tls;
    }
    const struct link_stats *s = &i->stats;
    const uint64_t add[HTTP_EDGE_NCOUNTERS] = {
        [HTTP_EDGE_WORKERS] = 1,
        [HTTP_EDGE_CLIENTS] = s->clients,
        [HTTP_EDGE_SUBSCRIPTIONS] = s->subscriptions,
        [HTTP_EDGE_TOPICS] = s->topics,
        [HTTP_EDGE_MSGS_IN] = s->msgs_in,
        [HTTP_EDGE_MSGS_OUT] = s->msgs_out,
        [HTTP_EDGE_BYTES_IN] = s->bytes_in,
        [HTTP_EDGE_BYTES_OUT] = s->bytes_out,
        [HTTP_EDGE_LINK_RAW_IN] = i->raw_in,
        [HTTP_EDGE_LINK_WIRE_IN] = i->wire_in,
        [HTTP_EDGE_LINK_RAW_OUT] = i->raw_out,
        [HTTP_EDGE_LINK_WIRE_OUT] = i->wire_out,
    };
    for (size_t k = 0; k < HTTP_EDGE_NCOUNTERS; k++)
        e->counters[k] = http_add_sat(e->counters[k], add[k]);
    const uint64_t closes[HTTP_EDGE_NCLOSES] = {
        [HTTP_CLOSE_IDLE] = s->closed_idle, [HTTP_CLOSE_DEAD] = s->closed_dead,
        [HTTP_CLOSE_SLOW] = s->closed_slow, [HTTP_CLOSE_PROTOCOL] = s->closed_protocol,
        [HTTP_CLOSE_RATE] = s->closed_rate, [HTTP_CLOSE_OTHER] = s->closed_other,
    };
    for (size_t k = 0; k < HTTP_EDGE_NCLOSES; k++)
        e->closes[k] = http_add_sat(e->closes[k], closes[k]);
    json_array_append_new(e->addresses, json_string(i->addr));
    if (s->rtt_us / 1000.0 > e->rtt_ms)
        e->rtt_ms = s->rtt_us / 1000.0; /* the slowest worker's link */
    if (s->uptime_s > e->uptime_s)
        e->uptime_s = s->uptime_s;
    if (s->draining)
        e->draining = 1;
}

void http_edges_tag(struct http_edges *es, const char *hub)
{
    for (size_t n = 0; n < es->n; n++) {
        if (es->v[n].hubs)
            continue;
        es->v[n].hubs = json_array();
        json_array_append_new(es->v[n].hubs, json_string(hub));
    }
}

static int names(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i,
                       v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return 1;
    return 0;
}

void http_edges_merge(struct http_edges *es, const struct http_edge *part, const char *hub)
{
    int made;
    struct http_edge *e = entry(es, part->name, &made);
    if (made) {
        memcpy(e->region, part->region, sizeof e->region);
        memcpy(e->version, part->version, sizeof e->version);
        memcpy(e->public_url, part->public_url, sizeof e->public_url);
        e->tls = part->tls;
    }
    for (size_t k = 0; k < HTTP_EDGE_NCOUNTERS; k++)
        e->counters[k] = http_add_sat(e->counters[k], part->counters[k]);
    for (size_t k = 0; k < HTTP_EDGE_NCLOSES; k++)
        e->closes[k] = http_add_sat(e->closes[k], part->closes[k]);
    size_t i;
    json_t *a;
    json_array_foreach(part->addresses, i, a) json_array_append(e->addresses, a);
    if (part->rtt_ms > e->rtt_ms)
        e->rtt_ms = part->rtt_ms;
    if (part->uptime_s > e->uptime_s)
        e->uptime_s = part->uptime_s;
    if (part->draining)
        e->draining = 1;
    if (!e->hubs)
        e->hubs = json_array();
    if (!names(e->hubs, hub))
        json_array_append_new(e->hubs, json_string(hub));
}

/* A figure of another hub's entry: a non-negative JSON integer (absent: 0). */
static int figure(const json_t *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "%s: not a non-negative integer", key);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A string member of another hub's entry: printable ASCII, cut to fit. */
static void text(char *out, size_t cap, const json_t *s)
{
    printable_copy(out, cap, json_string_value(s));
}

int http_edge_from_json(const json_t *o, struct http_edge *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *name = json_object_get(o, "name");
    if (!json_is_object(o) || !json_is_string(name) ||
        !connid_name_is_valid(json_string_value(name), json_string_length(name))) {
        snprintf(err, errlen, "an entry without a valid edge name");
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", json_string_value(name));
    text(out->region, sizeof out->region, json_object_get(o, "region"));
    text(out->version, sizeof out->version, json_object_get(o, "version"));
    text(out->public_url, sizeof out->public_url, json_object_get(o, "public_url"));
    out->tls = json_is_true(json_object_get(o, "tls"));
    const json_t *state = json_object_get(o, "state");
    out->draining = json_is_string(state) && strcmp(json_string_value(state), "draining") == 0;
    for (size_t k = 0; k < HTTP_EDGE_NCOUNTERS; k++)
        if (figure(o, edge_counters[k].key, &out->counters[k], err, errlen) < 0)
            return -1;
    const json_t *closes = json_object_get(o, "closes");
    for (size_t k = 0; k < HTTP_EDGE_NCLOSES; k++)
        if (figure(json_is_object(closes) ? closes : NULL, close_reasons[k], &out->closes[k], err,
                   errlen) < 0)
            return -1;
    if (figure(o, "uptime_s", &out->uptime_s, err, errlen) < 0)
        return -1;
    const json_t *rtt = json_object_get(o, "rtt_ms");
    double ms = json_is_number(rtt) ? json_number_value(rtt) : 0;
    out->rtt_ms = ms > 0 && ms < 1e9 ? ms : 0;
    const json_t *addrs = json_object_get(o, "addresses");
    if (addrs && (!json_is_array(addrs) || json_array_size(addrs) > HTTP_EDGE_MAX_ADDRESSES)) {
        snprintf(err, errlen, "addresses: not an array of at most %d", HTTP_EDGE_MAX_ADDRESSES);
        return -1;
    }
    out->addresses = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a)
    {
        char addr[64];
        text(addr, sizeof addr, a);
        json_array_append_new(out->addresses, json_string(addr));
    }
    return 0;
}

/* Raw over wire link bytes, both directions. */
static double edge_ratio(const struct http_edge *e)
{
    uint64_t raw =
        http_add_sat(e->counters[HTTP_EDGE_LINK_RAW_IN], e->counters[HTTP_EDGE_LINK_RAW_OUT]);
    uint64_t wire =
        http_add_sat(e->counters[HTTP_EDGE_LINK_WIRE_IN], e->counters[HTTP_EDGE_LINK_WIRE_OUT]);
    return wire ? (double)raw / (double)wire : 0.0;
}

json_t *http_edges_json(const struct http_edges *es)
{
    json_t *arr = json_array();
    for (size_t n = 0; n < es->n; n++) {
        const struct http_edge *e = &es->v[n];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(e->name));
        json_object_set_new(o, "region", json_string(e->region));
        json_object_set_new(o, "version", json_string(e->version));
        json_object_set_new(o, "state", json_string(e->draining ? "draining" : "up"));
        for (size_t k = 0; k < HTTP_EDGE_NCOUNTERS; k++)
            json_object_set_new(o, edge_counters[k].key, json_u64(e->counters[k]));
        json_t *closes = json_object();
        for (size_t k = 0; k < HTTP_EDGE_NCLOSES; k++)
            json_object_set_new(closes, close_reasons[k], json_u64(e->closes[k]));
        json_object_set_new(o, "closes", closes);
        json_object_set_new(o, "uptime_s", json_u64(e->uptime_s));
        json_object_set_new(o, "public_url", json_string(e->public_url));
        json_object_set_new(o, "tls", json_boolean(e->tls));
        json_object_set(o, "addresses", e->addresses);
        json_object_set_new(o, "rtt_ms", json_real(e->rtt_ms));
        json_object_set_new(o, "link_ratio", json_real(edge_ratio(e)));
        if (e->hubs)
            json_object_set(o, "hubs", e->hubs);
        json_array_append_new(arr, o);
    }
    return arr;
}

void http_edges_metrics(const struct http_edges *es, struct buf *b)
{
    for (size_t k = 0; k < HTTP_EDGE_NCOUNTERS; k++) {
        if (!edge_counters[k].metric)
            continue;
        metrics_family(b, edge_counters[k].metric, edge_counters[k].type, edge_counters[k].help);
        for (size_t n = 0; n < es->n; n++)
            buf_printf(b, "%s{edge=\"%s\"} %llu\n", edge_counters[k].metric, es->v[n].name,
                       (unsigned long long)es->v[n].counters[k]);
    }
    metrics_family(b, "spoke_link_compression_ratio", "gauge", "Raw over wire link bytes.");
    for (size_t n = 0; n < es->n; n++)
        buf_printf(b, "spoke_link_compression_ratio{edge=\"%s\"} %.3f\n", es->v[n].name,
                   edge_ratio(&es->v[n]));
    metrics_family(b, "spoke_edge_closes_total", "counter",
                   "Client connections closed by the edge, by reason.");
    for (size_t n = 0; n < es->n; n++)
        for (size_t k = 0; k < HTTP_EDGE_NCLOSES; k++)
            buf_printf(b, "spoke_edge_closes_total{edge=\"%s\",reason=\"%s\"} %llu\n",
                       es->v[n].name, close_reasons[k], (unsigned long long)es->v[n].closes[k]);
}
