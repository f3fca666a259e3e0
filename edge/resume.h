/* Subscriptions that resume from a position (`since`): what a client
 * missed is delivered before it joins the topic's members, with no gap and
 * no duplicate (docs/protocol.md, "Positions and recovery").
 *
 * A resuming subscription is answered at once when its position is the
 * topic's, of another epoch, or ahead of it; from the topic's cache when
 * the cache holds every message after it; otherwise it waits for a
 * HISTORY_READ of the topic. Reads are shared: all subscriptions of a
 * topic that wait when the end of the loop turn comes go in one read, from
 * the oldest position among them, and a read in progress makes the others
 * wait for it. The replay a read brings becomes the topic's cache, which
 * then follows live messages, so every later resume near the topic's
 * position is served here without asking the hub (an edge that drained
 * onto this one: thousands of connections, one read per topic).
 *
 * A cache holds the last messages of a topic as shared frames in both
 * encodings; it is bounded per topic (RESUME_CACHE_MAX messages), per
 * worker (a byte budget: the least recently used cache goes first) and in
 * time (one unused for RESUME_CACHE_IDLE_S seconds goes). Pure
 * bookkeeping: it calls nobody above it; frames go to connections through
 * the push callback, replies through the topic table's answer callback. */
#ifndef SPOKE_EDGE_RESUME_H
#define SPOKE_EDGE_RESUME_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"
#include "edge/frame.h"
#include "edge/topic.h"

#define RESUME_CACHE_MAX 4096
#define RESUME_CACHE_IDLE_S 30.0

/* Queues a new reference to frame f for connection c (a member or one
 * catching up). */
typedef void (*resume_push_fn)(void *ud, struct client *c, struct frame *f);

struct resumes {
    struct topics *ts;
    resume_push_fn push;
    void *ud;
    struct topic *due;       /* topics due for a history read, via due_next */
    struct topic_cache *lru; /* caches, least recently used first */
    struct topic_cache *mru;
    size_t cache_bytes, cache_budget;
    int64_t next_read_id;
    uint64_t reads, served_cached, recovered, not_recovered;
};

void resumes_init(struct resumes *rs, struct topics *ts, resume_push_fn push, void *ud,
                  size_t cache_budget);
/* Frees every cache (the topics stay). */
void resumes_deinit(struct resumes *rs);

/* Resumer r (just made by topic_resume) asks for what came after its
 * position: answered now, or waiting (a read due, the topic's own position
 * unknown yet, or a read in progress). linked: the hub link is up (if not,
 * what needs the hub is answered "hub unavailable"). now: the loop time. */
void resume_request(struct resumes *rs, struct topic_resumer *r, int linked, ev_tstamp now);
/* t has just got its position, or its link is back: its waiting resumers
 * are evaluated again. */
void resume_positioned(struct resumes *rs, struct topic *t, ev_tstamp now);

/* The next topic due for a history read and the read's position (*since,
 * in t->epoch) and id: its waiting resumers are now in that read. NULL when
 * none is due. */
struct topic *resume_next_read(struct resumes *rs, uint64_t *since, int64_t *id);
/* The hub answered read `id` of topic t: recovered 1 and seq (the end of
 * the replay, its MESSAGEs follow), or not (reason). */
void resume_read_result(struct resumes *rs, struct topic *t, int64_t id, int code, int recovered,
                        uint64_t seq, const char *reason, ev_tstamp now);
/* A replayed message of read `id` (frames per encoding, NULL where it has
 * no rendering; the caller keeps its references). */
void resume_replayed(struct resumes *rs, struct topic *t, int64_t id, uint64_t seq,
                     struct frame *const frames[ENC_COUNT], ev_tstamp now);
/* A live message delivered to t's members: the cache, if t has one, keeps
 * it (it needs frames in both encodings then: resume_wants_both). */
void resume_delivered(struct resumes *rs, struct topic *t, uint64_t seq,
                      struct frame *const frames[ENC_COUNT]);
/* 1 if t's messages should be rendered in both encodings (a cache or a
 * replay in progress keeps both), 0 otherwise. */
static inline int resume_wants_both(const struct topic *t)
{
    return t->cu->cache != NULL || t->cu->read_id != 0;
}

/* t's numbering moved (the hub could not resume it): its cache is of no
 * use any more. */
void resume_topic_moved(struct resumes *rs, struct topic *t);
/* The link is down: every resume in progress or waiting for the hub is
 * answered `recovered: false` ("hub unavailable") and joins. */
void resume_link_down(struct resumes *rs);
/* Drops caches unused for RESUME_CACHE_IDLE_S (a periodic sweep). */
void resume_sweep(struct resumes *rs, ev_tstamp now);

#endif
