/* The hub's links from edge workers, as the rest of the hub sees them:
 * starting and stopping the link listener, the engine's live messages
 * fanned out to them, and what the admin API and the policy ask of the
 * links (publish, kick, drain, push the policy, list them). Inside
 * (edge_link_internal.h), edge_link_loop.c runs the links on the hub's
 * loop, edge_link_hello.c takes their HELLO, edge_link_handle.c their
 * messages, edge_link_publish.c their publishes, edge_link_replay.c their
 * replays, and edge_link.c is what all of them do to one link. */
#ifndef SPOKE_HUB_EDGE_LINK_H
#define SPOKE_HUB_EDGE_LINK_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/connid.h"
#include "common/link.h"
#include "hub/edge_link_info.h"
#include "hub/engine.h"
#include "hub/hub.h"

/* Listens on h->cfg.listen, makes the link module's tables (interest,
 * registry, publish results, directs) and starts the accept, flush and
 * heartbeat watchers. h->engine is made by the caller, with
 * edge_link_on_message as its on_message and h as its ud. Returns 0, or -1
 * with a one-line reason in err. */
int edge_link_server_start(struct hub *h, char *err, size_t errlen);
/* Says goodbye to every link (LINK_ERROR 503 "hub shutting down", written
 * best effort), closes them and the listener, stops the watchers and frees
 * every link. Safe to call twice and after a failed start. The tables go
 * with edge_link_server_free, after the engine (whose last callbacks may
 * still look at them). */
void edge_link_server_stop(struct hub *h);
void edge_link_server_free(struct hub *h);

/* Takes an accepted, non-blocking socket from peer ss as if the listener
 * had accepted it (the fuzz driver's way in; on_accept's too). */
void edge_link_adopt(struct hub *h, int fd, const struct sockaddr_storage *ss);

/* The port the link listener is bound to (for port 0), or 0. */
uint16_t edge_link_server_port(const struct hub *h);

/* Hands a publish to the engine (engine_publish, timed for
 * spoke_hub_route_seconds); cb (may be NULL) gets its position. The caller
 * has validated topic, enc and the size. */
void edge_link_publish(struct hub *h, const struct engine_pub *p, engine_pos_cb cb, void *ctx);

/* The engine's on_message (ud: the hub): a live message, fanned out to the
 * links interested in its topic. */
void edge_link_on_message(void *ud, const struct engine_msg *m);

/* The engine's on_moved (ud: the hub): the topic's live messages go on
 * after pos; every link interested in it hears TOPIC_RESET. */
void edge_link_on_moved(void *ud, struct link_str topic, const struct engine_pos *pos,
                        const char *reason);

/* Asks the edge worker holding connection conn to close it with code and
 * reason. Returns 0 when sent, -1 if no open link holds that connection. */
int edge_link_kick(struct hub *h, const struct connid *conn, uint32_t code, struct link_str reason);

/* Asks every worker of edge `name` to drain (period_ms 0: the edge's own
 * setting). Returns the number of links told, 0 if the edge is unknown. */
int edge_link_drain(struct hub *h, const char *name, size_t len, uint64_t period_ms);

/* Sends every open link whose effective policy changed its new policy. */
void edge_link_push_policy(struct hub *h);
/* Sends every open link that has not had them the hooks in force
 * (hub/hooks.h; LINK_HOOKS, secret included). */
void edge_link_push_hooks(struct hub *h);

/* ---- the cluster's way to the links (edge_link_cluster.c) ------------------
 * Directs another hub relayed here, their results, and the answers the
 * cluster gives senders of ours itself (hub/cluster.h). A target or origin
 * is another hub's id there (CLUSTER_VID_BIT). */

/* A DIRECT another hub (origin) relayed here: forwarded to the link
 * holding m->to, its result to go back to origin. Returns 0, or 404
 * (unknown connection) or 503 (too many sends waiting for that link) with
 * why; the caller answers. */
int edge_link_deliver_direct(struct hub *h, const struct link_msg *m, uint64_t origin, char *why,
                             size_t len);
/* A DIRECT_RESULT from hub target for a direct one of our links sent
 * there: passed to the sender's link if it answers such a direct. Returns
 * 1 if it did, 0 if it answered nothing (dropped). */
int edge_link_deliver_result(struct hub *h, uint64_t target, const struct link_msg *m);
/* Sends a DIRECT_RESULT {code, reason} to the link of sender `to`, if it
 * is still open. */
void edge_link_answer_direct(struct hub *h, struct link_str to, int64_t id, uint32_t code,
                             const char *reason);
/* Every direct still waiting for target gets 503 reason. */
void edge_link_forget_target(struct hub *h, uint64_t target, const char *reason);

/* Calls fn for every link past HELLO, oldest first. fn must not close links. */
void edge_link_foreach_open(struct hub *h, void (*fn)(const struct edge_link_info *, void *),
                            void *ud);

#endif
