/* Pointers by their own 64-bit id: see idtab.h. */
#include "common/idtab.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define IDTAB_MIN_CAP 16

/* Marks a deleted slot: probes go on past it, adds may reuse it. */
static char tombstone;
#define TOMB ((void *)&tombstone)

static uint64_t id_of(const struct idtab *t, const void *p)
{
    uint64_t id;
    memcpy(&id, (const char *)p + t->id_offset, sizeof id);
    return id;
}

static size_t home(const struct idtab *t, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & (t->cap - 1);
}

void idtab_init(struct idtab *t, size_t id_offset)
{
    memset(t, 0, sizeof *t);
    t->id_offset = id_offset;
}

void idtab_deinit(struct idtab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->cap = t->count = t->used = 0;
}

static void place(struct idtab *t, void *p)
{
    size_t i = home(t, id_of(t, p));
    while (t->slot[i] && t->slot[i] != TOMB)
        i = (i + 1) & (t->cap - 1);
    if (!t->slot[i])
        t->used++;
    t->slot[i] = p;
    t->count++;
}

/* A new array of cap slots holding the live entries (no tombstones). */
static void rebuild(struct idtab *t, size_t cap)
{
    void **old = t->slot;
    size_t old_cap = t->cap;
    t->slot = xcalloc(cap, sizeof *t->slot);
    t->cap = cap;
    t->count = t->used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i] && old[i] != TOMB)
            place(t, old[i]);
    free(old);
}

void idtab_add(struct idtab *t, void *p)
{
    /* Keep live entries and tombstones under 3/4 of the slots; a rebuild
     * sizes for twice the live entries, so a table that emptied shrinks. */
    if ((t->used + 1) * 4 > t->cap * 3 || (t->cap > IDTAB_MIN_CAP && t->count * 8 < t->cap)) {
        size_t cap = IDTAB_MIN_CAP;
        while (cap < (t->count + 1) * 2)
            cap *= 2;
        rebuild(t, cap);
    }
    place(t, p);
}

static size_t find(const struct idtab *t, uint64_t id)
{
    if (!t->cap)
        return SIZE_MAX;
    for (size_t i = home(t, id), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
        void *p = t->slot[i];
        if (!p)
            return SIZE_MAX;
        if (p != TOMB && id_of(t, p) == id)
            return i;
    }
    return SIZE_MAX;
}

void *idtab_get(const struct idtab *t, uint64_t id)
{
    size_t i = find(t, id);
    return i == SIZE_MAX ? NULL : t->slot[i];
}

void idtab_delete(struct idtab *t, const void *p)
{
    size_t i = find(t, id_of(t, p));
    if (i == SIZE_MAX || t->slot[i] != p)
        return;
    t->slot[i] = TOMB;
    t->count--;
}

void *idtab_next(const struct idtab *t, size_t *pos)
{
    for (; *pos < t->cap; (*pos)++) {
        void *p = t->slot[*pos];
        if (p && p != TOMB) {
            (*pos)++;
            return p;
        }
    }
    return NULL;
}
