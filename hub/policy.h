/* The hub's side of the policy: the base policy (defaults, the [policy]
 * section, flags), per-edge overrides ([edge.NAME] sections) and live
 * changes (SIGHUP re-reads the file, PUT /api/policy). This is only the
 * store: the callers of a change send the new policy to the links
 * (edge_link_push_policy), so the store knows nothing of links. With the
 * redis engine the policy in force is the cluster's (hub/cluster_policy.c
 * reads and writes it in Redis and installs it here); the store then also
 * remembers what this hub's own file said, to tell on SIGHUP whether the
 * file changed. */
#ifndef SPOKE_HUB_POLICY_H
#define SPOKE_HUB_POLICY_H
#include <jansson.h>
#include <stddef.h>

#include "common/policy.h"
#include "hub/policy_doc.h"

struct hub;

/* conf_section_fn for [edge.NAME] sections (ud: struct hub *). */
int hub_policy_on_section(void *ud, const char *section, const char *key, const char *value,
                          char *err, size_t errlen);
/* After conf_load: remembers the values given as flags (they keep winning
 * over the file on reload) and what the file said, and validates. Returns
 * 0 or -1 (err). */
int hub_policy_loaded(struct hub *h, char *err, size_t errlen);
void hub_policy_free(struct hub *h);

/* The policy in force for an edge: the base with that edge's overrides. */
void hub_policy_effective(const struct hub *h, const char *edge, size_t len, struct policy *out);

/* Reads [policy] and [edge.*] from the config file, with the flags given
 * at startup still winning, into *base and *ov (new, the caller's),
 * validated; installs nothing. Returns 0, or -1 (err). */
int hub_policy_read_file(struct hub *h, struct policy *base, struct dict **ov, char *err,
                         size_t errlen);
/* 1 if base and ov differ from what the file said when it was last read. */
int hub_policy_file_differs(const struct hub *h, const struct policy *base, const struct dict *ov);
/* Remembers base and ov (copied) as what the file says now. */
void hub_policy_remember_file(struct hub *h, const struct policy *base, const struct dict *ov);
/* Puts base and ov (taken over) in force, logging each changed key as
 * "policy (HOW): key a -> b" ("[edge.NAME] key ..." for an edge's).
 * Returns 1 if anything changed (the caller pushes it to the links), 0 if
 * not. */
int hub_policy_install(struct hub *h, const struct policy *base, struct dict *ov, const char *how);

/* SIGHUP on a hub of its own: hub_policy_read_file, then install. On an
 * error the old policy stays. Returns 1 if the base policy or an override
 * changed (the caller pushes it to the links), 0 if nothing did, or -1
 * (err). */
int hub_policy_reload(struct hub *h, char *err, size_t errlen);
/* The base policy in force with a JSON object of policy keys (config
 * units) applied, into *next, checked with every edge's overrides. Unknown
 * keys or bad values: -1 (err); else 0. */
int hub_policy_with_changes(const struct hub *h, const json_t *changes, struct policy *next,
                            char *err, size_t errlen);
/* PUT /api/policy on a hub of its own: hub_policy_with_changes, then
 * installed. Returns 1 if the base policy changed (the caller pushes it to
 * the links), 0 if every value was already in force, or -1 (err). */
int hub_policy_update(struct hub *h, const json_t *changes, char *err, size_t errlen);

#endif
