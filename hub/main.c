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
#include "common/log.h"
#include "common/net.h"
#include "common/version.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/link.h"
#include "hub/route.h"

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct hub *h = w->data;
    log_info("shutting down");
    link_server_stop(h);
    http_server_free(h->http);
    h->http = NULL;
    ev_signal_stop(loop, &h->sigint);
    ev_signal_stop(loop, &h->sigterm);
    ev_break(loop, EVBREAK_ALL);
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
        link_server_stop(h);
        http_server_free(h->http);
        h->http = NULL;
        ev_loop_destroy(h->loop);
        h->loop = NULL;
    }
    route_free(h->route);
    h->route = NULL;
    if (h->spare_fd >= 0)
        close(h->spare_fd);
    h->spare_fd = -1;
    free(h->cfg.name);
    h->cfg.name = NULL;
}

int main(int argc, char **argv)
{
    struct hub hub;
    struct hub *h = &hub;
    memset(h, 0, sizeof *h);
    h->link_fd = -1;
    h->spare_fd = -1;

    const struct conf_opt opts[] = {
        {"listen", CONF_ADDR, &h->cfg.listen, "127.0.0.1:7400", 0, 0,
         "address for edge links"},
        {"http", CONF_ADDR, &h->cfg.http, "127.0.0.1:7480", 0, 0,
         "address for the admin HTTP API"},
        {"name", CONF_STR, &h->cfg.name, "hub", 0, 0,
         "name this hub gives in its hello (1..64 of A-Z a-z 0-9 . _ -)"},
        {"log_level", CONF_LOGLEVEL, &h->cfg.log_level, "info", 0, 0,
         "debug, info, warn or error"},
        {"heartbeat_ms", CONF_INT, &h->cfg.heartbeat_ms, "5000", 50, 600000,
         "heartbeat period; a link silent for 3 periods is dropped"},
        {"link_max_pending", CONF_INT, &h->cfg.link_max_pending, "67108864", 65536,
         1L << 40, "bytes of unwritten output after which a link is dropped as congested"},
        {"link_max_topics", CONF_INT, &h->cfg.link_max_topics, "1048576", 1, 1L << 32,
         "topics one edge link may be interested in; more drops the link"},
    };
    const struct conf_spec spec = {
        .prog = "spoke-hub",
        .summary = "spoke hub: routes publishes and direct messages between edge workers",
        .opts = opts,
        .nopts = sizeof opts / sizeof opts[0],
    };
    conf_load(&spec, argc, argv, SPOKE_VERSION);
    log_min_level = h->cfg.log_level;
    log_set_component("hub");

    if (!link_name_is_valid(h->cfg.name, strlen(h->cfg.name))) {
        fprintf(stderr, "spoke-hub: name: '%s' is not 1..64 bytes of A-Z a-z 0-9 . _ -\n",
                h->cfg.name);
        free(h->cfg.name);
        return 2;
    }

    /* A write to a link whose edge vanished must fail with EPIPE, not kill
     * the hub. */
    signal(SIGPIPE, SIG_IGN);

    h->loop = ev_default_loop(EVFLAG_AUTO);
    if (!h->loop) {
        fprintf(stderr, "spoke-hub: cannot initialise the event loop\n");
        free(h->cfg.name);
        return 1;
    }
    h->boot = random_u64();
    h->route = route_new();
    h->spare_fd = net_open_spare();

    char err[512], addr[300];
    if (link_server_start(h, err, sizeof err) < 0) {
        fprintf(stderr, "spoke-hub: %s\n", err);
        hub_cleanup(h);
        return 1;
    }
    h->http = http_server_new(h, &h->cfg.http, err, sizeof err);
    if (!h->http) {
        fprintf(stderr, "spoke-hub: %s\n", err);
        hub_cleanup(h);
        return 1;
    }

    /* Report the bound ports, which differ from the settings for port 0. */
    struct net_addr shown = h->cfg.listen;
    shown.port = link_server_port(h);
    log_info("listening for edge links on %s", net_format_addr(&shown, addr, sizeof addr));
    shown = h->cfg.http;
    shown.port = http_server_port(h->http);
    log_info("admin HTTP on %s", net_format_addr(&shown, addr, sizeof addr));
    log_info("spoke-hub %s started (boot %016llx, heartbeat %ld ms)", SPOKE_VERSION,
             (unsigned long long)h->boot, h->cfg.heartbeat_ms);

    ev_signal_init(&h->sigint, on_signal, SIGINT);
    h->sigint.data = h;
    ev_signal_start(h->loop, &h->sigint);
    ev_signal_init(&h->sigterm, on_signal, SIGTERM);
    h->sigterm.data = h;
    ev_signal_start(h->loop, &h->sigterm);

    ev_run(h->loop, 0);

    hub_cleanup(h);
    return 0;
}
