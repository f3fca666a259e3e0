/* Local subscriptions of one worker: see topic.h. */
#include "edge/topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/xalloc.h"

const struct topic_catchup topic_catchup_none;

struct topic_catchup *topic_catchup(struct topic *t)
{
    if (!topic_has_catchup(t))
        t->cu = xcalloc(1, sizeof *t->cu);
    return t->cu;
}

void topics_init(struct topics *ts, topic_answer_fn answer, void *ud, size_t subs_offset)
{
    memset(ts, 0, sizeof *ts);
    strtab_init(&ts->by_name);
    ts->answer = answer;
    ts->ud = ud;
    ts->subs_offset = subs_offset;
}

/* The list of subscriptions of connection c. */
static struct topic_subs *subs_of(const struct topics *ts, struct client *c)
{
    return (struct topic_subs *)((char *)c + ts->subs_offset);
}

/* c's subscription to the topic, or NULL; *n: how many c has (when it has
 * none to that topic). The walk costs what the list holds, which
 * max_subscriptions bounds, so no count is kept per connection. */
static struct sub *find_sub(const struct topic_subs *mine, const char *name, size_t len,
                            uint32_t *n)
{
    uint32_t k = 0;
    for (struct sub *s = mine->head; s; s = s->cnext, k++)
        if (s->t->node.len == len && memcmp(s->t->node.name, name, len) == 0)
            return s;
    if (n)
        *n = k;
    return NULL;
}

void topic_set_position(struct topic *t, uint64_t seq, const char *epoch, size_t len)
{
    t->seq = seq;
    memcpy(t->epoch, epoch, len);
    t->epoch[len] = '\0';
}

/* Puts s (of connection c) among t's members. */
static void add_member(struct topic *t, struct client *c, struct sub *s)
{
    if (t->n == t->cap) {
        /* From the inline one to an array of 4, then doubling. */
        uint32_t cap = t->cap == 1 ? 4 : t->cap * 2;
        if (t->members == &t->one) {
            t->members = xmalloc(cap * sizeof *t->members);
            t->members[0] = t->one;
        } else {
            t->members = xrealloc(t->members, cap * sizeof *t->members);
        }
        t->cap = cap;
    }
    s->slot = t->n;
    t->members[t->n].c = c;
    t->members[t->n].sub = s;
    t->n++;
    t->nmsgpack += s->enc == ENC_MSGPACK;
}

int topic_subscribe(struct topics *ts, struct client *c, struct topic_subs *mine, enum enc enc,
                    const char *name, size_t len, uint32_t max_subs, uint32_t max_topics,
                    int resuming, struct sub **out)
{
    uint32_t n;
    struct sub *s = find_sub(mine, name, len, &n);
    if (s) {
        *out = s;
        return TOPIC_ALREADY;
    }
    if (n >= max_subs)
        return TOPIC_LIMIT_SUBS;
    struct topic *t = topic_find(ts, name, len);
    int first = 0;
    if (!t) {
        if (topics_count(ts) >= max_topics)
            return TOPIC_LIMIT_TOPICS;
        t = xcalloc(1, sizeof *t + strtab_name_room(len));
        t->members = &t->one;
        t->cap = 1;
        t->cu = (struct topic_catchup *)&topic_catchup_none;
        strtab_add(&ts->by_name, &t->node, name, len);
        first = 1;
    }
    s = xcalloc(1, sizeof *s);
    s->t = t;
    s->slot = TOPIC_NOT_MEMBER;
    s->enc = (uint8_t)enc;
    s->cnext = mine->head;
    mine->head = s;
    if (!resuming)
        add_member(t, c, s);
    ts->nsubs++;
    *out = s;
    return first ? TOPIC_FIRST : TOPIC_JOINED;
}

void topic_wait(struct sub *s, int64_t id)
{
    struct topic_waiter *wt = xmalloc(sizeof *wt);
    wt->sub = s;
    wt->id = id;
    wt->next = s->t->waiters;
    s->t->waiters = wt;
}

