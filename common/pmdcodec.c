/* permessage-deflate bodies: see pmdcodec.h. */
#include "common/pmdcodec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "common/buf.h"
#include "common/xalloc.h"

/* Level 1: on the chat corpus higher levels gain under 0.1 % in size for
 * 40-50 % more time (docs/performance.md). */
#define PMD_LEVEL 1

struct pmd_codec {
    struct libdeflate_compressor *comp;
    struct libdeflate_decompressor *decomp;
    struct buf zout; /* the last compressed body */
    struct buf zin;  /* a received body with the RFC 7692 tail appended */
    struct buf out;  /* the last inflated message */
    struct pmd_stats st;
};

struct pmd_codec *pmd_codec_new(void)
{
    struct pmd_codec *z = xcalloc(1, sizeof *z);
    z->comp = libdeflate_alloc_compressor(PMD_LEVEL);
    z->decomp = libdeflate_alloc_decompressor();
    if (!z->comp || !z->decomp) {
        fprintf(stderr, "fatal: out of memory creating a deflate codec\n");
        abort();
    }
    buf_init(&z->zout);
    buf_init(&z->zin);
    buf_init(&z->out);
    return z;
}

void pmd_codec_free(struct pmd_codec *z)
{
    if (!z)
        return;
    libdeflate_free_compressor(z->comp);
    libdeflate_free_decompressor(z->decomp);
    buf_deinit(&z->zout);
    buf_deinit(&z->zin);
    buf_deinit(&z->out);
    free(z);
}

const struct pmd_stats *pmd_codec_stats(const struct pmd_codec *z)
{
    return &z->st;
}

size_t pmd_compress(struct pmd_codec *z, const uint8_t *p, size_t n, const uint8_t **out)
{
    z->st.compress_in += n;
    /* Room for a body at least 2 bytes shorter than n (the 0x00 tail makes
     * it one longer): libdeflate returns 0 when it does not fit, so "not
     * smaller" costs no extra pass. */
    size_t room = n > 2 ? n - 2 : 0;
    size_t len = 0;
    if (room) {
        buf_reset(&z->zout);
        buf_reserve(&z->zout, room + 1);
        len = libdeflate_deflate_compress(z->comp, p, n, buf_tail(&z->zout), room);
    }
    if (!len) {
        z->st.not_smaller++;
        return 0;
    }
    uint8_t *body = buf_tail(&z->zout);
    body[len++] = 0x00; /* RFC 7692 §7.2.1: the empty stored block, 00 00 ff ff removed */
    z->st.compressed++;
    z->st.compress_out += len;
    *out = body;
    return len;
}

int pmd_inflate(struct pmd_codec *z, const uint8_t *p, size_t n, size_t max, const uint8_t **out,
                size_t *outlen)
{
    /* RFC 7692 §7.2.2: append 00 00 ff ff (completing the empty stored
     * block a sync flush ended with), then an empty final block (03 00,
     * fixed Huffman, end of block) so that libdeflate, which reads whole
     * streams, finds the BFINAL it needs. */
    static const uint8_t tail[] = {0x00, 0x00, 0xff, 0xff, 0x03, 0x00};
    if (max > PMD_MAX_INFLATE)
        max = PMD_MAX_INFLATE;
    buf_reset(&z->zin);
    buf_append(&z->zin, p, n);
    buf_append(&z->zin, tail, sizeof tail);
    const uint8_t *in = buf_head(&z->zin);
    size_t in_len = buf_readable(&z->zin), pos = 0, done = 0;
    buf_reset(&z->out);
    buf_reserve(&z->out, max ? max : 1);
    uint8_t *dst = buf_tail(&z->out);
    /* One pass per BFINAL stream; each consumes at least one byte, so the
     * loop is bounded by n and the output by max. */
    while (pos < n) {
        size_t used = 0, got = 0;
        enum libdeflate_result r = libdeflate_deflate_decompress_ex(
            z->decomp, in + pos, in_len - pos, dst + done, max - done, &used, &got);
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            z->st.inflate_big++;
            return PMD_TOO_BIG;
        }
        if (r != LIBDEFLATE_SUCCESS || used == 0) {
            z->st.inflate_bad++;
            return PMD_BAD_DATA;
        }
        pos += used;
        done += got;
    }
    z->st.inflated++;
    z->st.inflate_in += n;
    z->st.inflate_out += done;
    *out = dst;
    *outlen = done;
    return PMD_INFLATED;
}
