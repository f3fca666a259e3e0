/* What the hub sends on a link (see linkgen.h), read with common/linkio as
 * an edge's uplink reads it: the preamble, the uncompressed HELLO, then one
 * zstd stream, every message decoded with link_decode. While setting up,
 * the HELLO, POLICY, INTEREST_RESULTs and any ERROR matter; while measuring,
 * MESSAGEs are counted, and links with `check` set also check that each
 * topic's seq goes up by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/linkio.h"
#include "tests/bench/linkgen/linkgen.h"

void lg_rx_init(struct lg_rx *r)
{
    memset(r, 0, sizeof *r);
    /* Its output side (our preamble, queued here) is never written: the
     * links' own bytes are the replay's (replay.c). */
    if (linkio_init(&r->io) < 0)
        lg_fatal("linkio: %s", r->io.err);
}

void lg_rx_deinit(struct lg_rx *r)
{
    linkio_deinit(&r->io);
    free(r->last_seq);
    memset(r, 0, sizeof *r);
}

static void check_seq(struct lg_link *l, const struct link_msg *m)
{
    struct lg_rx *r = &l->rx;
    size_t plen = strlen(l->g->o.prefix);
    if (m->topic.len <= plen + 1) {
        r->seq_gaps++;
        return;
    }
    unsigned long t = 0;
    for (uint32_t i = (uint32_t)plen + 1; i < m->topic.len; i++)
        t = t * 10 + (unsigned long)(m->topic.ptr[i] - '0');
    if (t >= l->g->o.topics) {
        r->seq_gaps++;
        return;
    }
    if (r->last_seq[t] && m->seq != r->last_seq[t] + 1)
        r->seq_gaps++;
    r->last_seq[t] = m->seq;
}

/* A linkio_msg_cb: each message the hub sent on link l (ud). */
static int on_msg(void *ud, const struct link_msg *m)
{
    struct lg_link *l = ud;
    struct lg_rx *r = &l->rx;
    char why[LINK_MAX_REASON + 1];
    switch (m->type) {
    case LINK_HELLO:
        r->hello = 1;
        lg_setup_step(l->g);
        break;
    case LINK_POLICY: r->policy = 1; break;
    case LINK_ERROR:
        snprintf(why, sizeof why, "%.*s", (int)m->reason.len, m->reason.ptr);
        lg_fatal("link %u: the hub sent ERROR %u: %s", l->idx, m->code, why);
    case LINK_INTEREST_RESULT:
        if (m->code)
            r->interest_refused++;
        else
            r->interest_ok++;
        lg_setup_step(l->g);
        break;
    case LINK_MESSAGE:
        r->messages++;
        if (r->check)
            check_seq(l, m);
        break;
    default: break;
    }
    return 0;
}

int lg_rx_read(struct lg_link *l)
{
    struct lg_rx *r = &l->rx;
    /* No budget: everything readable now is taken, so no backlog is left
     * waiting for a readiness event that will not come. */
    int rc = linkio_read(&r->io, l->fd, SIZE_MAX, on_msg, l);
    if (rc == 1)
        lg_fatal("link %u: the hub closed the link", l->idx);
    if (rc < 0)
        lg_fatal("link %u: %s", l->idx, r->io.err);
    return 0;
}
