/* Sends waiting for their answer: see sends.h. */
#include "edge/sends.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "edge/client.h"
#include "edge/worker.h"

struct pending_send {
    struct deadline_node node;
    uint64_t seq;
    int64_t id;
};

#define send_of(n) ((struct pending_send *)((char *)(n) - offsetof(struct pending_send, node)))

static void key_of(char out[16], uint64_t seq, int64_t id)
{
    memcpy(out, &seq, 8);
    memcpy(out + 8, &id, 8);
}

/* Forgets p and gives its connection (if still there) its slot back.
 * Returns that connection, or NULL. */
static struct client *forget(struct sends *s, struct pending_send *p)
{
    struct worker *w = s->timer.data;
    char key[16];
    key_of(key, p->seq, p->id);
    deadline_remove(&p->node);
    dict_delete(&s->waiting, key, sizeof key);
    struct client *c = worker_find_client(w, p->seq);
    if (c && c->nsends)
        c->nsends--;
    free(p);
    return c;
}

static void on_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct sends *s = (struct sends *)((char *)l - offsetof(struct sends, timer));
    struct pending_send *p = send_of(n);
    int64_t id = p->id;
    struct client *c = forget(s, p);
    s->timed_out++;
    if (c && c->state == CLIENT_OPEN)
        client_send_error(c, 1, id, CODE_TIMEOUT,
                          "no answer from the target's edge within send_timeout");
    dict_shrink(&s->waiting);
}

void sends_init(struct sends *s, struct worker *w)
{
    memset(s, 0, sizeof *s);
    dict_init(&s->waiting);
    deadline_list_init(&s->timer, w->loop, 0, on_expired, w);
}

void sends_deinit(struct sends *s)
{
    dict_deinit(&s->waiting, free);
    deadline_list_deinit(&s->timer);
}

void sends_set_timeout(struct sends *s, long timeout_ms)
{
    deadline_list_set_timeout(&s->timer, timeout_ms / 1000.0);
}

int sends_add(struct sends *s, struct client *c, int64_t id)
{
    struct worker *w = c->w;
    char key[16];
    key_of(key, c->seq, id);
    if (dict_find(&s->waiting, key, sizeof key))
        return -1;
    if (c->nsends >= w->policy.max_pending_sends || c->nsends == UINT8_MAX)
        return -2;
    struct pending_send *p = xcalloc(1, sizeof *p);
    p->seq = c->seq;
    p->id = id;
    dict_add(&s->waiting, key, sizeof key, p);
    deadline_add(&s->timer, &p->node);
    c->nsends++;
    return 0;
}

void sends_cancel(struct sends *s, struct client *c, int64_t id)
{
    char key[16];
    key_of(key, c->seq, id);
    struct pending_send *p = dict_get(&s->waiting, key, sizeof key);
    if (p)
        forget(s, p);
}

int sends_take(struct sends *s, uint64_t seq, int64_t id)
{
    char key[16];
    key_of(key, seq, id);
    struct pending_send *p = dict_get(&s->waiting, key, sizeof key);
    if (!p) {
        s->unsolicited++;
        return 0;
    }
    forget(s, p);
    s->answered++;
    dict_shrink(&s->waiting);
    return 1;
}

void sends_fail_all(struct sends *s, int code, const char *reason)
{
    struct dict_iter it;
    dict_iter_init(&it, &s->waiting);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct pending_send *p = e->value;
        int64_t id = p->id;
        struct client *c = forget(s, p); /* deletes e: the iterator allows it */
        if (c && c->state == CLIENT_OPEN)
            client_send_error(c, 1, id, code, reason);
    }
    dict_shrink(&s->waiting);
}
