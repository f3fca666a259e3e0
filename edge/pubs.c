/* Publishes the hub has not ordered yet: see pubs.h. */
#include "edge/pubs.h"

#include <stdlib.h>
#include <string.h>

#include "common/container.h"
#include "common/msg.h"
#include "common/xalloc.h"

#define pub_of(n) container_of(n, struct pub, node)
#define pubs_of(l) container_of(l, struct pubs, timer)

/* What one publish holds: its block and its dict entry. */
static size_t pub_cost(const struct pub *p)
{
    return sizeof *p + p->topic_len + p->from_len + p->user_len + p->data_len + 64;
}

/* Forgets p (not yet freed). */
static void forget(struct pubs *ps, struct pub *p)
{
    deadline_remove(&p->node);
    dict_delete(&ps->by_id, &p->pub_id, sizeof p->pub_id);
    struct pub **pp = &ps->head, *prev = NULL;
    while (*pp && *pp != p) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp)
        *pp = p->next;
    if (ps->tail == p)
        ps->tail = prev;
    ps->count--;
    ps->bytes -= pub_cost(p);
}

static void on_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct pubs *ps = pubs_of(l);
    struct pub *p = pub_of(n);
    uint64_t conn = p->conn;
    int has_id = p->has_id, sent = p->sent;
    int64_t id = p->id;
    forget(ps, p);
    free(p);
    ps->expired++;
    if (sent)
        ps->ended(ps->ud, conn, has_id, id, CODE_TIMEOUT,
                  "not confirmed by the hub within publish_timeout: it may have been published");
    else
        ps->ended(ps->ud, conn, has_id, id, CODE_UNAVAILABLE,
                  "hub unavailable: message not published");
    dict_shrink(&ps->by_id);
}

void pubs_init(struct pubs *ps, struct ev_loop *loop, pubs_ended_fn ended, void *ud)
{
    memset(ps, 0, sizeof *ps);
    dict_init(&ps->by_id);
    deadline_list_init(&ps->timer, loop, 0, on_expired, ps);
    ps->ended = ended;
    ps->ud = ud;
    ps->next_id = 1;
    ps->max_count = 1;
    ps->max_bytes = 1;
}

void pubs_deinit(struct pubs *ps)
{
    struct pub *p = ps->head;
    while (p) {
        struct pub *next = p->next;
        free(p);
        p = next;
    }
    dict_deinit(&ps->by_id, NULL);
    deadline_list_deinit(&ps->timer);
}

void pubs_set_limits(struct pubs *ps, long timeout_ms, long max_count, long max_bytes)
{
    deadline_list_set_timeout(&ps->timer, timeout_ms / 1000.0);
    ps->max_count = (size_t)max_count;
    ps->max_bytes = (size_t)max_bytes;
}

struct pub *pubs_add(struct pubs *ps, uint64_t conn, int has_id, int64_t id, const char *topic,
                     size_t topic_len, const char *from, const char *user, uint8_t enc,
                     const uint8_t *data, size_t data_len)
{
    size_t from_len = strlen(from), user_len = user ? strlen(user) : 0;
    size_t n = topic_len + from_len + user_len + data_len;
    size_t cost = sizeof(struct pub) + n + 64;
    if (ps->count >= ps->max_count || ps->bytes + cost > ps->max_bytes) {
        ps->refused_full++;
        return NULL;
    }
    struct pub *p = xcalloc(1, sizeof *p + n);
    p->pub_id = ps->next_id++;
    p->conn = conn;
    p->has_id = (uint8_t)has_id;
    p->id = id;
    p->enc = enc;
    p->topic_len = (uint16_t)topic_len;
    p->from_len = (uint16_t)from_len;
    p->user_len = (uint16_t)user_len;
    p->data_len = (uint32_t)data_len;
    char *o = p->bytes;
    memcpy(o, topic, topic_len);
    memcpy(o += topic_len, from, from_len);
    if (user_len)
        memcpy(o + from_len, user, user_len);
    if (data_len)
        memcpy(o + from_len + user_len, data, data_len);
    dict_add(&ps->by_id, &p->pub_id, sizeof p->pub_id, p);
    if (ps->tail)
        ps->tail->next = p;
    else
        ps->head = p;
    ps->tail = p;
    ps->count++;
    ps->bytes += cost;
    deadline_add(&ps->timer, &p->node);
    return p;
}

int pubs_take(struct pubs *ps, uint64_t pub_id, uint64_t *conn, int *has_id, int64_t *id)
{
    struct pub *p = dict_get(&ps->by_id, &pub_id, sizeof pub_id);
    if (!p)
        return 0;
    *conn = p->conn;
    *has_id = p->has_id;
    *id = p->id;
    /* Results come in pub_id order: p is the head, so forget is O(1). */
    forget(ps, p);
    free(p);
    dict_shrink(&ps->by_id);
    return 1;
}
