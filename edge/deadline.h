/* Many timeouts of one length with one ev_timer (libev manual, "Be smart
 * about timeouts", method 4). Each node records when it was last touched;
 * since every node of a list has the same timeout, appending on touch keeps
 * the list ordered by deadline. Touching, adding and removing are O(1);
 * expiry touches only expired nodes. Changing the timeout re-arms the one
 * timer, not each node, and applies to nodes already waiting (a shorter idle
 * timeout takes effect on connections that are already idle). */
#ifndef SPOKE_EDGE_DEADLINE_H
#define SPOKE_EDGE_DEADLINE_H
#include <ev.h>

struct deadline_node {
    struct deadline_node *prev, *next; /* NULL when not in a list */
    ev_tstamp since;                   /* when the node was last (re)added */
};

struct deadline_list;
typedef void (*deadline_cb)(struct deadline_list *list, struct deadline_node *node);

struct deadline_list {
    struct deadline_node head; /* sentinel of a circular list */
    ev_timer timer;
    struct ev_loop *loop;
    ev_tstamp timeout;  /* seconds; 0: nodes are tracked but never expire */
    deadline_cb expire; /* called with the node already removed */
    void *data;         /* for the owner */
};

void deadline_list_init(struct deadline_list *l, struct ev_loop *loop, ev_tstamp timeout,
                        deadline_cb expire, void *data);
void deadline_list_deinit(struct deadline_list *l);
/* Changes the timeout for every node, re-arming the timer. */
void deadline_list_set_timeout(struct deadline_list *l, ev_tstamp timeout);
/* (Re)starts node's wait now (moves it to the tail). */
void deadline_add(struct deadline_list *l, struct deadline_node *node);
/* Unlinks node from whatever list holds it (no-op if none). */
void deadline_remove(struct deadline_node *node);
static inline int deadline_is_linked(const struct deadline_node *n)
{
    return n->next != 0;
}

#endif
