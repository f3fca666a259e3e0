/* Sends waiting for their answer: see sends.h. */
#include "edge/sends.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/container.h"
#include "common/msg.h"
#include "common/xalloc.h"

struct pending_send {
    struct deadline_node node;
    uint64_t seq;
    int64_t id;
};

#define send_of(n) container_of(n, struct pending_send, node)
#define sends_of(l) container_of(l, struct sends, timer)

static void key_of(char out[16], uint64_t seq, int64_t id)
{
    memcpy(out, &seq, 8);
    memcpy(out + 8, &id, 8);
}

static void forget(struct sends *s, struct pending_send *p)
{
    char key[16];
    key_of(key, p->seq, p->id);
    deadline_remove(&p->node);
    dict_delete(&s->waiting, key, sizeof key);
    free(p);
}

/* Forgets p, then tells the owner it ended without its answer. */
static void end(struct sends *s, struct pending_send *p, int code, const char *reason)
{
    uint64_t seq = p->seq;
    int64_t id = p->id;
    forget(s, p);
    s->ended(s->ud, seq, id, code, reason);
}

static void on_expired(struct deadline_list *l, struct deadline_node *n)
{
    struct sends *s = sends_of(l);
    s->timed_out++;
    end(s, send_of(n), CODE_TIMEOUT, "no answer from the target's edge within send_timeout");
    dict_shrink(&s->waiting);
}

void sends_init(struct sends *s, struct ev_loop *loop, sends_ended_fn ended, void *ud)
{
    memset(s, 0, sizeof *s);
    dict_init(&s->waiting);
    deadline_list_init(&s->timer, loop, 0, on_expired, s);
    s->ended = ended;
    s->ud = ud;
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

int sends_add(struct sends *s, uint64_t seq, int64_t id)
{
    char key[16];
    key_of(key, seq, id);
    if (dict_find(&s->waiting, key, sizeof key))
        return -1;
    struct pending_send *p = xcalloc(1, sizeof *p);
    p->seq = seq;
    p->id = id;
    dict_add(&s->waiting, key, sizeof key, p);
    deadline_add(&s->timer, &p->node);
    return 0;
}

int sends_is_waiting(const struct sends *s, uint64_t seq, int64_t id)
{
    char key[16];
    key_of(key, seq, id);
    return dict_find(&s->waiting, key, sizeof key) != NULL;
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
    for (struct dict_entry *e; (e = dict_next(&it));)
        end(s, e->value, code, reason); /* deletes e: the iterator allows it */
    dict_shrink(&s->waiting);
}
