/* The hub's own interest table: which of this hub's links want which topic,
 * the fan-out of a topic's live messages to them, and what a link's
 * interest holds back while a replay for it is pending. The ordering state
 * (seq, epoch, history) is the engine's (hub/engine.h); this table only
 * knows what this hub's links asked for. Links are opaque here: each gets
 * an interest_peer that stores the caller's `owner` pointer and hands it
 * back to the fan-out callbacks.
 *
 * A topic entry exists while at least one link is interested. Its `seq` is
 * the last live seq fanned out in its `epoch`: a live message at or below
 * it is a duplicate and dropped, so every link gets a topic's live messages
 * in increasing seq order, each once. Once the engine has answered the
 * hub's interest (READY), a live message of another epoch is a stale copy
 * and dropped too; before (PENDING) the entry follows the epoch of what
 * comes, and each replay keeps only held messages of its own epoch.
 *
 * Holds. A membership waiting for a replay (INTEREST_RESULT or
 * HISTORY_RESULT, then the replayed MESSAGEs) must get no live message of
 * the topic before them, nor one the replay covers. interest_hold makes it
 * hold live messages back (copies, counted per peer, at most max_held bytes
 * per peer), interest_release ends one replay and sets the seq up to which
 * the replays covered the topic (skip_to); once none is pending, what is
 * held above skip_to goes out and what is at or below it is dropped, and
 * so are later live messages at or below it.
 *
 * Invariants, whenever no call runs:
 *   topic:  interest_slots(tp)[0, n) are its memberships, slot k's m->slot == k, n >= 1;
 *           holds counts those whose hold is not NULL.
 *   hold:   exists iff pending > 0 or skip_to > topic->seq; its held
 *           messages are in the order they came (increasing seqs within an
 *           epoch); a peer's held_bytes is the sum of the held sizes over
 *           its holds.
 *   peer:   its list holds exactly its memberships, ntopics of them, at most
 *           max_peer_topics; a topic has at most one membership per peer. */
#ifndef SPOKE_HUB_INTEREST_H
#define SPOKE_HUB_INTEREST_H
#include <stddef.h>
#include <stdint.h>

#include "common/link.h"
#include "common/strtab.h"

struct interest;
struct interest_hold;

/* Where the engine's interest in a topic stands (the caller sets it). */
enum interest_state {
    INTEREST_PENDING,     /* engine_interest_add asked, not answered */
    INTEREST_READY,       /* answered: live messages flow from `seq` on */
    INTEREST_REFUSED,     /* the engine refused (max_topics) */
    INTEREST_UNAVAILABLE, /* the engine's store could not be reached: refused too (503) */
};

struct interest_member {
    struct interest_peer *peer;
    struct interest_topic *topic;           /* NULL: a topic's unused one_m */
    struct interest_member *pnext, **pprev; /* the peer's memberships */
    struct interest_hold *hold;             /* NULL unless holding (see above) */
    uint32_t slot;
};

struct interest_slot {
    void *owner; /* inline, so fan-out reads one array */
    struct interest_member *m;
};

/* 120 bytes and the name in one allocation (144 bytes for a name of up to
 * 15) with the first member inline, slot and membership: most topics have
 * one interested link (a topic of one's own). */
struct interest_topic {
    uint64_t seq; /* last live seq fanned out (or the engine's position)... */
    /* The member slots, unordered (removal swaps the last one in): the one
     * inline while cap_log2 is 0, else 1 << cap_log2 of them in many. */
    union {
        struct interest_slot one;
        struct interest_slot *many;
    } slots;
    uint32_t n;
    uint32_t gen;                   /* the caller's: which engine call the entry waits for */
    uint32_t holds;                 /* members with a hold: while 0, fan-out reads only slots */
    uint8_t state;                  /* the caller's enum interest_state */
    uint8_t cap_log2;               /* see slots */
    char epoch[LINK_MAX_EPOCH + 1]; /* ... in this epoch (see above) */
    struct interest_member one_m;   /* the first membership (one_m.topic NULL: unused) */
    struct strnode node;            /* in the table, the name right behind it: last */
};

/* tp's member slots, n of them. */
static inline struct interest_slot *interest_slots(struct interest_topic *tp)
{
    return tp->cap_log2 ? tp->slots.many : &tp->slots.one;
}

