/* spoke-edge: settings, worker threads and signals. */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/assets.h"
#include "common/conf.h"
#include "common/connid.h"
#include "common/log.h"
#include "common/net.h"
#include "common/readyfile.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "edge/admin.h"
#include "edge/auth.h"
#include "edge/iplimit.h"
#include "edge/config.h"
#include "edge/worker.h"
#include "edge/www.h"

static struct edge_config cfg;

static const struct conf_opt options[] = {
    {"name", CONF_STR, &cfg.name, NULL, 0, 0,
     "edge name, unique among the hub's edges (default: the host name)"},
    {"region", CONF_STR, &cfg.region, "local", 0, 0, "region label shown to clients and operators"},
    {"public_url", CONF_STR, &cfg.public_url, "", 0, 0,
     "the URL clients use to reach this edge, shown to operators (e.g. wss://fra-1.example.com/ws)"},
    {"listen", CONF_ADDR, &cfg.listen, "127.0.0.1:8080", 0, 0,
     "client WebSocket address (path /ws; port 0: any free port, logged)"},
    {"hub", CONF_ADDRS, &cfg.hub, "127.0.0.1:7400", 0, 0,
     "the hubs' link addresses, comma-separated: each worker links to one (worker index modulo "
     "the list's length first) and moves to the next when its link is lost"},
    {"admin", CONF_ADDR, &cfg.admin, "127.0.0.1:9080", 0, 0,
     "this edge's /healthz, /readyz and /metrics (port 0: any free port, logged)"},
    {"admin_max_conns_per_ip", CONF_INT, &cfg.admin_max_conns_per_ip, "16", 0, HTTPD_MAX_CONNS,
     "admin connections one client address may hold (0: no limit besides "
     "the 256 in total)"},
    {"admin_head_timeout", CONF_MS, &cfg.admin_head_timeout_ms, "3", 100,
     (long)(HTTPD_TIMEOUT_S * 1000), "seconds a client has to send an admin request's head"},
    {"admin_allowed_hosts", CONF_STR, &cfg.admin_allowed_hosts, "", 0, 0,
     "comma-separated Host names the admin endpoint answers to besides IP addresses, "
     "localhost and the --admin host ('*': any); others get 421 (DNS rebinding)"},
    {"workers", CONF_INT, &cfg.workers, NULL, 1, 256,
     "worker threads, each with its own loop, listener and hub link (default: number of CPUs)"},
    {"log_level", CONF_LOGLEVEL, &cfg.log_level, "info", 0, 0, "debug, info, warn or error"},
    {"client_sndbuf", CONF_INT, &cfg.client_sndbuf, "65536", 0, 16 << 20,
     "kernel send buffer per client socket in bytes (0: kernel default)"},
    {"heartbeat_ms", CONF_INT, &cfg.heartbeat_ms, "5000", 50, 600000,
     "hub link heartbeat period; a link silent for 3 periods is dropped"},
    {"reconnect_min_ms", CONF_INT, &cfg.reconnect_min_ms, "100", 10, 600000,
     "first delay before reconnecting to the hub (doubles, with jitter)"},
    {"reconnect_max_ms", CONF_INT, &cfg.reconnect_max_ms, "5000", 10, 3600000,
     "longest delay between reconnection attempts"},
    {"close_timeout_ms", CONF_INT, &cfg.close_timeout_ms, "3000", 10, 600000,
     "time to wait for a client's close frame after sending ours"},
    {"drain_period", CONF_MS, &cfg.drain_ms, "10", 0, 3600000,
     "seconds over which a drain (SIGTERM, or the hub's drain) closes the clients with 1001"},
    {"link_max_pending", CONF_INT, &cfg.link_max_pending, "67108864", 65536, 1L << 34,
     "unsent bytes on the hub link before it is dropped as congested"},
    {"tls_listen", CONF_STR, &cfg.tls_listen_str, "", 0, 0,
     "HOST:PORT for wss clients (TLS terminated here; needs tls_cert and tls_key; port 0: any "
     "free port, logged)"},
    {"tls_cert", CONF_STR, &cfg.tls_cert, "", 0, 0,
     "PEM certificate (chain) for wss; re-read on SIGHUP"},
    {"tls_key", CONF_STR, &cfg.tls_key, "", 0, 0, "PEM private key of tls_cert"},
    {"link_ca", CONF_STR, &cfg.link_ca, "", 0, 0,
     "PEM CA certificate that issued the hub's link certificate: the link then uses TLS"},
    {"link_cert", CONF_STR, &cfg.link_cert, "", 0, 0,
     "PEM certificate this edge presents to the hub (its name must be in it)"},
    {"link_key", CONF_STR, &cfg.link_key, "", 0, 0, "PEM private key of link_cert"},
    {"link_server_name", CONF_STR, &cfg.link_server_name, "", 0, 0,
     "name (or IP) every hub's certificate must carry (default: the host of the --hub address "
     "dialled)"},
    {"allow_insecure_links", CONF_BOOL, &cfg.allow_insecure_links, "false", 0, 0,
     "link to a non-loopback hub over plain TCP (not for production)"},
    {"jwt_secret", CONF_STR, &cfg.jwt_secret, "", 0, 0,
     "HS256 secret (at least 32 bytes) that client tokens are signed with"},
    {"jwt_public_key", CONF_STR, &cfg.jwt_public_key, "", 0, 0,
     "PEM public key file for RS256 (RSA) or ES256 (EC P-256) client tokens"},
    {"auth_required", CONF_BOOL, &cfg.auth_required, "false", 0, 0,
     "refuse clients without a valid token (401)"},
    {"topic_default", CONF_STR, &cfg.topic_default, "allow", 0, 0,
     "allow or deny: topic access for clients whose token has no spoke claim (and anonymous ones)"},
    {"jwt_leeway", CONF_INT, &cfg.jwt_leeway_s, "30", 0, 3600,
     "seconds of clock skew allowed on a token's exp and nbf"},
    {"jwt_audience", CONF_STR, &cfg.jwt_audience, "", 0, 0,
     "a token's aud claim must be this (or an array holding it); empty: not checked"},
    {"jwt_issuer", CONF_STR, &cfg.jwt_issuer, "", 0, 0,
     "a token's iss claim must be this; empty: not checked"},
    {"allowed_origins", CONF_STR, &cfg.allowed_origins, "", 0, 0,
     "comma-separated Origin values browsers may connect from (403 otherwise; empty: any)"},
    {"max_conns_per_ip", CONF_INT, &cfg.max_conns_per_ip, "0", 0, 1L << 30,
     "connections one client address may hold on this edge (0: no limit)"},
    {"demo", CONF_BOOL, &cfg.demo, "false", 0, 0,
     "serve the demo page at / (and the other demo* files) on the client port(s); spoke.js, "
     "spoke.d.ts and /edges.json are served either way"},
    {"ready_file", CONF_STR, &cfg.ready_file, "", 0, 0,
     "once bound, write the ports here as JSON, rewritten when clients are accepted (see "
     "docs/operations.md); removed at a clean exit"},
};

