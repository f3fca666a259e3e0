/* The memory engine's history: each topic's last messages in a ring, kept
 * within the topic's count and age bounds and, all topics together, within
 * one byte budget that evicts the oldest message of the hub first.
 *
 * Invariants, true whenever no call is running:
 *   ring:   0 <= n <= cap; cap is 0 or a power of two; slot[(head + k) &
 *           (cap - 1)] holds seq first_seq + k for 0 <= k < n. The ring is
 *           always the last n messages of its topic (a suffix): an entry
 *           leaves only together with every older entry of its ring, and a
 *           message that is not stored (count bound 0, larger than the
 *           budget, or a seq that does not follow) empties the ring first.
 *   class:  each stored entry is in exactly one age class, the one of the
 *           max_age_ms it was stored with, linked oldest first. Within a
 *           class stored_ms (and so stored_ms + max_age_ms) never decreases
 *           from head to tail: the head is the next to expire.
 *   budget: bytes == the sum of every stored entry's cost <= budget, and
 *           ring->bytes == the sum over that ring's entries.
 * A message's cost is what it really holds: its block as the allocator
 * sized it (malloc_usable_size), the allocator's chunk header and its ring
 * slot; the slack of a ring's slot array (at most its cap) is not counted.
 *
 * Costs: storing is O(1) amortised; age expiry and budget eviction are O(1)
 * per entry evicted, plus, for the budget, a look at each class's head to
 * find the oldest (O(classes): one class per distinct max age in use).
 *
 * The store never frees a ring or calls its owner back: rings it emptied
 * by eviction or expiry are listed for the owner to collect
 * (history_take_emptied), so the owner may drop a topic between calls,
 * never during one. */
#ifndef SPOKE_HUB_HISTORY_H
#define SPOKE_HUB_HISTORY_H
#include <stddef.h>
#include <stdint.h>

#include "common/link.h"

/* Why entries left (the reason of the one evicted; older ones of its ring
 * that leave with it count under the same reason). */
enum history_reason { HISTORY_COUNT, HISTORY_AGE, HISTORY_BUDGET, HISTORY_NREASONS };

struct history_class;

/* One stored message: what a replayed MESSAGE needs. Its strings are
 * copied into text[]: from, then user, then data. */
struct history_entry {
    struct history_entry *prev, *next; /* its age class, oldest first */
    struct history_class *cls;
    struct history_ring *ring;
    uint64_t seq;
    uint64_t stored_ms;
    uint32_t cost; /* counted against the budget */
    uint32_t data_len;
    uint8_t from_len, user_len, enc;
    char text[];
};

/* A topic's history, embedded in its owner's topic state. */
struct history_ring {
    struct history_entry **slot;
    uint64_t first_seq; /* seq of the oldest entry (meaningful while n > 0) */
    uint64_t bytes;     /* cost of its entries */
    struct history_ring *emptied_next;
    uint32_t head, n, cap;
    uint32_t emptied; /* on the store's emptied list */
};

/* What is stored of a message (strings are copied). */
struct history_msg {
    struct link_str from, user, data;
    uint8_t enc;
};

struct history {
    struct history_class **classes; /* the classes with entries, in no order */
    size_t nclasses;
    uint64_t budget, bytes, messages;
    uint64_t evicted[HISTORY_NREASONS];
    struct history_ring *emptied;
};

/* A store holding at most budget bytes of messages. */
struct history *history_new(uint64_t budget);
/* Frees the store. Every ring must have been emptied (history_ring_clear)
 * first. No-op on NULL. */
void history_free(struct history *h);

void history_ring_init(struct history_ring *r);
/* Drops every entry of r (not counted as evictions) and frees its slots:
 * for an owner forgetting the topic. r may be on the emptied list only if
 * the owner took that list first. */
void history_ring_clear(struct history *h, struct history_ring *r);

/* Stores message seq of r's topic at now_ms, within max_count messages
 * (0: none kept) and max_age_ms (0: no age bound), first evicting the
 * hub's oldest messages until it fits the budget. seq must be the topic's
 * next (first_seq + n while n > 0); any other seq, a max_count of 0 or a
 * cost over the whole budget empties r instead (the ring stays a suffix).
 * Returns 1 if stored, 0 if not. */
int history_store(struct history *h, struct history_ring *r, uint64_t seq,
                  const struct history_msg *m, uint64_t now_ms, uint32_t max_count,
                  uint64_t max_age_ms);
/* Evicts every entry whose age bound has passed at now_ms. */
void history_expire(struct history *h, uint64_t now_ms);

/* The entry for seq, or NULL if r does not hold it. */
const struct history_entry *history_get(const struct history_ring *r, uint64_t seq);
static inline uint64_t history_last_seq(const struct history_ring *r)
{
    return r->n ? r->first_seq + r->n - 1 : 0;
}

/* An entry's strings. */
static inline struct link_str history_from(const struct history_entry *e)
{
    return (struct link_str){e->text, e->from_len};
}
static inline struct link_str history_user(const struct history_entry *e)
{
    return (struct link_str){e->text + e->from_len, e->user_len};
}
static inline struct link_str history_data(const struct history_entry *e)
{
    return (struct link_str){e->text + e->from_len + e->user_len, e->data_len};
}

/* Takes the list of rings emptied by eviction or expiry since the last
 * call (linked by emptied_next; a ring listed may hold entries again). */
struct history_ring *history_take_emptied(struct history *h);

#endif
