/* Chained hash table with SipHash-1-3: see dict.h. */
#include "common/dict.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/xalloc.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND           \
    do {                   \
        v0 += v1;          \
        v1 = ROTL(v1, 13); \
        v1 ^= v0;          \
        v0 = ROTL(v0, 32); \
        v2 += v3;          \
        v3 = ROTL(v3, 16); \
        v3 ^= v2;          \
        v0 += v3;          \
        v3 = ROTL(v3, 21); \
        v3 ^= v0;          \
        v2 += v1;          \
        v1 = ROTL(v1, 17); \
        v1 ^= v2;          \
        v2 = ROTL(v2, 32); \
    } while (0)

uint64_t siphash13(uint64_t k0, uint64_t k1, const void *p, size_t n)
{
    const uint8_t *in = p;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8); /* little-endian hosts only (x86-64, arm64) */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    switch (n - i) {
    case 7: b |= (uint64_t)in[i + 6] << 48; /* fallthrough */
    case 6: b |= (uint64_t)in[i + 5] << 40; /* fallthrough */
    case 5: b |= (uint64_t)in[i + 4] << 32; /* fallthrough */
    case 4: b |= (uint64_t)in[i + 3] << 24; /* fallthrough */
    case 3: b |= (uint64_t)in[i + 2] << 16; /* fallthrough */
    case 2: b |= (uint64_t)in[i + 1] << 8;  /* fallthrough */
    case 1: b |= (uint64_t)in[i]; break;
    default: break;
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void dict_init(struct dict *d)
{
    d->table = NULL;
    d->size = d->count = 0;
    uint64_t k[2] = {0x9e3779b97f4a7c15ULL, 0xbf58476d1ce4e5b9ULL};
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* Early boot without entropy: fall back to a fixed key. */
    }
    d->k0 = k[0];
    d->k1 = k[1];
}

void dict_deinit(struct dict *d, void (*free_value)(void *))
{
    for (size_t i = 0; i < d->size; i++) {
        struct dict_entry *e = d->table[i];
        while (e) {
            struct dict_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(d->table);
    d->table = NULL;
    d->size = d->count = 0;
}

struct dict_entry *dict_find(const struct dict *d, const void *key, size_t klen)
{
    if (!d->size)
        return NULL;
    uint64_t h = siphash13(d->k0, d->k1, key, klen);
    for (struct dict_entry *e = d->table[h & (d->size - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

void *dict_get(const struct dict *d, const void *key, size_t klen)
{
    struct dict_entry *e = dict_find(d, key, klen);
    return e ? e->value : NULL;
}

#define DICT_MIN_SIZE 16

/* Moves every entry into a new table of `size` buckets (a power of two). */
static void rehash(struct dict *d, size_t size)
{
    struct dict_entry **table = xcalloc(size, sizeof *table);
    for (size_t i = 0; i < d->size; i++) {
        struct dict_entry *e = d->table[i];
        while (e) {
            struct dict_entry *next = e->next;
            size_t b = e->hash & (size - 1);
            e->next = table[b];
            table[b] = e;
            e = next;
        }
    }
    free(d->table);
    d->table = table;
    d->size = size;
}

static void grow(struct dict *d)
{
    rehash(d, d->size ? d->size * 2 : DICT_MIN_SIZE);
}

void dict_shrink(struct dict *d)
{
    if (d->count == 0) {
        free(d->table);
        d->table = NULL;
        d->size = 0;
        return;
    }
    size_t size = d->size;
    /* Grow at load 1, shrink below 1/4 to a load of at most 1/2: a table
     * hovering around one size does not rehash back and forth. */
    while (size > DICT_MIN_SIZE && d->count < size / 4)
        size /= 2;
    if (size != d->size)
        rehash(d, size);
}

struct dict_entry *dict_add(struct dict *d, const void *key, size_t klen, void *value)
{
    if (d->count >= d->size)
        grow(d);
    struct dict_entry *e = xmalloc(sizeof *e + klen + 1);
    e->hash = siphash13(d->k0, d->k1, key, klen);
    e->value = value;
    e->klen = (uint32_t)klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t b = e->hash & (d->size - 1);
    e->next = d->table[b];
    d->table[b] = e;
    d->count++;
    return e;
}

void *dict_delete(struct dict *d, const void *key, size_t klen)
{
    if (!d->size)
        return NULL;
    uint64_t h = siphash13(d->k0, d->k1, key, klen);
    struct dict_entry **pp = &d->table[h & (d->size - 1)];
    for (struct dict_entry *e = *pp; e; pp = &e->next, e = e->next) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *pp = e->next;
            void *v = e->value;
            free(e);
            d->count--;
            return v;
        }
    }
    return NULL;
}

void dict_iter_init(struct dict_iter *it, const struct dict *d)
{
    it->d = d;
    it->bucket = 0;
    it->next = NULL;
    while (it->bucket < d->size && !(it->next = d->table[it->bucket]))
        it->bucket++;
}

struct dict_entry *dict_next(struct dict_iter *it)
{
    struct dict_entry *e = it->next;
    if (!e)
        return NULL;
    it->next = e->next;
    if (!it->next) {
        it->bucket++;
        while (it->bucket < it->d->size && !(it->next = it->d->table[it->bucket]))
            it->bucket++;
    }
    return e;
}