/* A region label: up to 64 characters of [A-Za-z0-9._-], maybe none. (The
 * edge's name follows connid_name_is_valid: it is part of every id.) */
static int region_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* Resolves every hub address once (blocking: startup only). Returns 0, or
 * -1 with err set. */
static int resolve_hubs(char *err, size_t errlen)
{
    char why[400];
    for (size_t i = 0; i < cfg.hub.n; i++) {
        struct edge_hub *h = &cfg.hubs[i];
        h->addr = &cfg.hub.a[i];
        net_format_addr(h->addr, h->label, sizeof h->label);
        if (net_resolve(h->addr, &h->sa, &h->salen, why, sizeof why) < 0) {
            snprintf(err, errlen, "hub: %s", why);
            return -1;
        }
    }
    cfg.nhubs = cfg.hub.n;
    return 0;
}

/* "a:1, b:2" for the startup line. */
static const char *hub_list(char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cfg.nhubs && off < outlen; i++)
        off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? ", " : "", cfg.hubs[i].label);
    return out;
}

static void usage_error(const char *msg)
{
    fprintf(stderr, "spoke-edge: %s\n", msg);
    exit(2);
}

/* A slot holding ctx, shared by the workers and replaced on SIGHUP. */
static struct tls_slot *slot_new(SSL_CTX *ctx)
{
    struct tls_slot *s = xcalloc(1, sizeof *s);
    tls_slot_init(s);
    tls_slot_set(s, ctx);
    return s;
}

