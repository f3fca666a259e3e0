/* The engine interface's calls, dispatched to the implementation (see
 * engine.h; engines.c makes them by name). */
#include "hub/engine.h"

#include <string.h>

void engine_free(struct engine *e)
{
    if (e)
        e->ops->free(e);
}

void engine_publish(struct engine *e, const struct engine_pub *p, engine_pos_cb cb, void *ctx)
{
    e->ops->publish(e, p, cb, ctx);
}

void engine_interest_add(struct engine *e, struct link_str topic, engine_pos_cb cb, void *ctx)
{
    e->ops->interest_add(e, topic, cb, ctx);
}

void engine_interest_remove(struct engine *e, struct link_str topic)
{
    e->ops->interest_remove(e, topic);
}

void engine_interest_cookie(struct engine *e, struct link_str topic, void *cookie)
{
    if (e->ops->interest_cookie)
        e->ops->interest_cookie(e, topic, cookie);
}

int engine_prefetch(struct engine *e, struct link_str topic)
{
    return e->ops->prefetch ? e->ops->prefetch(e, topic) : 0;
}

void engine_history_read(struct engine *e, struct link_str topic, const struct engine_pos *since,
                         engine_read_cb cb, void *ctx)
{
    e->ops->history_read(e, topic, since, cb, ctx);
}

void engine_topics(struct engine *e, size_t max, engine_list_cb cb, void *ctx)
{
    e->ops->topics(e, max, cb, ctx);
}

void engine_stats(struct engine *e, struct engine_stats *out)
{
    memset(out, 0, sizeof *out);
    e->ops->stats(e, out);
}

void engine_set_rules(struct engine *e, struct history_rules *rules)
{
    e->ops->set_rules(e, rules);
}

int engine_ready(struct engine *e, char *why, size_t len)
{
    if (len)
        why[0] = '\0';
    return e->ops->ready ? e->ops->ready(e, why, len) : 1;
}

void engine_metrics(struct engine *e, struct buf *out)
{
    if (e->ops->metrics)
        e->ops->metrics(e, out);
}
