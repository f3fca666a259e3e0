/* The hub's admin HTTP API: links, edges, topics, metrics, policy, publish,
 * disconnect and drain (docs/configuration.md, "Hub HTTP endpoints"), served
 * by common/httpd in the hub's loop. */
#include "hub/http.h"
#include "hub/http_cluster.h"
#include "hub/http_edges.h"
#include "hub/http_www.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/connid.h"
#include "common/enc.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "hub/cluster.h"
#include "hub/directs.h"
#include "hub/edge_link.h"
#include "hub/engine.h"
#include "hub/hooks.h"
#include "hub/interest.h"
#include "hub/policy.h"

/* The hub behind a request (common/httpd passes it as the server's ud). */
static struct hub *hub_of(const struct httpd_conn *c)
{
    return c->srv->ud;
}

static void add_link(const struct edge_link_info *i, void *ud)
{
    json_t *o = json_object();
    char boot[17];
    snprintf(boot, sizeof boot, "%016llx", (unsigned long long)i->boot);
    json_object_set_new(o, "id", json_integer((json_int_t)i->id));
    json_object_set_new(o, "edge", json_string(i->edge));
    json_object_set_new(o, "region", json_string(i->region));
    json_object_set_new(o, "worker", json_integer(i->worker));
    json_object_set_new(o, "software", json_string(i->software));
    json_object_set_new(o, "boot", json_string(boot));
    json_object_set_new(o, "addr", json_string(i->addr));
    json_object_set_new(o, "tls", json_boolean(i->tls));
    json_object_set_new(o, "peer_cert", json_string(i->peer_cert));
    json_object_set_new(o, "topics", json_integer((json_int_t)i->topics));
    json_object_set_new(o, "publishes_in", json_integer((json_int_t)i->publishes_in));
    json_object_set_new(o, "messages_out", json_integer((json_int_t)i->messages_out));
    json_object_set_new(o, "directs_in", json_integer((json_int_t)i->directs_in));
    json_object_set_new(o, "directs_out", json_integer((json_int_t)i->directs_out));
    json_object_set_new(o, "raw_in", json_integer((json_int_t)i->raw_in));
    json_object_set_new(o, "wire_in", json_integer((json_int_t)i->wire_in));
    json_object_set_new(o, "raw_out", json_integer((json_int_t)i->raw_out));
    json_object_set_new(o, "wire_out", json_integer((json_int_t)i->wire_out));
    json_array_append_new(ud, o);
}

/* GET /api/policy: the base policy; ?edge=NAME: that edge's effective one. */
static void http_policy_get(struct httpd_conn *c, const char *query, size_t qlen)
{
    struct hub *h = hub_of(c);
    struct policy p = h->policy;
    if (qlen > 6 && memcmp(query, "?edge=", 6) == 0) {
        const char *name = query + 6;
        size_t n = qlen - 6;
        if (!connid_name_is_valid(name, n)) {
            httpd_error(c, 400, "invalid edge name");
            return;
        }
        hub_policy_effective(h, name, n, &p);
    }
    httpd_respond_json(c, 200, policy_to_json(&p));
}

/* PUT /api/policy: a JSON object of policy keys; answers the new policy. */
static void http_policy_put(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    char err[256];
    json_t *body = httpd_json_body(c);
    if (!body)
        return;
    if (h->cluster) {
        /* The cluster's policy lives in Redis: answered once it is there. */
        http_cluster_policy_put(c, body);
        json_decref(body);
        return;
    }
    int rc = hub_policy_update(h, body, err, sizeof err);
    json_decref(body);
    if (rc < 0) {
        httpd_error(c, 400, err);
        return;
    }
    if (rc > 0)
        edge_link_push_policy(h);
    httpd_respond_json(c, 200, policy_to_json(&h->policy));
}

