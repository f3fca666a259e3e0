/* Topic patterns, as tokens grant topics (docs/protocol.md) and backend
 * hooks select them (common/hooks_conf.h): a topic, or a prefix and '*'. */
#ifndef SPOKE_TOPIC_PATTERN_H
#define SPOKE_TOPIC_PATTERN_H
#include <stddef.h>

#define TOPIC_PATTERN_MAX 255

/* Returns 1 if topic matches pattern, else 0. A pattern matches a topic
 * equal to it; a pattern ending in '*' also matches any topic that starts
 * with the prefix before the '*' and has at least one more character
 * ("chat.*" matches "chat.a" and "chat.a.b", not "chat." nor "chat"); a lone
 * "*" matches any non-empty topic; a '*' anywhere else is literal. An empty
 * pattern matches nothing. O(plen). */
int topic_pattern_match(const char *pattern, size_t plen, const char *topic, size_t tlen);

/* 1 if p[0, n) is a pattern that can match a topic: 1..TOPIC_PATTERN_MAX
 * bytes, a valid topic (common/msg.h topic_is_valid), or a possibly empty
 * run of topic characters followed by one final '*'. Else 0. */
int topic_pattern_is_valid(const char *p, size_t n);

#endif
