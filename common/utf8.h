/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef SPOKE_UTF8_H
#define SPOKE_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Returns 1 if p[0, n) is valid UTF-8, 0 otherwise. */
int utf8_is_valid(const uint8_t *p, size_t n);

#endif
