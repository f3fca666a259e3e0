/* The direct messages the hub forwarded with an id and whose result it
 * still awaits. A DIRECT_RESULT is passed on only if it answers one of
 * these, coming from the link the direct went to: a compromised or buggy
 * edge cannot make up answers for requests it never received.
 *
 * A record is keyed by (target, sender's connection id, request id). A
 * target is a link id, or the id hub/cluster.h gives another hub (a direct
 * relayed there through Redis); a record also keeps the sender's origin: 0
 * for a sender on one of our links, or the id of the hub that relayed the
 * direct to us, where its result must go back. Each target has a list of
 * its records (answered with an error when that target goes) and all
 * records sit in one list in the order they were made, which is also their
 * expiry order (one timeout for all). */
#ifndef SPOKE_HUB_DIRECTS_H
#define SPOKE_HUB_DIRECTS_H
#include <stddef.h>
#include <stdint.h>

struct directs;

struct directs *directs_new(void);
void directs_free(struct directs *d); /* NULL ok */

/* Records that a direct with request id `id` from connection `from` (of
 * origin `origin`, see above) went to `target`, at time `now` (seconds).
 * Returns 0, or -1 when the target already awaits `max` results, or holds
 * this very (from, id) already: nothing is recorded and the caller answers
 * the sender itself. */
int directs_add(struct directs *d, uint64_t target, const char *from, size_t from_len, int64_t id,
                uint64_t origin, double now, size_t max);

/* Takes the record a result from `target` for (to, id) answers. Returns 1 if
 * it was awaited (the record is gone; *origin, if not NULL, gets its
 * origin), 0 if not. */
int directs_take(struct directs *d, uint64_t target, const char *to, size_t to_len, int64_t id,
                 uint64_t *origin);

/* Forgets every record of `target`, calling fn(from, from_len, id, origin,
 * ud) for each first, so the caller can tell the senders. fn must not call
 * back into d. */
void directs_drop_target(struct directs *d, uint64_t target,
                         void (*fn)(const char *from, size_t from_len, int64_t id, uint64_t origin,
                                    void *ud),
                         void *ud);

/* Calls fn(target, ud) once for every target above `min` that has records
 * (the targets hub/cluster.h numbers are). fn may call directs_drop_target
 * on the target it is given. */
void directs_foreach_target(struct directs *d, uint64_t min, void (*fn)(uint64_t target, void *ud),
                            void *ud);

/* Forgets records made before `before` (seconds). Returns how many. */
size_t directs_expire(struct directs *d, double before);

/* Records held, in all and for one target. */
size_t directs_count(const struct directs *d);
size_t directs_count_for(const struct directs *d, uint64_t target);

#endif
