/* spoke-hub: settings, the one event loop, signals, and orderly shutdown. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/connid.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/net.h"
#include "common/readyfile.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "common/dict.h"
#include "common/httpd.h"
#include "hub/cluster.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/edge_link.h"
#include "hub/engine.h"
#include "hub/history_rules.h"
#include "hub/hooks.h"
#include "hub/policy.h"

static void stop_loop(void *ud)
{
    struct hub *h = ud;
    ev_break(h->loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct hub *h = w->data;
    log_info("shutting down");
    edge_link_server_stop(h);
    http_server_free(h->http);
    h->http = NULL;
    ev_signal_stop(loop, &h->sigint);
    ev_signal_stop(loop, &h->sigterm);
    ev_signal_stop(loop, &h->sighup);
    /* Other hubs forget this one at once rather than after cluster_ttl. */
    if (h->cluster)
        cluster_leave(h->cluster, 0.5, stop_loop, h);
    else
        stop_loop(h);
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* Never expected after boot; a boot id only has to differ between
         * restarts, which time and pid give well enough. */
        v = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    }
    return v;
}

/* Frees everything main allocated; safe after a partial start. */
static void hub_cleanup(struct hub *h)
{
    if (h->loop) {
        edge_link_server_stop(h);
        http_server_free(h->http);
        h->http = NULL;
        cluster_free(h->cluster);
        h->cluster = NULL;
        /* Its last callbacks (ENGINE_GONE) free what links and requests
         * left with it, and may look at the link module's tables. */
        engine_free(h->engine);
        h->engine = NULL;
        edge_link_server_free(h);
        ev_loop_destroy(h->loop);
        h->loop = NULL;
    }
    history_rules_free(h->loading_rules);
    h->loading_rules = NULL;
    free(h->cfg.engine);
    h->cfg.engine = NULL;
    free(h->cfg.redis);
    free(h->cfg.redis_user);
    free(h->cfg.redis_password);
    free(h->cfg.redis_prefix);
    h->cfg.redis = h->cfg.redis_user = h->cfg.redis_password = h->cfg.redis_prefix = NULL;
    free(h->cfg.name);
    h->cfg.name = NULL;
    free(h->cfg.admin_token);
    h->cfg.admin_token = NULL;
    free(h->cfg.link_ca);
    free(h->cfg.link_cert);
    free(h->cfg.link_key);
    h->cfg.link_ca = h->cfg.link_cert = h->cfg.link_key = NULL;
    free(h->cfg.http_allowed_hosts);
    free(h->cfg.http_tls_cert);
    free(h->cfg.http_tls_key);
    h->cfg.http_allowed_hosts = h->cfg.http_tls_cert = h->cfg.http_tls_key = NULL;
    free(h->cfg.ready_file);
    h->cfg.ready_file = NULL;
    SSL_CTX_free(h->link_tls);
    h->link_tls = NULL;
    hub_policy_free(h);
    hub_hooks_free(h);
    buf_deinit(&h->encoded);
    free((void *)h->conf_spec.opts);
    h->conf_spec.opts = NULL;
    free(h->from_flag);
    h->from_flag = NULL;
}

/* Links use TLS when link_ca, link_cert and link_key are all set. Plain
 * TCP is for loopback, or for networks the operator vouches for with
 * allow_insecure_links. Returns 0, or -1 with err set. */
static int load_link_tls(struct hub *h, char *err, size_t errlen)
{
    int mode = tls_link_mode(h->cfg.link_ca, h->cfg.link_cert, h->cfg.link_key, &h->cfg.listen,
                             h->cfg.allow_insecure_links, "edge links on", err, errlen);
    if (mode <= 0)
        return mode;
    h->link_tls =
        tls_link_server_ctx(h->cfg.link_ca, h->cfg.link_cert, h->cfg.link_key, err, errlen);
    return h->link_tls ? 0 : -1;
}

/* The API's HTTPS context, or NULL for plain HTTP in *ctx. Refuses an
 * admin_token that would cross a network in clear: a non-loopback --http
 * needs TLS, or allow_insecure_http for a TLS proxy on another host or a
 * network the operator vouches for. Returns 0, or -1 with err set. */
