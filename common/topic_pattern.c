/* Topic patterns: matching and validity (see topic_pattern.h). */
#include "common/topic_pattern.h"

#include <string.h>

#include "common/msg.h"

_Static_assert(TOPIC_PATTERN_MAX == TOPIC_MAX_LEN, "a pattern can name any topic");

int topic_pattern_match(const char *pattern, size_t plen, const char *topic, size_t tlen)
{
    if (plen == 0)
        return 0;
    if (pattern[plen - 1] == '*') {
        size_t prefix = plen - 1;
        if (tlen > prefix && memcmp(pattern, topic, prefix) == 0)
            return 1;
    }
    return plen == tlen && memcmp(pattern, topic, plen) == 0;
}

int topic_pattern_is_valid(const char *p, size_t n)
{
    if (n == 0 || n > TOPIC_PATTERN_MAX)
        return 0;
    if (p[n - 1] == '*')
        return n == 1 || topic_is_valid(p, n - 1);
    return topic_is_valid(p, n);
}
