/* A new edge link until its HELLO is taken: the bounds on strangers (a
 * deadline each, a cap in all and per source address), the HELLO checks,
 * and the answer that opens the link (the hub's HELLO and the edge's
 * policy). Before HELLO a connection may be anyone, so everything here
 * assumes a hostile peer (docs/protocol.md, "HELLO exchange"). */
#include <stdio.h>
#include <string.h>

#include "common/connid.h"
#include "common/hooks_conf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/tls.h"
#include "common/version.h"
#include "hub/cluster.h"
#include "hub/edge_link_internal.h"
#include "hub/interest.h"
#include "hub/policy.h"
#include "hub/publog.h"
#include "hub/registry.h"

static int text_is_printable(const struct link_str *s)
{
    for (uint32_t i = 0; i < s->len; i++)
        if ((unsigned char)s->ptr[i] < 0x20 || (unsigned char)s->ptr[i] > 0x7e)
            return 0;
    return 1;
}

static void copy_str(char *dst, size_t cap, const struct link_str *s)
{
    size_t n = s->len < cap - 1 ? s->len : cap - 1;
    memcpy(dst, s->ptr, n);
    dst[n] = '\0';
}

static void on_hello_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct edge_link *l = w->data;
    l->hub->stats.links_hello_timeout++;
    edge_link__close(l, LOG_WARN, "dropped: no hello within %ld ms",
                     l->hub->cfg.link_hello_timeout_ms);
}

/* The oldest waiting link of that source goes when it holds its share, else
 * the oldest waiting one of all when the hub holds its maximum. Dropping the
 * oldest rather than refusing the newest means connections that never say
 * anything cannot lock real edges out: an edge says HELLO within a round
 * trip of connecting, so it is never the oldest for long. O(links waiting),
 * which link_max_awaiting_hello bounds. */
void edge_link__make_room(struct hub *h, const uint8_t *src, size_t srclen)
{
    size_t same = 0;
    struct edge_link *oldest_same = NULL;
    for (struct edge_link *l = h->awaiting; l; l = l->anext) {
        if (l->srclen == srclen && memcmp(l->src, src, srclen) == 0) {
            if (!oldest_same)
                oldest_same = l;
            same++;
        }
    }
    struct edge_link *victim = NULL;
    if (same >= (size_t)h->cfg.link_max_awaiting_per_addr)
        victim = oldest_same;
    else if (h->nlinks_pending >= (size_t)h->cfg.link_max_awaiting_hello)
        victim = h->awaiting;
    if (victim) {
        h->stats.links_evicted++;
        edge_link__close(victim, LOG_WARN,
                         "dropped: still no hello after %.0f ms, and a newer link needs its place",
                         (ev_now(h->loop) - victim->accepted_at) * 1000.0);
    }
}

void edge_link__await_hello(struct edge_link *l)
{
    struct hub *h = l->hub;
    ev_timer_init(&l->hello_timer, on_hello_timeout, h->cfg.link_hello_timeout_ms / 1000.0, 0.);
    l->hello_timer.data = l;
    ev_timer_start(h->loop, &l->hello_timer);
    edge_link__awaiting_add(l);
}

