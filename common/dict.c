/* Keys to pointers over common/strtab: see dict.h. */
#include "common/dict.h"

#include <stdlib.h>

#include "common/xalloc.h"

static struct dict_entry *entry_of(struct strnode *n)
{
    return n ? container_of(n, struct dict_entry, node) : NULL;
}

void dict_init(struct dict *d)
{
    strtab_init(&d->t);
}

void dict_deinit(struct dict *d, void (*free_value)(void *))
{
    struct strtab_iter it;
    strtab_iter_init(&it, &d->t);
    for (struct strnode *n; (n = strtab_next(&it));) {
        struct dict_entry *e = entry_of(n);
        if (free_value)
            free_value(e->value);
        free(e);
    }
    strtab_deinit(&d->t);
}

struct dict_entry *dict_find(const struct dict *d, const void *key, size_t klen)
{
    return entry_of(strtab_find(&d->t, key, klen));
}

void *dict_get(const struct dict *d, const void *key, size_t klen)
{
    struct dict_entry *e = dict_find(d, key, klen);
    return e ? e->value : NULL;
}

void dict_shrink(struct dict *d)
{
    strtab_shrink(&d->t);
}

struct dict_entry *dict_add(struct dict *d, const void *key, size_t klen, void *value)
{
    struct dict_entry *e = xmalloc(sizeof *e + strtab_name_room(klen));
    e->value = value;
    strtab_add(&d->t, &e->node, key, klen);
    return e;
}

void *dict_delete(struct dict *d, const void *key, size_t klen)
{
    struct dict_entry *e = dict_find(d, key, klen);
    if (!e)
        return NULL;
    strtab_remove(&d->t, &e->node);
    void *v = e->value;
    free(e);
    return v;
}

void dict_iter_init(struct dict_iter *it, const struct dict *d)
{
    strtab_iter_init(&it->it, &d->t);
}

struct dict_entry *dict_next(struct dict_iter *it)
{
    return entry_of(strtab_next(&it->it));
}
