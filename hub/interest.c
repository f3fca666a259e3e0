/* The hub's own interest table and fan-out (see interest.h). */
#include "hub/interest.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* A live message held back for one membership: the encoded MESSAGE, and
 * the epoch of its seq. */
struct held {
    struct held *next;
    uint64_t seq;
    uint32_t len;
    uint8_t epoch_len;
    char epoch[LINK_MAX_EPOCH];
    uint8_t bytes[];
};

static int same_epoch(struct link_str a, const char *b, size_t blen)
{
    return a.len == blen && (!blen || memcmp(a.ptr, b, blen) == 0);
}

struct interest_hold {
    uint64_t id;
    uint32_t pending; /* replays this membership waits for */
    uint64_t skip_to; /* live messages up to here are not for it */
    struct held *head, *tail;
};

struct interest {
    struct dict topics; /* topic -> struct interest_topic */
    size_t max_peer_topics;
    uint64_t next_hold;
};

struct interest *interest_new(size_t max_peer_topics)
{
    struct interest *t = xcalloc(1, sizeof *t);
    dict_init(&t->topics);
    t->max_peer_topics = max_peer_topics;
    return t;
}

static void topic_free(void *v)
{
    struct interest_topic *tp = v;
    free(tp->members);
    free(tp);
}

void interest_free(struct interest *t)
{
    if (!t)
        return;
    dict_deinit(&t->topics, topic_free);
    free(t);
}

size_t interest_topic_count(const struct interest *t)
{
    return t->topics.count;
}

struct interest_peer *interest_peer_new(struct interest *t, void *owner)
{
    struct interest_peer *p = xcalloc(1, sizeof *p);
    p->owner = owner;
    dict_init(&p->topics);
    return p;
}

/* ---- holds ----------------------------------------------------------------- */

static void hold_free(struct interest_member *m)
{
    struct interest_hold *h = m->hold;
    if (!h)
        return;
    for (struct held *x = h->head, *next; x; x = next) {
        next = x->next;
        m->peer->held_bytes -= x->len;
        free(x);
    }
    free(h);
    m->hold = NULL;
    m->topic->holds--;
}

uint64_t interest_hold(struct interest *t, struct interest_member *m)
{
    if (!m->hold) {
        m->hold = xcalloc(1, sizeof *m->hold);
        m->hold->id = ++t->next_hold;
        m->topic->holds++;
    }
    m->hold->pending++;
    return m->hold->id;
}

int interest_holds(const struct interest_member *m, uint64_t hold_id)
{
    return m->hold && m->hold->id == hold_id && m->hold->pending;
}

/* Sends the held messages of epoch up to upto (or drops them, at or below
 * skip_to), and drops those of other epochs: stale copies. Stops at the
 * first of epoch above upto. */
static void send_held(struct interest_member *m, uint64_t upto, struct link_str epoch,
                      const struct interest_out *out)
{
    struct interest_hold *h = m->hold;
    struct held *x;
    while ((x = h->head)) {
        int mine = same_epoch(epoch, x->epoch, x->epoch_len);
        if (mine && x->seq > upto)
            break;
        h->head = x->next;
        if (!h->head)
            h->tail = NULL;
        m->peer->held_bytes -= x->len;
        if (mine && x->seq > h->skip_to)
            out->send(m->peer->owner, x->bytes, x->len, out->ud);
        free(x);
    }
}

void interest_send_held(struct interest_member *m, uint64_t upto, struct link_str epoch,
                        const struct interest_out *out)
{
    if (m->hold)
        send_held(m, upto, epoch, out);
}

void interest_release(struct interest_member *m, uint64_t skip_to, struct link_str epoch,
                      const struct interest_out *out)
{
    struct interest_hold *h = m->hold;
    struct interest_topic *tp = m->topic;
    if (!h || !h->pending)
        return;
    int covers = tp->state != INTEREST_READY || same_epoch(epoch, tp->epoch, strlen(tp->epoch));
    if (covers && skip_to > h->skip_to)
        h->skip_to = skip_to;
    if (--h->pending)
        return;
    send_held(m, UINT64_MAX, epoch, out);
    /* Kept only to skip live copies of what the replay covered that have
     * not arrived yet (an engine that answered the read first). */
    if (h->skip_to <= m->topic->seq)
        hold_free(m);
}

/* ---- membership --------------------------------------------------------------- */

/* Takes m out of its topic's member array (swap with the last: O(1)) and
 * forgets the topic when that was its last member. Returns 1 if the topic
 * went. Does not touch the peer's dict. */
static int member_unlink(struct interest *t, struct interest_member *m)
{
    struct interest_topic *tp = m->topic;
    hold_free(m);
    struct interest_slot last = tp->members[--tp->n];
    tp->members[m->slot] = last;
    last.m->slot = m->slot;
    free(m);
    if (tp->n)
        return 0;
    /* The name points into the dict entry; dict_delete compares before it
     * frees, so passing the entry's own key is safe. */
    dict_delete(&t->topics, tp->name, tp->len);
    topic_free(tp);
    return 1;
}

void interest_peer_free(struct interest *t, struct interest_peer *p,
                        void (*gone)(struct link_str topic, void *ud), void *ud)
{
    if (!p)
        return;
    struct dict_iter it;
    dict_iter_init(&it, &p->topics);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct interest_member *m = e->value;
        if (m->topic->n == 1 && gone)
            gone((struct link_str){m->topic->name, m->topic->len}, ud);
        member_unlink(t, m);
    }
    dict_deinit(&p->topics, NULL);
    free(p);
    /* A flood of topics leaves no oversized table behind. */
    dict_shrink(&t->topics);
}

