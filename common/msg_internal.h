/* Output helpers shared by the client message codec files (msg_build.c,
 * transcode.c); not part of the public msg.h contract. */
#ifndef SPOKE_MSG_INTERNAL_H
#define SPOKE_MSG_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Appends a string literal without its terminating NUL. */
#define MSG__APPEND_LIT(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

/* Appends s[0, n) as a quoted JSON string. `"`, `\` and control characters
 * below 0x20 are escaped; invalid UTF-8 is replaced by U+FFFD (one per
 * maximal ill-formed subpart, Unicode 15 section 3.9) so the output is always
 * valid JSON whatever the input. */
void msg__json_append_str(struct buf *b, const char *s, size_t n);

/* Append an integer in decimal (exact over the full 64-bit range). */
void msg__json_append_u64(struct buf *b, uint64_t v);
void msg__json_append_i64(struct buf *b, int64_t v);

/* msgpack_packer write callback: `data` is the struct buf to append to.
 * Always returns 0 (buf growth aborts on out of memory, like xmalloc). */
int msg__mp_write(void *data, const char *p, size_t n);

/* Rolls a buffer back to `readable` readable bytes, undoing a partial append.
 * Safe across appends that compacted the buffer, because compaction keeps
 * the readable bytes and only moves where they start. */
static inline void msg__buf_truncate(struct buf *b, size_t readable)
{
    b->len = b->off + readable;
}

#endif