/* TLS for wss and for the link, set up before the workers start. Returns
 * 0, or -1 with err set. */
static int setup_tls(char *err, size_t errlen)
{
    if (cfg.tls_listen_str[0]) {
        if (net_parse_addr(cfg.tls_listen_str, &cfg.tls_listen, 1) < 0) {
            snprintf(err, errlen, "tls_listen: '%s' is not HOST:PORT", cfg.tls_listen_str);
            return -1;
        }
        if (!cfg.tls_cert[0] || !cfg.tls_key[0]) {
            snprintf(err, errlen, "tls_listen needs tls_cert and tls_key");
            return -1;
        }
        SSL_CTX *ctx = tls_client_facing_ctx(cfg.tls_cert, cfg.tls_key, err, errlen);
        if (!ctx)
            return -1;
        cfg.client_tls = slot_new(ctx);
    } else if (cfg.tls_cert[0] || cfg.tls_key[0]) {
        snprintf(err, errlen, "tls_cert and tls_key need tls_listen (the wss address)");
        return -1;
    }

    /* Plain TCP only if every hub is on loopback (or insecure links are
     * allowed: each such hub is named in a warning). */
    int mode = 0;
    for (size_t i = 0; i < cfg.hub.n && mode == 0; i++) {
        mode = tls_link_mode(cfg.link_ca, cfg.link_cert, cfg.link_key, &cfg.hub.a[i],
                             cfg.allow_insecure_links, "link to the hub at", err, errlen);
        if (mode < 0)
            return -1;
    }
    if (mode == 0)
        return 0;
    SSL_CTX *ctx = tls_link_client_ctx(cfg.link_ca, cfg.link_cert, cfg.link_key, err, errlen);
    if (!ctx)
        return -1;
    /* An empty link_server_name stays empty: each attempt then expects the
     * host of the address it dials (edge/uplink.c). */
    cfg.link_tls = slot_new(ctx);
    return 0;
}

static void free_slot(struct tls_slot *s)
{
    if (!s)
        return;
    tls_slot_deinit(s);
    free(s);
}

static struct auth *load_auth(char *err, size_t errlen)
{
    struct auth_settings as = {.jwt_secret = cfg.jwt_secret,
                               .jwt_public_key = cfg.jwt_public_key,
                               .required = cfg.auth_required,
                               .default_allow = strcmp(cfg.topic_default, "allow") == 0,
                               .leeway_s = cfg.jwt_leeway_s,
                               .audience = cfg.jwt_audience,
                               .issuer = cfg.jwt_issuer};
    return auth_new(&as, err, errlen);
}

/* Who may connect and to which topics. Returns 0, or -1 with err set. */
static int setup_access(char *err, size_t errlen)
{
    int allow = strcmp(cfg.topic_default, "allow") == 0;
    if (!allow && strcmp(cfg.topic_default, "deny") != 0) {
        snprintf(err, errlen, "topic_default: '%s' is not allow or deny", cfg.topic_default);
        return -1;
    }
    char why[400];
    struct auth *a = load_auth(why, sizeof why);
    if (!a) {
        snprintf(err, errlen, "client authentication: %s", why);
        return -1;
    }
    atomic_init(&cfg.auth, a);
    if (cfg.max_conns_per_ip > 0)
        cfg.iplimit = iplimit_new((uint32_t)cfg.max_conns_per_ip);
    cfg.files = www_files_new();
    return 0;
}

