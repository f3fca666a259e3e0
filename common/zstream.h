/* A long-lived zstd stream in each direction of a link (LIBRARIES.md §4).
 * The compressor is fed message by message (ZSTD_e_continue) and flushed
 * once per loop iteration (ZSTD_e_flush, looped until done), so the peer can
 * decode everything sent so far while the shared history keeps the ratio
 * high. Memory is bounded by a small windowLog on the compressor and
 * ZSTD_d_windowLogMax on the decompressor. */
#ifndef SPOKE_ZSTREAM_H
#define SPOKE_ZSTREAM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

#define ZSTREAM_LEVEL 1
#define ZSTREAM_WINDOW_LOG 17

struct zstream_out;
struct zstream_in;

/* Returns a compressor, or NULL if zstd refused the parameters. */
struct zstream_out *zout_new(int level, int window_log);
void zout_free(struct zstream_out *z);
/* Compresses p[0, n) into out (appending). Returns 0 or -1. */
int zout_write(struct zstream_out *z, const void *p, size_t n, struct buf *out);
/* Flushes everything written so far into out. Returns 0 or -1. */
int zout_flush(struct zstream_out *z, struct buf *out);
/* Starts a new stream (keeps parameters and memory): for a new connection. */
void zout_reset(struct zstream_out *z);
size_t zout_sizeof(const struct zstream_out *z);
/* Why the last zout_write or zout_flush failed (a static string). */
const char *zout_error(const struct zstream_out *z);

/* Returns a decompressor refusing windows above 2^window_log_max, or NULL. */
struct zstream_in *zin_new(int window_log_max);
void zin_free(struct zstream_in *z);
/* Decompresses from src[0, srclen) into dst[0, dstcap). Sets *consumed to
 * the source bytes used. Returns the bytes produced (0 is possible: call
 * again while *consumed < srclen or the result == dstcap), or -1 on corrupt
 * input with a reason from zin_error(). */
ssize_t zin_read(struct zstream_in *z, const uint8_t *src, size_t srclen, size_t *consumed,
                 uint8_t *dst, size_t dstcap);
const char *zin_error(const struct zstream_in *z);
void zin_reset(struct zstream_in *z);
size_t zin_sizeof(const struct zstream_in *z);

#endif
