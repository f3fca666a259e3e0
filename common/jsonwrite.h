/* JSON text writers: the strings and integers that the client message
 * builders (msg_build.c) and the msgpack -> JSON transcoder (transcode.c)
 * append straight into a struct buf, with no JSON document in between.
 * They call nothing above buf and utf8. */
#ifndef SPOKE_JSONWRITE_H
#define SPOKE_JSONWRITE_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Appends s[0, n) as a quoted JSON string (RFC 8259 section 7). `"`, `\`
 * and the control characters below 0x20 are escaped (\b \f \n \r \t by
 * name, the others as \u00XX); every other byte of valid UTF-8, DEL
 * included, is copied as is. Invalid UTF-8 is replaced by U+FFFD, one per
 * maximal ill-formed subpart (Unicode 15 section 3.9), so the output is valid
 * JSON whatever the input. Writes at most 2 + 6 * n bytes. */
void json_write_str(struct buf *b, const char *s, size_t n);

/* Append v in decimal, exact over the whole 64-bit range (at most 20
 * bytes; a negative number adds its '-'). */
void json_write_u64(struct buf *b, uint64_t v);
void json_write_i64(struct buf *b, int64_t v);

#endif
