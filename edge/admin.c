/* The edge's /healthz, /readyz and /metrics: see admin.h. */
#include "edge/admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "edge/hooks.h"
#include "edge/worker.h"

/* Ready = every worker has a policy, a live hub link, and is not draining:
 * what a load balancer's health check should use. A reason about the link
 * names the hub concerned (the one being tried while the link is down). */
static void readyz(struct httpd_conn *c, struct edge_admin *a)
{
    json_t *reasons = json_array();
    for (unsigned i = 0; i < a->nworkers; i++) {
        struct worker_snapshot s;
        char why[400];
        worker_snapshot(&a->workers[i], &s);
        const char *hub = a->cfg->hubs[s.hub].label;
        if (s.draining)
            snprintf(why, sizeof why, "w%u: draining", i);
        else if (!s.have_policy && s.linked)
            snprintf(why, sizeof why, "w%u: no policy from hub %s yet", i, hub);
        else if (!s.have_policy)
            snprintf(why, sizeof why, "w%u: no policy from the hub yet; hub link down, trying %s",
                     i, hub);
        else if (!s.linked)
            snprintf(why, sizeof why, "w%u: hub link down, trying %s", i, hub);
        else
            continue;
        json_array_append_new(reasons, json_string(why));
    }
    json_t *j = json_object();
    int ready = json_array_size(reasons) == 0;
    json_object_set_new(j, "ready", json_boolean(ready));
    json_object_set_new(j, "reasons", reasons);
    httpd_respond_json(c, ready ? 200 : 503, j);
}

/* Which hub each worker is on: the address it is linked to (1) or trying
 * (0). One sample per worker; its hub label moves with the link. */
static void hub_links(struct buf *b, struct edge_admin *a)
{
    buf_printf(b, "\n# HELP spoke_edge_hub_link Each worker's hub: 1 while linked to it, 0 "
                  "while trying to link to it.\n# TYPE spoke_edge_hub_link gauge");
    for (unsigned i = 0; i < a->nworkers; i++) {
        struct worker_snapshot s;
        worker_snapshot(&a->workers[i], &s);
        buf_printf(b, "\nspoke_edge_hub_link{edge=\"%s\",worker=\"%u\",hub=\"%s\"} %d",
                   a->cfg->name, i, a->cfg->hubs[s.hub].label, s.linked);
    }
}

