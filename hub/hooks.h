/* The hub's side of the backend hooks configuration (common/hooks_conf.h):
 * its INI's [hooks] section, read at start and on SIGHUP, and the live
 * changes of PUT /api/hooks. Like hub/policy.h this is only the store: the
 * callers of a change push it to the links (edge_link_push_hooks). Each
 * hub's hooks are its own file's, in a cluster too (nothing in Redis). */
#ifndef SPOKE_HUB_HOOKS_H
#define SPOKE_HUB_HOOKS_H
#include <jansson.h>
#include <stddef.h>

struct hub;

/* Before the file is read (start, SIGHUP): an empty configuration for
 * [hooks] to fill, and no error yet. */
void hub_hooks_begin(struct hub *h);
/* conf_section_fn's work for a [hooks] key. A bad key or value is kept as
 * the section's first error (hub_hooks_loaded and hub_hooks_reload report
 * it) rather than returned, so that a broken [hooks] does not stop the
 * policy and the history rules from reloading. Returns 0. */
int hub_hooks_on_key(struct hub *h, const char *key, const char *value);
/* At start, after conf_load: puts what [hooks] said in force (version 1;
 * no section: every event off). Returns 0, or -1 with err set (the hub
 * refuses to start). */
int hub_hooks_loaded(struct hub *h, char *err, size_t errlen);
/* On SIGHUP, after the file was read (read_err: why it could not be, or
 * NULL): installs the section if it is valid and differs, with the
 * version bumped; otherwise the old hooks stay and "hooks reload failed:
 * ..." is logged. Returns 1 if the hooks changed (the caller pushes them),
 * else 0. */
int hub_hooks_reload(struct hub *h, const char *read_err);
/* PUT /api/hooks: doc is a whole document (hooks_conf_from_json's, its
 * "version" optional and ignored); without "secret", or with "(set)" as
 * GET shows it, the current secret stays. Returns 1 if the hooks changed
 * (installed, version bumped: the caller pushes them), 0 if the document
 * is what is in force, or -1 with err set. doc is modified. */
int hub_hooks_update(struct hub *h, json_t *doc, char *err, size_t errlen);
/* The hooks in force as JSON text (malloc'd), the secret as "(set)" or "". */
char *hub_hooks_public_json(const struct hub *h);
void hub_hooks_free(struct hub *h);

#endif
