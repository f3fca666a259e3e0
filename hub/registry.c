/* The registry of open links (see registry.h). */
#include "hub/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/xalloc.h"

struct registry {
    struct dict links; /* key(name, worker) -> owner */
};

/* The key: the name, a NUL, then the worker's 4 bytes. The fixed-size
 * suffix after a separator keeps distinct (name, worker) pairs distinct
 * even if a name contained a NUL. */
#define KEY_MAX (REGISTRY_MAX_NAME + 1 + 4)

static size_t key(char *out, const char *name, size_t len, uint32_t worker)
{
    if (len > REGISTRY_MAX_NAME)
        return 0;
    memcpy(out, name, len);
    out[len] = '\0';
    memcpy(out + len + 1, &worker, 4);
    return len + 5;
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof *r);
    dict_init(&r->links);
    return r;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    dict_deinit(&r->links, NULL);
    free(r);
}

int registry_add(struct registry *r, const char *name, size_t len, uint32_t worker, void *owner)
{
    char k[KEY_MAX];
    size_t klen = key(k, name, len, worker);
    if (!klen || dict_find(&r->links, k, klen))
        return -1;
    dict_add(&r->links, k, klen, owner);
    return 0;
}

void *registry_find(const struct registry *r, const char *name, size_t len, uint32_t worker)
{
    char k[KEY_MAX];
    size_t klen = key(k, name, len, worker);
    return klen ? dict_get(&r->links, k, klen) : NULL;
}

void registry_remove(struct registry *r, const char *name, size_t len, uint32_t worker,
                     const void *owner)
{
    char k[KEY_MAX];
    size_t klen = key(k, name, len, worker);
    if (!klen || dict_get(&r->links, k, klen) != owner)
        return;
    dict_delete(&r->links, k, klen);
    /* A flood of links leaves no oversized table behind. */
    dict_shrink(&r->links);
}

size_t registry_count(const struct registry *r)
{
    return dict_count(&r->links);
}
