/* Comma-separated lists as HTTP headers and settings write them ("a, b,c"):
 * iteration over their items with surrounding blanks trimmed. */
#ifndef SPOKE_TEXTLIST_H
#define SPOKE_TEXTLIST_H
#include <stddef.h>

/* Finds the next non-empty item at *cursor: sets *item and *len and moves
 * *cursor past it. Returns 1, or 0 at the end of the list. */
static inline int textlist_next(const char **cursor, const char **item, size_t *len)
{
    const char *p = *cursor;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) {
            *cursor = p;
            return 0;
        }
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > start) {
            *item = start;
            *len = (size_t)(end - start);
            *cursor = p;
            return 1;
        }
    }
}

#endif
