/* Delivery of what the hub sends down to local connections: topic messages
 * (framed once per encoding, the same frame queued to every subscriber),
 * direct messages and the results of our own direct messages. */
#ifndef SPOKE_EDGE_DELIVER_H
#define SPOKE_EDGE_DELIVER_H

struct worker;
struct link_msg;
struct uplink_deliver;

/* The functions below, for uplink_new (edge/uplink.h). */
extern const struct uplink_deliver deliver_ops;

/* A MESSAGE: live ones go to the topic's members (one the topic has
 * delivered already is dropped), replayed ones to the connections
 * catching up in that read (edge/resume.h). */
void deliver_message(struct worker *w, const struct link_msg *m);
/* INTEREST_RESULT: held acks, the topic's position, and a reset notice to
 * the members when the hub could not go on from where they were. */
void deliver_interest_result(struct worker *w, const struct link_msg *m);
/* TOPIC_RESET: the hub's numbering of a topic moved under its live
 * interest (its engine's store lost state): the members get a reset notice
 * and the topic takes the new position. Ignored while an INTEREST_ADD of
 * the topic waits for its answer (that answer says where the topic
 * stands), and when it is not ahead of the topic's position. */
void deliver_topic_reset(struct worker *w, const struct link_msg *m);
/* HISTORY_RESULT: answers the read's resuming connections. */
void deliver_history_result(struct worker *w, const struct link_msg *m);
/* PUBLISH_RESULT: the publisher's ack (with the seq) or error. */
void deliver_publish_result(struct worker *w, const struct link_msg *m);
/* Returns 0 if delivered, or the error code for the sender with *why its
 * reason: CODE_NOT_FOUND if the target is unknown or gone, CODE_BAD_REQUEST
 * if the data cannot be rendered for it (dropped, counted and logged). */
int deliver_direct(struct worker *w, const struct link_msg *m, const char **why);
void deliver_direct_result(struct worker *w, const struct link_msg *m);
/* The hub's request to close a local connection (operator's kick). */
void deliver_kick(struct worker *w, const struct link_msg *m);

#endif
