/* permessage-deflate message bodies without context takeover (RFC 7692
 * §7.2), on libdeflate: each message is compressed or inflated on its own,
 * so one codec per worker serves every connection and a connection holds no
 * compression state at all. Chosen over zlib on measurement
 * (docs/performance.md, "permessage-deflate"): on the bench's chat corpus
 * libdeflate level 1 compresses a message in less than half of zlib's time
 * (deflateReset + Z_SYNC_FLUSH) for the same size, and needs no reset.
 *
 * Bodies are written the way RFC 7692 §7.2.3.3 shows for a block with BFINAL
 * set: libdeflate's final block, then one 0x00 byte (the empty stored block
 * of §7.2.1 with its 00 00 ff ff removed). Bodies read may end either way
 * (a sync flush's non-final block, or BFINAL blocks as above), and may hold
 * several BFINAL streams one after the other. */
#ifndef SPOKE_PMDCODEC_H
#define SPOKE_PMDCODEC_H
#include <stddef.h>
#include <stdint.h>

enum pmd_inflate_result {
    PMD_INFLATED = 0,
    PMD_TOO_BIG = -1,  /* inflates to more than the limit: 1009 */
    PMD_BAD_DATA = -2, /* not a deflate body standing alone (context takeover, garbage): 1002 */
};

/* What a codec did, for /metrics. */
struct pmd_stats {
    uint64_t compressed;   /* bodies compressed and smaller than the input */
    uint64_t not_smaller;  /* compressed, but no smaller: sent plain */
    uint64_t compress_in;  /* bytes given to compression (both outcomes) */
    uint64_t compress_out; /* compressed bytes of the `compressed` bodies */
    uint64_t inflated;     /* bodies inflated */
    uint64_t inflate_in;   /* their compressed bytes */
    uint64_t inflate_out;  /* their inflated bytes */
    uint64_t inflate_big;  /* refused: over the limit */
    uint64_t inflate_bad;  /* refused: bad data */
};

struct pmd_codec;

/* Aborts on out of memory, as xmalloc does. */
struct pmd_codec *pmd_codec_new(void);
void pmd_codec_free(struct pmd_codec *z); /* NULL: no-op */
const struct pmd_stats *pmd_codec_stats(const struct pmd_codec *z);

/* Compresses p[0, n) into one message body. Returns its length, with *out
 * pointing at it (valid until the codec's next call), or 0 when the body
 * would not be smaller than n (the message goes uncompressed). */
size_t pmd_compress(struct pmd_codec *z, const uint8_t *p, size_t n, const uint8_t **out);

/* Inflates the message body p[0, n) (as received, 00 00 ff ff removed) into
 * at most max bytes; *out (valid until the codec's next call) and *outlen
 * on PMD_INFLATED. Work and memory are bounded by n and max: inflating
 * stops as soon as the output would pass max. max <= PMD_MAX_INFLATE. */
#define PMD_MAX_INFLATE ((size_t)64 << 20)
int pmd_inflate(struct pmd_codec *z, const uint8_t *p, size_t n, size_t max, const uint8_t **out,
                size_t *outlen);

#endif
