/* One timer per timeout length: see deadline.h. */
#include "edge/deadline.h"

#include <stddef.h>

static void arm(struct deadline_list *l)
{
    if (l->head.next == &l->head) {
        ev_timer_stop(l->loop, &l->timer);
        return;
    }
    ev_tstamp left = l->head.next->at - ev_now(l->loop);
    if (left < 0.001)
        left = 0.001;
    ev_timer_stop(l->loop, &l->timer);
    ev_timer_set(&l->timer, left, 0.);
    ev_timer_start(l->loop, &l->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct deadline_list *l = w->data;
    ev_tstamp now = ev_now(loop);
    while (l->head.next != &l->head && l->head.next->at <= now) {
        struct deadline_node *n = l->head.next;
        deadline_remove(l, n);
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
    ev_timer_init(&l->timer, on_timer, timeout, 0.);
    l->timer.data = l;
}

void deadline_list_deinit(struct deadline_list *l)
{
    ev_timer_stop(l->loop, &l->timer);
    while (l->head.next != &l->head)
        deadline_remove(l, l->head.next);
}

void deadline_add(struct deadline_list *l, struct deadline_node *node)
{
    int was_empty = l->head.next == &l->head;
    if (node->next)
        deadline_remove(l, node);
    node->at = ev_now(l->loop) + l->timeout;
    node->prev = l->head.prev;
    node->next = &l->head;
    l->head.prev->next = node;
    l->head.prev = node;
    if (was_empty || !ev_is_active(&l->timer))
        arm(l);
}

void deadline_remove(struct deadline_list *l, struct deadline_node *node)
{
    if (!node->next)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
    /* The timer stays armed for the old head: a spurious wake-up re-arms. */
}
