/* A worker's local subscriptions: topic -> subscribed connections, and each
 * connection's list of its subscriptions, with each topic's position (the
 * last seq delivered here, in the hub's epoch). Pure bookkeeping: it calls
 * nobody above it. Subscribing says whether the topic is new ("first") and
 * unsubscribing whether it went ("last"), and the caller tells the hub.
 * Acks and refusals for requests that wait on the hub's answer go out
 * through the answer callback given to topics_init.
 *
 * The hub answers each registration of interest: a `sub` with an id that
 * created or joined a topic still waiting for that answer is acked (or
 * refused with 429) only once it comes, so an ack means the hub routes the
 * topic here. While the link is down, subscriptions are local and acked at
 * once; the registration is sent when it is back.
 *
 * A subscription that resumes from a position (`since`, edge/resume.c) is
 * on its connection's list but not among the topic's members until it has
 * caught up: live messages reach members only, so they never overtake the
 * missed ones. Its record (struct topic_resumer) lives here, so leaving
 * frees it like any subscription.
 *
 * A topic keeps its members in an array, so fan-out walks contiguous
 * memory; each connection keeps a list of its subscriptions, each recording
 * its slot in the topic's array so leaving is O(1) (swap with the last).
 * Connections are opaque here: `struct client *` is only compared and
 * handed back. */
#ifndef SPOKE_EDGE_TOPIC_H
#define SPOKE_EDGE_TOPIC_H
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"
#include "common/msg.h"
#include "common/strtab.h"

struct client;
struct topic;
struct topic_subs;
struct topic_cache;

#define TOPIC_NOT_MEMBER UINT32_MAX

/* One (connection, topic) pair, on the connection's list. */
struct sub {
    struct sub *cnext;
    struct topic *t;
    uint32_t slot;    /* index in t->members; TOPIC_NOT_MEMBER while resuming */
    uint8_t enc;      /* the connection's encoding */
    uint8_t answered; /* scratch mark while a refusal is answered */
};

/* A connection's subscriptions (embedded in struct client, at the offset
 * given to topics_init). */
struct topic_subs {
    struct sub *head;
};

struct topic_member {
    struct client *c;
    struct sub *sub;
};

/* A sub's ack that waits for the hub's answer. */
struct topic_waiter {
    struct topic_waiter *next;
    struct sub *sub;
    int64_t id;
};

/* A subscription catching up from a position (see the top). */
enum topic_resume_state {
    TOPIC_RESUME_WAIT_POSITION, /* the topic's own position is not known yet */
    TOPIC_RESUME_WAIT_READ,     /* it needs messages the hub holds: a read is due */
    TOPIC_RESUME_IN_READ,       /* the topic's history read is on its way */
};
struct topic_resumer {
    struct topic_resumer *next;
    struct sub *sub;
    struct client *c;
    uint64_t since; /* the last seq it has */
    int64_t id;
    uint8_t has_id;
    uint8_t state;
    char epoch[EPOCH_MAX_LEN + 1]; /* of since */
};

/* What only a topic that connections resumed on needs (made by the first
 * resume, freed with the topic), kept out of struct topic so that the
 * others do not pay for it. */
struct topic_catchup {
    struct topic_resumer *resumers; /* subs catching up, not members yet */
    uint32_t nresumers;
    uint8_t due;
    uint8_t reading; /* the read's result came, its MESSAGEs are arriving */
    /* Kept by edge/resume.c: a copy of recent messages (NULL unless
     * connections resumed lately), and the topic's history read. */
    struct topic_cache *cache;
    struct topic *due_next; /* on the list of topics due for a history read */
    int64_t read_id;        /* the HISTORY_READ on its way; 0: none */
    uint64_t read_since;    /* its position */
    uint64_t read_end;      /* its result's seq, once the result came */
};

/* Every topic's `cu` until it needs one of its own: all zero, read-only,
 * so that reads need no test and a stray write faults. */
extern const struct topic_catchup topic_catchup_none;

/* 104 bytes and the name in one allocation (128 bytes for a name of up to
 * 15, 144 up to 31), without holes: a topic of one's own (user.<id>) is
 * the common case, so a single member lives inline and the rest is out of
 * line (docs/performance.md, "Memory per connection and per topic"). */
struct topic {
    struct topic_member *members; /* &one while cap is 1 */
    struct topic_member one;
    uint32_t n, cap;
    uint32_t nmsgpack; /* members in ENC_MSGPACK; the other n - nmsgpack in ENC_JSON */
    /* The position: the last seq delivered to the members (below), in the
     * epoch the hub gave ("": not known yet). */
    char epoch[EPOCH_MAX_LEN + 1];
    int64_t add_id;               /* the INTEREST_ADD the hub has yet to answer; 0: none */
    struct topic_waiter *waiters; /* acks held until that answer */
    uint64_t seq;
    struct topic_catchup *cu; /* &topic_catchup_none, or its own (topic_catchup) */
    struct strnode node;      /* in struct topics, the name right behind it: last */
};

_Static_assert(ENC_COUNT == 2, "struct topic counts the members of one encoding of two");

/* How many of t's members take encoding enc. */
static inline uint32_t topic_count(const struct topic *t, enum enc enc)
{
    return enc == ENC_MSGPACK ? t->nmsgpack : t->n - t->nmsgpack;
}

/* t's catch-up state, made on first use: every write goes through here. */
struct topic_catchup *topic_catchup(struct topic *t);
static inline int topic_has_catchup(const struct topic *t)
{
    return t->cu != &topic_catchup_none;
}

