/* Text from a peer (another hub, Redis, an edge) made safe to show in a
 * log line or an API answer: printable ASCII only, cut to fit. */
#ifndef SPOKE_PRINTABLE_H
#define SPOKE_PRINTABLE_H
#include <stddef.h>

/* Copies s (NULL: "") into out[0, cap), cap >= 1: every byte outside
 * 0x20..0x7e becomes '?', and it stops at cap - 1 bytes. Returns out. */
static inline char *printable_copy(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && s[n] && n + 1 < cap; n++)
        out[n] = s[n] >= 0x20 && s[n] <= 0x7e ? s[n] : '?';
    out[n] = '\0';
    return out;
}

#endif
