/* SipHash-1-3: see siphash.h. */
#include "common/siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND           \
    do {                   \
        v0 += v1;          \
        v1 = ROTL(v1, 13); \
        v1 ^= v0;          \
        v0 = ROTL(v0, 32); \
        v2 += v3;          \
        v3 = ROTL(v3, 16); \
        v3 ^= v2;          \
        v0 += v3;          \
        v3 = ROTL(v3, 21); \
        v3 ^= v0;          \
        v2 += v1;          \
        v1 = ROTL(v1, 17); \
        v1 ^= v2;          \
        v2 = ROTL(v2, 32); \
    } while (0)

uint64_t siphash13(uint64_t k0, uint64_t k1, const void *p, size_t n)
{
    const uint8_t *in = p;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8); /* little-endian hosts only (x86-64, arm64) */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    switch (n - i) {
    case 7: b |= (uint64_t)in[i + 6] << 48; /* fallthrough */
    case 6: b |= (uint64_t)in[i + 5] << 40; /* fallthrough */
    case 5: b |= (uint64_t)in[i + 4] << 32; /* fallthrough */
    case 4: b |= (uint64_t)in[i + 3] << 24; /* fallthrough */
    case 3: b |= (uint64_t)in[i + 2] << 16; /* fallthrough */
    case 2: b |= (uint64_t)in[i + 1] << 8;  /* fallthrough */
    case 1: b |= (uint64_t)in[i]; break;
    default: break;
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
