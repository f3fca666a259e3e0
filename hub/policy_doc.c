/* The policy as one document (see policy_doc.h). */
#include "hub/policy_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/connid.h"
#include "common/dict.h"
#include "common/errbuf.h"
#include "common/printable.h"
#include "common/xalloc.h"

struct dict *policy_overrides_new(void)
{
    struct dict *d = xmalloc(sizeof *d);
    dict_init(d);
    return d;
}

void policy_overrides_free(struct dict *d)
{
    if (!d)
        return;
    dict_deinit(d, free);
    free(d);
}

struct dict *policy_overrides_copy(const struct dict *d)
{
    struct dict *c = policy_overrides_new();
    if (!d)
        return c;
    struct dict_iter it;
    dict_iter_init(&it, d);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct edge_override *o = xmalloc(sizeof *o);
        *o = *(const struct edge_override *)e->value;
        dict_add(c, e->node.name, e->node.len, o);
    }
    return c;
}

int policy_overrides_equal(const struct dict *a, const struct dict *b)
{
    size_t na = a ? dict_count(a) : 0, nb = b ? dict_count(b) : 0;
    if (na != nb)
        return 0;
    if (!na)
        return 1;
    struct dict_iter it;
    dict_iter_init(&it, a);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        const struct edge_override *x = e->value, *y = dict_get(b, e->node.name, e->node.len);
        if (!y || x->mask != y->mask)
            return 0;
        for (size_t i = 0; i < policy_nkeys; i++)
            if ((x->mask & POLICY_BIT(i)) &&
                policy_get(&x->values, &policy_keys[i]) != policy_get(&y->values, &policy_keys[i]))
                return 0;
    }
    return 1;
}

void policy_effective(const struct policy *base, const struct dict *ov, const char *edge,
                      size_t len, struct policy *out)
{
    *out = *base;
    const struct edge_override *o = ov ? dict_get(ov, edge, len) : NULL;
    if (!o)
        return;
    for (size_t i = 0; i < policy_nkeys; i++)
        if (o->mask & POLICY_BIT(i))
            *policy_field(out, &policy_keys[i]) = policy_get(&o->values, &policy_keys[i]);
}

int policy_doc_validate(const struct policy *base, const struct dict *ov, char *err, size_t errlen)
{
    if (policy_validate(base, err, errlen) < 0)
        return -1;
    if (!ov)
        return 0;
    struct dict_iter it;
    dict_iter_init(&it, ov);
    for (struct dict_entry *e; (e = dict_next(&it));) {
        struct policy p;
        char why[200];
        policy_effective(base, ov, e->node.name, e->node.len, &p);
        if (policy_validate(&p, why, sizeof why) < 0) {
            snprintf(err, errlen, "[edge.%s]: %s", e->node.name, why);
            return -1;
        }
    }
    return 0;
}

static json_t *value_json(const struct policy_key *k, long v)
{
    if (k->unit == POLICY_SECONDS && v % 1000)
        return json_real(v / 1000.0);
    return json_integer(k->unit == POLICY_SECONDS ? v / 1000 : v);
}

json_t *policy_to_json(const struct policy *p)
{
    json_t *o = json_object();
    for (size_t i = 0; i < policy_nkeys; i++)
        json_object_set_new(o, policy_keys[i].name,
                            value_json(&policy_keys[i], policy_get(p, &policy_keys[i])));
    return o;
}

char *policy_doc_encode(const struct policy *base, const struct dict *ov,
                        const struct policy_doc_meta *meta)
{
    json_t *edges = json_object();
    if (ov) {
        struct dict_iter it;
        dict_iter_init(&it, ov);
        for (struct dict_entry *e; (e = dict_next(&it));) {
            const struct edge_override *o = e->value;
            json_t *keys = json_object();
            for (size_t i = 0; i < policy_nkeys; i++)
                if (o->mask & POLICY_BIT(i))
                    json_object_set_new(
                        keys, policy_keys[i].name,
                        value_json(&policy_keys[i], policy_get(&o->values, &policy_keys[i])));
            json_object_set_new(edges, e->node.name, keys);
        }
    }
    json_t *doc =
        json_pack("{s:i, s:o, s:o, s:s, s:s}", "v", 1, "base", policy_to_json(base), "edges", edges,
                  "by", meta ? meta->by : "", "how", meta ? meta->how : "");
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text)
        abort(); /* jansson fails only when out of memory: as xmalloc would */
    return text;
}

