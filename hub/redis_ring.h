/* The consistent hash that maps topics to Redis shards. Each shard is
 * REDIS_RING_POINTS points on a 64-bit circle, at the hash of its label
 * (the address as written in `redis`) and the point's number; a topic
 * belongs to the first point at or after its own hash. So every hub given
 * the same shards, in any order, maps a topic to the same one, and adding a
 * shard to n moves about 1/(n+1) of the topics, all of them to it. The hash
 * is SipHash-1-3 with fixed keys: the same in every process, unlike the
 * dict's. Pure: no I/O, no allocation after init. */
#ifndef SPOKE_HUB_REDIS_RING_H
#define SPOKE_HUB_REDIS_RING_H
#include <stddef.h>
#include <stdint.h>

#define REDIS_RING_POINTS 160

struct redis_ring_point {
    uint64_t at;
    uint32_t shard;
};

struct redis_ring {
    struct redis_ring_point *pts; /* sorted by at */
    size_t n;
};

/* The ring of nshards (>= 1) shards named labels[0, nshards). */
void redis_ring_init(struct redis_ring *r, const char *const *labels, size_t nshards);
void redis_ring_deinit(struct redis_ring *r);
/* The index (into labels) of the shard topic[0, len) belongs to. O(log points). */
uint32_t redis_ring_shard(const struct redis_ring *r, const char *topic, size_t len);

#endif
