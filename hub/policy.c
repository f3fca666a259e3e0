/* The hub's policy store and its live changes: see policy.h. */
#include "hub/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/connid.h"
#include "common/dict.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hub/hub.h"

int hub_policy_on_section(void *ud, const char *section, const char *key, const char *value,
                          char *err, size_t errlen)
{
    struct hub *h = ud;
    if (strncmp(section, "edge.", 5) != 0) {
        snprintf(err, errlen,
                 "unknown section (expected [policy], [history], [hooks] or [edge.NAME])");
        return -1;
    }
    const char *name = section + 5;
    if (!connid_name_is_valid(name, strlen(name))) {
        snprintf(err, errlen, "'%s' is not a valid edge name", name);
        return -1;
    }
    const struct policy_key *k = policy_key_find(key);
    if (!k) {
        snprintf(err, errlen, "'%s' is not a policy key", key);
        return -1;
    }
    long v;
    if (policy_parse_value(k, value, &v, err, errlen) < 0)
        return -1;
    struct edge_override *o = dict_get(h->loading_overrides, name, strlen(name));
    if (!o) {
        o = xcalloc(1, sizeof *o);
        dict_add(h->loading_overrides, name, strlen(name), o);
    }
    unsigned bit = POLICY_BIT(k - policy_keys);
    if (o->mask & bit) {
        snprintf(err, errlen, "key '%s' set twice", key);
        return -1;
    }
    o->mask |= bit;
    *policy_field(&o->values, k) = v;
    return 0;
}

void hub_policy_effective(const struct hub *h, const char *edge, size_t len, struct policy *out)
{
    policy_effective(&h->policy, h->overrides, edge, len, out);
}

int hub_policy_loaded(struct hub *h, char *err, size_t errlen)
{
    h->overrides = h->loading_overrides;
    h->loading_overrides = NULL;
    h->flag_policy = h->policy;
    hub_policy_remember_file(h, &h->policy, h->overrides);
    return policy_doc_validate(&h->policy, h->overrides, err, errlen);
}

void hub_policy_free(struct hub *h)
{
    policy_overrides_free(h->overrides);
    policy_overrides_free(h->loading_overrides);
    policy_overrides_free(h->file_overrides);
    h->overrides = h->loading_overrides = h->file_overrides = NULL;
}

int hub_policy_read_file(struct hub *h, struct policy *base, struct dict **ov, char *err,
                         size_t errlen)
{
    *ov = NULL;
    if (!h->config_path) {
        snprintf(err, errlen, "no config file to re-read (started without -c)");
        return -1;
    }
    /* conf_reload writes into h->policy (the options point there): let it,
     * take the result, and put the policy in force back. */
    struct policy saved = h->policy;
    policy_defaults(&h->policy);
    h->loading_overrides = policy_overrides_new();
    int rc = conf_reload(&h->conf_spec, h->config_path, "policy", err, errlen);
    /* Flags given at startup keep winning over the file. */
    for (size_t i = 0; i < h->conf_spec.nopts; i++) {
        const struct conf_opt *o = &h->conf_spec.opts[i];
        const struct policy_key *k;
        if (h->from_flag[i] && o->section && (k = policy_key_find(o->key)))
            *policy_field(&h->policy, k) = policy_get(&h->flag_policy, k);
    }
    *base = h->policy;
    h->policy = saved;
    struct dict *read = h->loading_overrides;
    h->loading_overrides = NULL;
    if (rc == 0)
        rc = policy_doc_validate(base, read, err, errlen);
    if (rc < 0) {
        policy_overrides_free(read);
        return -1;
    }
    *ov = read;
    return 0;
}

int hub_policy_file_differs(const struct hub *h, const struct policy *base, const struct dict *ov)
{
    return !policy_equal(&h->file_policy, base) || !policy_overrides_equal(h->file_overrides, ov);
}

void hub_policy_remember_file(struct hub *h, const struct policy *base, const struct dict *ov)
{
    h->file_policy = *base;
    policy_overrides_free(h->file_overrides);
    h->file_overrides = policy_overrides_copy(ov);
}

