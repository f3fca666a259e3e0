/* A worker's link to the hub: connect, HELLO, interest, publish and direct
 * messages up; topic messages, directs and results down. While the link is
 * down the worker keeps its clients and tries the hubs of its `hub` list in
 * turn (edge/hubring.h: capped exponential backoff, jitter), and re-sends
 * its whole interest and its held publishes once linked again. */
#ifndef SPOKE_EDGE_UPLINK_H
#define SPOKE_EDGE_UPLINK_H
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"

struct worker;
struct uplink;
struct policy;
struct pub;

/* Called with each POLICY the hub sends (the worker applies it). */
typedef void (*uplink_policy_fn)(struct worker *w, const struct policy *p);

struct hooks_conf;
/* Called with each valid HOOKS document the hub sends, parsed (a bad one
 * is logged and dropped: the worker keeps what it has). Takes ownership of
 * c (heap). */
typedef void (*uplink_hooks_fn)(struct worker *w, struct hooks_conf *c);

struct link_msg;
/* Where the hub's messages for the worker's connections go: each is the
 * matching deliver_* of edge/deliver.h (deliver_ops), and the uplink itself
 * knows nothing of connections. direct returns 0 if delivered, else the
 * error code for the sender with *why its reason. */
struct uplink_deliver {
    void (*message)(struct worker *w, const struct link_msg *m);
    int (*direct)(struct worker *w, const struct link_msg *m, const char **why);
    void (*direct_result)(struct worker *w, const struct link_msg *m);
    void (*interest_result)(struct worker *w, const struct link_msg *m);
    void (*history_result)(struct worker *w, const struct link_msg *m);
    void (*publish_result)(struct worker *w, const struct link_msg *m);
    void (*topic_reset)(struct worker *w, const struct link_msg *m);
    void (*kick)(struct worker *w, const struct link_msg *m);
};

struct uplink *uplink_new(struct worker *w, uplink_policy_fn on_policy, uplink_hooks_fn on_hooks,
                          const struct uplink_deliver *deliver);
void uplink_free(struct uplink *u);
/* Starts connecting (call once the loop exists). */
void uplink_start(struct uplink *u);
/* 1 when the hub has answered our HELLO and the link is usable. */
int uplink_is_up(const struct uplink *u);
/* The index in cfg->hubs of the hub the link is with (up), or the one being
 * tried or tried next (down). */
size_t uplink_hub(const struct uplink *u);

/* Registers interest in a topic with the hub, resuming from position
 * (since_seq, since_epoch) unless since_epoch is NULL. Returns the
 * request's id (> 0), which the hub's INTEREST_RESULT carries back, or 0
 * when the link is not up (interest is re-sent in full on reconnect). */
int64_t uplink_interest_add(struct uplink *u, const char *topic, size_t len, uint64_t since_seq,
                            const char *since_epoch);
/* Asks the hub for topic's messages after (since_seq, since_epoch):
 * HISTORY_RESULT and the replay come back with read id `id`. Returns 0, or
 * -1 when the link is not up. */
int uplink_history_read(struct uplink *u, const char *topic, size_t len, int64_t id,
                        uint64_t since_seq, const char *since_epoch);
/* These return 0 when queued on the link, -1 when the link is not up. */
int uplink_interest_remove(struct uplink *u, const char *topic, size_t len);
/* Sends publish p (edge/pubs.h) with its pub_id. */
int uplink_publish_pending(struct uplink *u, const struct pub *p);
int uplink_direct(struct uplink *u, const char *to, size_t to_len, const char *from,
                  const char *user, int has_id, int64_t id, enum enc enc, const uint8_t *data,
                  size_t len);
int uplink_direct_result(struct uplink *u, const char *to, size_t to_len, int64_t id, int code,
                         const char *reason);
/* End of loop iteration: compress-flush and write. */
void uplink_flush(struct uplink *u);
/* Sends STATS now (e.g. the drain began: the hub stops listing the edge). */
void uplink_send_stats(struct uplink *u);
/* Start of the end-of-iteration work: handles one more budget of input
 * already read from the hub but not yet worked off (linkio_has_backlog). */
void uplink_work_backlog(struct uplink *u);

#endif
