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
    struct sub *s = xmalloc(sizeof *s);
    s->c = c;
    s->t = t;
    s->tprev = NULL;
    s->tnext = t->subs;
    if (t->subs)
        t->subs->tprev = s;
    t->subs = s;
    s->cnext = c->subs;
    c->subs = s;
    c->nsubs++;
    t->count[c->enc]++;
    if (created)
        uplink_interest(w->up, 1, t->name, t->name_len); /* first local subscriber */
    return 0;
}

/* Unlinks s from its topic and frees it; drops the topic with its last sub. */
static void drop_sub(struct worker *w, struct sub *s)
{
    struct topic *t = s->t;
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        t->subs = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    t->count[s->c->enc]--;
    s->c->nsubs--;
    free(s);
    if (!t->subs) {
        uplink_interest(w->up, 0, t->name, t->name_len); /* last local subscriber gone */
        dict_delete(&w->topics, t->name, t->name_len);   /* frees the name too */
        free(t);
    }
}

int topic_unsubscribe(struct worker *w, struct client *c, const char *name, size_t len)
{
    for (struct sub **pp = &c->subs; *pp; pp = &(*pp)->cnext) {
        struct sub *s = *pp;
        if (s->t->name_len == len && memcmp(s->t->name, name, len) == 0) {
            *pp = s->cnext;
            drop_sub(w, s);
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
        drop_sub(w, s);
    }
}

void topic_free_all(struct worker *w)
{
    dict_deinit(&w->topics, free);
}
