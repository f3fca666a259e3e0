/* Client WebSocket connections (struct client, edge/edge.h): accept, the
 * read loop (upgrade, then frames through edge/wsconn.c and messages to
 * edge/request.c), output queued and flushed once per loop iteration, and
 * close. One state field changed in one place; teardown in one function;
 * memory freed at the end of the loop turn so no callback touches a freed
 * connection. */
#ifndef SPOKE_EDGE_CLIENT_H
#define SPOKE_EDGE_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "edge/edge.h"
#include "edge/frame.h"

struct sockaddr_storage;
struct buf;

/* What a connection hands to the request layer above it (edge/request.h,
 * request_calls: the worker sets w->client_calls), so that this file
 * calls nothing above it. */
struct client_calls {
    /* One complete client message (opcode 1 text, 2 binary). */
    void (*message)(struct client *c, uint8_t opcode, const uint8_t *p, size_t n);
    /* c is going: its subscriptions go, and the hub is told of the topics
     * that go with them. */
    void (*release)(struct client *c);
    /* A topic c's connect hook subscribed it to. */
    void (*sub_auto)(struct client *c, const char *topic, size_t len);
};

/* Takes ownership of an accepted, non-blocking socket from peer ss; tls: it
 * came in on the wss listener. */
void client_accept(struct worker *w, int fd, const struct sockaddr_storage *ss, int tls);
/* Appends "conn":ID,"user":USER|null, the members every hook call about
 * connection c starts with (docs/hooks.md). */
void client_hook_who(struct buf *b, struct client *c);

/* Queues a new reference to a shared frame (no-op unless OPEN). */
void client_push_frame(struct client *c, struct frame *f);
/* Frames and queues a payload built in this client's encoding. */
void client_send_payload(struct client *c, const uint8_t *payload, size_t len);
void client_send_ack(struct client *c, int64_t id);
/* An ack with a position (msg_build_ack_at: epoch NULL for none). */
void client_send_ack_at(struct client *c, int64_t id, uint64_t seq, const char *epoch,
                        int recovered, const char *reason);
void client_send_error(struct client *c, int has_id, int64_t id, int code, const char *reason);

/* Starts the closing handshake with code and reason (OPEN only; a
 * connection still in its upgrade is torn down). The reason goes out cut
 * to at most 123 bytes of valid UTF-8 (frame_close); a code that is not
 * valid on the wire (ws_close_code_may_send) is logged and replaced by
 * 1011. */
void client_close(struct client *c, uint16_t code, const char *reason);
/* Tears the connection down now (socket closed, subscriptions dropped). */
void client_terminate(struct client *c, const char *why);
/* End-of-iteration work for a dirty connection: write, slow-consumer
 * handling, deferred closes. Called by the worker's prepare watcher. */
void client_flush(struct client *c);
/* Frees a CLOSED connection (worker's end of turn). */
void client_free(struct client *c);

/* Expiry callbacks of the worker's timeout lists. */
void client_handshake_expired(struct deadline_list *l, struct deadline_node *n);
void client_idle_expired(struct deadline_list *l, struct deadline_node *n);
void client_ping_expired(struct deadline_list *l, struct deadline_node *n);
void client_pong_expired(struct deadline_list *l, struct deadline_node *n);
void client_close_expired(struct deadline_list *l, struct deadline_node *n);

#endif
