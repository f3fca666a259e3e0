/* Forwarded directs awaiting their result: see directs.h. */
#include "hub/directs.h"

#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/link.h"
#include "common/xalloc.h"

/* Key: target link id, request id, then the sender's connection id. */
#define KEY_MAX (8 + 8 + LINK_MAX_CONN_ID)

struct record {
    struct record *tprev, *tnext; /* the target's list */
    struct record *older, *newer; /* the list of all, oldest first */
    struct target *t;
    double made;
    int64_t id;
    uint64_t origin;
    uint32_t klen;
    char key[]; /* klen bytes */
};

struct target {
    struct record *first;
    size_t n;
};

struct directs {
    struct dict records; /* key -> struct record */
    struct dict targets; /* target link id (8 bytes) -> struct target */
    struct record *oldest, *newest;
};

static size_t make_key(char *out, uint64_t target, const char *from, size_t from_len, int64_t id)
{
    if (from_len > LINK_MAX_CONN_ID)
        return 0;
    memcpy(out, &target, 8);
    memcpy(out + 8, &id, 8);
    memcpy(out + 16, from, from_len);
    return 16 + from_len;
}

struct directs *directs_new(void)
{
    struct directs *d = xcalloc(1, sizeof *d);
    dict_init(&d->records);
    dict_init(&d->targets);
    return d;
}

void directs_free(struct directs *d)
{
    if (!d)
        return;
    dict_deinit(&d->records, free);
    dict_deinit(&d->targets, free);
    free(d);
}

int directs_add(struct directs *d, uint64_t target, const char *from, size_t from_len, int64_t id,
                uint64_t origin, double now, size_t max)
{
    char key[KEY_MAX];
    size_t klen = make_key(key, target, from, from_len, id);
    if (!klen || dict_find(&d->records, key, klen))
        return -1;
    struct target *t = dict_get(&d->targets, &target, 8);
    if (t && t->n >= max)
        return -1;
    if (!t) {
        if (!max)
            return -1;
        t = xcalloc(1, sizeof *t);
        dict_add(&d->targets, &target, 8, t);
    }
    struct record *r = xcalloc(1, sizeof *r + klen);
    r->t = t;
    r->made = now;
    r->id = id;
    r->origin = origin;
    r->klen = (uint32_t)klen;
    memcpy(r->key, key, klen);
    r->tnext = t->first;
    if (t->first)
        t->first->tprev = r;
    t->first = r;
    t->n++;
    r->older = d->newest;
    if (d->newest)
        d->newest->newer = r;
    else
        d->oldest = r;
    d->newest = r;
    dict_add(&d->records, key, klen, r);
    return 0;
}

/* Unlinks r everywhere and frees it (and its target entry when emptied). */
static void forget(struct directs *d, struct record *r)
{
    struct target *t = r->t;
    if (r->tprev)
        r->tprev->tnext = r->tnext;
    else
        t->first = r->tnext;
    if (r->tnext)
        r->tnext->tprev = r->tprev;
    if (r->older)
        r->older->newer = r->newer;
    else
        d->oldest = r->newer;
    if (r->newer)
        r->newer->older = r->older;
    else
        d->newest = r->older;
    dict_delete(&d->records, r->key, r->klen);
    if (--t->n == 0) {
        uint64_t target;
        memcpy(&target, r->key, 8);
        dict_delete(&d->targets, &target, 8);
        free(t);
    }
    free(r);
}

int directs_take(struct directs *d, uint64_t target, const char *to, size_t to_len, int64_t id,
                 uint64_t *origin)
{
    char key[KEY_MAX];
    size_t klen = make_key(key, target, to, to_len, id);
    struct record *r = klen ? dict_get(&d->records, key, klen) : NULL;
    if (!r)
        return 0;
    if (origin)
        *origin = r->origin;
    forget(d, r);
    dict_shrink(&d->records);
    return 1;
}

void directs_drop_target(struct directs *d, uint64_t target,
                         void (*fn)(const char *from, size_t from_len, int64_t id, uint64_t origin,
                                    void *ud),
                         void *ud)
{
    struct target *t;
    while ((t = dict_get(&d->targets, &target, 8))) {
        struct record *r = t->first;
        if (fn)
            fn(r->key + 16, r->klen - 16, r->id, r->origin, ud);
        forget(d, r); /* frees t with its last record */
    }
    dict_shrink(&d->records);
    dict_shrink(&d->targets);
}

void directs_foreach_target(struct directs *d, uint64_t min, void (*fn)(uint64_t target, void *ud),
                            void *ud)
{
    /* Collected first: fn may drop the target it is given, which shrinks
     * the table being walked. */
    size_t n = 0, cap = 0;
    uint64_t *ids = NULL;
    struct dict_iter it;
    dict_iter_init(&it, &d->targets);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        uint64_t id;
        memcpy(&id, e->node.name, 8);
        if (id <= min)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = id;
    }
    for (size_t i = 0; i < n; i++)
        fn(ids[i], ud);
    free(ids);
}

size_t directs_expire(struct directs *d, double before)
{
    size_t n = 0;
    while (d->oldest && d->oldest->made < before) {
        forget(d, d->oldest);
        n++;
    }
    if (n) {
        dict_shrink(&d->records);
        dict_shrink(&d->targets);
    }
    return n;
}

size_t directs_count(const struct directs *d)
{
    return dict_count(&d->records);
}

size_t directs_count_for(const struct directs *d, uint64_t target)
{
    const struct target *t = dict_get(&d->targets, &target, 8);
    return t ? t->n : 0;
}
