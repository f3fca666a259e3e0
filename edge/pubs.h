/* A worker's publishes that the hub has not ordered yet: each is kept
 * (a copy of its topic, sender and data) from the client's `pub` until the
 * hub's PUBLISH_RESULT, so a link that breaks loses none of them. While the
 * link is down they wait here (the outage buffer) and are sent when it is
 * back; those in flight when it broke are sent again, with the same pub_id,
 * and the hub recognises them (docs/protocol.md, "Publish").
 *
 * Bounds: at most max_pending_publishes of them, holding at most
 * publish_buffer_bytes (the policy's); a publish the hub has not ordered
 * within publish_timeout ends through the `ended` callback (one deadline
 * list, one timer for all). pub_ids start at 1 and only grow, per worker,
 * so one worker's (name, worker, boot, pub_id) is unique. Connections are
 * only numbers here (their seq). */
#ifndef SPOKE_EDGE_PUBS_H
#define SPOKE_EDGE_PUBS_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dict.h"
#include "edge/deadline.h"

/* One publish waiting for the hub. The strings and data follow the struct
 * (not NUL-terminated: lengths given). */
struct pub {
    struct deadline_node node;
    struct pub *next; /* in pub_id order */
    uint64_t pub_id;
    uint64_t conn; /* the publisher's connection seq */
    int64_t id;
    uint8_t has_id;
    uint8_t sent; /* handed to a link at least once */
    uint8_t enc;
    uint16_t topic_len;
    uint16_t from_len;
    uint16_t user_len;
    uint32_t data_len;
    char bytes[]; /* topic, from, user, data */
};

static inline const char *pub_topic(const struct pub *p)
{
    return p->bytes;
}
static inline const char *pub_from(const struct pub *p)
{
    return p->bytes + p->topic_len;
}
static inline const char *pub_user(const struct pub *p)
{
    return p->bytes + p->topic_len + p->from_len;
}
static inline const uint8_t *pub_data(const struct pub *p)
{
    return (const uint8_t *)p->bytes + p->topic_len + p->from_len + p->user_len;
}

/* A publish ended without its result: answer connection `conn` (if there)
 * with error code and reason (for id, if has_id). */
typedef void (*pubs_ended_fn)(void *ud, uint64_t conn, int has_id, int64_t id, int code,
                              const char *reason);

struct pubs {
    struct dict by_id;       /* pub_id (8 bytes) -> struct pub */
    struct pub *head, *tail; /* every publish, in pub_id order */
    size_t count, bytes;
    size_t max_count, max_bytes;
    uint64_t next_id;
    struct deadline_list timer; /* publish_timeout from the client's pub */
    pubs_ended_fn ended;
    void *ud;
    uint64_t resent, expired, refused_full;
};

void pubs_init(struct pubs *ps, struct ev_loop *loop, pubs_ended_fn ended, void *ud);
void pubs_deinit(struct pubs *ps);
/* From the policy: publish_timeout_ms, max_pending_publishes, publish_buffer_bytes. */
void pubs_set_limits(struct pubs *ps, long timeout_ms, long max_count, long max_bytes);

/* Keeps a copy of a publish. Returns it (with its pub_id), or NULL if the
 * buffer holds max_count publishes or max_bytes bytes already. */
struct pub *pubs_add(struct pubs *ps, uint64_t conn, int has_id, int64_t id, const char *topic,
                     size_t topic_len, const char *from, const char *user, uint8_t enc,
                     const uint8_t *data, size_t data_len);
/* The hub's result for pub_id came: returns 1 and what it needs to answer
 * (the publish is forgotten), or 0 if none waits with that id. */
int pubs_take(struct pubs *ps, uint64_t pub_id, uint64_t *conn, int *has_id, int64_t *id);
/* The first publish waiting (pub_id order), and the next one. */
static inline struct pub *pubs_first(const struct pubs *ps)
{
    return ps->head;
}

#endif
