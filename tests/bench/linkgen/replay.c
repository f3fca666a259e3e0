/* The publishing links' traffic, encoded and compressed once (see linkgen.h).
 *
 * A link's upstream is one zstd stream, and a block of it cannot be replayed
 * at another position: its matches point into the window behind it, and its
 * entropy tables and repeat offsets may be those of the previous block. A
 * complete zstd frame depends on nothing before it, and a zstd decoder takes
 * a frame after a frame as one continuous output (ZSTD_decompressStream
 * starts the next frame where one ends), which is what the hub's link
 * decoder does (common/zstream.c). So the cycle is cut into frames of about
 * frame_bytes of messages each, compressed once with the link's own
 * parameters (level 1, windowLog 17, no checksum), and the same bytes are
 * written again and again: the generator's cost per message is a share of
 * one write(). What the hub decodes is byte for byte what an edge sending
 * these PUBLISHes would make it decode; only the compressed form differs
 * (a new frame every frame_bytes, whose first bytes have no history to
 * match against: a slightly worse ratio, and one frame header per frame). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "common/enc.h"
#include "common/xalloc.h"
#include "common/zstream.h"
#include "tests/bench/linkgen/linkgen.h"
#include "tests/bench/loadgen/corpus.h"

static ZSTD_CCtx *cctx(void)
{
    static ZSTD_CCtx *c;
    if (!c) {
        c = ZSTD_createCCtx();
        if (!c || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, ZSTREAM_LEVEL)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, ZSTREAM_WINDOW_LOG)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)))
            lg_fatal("zstd: cannot create the compressor");
    }
    return c;
}

/* One frame of p[0, n) appended to out. */
static void compress_frame(const uint8_t *p, size_t n, struct buf *out)
{
    size_t cap = ZSTD_compressBound(n);
    buf_reserve(out, cap);
    size_t z = ZSTD_compress2(cctx(), buf_tail(out), cap, p, n);
    if (ZSTD_isError(z))
        lg_fatal("zstd: %s", ZSTD_getErrorName(z));
    buf_commit(out, z);
}

static void frame_seal(struct lg_frame *f, struct buf *plain)
{
    struct buf z;
    buf_init(&z);
    compress_frame(buf_head(plain), buf_readable(plain), &z);
    f->plen = buf_readable(plain);
    f->plain = xmalloc(f->plen);
    memcpy(f->plain, buf_head(plain), f->plen);
    f->zlen = buf_readable(&z);
    f->z = xmalloc(f->zlen);
    memcpy(f->z, buf_head(&z), f->zlen);
    buf_deinit(&z);
}

void lg_replay_build(struct lg_replay *r, const struct lg_opts *o, const char *from)
{
    /* At least 64 Ki messages per cycle, and every topic equally often. */
    uint64_t per = (65536 + o->topics - 1) / o->topics;
    r->cycle_msgs = per * o->topics;
    char data[4096];
    unsigned size = o->size < 2 ? 2 : o->size > sizeof data ? (unsigned)sizeof data : o->size;
    data[0] = '"';
    memset(data + 1, 'x', size - 2);
    data[size - 1] = '"';
    size_t cap = 16;
    r->frames = xmalloc(cap * sizeof *r->frames);
    r->nframes = 0;
    struct buf plain;
    buf_init(&plain);
    uint32_t n = 0;
    struct corpus chat;
    if (o->chat)
        corpus_init(&chat, 4096, 1);
    for (uint64_t i = 0; i < r->cycle_msgs; i++) {
        char topic[LINK_MAX_TOPIC + 1];
        snprintf(topic, sizeof topic, "%s.%llu", o->prefix, (unsigned long long)(i % o->topics));
        char text[4096];
        struct link_str d = {data, size};
        if (o->chat) {
            /* The `link` workload's chat corpus, as spoke-loadgen sends it. */
            uint64_t ts;
            const struct chat_msg *c = corpus_msg(&chat, i, &ts);
            int k = snprintf(text, sizeof text, "{\"user\":\"%s\",\"text\":\"%.*s\",\"ts\":%llu}",
                             chat.users[c->user], (int)c->text_len, chat.text + c->text_off,
                             (unsigned long long)ts);
            d = (struct link_str){text,
                                  (uint32_t)(k < (int)sizeof text ? k : (int)sizeof text - 1)};
        }
        struct link_msg m = {.type = LINK_PUBLISH,
                             .topic = link_str_c(topic),
                             .from = link_str_c(from),
                             .enc = ENC_JSON,
                             .data = d,
                             .user = link_str_c(""),
                             .pub_id = 0};
        if (link_encode(&plain, &m) < 0)
            lg_fatal("cannot encode a publish");
        n++;
        if (buf_readable(&plain) >= o->frame_bytes || i + 1 == r->cycle_msgs) {
            if (r->nframes == cap) {
                cap *= 2;
                r->frames = xrealloc(r->frames, cap * sizeof *r->frames);
            }
            struct lg_frame *f = &r->frames[r->nframes++];
            frame_seal(f, &plain);
            f->n = n;
            n = 0;
            buf_reset(&plain);
        }
    }
    buf_deinit(&plain);
    if (o->chat) {
        free(chat.text);
        free(chat.msgs);
    }
}

void lg_frame_prefix(const struct lg_frame *f, uint32_t n, struct lg_frame *out)
{
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = f->plain + off;
        off += 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
    }
    struct buf plain;
    buf_init(&plain);
    buf_append(&plain, f->plain, off);
    free(out->plain);
    free(out->z);
    frame_seal(out, &plain);
    out->n = n;
    buf_deinit(&plain);
}

void lg_frame_one(const struct link_msg *m, struct buf *out)
{
    struct buf plain;
    buf_init(&plain);
    if (link_encode(&plain, m) < 0)
        lg_fatal("cannot encode a %s", link_type_name(m->type));
    compress_frame(buf_head(&plain), buf_readable(&plain), out);
    buf_deinit(&plain);
}

void lg_replay_free(struct lg_replay *r)
{
    for (size_t i = 0; i < r->nframes; i++) {
        free(r->frames[i].plain);
        free(r->frames[i].z);
    }
    free(r->frames);
    memset(r, 0, sizeof *r);
}
