/* Hash table from byte-string keys to pointers: a common/strtab whose
 * nodes are allocated here, each holding a value and a copy of its key
 * (NUL-terminated, so string keys can be printed). Chained, power-of-two
 * sized, grows at load 1, SipHash-1-3 under a random per-table key, so
 * clients choosing topic names cannot degrade lookups into linear scans
 * (hash flooding). For objects that can hold their own name, use strtab
 * directly and save the entry. */
#ifndef SPOKE_DICT_H
#define SPOKE_DICT_H
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"
#include "common/strtab.h"

struct dict_entry {
    void *value;
    struct strnode node; /* node.name: the key (node.len bytes, then a NUL) */
};

struct dict {
    struct strtab t;
};

static inline size_t dict_count(const struct dict *d)
{
    return d->t.count;
}

void dict_init(struct dict *d);
/* Frees every entry, calling free_value(value) on each if non-NULL. */
void dict_deinit(struct dict *d, void (*free_value)(void *));
struct dict_entry *dict_find(const struct dict *d, const void *key, size_t klen);
void *dict_get(const struct dict *d, const void *key, size_t klen);
/* Inserts key -> value; the key must not be present. Returns the entry
 * (its key pointer stays valid until the entry is deleted). */
struct dict_entry *dict_add(struct dict *d, const void *key, size_t klen, void *value);
/* Removes key. Returns its value, or NULL if it was not present. Never
 * moves other entries, so it is safe while iterating (see dict_next). */
void *dict_delete(struct dict *d, const void *key, size_t klen);
/* Gives memory back after deletions: frees the bucket array of an empty
 * table, and halves a table at most a quarter full (down to 16 buckets),
 * so a table that grew for a burst of keys does not keep its peak size.
 * Rehashes: never call it while an iteration of d is in progress. */
void dict_shrink(struct dict *d);

/* Iteration that tolerates deleting the current entry:
 *   struct dict_iter it; dict_iter_init(&it, d);
 *   for (struct dict_entry *e; (e = dict_next(&it)); ) ... */
struct dict_iter {
    struct strtab_iter it;
};
void dict_iter_init(struct dict_iter *it, const struct dict *d);
struct dict_entry *dict_next(struct dict_iter *it);

#endif