/* Sets the keys of obj in *dst (and their bits in *mask if not NULL),
 * checked as the API checks them; keys not known are counted. */
static int read_keys(const json_t *obj, const char *where, struct policy *dst, unsigned *mask,
                     size_t *unknown, char *err, size_t errlen)
{
    if (!json_is_object(obj))
        return errbuf_set(err, errlen, "%s: not an object", where);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        const struct policy_key *k = policy_key_find(key);
        if (!k) {
            (*unknown)++;
            continue;
        }
        if (!json_is_number(value))
            return errbuf_set(err, errlen, "%s: %s: not a number", where, key);
        long v;
        char why[160];
        if (policy_check_number(k, json_number_value(value), &v, why, sizeof why) < 0)
            return errbuf_set(err, errlen, "%s: %s", where, why);
        *policy_field(dst, k) = v;
        if (mask)
            *mask |= POLICY_BIT(k - policy_keys);
    }
    return 0;
}

static int decode(const json_t *doc, struct policy *base, struct dict *ov,
                  struct policy_doc_meta *meta, char *err, size_t errlen)
{
    if (!json_is_object(doc))
        return errbuf_set(err, errlen, "not a JSON object");
    const json_t *v = json_object_get(doc, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return errbuf_set(err, errlen, "v: not 1 (a document of another version)");
    policy_defaults(base);
    if (read_keys(json_object_get(doc, "base"), "base", base, NULL, &meta->unknown_keys, err,
                  errlen) < 0)
        return -1;
    const json_t *edges = json_object_get(doc, "edges");
    if (edges && !json_is_object(edges))
        return errbuf_set(err, errlen, "edges: not an object");
    if (edges && json_object_size(edges) > POLICY_DOC_MAX_EDGES)
        return errbuf_set(err, errlen, "edges: %zu overrides (at most %d)", json_object_size(edges),
                          POLICY_DOC_MAX_EDGES);
    const char *name;
    json_t *keys;
    json_object_foreach((json_t *)edges, name, keys)
    {
        size_t len = strlen(name);
        if (!connid_name_is_valid(name, len))
            return errbuf_set(err, errlen, "edges: '%.64s' is not an edge name", name);
        struct edge_override *o = xcalloc(1, sizeof *o);
        dict_add(ov, name, len, o);
        char where[80];
        snprintf(where, sizeof where, "[edge.%s]", name);
        if (read_keys(keys, where, &o->values, &o->mask, &meta->unknown_keys, err, errlen) < 0)
            return -1;
    }
    /* For the logs only: cleaned. */
    printable_copy(meta->by, sizeof meta->by, json_string_value(json_object_get(doc, "by")));
    printable_copy(meta->how, sizeof meta->how, json_string_value(json_object_get(doc, "how")));
    return policy_doc_validate(base, ov, err, errlen);
}

int policy_doc_decode(const char *p, size_t n, struct policy *base, struct dict **ov,
                      struct policy_doc_meta *meta, char *err, size_t errlen)
{
    memset(meta, 0, sizeof *meta);
    *ov = NULL;
    if (n > POLICY_DOC_MAX_BYTES)
        return errbuf_set(err, errlen, "%zu bytes (at most %d)", n, POLICY_DOC_MAX_BYTES);
    json_error_t je;
    json_t *doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return errbuf_set(err, errlen, "not JSON: %s", je.text);
    struct dict *d = policy_overrides_new();
    int rc = decode(doc, base, d, meta, err, errlen);
    json_decref(doc);
    if (rc < 0) {
        policy_overrides_free(d);
        return -1;
    }
    *ov = d;
    return 0;
}
