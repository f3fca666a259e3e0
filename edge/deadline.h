/* Many timeouts of one length with one ev_timer (libev manual, "Be smart
 * about timeouts", method 4): nodes sit in a list ordered by deadline, which
 * appending keeps sorted because every node gets the same timeout. Adding,
 * refreshing and removing are O(1); expiry touches only expired nodes. */
#ifndef SPOKE_EDGE_DEADLINE_H
#define SPOKE_EDGE_DEADLINE_H
#include <ev.h>

struct deadline_node {
    struct deadline_node *prev, *next; /* NULL when not in a list */
    ev_tstamp at;
};

struct deadline_list;
typedef void (*deadline_cb)(struct deadline_list *list, struct deadline_node *node);

struct deadline_list {
    struct deadline_node head; /* sentinel of a circular list */
    ev_timer timer;
    struct ev_loop *loop;
    ev_tstamp timeout;
    deadline_cb expire; /* called with the node already removed */
    void *data;         /* for the owner */
};

void deadline_list_init(struct deadline_list *l, struct ev_loop *loop, ev_tstamp timeout,
                        deadline_cb expire, void *data);
void deadline_list_deinit(struct deadline_list *l);
/* (Re)schedules node at now + timeout (moves it to the tail). */
void deadline_add(struct deadline_list *l, struct deadline_node *node);
void deadline_remove(struct deadline_list *l, struct deadline_node *node);
static inline int deadline_is_linked(const struct deadline_node *n) { return n->next != 0; }

#endif
