/* Growable byte buffer used for every queue of bytes in spoke.
 *
 * Invariant: 0 <= off <= len <= cap. The readable bytes are data[off, len);
 * the writable tail is data[len, cap).
 * buf_reserve, buf_append and buf_compact may move the bytes (realloc or
 * memmove): pointers into the buffer do not survive them. buf_consume only
 * advances off (and rewinds to 0 when the buffer becomes empty);
 * buf_truncate and buf_reset only move len. */
#ifndef SPOKE_BUF_H
#define SPOKE_BUF_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    uint8_t *data;
    size_t off, len, cap;
};

#define BUF_INIT      \
    {                 \
        NULL, 0, 0, 0 \
    }

void buf_init(struct buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_deinit(struct buf *b);
/* Ensures at least n writable bytes at the tail (compacts or grows). The
 * check is inline: on the hub's fan-out path it runs once per message per
 * link, and the call cost more than the copy. */
void buf__grow(struct buf *b, size_t n);
static inline void buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->len < n)
        buf__grow(b, n);
}
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
void buf_append_str(struct buf *b, const char *s);
/* Inline: the msgpack writers (common/mpwrite.h) append most of a link
 * message's bytes one at a time. */
static inline void buf_append_u8(struct buf *b, uint8_t v)
{
    buf_reserve(b, 1);
    b->data[b->len++] = v;
}
/* Appends printf-formatted text (no NUL terminator is counted in len). */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Marks n bytes written into the tail (after buf_reserve) as readable. */
void buf_commit(struct buf *b, size_t n);
/* Drops n readable bytes from the head. */
void buf_consume(struct buf *b, size_t n);
/* Moves the readable bytes to the start of the storage. */
void buf_compact(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/* Appends a string literal without its terminating NUL. */
#define BUF_APPEND_LIT(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

/* Keeps the first `readable` readable bytes (readable <= buf_readable(b))
 * and drops the rest: undoes a partial append. Safe across appends that
 * compacted the buffer, because compaction keeps the readable bytes and
 * only moves where they start. */
static inline void buf_truncate(struct buf *b, size_t readable)
{
    b->len = b->off + readable;
}

static inline uint8_t *buf_head(const struct buf *b)
{
    return b->data + b->off;
}
static inline size_t buf_readable(const struct buf *b)
{
    return b->len - b->off;
}
static inline uint8_t *buf_tail(const struct buf *b)
{
    return b->data + b->len;
}
static inline size_t buf_writable(const struct buf *b)
{
    return b->cap - b->len;
}

#endif
