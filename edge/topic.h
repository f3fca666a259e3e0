/* A worker's local subscriptions: topic -> subscribed connections. The first
 * local subscriber of a topic registers the worker's interest with the hub,
 * the last one to leave withdraws it. The hub answers each registration: a
 * `sub` with an id that created or joined a topic still waiting for that
 * answer is acked (or refused with 429) only once it comes, so an ack means
 * the hub routes the topic here. While the link is down, subscriptions are
 * local and acked at once; the registration is sent when it is back.
 *
 * A topic keeps its subscribers in an array, so fan-out walks contiguous
 * memory; each connection keeps a list of its subscriptions, each recording
 * its slot in the topic's array so leaving is O(1) (swap with the last). */
#ifndef SPOKE_EDGE_TOPIC_H
#define SPOKE_EDGE_TOPIC_H
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"

struct worker;
struct client;
struct topic;

/* One (connection, topic) pair, on the connection's list. */
struct sub {
    struct sub *cnext;
    struct topic *t;
    uint32_t slot; /* index in t->members */
};

struct topic_member {
    struct client *c;
    struct sub *sub;
};

/* A sub's ack that waits for the hub's answer. */
struct topic_waiter {
    struct topic_waiter *next;
    struct client *c;
    int64_t id;
};

struct topic {
    struct topic_member *members;
    uint32_t n, cap;
    uint32_t count[ENC_COUNT]; /* subscribers per encoding */
    const char *name;          /* the dict key (NUL-terminated) */
    uint32_t name_len;
    int64_t add_id;            /* the INTEREST_ADD the hub has yet to answer; 0: none */
    struct topic_waiter *waiters; /* acks held until that answer */
};

enum {
    TOPIC_LIMIT_TOPICS = -2, /* a new topic, and the worker holds worker_max_topics */
    TOPIC_LIMIT_SUBS = -1,   /* c holds max_subscriptions */
    TOPIC_JOINED = 0,        /* subscribed to an existing topic */
    TOPIC_ALREADY = 1,       /* c was subscribed already */
    TOPIC_CREATED = 2,       /* subscribed, the topic is new (interest sent if linked) */
};

/* Subscribes c to the topic. Returns one of the values above; *out is the
 * topic unless a limit was hit. */
int topic_subscribe(struct worker *w, struct client *c, const char *name, size_t len,
                    uint32_t max_subs, uint32_t max_topics, struct topic **out);
/* Holds c's ack for request id until the hub answers t->add_id. */
void topic_wait(struct topic *t, struct client *c, int64_t id);
/* Returns 0 when unsubscribed, 1 when it was not subscribed. A sub ack of c
 * still waiting in that topic is sent first. */
int topic_unsubscribe(struct worker *w, struct client *c, const char *name, size_t len);
void topic_unsubscribe_all(struct worker *w, struct client *c);
struct topic *topic_find(struct worker *w, const char *name, size_t len);
void topic_free_all(struct worker *w);

/* The hub answered INTEREST_ADD `id` for topic name: code 0 sends the acks
 * held for it; any other code refuses the topic: every subscriber gets
 * error `code` with reason (the waiting ones with their request id) and
 * loses the subscription, and the topic goes (the hub holds nothing for
 * it). An answer to an older request is ignored. */
void topic_interest_result(struct worker *w, const char *name, size_t len, int64_t id,
                           int code, const char *reason);
/* The link is down: held acks are sent (the subscriptions stand locally)
 * and nothing waits for the hub any more. */
void topic_link_down(struct worker *w);
/* The link is up: registers every topic with the hub again. */
void topic_link_up(struct worker *w);

#endif
