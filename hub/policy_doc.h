/* The policy as one document: the base policy and the per-edge overrides
 * ([edge.NAME] sections), as hub/policy.c holds them and as
 * hub/cluster_policy.c keeps them in Redis, one JSON text:
 *
 *   {"v":1, "base":{"idle_timeout":300,...}, "edges":{"fra-1":{"idle_timeout":900}},
 *    "by":"hub-a", "how":"API"}
 *
 * Values are in config units, as GET /api/policy shows them (seconds,
 * bytes, counts). Pure: no I/O, no logging. Decoding takes its input as
 * hostile (another hub may be buggy, Redis may hold anything): at most
 * POLICY_DOC_MAX_BYTES of text and POLICY_DOC_MAX_EDGES overrides, every
 * value checked as PUT /api/policy checks it, the cross-key rules on the
 * base and on every edge's effective policy. Keys it does not know (a
 * newer hub's) are skipped and counted; keys missing from "base" take
 * their defaults, so every hub reading one document enforces one policy. */
#ifndef SPOKE_HUB_POLICY_DOC_H
#define SPOKE_HUB_POLICY_DOC_H
#include <jansson.h>
#include <stddef.h>

#include "common/policy.h"

struct dict;

#define POLICY_DOC_MAX_BYTES (256 * 1024)
#define POLICY_DOC_MAX_EDGES 4096

/* One [edge.NAME] section: the keys it sets and their values. */
struct edge_override {
    struct policy values;
    unsigned mask; /* POLICY_BIT(i) for each key set */
};

/* Overrides are a dict from edge name to a heap struct edge_override. */
struct dict *policy_overrides_new(void);
void policy_overrides_free(struct dict *d); /* NULL ok */
struct dict *policy_overrides_copy(const struct dict *d);
/* 1 if a and b set the same keys to the same values for the same edges
 * (NULL: none). */
int policy_overrides_equal(const struct dict *a, const struct dict *b);

/* base with edge's overrides (ov may be NULL). */
void policy_effective(const struct policy *base, const struct dict *ov, const char *edge,
                      size_t len, struct policy *out);
/* The cross-key rules on base and on every edge's effective policy.
 * Returns 0, or -1 with err ("[edge.NAME]: ..."). */
int policy_doc_validate(const struct policy *base, const struct dict *ov, char *err, size_t errlen);

/* A policy as a JSON object in config units (new reference). */
json_t *policy_to_json(const struct policy *p);

/* Who made a document, for the logs: a hub's name and how ("API",
 * "SIGHUP", "startup"). */
struct policy_doc_meta {
    char by[65];
    char how[16];
    size_t unknown_keys; /* decode: keys skipped */
};

/* The document's text (malloc'd, NUL-terminated). */
char *policy_doc_encode(const struct policy *base, const struct dict *ov,
                        const struct policy_doc_meta *meta);
/* Reads a document from p[0, n). Returns 0 with *base, *ov (new, the
 * caller's) and *meta filled; or -1 with a one-line reason in err, and
 * nothing to free. */
int policy_doc_decode(const char *p, size_t n, struct policy *base, struct dict **ov,
                      struct policy_doc_meta *meta, char *err, size_t errlen);

#endif
