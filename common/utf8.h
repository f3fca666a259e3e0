/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef SPOKE_UTF8_H
#define SPOKE_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Returns 1 if p[0, n) is valid UTF-8, 0 otherwise. */
int utf8_is_valid(const uint8_t *p, size_t n);

/* Length (2..4) of the well-formed multi-byte sequence at p[0, n) (p[0] >=
 * 0x80), or 0 with *bad set to the length (>= 1) of the maximal ill-formed
 * subpart, which a lenient decoder replaces by one U+FFFD (Unicode §3.9). */
size_t utf8_sequence(const uint8_t *p, size_t n, size_t *bad);

#endif
