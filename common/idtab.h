/* Pointers by a 64-bit id that each pointee holds itself (at a fixed
 * offset): open addressing with linear probing over an array of pointers,
 * so an entry costs one slot (8 bytes at a load of 1/4 to 3/4) instead of
 * a dict entry (a 48-byte allocation and its bucket). The ids are the
 * caller's own (sequence numbers), not chosen by peers, so a multiplicative
 * hash is enough.
 *
 * Deleting leaves a tombstone and never moves an entry, so it is safe while
 * iterating; adding may rebuild the array, so never add while iterating. */
#ifndef SPOKE_IDTAB_H
#define SPOKE_IDTAB_H
#include <stddef.h>
#include <stdint.h>

struct idtab {
    void **slot;
    size_t cap;   /* a power of two, or 0 before the first add */
    size_t count; /* live entries */
    size_t used;  /* live entries and tombstones */
    size_t id_offset;
};

/* id_offset: where each pointee keeps its uint64_t id. */
void idtab_init(struct idtab *t, size_t id_offset);
void idtab_deinit(struct idtab *t);
/* Adds p; its id must not be present. */
void idtab_add(struct idtab *t, void *p);
void *idtab_get(const struct idtab *t, uint64_t id);
/* Removes p if present. */
void idtab_delete(struct idtab *t, const void *p);
/* Iteration: for (size_t i = 0; (p = idtab_next(t, &i));) ... */
void *idtab_next(const struct idtab *t, size_t *pos);

#endif
