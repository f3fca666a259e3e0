/* Local subscriptions of one worker: see topic.h. */
#include "edge/topic.h"

#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/xalloc.h"
#include "edge/client.h"
#include "edge/uplink.h"
#include "edge/worker.h"

struct topic *topic_find(struct worker *w, const char *name, size_t len)
{
    return dict_get(&w->topics, name, len);
}

int topic_subscribe(struct worker *w, struct client *c, const char *name, size_t len,
                    uint32_t max)
{
    for (struct sub *s = c->subs; s; s = s->cnext)
        if (s->t->name_len == len && memcmp(s->t->name, name, len) == 0)
            return 1;
    if (c->nsubs >= max)
        return -1;
    struct topic *t = topic_find(w, name, len);
    int created = 0;
    if (!t) {
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
    if (created)
        uplink_interest(w->up, 1, t->name, t->name_len); /* first local subscriber */
    return 0;
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
        uplink_interest(w->up, 0, t->name, t->name_len); /* last local subscriber gone */
        dict_delete(&w->topics, t->name, t->name_len);   /* frees the name too */
        free(t->members);
        free(t);
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
        drop_sub(w, c, s);
    }
}

static void free_topic(void *p)
{
    struct topic *t = p;
    free(t->members);
    free(t);
}

void topic_free_all(struct worker *w)
{
    dict_deinit(&w->topics, free_topic);
}
