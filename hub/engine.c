/* The engine interface's entry points: creation by name and dispatch to
 * the implementation (see engine.h). */
#include "hub/engine.h"

#include <stdio.h>
#include <string.h>

#include "hub/history_rules.h"

int engine_known(const char *name)
{
    return strcmp(name, "memory") == 0 || strcmp(name, "memory-deferred") == 0;
}

struct engine *engine_new(const char *name, const struct engine_opts *o, char *err, size_t errlen)
{
    if (strcmp(name, "memory") == 0)
        return engine_memory_new(o);
    if (strcmp(name, "memory-deferred") == 0) {
        if (!o->loop) {
            snprintf(err, errlen, "the memory-deferred engine needs a loop");
            history_rules_free(o->rules);
            return NULL;
        }
        return engine_deferred_new(o);
    }
    snprintf(err, errlen, "unknown engine '%s' (memory, or memory-deferred for tests)", name);
    history_rules_free(o->rules);
    return NULL;
}

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