static void metrics(struct httpd_conn *c, struct edge_admin *a)
{
    struct worker_snapshot sum = {0};
    unsigned ready = 0;
    for (unsigned i = 0; i < a->nworkers; i++) {
        struct worker_snapshot s;
        worker_snapshot(&a->workers[i], &s);
        ready += s.have_policy && s.linked && !s.draining;
        if (s.hooks_version > sum.hooks_version)
            sum.hooks_version = s.hooks_version;
        sum.clients += s.clients;
        sum.subscriptions += s.subscriptions;
        sum.topics += s.topics;
        sum.stats.msgs_in += s.stats.msgs_in;
        sum.stats.msgs_out += s.stats.msgs_out;
        sum.stats.bytes_in += s.stats.bytes_in;
        sum.stats.bytes_out += s.stats.bytes_out;
        sum.stats.accepted += s.stats.accepted;
        sum.stats.closed += s.stats.closed;
        sum.stats.closed_idle += s.stats.closed_idle;
        sum.stats.closed_dead += s.stats.closed_dead;
        sum.stats.closed_slow += s.stats.closed_slow;
        sum.stats.closed_protocol += s.stats.closed_protocol;
        sum.stats.closed_rate += s.stats.closed_rate;
        sum.stats.closed_handshake += s.stats.closed_handshake;
        sum.stats.rate_limited += s.stats.rate_limited;
        sum.stats.refused_auth += s.stats.refused_auth;
        sum.stats.refused_origin += s.stats.refused_origin;
        sum.stats.refused_ip_limit += s.stats.refused_ip_limit;
        sum.stats.forbidden += s.stats.forbidden;
        sum.stats.closed_tls += s.stats.closed_tls;
        sum.stats.topics_refused_worker += s.stats.topics_refused_worker;
        sum.stats.topics_refused_hub += s.stats.topics_refused_hub;
        sum.stats.sends_timed_out += s.stats.sends_timed_out;
        sum.stats.results_unsolicited += s.stats.results_unsolicited;
        sum.stats.dropped_invalid += s.stats.dropped_invalid;
        sum.stats.dropped_over_budget += s.stats.dropped_over_budget;
        sum.stats.resets += s.stats.resets;
        sum.stats.duplicates += s.stats.duplicates;
        sum.stats.hub_failovers += s.stats.hub_failovers;
        sum.stats.resumes_recovered += s.stats.resumes_recovered;
        sum.stats.resumes_not_recovered += s.stats.resumes_not_recovered;
        sum.stats.resumes_cached += s.stats.resumes_cached;
        sum.stats.history_reads += s.stats.history_reads;
        sum.stats.publishes_pending += s.stats.publishes_pending;
        sum.stats.publishes_resent += s.stats.publishes_resent;
        sum.stats.publishes_expired += s.stats.publishes_expired;
        sum.stats.publishes_refused += s.stats.publishes_refused;
        sum.deflate_clients += s.deflate_clients;
        hooks_stats_add(&sum.hooks, &s.hooks);
        sum.pmd.compressed += s.pmd.compressed;
        sum.pmd.not_smaller += s.pmd.not_smaller;
        sum.pmd.compress_in += s.pmd.compress_in;
        sum.pmd.compress_out += s.pmd.compress_out;
        sum.pmd.inflated += s.pmd.inflated;
        sum.pmd.inflate_in += s.pmd.inflate_in;
        sum.pmd.inflate_out += s.pmd.inflate_out;
        sum.pmd.inflate_big += s.pmd.inflate_big;
        sum.pmd.inflate_bad += s.pmd.inflate_bad;
    }
    const char *e = a->cfg->name;
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } m[] = {
        {"spoke_edge_workers_ready", "gauge", "Workers with a policy and a hub link, not draining.",
         ready},
        {"spoke_edge_hooks_version", "gauge",
         "Version of the hub's hooks configuration, the highest a worker has (0: none yet).",
         sum.hooks_version},
        {"spoke_edge_clients", "gauge", "Client WebSocket connections.", sum.clients},
        {"spoke_edge_subscriptions", "gauge", "Client subscriptions.", sum.subscriptions},
        {"spoke_edge_topics", "gauge", "Local topics, summed over workers.", sum.topics},
        {"spoke_edge_accepted_total", "counter", "TCP connections accepted.", sum.stats.accepted},
        {"spoke_edge_messages_in_total", "counter", "Client messages received.", sum.stats.msgs_in},
        {"spoke_edge_messages_out_total", "counter", "Messages sent to clients.",
         sum.stats.msgs_out},
        {"spoke_edge_client_bytes_in_total", "counter", "Bytes read from clients.",
         sum.stats.bytes_in},
        {"spoke_edge_client_bytes_out_total", "counter", "Bytes written to clients.",
         sum.stats.bytes_out},
        {"spoke_edge_rate_limited_total", "counter", "Client messages refused by the rate limit.",
         sum.stats.rate_limited},
        {"spoke_edge_forbidden_total", "counter",
         "Subscribes and publishes refused by token permissions (403).", sum.stats.forbidden},
        {"spoke_edge_sends_timed_out_total", "counter",
         "Sends answered 504: no answer from the target's edge within send_timeout, or the hub link went down.",
         sum.stats.sends_timed_out},
        {"spoke_edge_results_dropped_total", "counter",
         "Direct results that answered no waiting send (late or made up): dropped.",
         sum.stats.results_unsolicited},
        {"spoke_edge_resumes_recovered_total", "counter",
         "Subscriptions with since that got every message they missed.",
         sum.stats.resumes_recovered},
        {"spoke_edge_resumes_not_recovered_total", "counter",
         "Subscriptions with since answered recovered:false (other epoch, too old, ahead, hub "
         "unavailable).",
         sum.stats.resumes_not_recovered},
        {"spoke_edge_resumes_from_cache_total", "counter",
         "Resumes served from the edge's own copy of recent messages, without a hub read.",
         sum.stats.resumes_cached},
        {"spoke_edge_history_reads_total", "counter",
         "History reads sent to the hub (each shared by the resumes of one topic).",
         sum.stats.history_reads},
        {"spoke_edge_resets_total", "counter",
         "Topics the hub could not go on from the edge's position (reset notices sent).",
         sum.stats.resets},
        {"spoke_edge_duplicates_dropped_total", "counter",
         "Messages from the hub the edge had delivered already: dropped.", sum.stats.duplicates},
        {"spoke_edge_hub_failovers_total", "counter",
         "Hub links made to another hub than the worker's previous link (failovers).",
         sum.stats.hub_failovers},
        {"spoke_edge_publishes_pending", "gauge",
         "Publishes the hub has not ordered yet (held while the link is down).",
         sum.stats.publishes_pending},
        {"spoke_edge_publishes_resent_total", "counter",
         "Publishes sent again after a link broke (the hub orders each once).",
         sum.stats.publishes_resent},
        {"spoke_edge_publishes_expired_total", "counter",
         "Publishes not ordered within publish_timeout: the publisher got 503 or 504.",
         sum.stats.publishes_expired},
        {"spoke_edge_publishes_refused_total", "counter",
         "Publishes refused (503) because max_pending_publishes or publish_buffer_bytes was "
         "full.",
         sum.stats.publishes_refused},
        {"spoke_edge_deflate_clients", "gauge",
         "Client connections that negotiated permessage-deflate.", sum.deflate_clients},
        {"spoke_edge_deflate_compressed_total", "counter",
         "Messages compressed for permessage-deflate clients (once per worker, shared by all "
         "of them).",
         sum.pmd.compressed},
        {"spoke_edge_deflate_not_smaller_total", "counter",
         "Messages compression did not make smaller: sent uncompressed.", sum.pmd.not_smaller},
        {"spoke_edge_deflate_bytes_in_total", "counter",
         "Bytes of the messages given to compression.", sum.pmd.compress_in},
        {"spoke_edge_deflate_bytes_out_total", "counter",
         "Compressed bytes of the messages that were sent compressed.", sum.pmd.compress_out},
        {"spoke_edge_inflated_total", "counter", "Compressed client messages inflated.",
         sum.pmd.inflated},
        {"spoke_edge_inflate_bytes_in_total", "counter",
         "Compressed bytes of the client messages inflated.", sum.pmd.inflate_in},
        {"spoke_edge_inflate_bytes_out_total", "counter",
         "Inflated bytes of the client messages inflated.", sum.pmd.inflate_out},
        {"spoke_edge_inflate_too_big_total", "counter",
         "Compressed client messages that inflated past max_message_bytes (closed 1009).",
         sum.pmd.inflate_big},
        {"spoke_edge_inflate_bad_data_total", "counter",
         "Compressed client messages that were not valid on their own (closed 1002).",
         sum.pmd.inflate_bad},
    };
    struct buf b = BUF_INIT;
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++)
        buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n%s{edge=\"%s\"} %" PRIu64 "\n", m[k].name,
                   m[k].help, m[k].name, m[k].type, m[k].name, e, m[k].v);
    uint64_t known = sum.stats.closed_idle + sum.stats.closed_dead + sum.stats.closed_slow +
                     sum.stats.closed_protocol + sum.stats.closed_rate +
                     sum.stats.closed_handshake + sum.stats.closed_tls;
    const struct {
        const char *reason;
        uint64_t v;
    } closes[] = {
        {"idle", sum.stats.closed_idle},
        {"dead_peer", sum.stats.closed_dead},
        {"slow_consumer", sum.stats.closed_slow},
        {"protocol", sum.stats.closed_protocol},
        {"rate_limit", sum.stats.closed_rate},
        {"handshake_timeout", sum.stats.closed_handshake},
        {"tls_error", sum.stats.closed_tls},
        {"other", sum.stats.closed > known ? sum.stats.closed - known : 0},
    };
    buf_printf(&b, "# HELP spoke_edge_closes_total Client connections closed, by reason.\n"
                   "# TYPE spoke_edge_closes_total counter\n");
    for (size_t k = 0; k < sizeof closes / sizeof closes[0]; k++)
        buf_printf(&b, "spoke_edge_closes_total{edge=\"%s\",reason=\"%s\"} %" PRIu64 "%s", e,
                   closes[k].reason, closes[k].v,
                   k + 1 < sizeof closes / sizeof closes[0] ? "\n" : "");
    const struct {
        const char *reason;
        uint64_t v;
    } refused[] = {
        {"token", sum.stats.refused_auth},
        {"origin", sum.stats.refused_origin},
        {"ip_limit", sum.stats.refused_ip_limit},
    };
    buf_printf(&b,
               "\n# HELP spoke_edge_refused_total Upgrades refused: bad or missing token (401), "
               "Origin not allowed (403), address over max_conns_per_ip (429).\n"
               "# TYPE spoke_edge_refused_total counter\n");
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
        buf_printf(&b, "spoke_edge_refused_total{edge=\"%s\",reason=\"%s\"} %" PRIu64 "%s", e,
                   refused[k].reason, refused[k].v,
                   k + 1 < sizeof refused / sizeof refused[0] ? "\n" : "");
    buf_printf(
        &b,
        "\n# HELP spoke_edge_topics_refused_total Subscriptions to a new topic refused "
        "(429): the worker held the policy's worker_max_topics, or the hub refused the topic "
        "(link_max_topics, max_topics).\n"
        "# TYPE spoke_edge_topics_refused_total counter\n"
        "spoke_edge_topics_refused_total{edge=\"%s\",reason=\"worker_max_topics\"} %" PRIu64 "\n"
        "spoke_edge_topics_refused_total{edge=\"%s\",reason=\"hub\"} %" PRIu64,
        e, sum.stats.topics_refused_worker, e, sum.stats.topics_refused_hub);
    buf_printf(&b,
               "\n# HELP spoke_edge_payloads_dropped_total Payloads from the hub not delivered "
               "to the clients of one encoding: not one valid value, or rendered over the "
               "budget.\n# TYPE spoke_edge_payloads_dropped_total counter\n"
               "spoke_edge_payloads_dropped_total{edge=\"%s\",reason=\"invalid\"} %" PRIu64 "\n"
               "spoke_edge_payloads_dropped_total{edge=\"%s\",reason=\"over_budget\"} %" PRIu64,
               e, sum.stats.dropped_invalid, e, sum.stats.dropped_over_budget);
    hooks_metrics(&sum.hooks, e, &b);
    hub_links(&b, a);
    char labels[96];
    snprintf(labels, sizeof labels, "edge=\"%s\",", e);
    buf_append_u8(&b, '\n');
    httpd_metrics(c->srv, &b, "spoke_edge_admin", labels);
    b.len--; /* the response adds the final newline */
    buf_append_u8(&b, 0);
    httpd_respond_type(c, 200, "text/plain; version=0.0.4", NULL, (const char *)buf_head(&b));
    buf_deinit(&b);
}

