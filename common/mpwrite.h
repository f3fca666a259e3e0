/* msgpack writers: each call appends one msgpack value, or the header of a
 * container, straight into a struct buf, in the smallest format that holds
 * it (the msgpack spec, "Formats"). The bytes are those msgpack-c's packer
 * writes for the matching msgpack_pack_* call (test_mpwrite.c holds them to
 * that), without the packer's write callback and the copy it makes.
 * Used by the link codec (link.c), the client message builders
 * (msg_build.c) and the JSON -> msgpack transcoder (transcode.c);
 * everything is inline, on their hot paths, and calls nothing above buf.
 *
 * Lengths and counts are at most UINT32_MAX (the largest msgpack can say);
 * the callers' budgets keep them far below. */
#ifndef SPOKE_MPWRITE_H
#define SPOKE_MPWRITE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

/* Appends the type byte t and then the w low bytes of v, big-endian. */
static inline __attribute__((always_inline)) void mp__write_head(struct buf *b, uint8_t t,
                                                                 uint64_t v, unsigned w)
{
    buf_reserve(b, 1 + w);
    uint8_t *p = buf_tail(b);
    p[0] = t;
    for (unsigned i = 0; i < w; i++)
        p[1 + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
    b->len += 1 + w;
}

static inline void mp_write_nil(struct buf *b)
{
    buf_append_u8(b, 0xc0);
}

static inline void mp_write_bool(struct buf *b, int v)
{
    buf_append_u8(b, v ? 0xc3 : 0xc2);
}

/* An unsigned integer: positive fixint below 128, then uint 8, 16, 32, 64
 * (msgpack_pack_uint64). */
static inline __attribute__((always_inline)) void mp_write_uint(struct buf *b, uint64_t v)
{
    if (v < 128)
        buf_append_u8(b, (uint8_t)v);
    else if (v < 256)
        mp__write_head(b, 0xcc, v, 1);
    else if (v < 65536)
        mp__write_head(b, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        mp__write_head(b, 0xce, v, 4);
    else
        mp__write_head(b, 0xcf, v, 8);
}

/* A signed integer: negative fixint from -32, int 8, 16, 32, 64 below
 * that; from 0 up the unsigned formats, as mp_write_uint
 * (msgpack_pack_int64, msgpack_pack_int). */
static inline void mp_write_int(struct buf *b, int64_t v)
{
    if (v >= 0)
        mp_write_uint(b, (uint64_t)v);
    else if (v >= -32)
        buf_append_u8(b, (uint8_t)v); /* negative fixint: 0xe0..0xff */
    else if (v >= INT8_MIN)
        mp__write_head(b, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
        mp__write_head(b, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
        mp__write_head(b, 0xd2, (uint64_t)v, 4);
    else
        mp__write_head(b, 0xd3, (uint64_t)v, 8);
}

/* A float 64 (msgpack_pack_double). */
static inline void mp_write_double(struct buf *b, double d)
{
    uint64_t w;
    memcpy(&w, &d, sizeof w);
    mp__write_head(b, 0xcb, w, 8);
}

/* Bytes mp_write_str appends for a string of n bytes: fixstr below 32,
 * then str 8, 16, 32. */
static inline size_t mp_write_str_size(size_t n)
{
    return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
}

/* A str of s[0, n), header and bytes (msgpack_pack_str_with_body). The
 * bytes are copied as they are: valid UTF-8 is the caller's to ensure. */
static inline void mp_write_str(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, mp_write_str_size(n));
    if (n < 32)
        buf_append_u8(b, (uint8_t)(0xa0 | n));
    else if (n < 256)
        mp__write_head(b, 0xd9, n, 1);
    else if (n < 65536)
        mp__write_head(b, 0xda, n, 2);
    else
        mp__write_head(b, 0xdb, n, 4);
    buf_append(b, s, n);
}

/* A bin of p[0, n): bin 8, 16, 32 (msgpack_pack_bin_with_body). */
static inline void mp_write_bin(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n + (n < 256 ? 2 : n < 65536 ? 3 : 5));
    if (n < 256)
        mp__write_head(b, 0xc4, n, 1);
    else if (n < 65536)
        mp__write_head(b, 0xc5, n, 2);
    else
        mp__write_head(b, 0xc6, n, 4);
    buf_append(b, p, n);
}

/* The header of an array of n elements, which the caller writes next:
 * fixarray below 16, then array 16, 32 (msgpack_pack_array). */
static inline void mp_write_array(struct buf *b, size_t n)
{
    if (n < 16)
        buf_append_u8(b, (uint8_t)(0x90 | n));
    else if (n < 65536)
        mp__write_head(b, 0xdc, n, 2);
    else
        mp__write_head(b, 0xdd, n, 4);
}

/* The header of a map of n entries (key, then value, n times), which the
 * caller writes next: fixmap below 16, then map 16, 32 (msgpack_pack_map). */
static inline void mp_write_map(struct buf *b, size_t n)
{
    if (n < 16)
        buf_append_u8(b, (uint8_t)(0x80 | n));
    else if (n < 65536)
        mp__write_head(b, 0xde, n, 2);
    else
        mp__write_head(b, 0xdf, n, 4);
}

#endif