/* GET /api/hooks: the hooks in force, the secret hidden. */
static void http_hooks_get(struct httpd_conn *c)
{
    char *text = hub_hooks_public_json(hub_of(c));
    httpd_respond(c, 200, NULL, text);
    free(text);
}

/* PUT /api/hooks: a whole hooks document (hub/hooks.h); answers the hooks
 * now in force. This hub's only, in a cluster too. */
static void http_hooks_put(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    char err[256];
    json_t *body = httpd_json_body(c);
    if (!body)
        return;
    int rc = hub_hooks_update(h, body, err, sizeof err);
    json_decref(body);
    if (rc < 0) {
        httpd_error(c, 400, err);
        return;
    }
    if (rc > 0)
        edge_link_push_hooks(h);
    http_hooks_get(c);
}

/* A request held while the engine answers (httpd_hold), with the topic it
 * names (if any) for the answer. */
struct held_request {
    struct hub *h;
    uint64_t ticket;
    uint32_t len;
    char topic[];
};

static struct held_request *hold_request(struct httpd_conn *c, struct link_str topic)
{
    struct held_request *q = xmalloc(sizeof *q + topic.len);
    q->h = hub_of(c);
    q->ticket = httpd_hold(c);
    q->len = topic.len;
    if (topic.len)
        memcpy(q->topic, topic.ptr, topic.len);
    return q;
}

/* The held connection, if it still waits (and the engine is not going). */
static struct httpd_conn *held_conn(struct held_request *q, int status)
{
    return status == ENGINE_GONE ? NULL : httpd_held(q->h->http, q->ticket);
}

static void on_api_published(void *ctx, int status, const struct engine_pos *pos)
{
    struct held_request *q = ctx;
    struct httpd_conn *c = held_conn(q, status);
    if (c && status == ENGINE_OK) {
        json_t *j = json_object();
        json_object_set_new(j, "topic", json_stringn(q->topic, q->len));
        json_object_set_new(j, "seq", json_integer((json_int_t)pos->seq));
        json_object_set_new(j, "epoch", json_string(pos->epoch));
        httpd_respond_json(c, 200, j);
    } else if (c && status == ENGINE_FULL) {
        char why[96];
        snprintf(why, sizeof why, "the topic is new and the hub holds max_topics (%ld) topics",
                 q->h->cfg.max_topics);
        httpd_error(c, 429, why);
    } else if (c && status == ENGINE_UNKNOWN) {
        httpd_error(c, 504, "the engine's store went away with it: it may have been published");
    } else if (c) {
        httpd_error(c, 503, "the engine is unavailable: not published");
    }
    free(q);
}

/* POST /api/publish {"topic":T,"data":D}: the app backend's way to publish.
 * The message is ordered like any other (its topic's state is made if need
 * be) and reaches every subscriber, its `from` being "hub:api". Answers
 * {"topic":T,"seq":N,"epoch":E} once the engine has ordered it; 429 when the topic is
 * new and the hub holds max_topics. */
