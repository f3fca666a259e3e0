/* Allocation-free structural walk of msgpack bytes: see mpcheck.h. */
#include "common/mpcheck.h"

#include <limits.h>

#include "common/utf8.h"

/* Nesting limit regardless of what the caller asks for: the walk keeps one
 * counter per open container on the C stack (8 bytes each), so this bounds
 * the stack used to 2 KiB. */
#define MP_DEPTH_CAP 256

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the header of the object at p[0, avail) and classifies it.
 * For a scalar (including str, bin, ext) *size is its full length in bytes
 * and *count is 0; for an array or map *size is the header length and *count
 * the number of objects it contains (2 per map entry). Returns 0, or -1 if
 * the header is truncated, the reserved byte 0xc1, or a scalar's declared
 * size runs past avail. */
static int mp_header(const uint8_t *p, size_t avail, size_t *size, uint64_t *count)
{
    uint8_t b = p[0];
    size_t hdr, body = 0; /* fixed header bytes, then a variable body */

    *count = 0;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1)) {
        *size = 1; /* fixint, nil, false, true */
        return 0;
    }
    if (b >= 0x80 && b <= 0x8f) { /* fixmap */
        *size = 1;
        *count = (uint64_t)(b & 0x0f) * 2;
        return 0;
    }
    if (b >= 0x90 && b <= 0x9f) { /* fixarray */
        *size = 1;
        *count = b & 0x0f;
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf) { /* fixstr */
        hdr = 1;
        body = b & 0x1f;
        goto sized;
    }
    switch (b) {
    case 0xc1: /* never used */ return -1;
    case 0xc4:
    case 0xd9: /* bin8, str8 */
        if (avail < 2)
            return -1;
        hdr = 2;
        body = p[1];
        goto sized;
    case 0xc5:
    case 0xda: /* bin16, str16 */
        if (avail < 3)
            return -1;
        hdr = 3;
        body = be16(p + 1);
        goto sized;
    case 0xc6:
    case 0xdb: /* bin32, str32 */
        if (avail < 5)
            return -1;
        hdr = 5;
        body = be32(p + 1);
        goto sized;
    case 0xc7: /* ext8: size, type, data */
        if (avail < 2)
            return -1;
        hdr = 3;
        body = p[1];
        goto sized;
    case 0xc8: /* ext16 */
        if (avail < 3)
            return -1;
        hdr = 4;
        body = be16(p + 1);
        goto sized;
    case 0xc9: /* ext32 */
        if (avail < 5)
            return -1;
        hdr = 6;
        body = be32(p + 1);
        goto sized;
    case 0xca: hdr = 5; goto sized; /* float32 */
    case 0xcb: hdr = 9; goto sized; /* float64 */
    case 0xcc:
    case 0xd0: hdr = 2; goto sized; /* uint8, int8 */
    case 0xcd:
    case 0xd1: hdr = 3; goto sized; /* uint16, int16 */
    case 0xce:
    case 0xd2: hdr = 5; goto sized; /* uint32, int32 */
    case 0xcf:
    case 0xd3: hdr = 9; goto sized;  /* uint64, int64 */
    case 0xd4: hdr = 3; goto sized;  /* fixext1: type + 1 */
    case 0xd5: hdr = 4; goto sized;  /* fixext2 */
    case 0xd6: hdr = 6; goto sized;  /* fixext4 */
    case 0xd7: hdr = 10; goto sized; /* fixext8 */
    case 0xd8: hdr = 18; goto sized; /* fixext16 */
    case 0xdc:                       /* array16 */
        if (avail < 3)
            return -1;
        *size = 3;
        *count = be16(p + 1);
        return 0;
    case 0xdd: /* array32 */
        if (avail < 5)
            return -1;
        *size = 5;
        *count = be32(p + 1);
        return 0;
    case 0xde: /* map16 */
        if (avail < 3)
            return -1;
        *size = 3;
        *count = (uint64_t)be16(p + 1) * 2;
        return 0;
    case 0xdf: /* map32 */
        if (avail < 5)
            return -1;
        *size = 5;
        *count = (uint64_t)be32(p + 1) * 2;
        return 0;
    default: return -1; /* unreachable: every byte value is handled above */
    }
sized:
    /* Written as two comparisons so a 4 GiB declared body cannot overflow. */
    if (hdr > avail || body > avail - hdr)
        return -1;
    *size = hdr + body;
    return 0;
}

/* 1 if the str at p (its header and body within avail, which mp_header has
 * checked) holds valid UTF-8. */
static int str_is_utf8(const uint8_t *p, size_t size)
{
    uint8_t b = p[0];
    size_t hdr;

    if (b >= 0xa0 && b <= 0xbf)
        hdr = 1;
    else if (b == 0xd9)
        hdr = 2;
    else if (b == 0xda)
        hdr = 3;
    else if (b == 0xdb)
        hdr = 5;
    else
        return 1; /* not a str */
    return utf8_is_valid(p + hdr, size - hdr);
}

/* The walk behind mp_object_len and mp_check_payload; `utf8` also requires
 * every str body to be valid UTF-8 (one more linear pass over str bytes). */
static long object_len(const uint8_t *p, size_t len, unsigned max_depth, int utf8)
{
    /* need[d] = objects still to read in the d-th open container. The
     * innermost container's objects are all unstarted; every outer one has
     * exactly one started object (the container nested in it). `unstarted`
     * is therefore sum(need) - (depth - 1) and each of those objects needs at
     * least one byte, which rejects hostile counts as soon as they appear. */
    uint64_t need[MP_DEPTH_CAP];
    unsigned depth = 0;
    uint64_t unstarted = 1; /* the top-level object */
    size_t pos = 0;

    if (!p || len == 0)
        return -1;
    if (max_depth > MP_DEPTH_CAP)
        max_depth = MP_DEPTH_CAP;

    for (;;) {
        size_t size;
        uint64_t count;

        if (pos >= len || mp_header(p + pos, len - pos, &size, &count) < 0)
            return -1;
        if (utf8 && !str_is_utf8(p + pos, size))
            return -1;
        /* msgpack-c refuses to open any container, an empty one included,
         * once max_depth (its stack of 32) are open: so do we. */
        uint8_t b = p[pos];
        if (depth >= max_depth && ((b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf)))
            return -1;
        pos += size;
        unstarted--;
        if (count > 0) {
            if (depth >= max_depth || count > len - pos || unstarted + count > len - pos)
                return -1;
            need[depth++] = count;
            unstarted += count;
            continue;
        }
        /* One object finished: close every container it completes. */
        while (depth > 0 && --need[depth - 1] == 0)
            depth--;
        if (depth == 0)
            break;
        /* unstarted cannot exceed the bytes left: pos only grew by `size`
         * bytes while one unstarted object was consumed, so recheck. */
        if (unstarted > len - pos)
            return -1;
    }
    if (pos > (size_t)LONG_MAX)
        return -1;
    return (long)pos;
}

long mp_object_len(const uint8_t *p, size_t len, unsigned max_depth)
{
    return object_len(p, len, max_depth, 0);
}

int mp_check(const uint8_t *p, size_t len, unsigned max_depth)
{
    long n = object_len(p, len, max_depth, 0);
    return n > 0 && (size_t)n == len ? 0 : -1;
}

int mp_check_payload(const uint8_t *p, size_t len, unsigned max_depth)
{
    long n = object_len(p, len, max_depth, 1);
    return n > 0 && (size_t)n == len ? 0 : -1;
}
