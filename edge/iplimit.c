/* Per-address connection counts shared by the workers: see iplimit.h. */
#include "edge/iplimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/net.h"
#include "common/xalloc.h"

#define STRIPES 16

struct stripe {
    pthread_mutex_t mu;
    struct dict counts; /* addr_key bytes (4 or 8) -> count stored in the pointer */
};

struct iplimit {
    uint32_t max;
    struct stripe s[STRIPES];
};

struct iplimit *iplimit_new(uint32_t max)
{
    struct iplimit *l = xcalloc(1, sizeof *l);
    l->max = max;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&l->s[i].mu, NULL);
        dict_init(&l->s[i].counts);
    }
    return l;
}

void iplimit_free(struct iplimit *l)
{
    if (!l)
        return;
    for (int i = 0; i < STRIPES; i++) {
        dict_deinit(&l->s[i].counts, NULL);
        pthread_mutex_destroy(&l->s[i].mu);
    }
    free(l);
}

/* The key ss is counted under (net_sockaddr_group): an IPv4 address (4
 * bytes), also when it comes IPv4-mapped in IPv6; for other IPv6 addresses
 * the /64 prefix (8 bytes), since one subscriber or host is usually given a
 * whole /64 (RFC 6177) and can pick any of its 2^64 addresses for each
 * connection. The lengths differ, so an IPv4 key never equals an IPv6 one. */
static size_t addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
    return net_sockaddr_group(ss, key);
}

static struct stripe *stripe_of(struct iplimit *l, const uint8_t *key, size_t n)
{
    /* Stripe choice only spreads lock traffic; the dict inside is keyed
     * with SipHash, so a client choosing addresses cannot flood a chain. */
    unsigned h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + key[i];
    return &l->s[h % STRIPES];
}

struct dict_entry *iplimit_acquire(struct iplimit *l, const struct sockaddr_storage *ss)
{
    uint8_t key[16];
    size_t n = addr_key(ss, key);
    struct stripe *s = stripe_of(l, key, n);
    pthread_mutex_lock(&s->mu);
    struct dict_entry *e = dict_find(&s->counts, key, n);
    if (!e) {
        e = dict_add(&s->counts, key, n, (void *)(uintptr_t)1);
    } else if ((uintptr_t)e->value >= l->max) {
        e = NULL;
    } else {
        e->value = (void *)((uintptr_t)e->value + 1);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

void iplimit_release(struct iplimit *l, struct dict_entry *e)
{
    if (!e)
        return;
    struct stripe *s = stripe_of(l, (const uint8_t *)e->node.name, e->node.len);
    pthread_mutex_lock(&s->mu);
    uintptr_t left = (uintptr_t)e->value - 1;
    if (left) {
        e->value = (void *)left;
    } else {
        uint8_t key[16]; /* dict_delete frees e, key included (4 or 8 bytes) */
        size_t n = e->node.len;
        memcpy(key, e->node.name, n);
        dict_delete(&s->counts, key, n);
    }
    pthread_mutex_unlock(&s->mu);
}

uint32_t iplimit_count(struct iplimit *l, const struct sockaddr_storage *ss)
{
    uint8_t key[16];
    size_t n = addr_key(ss, key);
    struct stripe *s = stripe_of(l, key, n);
    pthread_mutex_lock(&s->mu);
    struct dict_entry *e = dict_find(&s->counts, key, n);
    uint32_t c = e ? (uint32_t)(uintptr_t)e->value : 0;
    pthread_mutex_unlock(&s->mu);
    return c;
}
