/* The results of edge workers' recent publishes, so that a PUBLISH an edge
 * sends again after its link broke gets its first result instead of being
 * ordered twice (docs/protocol.md, "After HELLO": Publish).
 *
 * One record per run of an edge worker: (edge name, worker, boot). Its
 * pub_ids only grow, so a record keeps the highest pub_id ordered and the
 * results of the last `window` of them (the max_pending_publishes of the
 * policy the hub sent that link: an edge never has more in flight). A
 * record outlives its link for `keep` seconds (twice publish_timeout: by
 * then the edge has given up on every publish of the old link), so a link
 * that comes back in time finds it.
 *
 * Invariants, whenever no call runs:
 *   entries: e[0, n) in ring order have strictly increasing pub_ids, all at
 *            most `highest`; n <= window; cap is 0 or a power of two >= n.
 *   records: each is attached (a link holds it) or retired (on the retired
 *            list, oldest first, at most max_retired of them) or dead (out
 *            of the table, kept only while publishes in flight hold it).
 * Memory: at most window * PUBLOG_ENTRY_BYTES per record (rings grow as
 * pub_ids come), records at most the open links plus max_retired. */
#ifndef SPOKE_HUB_PUBLOG_H
#define SPOKE_HUB_PUBLOG_H
#include <stddef.h>
#include <stdint.h>

#include "common/link.h"

struct publog;
struct publog_rec;

/* A publish's first result. */
struct publog_result {
    uint32_t code; /* 0: ordered; 429: refused */
    uint64_t seq;
    char epoch[LINK_MAX_EPOCH + 1];
    uint64_t answered; /* the link it was sent on (0: none yet) */
};

/* Who a record is for (name points into the record). */
struct publog_key {
    const char *name;
    size_t len;
    uint32_t worker;
    uint64_t boot;
};

enum publog_seen {
    PUBLOG_NEW,       /* above the highest: order it (publog_begin first) */
    PUBLOG_PENDING,   /* ordered, its result not known yet */
    PUBLOG_DONE,      /* ordered: *res is its first result */
    PUBLOG_FORGOTTEN, /* at most the highest, but not remembered: not ordered again */
};

struct publog *publog_new(size_t max_retired);
/* Frees every record (dead ones still held too). No-op on NULL. */
void publog_free(struct publog *pl);

/* The record of (name, worker, boot) for a link that opened: the one it
 * had if it is still kept, else a new one. window: results remembered;
 * owner: the caller's link, which publog_owner gives back until it detaches. */
struct publog_rec *publog_attach(struct publog *pl, const char *name, size_t len, uint32_t worker,
                                 uint64_t boot, size_t window, void *owner);
/* The owner attached to r, or NULL once its link went (retired or dead):
 * where a publish's result goes, found without a lookup. */
void *publog_owner(const struct publog_rec *r);
/* The record's link `owner` went at now (seconds): keep it keep_s more.
 * No-op if another owner attached it since. */
void publog_detach(struct publog *pl, struct publog_rec *r, const void *owner, double now,
                   double keep_s);
/* Forgets retired records whose time is up at now. */
void publog_expire(struct publog *pl, double now);
/* A new window (the link's policy changed); the oldest results beyond it go. */
void publog_set_window(struct publog_rec *r, size_t window);

/* A publish in flight holds its record: it is not freed before
 * publog_release, even once forgotten. */
void publog_hold(struct publog_rec *r);
void publog_release(struct publog *pl, struct publog_rec *r);

struct publog_key publog_key_of(const struct publog_rec *r);
/* What pub_id is to r (see enum publog_seen); fills *res for DONE. */
enum publog_seen publog_check(const struct publog_rec *r, uint64_t pub_id,
                              struct publog_result *res);
/* pub_id (above the highest) is being ordered. */
void publog_begin(struct publog_rec *r, uint64_t pub_id);
/* pub_id's result (ignored if it is no longer remembered). */
void publog_done(struct publog_rec *r, uint64_t pub_id, const struct publog_result *res);

/* Records (attached and retired). */
size_t publog_count(const struct publog *pl);

#define PUBLOG_ENTRY_BYTES 48

#endif