/* Certificates are re-read from the same files: new handshakes use them,
 * connections already up keep theirs. A file that fails to load leaves the
 * old certificate in place. */
static void reload_certs(void)
{
    char err[512];
    if (cfg.client_tls) {
        SSL_CTX *ctx = tls_client_facing_ctx(cfg.tls_cert, cfg.tls_key, err, sizeof err);
        if (ctx) {
            tls_slot_set(cfg.client_tls, ctx);
            log_info("wss certificate reloaded from %s", cfg.tls_cert);
        } else {
            log_error("wss certificate reload failed, the old one stays: %s", err);
        }
    }
    if (cfg.link_tls) {
        SSL_CTX *ctx =
            tls_link_client_ctx(cfg.link_ca, cfg.link_cert, cfg.link_key, err, sizeof err);
        if (ctx) {
            tls_slot_set(cfg.link_tls, ctx);
            log_info("link certificate reloaded from %s (used from the next reconnection)",
                     cfg.link_cert);
        } else {
            log_error("link certificate reload failed, the old one stays: %s", err);
        }
    }
}

/* A rotated jwt_public_key file: tokens are checked against the new key
 * from now on; connections already open are not checked again. */
static void reload_jwt_key(void)
{
    char err[400];
    struct auth *a = load_auth(err, sizeof err);
    if (!a) {
        log_error("jwt_public_key reload failed, the old key stays: %s", err);
        return;
    }
    struct auth *old = atomic_exchange_explicit(&cfg.auth, a, memory_order_acq_rel);
    cfg.auth_retired =
        xrealloc(cfg.auth_retired, (cfg.nauth_retired + 1) * sizeof *cfg.auth_retired);
    cfg.auth_retired[cfg.nauth_retired++] = old;
    log_info("jwt_public_key reloaded from %s", cfg.jwt_public_key);
}

static void on_sighup(struct ev_loop *loop, ev_signal *s, int revents)
{
    int key = cfg.jwt_public_key[0] != '\0';
    if (!cfg.client_tls && !cfg.link_tls && !key) {
        log_info("SIGHUP: nothing to reload (no certificates or key files; the policy comes "
                 "from the hub: send SIGHUP to spoke-hub)");
        return;
    }
    log_info("SIGHUP: reloading certificates and key files");
    reload_certs();
    if (key)
        reload_jwt_key();
}

static struct edge_ctl ctl;
static struct worker *workers;
static unsigned nworkers;
static int draining;
static uint16_t admin_port;
static int ready_accepting = -1; /* "accepting" in the ready file; -1: not written yet */

/* Port 0 means any free port: the first worker's bind picks it, and every
 * other worker binds that same port (SO_REUSEPORT), so it is chosen once. */
static void adopt_bound_ports(const struct worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        struct net_addr *a = w->listeners[i].tls ? &cfg.tls_listen : &cfg.listen;
        if (a->port == 0)
            a->port = net_local_port(w->listeners[i].fd);
    }
}

/* The ready file: the bound ports with "accepting" false, then true once
 * every worker listens (the hub's first policy has come), false again from
 * a drain on. Main thread only, a few writes in a process's life. Returns
 * 0, or -1 with err set. */
static int update_ready_file(char *err, size_t errlen)
{
    int accepting = !draining && atomic_load(&ctl.listening) == nworkers;
    if (!cfg.ready_file[0] || accepting == ready_accepting)
        return 0;
    json_t *doc = json_pack("{sI ss sI sI so sI sb}", "pid", (json_int_t)getpid(), "name", cfg.name,
                            "workers", (json_int_t)nworkers, "ws", (json_int_t)cfg.listen.port,
                            "wss", cfg.client_tls ? json_integer(cfg.tls_listen.port) : json_null(),
                            "admin", (json_int_t)admin_port, "accepting", accepting);
    int rc = readyfile_write(cfg.ready_file, doc, err, errlen);
    json_decref(doc);
    if (rc == 0)
        ready_accepting = accepting;
    return rc;
}