static int load_http_tls(struct hub *h, SSL_CTX **ctx, char *err, size_t errlen)
{
    const struct hub_config *cfg = &h->cfg;
    char a[300];
    *ctx = NULL;
    if (!!cfg->http_tls_cert[0] != !!cfg->http_tls_key[0]) {
        snprintf(err, errlen, "http_tls_cert and http_tls_key must be set together");
        return -1;
    }
    if (cfg->http_tls_cert[0]) {
        *ctx = tls_http_server_ctx(cfg->http_tls_cert, cfg->http_tls_key, err, errlen);
        return *ctx ? 0 : -1;
    }
    if (!cfg->admin_token[0] || net_addr_is_loopback(&cfg->http))
        return 0;
    net_format_addr(&cfg->http, a, sizeof a);
    if (!cfg->allow_insecure_http) {
        snprintf(err, errlen,
                 "refusing to take the admin token over plain HTTP on %s: set http_tls_cert "
                 "and http_tls_key (or allow_insecure_http = true behind a TLS proxy or on a "
                 "trusted network)",
                 a);
        return -1;
    }
    log_warn("the admin API on %s is NOT encrypted: the admin token crosses the network in "
             "clear (allow_insecure_http = true)",
             a);
    return 0;
}

/* The ready file: the ports bound (they differ from the settings for port 0).
 * Returns 0, or -1 with err set. */
static int write_ready_file(const struct hub *h, char *err, size_t errlen)
{
    json_t *doc = json_pack("{sI sI sI sb}", "pid", (json_int_t)getpid(), "link",
                            (json_int_t)edge_link_server_port(h), "http",
                            (json_int_t)http_server_port(h->http), "https", h->http->tls != NULL);
    int rc = readyfile_write(h->cfg.ready_file, doc, err, errlen);
    json_decref(doc);
    return rc;
}

/* Sections no option names: [history] (hub/history_rules.h), [hooks]
 * (hub/hooks.h) and [edge.NAME] (hub/policy.c). */
static int on_section(void *ud, const char *section, const char *key, const char *value, char *err,
                      size_t errlen)
{
    struct hub *h = ud;
    if (strcmp(section, "history") == 0)
        return history_rules_set(h->loading_rules, key, value, err, errlen);
    if (strcmp(section, "hooks") == 0)
        return hub_hooks_on_key(h, key, value);
    return hub_policy_on_section(ud, section, key, value, err, errlen);
}

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct hub *h = w->data;
    char err[512];
    log_info("SIGHUP: re-reading the policy, the history rules and the hooks from %s",
             h->config_path ? h->config_path : "(no file)");
    history_rules_free(h->loading_rules);
    h->loading_rules = history_rules_new(); /* filled by on_section while reading */
    hub_hooks_begin(h);                     /* likewise */
    int changed;
    if (h->cluster) {
        /* In a cluster the policy is Redis's: the file's goes there if it
         * changed (hub/cluster_policy.c), and comes back to every hub. */
        struct policy base;
        struct dict *ov;
        changed = hub_policy_read_file(h, &base, &ov, err, sizeof err);
        if (changed == 0)
            cluster_policy_file(h->cluster, &base, ov);
    } else {
        changed = hub_policy_reload(h, err, sizeof err);
    }
    /* The hooks are their own: a broken [hooks] does not stop the policy. */
    if (hub_hooks_reload(h, changed < 0 ? err : NULL))
        edge_link_push_hooks(h);
    if (changed < 0) {
        log_error("policy reload failed, the old policy and history rules stay: %s", err);
    } else {
        /* New bounds apply to what is stored from now on. */
        log_info("history rules reloaded (%zu patterns besides the default)",
                 history_rules_count(h->loading_rules));
        engine_set_rules(h->engine, h->loading_rules);
        h->loading_rules = NULL;
        if (changed)
            edge_link_push_policy(h);
    }
    history_rules_free(h->loading_rules);
    h->loading_rules = NULL;
    if (h->link_tls) {
        /* Certificate rotation: new links get the files' current contents;
         * links already up keep theirs. */
        SSL_CTX *ctx =
            tls_link_server_ctx(h->cfg.link_ca, h->cfg.link_cert, h->cfg.link_key, err, sizeof err);
        if (!ctx) {
            log_error("link certificate reload failed, the old ones stay: %s", err);
        } else {
            SSL_CTX_free(h->link_tls);
            h->link_tls = ctx;
            log_info("link certificates reloaded from %s and %s", h->cfg.link_cert, h->cfg.link_ca);
        }
    }
    if (h->http && h->http->tls) {
        /* New API connections get the files' current contents. */
        SSL_CTX *ctx =
            tls_http_server_ctx(h->cfg.http_tls_cert, h->cfg.http_tls_key, err, sizeof err);
        if (!ctx) {
            log_error("API certificate reload failed, the old one stays: %s", err);
        } else {
            httpd_set_tls(h->http, ctx);
            log_info("API certificate reloaded from %s", h->cfg.http_tls_cert);
        }
    }
}

