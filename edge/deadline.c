/* One timer per timeout length: see deadline.h. */
#include "edge/deadline.h"

#include <stddef.h>

static void arm(struct deadline_list *l)
{
    ev_timer_stop(l->loop, &l->timer);
    if (l->head.next == &l->head || l->timeout <= 0)
        return;
    ev_tstamp left = l->head.next->since + l->timeout - ev_now(l->loop);
    if (left < 0.001)
        left = 0.001;
    ev_timer_set(&l->timer, left, 0.);
    ev_timer_start(l->loop, &l->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct deadline_list *l = w->data;
    ev_tstamp now = ev_now(loop);
    /* expire() may add the node to another list, or tear its owner down
     * (which removes it): it is unlinked from this one first. */
    while (l->head.next != &l->head && l->head.next->since + l->timeout <= now) {
        struct deadline_node *n = l->head.next;
        deadline_remove(n);
        l->expire(l, n);
    }
    arm(l);
}

void deadline_list_init(struct deadline_list *l, struct ev_loop *loop, ev_tstamp timeout,
                        deadline_cb expire, void *data)
{
    l->head.prev = l->head.next = &l->head;
    l->loop = loop;
    l->timeout = timeout;
    l->expire = expire;
    l->data = data;
    ev_init(&l->timer, on_timer);
    l->timer.data = l;
}

void deadline_list_deinit(struct deadline_list *l)
{
    ev_timer_stop(l->loop, &l->timer);
    while (l->head.next != &l->head)
        deadline_remove(l->head.next);
}

void deadline_list_set_timeout(struct deadline_list *l, ev_tstamp timeout)
{
    l->timeout = timeout;
    arm(l);
}

void deadline_add(struct deadline_list *l, struct deadline_node *node)
{
    int was_empty = l->head.next == &l->head;
    deadline_remove(node);
    node->since = ev_now(l->loop);
    node->prev = l->head.prev;
    node->next = &l->head;
    l->head.prev->next = node;
    l->head.prev = node;
    /* Only a new head needs the timer moved; otherwise the armed timer fires
     * for the old head, no later than this node's deadline, and re-arms. */
    if (was_empty || !ev_is_active(&l->timer))
        arm(l);
}

void deadline_remove(struct deadline_node *node)
{
    if (!node->next)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}
