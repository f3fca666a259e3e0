/* A worker's sends with an id that wait for their answer: a `send` to a
 * connection on another worker travels up the link as a DIRECT, and its
 * outcome comes back as a DIRECT_RESULT from the target's edge (or from the
 * hub). Each such send gets exactly one reply: that answer if it comes
 * within the policy's send_timeout, else error 504; and 504 at once when
 * the hub link goes down meanwhile. A result that answers nothing waiting
 * here is dropped.
 *
 * One record per waiting send, keyed by (connection seq, request id), in a
 * deadline list (one timer for all: edge/deadline.h). Connections are only
 * numbers here: a record that ends without its answer goes to the `ended`
 * callback, whose owner replies to the connection if it is still there.
 * The owner also counts each connection's waiting sends against
 * max_pending_sends. */
#ifndef SPOKE_EDGE_SENDS_H
#define SPOKE_EDGE_SENDS_H
#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dict.h"
#include "edge/deadline.h"

/* A waiting send ended without its answer: reply `code` with reason to
 * request id of connection seq (if it is still there). */
typedef void (*sends_ended_fn)(void *ud, uint64_t seq, int64_t id, int code, const char *reason);

struct sends {
    struct dict waiting;        /* (seq, id) -> struct pending_send */
    struct deadline_list timer; /* the same records, oldest first */
    uint64_t answered, timed_out, unsolicited;
    sends_ended_fn ended;
    void *ud;
};

void sends_init(struct sends *s, struct ev_loop *loop, sends_ended_fn ended, void *ud);
void sends_deinit(struct sends *s);
void sends_set_timeout(struct sends *s, long timeout_ms);

/* Records that connection seq sent request `id` up the link. Returns 0,
 * or -1 if it has a send with this id waiting already (the client must not
 * reuse it yet). */
int sends_add(struct sends *s, uint64_t seq, int64_t id);
/* 1 if connection seq has a send with this id waiting, else 0. */
int sends_is_waiting(const struct sends *s, uint64_t seq, int64_t id);
/* The answer for (seq, id) came: returns 1 and forgets the record (the
 * caller replies if the connection is still open), 0 if nothing waited. */
int sends_take(struct sends *s, uint64_t seq, int64_t id);
/* Ends every waiting send with `code` and `reason` (the link went down)
 * through the ended callback, and forgets them. */
void sends_fail_all(struct sends *s, int code, const char *reason);
/* Waiting sends in all. */
static inline size_t sends_count(const struct sends *s)
{
    return dict_count(&s->waiting);
}

#endif
