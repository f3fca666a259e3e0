/* Objects by the name inside them: see strtab.h. */
#include "common/strtab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/siphash.h"
#include "common/xalloc.h"

#define STRTAB_MIN_SIZE 16

void strtab_init(struct strtab *t)
{
    memset(t, 0, sizeof *t);
    uint64_t k[2] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* Early boot without entropy: fall back to a fixed key. */
    }
    t->k0 = k[0];
    t->k1 = k[1];
}

void strtab_deinit(struct strtab *t)
{
    free(t->table);
    t->table = NULL;
    t->size = t->count = 0;
}

static uint32_t hash(const struct strtab *t, const void *name, size_t len)
{
    return (uint32_t)siphash13(t->k0, t->k1, name, len);
}

uint32_t strtab_hash(const struct strtab *t, const void *name, size_t len)
{
    return hash(t, name, len);
}

struct strnode *strtab_find(const struct strtab *t, const void *name, size_t len)
{
    if (!t->size)
        return NULL;
    return strtab_find_hashed(t, name, len, hash(t, name, len));
}

struct strnode *strtab_find_hashed(const struct strtab *t, const void *name, size_t len, uint32_t h)
{
    if (!t->size)
        return NULL;
    for (struct strnode *n = t->table[h & (t->size - 1)]; n; n = n->next)
        if (n->hash == h && n->len == len && memcmp(n->name, name, len) == 0)
            return n;
    return NULL;
}

/* Moves every node into a new table of `size` buckets (a power of two). */
static void rehash(struct strtab *t, size_t size)
{
    struct strnode **table = xcalloc(size, sizeof *table);
    for (size_t i = 0; i < t->size; i++) {
        struct strnode *n = t->table[i];
        while (n) {
            struct strnode *next = n->next;
            size_t b = n->hash & (size - 1);
            n->next = table[b];
            table[b] = n;
            n = next;
        }
    }
    free(t->table);
    t->table = table;
    t->size = size;
}

void strtab_add(struct strtab *t, struct strnode *n, const void *name, size_t len)
{
    if (t->count >= t->size)
        rehash(t, t->size ? t->size * 2 : STRTAB_MIN_SIZE);
    n->hash = hash(t, name, len);
    n->len = (uint32_t)len;
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    size_t b = n->hash & (t->size - 1);
    n->next = t->table[b];
    t->table[b] = n;
    t->count++;
}

void strtab_remove(struct strtab *t, struct strnode *n)
{
    for (struct strnode **pp = &t->table[n->hash & (t->size - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            t->count--;
            return;
        }
    }
}

void strtab_shrink(struct strtab *t)
{
    if (t->count == 0) {
        strtab_deinit(t);
        return;
    }
    size_t size = t->size;
    /* Grow at load 1, shrink below 1/4 to a load of at most 1/2 (as dict). */
    while (size > STRTAB_MIN_SIZE && t->count < size / 4)
        size /= 2;
    if (size != t->size)
        rehash(t, size);
}

void strtab_iter_init(struct strtab_iter *it, const struct strtab *t)
{
    it->t = t;
    it->bucket = 0;
    it->next = NULL;
    while (it->bucket < t->size && !(it->next = t->table[it->bucket]))
        it->bucket++;
}

struct strnode *strtab_next(struct strtab_iter *it)
{
    struct strnode *n = it->next;
    if (!n)
        return NULL;
    it->next = n->next;
    if (!it->next) {
        it->bucket++;
        while (it->bucket < it->t->size && !(it->next = it->t->table[it->bucket]))
            it->bucket++;
    }
    return n;
}
