/* The hub's routing state behind one interface: which open links exist
 * (by edge name and worker), which links are interested in which topics,
 * and each topic's sequence counter.
 *
 * This in-memory implementation serves a single hub; a Redis-backed one for
 * several hubs is meant to sit beside it with the same functions. Links are
 * opaque here: route only stores the caller's `owner` pointer and hands it
 * back, and each registered link gets a `struct route_peer` handle that the
 * caller keeps and passes back.
 *
 * Sequence numbers: a topic exists while at least one link is interested in
 * it. When its last interested link goes (interest removed or link gone) the
 * topic is forgotten, so a later publish starts again at seq 1. Subscribers
 * see seq restart only after a period in which nobody could have received
 * anything on that topic, which is what makes forgetting safe; the cost of
 * keeping topics forever (memory growing with every topic name ever used)
 * would be worse. */
#ifndef SPOKE_HUB_ROUTE_H
#define SPOKE_HUB_ROUTE_H
#include <stddef.h>
#include <stdint.h>

struct route;
struct route_peer;

/* A routing state holding at most max_topics topics in all and at most
 * max_peer_topics interests per link (SIZE_MAX: no limit). */
struct route *route_new(size_t max_topics, size_t max_peer_topics);
/* Frees all topics and peers still registered; free(NULL)-like no-op on NULL.
 * Callers normally unregister every link first (route_link_gone). */
void route_free(struct route *r);

/* Longest edge name the registry accepts (HELLO allows 64). */
#define ROUTE_MAX_NAME 255

/* Registers an open link under (name, worker); owner is returned by
 * route_link_find and passed to publish callbacks. The caller closes any
 * previous holder of the key first (see route_link_find). Returns the peer
 * handle the caller keeps, or NULL if the key is taken or the name is
 * longer than ROUTE_MAX_NAME. */
struct route_peer *route_link_register(struct route *r, const char *name, size_t name_len,
                                       uint32_t worker, void *owner);
/* The owner registered under (name, worker), or NULL. */
void *route_link_find(const struct route *r, const char *name, size_t name_len, uint32_t worker);
/* Removes all of the peer's interest (O(its topics)), unregisters it and
 * frees the handle. No-op on NULL. */
void route_link_gone(struct route *r, struct route_peer *p);

/* Why route_interest_add refused (nothing changed either way). */
enum route_refusal {
    ROUTE_HUB_FULL = -1,  /* the topic is new and the hub holds max_topics topics */
    ROUTE_PEER_FULL = -2, /* p already holds max_peer_topics topics */
};

/* Adds interest of p in a topic. Idempotent, and never refused for a topic
 * p already has. Returns 1 if the interest set changed, 0 if p was already
 * interested, or an enum route_refusal. */
int route_interest_add(struct route *r, struct route_peer *p, const char *topic, size_t len);
/* Removes interest of p in a topic. Returns 1 if it was there, 0 if not. */
int route_interest_remove(struct route *r, struct route_peer *p, const char *topic, size_t len);
/* 1 if p is interested in topic. */
int route_peer_has(const struct route_peer *p, const char *topic, size_t len);
/* Number of topics p is interested in. */
size_t route_peer_topics(const struct route_peer *p);

/* Called once per interested link with that link's owner pointer and the
 * publish's seq. The callback must not change interest or registrations
 * (no route_* calls): defer anything like that to the end of the loop turn. */
typedef void (*route_deliver_cb)(void *owner, uint64_t seq, void *ud);

/* Assigns the topic's next seq (1, 2, 3, ...) and calls cb for every
 * interested link. Returns the seq, or 0 if no link is interested (then cb
 * is never called and no seq is used up). */
uint64_t route_publish(struct route *r, const char *topic, size_t len, route_deliver_cb cb,
                       void *ud);

/* Calls fn for every topic with its last seq, number of interested links
 * and message rate (per second since the previous listing at least a second
 * ago, or since the topic appeared). */
void route_foreach_topic(const struct route *r,
                         void (*fn)(const char *topic, size_t len, uint64_t seq, uint32_t links,
                                    double rate, void *ud),
                         void *ud);

/* Number of topics with at least one interested link. */
size_t route_topic_count(const struct route *r);

#endif
