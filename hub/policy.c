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

/* One [edge.NAME] section: the keys it sets and their values. */
struct edge_override {
    struct policy values;
    unsigned mask; /* POLICY_BIT(i) for each key set */
};

int hub_policy_on_section(void *ud, const char *section, const char *key, const char *value,
                          char *err, size_t errlen)
{
    struct hub *h = ud;
    if (strncmp(section, "edge.", 5) != 0) {
        snprintf(err, errlen, "unknown section (expected [policy], [history] or [edge.NAME])");
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

static void free_overrides(struct dict *d)
{
    if (!d)
        return;
    dict_deinit(d, free);
    free(d);
}

static struct dict *new_overrides(void)
{
    struct dict *d = xmalloc(sizeof *d);
    dict_init(d);
    return d;
}

void hub_policy_effective(const struct hub *h, const char *edge, size_t len, struct policy *out)
{
    *out = h->policy;
    const struct edge_override *o = h->overrides ? dict_get(h->overrides, edge, len) : NULL;
    if (!o)
        return;
    for (size_t i = 0; i < policy_nkeys; i++)
        if (o->mask & POLICY_BIT(i))
            *policy_field(out, &policy_keys[i]) = policy_get(&o->values, &policy_keys[i]);
}

/* Every edge's effective policy must pass the cross-key checks. */
static int validate_all(const struct hub *h, char *err, size_t errlen)
{
    if (policy_validate(&h->policy, err, errlen) < 0)
        return -1;
    struct dict_iter it;
    dict_iter_init(&it, h->overrides);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct policy p;
        char why[200];
        hub_policy_effective(h, e->key, e->klen, &p);
        if (policy_validate(&p, why, sizeof why) < 0) {
            snprintf(err, errlen, "[edge.%s]: %s", e->key, why);
            return -1;
        }
    }
    return 0;
}

int hub_policy_loaded(struct hub *h, char *err, size_t errlen)
{
    h->overrides = h->loading_overrides;
    h->loading_overrides = NULL;
    h->flag_policy = h->policy;
    return validate_all(h, err, errlen);
}

void hub_policy_free(struct hub *h)
{
    free_overrides(h->overrides);
    free_overrides(h->loading_overrides);
    h->overrides = h->loading_overrides = NULL;
}

/* 1 if two sets of [edge.NAME] overrides set the same keys to the same
 * values for the same edges (NULL: none). */
static int overrides_equal(const struct dict *a, const struct dict *b)
{
    size_t na = a ? a->count : 0, nb = b ? b->count : 0;
    if (na != nb)
        return 0;
    if (!na)
        return 1;
    struct dict_iter it;
    dict_iter_init(&it, a);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        const struct edge_override *x = e->value, *y = dict_get(b, e->key, e->klen);
        if (!y || x->mask != y->mask)
            return 0;
        for (size_t i = 0; i < policy_nkeys; i++)
            if ((x->mask & POLICY_BIT(i)) &&
                policy_get(&x->values, &policy_keys[i]) != policy_get(&y->values, &policy_keys[i]))
                return 0;
    }
    return 1;
}

/* One info line per changed key of the base policy. */
static void log_changes(const struct policy *before, const struct policy *after, const char *how)
{
    for (size_t i = 0; i < policy_nkeys; i++) {
        const struct policy_key *k = &policy_keys[i];
        if (policy_get(before, k) == policy_get(after, k))
            continue;
        char a[32], b[32];
        policy_format_value(k, policy_get(before, k), a, sizeof a);
        policy_format_value(k, policy_get(after, k), b, sizeof b);
        log_info("policy (%s): %s %s -> %s", how, k->name, a, b);
    }
}

int hub_policy_reload(struct hub *h, char *err, size_t errlen)
{
    if (!h->config_path) {
        snprintf(err, errlen, "no config file to re-read (started without -c)");
        return -1;
    }
    struct policy saved = h->policy;
    struct dict *saved_overrides = h->overrides;
    policy_defaults(&h->policy);
    h->loading_overrides = new_overrides();
    int rc = conf_reload(&h->conf_spec, h->config_path, "policy", err, errlen);
    /* Flags given at startup keep winning over the file. */
    for (size_t i = 0; i < h->conf_spec.nopts; i++) {
        const struct conf_opt *o = &h->conf_spec.opts[i];
        const struct policy_key *k;
        if (h->from_flag[i] && o->section && (k = policy_key_find(o->key)))
            *policy_field(&h->policy, k) = policy_get(&h->flag_policy, k);
    }
    h->overrides = h->loading_overrides;
    h->loading_overrides = NULL;
    if (rc == 0)
        rc = validate_all(h, err, errlen);
    if (rc < 0) {
        free_overrides(h->overrides);
        h->overrides = saved_overrides;
        h->policy = saved;
        return -1;
    }
    int changed =
        !policy_equal(&saved, &h->policy) || !overrides_equal(saved_overrides, h->overrides);
    free_overrides(saved_overrides);
    log_changes(&saved, &h->policy, "reloaded");
    return changed;
}

int hub_policy_update(struct hub *h, const json_t *changes, char *err, size_t errlen)
{
    if (!json_is_object(changes)) {
        snprintf(err, errlen, "the body must be a JSON object of policy keys");
        return -1;
    }
    struct policy next = h->policy;
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
        *policy_field(&next, k) = v;
    }
    struct policy saved = h->policy;
    h->policy = next;
    if (validate_all(h, err, errlen) < 0) {
        h->policy = saved;
        return -1;
    }
    log_changes(&saved, &h->policy, "API");
    return !policy_equal(&saved, &h->policy);
}

json_t *hub_policy_to_json(const struct policy *p)
{
    json_t *o = json_object();
    for (size_t i = 0; i < policy_nkeys; i++) {
        const struct policy_key *k = &policy_keys[i];
        long v = policy_get(p, k);
        if (k->unit == POLICY_SECONDS && v % 1000)
            json_object_set_new(o, k->name, json_real(v / 1000.0));
        else
            json_object_set_new(o, k->name, json_integer(k->unit == POLICY_SECONDS ? v / 1000 : v));
    }
    return o;
}
