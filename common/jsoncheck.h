/* Syntax check of JSON text without building it: what a receiving edge
 * needs before it copies a payload from the link into a client's JSON
 * frame, where anything but exactly one JSON value would add keys to the
 * message around it (`1,"op":"ack","id":1`).
 *
 * jansson gives the same answer (its fuzz driver checks that they agree),
 * but builds a document to give it: about ten times the time and up to
 * seventy times the input in memory, per message and worker. Here it is one
 * pass over the bytes and no allocation. */
#ifndef SPOKE_JSONCHECK_H
#define SPOKE_JSONCHECK_H
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting json_check can follow (jansson's own limit). */
#define JSON_CHECK_MAX_DEPTH 2048

/* Returns 0 if p[0, n) is exactly one JSON value (RFC 8259: any value at
 * the top level, whitespace around it) in valid UTF-8, with no container
 * opened inside max_depth open ones (max_depth above JSON_CHECK_MAX_DEPTH
 * counts as that); -1 otherwise. Strings: no raw control characters,
 * escapes as the RFC lists them, \u escapes of surrogates only as a
 * high-low pair, no \u0000 in object keys (as jansson with JSON_ALLOW_NUL).
 * Numbers: what jansson can hold, as the JSON -> msgpack transcoder reads
 * them: integers in int64 range, reals finite as a double (both limits are
 * jansson's; RFC 8259 allows any), so that the JSON and msgpack copies of a
 * payload are refused alike. O(n), no allocation. */
int json_check(const uint8_t *p, size_t n, unsigned max_depth);

#endif
