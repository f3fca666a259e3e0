/* SipHash-1-3, a keyed hash for tables whose keys peers choose (topic
 * names, addresses): under a random key they cannot make entries collide
 * (hash flooding). */
#ifndef SPOKE_SIPHASH_H
#define SPOKE_SIPHASH_H
#include <stddef.h>
#include <stdint.h>

/* SipHash-1-3 of (p, n) under key (k0, k1). */
uint64_t siphash13(uint64_t k0, uint64_t k1, const void *p, size_t n);

#endif
