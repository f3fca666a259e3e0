/* libFuzzer driver for handshake_feed (edge/handshake.h), the edge's
 * incremental HTTP upgrade parser. The first input byte picks where the
 * request is split into two reads; the answer must not depend on that
 * split, so the same bytes are also fed in one piece and the outcomes
 * compared. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "edge/handshake.h"
#include "tests/fuzz/fuzz_check.h"

struct outcome {
    enum handshake_result r;
    size_t consumed; /* request bytes, over all feeds */
    enum enc enc;
    struct buf response;
};

/* Feeds p[0, n) as the edge does (client.c): read by read, never empty,
 * stopping at the first answer. cuts[] are the read boundaries. */
static void run(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts, struct outcome *o)
{
    struct handshake *h = handshake_new();
    size_t start = 0;

    buf_init(&o->response);
    o->r = HANDSHAKE_NEED_MORE;
    o->consumed = 0;
    o->enc = (enum enc) - 1;
    for (size_t i = 0; i <= ncuts && o->r == HANDSHAKE_NEED_MORE; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        /* A read of 0 bytes is EOF, and the edge closes instead of feeding
         * it (http_parser would take len 0 as EOF and report 1 byte used). */
        if (end == start)
            continue;
        size_t used = (size_t)-1;
        const char *why = NULL;
        enum enc enc = (enum enc) - 1;
        o->r = handshake_feed(h, p + start, end - start, &used, &o->response, &enc, &why);
        FUZZ_CHECK(o->r == HANDSHAKE_NEED_MORE || o->r == HANDSHAKE_DONE ||
                   o->r == HANDSHAKE_FAILED || o->r == HANDSHAKE_HTTP);
        FUZZ_CHECK(used <= end - start);
        o->consumed += used;
        if (o->r == HANDSHAKE_NEED_MORE) {
            FUZZ_CHECK(used == end - start); /* nothing is left behind */
            FUZZ_CHECK(buf_readable(&o->response) == 0);
        } else {
            FUZZ_CHECK(why != NULL || o->r == HANDSHAKE_DONE);
        }
        if (o->r == HANDSHAKE_DONE) {
            FUZZ_CHECK(enc == ENC_JSON || enc == ENC_MSGPACK);
            o->enc = enc;
        }
        if (o->r == HANDSHAKE_HTTP) {
            /* The request the caller answers, its path within the URL limit. */
            struct handshake_request hr;
            handshake_http(h, &hr);
            FUZZ_CHECK(buf_readable(&o->response) == 0);
            FUZZ_CHECK(hr.path_len >= 1 && hr.path_len <= HANDSHAKE_MAX_TOKEN);
        }
        start = end;
    }
    handshake_free(h);

    /* buf_head of a buffer that never held a byte is NULL + 0: look only
     * when there is something to see. */
    size_t rlen = buf_readable(&o->response);
    const char *resp = rlen ? (const char *)buf_head(&o->response) : "";
    if (o->r == HANDSHAKE_DONE) {
        FUZZ_CHECK(rlen > 12 && memcmp(resp, "HTTP/1.1 101", 12) == 0);
        FUZZ_CHECK(rlen >= 4 && memcmp(resp + rlen - 4, "\r\n\r\n", 4) == 0);
        FUZZ_CHECK(o->consumed <= HANDSHAKE_MAX_BYTES);
    } else if (o->r == HANDSHAKE_FAILED) {
        FUZZ_CHECK(rlen > 10 && memcmp(resp, "HTTP/1.1 4", 10) == 0);
    } else {
        FUZZ_CHECK(n < HANDSHAKE_MAX_BYTES);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    size_t cut = n ? data[0] % (n + 1) : 0;

    struct outcome split, whole;
    run(p, n, &cut, 1, &split);
    run(p, n, NULL, 0, &whole);

    FUZZ_CHECK(split.r == whole.r);
    if (whole.r == HANDSHAKE_DONE) {
        FUZZ_CHECK(split.consumed == whole.consumed && split.enc == whole.enc);
        FUZZ_CHECK(buf_readable(&split.response) == buf_readable(&whole.response) &&
                   memcmp(buf_head(&split.response), buf_head(&whole.response),
                          buf_readable(&whole.response)) == 0);
    }
    buf_deinit(&split.response);
    buf_deinit(&whole.response);
    return 0;
}
