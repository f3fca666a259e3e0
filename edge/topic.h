/* A worker's local subscriptions: topic -> subscribed connections, and each
 * connection's list of its subscriptions. Pure bookkeeping: it calls nobody
 * above it. Subscribing says whether the topic is new ("first") and
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
 * A topic keeps its subscribers in an array, so fan-out walks contiguous
 * memory; each connection keeps a list of its subscriptions, each recording
 * its slot in the topic's array so leaving is O(1) (swap with the last).
 * Connections are opaque here: `struct client *` is only compared and
 * handed back. */
#ifndef SPOKE_EDGE_TOPIC_H
#define SPOKE_EDGE_TOPIC_H
#include <stddef.h>
#include <stdint.h>

#include "common/dict.h"
#include "common/enc.h"

struct client;
struct topic;
struct topic_subs;

/* One (connection, topic) pair, on the connection's list. */
struct sub {
    struct sub *cnext;
    struct topic *t;
    struct topic_subs *owner; /* the connection's list this is on */
    uint32_t slot;            /* index in t->members */
    uint8_t enc;              /* the connection's encoding */
    uint8_t answered;         /* scratch mark while a refusal is answered */
};

/* A connection's subscriptions (embedded in struct client). */
struct topic_subs {
    struct sub *head;
    uint32_t n;
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

struct topic {
    struct topic_member *members;
    uint32_t n, cap;
    uint32_t count[ENC_COUNT]; /* subscribers per encoding */
    const char *name;          /* the dict key (NUL-terminated) */
    uint32_t name_len;
    int64_t add_id;               /* the INTEREST_ADD the hub has yet to answer; 0: none */
    struct topic_waiter *waiters; /* acks held until that answer */
};

/* Replies to connection c: code 0 acks request id; else error `code` with
 * reason, for request id if has_id, as a notice otherwise. */
typedef void (*topic_answer_fn)(void *ud, struct client *c, int has_id, int64_t id, int code,
                                const char *reason);
/* Told the name of each topic that lost its last subscriber. */
typedef void (*topic_last_fn)(void *ud, const char *name, size_t len);

struct topics {
    struct dict by_name; /* topic name -> struct topic */
    size_t nsubs;        /* (connection, topic) pairs */
    topic_answer_fn answer;
    void *ud;
};

void topics_init(struct topics *ts, topic_answer_fn answer, void *ud);
/* Frees every topic; the connections' lists must be gone already. */
void topics_deinit(struct topics *ts);
static inline size_t topics_count(const struct topics *ts)
{
    return ts->by_name.count;
}

enum {
    TOPIC_LIMIT_TOPICS = -2, /* a new topic, and the worker holds max_topics */
    TOPIC_LIMIT_SUBS = -1,   /* the connection holds max_subs */
    TOPIC_JOINED = 0,        /* subscribed to an existing topic */
    TOPIC_ALREADY = 1,       /* the connection was subscribed already */
    TOPIC_FIRST = 2,         /* subscribed, and the topic is new: tell the hub */
};

/* Subscribes connection c (its list `mine`, encoding enc) to the topic.
 * Returns one of the values above; *out is the subscription unless a limit
 * was hit. */
int topic_subscribe(struct topics *ts, struct client *c, struct topic_subs *mine, enum enc enc,
                    const char *name, size_t len, uint32_t max_subs, uint32_t max_topics,
                    struct sub **out);
/* Holds s's ack for request id until the hub answers s->t->add_id. */
void topic_wait(struct sub *s, int64_t id);

enum {
    TOPIC_NOT_SUBSCRIBED = 0,
    TOPIC_LEFT = 1, /* unsubscribed; others remain */
    TOPIC_LAST = 2, /* unsubscribed, and the topic went with its last subscriber */
};
/* Unsubscribes c. A sub ack of c still waiting in that topic is sent
 * first. Returns one of the values above. */
int topic_unsubscribe(struct topics *ts, struct client *c, struct topic_subs *mine,
                      const char *name, size_t len);
/* Drops every subscription of a connection that is going (held acks are
 * not sent); last(ud, name) for each topic that goes with it. */
void topic_unsubscribe_all(struct topics *ts, struct topic_subs *mine, topic_last_fn last,
                           void *ud);
static inline struct topic *topic_find(struct topics *ts, const char *name, size_t len)
{
    return dict_get(&ts->by_name, name, len);
}
/* Calls fn for every topic (fn must not subscribe or unsubscribe). */
void topic_foreach(struct topics *ts, void (*fn)(void *ud, struct topic *t), void *ud);

/* The hub answered INTEREST_ADD `id` for topic name: code 0 sends the acks
 * held for it; any other code refuses the topic: every subscriber gets
 * error `code` with reason (the waiting ones with their request id) and
 * loses the subscription, and the topic goes (the hub holds nothing for
 * it). An answer to an older request is ignored. */
void topic_interest_result(struct topics *ts, const char *name, size_t len, int64_t id, int code,
                           const char *reason);
/* The link is down: held acks are sent (the subscriptions stand locally)
 * and nothing waits for the hub any more. */
void topic_link_down(struct topics *ts);

#endif
