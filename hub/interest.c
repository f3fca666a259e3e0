/* The hub's own interest table and fan-out (see interest.h). */
#include "hub/interest.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "hub/epoch.h"

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

/* Whether a is tp's epoch, without measuring it (once or twice per live
 * message): its end, then its a.len bytes; the hub's own epochs
 * (HUB_EPOCH_LEN, 8) in one load each instead of a call. */
static int is_tp_epoch(struct link_str a, const struct interest_topic *tp)
{
    if (a.len > LINK_MAX_EPOCH || tp->epoch[a.len] != '\0')
        return 0;
    _Static_assert(HUB_EPOCH_LEN == 8, "is_tp_epoch compares the hub's epochs as 8 bytes");
    if (a.len == HUB_EPOCH_LEN) {
        uint64_t x, y;
        memcpy(&x, a.ptr, sizeof x);
        memcpy(&y, tp->epoch, sizeof y);
        return x == y;
    }
    return !a.len || memcmp(a.ptr, tp->epoch, a.len) == 0;
}

struct interest_hold {
    uint64_t id;
    uint32_t pending; /* replays this membership waits for */
    uint64_t skip_to; /* live messages up to here are not for it */
    struct held *head, *tail;
};

struct interest {
    struct strtab topics; /* struct interest_topic by name */
    size_t max_peer_topics;
    uint64_t next_hold;
};

struct interest *interest_new(size_t max_peer_topics)
{
    struct interest *t = xcalloc(1, sizeof *t);
    strtab_init(&t->topics);
    t->max_peer_topics = max_peer_topics;
    return t;
}

static void topic_free(void *v)
{
    struct interest_topic *tp = v;
    if (tp->cap_log2)
        free(tp->slots.many);
    free(tp);
}