static void route(struct httpd_conn *c, void *ud)
{
    struct edge_admin *a = ud;
    const char *path = c->req.buf + c->req.url_off;
    size_t len = 0;
    while (len < c->req.url_len && path[len] != '?' && path[len] != '#')
        len++;
    int known = httpd_path_is(path, len, "/healthz") || httpd_path_is(path, len, "/readyz") ||
                httpd_path_is(path, len, "/metrics");
    if (!known) {
        httpd_error(c, 404, "not found");
        return;
    }
    if (c->req.parser.method != HTTP_GET) {
        httpd_respond(c, 405, "Allow: GET\r\n", "{\"error\":\"method not allowed\"}");
        return;
    }
    if (httpd_path_is(path, len, "/healthz"))
        httpd_respond(c, 200, NULL, "{\"status\":\"ok\"}");
    else if (httpd_path_is(path, len, "/readyz"))
        readyz(c, a);
    else
        metrics(c, a);
}

int edge_admin_start(struct edge_admin *a, struct ev_loop *loop, char *err, size_t errlen)
{
    /* No token here: whatever a web page could send is refused. */
    const struct httpd_opts opts = {
        .max_conns_per_ip = a->cfg->admin_max_conns_per_ip,
        .head_timeout_ms = a->cfg->admin_head_timeout_ms,
        .allowed_hosts = a->cfg->admin_allowed_hosts,
        .browser_checks = 1,
    };
    a->httpd = httpd_new(loop, &a->cfg->admin, &opts, route, a, err, errlen);
    if (!a->httpd)
        return -1;
    struct net_addr shown = a->cfg->admin;
    char addr[300];
    shown.port = httpd_port(a->httpd);
    log_info("admin HTTP on %s (/healthz, /readyz, /metrics)",
             net_format_addr(&shown, addr, sizeof addr));
    return 0;
}

void edge_admin_stop(struct edge_admin *a)
{
    httpd_free(a->httpd);
    a->httpd = NULL;
}