int edge_link__on_hello(struct edge_link *l, const struct link_msg *m)
{
    struct hub *h = l->hub;
    int name_ok = connid_name_is_valid(m->name.ptr, m->name.len);
    if (name_ok && m->worker < CONNID_WORKER_LIMIT)
        snprintf(l->label, sizeof l->label, "%.*s/%u", (int)m->name.len, m->name.ptr, m->worker);

    if (m->version != LINK_PROTOCOL_VERSION)
        return edge_link__refuse(l, 426, "unsupported link protocol version %u; this hub speaks %d",
                                 m->version, LINK_PROTOCOL_VERSION);
    if (!name_ok)
        return edge_link__refuse(l, 400, "invalid edge name (1..%d bytes of A-Z a-z 0-9 . _ -)",
                                 LINK_MAX_NAME);
    if (m->worker >= CONNID_WORKER_LIMIT)
        return edge_link__refuse(l, 400, "invalid worker %u (must be below %d)", m->worker,
                                 CONNID_WORKER_LIMIT);
    /* Its connection ids carry the boot as 8 hex digits: a wider one could
     * never match a sender of this link (common/connid.h). */
    if (m->boot > UINT32_MAX)
        return edge_link__refuse(l, 400, "invalid boot %llx (must fit in 32 bits)",
                                 (unsigned long long)m->boot);
    if (!text_is_printable(&m->region) || !text_is_printable(&m->software) ||
        !text_is_printable(&m->public_url))
        return edge_link__refuse(l, 400, "region, software and public_url must be printable ASCII");
    if (l->io.ssl) {
        /* With TLS an edge is who its certificate says: a HELLO naming
         * another edge would let one compromised edge take over another's
         * connections and topics. */
        char name[LINK_MAX_NAME + 1];
        copy_str(name, sizeof name, &m->name);
        if (!tls_peer_is(l->io.ssl, name)) {
            char who[300];
            return edge_link__refuse(l, 403,
                                     "edge name '%s' is not in this link's certificate (%s)", name,
                                     tls_peer_describe(l->io.ssl, who, sizeof who));
        }
    }

    /* An edge worker reconnecting after network trouble may arrive before
     * we noticed its old link is dead: the newer link wins. */
    struct edge_link *old = registry_find(h->registry, m->name.ptr, m->name.len, m->worker);
    if (old)
        edge_link__close(old, LOG_INFO, "replaced by a new link from %s", l->addr);

    copy_str(l->name, sizeof l->name, &m->name);
    copy_str(l->region, sizeof l->region, &m->region);
    copy_str(l->software, sizeof l->software, &m->software);
    l->worker = m->worker;
    l->boot = m->boot;
    l->peer_heartbeat_ms = m->heartbeat_ms;
    copy_str(l->public_url, sizeof l->public_url, &m->public_url);
    registry_add(h->registry, m->name.ptr, m->name.len, m->worker, l);
    l->peer = interest_peer_new(h->interest, l);
    edge_link__stop_awaiting(l);
    l->state = EDGE_LINK_OPEN;
    h->nlinks_open++;

    struct link_msg hello = {
        .type = LINK_HELLO,
        .version = LINK_PROTOCOL_VERSION,
        .name = link_str_c(h->cfg.name),
        .region = link_str_c(""),
        .worker = 0,
        .software = link_str_c(SPOKE_VERSION),
        .boot = h->boot,
        .heartbeat_ms = (uint32_t)h->cfg.heartbeat_ms,
    };
    if (linkio_send(&l->io, &hello) < 0)
        return edge_link__refuse(l, 500, "cannot send hello: %s", l->io.err);
    /* The edge accepts no client before it has a policy: send it with the
     * HELLO, in the same flush. */
    struct link_msg pol = {.type = LINK_POLICY};
    hub_policy_effective(h, l->name, strlen(l->name), &pol.policy);
    if (linkio_send(&l->io, &pol) < 0)
        return edge_link__refuse(l, 500, "cannot send policy: %s", l->io.err);
    l->policy_sent = pol.policy;
    /* The hooks after the policy, in the same flush, on every link even
     * when all are off: the edge may hold another hub's, or this hub's from
     * before a restart, and must not keep calling a backend no longer
     * configured. */
    if (h->hooks && edge_link__send_hooks(l) < 0)
        return edge_link__refuse(l, 500, "cannot send hooks: %s", l->io.err);
    /* The results of its latest publishes, kept from an earlier link of
     * this very run of the worker if it had one. */
    l->pubs = publog_attach(h->publog, l->name, strlen(l->name), l->worker, l->boot,
                            (size_t)pol.policy.max_pending_publishes, l);
    edge_link__mark_dirty(l);
    cluster_links_changed(h->cluster); /* other hubs learn where this worker is */
    log_info("%s (region %s, version %s) linked from %s", l->label, l->region[0] ? l->region : "-",
             l->software[0] ? l->software : "-", l->addr);
    return 0;
}