/* Replies to connection c about topic t: code 0 acks request id (with t's
 * position when it has one; recovered: -1 for a sub without since, else 0
 * or 1, with reason when 0); else error `code` with reason, for request id
 * if has_id, as a notice otherwise. */
typedef void (*topic_answer_fn)(void *ud, struct client *c, const struct topic *t, int has_id,
                                int64_t id, int code, int recovered, const char *reason);
/* Told the name of each topic that lost its last subscriber. */
typedef void (*topic_last_fn)(void *ud, const char *name, size_t len);

struct topics {
    struct strtab by_name; /* struct topic by name */
    size_t nsubs;          /* (connection, topic) pairs */
    topic_answer_fn answer;
    void *ud;
    /* Called as a topic with a cache or a due read goes, to forget them
     * (edge/resume.c sets it). */
    void (*release)(void *release_ud, struct topic *t);
    void *release_ud;
    size_t subs_offset; /* of a connection's struct topic_subs in it */
};

/* subs_offset: where a connection keeps its struct topic_subs
 * (offsetof(struct client, subs)). */
void topics_init(struct topics *ts, topic_answer_fn answer, void *ud, size_t subs_offset);
/* Frees every topic; the connections' lists must be gone already, and
 * the caches (resumes_deinit). */
void topics_deinit(struct topics *ts);
static inline size_t topics_count(const struct topics *ts)
{
    return ts->by_name.count;
}
static inline int topic_has_position(const struct topic *t)
{
    return t->epoch[0] != '\0';
}
/* Sets t's position; epoch[0, len) is valid (epoch_is_valid). */
void topic_set_position(struct topic *t, uint64_t seq, const char *epoch, size_t len);

enum {
    TOPIC_LIMIT_TOPICS = -2, /* a new topic, and the worker holds max_topics */
    TOPIC_LIMIT_SUBS = -1,   /* the connection holds max_subs */
    TOPIC_JOINED = 0,        /* subscribed to an existing topic */
    TOPIC_ALREADY = 1,       /* the connection was subscribed already */
    TOPIC_FIRST = 2,         /* subscribed, and the topic is new: tell the hub */
};

/* Subscribes connection c (its list `mine`, encoding enc) to the topic;
 * with `resuming`, the subscription does not join the members (see
 * topic_resume and topic_join). Returns one of the values above; *out is
 * the subscription unless a limit was hit. */
int topic_subscribe(struct topics *ts, struct client *c, struct topic_subs *mine, enum enc enc,
                    const char *name, size_t len, uint32_t max_subs, uint32_t max_topics,
                    int resuming, struct sub **out);
/* Holds s's ack for request id until the hub answers s->t->add_id. */
void topic_wait(struct sub *s, int64_t id);
/* Records that s (of connection c, not a member) resumes after position
 * (since, epoch), for request id if has_id. Returns the record, in state
 * TOPIC_RESUME_WAIT_POSITION, first on its topic's list. */
struct topic_resumer *topic_resume(struct sub *s, struct client *c, uint64_t since,
                                   const char *epoch, int has_id, int64_t id);
/* The subscription of resumer r joins the members; r is freed. */
void topic_join(struct topic_resumer *r);

enum {
    TOPIC_NOT_SUBSCRIBED = 0,
    TOPIC_LEFT = 1, /* unsubscribed; others remain */
    TOPIC_LAST = 2, /* unsubscribed, and the topic went with its last subscriber */
};
/* Unsubscribes c. A sub ack of c still waiting in that topic is sent
 * first; a resume in progress just ends. Returns one of the values above. */
int topic_unsubscribe(struct topics *ts, struct client *c, struct topic_subs *mine,
                      const char *name, size_t len);
/* Drops every subscription of a connection that is going (held acks are
 * not sent); last(ud, name) for each topic that goes with it. */
void topic_unsubscribe_all(struct topics *ts, struct topic_subs *mine, topic_last_fn last,
                           void *ud);
static inline struct topic *topic_find(struct topics *ts, const char *name, size_t len)
{
    return strtab_get(&ts->by_name, name, len, struct topic, node);
}
/* Calls fn for every topic (fn must not subscribe or unsubscribe). */
void topic_foreach(struct topics *ts, void (*fn)(void *ud, struct topic *t), void *ud);

/* What topic_interest_result did. */
enum topic_result {
    TOPIC_RESULT_STALE = 0,  /* no such topic, or an answer to an older request */
    TOPIC_RESULT_REFUSED,    /* the topic went; its subscribers were told */
    TOPIC_RESULT_POSITIONED, /* the topic had no position and now has one */
    TOPIC_RESULT_RESUMED,    /* it had one, and the hub goes on from it */
    TOPIC_RESULT_MOVED,      /* it had one, the hub could not go on from it, and the
                              * position is the hub's now: messages were lost */
};
/* The hub answered INTEREST_ADD `id` for topic name: code, reason, and for
 * code 0 the topic's position on the hub (seq, epoch) and whether the hub
 * goes on from the position the edge sent (recovered). Code 0 sends the
 * acks held for the topic (with its position); any other code refuses the
 * topic: every subscriber gets error `code` with reason (waiting and
 * resuming ones with their request id) and loses the subscription, and the
 * topic goes (the hub holds nothing for it). Returns what it did; *out is
 * the topic unless it went or the answer was stale. */
enum topic_result topic_interest_result(struct topics *ts, const char *name, size_t len, int64_t id,
                                        int code, const char *reason, uint64_t seq,
                                        const char *epoch, size_t epoch_len, int recovered,
                                        struct topic **out);
/* The link is down: held acks are sent (the subscriptions stand locally)
 * and nothing waits for the hub any more. */
void topic_link_down(struct topics *ts);

#endif