struct topic_resumer *topic_resume(struct sub *s, struct client *c, uint64_t since,
                                   const char *epoch, int has_id, int64_t id)
{
    struct topic_resumer *r = xcalloc(1, sizeof *r);
    r->sub = s;
    r->c = c;
    r->since = since;
    r->has_id = (uint8_t)has_id;
    r->id = id;
    r->state = TOPIC_RESUME_WAIT_POSITION;
    snprintf(r->epoch, sizeof r->epoch, "%s", epoch);
    r->next = s->t->cu->resumers;
    topic_catchup(s->t)->resumers = r;
    topic_catchup(s->t)->nresumers++;
    return r;
}

/* Takes r off its topic's list (not freed). */
static void unlink_resumer(struct topic *t, struct topic_resumer *r)
{
    for (struct topic_resumer **pp = &t->cu->resumers; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            topic_catchup(t)->nresumers--;
            return;
        }
    }
}

void topic_join(struct topic_resumer *r)
{
    struct topic *t = r->sub->t;
    unlink_resumer(t, r);
    add_member(t, r->c, r->sub);
    free(r);
}

/* Frees the resume record of s, a subscription that is not a member. */
static void drop_resumer_of(struct topic *t, struct sub *s)
{
    for (struct topic_resumer *r = t->cu->resumers; r; r = r->next) {
        if (r->sub == s) {
            unlink_resumer(t, r);
            free(r);
            return;
        }
    }
}

/* Takes s's waiting acks out of its topic; sends them when `ack` is set. */
static void release_waiters_of(struct topics *ts, struct client *c, struct sub *s, int ack)
{
    for (struct topic_waiter **pp = &s->t->waiters; *pp;) {
        struct topic_waiter *wt = *pp;
        if (wt->sub != s) {
            pp = &wt->next;
            continue;
        }
        *pp = wt->next;
        if (ack)
            ts->answer(ts->ud, c, s->t, 1, wt->id, 0, -1, NULL);
        free(wt);
    }
}

/* Sends (code 0: acks; else errors) to every waiter and empties the list. */
static void answer_waiters(struct topics *ts, struct topic *t, int code, const char *reason)
{
    struct topic_waiter *wt = t->waiters;
    t->waiters = NULL;
    while (wt) {
        struct topic_waiter *next = wt->next;
        ts->answer(ts->ud, t->members[wt->sub->slot].c, t, 1, wt->id, code, -1, reason);
        free(wt);
        wt = next;
    }
}

static void free_topic(void *p)
{
    struct topic *t = p;
    struct topic_waiter *wt = t->waiters;
    while (wt) {
        struct topic_waiter *next = wt->next;
        free(wt);
        wt = next;
    }
    struct topic_resumer *r = t->cu->resumers;
    while (r) {
        struct topic_resumer *next = r->next;
        free(r);
        r = next;
    }
    if (t->members != &t->one)
        free(t->members);
    if (topic_has_catchup(t))
        free(t->cu);
    free(t);
}

/* Forgets t (its name too). */
static void drop_topic(struct topics *ts, struct topic *t)
{
    if ((t->cu->cache || t->cu->due) && ts->release)
        ts->release(ts->release_ud, t);
    strtab_remove(&ts->by_name, &t->node);
    free_topic(t);
    strtab_shrink(&ts->by_name); /* never iterated while subscriptions change */
}

/* Unlinks s from its connection's list. */
static void unlink_sub(struct topic_subs *mine, struct sub *s)
{
    for (struct sub **pp = &mine->head; *pp; pp = &(*pp)->cnext) {
        if (*pp == s) {
            *pp = s->cnext;
            break;
        }
    }
}

/* Takes s (already off its connection's list) out of its topic and frees
 * it. Returns 1 when the topic has no subscriber left (the caller drops
 * it), else 0. */
static int leave_topic(struct topics *ts, struct sub *s)
{
    struct topic *t = s->t;
    if (s->slot == TOPIC_NOT_MEMBER) {
        drop_resumer_of(t, s);
    } else {
        uint32_t last = --t->n;
        if (s->slot != last) {
            t->members[s->slot] = t->members[last];
            t->members[s->slot].sub->slot = s->slot;
        }
        t->nmsgpack -= s->enc == ENC_MSGPACK;
    }
    ts->nsubs--;
    free(s);
    if (!t->n && !t->cu->nresumers)
        return 1;
    if (t->cap > 16 && t->n < t->cap / 4) {
        t->cap /= 2; /* give memory back after a crowd leaves */
        t->members = xrealloc(t->members, t->cap * sizeof *t->members);
    }
    return 0;
}

