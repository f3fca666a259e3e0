/* Structural check of msgpack bytes before msgpack-c parses them.
 *
 * msgpack-c allocates whatever an array, map, str or bin header declares
 * (LIBRARIES.md §5): 5 hostile bytes can ask for 2 GB. mp_check walks the
 * headers without allocating and accepts only input whose every declared size
 * fits in the bytes given, so unpacking afterwards allocates at most a small
 * multiple of len. */
#ifndef SPOKE_MPCHECK_H
#define SPOKE_MPCHECK_H
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 32

/* Returns 0 if p[0, len) is exactly one complete msgpack object with nesting
 * at most max_depth and all declared sizes within len; -1 otherwise
 * (truncated, trailing bytes, reserved byte 0xc1, too deep).
 * Depth counts open containers: a scalar is depth 0, [1] and [] depth 1; no
 * container, not even an empty one, may open inside max_depth open ones,
 * which matches msgpack-c's own stack of 32 (MP_MAX_DEPTH). max_depth above 256 is
 * treated as 256 (the walk's counters live on the C stack). An array or map
 * whose count exceeds the bytes left (every element needs at least one) is
 * refused at its header, without reading on. Never allocates. */
int mp_check(const uint8_t *p, size_t len, unsigned max_depth);

/* Like mp_check, and every str (key or value, at any depth) must also be
 * valid UTF-8 (RFC 3629), as the client protocol requires of msgpack
 * strings: what an edge may splice into a client's msgpack message. */
int mp_check_payload(const uint8_t *p, size_t len, unsigned max_depth);

/* Like mp_check, but for the first object of p[0, len): returns its length
 * in bytes (> 0), or -1 if it is not complete and valid within len. */
long mp_object_len(const uint8_t *p, size_t len, unsigned max_depth);

#endif
