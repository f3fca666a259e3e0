/* libFuzzer driver for the edge's frame handling after the length scan
 * (edge/wsconn.c): a client's bytes, split into reads as the read loop would
 * get them, through frame judging, partial-frame buffering, wslay and the
 * close handshake, with the connection's owner played by stubs that do what
 * edge/client.c does to the state. The first input byte picks the message
 * limit (its low bits) and whether permessage-deflate was negotiated (its top
 * bit: RSV1 allowed, compressed messages inflated), the second how the rest
 * is cut into reads.
 *
 * Properties: no crash or leak; an incomplete frame held between reads is
 * never longer than one frame header plus the limit; every message handed up
 * is at most the limit and only while the connection is open; a failure
 * always carries a close code and a reason. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/pmdcodec.h"
#include "edge/edge.h"
#include "edge/wsconn.h"
#include "tests/fuzz/fuzz_check.h"

#define MAX_HEADER 14 /* 2 + 8 extended length + 4 mask key */

static const long limits[] = {0, 1, 125, 126, 1000, 65535, 65536};

static long limit;
static int messages, failures;

static void on_message(struct client *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    FUZZ_CHECK(c->state == CLIENT_OPEN);
    FUZZ_CHECK(opcode == 1 || opcode == 2);
    FUZZ_CHECK(n <= (size_t)limit);
    messages++;
    /* Like a client verb that ends the connection (the rate limit's 1008). */
    if (n == 7 && p[0] == 'Q')
        c->state = CLIENT_CLOSING;
}

static void on_queue(struct client *c, struct frame *f)
{
    FUZZ_CHECK(c->state != CLIENT_CLOSED);
    FUZZ_CHECK(f->len >= 2);
    sendq_push(&c->q, &c->w->qpool, f);
}

/* The owner keeps reading until its end of turn, then tears down: the
 * state stays CLOSING meanwhile. */
static void on_closed(struct client *c, uint16_t code)
{
    FUZZ_CHECK(c->state != CLIENT_CLOSED);
    c->state = CLIENT_CLOSING;
}

static void on_failed(struct client *c, uint16_t code, const char *why, int queued, int wait)
{
    FUZZ_CHECK(c->state != CLIENT_CLOSED);
    FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009);
    FUZZ_CHECK(why && *why);
    failures++;
    c->state = CLIENT_CLOSING;
}

static const struct wsconn_events events = {
    .message = on_message,
    .queue = on_queue,
    .closed = on_closed,
    .failed = on_failed,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static struct worker w;
    static struct client c;
    memset(&w, 0, sizeof w);
    memset(&c, 0, sizeof c);
    static struct pmd_codec *pmd;
    if (!pmd)
        pmd = pmd_codec_new();
    limit = limits[(data[0] & 0x7f) % (sizeof limits / sizeof limits[0])];
    w.policy.max_message_bytes = limit;
    if (data[0] & 0x80) {
        c.flags |= CLIENT_F_DEFLATE;
        w.pmd = pmd;
    }
    buf_init(&w.wsout);
    c.w = &w;
    c.state = CLIENT_OPEN;
    messages = failures = 0;

    /* Reads of 1..64 bytes, the pattern taken from the second byte. */
    uint8_t cut = data[1];
    const uint8_t *p = data + 2;
    size_t left = size - 2;
    for (unsigned i = 0; left; i++) {
        size_t n = 1 + ((cut >> (i % 8)) * 7 + i) % 64;
        if (n > left)
            n = left;
        struct buf *partial = wsconn_partial(&c);
        if (partial) {
            buf_append(partial, p, n);
            wsconn_input(&c, buf_head(partial), buf_readable(partial), 1, &events);
        } else {
            wsconn_input(&c, p, n, 0, &events);
        }
        p += n;
        left -= n;
        partial = wsconn_partial(&c);
        if (partial)
            FUZZ_CHECK(buf_readable(partial) <= MAX_HEADER + (size_t)(limit < 125 ? 125 : limit));
    }
    wsconn_free(&c);
    sendq_clear(&c.q, &w.qpool);
    sendq_pool_deinit(&w.qpool);
    buf_deinit(&w.wsout);
    return 0;
}