/* A link's memberships are a list through them: finding one walks the
 * topic's members instead (interest_member_of), so a membership costs no
 * table entry of its own. */
struct interest_peer {
    void *owner;
    struct interest *table;
    struct interest_member *members; /* its memberships */
    size_t ntopics;
    size_t held_bytes;
};

/* What fan-out does with a message for one link. */
struct interest_out {
    /* Queues the encoded MESSAGE on owner's link. */
    void (*send)(void *owner, const uint8_t *msg, size_t len, void *ud);
    /* owner's peer would hold back more than max_held bytes: nothing more is
     * held for it, and the caller drops that link (it is congested). */
    void (*overflow)(void *owner, void *ud);
    void *ud;
    size_t max_held;
};

/* A table allowing each peer at most max_peer_topics topics. */
struct interest *interest_new(size_t max_peer_topics);
/* Frees the table; every peer must have been freed first. No-op on NULL. */
void interest_free(struct interest *t);

struct interest_peer *interest_peer_new(struct interest *t, void *owner);
/* Removes all of p's interest (O(its topics)) and frees it, calling gone()
 * for each topic whose last member it was (the caller tells the engine).
 * No-op on NULL. */
void interest_peer_free(struct interest *t, struct interest_peer *p,
                        void (*gone)(struct link_str topic, void *ud), void *ud);

#define INTEREST_PEER_FULL (-1)

/* Adds p's interest in topic and sets *out to the membership. Returns 2 if
 * the topic is new to the table (its entry starts PENDING, seq 0: the
 * caller asks the engine), 1 if the membership is new, 0 if p was already
 * interested, or INTEREST_PEER_FULL (p holds max_peer_topics; nothing
 * changed). */
int interest_add(struct interest *t, struct interest_peer *p, struct link_str topic,
                 struct interest_member **out);
/* Removes p's interest (and what it holds). Returns 2 if the topic's entry
 * went with it (the caller tells the engine), 1 if removed, 0 if p had
 * none. */
int interest_remove(struct interest *t, struct interest_peer *p, struct link_str topic);

struct interest_member *interest_member_of(const struct interest_peer *p, struct link_str topic);
struct interest_topic *interest_find(const struct interest *t, struct link_str topic);
static inline size_t interest_peer_topics(const struct interest_peer *p)
{
    return p ? p->ntopics : 0;
}
/* Topics with at least one interested link. */
size_t interest_topic_count(const struct interest *t);

/* 1 if a live message (seq, epoch) of tp is not one to drop (a duplicate,
 * or a stale copy of another epoch). */
int interest_is_new(const struct interest_topic *tp, uint64_t seq, struct link_str epoch);
/* Fans a live message of tp out: drops it unless interest_is_new, else
 * records seq (and, while PENDING, epoch) and, per member, sends the
 * encoded msg, holds a copy, or skips it (see Holds). */
void interest_deliver(struct interest *t, struct interest_topic *tp, uint64_t seq,
                      struct link_str epoch, const uint8_t *msg, size_t len,
                      const struct interest_out *out);

/* m waits for one more replay: from now live messages are held back.
 * Returns the hold's id, unique in the table, which interest_holds checks
 * (a membership removed and added again has another). */
uint64_t interest_hold(struct interest *t, struct interest_member *m);
/* 1 if m's hold is the one hold_id names. */
int interest_holds(const struct interest_member *m, uint64_t hold_id);
/* Sends now what m holds of epoch at or below seq (live messages that come
 * before a result placed after seq); held messages of another epoch go. */
void interest_send_held(struct interest_member *m, uint64_t upto, struct link_str epoch,
                        const struct interest_out *out);
/* One of m's replays ended, having covered the topic up to skip_to in
 * epoch (0: nothing; an epoch other than that of a READY topic covers
 * nothing of it). When none is pending any more, what is held of that
 * epoch above the highest skip_to goes out, in order, and the rest goes. */
void interest_release(struct interest_member *m, uint64_t skip_to, struct link_str epoch,
                      const struct interest_out *out);

/* The engine moved tp's numbering (engine.h, on_moved): its live messages
 * go on after seq in epoch. What the holds were to skip was counted in the
 * old numbering: holds kept only for that go, pending ones skip nothing
 * yet. */
void interest_moved(struct interest_topic *tp, uint64_t seq, struct link_str epoch);

#endif
