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

/* Copies the text p[0, n) into out as well-formed UTF-8 of at most max
 * bytes, then a NUL (out holds max + 1 bytes): for text that must be UTF-8
 * and fit a limit whatever it came from, such as a WebSocket close reason
 * (RFC 6455 §5.5.1: UTF-8, at most 123 bytes). Each maximal ill-formed
 * subpart (see utf8_sequence) and each NUL byte becomes U+FFFD, so the result
 * is also a C string holding all of the text that fit. The copy ends before
 * the first character that would not fit whole: a character is never split.
 * Stops as soon as out is full, so the work is O(max) whatever n is.
 * Returns the number of bytes written before the NUL. */
size_t utf8_cut(char *out, size_t max, const uint8_t *p, size_t n);

#endif
