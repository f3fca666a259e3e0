/* The hub's side of the policy: the base policy (defaults, the [policy]
 * section, flags), per-edge overrides ([edge.NAME] sections) and live
 * changes (SIGHUP re-reads the file, PUT /api/policy). This is only the
 * store: the callers of a change send the new policy to the links
 * (edge_link_push_policy), so the store knows nothing of links. */
#ifndef SPOKE_HUB_POLICY_H
#define SPOKE_HUB_POLICY_H
#include <jansson.h>
#include <stddef.h>

#include "common/policy.h"

struct hub;

/* conf_section_fn for [edge.NAME] sections (ud: struct hub *). */
int hub_policy_on_section(void *ud, const char *section, const char *key, const char *value,
                          char *err, size_t errlen);
/* After conf_load: remembers the values given as flags (they keep winning
 * over the file on reload) and validates. Returns 0 or -1 (err). */
int hub_policy_loaded(struct hub *h, char *err, size_t errlen);
void hub_policy_free(struct hub *h);

/* The policy in force for an edge: the base with that edge's overrides. */
void hub_policy_effective(const struct hub *h, const char *edge, size_t len, struct policy *out);

/* SIGHUP: re-reads [policy] and [edge.*] from the config file. On an error
 * the old policy stays. Returns 1 if the base policy or an override
 * changed (the caller pushes it to the links), 0 if nothing did, or -1
 * (err). */
int hub_policy_reload(struct hub *h, char *err, size_t errlen);
/* PUT /api/policy: applies a JSON object of policy keys (config units) to
 * the base policy. Unknown keys or bad values change nothing. Returns 1 if
 * the base policy changed (the caller pushes it to the links), 0 if every
 * value was already in force, or -1 (err). */
int hub_policy_update(struct hub *h, const json_t *changes, char *err, size_t errlen);

/* The policy as a JSON object in config units (seconds, bytes, counts). */
json_t *hub_policy_to_json(const struct policy *p);

#endif
