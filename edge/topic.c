/* Local subscriptions of one worker: see topic.h. */
#include "edge/topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "edge/client.h"
#include "edge/uplink.h"
#include "edge/worker.h"

struct topic *topic_find(struct worker *w, const char *name, size_t len)
{
    return dict_get(&w->topics, name, len);
}

int topic_subscribe(struct worker *w, struct client *c, const char *name, size_t len,
                    uint32_t max_subs, uint32_t max_topics, struct topic **out)
{
    for (struct sub *s = c->subs; s; s = s->cnext) {
        if (s->t->name_len == len && memcmp(s->t->name, name, len) == 0) {
            *out = s->t;
            return TOPIC_ALREADY;
        }
    }
    if (c->nsubs >= max_subs)
        return TOPIC_LIMIT_SUBS;
    struct topic *t = topic_find(w, name, len);
    int created = 0;
    if (!t) {
        if (w->topics.count >= max_topics)
            return TOPIC_LIMIT_TOPICS;
        t = xcalloc(1, sizeof *t);
        struct dict_entry *e = dict_add(&w->topics, name, len, t);
        t->name = e->key;
        t->name_len = (uint32_t)len;
        created = 1;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->members = xrealloc(t->members, t->cap * sizeof *t->members);
    }
    struct sub *s = xmalloc(sizeof *s);
    s->t = t;
    s->slot = t->n;
    s->cnext = c->subs;
    c->subs = s;
    t->members[t->n].c = c;
    t->members[t->n].sub = s;
    t->n++;
    c->nsubs++;
    w->nsubs++;
    t->count[c->enc]++;
    if (created) /* first local subscriber: the hub answers with INTEREST_RESULT */
        t->add_id = uplink_interest_add(w->up, t->name, t->name_len);
    *out = t;
    return created ? TOPIC_CREATED : TOPIC_JOINED;
}

void topic_wait(struct topic *t, struct client *c, int64_t id)
{
    struct topic_waiter *wt = xmalloc(sizeof *wt);
    wt->c = c;
    wt->id = id;
    wt->next = t->waiters;
    t->waiters = wt;
}

/* Takes c's waiting acks out of t; sends them when `ack` is set. */
static void release_waiters_of(struct topic *t, struct client *c, int ack)
{
    for (struct topic_waiter **pp = &t->waiters; *pp;) {
        struct topic_waiter *wt = *pp;
        if (wt->c != c) {
            pp = &wt->next;
            continue;
        }
        *pp = wt->next;
        if (ack)
            client_send_ack(c, wt->id);
        free(wt);
    }
}

/* Sends (code 0: acks; else errors) to every waiter and empties the list. */
static void answer_waiters(struct topic *t, int code, const char *reason)
{
    struct topic_waiter *wt = t->waiters;
    t->waiters = NULL;
    while (wt) {
        struct topic_waiter *next = wt->next;
        if (code == 0)
            client_send_ack(wt->c, wt->id);
        else
            client_send_error(wt->c, 1, wt->id, code, reason);
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
    free(t->members);
    free(t);
}

/* Forgets t; tells the hub unless it never held the topic. */
static void topic_drop(struct worker *w, struct topic *t, int tell_hub)
{
    if (tell_hub)
        uplink_interest_remove(w->up, t->name, t->name_len); /* last local subscriber gone */
    dict_delete(&w->topics, t->name, t->name_len);           /* frees the name too */
    free_topic(t);
    dict_shrink(&w->topics); /* never iterated while subscriptions change */
}

/* Takes s (of client c) out of its topic and frees it; drops the topic with
 * its last subscriber. */
static void drop_sub(struct worker *w, struct client *c, struct sub *s)
{
    struct topic *t = s->t;
    uint32_t last = --t->n;
    if (s->slot != last) {
        t->members[s->slot] = t->members[last];
        t->members[s->slot].sub->slot = s->slot;
    }
    t->count[c->enc]--;
    c->nsubs--;
    w->nsubs--;
    free(s);
    if (!t->n) {
        topic_drop(w, t, 1);
    } else if (t->cap > 16 && t->n < t->cap / 4) {
        t->cap /= 2; /* give memory back after a crowd leaves */
        t->members = xrealloc(t->members, t->cap * sizeof *t->members);
    }
}

int topic_unsubscribe(struct worker *w, struct client *c, const char *name, size_t len)
{
    for (struct sub **pp = &c->subs; *pp; pp = &(*pp)->cnext) {
        struct sub *s = *pp;
        if (s->t->name_len == len && memcmp(s->t->name, name, len) == 0) {
            /* The sub did take effect here: its ack goes before the unsub's. */
            release_waiters_of(s->t, c, 1);
            *pp = s->cnext;
            drop_sub(w, c, s);
            return 0;
        }
    }
    return 1;
}

void topic_unsubscribe_all(struct worker *w, struct client *c)
{
    while (c->subs) {
        struct sub *s = c->subs;
        c->subs = s->cnext;
        release_waiters_of(s->t, c, 0);
        drop_sub(w, c, s);
    }
}

void topic_interest_result(struct worker *w, const char *name, size_t len, int64_t id,
                           int code, const char *reason)
{
    struct topic *t = topic_find(w, name, len);
    if (!t || t->add_id != id || !id)
        return; /* gone meanwhile, or answers a request made before a newer one */
    t->add_id = 0;
    if (code == 0) {
        answer_waiters(t, 0, NULL);
        return;
    }
    /* Waiting subs get the error with their id; subscribers acked earlier
     * (while the link was down) are told too: nothing will arrive here. */
    for (struct topic_waiter *wt = t->waiters; wt; wt = wt->next)
        wt->c->flags |= CLIENT_F_MARK;
    answer_waiters(t, code, reason);
    char why[TOPIC_MAX_LEN + 200];
    snprintf(why, sizeof why, "subscription to %.*s ended: %s", (int)len, name, reason);
    for (uint32_t i = 0; i < t->n; i++) {
        struct client *c = t->members[i].c;
        if (c->flags & CLIENT_F_MARK)
            c->flags &= (uint8_t)~CLIENT_F_MARK;
        else
            client_send_error(c, 0, 0, code, why);
    }
    while (t->n) {
        struct topic_member *m = &t->members[t->n - 1];
        struct client *c = m->c;
        struct sub *s = m->sub;
        for (struct sub **pp = &c->subs; *pp; pp = &(*pp)->cnext) {
            if (*pp == s) {
                *pp = s->cnext;
                break;
            }
        }
        t->n--;
        t->count[c->enc]--;
        c->nsubs--;
        w->nsubs--;
        free(s);
    }
    topic_drop(w, t, 0);
}

void topic_link_down(struct worker *w)
{
    struct dict_iter it;
    dict_iter_init(&it, &w->topics);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct topic *t = e->value;
        t->add_id = 0;
        answer_waiters(t, 0, NULL);
    }
}

void topic_link_up(struct worker *w)
{
    struct dict_iter it;
    dict_iter_init(&it, &w->topics);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct topic *t = e->value;
        t->add_id = uplink_interest_add(w->up, t->name, t->name_len);
    }
}

void topic_free_all(struct worker *w)
{
    dict_deinit(&w->topics, free_topic);
}
