/* deflate-cost: what compressing one message costs the edge, measured on the
 * bench's chat corpus (--corpus chat1k of spoke-loadgen): the edge's own
 * pmd_compress (common/pmdcodec.h: libdeflate, one-shot, BFINAL body), next
 * to zlib's way of doing the same (raw deflate, windowBits -15, deflateReset
 * + deflate(Z_SYNC_FLUSH) per message, 00 00 ff ff dropped, RFC 7692
 * §7.2.1) for the comparison that chose the library; and, for scale, what
 * zlib gets keeping one stream across messages (context takeover, the
 * per-connection state the edge does not keep).
 *
 * usage: deflate-cost [--level L] [--mem-level M] [--iterations N] [--dump 1]
 * (--level and --mem-level are zlib's; --dump 1: print the rendered
 * deliveries, one a line, and stop.)
 * Prints one JSON line: for the edge, zlib and zlib with context takeover,
 * mean ns per message, mean bytes in and out, and the ratio. The messages
 * are the data frames a subscriber gets, so each is wrapped as the edge
 * wraps a delivery ({"op":"msg",...}). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "common/pmdcodec.h"
#include "tests/bench/loadgen/corpus.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int level = 1, mem_level = 8;
    long iters = 200000;
    int dump = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--level"))
            level = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mem-level"))
            mem_level = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dump"))
            dump = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iterations"))
            iters = atol(argv[i + 1]);
        else {
            fprintf(stderr, "usage: deflate-cost [--level L] [--mem-level M] [--iterations N]\n");
            return 2;
        }
    }
    struct corpus c;
    corpus_init_chat1k(&c, 4096, 42); /* the loadgen's seed: the same messages */
    /* Render the deliveries once, as the edge sends them. */
    char **msg = malloc(sizeof *msg * c.n);
    size_t *len = malloc(sizeof *len * c.n);
    for (unsigned i = 0; i < c.n; i++) {
        const struct chat_msg *m = &c.msgs[i];
        msg[i] = malloc((size_t)m->text_len + 256);
        len[i] = (size_t)sprintf(msg[i],
                                 "{\"op\":\"msg\",\"topic\":\"chat\",\"seq\":%u,\"from\":"
                                 "\"e1-0-%u\",\"data\":{%.*s,\"t\":%llu,\"w\":0}}",
                                 100000 + i, 42 + i % 9, (int)m->text_len, c.text + m->text_off,
                                 123456789012345ull + i * 977ull);
    }
    if (dump) {
        for (unsigned i = 0; i < c.n; i++)
            printf("%.*s\n", (int)len[i], msg[i]);
        return 0;
    }
    z_stream zs = {0};
    if (deflateInit2(&zs, level, Z_DEFLATED, -15, mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
        return 1;
    static unsigned char out[65536];
    unsigned long long in_bytes = 0, out_bytes = 0;
    double t0 = now_s();
    for (long k = 0; k < iters; k++) {
        unsigned i = (unsigned)(k % c.n);
        deflateReset(&zs);
        zs.next_in = (Bytef *)msg[i];
        zs.avail_in = (uInt)len[i];
        zs.next_out = out;
        zs.avail_out = sizeof out;
        if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in)
            return 1;
        in_bytes += len[i];
        out_bytes += sizeof out - zs.avail_out - 4; /* RFC 7692: 00 00 ff ff dropped */
    }
    double dt_zlib = now_s() - t0;
    double zin = (double)in_bytes, zout = (double)out_bytes;

    /* zlib keeping its window across messages: context takeover. */
    deflateReset(&zs);
    in_bytes = out_bytes = 0;
    t0 = now_s();
    for (long k = 0; k < iters; k++) {
        unsigned i = (unsigned)(k % c.n);
        zs.next_in = (Bytef *)msg[i];
        zs.avail_in = (uInt)len[i];
        zs.next_out = out;
        zs.avail_out = sizeof out;
        if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in)
            return 1;
        in_bytes += len[i];
        out_bytes += sizeof out - zs.avail_out - 4;
    }
    double dt_take = now_s() - t0;
    double tin = (double)in_bytes, tout = (double)out_bytes;
    deflateEnd(&zs);

    /* The edge's codec. */
    struct pmd_codec *z = pmd_codec_new();
    in_bytes = out_bytes = 0;
    t0 = now_s();
    for (long k = 0; k < iters; k++) {
        unsigned i = (unsigned)(k % c.n);
        const uint8_t *body;
        size_t blen = pmd_compress(z, (const uint8_t *)msg[i], len[i], &body);
        in_bytes += len[i];
        out_bytes += blen ? blen : len[i]; /* not smaller: sent plain */
    }
    double dt_edge = now_s() - t0;
    pmd_codec_free(z);

    printf("{\"library\":\"libdeflate (pmd_compress, level 1)\",\"iterations\":%ld,"
           "\"ns_per_msg\":%.1f,\"bytes_in\":%.1f,\"bytes_out\":%.1f,\"ratio\":%.3f,"
           "\"zlib\":{\"version\":\"%s\",\"level\":%d,\"mem_level\":%d,\"window_bits\":-15,"
           "\"ns_per_msg\":%.1f,\"bytes_out\":%.1f,\"ratio\":%.3f},"
           "\"zlib_context_takeover\":{\"ns_per_msg\":%.1f,\"bytes_out\":%.1f,\"ratio\":%.3f}}\n",
           iters, dt_edge * 1e9 / (double)iters, (double)in_bytes / (double)iters,
           (double)out_bytes / (double)iters, (double)in_bytes / (double)out_bytes, zlibVersion(),
           level, mem_level, dt_zlib * 1e9 / (double)iters, zout / (double)iters, zin / zout,
           dt_take * 1e9 / (double)iters, tout / (double)iters, tin / tout);
    return 0;
}