int interest_add(struct interest *t, struct interest_peer *p, struct link_str topic,
                 struct interest_member **out)
{
    struct interest_member *m = dict_get(&p->topics, topic.ptr, topic.len);
    if (m) {
        *out = m;
        return 0;
    }
    if (p->topics.count >= t->max_peer_topics)
        return INTEREST_PEER_FULL;
    int rc = 1;
    struct interest_topic *tp = dict_get(&t->topics, topic.ptr, topic.len);
    if (!tp) {
        tp = xcalloc(1, sizeof *tp);
        tp->state = INTEREST_PENDING;
        struct dict_entry *e = dict_add(&t->topics, topic.ptr, topic.len, tp);
        tp->name = e->key;
        tp->len = e->klen;
        rc = 2;
    }
    if (tp->n == tp->cap) {
        tp->cap = tp->cap ? tp->cap * 2 : 4;
        tp->members = xrealloc(tp->members, tp->cap * sizeof *tp->members);
    }
    m = xcalloc(1, sizeof *m);
    m->peer = p;
    m->topic = tp;
    m->slot = tp->n;
    tp->members[tp->n++] = (struct interest_slot){p->owner, m};
    dict_add(&p->topics, topic.ptr, topic.len, m);
    *out = m;
    return rc;
}

int interest_remove(struct interest *t, struct interest_peer *p, struct link_str topic)
{
    struct interest_member *m = dict_delete(&p->topics, topic.ptr, topic.len);
    if (!m)
        return 0;
    int gone = member_unlink(t, m);
    dict_shrink(&p->topics);
    dict_shrink(&t->topics);
    return gone ? 2 : 1;
}

struct interest_member *interest_member_of(const struct interest_peer *p, struct link_str topic)
{
    return p ? dict_get(&p->topics, topic.ptr, topic.len) : NULL;
}

struct interest_topic *interest_find(const struct interest *t, struct link_str topic)
{
    return dict_get(&t->topics, topic.ptr, topic.len);
}

/* ---- fan-out ------------------------------------------------------------------- */

static void hold_push(struct interest_member *m, uint64_t seq, struct link_str epoch,
                      const uint8_t *msg, size_t len, const struct interest_out *out)
{
    if (m->peer->held_bytes + len > out->max_held) {
        out->overflow(m->peer->owner, out->ud);
        return;
    }
    struct held *x = xmalloc(sizeof *x + len);
    x->next = NULL;
    x->seq = seq;
    x->len = (uint32_t)len;
    x->epoch_len = (uint8_t)epoch.len;
    if (epoch.len)
        memcpy(x->epoch, epoch.ptr, epoch.len);
    memcpy(x->bytes, msg, len);
    if (m->hold->tail)
        m->hold->tail->next = x;
    else
        m->hold->head = x;
    m->hold->tail = x;
    m->peer->held_bytes += len;
}

int interest_is_new(const struct interest_topic *tp, uint64_t seq, struct link_str epoch)
{
    if (epoch.len > LINK_MAX_EPOCH)
        return 0;
    if (!same_epoch(epoch, tp->epoch, strlen(tp->epoch)))
        return tp->state != INTEREST_READY; /* PENDING: the epoch it follows changes */
    return seq > tp->seq;
}

void interest_deliver(struct interest *t, struct interest_topic *tp, uint64_t seq,
                      struct link_str epoch, const uint8_t *msg, size_t len,
                      const struct interest_out *out)
{
    if (!interest_is_new(tp, seq, epoch))
        return;
    if (!same_epoch(epoch, tp->epoch, strlen(tp->epoch))) {
        memcpy(tp->epoch, epoch.ptr, epoch.len);
        tp->epoch[epoch.len] = '\0';
    }
    tp->seq = seq;
    /* The callbacks only queue output: they change no interest, so tp and
     * its members stay put for the whole walk. Without holds (the usual
     * case) the owners inline in members[] are all it reads: no load
     * through each membership. */
    if (!tp->holds) {
        for (uint32_t k = 0; k < tp->n; k++)
            out->send(tp->members[k].owner, msg, len, out->ud);
        return;
    }
    for (uint32_t k = 0; k < tp->n; k++) {
        struct interest_member *m = tp->members[k].m;
        struct interest_hold *h = m->hold;
        if (!h) {
            out->send(tp->members[k].owner, msg, len, out->ud);
        } else if (seq <= h->skip_to) {
            /* covered by the replay it had */
        } else if (h->pending) {
            hold_push(m, seq, epoch, msg, len, out);
        } else {
            out->send(tp->members[k].owner, msg, len, out->ud);
        }
        if (h && !h->pending && h->skip_to <= seq)
            hold_free(m);
    }
}

void interest_moved(struct interest_topic *tp, uint64_t seq, struct link_str epoch)
{
    if (epoch.len > LINK_MAX_EPOCH)
        return;
    memcpy(tp->epoch, epoch.ptr, epoch.len);
    tp->epoch[epoch.len] = '\0';
    tp->seq = seq;
    for (uint32_t k = 0; k < tp->n; k++) {
        struct interest_member *m = tp->members[k].m;
        if (!m->hold)
            continue;
        if (m->hold->pending)
            m->hold->skip_to = 0;
        else
            hold_free(m);
    }
}