/* After startup a failed rewrite is only logged: the edge serves on. */
static void refresh_ready_file(void)
{
    char err[512];
    if (update_ready_file(err, sizeof err) < 0)
        log_error("%s", err);
}

static void on_worker_listening(struct ev_loop *loop, ev_async *a, int revents)
{
    refresh_ready_file();
}

/* SIGTERM or the hub's DRAIN: stop accepting, close the clients with 1001
 * over drain_period, then exit 0. Idempotent. */
static void start_drain(struct ev_loop *loop, const char *why)
{
    if (draining)
        return;
    draining = 1;
    log_info("%s: draining over %.1f s (SIGINT or another SIGTERM stops at once)", why,
             atomic_load(&ctl.drain_ms) / 1000.0);
    for (unsigned i = 0; i < nworkers; i++)
        worker_drain(&workers[i]);
    refresh_ready_file(); /* "accepting": false */
}

static void on_drain_request(struct ev_loop *loop, ev_async *a, int revents)
{
    start_drain(loop, "the hub asked for a drain");
}

static void on_worker_drained(struct ev_loop *loop, ev_async *a, int revents)
{
    if (atomic_load(&ctl.drained) >= nworkers) {
        log_info("drain complete");
        ev_break(loop, EVBREAK_ALL);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    if (s->signum == SIGTERM && !draining) {
        start_drain(loop, "SIGTERM");
        return;
    }
    log_info("received %s: closing clients and stopping now", strsignal(s->signum));
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    char host[256] = "edge";
    if (gethostname(host, sizeof host - 1) != 0 || !connid_name_is_valid(host, strlen(host)))
        strcpy(host, "edge");
    cfg.name = xstrdup(host);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.workers = ncpu > 0 ? ncpu : 1;

    const struct conf_spec spec = {
        "spoke-edge", "Terminates client WebSockets and relays them through a spoke hub.", options,
        sizeof options / sizeof options[0]};
    conf_load(&spec, argc, argv, SPOKE_VERSION);
    log_min_level = cfg.log_level;

    if (!connid_name_is_valid(cfg.name, strlen(cfg.name)))
        usage_error("name: use 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'");
    if (!region_is_valid(cfg.region))
        usage_error("region: use up to 64 characters of [A-Za-z0-9._-]");
    if (cfg.reconnect_max_ms < cfg.reconnect_min_ms)
        usage_error("reconnect_max_ms must not be below reconnect_min_ms");

    char err[512], addr[300];
    if (resolve_hubs(err, sizeof err) < 0)
        usage_error(err);
    if (setup_tls(err, sizeof err) < 0 || setup_access(err, sizeof err) < 0)
        usage_error(err);
    if (getrandom(&cfg.boot, sizeof cfg.boot, 0) != sizeof cfg.boot)
        cfg.boot = (uint32_t)getpid() ^ (uint32_t)time(NULL);

    signal(SIGPIPE, SIG_IGN);
    /* Workers inherit this mask: signals are handled in the main loop only. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    log_set_component(cfg.name);
    unsigned n = (unsigned)cfg.workers;
    /* The control block workers use to reach the main loop: set up before
     * any worker thread exists. */
    ctl.loop = EV_DEFAULT;
    atomic_init(&ctl.drained, 0);
    atomic_init(&ctl.drain_ms, cfg.drain_ms);
    ev_async_init(&ctl.drain_request, on_drain_request);
    ev_async_init(&ctl.worker_drained, on_worker_drained);
    atomic_init(&ctl.listening, 0);
    ev_async_init(&ctl.worker_listening, on_worker_listening);
    ev_async_start(ctl.loop, &ctl.drain_request);
    ev_async_start(ctl.loop, &ctl.worker_drained);
    ev_async_start(ctl.loop, &ctl.worker_listening);
    cfg.ctl = &ctl;
    workers = xcalloc(n, sizeof *workers);
    nworkers = n;
    int rc = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        if (worker_init(&workers[i], &cfg, i, err, sizeof err) < 0) {
            log_error("%s", err);
            rc = 1;
            break;
        }
        if (i == 0)
            adopt_bound_ports(&workers[0]);
    }
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        if (worker_start(&workers[i]) < 0) {
            log_error("cannot start worker %u: %s", i, strerror(errno));
            rc = 1;
            break;
        }
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    struct edge_admin admin = {&cfg, workers, n, NULL};
    if (rc == 0 && edge_admin_start(&admin, ctl.loop, err, sizeof err) < 0) {
        log_error("admin endpoint: %s", err);
        rc = 1;
    }
    if (rc == 0) {
        admin_port = httpd_port(admin.httpd);
        if (update_ready_file(err, sizeof err) < 0) {
            log_error("%s", err);
            rc = 1;
        }
    }
    if (rc == 0) {
        char tlsaddr[300], hubs[NET_ADDR_LIST_MAX * 300];
        log_info("spoke-edge %s: %s (region %s) serving ws://%s/ws%s%s%s with %u worker%s; "
                 "hub%s %s (%s); client auth: %s",
                 SPOKE_VERSION, cfg.name, cfg.region[0] ? cfg.region : "-",
                 net_format_addr(&cfg.listen, addr, sizeof addr),
                 cfg.client_tls ? " and wss://" : "",
                 cfg.client_tls ? net_format_addr(&cfg.tls_listen, tlsaddr, sizeof tlsaddr) : "",
                 cfg.client_tls ? "/ws" : "", n, n == 1 ? "" : "s", cfg.nhubs == 1 ? "" : "s",
                 hub_list(hubs, sizeof hubs), cfg.link_tls ? "TLS" : "plain TCP",
                 !auth_enabled(edge_auth(&cfg))   ? "none"
                 : auth_required(edge_auth(&cfg)) ? "JWT required"
                                                  : "JWT optional");
        struct ev_loop *loop = ctl.loop;
        ev_signal sigint, sigterm, sighup;
        ev_signal_init(&sigint, on_signal, SIGINT);
        ev_signal_init(&sigterm, on_signal, SIGTERM);
        ev_signal_init(&sighup, on_sighup, SIGHUP);
        ev_signal_start(loop, &sigint);
        ev_signal_start(loop, &sigterm);
        ev_signal_start(loop, &sighup);
        ev_run(loop, 0);
        ev_signal_stop(loop, &sigint);
        ev_signal_stop(loop, &sigterm);
        ev_signal_stop(loop, &sighup);
    }
    if (ready_accepting >= 0)
        readyfile_remove(cfg.ready_file);
    edge_admin_stop(&admin);
    ev_async_stop(ctl.loop, &ctl.drain_request);
    ev_async_stop(ctl.loop, &ctl.worker_drained);
    ev_async_stop(ctl.loop, &ctl.worker_listening);
    for (unsigned i = 0; i < started; i++)
        worker_stop(&workers[i]);
    for (unsigned i = 0; i < n; i++) {
        worker_join(&workers[i]);
        worker_deinit(&workers[i]);
    }
    free(workers);
    ev_loop_destroy(ctl.loop);
    free(cfg.name);
    free(cfg.region);
    free(cfg.public_url);
    free_slot(cfg.client_tls);
    free_slot(cfg.link_tls);
    auth_free(edge_auth(&cfg));
    for (size_t i = 0; i < cfg.nauth_retired; i++)
        auth_free(cfg.auth_retired[i]);
    free(cfg.auth_retired);
    iplimit_free(cfg.iplimit);
    assets_free((struct assets *)cfg.files);
    char **strs[] = {&cfg.tls_listen_str,   &cfg.tls_cert,
                     &cfg.tls_key,          &cfg.link_ca,
                     &cfg.link_cert,        &cfg.link_key,
                     &cfg.link_server_name, &cfg.jwt_secret,
                     &cfg.jwt_public_key,   &cfg.topic_default,
                     &cfg.allowed_origins,  &cfg.jwt_audience,
                     &cfg.jwt_issuer,       &cfg.admin_allowed_hosts,
                     &cfg.ready_file};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
