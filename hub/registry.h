/* The hub's registry of open links by (edge name, worker): how a direct
 * message, a kick or a publish result finds the link of an edge worker.
 * Links are opaque here: the registry stores the caller's `owner` pointer
 * and hands it back. At most one link holds a key (the caller closes the
 * old holder of a key before registering a new one). */
#ifndef SPOKE_HUB_REGISTRY_H
#define SPOKE_HUB_REGISTRY_H
#include <stddef.h>
#include <stdint.h>

/* Longest edge name the registry accepts (HELLO allows 64). */
#define REGISTRY_MAX_NAME 255

struct registry;

struct registry *registry_new(void);
/* Frees the registry (entries still in it too). No-op on NULL. */
void registry_free(struct registry *r);

/* Registers owner under (name, worker). Returns 0, or -1 if the key is
 * taken or the name is longer than REGISTRY_MAX_NAME. */
int registry_add(struct registry *r, const char *name, size_t len, uint32_t worker, void *owner);
/* The owner registered under (name, worker), or NULL. */
void *registry_find(const struct registry *r, const char *name, size_t len, uint32_t worker);
/* Unregisters (name, worker) if owner holds it. */
void registry_remove(struct registry *r, const char *name, size_t len, uint32_t worker,
                     const void *owner);
size_t registry_count(const struct registry *r);

#endif
