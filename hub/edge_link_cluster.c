/* The links' side of what crosses hubs (hub/cluster.h): a direct another
 * hub relayed here goes to the link holding its target, with the same
 * bound and the same record (its origin kept) as a local one; a result
 * from another hub reaches our sender only as the answer to a direct we
 * sent to that hub; and the senders hear the cluster's own answers. */
#include <stdio.h>
#include <string.h>

#include "hub/directs.h"
#include "hub/edge_link.h"
#include "hub/edge_link_internal.h"

int edge_link_deliver_direct(struct hub *h, const struct link_msg *m, uint64_t origin, char *why,
                             size_t len)
{
    struct edge_link *t = edge_link__find_conn_str(h, &m->to);
    if (!t) {
        h->stats.directs_unknown++;
        snprintf(why, len, "unknown connection");
        return 404;
    }
    if (m->has_id && directs_add(h->directs, t->id, m->from.ptr, m->from.len, m->id, origin,
                                 ev_now(h->loop), (size_t)h->cfg.link_max_pending_directs) < 0) {
        snprintf(why, len,
                 "too many sends waiting for the target's edge (or this id is already waiting)");
        return 503;
    }
    /* If the link fails now, it goes at the end of the turn and answers
     * the record with 503, back to origin. */
    if (edge_link__send(t, m) == 0)
        t->directs_out++;
    return 0;
}

int edge_link_deliver_result(struct hub *h, uint64_t target, const struct link_msg *m)
{
    if (!directs_take(h->directs, target, m->to.ptr, m->to.len, m->id, NULL))
        return 0;
    struct edge_link *t = edge_link__find_conn_str(h, &m->to);
    /* The sender may be gone by now; nobody is left to tell. */
    if (t && edge_link__send(t, m) == 0)
        t->results_out++;
    return 1;
}

void edge_link_answer_direct(struct hub *h, struct link_str to, int64_t id, uint32_t code,
                             const char *reason)
{
    struct edge_link *t = edge_link__find_conn_str(h, &to);
    struct link_msg r = link_direct_result(to, id, code, reason);
    if (t && edge_link__send(t, &r) == 0)
        t->results_out++;
}

struct forget {
    struct hub *h;
    const char *reason;
};

static void answer(const char *from, size_t from_len, int64_t id, uint64_t origin, void *ud)
{
    struct forget *f = ud;
    if (!origin) /* a direct to another hub always has a sender of ours */
        edge_link_answer_direct(f->h, (struct link_str){from, (uint32_t)from_len}, id, 503,
                                f->reason);
}

void edge_link_forget_target(struct hub *h, uint64_t target, const char *reason)
{
    struct forget f = {h, reason};
    directs_drop_target(h->directs, target, answer, &f);
}