int topic_unsubscribe(struct topics *ts, struct client *c, struct topic_subs *mine,
                      const char *name, size_t len)
{
    struct sub *s = find_sub(mine, name, len, NULL);
    if (!s)
        return TOPIC_NOT_SUBSCRIBED;
    /* The sub did take effect here: its ack goes before the unsub's. */
    release_waiters_of(ts, c, s, 1);
    unlink_sub(mine, s);
    struct topic *t = s->t;
    if (!leave_topic(ts, s))
        return TOPIC_LEFT;
    drop_topic(ts, t);
    return TOPIC_LAST;
}

void topic_unsubscribe_all(struct topics *ts, struct topic_subs *mine, topic_last_fn last, void *ud)
{
    while (mine->head) {
        struct sub *s = mine->head;
        mine->head = s->cnext;
        struct topic *t = s->t;
        release_waiters_of(ts, NULL, s, 0);
        if (leave_topic(ts, s)) {
            last(ud, t->node.name, t->node.len);
            drop_topic(ts, t);
        }
    }
}

void topic_foreach(struct topics *ts, void (*fn)(void *ud, struct topic *t), void *ud)
{
    struct strtab_iter it;
    strtab_iter_init(&it, &ts->by_name);
    for (struct strnode *n; (n = strtab_next(&it));)
        fn(ud, container_of(n, struct topic, node));
}

enum topic_result topic_interest_result(struct topics *ts, const char *name, size_t len, int64_t id,
                                        int code, const char *reason, uint64_t seq,
                                        const char *epoch, size_t epoch_len, int recovered,
                                        struct topic **out)
{
    struct topic *t = topic_find(ts, name, len);
    *out = NULL;
    if (!t || t->add_id != id || !id)
        return TOPIC_RESULT_STALE; /* gone meanwhile, or answers an older request */
    t->add_id = 0;
    if (code == 0) {
        enum topic_result r = TOPIC_RESULT_POSITIONED;
        if (topic_has_position(t))
            r = recovered ? TOPIC_RESULT_RESUMED : TOPIC_RESULT_MOVED;
        if (r != TOPIC_RESULT_RESUMED)
            topic_set_position(t, seq, epoch, epoch_len);
        /* A resumed topic keeps its own position: the MESSAGEs from it on
         * follow, and each moves it. */
        answer_waiters(ts, t, 0, NULL);
        *out = t;
        return r;
    }
    /* Waiting and resuming subs get the error with their id; subscribers
     * acked earlier (while the link was down) are told too: nothing will
     * arrive here. */
    for (struct topic_waiter *wt = t->waiters; wt; wt = wt->next)
        wt->sub->answered = 1;
    answer_waiters(ts, t, code, reason);
    while (t->cu->resumers) {
        struct topic_resumer *r = t->cu->resumers;
        ts->answer(ts->ud, r->c, t, r->has_id, r->id, code, -1, reason);
        unlink_sub(subs_of(ts, r->c), r->sub);
        leave_topic(ts, r->sub); /* frees r */
    }
    char why[TOPIC_MAX_LEN + 200];
    snprintf(why, sizeof why, "subscription to %.*s ended: %s", (int)len, name, reason);
    for (uint32_t i = 0; i < t->n; i++)
        if (!t->members[i].sub->answered)
            ts->answer(ts->ud, t->members[i].c, t, 0, 0, code, -1, why);
    while (t->n) {
        struct topic_member *m = &t->members[t->n - 1];
        unlink_sub(subs_of(ts, m->c), m->sub);
        leave_topic(ts, m->sub);
    }
    drop_topic(ts, t);
    return TOPIC_RESULT_REFUSED;
}

static void link_down_one(void *ud, struct topic *t)
{
    t->add_id = 0;
    answer_waiters(ud, t, 0, NULL);
}

void topic_link_down(struct topics *ts)
{
    topic_foreach(ts, link_down_one, ts);
}

void topics_deinit(struct topics *ts)
{
    struct strtab_iter it;
    strtab_iter_init(&it, &ts->by_name);
    for (struct strnode *n; (n = strtab_next(&it));)
        free_topic(container_of(n, struct topic, node));
    strtab_deinit(&ts->by_name);
}