int main(int argc, char **argv)
{
    struct hub hub;
    struct hub *h = &hub;
    memset(h, 0, sizeof *h);
    h->link_fd = -1;

    const struct conf_opt base_opts[] = {
        {"listen", CONF_ADDR, &h->cfg.listen, "127.0.0.1:7400", 0, 0, "address for edge links"},
        {"http", CONF_ADDR, &h->cfg.http, "127.0.0.1:7480", 0, 0, "address for the admin HTTP API"},
        {"name", CONF_STR, &h->cfg.name, "hub", 0, 0,
         "name this hub gives in its hello (1..64 of A-Z a-z 0-9 . _ -)"},
        {"log_level", CONF_LOGLEVEL, &h->cfg.log_level, "info", 0, 0, "debug, info, warn or error"},
        {"heartbeat_ms", CONF_INT, &h->cfg.heartbeat_ms, "5000", 50, 600000,
         "heartbeat period; a link silent for 3 periods is dropped"},
        {"link_max_pending", CONF_INT, &h->cfg.link_max_pending, "67108864", 65536, 1L << 40,
         "bytes of unwritten output after which a link is dropped as congested"},
        {"admin_token", CONF_STR, &h->cfg.admin_token, "", 0, 0,
         "token the admin API (/api/...) requires as 'Authorization: Bearer TOKEN' "
         "(required when --http is not a loopback address)"},
        {"link_ca", CONF_STR, &h->cfg.link_ca, "", 0, 0,
         "PEM CA certificate that issues edge link certificates: links then require TLS "
         "with a client certificate from this CA"},
        {"link_cert", CONF_STR, &h->cfg.link_cert, "", 0, 0,
         "PEM certificate (chain) the hub presents on links (with link_ca)"},
        {"link_key", CONF_STR, &h->cfg.link_key, "", 0, 0, "PEM private key of link_cert"},
        {"allow_insecure_links", CONF_BOOL, &h->cfg.allow_insecure_links, "false", 0, 0,
         "accept plain TCP links on a non-loopback listen address (not for production)"},
        {"link_max_topics", CONF_INT, &h->cfg.link_max_topics, "1048576", 1, 1L << 32,
         "topics one edge link may be interested in; interest in one more is refused (the "
         "edge answers that sub with 429)"},
        {"max_topics", CONF_INT, &h->cfg.max_topics, "1048576", 1, 1L << 32,
         "topics the hub holds in all; interest in one more new topic is refused (429)"},
        {"link_hello_timeout_ms", CONF_INT, &h->cfg.link_hello_timeout_ms, "3000", 100, 600000,
         "a new link that has not sent its hello within this is dropped"},
        {"link_max_awaiting_hello", CONF_INT, &h->cfg.link_max_awaiting_hello, "64", 1, 65536,
         "links waiting for their hello at once; one more drops the oldest of them"},
        {"link_max_awaiting_per_addr", CONF_INT, &h->cfg.link_max_awaiting_per_addr, "16", 1, 65536,
         "links waiting for their hello from one source address (an IPv6 /64) at once; "
         "one more drops that address's oldest (set it to at least the workers of an edge)"},
        {"link_max_pending_directs", CONF_INT, &h->cfg.link_max_pending_directs, "65536", 1,
         1L << 24,
         "sends with an id the hub has forwarded to one link and not yet had "
         "answered; more are answered 503 at once"},
        {"link_max_history_reads", CONF_INT, &h->cfg.link_max_history_reads, "1024", 1, 1L << 20,
         "history reads one link may have waiting to be served; more are answered 429"},
        {"history_bytes", CONF_BYTES, &h->cfg.history_bytes, "64MiB", 0, 1L << 40,
         "memory all topics' history may hold (64MiB, 1GiB, or bytes); the oldest message "
         "of the hub goes first ([history] bounds each topic)"},
        {"topic_linger", CONF_MS, &h->cfg.topic_linger_ms, "60", 0, 86400L * 1000,
         "seconds a topic state nobody is interested in and without history is kept, so "
         "that an edge that relinks finds its epoch (0: forgotten at once)"},
        {"engine", CONF_STR, &h->cfg.engine, "memory", 0, 0,
         "where topics are ordered and their history kept: memory (this hub alone) or redis "
         "(shared by every hub using the same redis shards); memory-deferred: memory with "
         "every engine call completed on a later loop turn, for tests only"},
        {"redis", CONF_STR, &h->cfg.redis, "", 0, 0,
         "engine redis: the Redis shards, ADDR[,ADDR...] (HOST:PORT or a unix socket path); "
         "a topic lives on one, by a consistent hash of its name"},
        {"redis_user", CONF_STR, &h->cfg.redis_user, "", 0, 0,
         "engine redis: the ACL user to AUTH as (with redis_password; empty: the default user)"},
        {"redis_password", CONF_STR, &h->cfg.redis_password, "", 0, 0,
         "engine redis: AUTH with this password (requirepass or the ACL user's); prefer the "
         "file to the flag, which shows in ps"},
        {"redis_prefix", CONF_STR, &h->cfg.redis_prefix, "spoke", 0, 0,
         "engine redis: what every key and channel name starts with (hubs of one cluster "
         "share it; another cluster on the same Redis takes another)"},
        {"redis_heartbeat_ms", CONF_INT, &h->cfg.redis_heartbeat_ms, "1000", 50, 60000,
         "engine redis: liveness period of the Redis connections; 3 silent periods reconnect"},
        {"cluster_refresh", CONF_MS, &h->cfg.cluster_refresh_ms, "1", 100, 60000,
         "engine redis: seconds between two writes of this hub's registration and view (its "
         "links) to Redis, and reads of the other hubs'"},
        {"cluster_ttl", CONF_MS, &h->cfg.cluster_ttl_ms, "5", 300, 600000,
         "engine redis: seconds after which a hub that stopped refreshing its registration "
         "(crashed, cut off) leaves the cluster; at least twice cluster_refresh"},
        {"http_max_conns_per_ip", CONF_INT, &h->cfg.http_max_conns_per_ip, "16", 0, HTTPD_MAX_CONNS,
         "admin API connections one client address may hold (0: no limit "
         "besides the 256 in total)"},
        {"http_head_timeout", CONF_MS, &h->cfg.http_head_timeout_ms, "3", 100,
         (long)(HTTPD_TIMEOUT_S * 1000),
         "seconds a client has for the TLS handshake and the "
         "request head on the admin API"},
        {"http_allowed_hosts", CONF_STR, &h->cfg.http_allowed_hosts, "", 0, 0,
         "comma-separated Host names the admin API answers to besides IP addresses, localhost "
         "and the --http host ('*': any); others get 421 (DNS rebinding)"},
        {"http_tls_cert", CONF_STR, &h->cfg.http_tls_cert, "", 0, 0,
         "PEM certificate (chain): the admin API then speaks HTTPS only; re-read on SIGHUP"},
        {"http_tls_key", CONF_STR, &h->cfg.http_tls_key, "", 0, 0,
         "PEM private key of http_tls_cert"},
        {"allow_insecure_http", CONF_BOOL, &h->cfg.allow_insecure_http, "false", 0, 0,
         "take the admin_token over plain HTTP on a non-loopback --http (behind a TLS proxy)"},
        {"ready_file", CONF_STR, &h->cfg.ready_file, "", 0, 0,
         "once listening, write the bound ports here as JSON (for port 0; see "
         "docs/operations.md); removed at a clean exit"},
    };
    /* The policy keys are [policy] keys in the file and flags like any other
     * (--idle-timeout 30); [edge.NAME] sections override them per edge. */
    size_t nbase = sizeof base_opts / sizeof base_opts[0];
    size_t nopts = nbase + policy_nkeys;
    struct conf_opt *opts = xcalloc(nopts, sizeof *opts);
    memcpy(opts, base_opts, sizeof base_opts);
    policy_defaults(&h->policy);
    for (size_t i = 0; i < policy_nkeys; i++) {
        const struct policy_key *k = &policy_keys[i];
        struct conf_opt *o = &opts[nbase + i];
        o->key = k->name;
        o->type = k->unit == POLICY_SECONDS ? CONF_MS
                  : k->unit == POLICY_BOOL  ? CONF_LBOOL
                                            : CONF_INT;
        o->ptr = policy_field(&h->policy, k);
        o->def = k->def;
        o->min = k->min;
        o->max = k->max;
        o->help = k->help;
        o->section = "policy";
    }
    h->from_flag = xcalloc(nopts, 1);
    h->loading_overrides = policy_overrides_new();
    h->loading_rules = history_rules_new();
    buf_init(&h->hooks_doc);
    hub_hooks_begin(h);
    h->conf_spec = (struct conf_spec){
        .prog = "spoke-hub",
        .summary = "spoke hub: routes publishes and direct messages between edge workers, "
                   "and owns the policy edges enforce",
        .opts = opts,
        .nopts = nopts,
        .on_section = on_section,
        .ud = h,
        .from_flag = h->from_flag,
        .config_path = &h->config_path,
    };
    conf_load(&h->conf_spec, argc, argv, SPOKE_VERSION);
    char perr[512];
    if (hub_policy_loaded(h, perr, sizeof perr) < 0) {
        fprintf(stderr, "spoke-hub: policy: %s\n", perr);
        hub_cleanup(h);
        return 2;
    }
    if (hub_hooks_loaded(h, perr, sizeof perr) < 0) {
        fprintf(stderr, "spoke-hub: %s: %s\n", h->config_path ? h->config_path : "hooks", perr);
        hub_cleanup(h);
        return 2;
    }
    log_min_level = h->cfg.log_level;
    log_set_component("hub");

    if (!engine_known(h->cfg.engine)) {
        fprintf(stderr,
                "spoke-hub: engine: '%s' is not memory or redis (or memory-deferred, for tests)\n",
                h->cfg.engine);
        hub_cleanup(h);
        return 2;
    }
    if (h->cfg.cluster_ttl_ms < 2 * h->cfg.cluster_refresh_ms) {
        fprintf(stderr, "spoke-hub: cluster_ttl must be at least twice cluster_refresh\n");
        hub_cleanup(h);
        return 2;
    }
    if (strcmp(h->cfg.engine, "redis") == 0 && !h->cfg.redis[0]) {
        fprintf(stderr, "spoke-hub: engine redis needs redis = ADDR[,ADDR...]\n");
        hub_cleanup(h);
        return 2;
    }

    if (!connid_name_is_valid(h->cfg.name, strlen(h->cfg.name))) {
        fprintf(stderr, "spoke-hub: name: '%s' is not 1..64 bytes of A-Z a-z 0-9 . _ -\n",
                h->cfg.name);
        hub_cleanup(h);
        return 2;
    }

    if (!h->cfg.admin_token[0] && !net_addr_is_loopback(&h->cfg.http)) {
        char a[300];
        fprintf(stderr,
                "spoke-hub: refusing to serve the admin API on %s without an admin_token "
                "(anyone who reaches it could change the policy)\n",
                net_format_addr(&h->cfg.http, a, sizeof a));
        hub_cleanup(h);
        return 2;
    }

    char tlserr[512];
    SSL_CTX *http_tls = NULL;
    if (load_link_tls(h, tlserr, sizeof tlserr) < 0 ||
        load_http_tls(h, &http_tls, tlserr, sizeof tlserr) < 0) {
        fprintf(stderr, "spoke-hub: %s\n", tlserr);
        hub_cleanup(h);
        return 2;
    }

    /* A write to a link whose edge vanished must fail with EPIPE, not kill
     * the hub. */
    signal(SIGPIPE, SIG_IGN);

    h->loop = ev_default_loop(EVFLAG_AUTO);
    if (!h->loop) {
        fprintf(stderr, "spoke-hub: cannot initialise the event loop\n");
        SSL_CTX_free(http_tls);
        hub_cleanup(h);
        return 1;
    }
    h->boot = random_u64();

    char err[512], addr[300], instance[LINK_MAX_NAME + 24];
    /* Unique to this process: its private Redis channel and its client name. */
    snprintf(instance, sizeof instance, "%s:%016llx", h->cfg.name, (unsigned long long)h->boot);
    struct engine_opts eo = {
        .loop = h->loop,
        .max_topics = (size_t)h->cfg.max_topics,
        .history_bytes = (uint64_t)h->cfg.history_bytes,
        .linger_ms = (uint64_t)h->cfg.topic_linger_ms,
        .rules = h->loading_rules,
        .on_message = edge_link_on_message,
        .on_moved = edge_link_on_moved,
        .ud = h,
        .defer_ms = 5, /* memory-deferred: as far as a store over the network */
        .redis = h->cfg.redis,
        .redis_user = h->cfg.redis_user,
        .redis_password = h->cfg.redis_password,
        .redis_prefix = h->cfg.redis_prefix,
        .redis_heartbeat_ms = (unsigned)h->cfg.redis_heartbeat_ms,
        .instance = instance,
        /* A longer replay would drop the link as congested anyway. */
        .max_read_bytes = (size_t)h->cfg.link_max_pending,
    };
    h->loading_rules = NULL; /* the engine's now */
    h->engine = engine_new(h->cfg.engine, &eo, err, sizeof err);
    if (!h->engine) {
        /* A setting that cannot be used: a bad address, or a name that
         * does not resolve (Redis being down is no reason: it connects
         * later, and /readyz says so meanwhile). */
        fprintf(stderr, "spoke-hub: %s\n", err);
        SSL_CTX_free(http_tls);
        hub_cleanup(h);
        return 2;
    }
    if (strcmp(h->cfg.engine, "memory-deferred") == 0)
        log_warn("engine %s: for tests only", h->cfg.engine);
    if (edge_link_server_start(h, err, sizeof err) < 0) {
        fprintf(stderr, "spoke-hub: %s\n", err);
        SSL_CTX_free(http_tls);
        hub_cleanup(h);
        return 1;
    }
    h->http = http_server_new(h, &h->cfg.http, err, sizeof err);
    if (!h->http) {
        fprintf(stderr, "spoke-hub: %s\n", err);
        SSL_CTX_free(http_tls);
        hub_cleanup(h);
        return 1;
    }
    httpd_set_tls(h->http, http_tls);
    if (strcmp(h->cfg.engine, "redis") == 0) {
        /* The other hubs on the same Redis (hub/cluster.h). */
        struct cluster_host host = {
            .link_port = edge_link_server_port(h),
            .http_port = http_server_port(h->http),
            .foreach_link = edge_link_foreach_open,
            .push_policy = edge_link_push_policy,
            .deliver_direct = edge_link_deliver_direct,
            .deliver_result = edge_link_deliver_result,
            .answer_direct = edge_link_answer_direct,
            .forget_target = edge_link_forget_target,
            .kick = edge_link_kick,
            .drain = edge_link_drain,
        };
        h->cluster = cluster_new(h, &host, err, sizeof err);
        if (!h->cluster) {
            fprintf(stderr, "spoke-hub: %s\n", err);
            hub_cleanup(h);
            return 2;
        }
    }

    /* Report the bound ports, which differ from the settings for port 0. */
    struct net_addr shown = h->cfg.listen;
    shown.port = edge_link_server_port(h);
    log_info("listening for edge links on %s (%s)", net_format_addr(&shown, addr, sizeof addr),
             h->link_tls ? "TLS, edge certificates required" : "plain TCP");
    shown = h->cfg.http;
    shown.port = http_server_port(h->http);
    log_info("admin HTTP on %s (%s)", net_format_addr(&shown, addr, sizeof addr),
             h->http->tls ? "HTTPS" : "plain HTTP");
    log_info("spoke-hub %s started (boot %016llx, heartbeat %ld ms, engine %s, history %ld bytes)",
             SPOKE_VERSION, (unsigned long long)h->boot, h->cfg.heartbeat_ms, h->cfg.engine,
             h->cfg.history_bytes);
    if (h->cfg.ready_file[0] && write_ready_file(h, err, sizeof err) < 0) {
        fprintf(stderr, "spoke-hub: %s\n", err);
        hub_cleanup(h);
        return 1;
    }

    ev_signal_init(&h->sigint, on_signal, SIGINT);
    h->sigint.data = h;
    ev_signal_start(h->loop, &h->sigint);
    ev_signal_init(&h->sigterm, on_signal, SIGTERM);
    h->sigterm.data = h;
    ev_signal_start(h->loop, &h->sigterm);
    ev_signal_init(&h->sighup, on_sighup, SIGHUP);
    h->sighup.data = h;
    ev_signal_start(h->loop, &h->sighup);

    ev_run(h->loop, 0);

    readyfile_remove(h->cfg.ready_file);
    hub_cleanup(h);
    return 0;
}
