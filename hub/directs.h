/* The direct messages the hub forwarded with an id and whose result it
 * still awaits. A DIRECT_RESULT is passed on only if it answers one of
 * these, coming from the link the direct went to: a compromised or buggy
 * edge cannot make up answers for requests it never received.
 *
 * A record is keyed by (target link, sender's connection id, request id).
 * Each target link has a list of its records (answered with an error when
 * that link goes) and all records sit in one list in the order they were
 * made, which is also their expiry order (one timeout for all). */
#ifndef SPOKE_HUB_DIRECTS_H
#define SPOKE_HUB_DIRECTS_H
#include <stddef.h>
#include <stdint.h>

struct directs;

struct directs *directs_new(void);
void directs_free(struct directs *d); /* NULL ok */

/* Records that a direct with request id `id` from connection `from` went to
 * link `target`, at time `now` (seconds). Returns 0, or -1 when the target
 * already awaits `max` results, or holds this very (from, id) already:
 * nothing is recorded and the caller answers the sender itself. */
int directs_add(struct directs *d, uint64_t target, const char *from, size_t from_len, int64_t id,
                double now, size_t max);

/* Takes the record a result from `target` for (to, id) answers. Returns 1 if
 * it was awaited (the record is gone), 0 if not. */
int directs_take(struct directs *d, uint64_t target, const char *to, size_t to_len, int64_t id);

/* Forgets every record of `target`, calling fn(from, from_len, id, ud) for
 * each first, so the caller can tell the senders. fn must not call back
 * into d. */
void directs_drop_target(struct directs *d, uint64_t target,
                         void (*fn)(const char *from, size_t from_len, int64_t id, void *ud),
                         void *ud);

/* Forgets records made before `before` (seconds). Returns how many. */
size_t directs_expire(struct directs *d, double before);

/* Records held, in all and for one target. */
size_t directs_count(const struct directs *d);
size_t directs_count_for(const struct directs *d, uint64_t target);

#endif
