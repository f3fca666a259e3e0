/* How much history each topic keeps: the hub file's [history] section, one
 * rule per line, `PATTERN = COUNT [AGE]` (docs/configuration.md):
 *
 *   default = 1000 300s    ; topics no pattern matches (built in: 1000 300s)
 *   chat.*  = 1000 1h      ; a prefix ending in *: every topic starting so
 *   ticker.* = 0           ; no history
 *   news.front = 50        ; an exact topic; no age bound
 *
 * A topic takes the rule of its exact name if there is one, else of the
 * longest matching prefix, else the default. COUNT is 0 to
 * HISTORY_MAX_COUNT messages; AGE a number with a unit (ms, s, m, h, d; a
 * bare number is seconds) up to 30 days, 0 or omitted for no age bound. */
#ifndef SPOKE_HUB_HISTORY_RULES_H
#define SPOKE_HUB_HISTORY_RULES_H
#include <stddef.h>
#include <stdint.h>

#define HISTORY_MAX_COUNT 10000000u
#define HISTORY_MAX_AGE_MS (30ull * 24 * 3600 * 1000)
#define HISTORY_DEFAULT_COUNT 1000u
#define HISTORY_DEFAULT_AGE_MS 300000u

/* A topic's bounds: max_count 0 keeps nothing; max_age_ms 0 has no age
 * bound (the count and the hub's budget still apply). */
struct history_bounds {
    uint32_t max_count;
    uint64_t max_age_ms;
};

struct history_rules;

/* Rules holding only the built-in default. */
struct history_rules *history_rules_new(void);
void history_rules_free(struct history_rules *r); /* NULL ok */
/* Adds one line of the section: key "default" or a pattern. Returns 0, or
 * -1 with a one-line reason in err (a bad pattern or value, or a key set
 * twice). */
int history_rules_set(struct history_rules *r, const char *key, const char *value, char *err,
                      size_t errlen);
/* The bounds for topic[0, len). O(rules). */
struct history_bounds history_rules_match(const struct history_rules *r, const char *topic,
                                          size_t len);
/* Number of rules besides the default. */
size_t history_rules_count(const struct history_rules *r);

#endif
