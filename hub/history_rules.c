/* The [history] section's rules: parsing and the longest match (see
 * history_rules.h). */
#include "hub/history_rules.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/xalloc.h"

struct rule {
    char *pattern; /* without the '*' */
    size_t len;
    int prefix; /* pattern ended in '*' */
    struct history_bounds b;
};

struct history_rules {
    struct rule *rules;
    size_t n;
    struct history_bounds def;
    int def_set;
};

struct history_rules *history_rules_new(void)
{
    struct history_rules *r = xcalloc(1, sizeof *r);
    r->def.max_count = HISTORY_DEFAULT_COUNT;
    r->def.max_age_ms = HISTORY_DEFAULT_AGE_MS;
    return r;
}

void history_rules_free(struct history_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->rules[i].pattern);
    free(r->rules);
    free(r);
}

size_t history_rules_count(const struct history_rules *r)
{
    return r->n;
}

/* "300s", "5m", "1.5h", "250ms", "30" (seconds): milliseconds in *out. */
static int parse_age(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0 || *s == '-' || *s == '+')
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        double ms = v * units[i].ms;
        if (ms > (double)HISTORY_MAX_AGE_MS)
            return -1;
        *out = (uint64_t)(ms + 0.5);
        if (v > 0 && *out == 0)
            *out = 1; /* a positive age never rounds to 0, which means "no bound" */
        return 0;
    }
    return -1;
}

/* "COUNT [AGE]". */
static int parse_bounds(const char *value, struct history_bounds *b, char *err, size_t errlen)
{
    char buf[128];
    if (strlen(value) >= sizeof buf)
        goto fail;
    snprintf(buf, sizeof buf, "%s", value);
    char *save = NULL;
    char *count = strtok_r(buf, " \t", &save);
    char *age = count ? strtok_r(NULL, " \t", &save) : NULL;
    if (!count || strtok_r(NULL, " \t", &save))
        goto fail;
    char *end;
    errno = 0;
    unsigned long n = strtoul(count, &end, 10);
    if (errno || *end || *count == '-' || *count == '+' || n > HISTORY_MAX_COUNT)
        goto fail;
    b->max_count = (uint32_t)n;
    b->max_age_ms = 0;
    if (age && parse_age(age, &b->max_age_ms) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen,
             "'%s' is not COUNT [AGE] (COUNT 0 to %u messages, AGE like 300s, 5m, 1h up to 30d)",
             value, HISTORY_MAX_COUNT);
    return -1;
}

int history_rules_set(struct history_rules *r, const char *key, const char *value, char *err,
                      size_t errlen)
{
    struct history_bounds b;
    char why[256];
    if (parse_bounds(value, &b, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", key, why);
        return -1;
    }
    if (strcmp(key, "default") == 0) {
        if (r->def_set)
            goto twice;
        r->def = b;
        r->def_set = 1;
        return 0;
    }
    size_t len = strlen(key);
    int prefix = len && key[len - 1] == '*';
    size_t plen = prefix ? len - 1 : len;
    /* A prefix may be empty ("*": every topic) but holds topic characters
     * only, as an exact name is a topic. */
    if ((plen || !prefix) && !topic_is_valid(key, plen)) {
        snprintf(err, errlen,
                 "'%s' is not a topic or a topic prefix ending in * (topic characters: "
                 "A-Z a-z 0-9 . _ : / -)",
                 key);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->rules[i].prefix == prefix && r->rules[i].len == plen &&
            memcmp(r->rules[i].pattern, key, plen) == 0)
            goto twice;
    r->rules = xrealloc(r->rules, (r->n + 1) * sizeof *r->rules);
    r->rules[r->n++] = (struct rule){xstrndup(key, plen), plen, prefix, b};
    return 0;
twice:
    snprintf(err, errlen, "key '%s' set twice", key);
    return -1;
}

struct history_bounds history_rules_match(const struct history_rules *r, const char *topic,
                                          size_t len)
{
    const struct rule *best = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct rule *x = &r->rules[i];
        if (!x->prefix) {
            if (x->len == len && memcmp(x->pattern, topic, len) == 0)
                return x->b; /* an exact name beats every prefix */
            continue;
        }
        /* A prefix matches one or more further characters, as in a token's
         * topic patterns (docs/protocol.md, Tokens). */
        if (x->len < len && memcmp(x->pattern, topic, x->len) == 0 && (!best || x->len > best->len))
            best = x;
    }
    return best ? best->b : r->def;
}
