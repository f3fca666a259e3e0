/* The engines by name: what `engine = NAME` (hub/main.c) may choose (see
 * engine.h). */
#include <stdio.h>
#include <string.h>

#include "hub/engine.h"
#include "hub/history_rules.h"

int engine_known(const char *name)
{
    return strcmp(name, "memory") == 0 || strcmp(name, "redis") == 0 ||
           strcmp(name, "memory-deferred") == 0;
}

struct engine *engine_new(const char *name, const struct engine_opts *o, char *err, size_t errlen)
{
    if (strcmp(name, "memory") == 0)
        return engine_memory_new(o);
    if (strcmp(name, "redis") == 0) {
        if (!o->loop) {
            snprintf(err, errlen, "the redis engine needs a loop");
            history_rules_free(o->rules);
            return NULL;
        }
        return engine_redis_new(o, err, errlen); /* takes o->rules, also on failure */
    }
    if (strcmp(name, "memory-deferred") == 0) {
        if (!o->loop) {
            snprintf(err, errlen, "the memory-deferred engine needs a loop");
            history_rules_free(o->rules);
            return NULL;
        }
        return engine_deferred_new(o);
    }
    snprintf(err, errlen, "unknown engine '%s' (memory or redis; memory-deferred for tests)", name);
    history_rules_free(o->rules);
    return NULL;
}
