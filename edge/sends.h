/* A worker's sends with an id that wait for their answer: a `send` to a
 * connection on another worker travels up the link as a DIRECT, and its
 * outcome comes back as a DIRECT_RESULT from the target's edge (or from the
 * hub). Each such send gets exactly one reply: that answer if it comes
 * within the policy's send_timeout, else error 504; and 504 at once when
 * the hub link goes down meanwhile. A result that answers nothing waiting
 * here is dropped.
 *
 * One record per waiting send, keyed by (connection seq, request id), in a
 * deadline list (one timer for all: edge/deadline.h). A connection counts
 * its waiting sends in struct client (nsends) against max_pending_sends. */
#ifndef SPOKE_EDGE_SENDS_H
#define SPOKE_EDGE_SENDS_H
#include <stddef.h>
#include <stdint.h>

#include "common/dict.h"
#include "edge/deadline.h"

struct worker;
struct client;

struct sends {
    struct dict waiting;        /* (seq, id) -> struct pending_send */
    struct deadline_list timer; /* the same records, oldest first */
    uint64_t answered, timed_out, unsolicited;
};

void sends_init(struct sends *s, struct worker *w);
void sends_deinit(struct sends *s);
void sends_set_timeout(struct sends *s, long timeout_ms);

/* Records that c sent request `id` up the link. Returns 0; -1 if c already
 * has a send with this id waiting (the client must not reuse it yet); -2
 * if c has max_pending_sends waiting. */
int sends_add(struct sends *s, struct client *c, int64_t id);
/* Forgets a record made by sends_add that was not sent after all. */
void sends_cancel(struct sends *s, struct client *c, int64_t id);
/* The answer for (seq, id) came: returns 1 and forgets the record (the
 * caller replies if the connection is still open), 0 if nothing waited. */
int sends_take(struct sends *s, uint64_t seq, int64_t id);
/* Answers every waiting send with `code` and `reason` (the link went
 * down), and forgets them. */
void sends_fail_all(struct sends *s, int code, const char *reason);
/* Waiting sends in all. */
static inline size_t sends_count(const struct sends *s)
{
    return s->waiting.count;
}

#endif
