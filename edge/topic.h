/* A worker's local subscriptions: topic -> subscribed connections. The first
 * local subscriber of a topic registers the worker's interest with the hub,
 * the last one to leave withdraws it.
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

struct topic {
    struct topic_member *members;
    uint32_t n, cap;
    uint32_t count[ENC_COUNT]; /* subscribers per encoding */
    const char *name;          /* the dict key (NUL-terminated) */
    uint32_t name_len;
};

/* Returns 0 when subscribed now, 1 when it already was, -1 when c already
 * holds max subscriptions. */
int topic_subscribe(struct worker *w, struct client *c, const char *name, size_t len,
                    uint32_t max);
/* Returns 0 when unsubscribed, 1 when it was not subscribed. */
int topic_unsubscribe(struct worker *w, struct client *c, const char *name, size_t len);
void topic_unsubscribe_all(struct worker *w, struct client *c);
struct topic *topic_find(struct worker *w, const char *name, size_t len);
void topic_free_all(struct worker *w);

#endif