static void http_publish(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    json_t *body = httpd_json_body(c);
    if (!body)
        return;
    json_t *topic = json_object_get(body, "topic");
    json_t *data = json_object_get(body, "data");
    const char *t = json_is_string(topic) ? json_string_value(topic) : NULL;
    if (!t || !topic_is_valid(t, json_string_length(topic))) {
        json_decref(body);
        httpd_error(c, 400, "missing or invalid topic (1..255 bytes of A-Za-z0-9._:/-)");
        return;
    }
    if (!data) {
        json_decref(body);
        httpd_error(c, 400, "missing data");
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t tlen = text ? strlen(text) : 0;
    if (!text || tlen > (size_t)h->policy.max_message_bytes) {
        free(text);
        json_decref(body);
        httpd_error(c, 413 /* the same bound clients have */, "data larger than max_message_bytes");
        return;
    }
    struct engine_pub p = {.topic = {t, (uint32_t)json_string_length(topic)},
                           .from = link_str_c("hub:api"),
                           .user = link_str_c(""),
                           .data = {text, (uint32_t)tlen},
                           .enc = ENC_JSON};
    /* The engine copies what it keeps: the body can go once it returns. */
    edge_link_publish(h, &p, on_api_published, hold_request(c, p.topic));
    free(text);
    json_decref(body);
}

/* ---- edges, topics, metrics ---------------------------------------------- */

static void add_edge_link(const struct edge_link_info *i, void *ud)
{
    http_edges_add(ud, i);
}

/* The per-edge view: one entry per edge name, its workers' figures summed;
 * in a cluster, with the other hubs' workers, each entry naming its hubs. */
static json_t *edges_json(struct hub *h)
{
    struct http_edges es;
    http_edges_init(&es);
    edge_link_foreach_open(h, add_edge_link, &es);
    if (h->cluster)
        cluster_merge_edges(h->cluster, &es);
    json_t *arr = http_edges_json(&es);
    http_edges_deinit(&es);
    return arr;
}

#define TOPICS_LISTED_MAX 10000

/* GET /api/topics, once the engine lists its topic states: each with its
 * position, history and the links of this hub interested in it. */
static void on_topics_listed(void *ctx, struct engine_list *l)
{
    struct held_request *q = ctx;
    struct httpd_conn *c = held_conn(q, l->status);
    if (c && l->status != ENGINE_OK) {
        httpd_error(c, 503, "the engine is unavailable");
    } else if (c) {
        json_t *arr = json_array();
        struct engine_topic t;
        while (l->next(l, &t)) {
            struct interest_topic *it = interest_find(q->h->interest, t.topic);
            json_t *o = json_object();
            json_object_set_new(o, "topic", json_stringn(t.topic.ptr, t.topic.len));
            json_object_set_new(o, "epoch", json_string(t.pos.epoch));
            json_object_set_new(o, "seq", json_integer((json_int_t)t.pos.seq));
            json_object_set_new(o, "links", json_integer(it ? it->n : 0));
            json_object_set_new(o, "rate", json_real(t.rate));
            json_object_set_new(o, "history_messages",
                                json_integer((json_int_t)t.history_messages));
            json_object_set_new(o, "history_bytes", json_integer((json_int_t)t.history_bytes));
            json_object_set_new(o, "history_first_seq", json_integer((json_int_t)t.first_seq));
            json_array_append_new(arr, o);
        }
        json_t *j = json_object();
        json_object_set_new(j, "total", json_integer((json_int_t)l->total));
        json_object_set_new(j, "topics", arr);
        httpd_respond_json(c, 200, j);
    }
    free(q);
}

/* The history's figures: the engine's store, and this hub's reads and
 * replays (docs/operations.md). */
static void http_history_metrics(struct hub *h, const struct engine_stats *es, struct buf *b)
{
    metrics_family(b, "spoke_hub_history_messages", "gauge", "Messages the history holds.");
    buf_printf(b, "spoke_hub_history_messages %llu\n", (unsigned long long)es->history_messages);
    metrics_family(b, "spoke_hub_history_bytes", "gauge",
                   "Memory the history's messages hold, counted against the budget.");
    buf_printf(b, "spoke_hub_history_bytes %llu\n", (unsigned long long)es->history_bytes);
    metrics_family(b, "spoke_hub_history_budget_bytes", "gauge",
                   "The history's byte budget (history_bytes).");
    buf_printf(b, "spoke_hub_history_budget_bytes %llu\n", (unsigned long long)es->history_budget);
    metrics_family(b, "spoke_hub_history_evictions_total", "counter",
                   "Messages that left the history, by reason: the topic's count or age bound, "
                   "or the hub-wide budget.");
    buf_printf(b, "spoke_hub_history_evictions_total{reason=\"count\"} %llu\n",
               (unsigned long long)es->evicted_count);
    buf_printf(b, "spoke_hub_history_evictions_total{reason=\"age\"} %llu\n",
               (unsigned long long)es->evicted_age);
    buf_printf(b, "spoke_hub_history_evictions_total{reason=\"budget\"} %llu\n",
               (unsigned long long)es->evicted_budget);
    metrics_family(b, "spoke_hub_history_reads_total", "counter",
                   "Reads of the history answered, by kind: HISTORY_READ, or an INTEREST_ADD "
                   "answered through a read (a position to resume from, or a topic new to "
                   "the hub).");
    buf_printf(b, "spoke_hub_history_reads_total{kind=\"history_read\"} %llu\n",
               (unsigned long long)h->stats.history_reads);
    buf_printf(b, "spoke_hub_history_reads_total{kind=\"interest\"} %llu\n",
               (unsigned long long)h->stats.resumes);
    metrics_family(b, "spoke_hub_history_reads_refused_total", "counter",
                   "HISTORY_READs refused: the link had link_max_history_reads waiting.");
    buf_printf(b, "spoke_hub_history_reads_refused_total %llu\n",
               (unsigned long long)h->stats.history_reads_refused);
    metrics_family(b, "spoke_hub_messages_replayed_total", "counter",
                   "MESSAGEs sent from the history by replays.");
    buf_printf(b, "spoke_hub_messages_replayed_total %llu\n",
               (unsigned long long)h->stats.replayed);
    metrics_family(b, "spoke_hub_publishes_retransmitted_total", "counter",
                   "PUBLISHes an edge sent again that the hub had ordered already (not ordered "
                   "again), by outcome: answered with their first result, or forgotten (no "
                   "answer: older than the results kept).");
    buf_printf(b, "spoke_hub_publishes_retransmitted_total{outcome=\"answered\"} %llu\n",
               (unsigned long long)h->stats.retransmits);
    buf_printf(b, "spoke_hub_publishes_retransmitted_total{outcome=\"forgotten\"} %llu\n",
               (unsigned long long)h->stats.retransmits_forgotten);
    metrics_family(b, "spoke_hub_topic_resets_total", "counter",
                   "Topics whose numbering the engine moved under this hub's interest (its store "
                   "lost state): their links got TOPIC_RESET, their subscribers a reset notice.");
    buf_printf(b, "spoke_hub_topic_resets_total %llu\n", (unsigned long long)h->stats.topic_resets);
}

/* GET /metrics in the Prometheus text format (version 0.0.4). */
static void http_metrics(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    struct buf b = BUF_INIT;
    metrics_family(&b, "spoke_hub_links", "gauge", "Edge worker links past HELLO.");
    buf_printf(&b, "spoke_hub_links %zu\n", h->nlinks_open);
    struct engine_stats st;
    engine_stats(h->engine, &st);
    metrics_family(&b, "spoke_hub_topics", "gauge",
                   "Topic states the engine holds (with interest or history).");
    buf_printf(&b, "spoke_hub_topics %llu\n", (unsigned long long)st.topics);
    metrics_family(&b, "spoke_hub_topics_interested", "gauge",
                   "Topics at least one link of this hub is interested in.");
    buf_printf(&b, "spoke_hub_topics_interested %zu\n", interest_topic_count(h->interest));
    metrics_family(&b, "spoke_hub_publishes_total", "counter", "Publishes received from edges.");
    buf_printf(&b, "spoke_hub_publishes_total %llu\n", (unsigned long long)h->stats.publishes);
    metrics_family(&b, "spoke_hub_messages_out_total", "counter", "Message copies sent to links.");
    buf_printf(&b, "spoke_hub_messages_out_total %llu\n",
               (unsigned long long)h->stats.messages_out);
    metrics_family(&b, "spoke_hub_directs_total", "counter", "Direct messages received.");
    buf_printf(&b, "spoke_hub_directs_total %llu\n", (unsigned long long)h->stats.directs);
    metrics_family(&b, "spoke_hub_route_seconds", "histogram",
                   "Time from a publish decoded to its messages queued on every interested link "
                   "(one publish in 16 timed).");
    uint64_t cum = 0;
    for (size_t k = 0; k <= HUB_ROUTE_BUCKETS; k++) {
        cum += h->stats.route_hist[k];
        if (k < HUB_ROUTE_BUCKETS)
            buf_printf(&b, "spoke_hub_route_seconds_bucket{le=\"%g\"} %llu\n",
                       hub_route_bounds_us[k] / 1e6, (unsigned long long)cum);
        else
            buf_printf(&b, "spoke_hub_route_seconds_bucket{le=\"+Inf\"} %llu\n",
                       (unsigned long long)cum);
    }
    buf_printf(&b, "spoke_hub_route_seconds_sum %.9f\nspoke_hub_route_seconds_count %llu\n",
               h->stats.route_sum_us / 1e6, (unsigned long long)cum);

    metrics_family(&b, "spoke_hub_max_topics", "gauge", "The hub-wide topic limit (max_topics).");
    buf_printf(&b, "spoke_hub_max_topics %ld\n", h->cfg.max_topics);
    metrics_family(&b, "spoke_hub_publishes_refused_total", "counter",
                   "Publishes refused: their topic was new and the hub held max_topics.");
    buf_printf(&b, "spoke_hub_publishes_refused_total %llu\n",
               (unsigned long long)st.publishes_refused);
    http_history_metrics(h, &st, &b);
    metrics_family(&b, "spoke_hub_interest_refused_total", "counter",
                   "Interest in a topic refused (the edge answers the sub with 429), by limit.");
    buf_printf(&b, "spoke_hub_interest_refused_total{limit=\"link_max_topics\"} %llu\n",
               (unsigned long long)h->stats.interest_refused_link);
    buf_printf(&b, "spoke_hub_interest_refused_total{limit=\"max_topics\"} %llu\n",
               (unsigned long long)h->stats.interest_refused_hub);
    metrics_family(&b, "spoke_hub_links_awaiting_hello", "gauge",
                   "Accepted links that have not sent hello.");
    buf_printf(&b, "spoke_hub_links_awaiting_hello %zu\n", h->nlinks_pending);
    metrics_family(
        &b, "spoke_hub_links_dropped_total", "counter",
        "Links dropped before or instead of serving, by reason: no hello in time, evicted "
        "by a newer link waiting for hello, or a sender that is not the link's own.");
    buf_printf(&b, "spoke_hub_links_dropped_total{reason=\"hello_timeout\"} %llu\n",
               (unsigned long long)h->stats.links_hello_timeout);
    buf_printf(&b, "spoke_hub_links_dropped_total{reason=\"evicted\"} %llu\n",
               (unsigned long long)h->stats.links_evicted);
    buf_printf(&b, "spoke_hub_links_dropped_total{reason=\"forged_sender\"} %llu\n",
               (unsigned long long)h->stats.links_refused_hostile);
    metrics_family(&b, "spoke_hub_directs_awaiting_result", "gauge",
                   "Directs with an id forwarded and not yet answered.");
    buf_printf(&b, "spoke_hub_directs_awaiting_result %zu\n", directs_count(h->directs));
    metrics_family(&b, "spoke_hub_direct_results_dropped_total", "counter",
                   "Direct results that answered nothing the hub forwarded to that link: dropped.");
    buf_printf(&b, "spoke_hub_direct_results_dropped_total %llu\n",
               (unsigned long long)h->stats.results_unsolicited);

    char why[300];
    metrics_family(&b, "spoke_hub_engine_ready", "gauge",
                   "1 while the engine's store can be reached (what /readyz answers).");
    buf_printf(&b, "spoke_hub_engine_ready %d\n", engine_ready(h->engine, why, sizeof why));
    engine_metrics(h->engine, &b);
    if (h->cluster)
        cluster_metrics(h->cluster, &b);

    struct http_edges es;
    http_edges_init(&es);
    edge_link_foreach_open(h, add_edge_link, &es);
    http_edges_metrics(&es, &b);
    http_edges_deinit(&es);
    httpd_metrics(c->srv, &b, "spoke_hub_http", "");
    if (buf_readable(&b) && b.data[b.len - 1] == '\n')
        b.len--; /* the response adds the final newline */
    buf_append_u8(&b, 0);
    httpd_respond_type(c, 200, "text/plain; version=0.0.4", NULL, (const char *)buf_head(&b));
    buf_deinit(&b);
}

/* POST /api/disconnect {"conn":C,"code":N,"reason":R}: closes one client
 * connection wherever it is. 202 once the request is on its way to the edge
 * worker holding it (that worker ignores it if the connection is gone by
 * then); 404 if no linked edge worker can hold that id; 400 if C is not a
 * connection id at all (common/connid.h), saying which part is wrong. */
static void http_disconnect(struct httpd_conn *c)
{
    struct hub *h = hub_of(c);
    json_t *body = httpd_json_body(c);
    if (!body)
        return;
    json_t *conn = json_object_get(body, "conn");
    json_t *code = json_object_get(body, "code");
    json_t *reason = json_object_get(body, "reason");
    json_int_t v = code ? (json_is_integer(code) ? json_integer_value(code) : -1) : 4001;
    const char *r = reason ? json_string_value(reason) : "disconnected by the operator";
    const char *why = NULL;
    struct connid id;
    int idrc;
    if (!json_is_string(conn))
        why = "missing or invalid conn";
    else if ((idrc = connid_parse(json_string_value(conn), json_string_length(conn), &id)) < 0)
        why = connid_strerror(idrc);
    else if (!(v == 1000 || v == 1001 || v == 1008 || (v >= 3000 && v <= 4999)))
        why = "code must be 1000, 1001, 1008 or 3000..4999";
    else if (!r || strlen(r) > 123)
        why = "reason must be a string of at most 123 bytes";
    if (why) {
        json_decref(body);
        httpd_error(c, 400, why);
        return;
    }
    struct link_str cs = {json_string_value(conn), (uint32_t)json_string_length(conn)};
    if (edge_link_kick(h, &id, (uint32_t)v, link_str_c(r)) < 0) {
        if (h->cluster)
            http_cluster_kick(c, &id, (uint32_t)v, r); /* through the hub that holds it */
        else
            httpd_error(c, 404, "unknown connection (no linked edge worker holds it)");
        json_decref(body);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "conn", json_stringn(cs.ptr, cs.len));
    json_object_set_new(j, "status", json_string("sent"));
    json_decref(body);
    httpd_respond_json(c, 202, j);
}

/* POST /api/edges/NAME/drain [{"period": seconds}]: the edge stops accepting,
 * closes its clients with 1001 over the period, and exits. */
static void http_drain(struct httpd_conn *c, const char *name, size_t nlen)
{
    struct hub *h = hub_of(c);
    uint64_t period_ms = 0;
    if (!connid_name_is_valid(name, nlen)) {
        httpd_error(c, 400, "invalid edge name");
        return;
    }
    if (c->req.body_len) {
        json_t *body = httpd_json_body(c);
        if (!body)
            return;
        json_t *p = json_object_get(body, "period");
        if (p && (!json_is_number(p) || json_number_value(p) < 0 || json_number_value(p) > 3600)) {
            json_decref(body);
            httpd_error(c, 400, "period must be a number of seconds from 0 to 3600");
            return;
        }
        if (p)
            period_ms = (uint64_t)(json_number_value(p) * 1000.0 + 0.5);
        json_decref(body);
    }
    int n = edge_link_drain(h, name, nlen, period_ms);
    if (h->cluster) {
        http_cluster_drain(c, name, nlen, period_ms, n); /* and the other hubs' workers */
        return;
    }
    if (!n) {
        httpd_error(c, 404, "unknown edge (no linked worker has that name)");
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "edge", json_stringn(name, nlen));
    json_object_set_new(j, "workers", json_integer(n));
    json_object_set_new(j, "status", json_string("draining"));
    httpd_respond_json(c, 202, j);
}

/* Answers one request: the admin token for /api/, then the handler for its
 * path and method (404 for an unknown path, 405 for a wrong method). */
static void serve_request(struct httpd_conn *c, void *ud)
{
    struct hub *h = hub_of(c);
    const char *path = c->req.buf + c->req.url_off;
    size_t len = 0;
    while (len < c->req.url_len && path[len] != '?' && path[len] != '#')
        len++;
    int get = c->req.parser.method == HTTP_GET;

    /* Everything under /api/ is for administrators: with admin_token set it
     * takes "Authorization: Bearer TOKEN", compared in constant time. */
    if (len >= 5 && memcmp(path, "/api/", 5) == 0 && h->cfg.admin_token && h->cfg.admin_token[0]) {
        const char *tok = h->cfg.admin_token;
        size_t tlen = strlen(tok);
        const struct httpreq_hdr *auth = &c->req.hdr[HTTPREQ_H_AUTHORIZATION];
        const char *v = c->req.buf + auth->off;
        int ok = auth->seen == 1 && auth->len == 7 + tlen && strncasecmp(v, "Bearer ", 7) == 0 &&
                 CRYPTO_memcmp(v + 7, tok, tlen) == 0;
        if (!ok) {
            httpd_respond(c, 401, "WWW-Authenticate: Bearer\r\n",
                          auth->seen ? "{\"error\":\"invalid admin token\"}"
                                     : "{\"error\":\"admin token required\"}");
            return;
        }
    }

    /* The dashboard's files and /edges.json: public, no token. */
    if (http_www_serve(h, c, path, len))
        return;
    if (httpd_path_is(path, len, "/readyz")) {
        /* Ready to serve: the engine's store can be reached (always, for
         * the memory engine). A balancer or an orchestrator keeps edges
         * off a hub that is not. */
        if (!get)
            goto not_allowed;
        char why[900], cwhy[600];
        int ready = engine_ready(h->engine, why, sizeof why);
        /* In a cluster, also taking part in it (the reason then says what
         * is degraded). */
        if (h->cluster && !cluster_ready(h->cluster, cwhy, sizeof cwhy)) {
            size_t n = ready ? 0 : strlen(why);
            snprintf(why + n, sizeof why - n, "%s%s", n ? "; " : "", cwhy);
            ready = 0;
        }
        json_t *j = json_object();
        json_object_set_new(j, "status", json_string(ready ? "ok" : "unavailable"));
        json_object_set_new(j, "engine", json_string(h->cfg.engine));
        if (!ready)
            json_object_set_new(j, "reason", json_string(why));
        if (h->cluster)
            json_object_set_new(j, "cluster", cluster_view_json(h->cluster));
        httpd_respond_json(c, ready ? 200 : 503, j);
        return;
    }
    if (httpd_path_is(path, len, "/healthz")) {
        if (!get)
            goto not_allowed;
        json_t *j = json_object();
        json_object_set_new(j, "status", json_string("ok"));
        json_object_set_new(j, "links", json_integer((json_int_t)h->nlinks_open));
        httpd_respond_json(c, 200, j);
        return;
    }
    if (httpd_path_is(path, len, "/api/hubs")) {
        if (!get)
            goto not_allowed;
        http_cluster_hubs(c);
        return;
    }
    if (httpd_path_is(path, len, "/api/links")) {
        if (!get)
            goto not_allowed;
        json_t *arr = json_array();
        edge_link_foreach_open(h, add_link, arr);
        json_t *j = json_object();
        json_object_set_new(j, "links", arr);
        httpd_respond_json(c, 200, j);
        return;
    }
    if (httpd_path_is(path, len, "/api/edges") || httpd_path_is(path, len, "/api/topics") ||
        httpd_path_is(path, len, "/metrics")) {
        if (!get)
            goto not_allowed;
        if (httpd_path_is(path, len, "/metrics")) {
            http_metrics(c);
            return;
        }
        json_t *j = json_object();
        if (httpd_path_is(path, len, "/api/edges")) {
            json_object_set_new(j, "edges", edges_json(h));
            if (h->cluster) /* how complete and fresh the other hubs' part is */
                json_object_set_new(j, "cluster", cluster_view_json(h->cluster));
        } else {
            json_decref(j);
            engine_topics(h->engine, TOPICS_LISTED_MAX, on_topics_listed,
                          hold_request(c, link_str_c("")));
            return;
        }
        httpd_respond_json(c, 200, j);
        return;
    }
    if (len > 17 && memcmp(path, "/api/edges/", 11) == 0 &&
        memcmp(path + len - 6, "/drain", 6) == 0) {
        if (c->req.parser.method == HTTP_POST)
            http_drain(c, path + 11, len - 17);
        else
            httpd_respond(c, 405, "Allow: POST\r\n", "{\"error\":\"method not allowed\"}");
        return;
    }
    static const struct {
        const char *path;
        void (*handle)(struct httpd_conn *);
    } post_routes[] = {
        {"/api/disconnect", http_disconnect},
        {"/api/publish", http_publish},
    };
    for (size_t k = 0; k < sizeof post_routes / sizeof post_routes[0]; k++) {
        if (!httpd_path_is(path, len, post_routes[k].path))
            continue;
        if (c->req.parser.method == HTTP_POST)
            post_routes[k].handle(c);
        else
            httpd_respond(c, 405, "Allow: POST\r\n", "{\"error\":\"method not allowed\"}");
        return;
    }
    if (httpd_path_is(path, len, "/api/policy")) {
        if (get) {
            http_policy_get(c, path + len, c->req.url_len - len);
        } else if (c->req.parser.method == HTTP_PUT) {
            http_policy_put(c);
        } else {
            httpd_respond(c, 405, "Allow: GET, PUT\r\n", "{\"error\":\"method not allowed\"}");
        }
        return;
    }
    if (httpd_path_is(path, len, "/api/hooks")) {
        if (get) {
            http_hooks_get(c);
        } else if (c->req.parser.method == HTTP_PUT) {
            http_hooks_put(c);
        } else {
            httpd_respond(c, 405, "Allow: GET, PUT\r\n", "{\"error\":\"method not allowed\"}");
        }
        return;
    }
    httpd_respond(c, 404, NULL, "{\"error\":\"not found\"}");
    return;
not_allowed:
    httpd_respond(c, 405, "Allow: GET\r\n", "{\"error\":\"method not allowed\"}");
}

struct httpd *http_server_new(struct hub *h, const struct net_addr *addr, char *err, size_t errlen)
{
    /* With a token a page cannot drive the API: a browser sends no
     * Authorization header cross-origin without a CORS preflight, which
     * this server never grants. Without one, refuse what only a page sends. */
    struct httpd_opts opts = {
        .max_conns_per_ip = h->cfg.http_max_conns_per_ip,
        .head_timeout_ms = h->cfg.http_head_timeout_ms,
        .allowed_hosts = h->cfg.http_allowed_hosts,
        .browser_checks = !(h->cfg.admin_token && h->cfg.admin_token[0]),
    };
    return httpd_new(h->loop, addr, &opts, serve_request, h, err, errlen);
}

void http_server_free(struct httpd *s)
{
    httpd_free(s);
}

uint16_t http_server_port(const struct httpd *s)
{
    return httpd_port(s);
}
