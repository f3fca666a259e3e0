/* A hash table of objects by a name they hold themselves: each object ends
 * with a struct strnode, its name copied right behind it, so an entry
 * costs 16 bytes and the name inside the object's own allocation instead
 * of a separate allocation for it (a common/dict entry: a strnode, a value
 * pointer and a copy of the key, 48 bytes for a short key). For tables with one entry per topic, where that difference is most
 * of what a topic costs. Chained, power-of-two sized, grows at load 1; the
 * hash is SipHash-1-3 under a random per-table key (hash flooding), kept
 * in 32 bits.
 *
 *   struct thing { ...; struct strnode node; };  (last: the name follows)
 *   struct thing *t = xcalloc(1, sizeof *t + strtab_name_room(len));
 *   strtab_add(&tab, &t->node, name, len);
 *   struct thing *u = strtab_get(&tab, name, len, struct thing, node);
 *
 * The table never frees a node: the caller does, after strtab_remove. */
#ifndef SPOKE_STRTAB_H
#define SPOKE_STRTAB_H
#include <stddef.h>
#include <stdint.h>

#include "common/container.h"

struct strnode {
    struct strnode *next;
    uint32_t hash;
    uint32_t len;
    char name[]; /* len bytes, then a NUL */
};

struct strtab {
    struct strnode **table;
    size_t size; /* buckets, a power of two (0 before the first add) */
    size_t count;
    uint64_t k0, k1;
};

/* What to allocate behind an object for a name of len bytes. */
static inline size_t strtab_name_room(size_t len)
{
    return len + 1;
}

void strtab_init(struct strtab *t);
/* Frees the buckets; the nodes are the caller's (remove or free them first). */
void strtab_deinit(struct strtab *t);
struct strnode *strtab_find(const struct strtab *t, const void *name, size_t len);
#define strtab_get(t, name, len, type, member)                            \
    ({                                                                    \
        struct strnode *strtab_n_ = strtab_find((t), (name), (len));      \
        strtab_n_ ? container_of(strtab_n_, type, member) : (type *)NULL; \
    })
/* For prefetching ahead of a lookup (the hash is the table's key's, so it
 * stays right across a rehash; strtab_find computes it again). */
uint32_t strtab_hash(const struct strtab *t, const void *name, size_t len);
/* Starts loading the bucket of hash h. */
static inline void strtab_prefetch(const struct strtab *t, uint32_t h)
{
    if (t->size)
        __builtin_prefetch(&t->table[h & (t->size - 1)]);
}
/* The first node of hash h's bucket (NULL: none): walk ->next and compare
 * ->hash to find h's node without comparing names (a hint, not a lookup). */
static inline struct strnode *strtab_bucket(const struct strtab *t, uint32_t h)
{
    return t->size ? t->table[h & (t->size - 1)] : NULL;
}
/* strtab_find with the name's hash given: from a strtab_hash that may be
 * stale or wrong, so only a node found is an answer (its name matched). */
struct strnode *strtab_find_hashed(const struct strtab *t, const void *name, size_t len,
                                   uint32_t h);
/* Adds node n under name[0, len), which it copies into n->name (the room
 * behind n must hold strtab_name_room(len)); the name must not be present. */
void strtab_add(struct strtab *t, struct strnode *n, const void *name, size_t len);
/* Takes n (present) out of the table; never moves other nodes, so it is
 * safe while iterating. */
void strtab_remove(struct strtab *t, struct strnode *n);
/* Frees the buckets of an empty table and halves one at most a quarter full
 * (down to 16 buckets). Never while iterating. */
void strtab_shrink(struct strtab *t);

/* Iteration that tolerates removing the current node:
 *   struct strtab_iter it; strtab_iter_init(&it, t);
 *   for (struct strnode *n; (n = strtab_next(&it)); ) ... */
struct strtab_iter {
    const struct strtab *t;
    size_t bucket;
    struct strnode *next;
};
void strtab_iter_init(struct strtab_iter *it, const struct strtab *t);
struct strnode *strtab_next(struct strtab_iter *it);

#endif
