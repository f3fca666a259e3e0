/* What a client asks for: each message of an open connection is parsed,
 * rate limited and checked against the connection's permissions, then
 * carried out (sub, unsub, pub, send, ping) and answered. This is the one
 * file that calls auth, the topic table and the uplink on a client's
 * behalf; the replies to requests that wait on the hub (a sub's ack, a
 * send's result) come back here too. */
#ifndef SPOKE_EDGE_REQUEST_H
#define SPOKE_EDGE_REQUEST_H
#include <stddef.h>
#include <stdint.h>

#include "common/enc.h"

struct client;
struct client_msg;
struct frame;
struct topic;
struct worker;

/* One complete client message (opcode 1 text, 2 binary) of connection c. */
void request_handle(struct client *c, uint8_t opcode, const uint8_t *p, size_t n);
/* Connection c is going: its subscriptions go, and the hub is told of the
 * topics that go with them. */
void request_release(struct client *c);

/* A topic_answer_fn (edge/topic.h) for the worker's topic table (ud: the
 * worker): code 0 acks request id with t's position (if t has one);
 * else error `code`. */
void request_answer(void *ud, struct client *c, const struct topic *t, int has_id, int64_t id,
                    int code, int recovered, const char *reason);
/* A resume_push_fn (edge/resume.h): queues a frame for c. */
void request_push(void *ud, struct client *c, struct frame *f);
/* A sends_ended_fn (edge/sends.h), ud the worker; also the way an answer
 * that came from the target's edge (code 0: ack) reaches the sender: the
 * connection, if still there, gets its slot back and the reply. */
void request_send_done(void *ud, uint64_t seq, int64_t id, int code, const char *reason);
/* A pubs_ended_fn (edge/pubs.h), ud the worker: the publisher gets the error. */
void request_pub_ended(void *ud, uint64_t conn, int has_id, int64_t id, int code,
                       const char *reason);
/* The hub's PUBLISH_RESULT for pub_id: the publisher gets its ack (with
 * seq and epoch) or the error. */
void request_pub_result(struct worker *w, uint64_t pub_id, int code, const char *reason,
                        uint64_t seq, const char *epoch);

/* A sub or pub that may go ahead (permissions checked, the backend asked
 * where a hook applies): carried out and answered as usual. */
void request_sub_go(struct client *c, const struct client_msg *m);
void request_pub_go(struct client *c, int has_id, int64_t id, const char *topic, size_t topic_len,
                    enum enc enc, const uint8_t *data, size_t data_len);

/* The topics a connect hook's answer subscribes the connection to: as a
 * sub without an id, past the token's permissions (the backend decided). */
void request_sub_auto(struct client *c, const char *topic, size_t len);

/* request_handle, request_release and request_sub_auto, for the worker to
 * hand its connections (struct client_calls, edge/client.h). */
struct client_calls;
extern const struct client_calls request_calls;

#endif