/* One info line per changed key of a policy (of those in mask); prefix
 * names an edge's. */
static void log_changes(const struct policy *before, const struct policy *after, unsigned mask,
                        const char *how, const char *prefix)
{
    for (size_t i = 0; i < policy_nkeys; i++) {
        const struct policy_key *k = &policy_keys[i];
        if (!(mask & POLICY_BIT(i)) || policy_get(before, k) == policy_get(after, k))
            continue;
        char a[32], b[32];
        policy_format_value(k, policy_get(before, k), a, sizeof a);
        policy_format_value(k, policy_get(after, k), b, sizeof b);
        log_info("policy (%s): %s%s %s -> %s", how, prefix, k->name, a, b);
    }
}

static unsigned mask_of(const struct dict *ov, const char *edge, size_t len)
{
    const struct edge_override *o = ov ? dict_get(ov, edge, len) : NULL;
    return o ? o->mask : 0;
}

/* The same for the keys an edge overrides, before or after (the others
 * follow the base, whose lines say it once). */
static void log_override_changes(const struct policy *b0, const struct dict *o0,
                                 const struct policy *b1, const struct dict *o1, const char *how)
{
    const struct dict *sides[2] = {o0, o1};
    for (int s = 0; s < 2; s++) {
        if (!sides[s])
            continue;
        struct dict_iter it;
        dict_iter_init(&it, sides[s]);
        for (struct dict_entry *e; (e = dict_next(&it));) {
            if (s == 1 && mask_of(o0, e->node.name, e->node.len))
                continue; /* seen from the other side */
            struct policy before, after;
            policy_effective(b0, o0, e->node.name, e->node.len, &before);
            policy_effective(b1, o1, e->node.name, e->node.len, &after);
            char prefix[80];
            snprintf(prefix, sizeof prefix, "[edge.%s] ", e->node.name);
            log_changes(&before, &after,
                        mask_of(o0, e->node.name, e->node.len) |
                            mask_of(o1, e->node.name, e->node.len),
                        how, prefix);
        }
    }
}

int hub_policy_install(struct hub *h, const struct policy *base, struct dict *ov, const char *how)
{
    struct policy saved = h->policy;
    struct dict *saved_ov = h->overrides;
    int changed = !policy_equal(&saved, base) || !policy_overrides_equal(saved_ov, ov);
    log_changes(&saved, base, ~0u, how, "");
    log_override_changes(&saved, saved_ov, base, ov, how);
    h->policy = *base;
    h->overrides = ov;
    policy_overrides_free(saved_ov);
    return changed;
}

int hub_policy_reload(struct hub *h, char *err, size_t errlen)
{
    struct policy base;
    struct dict *ov;
    if (hub_policy_read_file(h, &base, &ov, err, errlen) < 0)
        return -1;
    hub_policy_remember_file(h, &base, ov);
    return hub_policy_install(h, &base, ov, "reloaded");
}

int hub_policy_with_changes(const struct hub *h, const json_t *changes, struct policy *next,
                            char *err, size_t errlen)
{
    if (!json_is_object(changes)) {
        snprintf(err, errlen, "the body must be a JSON object of policy keys");
        return -1;
    }
    *next = h->policy;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)changes, key, value)
    {
        const struct policy_key *k = policy_key_find(key);
        if (!k) {
            snprintf(err, errlen, "unknown policy key '%s'", key);
            return -1;
        }
        if (!json_is_number(value)) {
            snprintf(err, errlen, "%s: must be a number", key);
            return -1;
        }
        long v;
        if (policy_check_number(k, json_number_value(value), &v, err, errlen) < 0)
            return -1;
        *policy_field(next, k) = v;
    }
    return policy_doc_validate(next, h->overrides, err, errlen);
}

int hub_policy_update(struct hub *h, const json_t *changes, char *err, size_t errlen)
{
    struct policy next;
    if (hub_policy_with_changes(h, changes, &next, err, errlen) < 0)
        return -1;
    return hub_policy_install(h, &next, policy_overrides_copy(h->overrides), "API");
}