void interest_free(struct interest *t)
{
    if (!t)
        return;
    struct strtab_iter it;
    strtab_iter_init(&it, &t->topics);
    for (struct strnode *n; (n = strtab_next(&it));)
        topic_free(container_of(n, struct interest_topic, node));
    strtab_deinit(&t->topics);
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
    p->table = t;
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
    int covers = tp->state != INTEREST_READY || is_tp_epoch(epoch, tp);
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

/* A topic's first member lives in the topic itself (most topics have one
 * link); the others are allocated. */
static struct interest_member *member_new(struct interest_topic *tp)
{
    struct interest_member *m = tp->one_m.topic ? xcalloc(1, sizeof *m) : &tp->one_m;
    memset(m, 0, sizeof *m);
    m->topic = tp;
    return m;
}

/* The membership of p in tp, or NULL: a walk of tp's members, which the
 * number of links bounds. */
static struct interest_member *member_find(struct interest_topic *tp, const struct interest_peer *p)
{
    struct interest_slot *s = interest_slots(tp);
    for (uint32_t k = 0; k < tp->n; k++)
        if (s[k].m->peer == p)
            return s[k].m;
    return NULL;
}

/* Takes m out of its topic's member array (swap with the last: O(1)) and
 * its peer's list, and forgets the topic when that was its last member.
 * Returns 1 if the topic went. */
static int member_unlink(struct interest *t, struct interest_member *m)
{
    struct interest_topic *tp = m->topic;
    hold_free(m);
    struct interest_slot *s = interest_slots(tp);
    struct interest_slot last = s[--tp->n];
    s[m->slot] = last;
    last.m->slot = m->slot;
    *m->pprev = m->pnext;
    if (m->pnext)
        m->pnext->pprev = m->pprev;
    m->peer->ntopics--;
    if (m == &tp->one_m)
        m->topic = NULL; /* free for the next one */
    else
        free(m);
    if (tp->n)
        return 0;
    strtab_remove(&t->topics, &tp->node);
    topic_free(tp);
    return 1;
}

void interest_peer_free(struct interest *t, struct interest_peer *p,
                        void (*gone)(struct link_str topic, void *ud), void *ud)
{
    if (!p)
        return;
    while (p->members) {
        struct interest_member *m = p->members;
        if (m->topic->n == 1 && gone)
            gone((struct link_str){m->topic->node.name, m->topic->node.len}, ud);
        member_unlink(t, m);
    }
    free(p);
    /* A flood of topics leaves no oversized table behind. */
    strtab_shrink(&t->topics);
}

int interest_add(struct interest *t, struct interest_peer *p, struct link_str topic,
                 struct interest_member **out)
{
    int rc = 1;
    struct interest_topic *tp =
        strtab_get(&t->topics, topic.ptr, topic.len, struct interest_topic, node);
    struct interest_member *m = tp ? member_find(tp, p) : NULL;
    if (m) {
        *out = m;
        return 0;
    }
    if (p->ntopics >= t->max_peer_topics)
        return INTEREST_PEER_FULL;
    if (!tp) {
        tp = xcalloc(1, sizeof *tp + strtab_name_room(topic.len));
        tp->state = INTEREST_PENDING;
        strtab_add(&t->topics, &tp->node, topic.ptr, topic.len);
        rc = 2;
    }
    if (tp->n == (tp->cap_log2 ? 1u << tp->cap_log2 : 1u)) {
        /* From the inline one to an array of 4, then doubling. */
        if (!tp->cap_log2) {
            struct interest_slot one = tp->slots.one;
            tp->slots.many = xmalloc(4 * sizeof *tp->slots.many);
            tp->slots.many[0] = one;
            tp->cap_log2 = 2;
        } else {
            tp->cap_log2++;
            tp->slots.many =
                xrealloc(tp->slots.many, ((size_t)1 << tp->cap_log2) * sizeof *tp->slots.many);
        }
    }
    m = member_new(tp);
    m->peer = p;
    m->slot = tp->n;
    interest_slots(tp)[tp->n++] = (struct interest_slot){p->owner, m};
    m->pnext = p->members;
    if (m->pnext)
        m->pnext->pprev = &m->pnext;
    m->pprev = &p->members;
    p->members = m;
    p->ntopics++;
    *out = m;
    return rc;
}

int interest_remove(struct interest *t, struct interest_peer *p, struct link_str topic)
{
    struct interest_member *m = interest_member_of(p, topic);
    if (!m)
        return 0;
    int gone = member_unlink(t, m);
    strtab_shrink(&t->topics);
    return gone ? 2 : 1;
}

struct interest_member *interest_member_of(const struct interest_peer *p, struct link_str topic)
{
    if (!p)
        return NULL;
    struct interest_topic *tp =
        strtab_get(&p->table->topics, topic.ptr, topic.len, struct interest_topic, node);
    return tp ? member_find(tp, p) : NULL;
}

struct interest_topic *interest_find(const struct interest *t, struct link_str topic)
{
    return strtab_get(&t->topics, topic.ptr, topic.len, struct interest_topic, node);
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
    if (!is_tp_epoch(epoch, tp))
        return tp->state != INTEREST_READY; /* PENDING: the epoch it follows changes */
    return seq > tp->seq;
}

void interest_deliver(struct interest *t, struct interest_topic *tp, uint64_t seq,
                      struct link_str epoch, const uint8_t *msg, size_t len,
                      const struct interest_out *out)
{
    if (!interest_is_new(tp, seq, epoch))
        return;
    if (!is_tp_epoch(epoch, tp)) {
        memcpy(tp->epoch, epoch.ptr, epoch.len);
        tp->epoch[epoch.len] = '\0';
    }
    tp->seq = seq;
    /* The callbacks only queue output: they change no interest, so tp and
     * its members stay put for the whole walk. Without holds (the usual
     * case) the owners inline in the slots are all it reads: no load
     * through each membership. */
    struct interest_slot *s = interest_slots(tp);
    if (!tp->holds) {
        for (uint32_t k = 0; k < tp->n; k++)
            out->send(s[k].owner, msg, len, out->ud);
        return;
    }
    for (uint32_t k = 0; k < tp->n; k++) {
        struct interest_member *m = s[k].m;
        struct interest_hold *h = m->hold;
        if (!h) {
            out->send(s[k].owner, msg, len, out->ud);
        } else if (seq <= h->skip_to) {
            /* covered by the replay it had */
        } else if (h->pending) {
            hold_push(m, seq, epoch, msg, len, out);
        } else {
            out->send(s[k].owner, msg, len, out->ud);
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
        struct interest_member *m = interest_slots(tp)[k].m;
        if (!m->hold)
            continue;
        if (m->hold->pending)
            m->hold->skip_to = 0;
        else
            hold_free(m);
    }
}
