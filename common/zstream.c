/* Long-lived zstd compression and decompression streams: see zstream.h. */
#include "common/zstream.h"

#include <stdlib.h>

#include <zstd.h>

#include "common/xalloc.h"

struct zstream_out {
    ZSTD_CCtx *cctx;
    const char *err; /* static string from zstd, or NULL */
};

struct zstream_in {
    ZSTD_DCtx *dctx;
    const char *err;
};

struct zstream_out *zout_new(int level, int window_log)
{
    struct zstream_out *z = xcalloc(1, sizeof(*z));

    z->cctx = ZSTD_createCCtx();
    if (!z->cctx)
        goto fail;
    /* No checksum: TCP already protects the bytes and the 4 bytes per frame
     * buy nothing on a stream whose frame never ends. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_windowLog, window_log)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0)))
        goto fail;
    return z;
fail:
    zout_free(z);
    return NULL;
}

void zout_free(struct zstream_out *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

/* Runs ZSTD_compressStream2 with `mode` until the input is consumed and, for
 * a flush, until zstd reports nothing left to write. Each round reserves
 * ZSTD_CStreamOutSize(), which zstd guarantees is enough to make progress. */
static int zout_run(struct zstream_out *z, const void *p, size_t n, struct buf *out,
                    ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {p, n, 0};
    size_t chunk = ZSTD_CStreamOutSize();

    for (;;) {
        buf_reserve(out, chunk);
        ZSTD_outBuffer o = {buf_tail(out), buf_writable(out), 0};
        size_t r = ZSTD_compressStream2(z->cctx, &o, &in, mode);
        buf_commit(out, o.pos);
        if (ZSTD_isError(r)) {
            z->err = ZSTD_getErrorName(r);
            return -1;
        }
        if (mode == ZSTD_e_continue ? in.pos == in.size : r == 0)
            return 0;
    }
}

int zout_write(struct zstream_out *z, const void *p, size_t n, struct buf *out)
{
    if (n == 0)
        return 0;
    return zout_run(z, p, n, out, ZSTD_e_continue);
}

int zout_flush(struct zstream_out *z, struct buf *out)
{
    return zout_run(z, NULL, 0, out, ZSTD_e_flush);
}

void zout_reset(struct zstream_out *z)
{
    ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
    z->err = NULL;
}

size_t zout_sizeof(const struct zstream_out *z)
{
    return sizeof(*z) + ZSTD_sizeof_CCtx(z->cctx);
}

const char *zout_error(const struct zstream_out *z)
{
    return z->err ? z->err : "no error";
}

struct zstream_in *zin_new(int window_log_max)
{
    struct zstream_in *z = xcalloc(1, sizeof(*z));

    z->dctx = ZSTD_createDCtx();
    if (!z->dctx)
        goto fail;
    /* The decompression bomb defence part one: a frame asking for a larger
     * window fails instead of allocating it (LIBRARIES.md §4). Part two,
     * bounding the output, is the caller's (linkio's bounded buffer). */
    if (ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax, window_log_max)))
        goto fail;
    return z;
fail:
    zin_free(z);
    return NULL;
}

void zin_free(struct zstream_in *z)
{
    if (!z)
        return;
    ZSTD_freeDCtx(z->dctx);
    free(z);
}

ssize_t zin_read(struct zstream_in *z, const uint8_t *src, size_t srclen, size_t *consumed,
                 uint8_t *dst, size_t dstcap)
{
    ZSTD_inBuffer in = {src, srclen, 0};
    ZSTD_outBuffer out = {dst, dstcap, 0};
    size_t r = ZSTD_decompressStream(z->dctx, &out, &in);

    *consumed = in.pos;
    if (ZSTD_isError(r)) {
        z->err = ZSTD_getErrorName(r);
        return -1;
    }
    return (ssize_t)out.pos;
}

const char *zin_error(const struct zstream_in *z)
{
    return z->err ? z->err : "no error";
}

void zin_reset(struct zstream_in *z)
{
    ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only);
    z->err = NULL;
}

size_t zin_sizeof(const struct zstream_in *z)
{
    return sizeof(*z) + ZSTD_sizeof_DCtx(z->dctx);
}
