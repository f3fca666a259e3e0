/* In-memory routing state for a single hub: see route.h. */
#include "hub/route.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/dict.h"
#include "common/xalloc.h"

/* One link's interest in one topic. It sits in two places at once: in the
 * topic's member array (for fan-out) and in the peer's topic dict (so a link
 * going away finds all its interest in O(its topics)). `slot` is its index
 * in the member array, kept up to date by swap-removal. */
struct interest {
    struct route_peer *peer;
    struct route_topic *topic;
    uint32_t slot;
};

/* A topic's member: the link's owner pointer inline, so publishing reads one
 * contiguous array instead of chasing interest -> peer -> owner. */
struct member {
    void *owner;
    struct interest *interest;
};

struct route_topic {
    uint64_t seq;           /* last seq assigned; 0 before the first publish */
    struct member *members; /* unordered; removal swaps the last one in */
    uint32_t n, cap;
    const char *name; /* the key inside the route's topic dict entry */
    uint32_t len;
    /* Message rate, sampled when listed: seq counts the topic's publishes. */
    uint64_t sample_seq, sample_ms;
};

struct route_peer {
    void *owner;
    struct dict topics; /* topic -> struct interest * */
    uint32_t keylen;
    char key[]; /* registry key, see reg_key() */
};

struct route {
    struct dict topics; /* topic -> struct route_topic * */
    struct dict links;  /* reg_key(name, worker) -> struct route_peer * */
    size_t max_topics, max_peer_topics;
};

/* Registry key: the name, a NUL, then the worker's 4 bytes. The fixed-size
 * suffix after a separator keeps distinct (name, worker) pairs distinct even
 * if a name contained a NUL. */
#define REG_KEY_MAX (ROUTE_MAX_NAME + 1 + 4)

static size_t reg_key(char *out, size_t cap, const char *name, size_t name_len, uint32_t worker)
{
    if (name_len + 5 > cap)
        return 0;
    memcpy(out, name, name_len);
    out[name_len] = '\0';
    memcpy(out + name_len + 1, &worker, 4);
    return name_len + 5;
}

struct route *route_new(size_t max_topics, size_t max_peer_topics)
{
    struct route *r = xcalloc(1, sizeof *r);
    r->max_topics = max_topics;
    r->max_peer_topics = max_peer_topics;
    dict_init(&r->topics);
    dict_init(&r->links);
    return r;
}

static void topic_free(void *v)
{
    struct route_topic *t = v;
    free(t->members);
    free(t);
}

static void peer_free(void *v)
{
    struct route_peer *p = v;
    dict_deinit(&p->topics, free);
    free(p);
}

void route_free(struct route *r)
{
    if (!r)
        return;
    dict_deinit(&r->links, peer_free);
    dict_deinit(&r->topics, topic_free);
    free(r);
}

struct route_peer *route_link_register(struct route *r, const char *name, size_t name_len,
                                       uint32_t worker, void *owner)
{
    char key[REG_KEY_MAX];
    size_t klen = reg_key(key, sizeof key, name, name_len, worker);
    if (!klen || dict_find(&r->links, key, klen))
        return NULL;
    struct route_peer *p = xcalloc(1, sizeof *p + klen);
    p->owner = owner;
    dict_init(&p->topics);
    p->keylen = (uint32_t)klen;
    memcpy(p->key, key, klen);
    dict_add(&r->links, key, klen, p);
    return p;
}

void *route_link_find(const struct route *r, const char *name, size_t name_len, uint32_t worker)
{
    char key[REG_KEY_MAX];
    size_t klen = reg_key(key, sizeof key, name, name_len, worker);
    if (!klen)
        return NULL;
    struct route_peer *p = dict_get(&r->links, key, klen);
    return p ? p->owner : NULL;
}

/* Takes i out of its topic's member array (swap with the last: O(1)) and
 * forgets the topic when that was its last member. Does not touch the
 * peer's dict. */
static void interest_unlink(struct route *r, struct interest *i)
{
    struct route_topic *t = i->topic;
    struct member last = t->members[--t->n];
    t->members[i->slot] = last;
    last.interest->slot = i->slot;
    if (t->n == 0) {
        /* The name points into the dict entry; dict_delete compares before
         * it frees, so passing the entry's own key is safe. */
        dict_delete(&r->topics, t->name, t->len);
        topic_free(t);
    }
    free(i);
}

void route_link_gone(struct route *r, struct route_peer *p)
{
    if (!p)
        return;
    struct dict_iter it;
    dict_iter_init(&it, &p->topics);
    for (struct dict_entry *e; (e = dict_next(&it));)
        interest_unlink(r, e->value);
    dict_deinit(&p->topics, NULL);
    dict_delete(&r->links, p->key, p->keylen);
    free(p);
    /* A flood of topics or links leaves no oversized tables behind. */
    dict_shrink(&r->topics);
    dict_shrink(&r->links);
}

int route_interest_add(struct route *r, struct route_peer *p, const char *name, size_t len)
{
    if (dict_find(&p->topics, name, len))
        return 0;
    /* The link's own limit first: it is the one the edge can act on. */
    if (p->topics.count >= r->max_peer_topics)
        return ROUTE_PEER_FULL;
    struct route_topic *t = dict_get(&r->topics, name, len);
    if (!t) {
        if (r->topics.count >= r->max_topics)
            return ROUTE_HUB_FULL;
        t = xcalloc(1, sizeof *t);
        t->sample_ms = clock_mono_ms();
        struct dict_entry *e = dict_add(&r->topics, name, len, t);
        t->name = e->key;
        t->len = e->klen;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->members = xrealloc(t->members, t->cap * sizeof *t->members);
    }
    struct interest *i = xmalloc(sizeof *i);
    i->peer = p;
    i->topic = t;
    i->slot = t->n;
    t->members[t->n].owner = p->owner;
    t->members[t->n].interest = i;
    t->n++;
    dict_add(&p->topics, name, len, i);
    return 1;
}

int route_interest_remove(struct route *r, struct route_peer *p, const char *name, size_t len)
{
    struct interest *i = dict_delete(&p->topics, name, len);
    if (!i)
        return 0;
    interest_unlink(r, i);
    dict_shrink(&p->topics);
    dict_shrink(&r->topics);
    return 1;
}

int route_peer_has(const struct route_peer *p, const char *name, size_t len)
{
    return p && dict_find(&p->topics, name, len) != NULL;
}

size_t route_peer_topics(const struct route_peer *p)
{
    return p ? p->topics.count : 0;
}

uint64_t route_publish(struct route *r, const char *name, size_t len, route_deliver_cb cb, void *ud)
{
    struct route_topic *t = dict_get(&r->topics, name, len);
    if (!t)
        return 0;
    uint64_t seq = ++t->seq;
    /* The callback promises not to change interest, so t and its members
     * stay put for the whole walk. */
    for (uint32_t k = 0; k < t->n; k++)
        cb(t->members[k].owner, seq, ud);
    return seq;
}

void route_foreach_topic(const struct route *r,
                         void (*fn)(const char *topic, size_t len, uint64_t seq, uint32_t links,
                                    double rate, void *ud),
                         void *ud)
{
    uint64_t now = clock_mono_ms();
    struct dict_iter it;
    dict_iter_init(&it, &r->topics);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct route_topic *t = e->value;
        /* Messages per second over the window since the last sample (the
         * first: since the topic appeared); a listing at least a second
         * after it starts a new window. */
        uint64_t span = now > t->sample_ms ? now - t->sample_ms : 1;
        double rate = (double)(t->seq - t->sample_seq) * 1000.0 / (double)span;
        if (span >= 1000) {
            t->sample_seq = t->seq;
            t->sample_ms = now;
        }
        fn(t->name, t->len, t->seq, t->n, rate, ud);
    }
}

size_t route_topic_count(const struct route *r)
{
    return r->topics.count;
}
