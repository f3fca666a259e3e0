/* What the hub sends on a link (see linkgen.h): its preamble, its
 * uncompressed HELLO, then one zstd stream. While setting up, every message
 * is decoded (link_decode) for the HELLO, POLICY, INTEREST_RESULTs and any
 * ERROR. While measuring (fast), the stream is still decompressed, in full,
 * but a message is only counted by its type byte: a link MESSAGE is a
 * msgpack fixarray whose first element, the type, is a positive fixint, so
 * reading two bytes of each length-prefixed record is enough. Links with
 * `check` set decode every MESSAGE and check that each topic's seq goes up
 * by one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "common/zstream.h"
#include "tests/bench/linkgen/linkgen.h"

#define RX_CHUNK (256u << 10)

void lg_rx_init(struct lg_rx *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->in);
}

void lg_rx_deinit(struct lg_rx *r)
{
    zin_free(r->zin);
    buf_deinit(&r->in);
    free(r->last_seq);
    memset(r, 0, sizeof *r);
}

static void check_seq(struct lg_link *l, const struct link_msg *m)
{
    struct lg_rx *r = &l->rx;
    size_t plen = strlen(l->g->o.prefix);
    if (m->topic.len <= plen + 1) {
        r->seq_gaps++;
        return;
    }
    unsigned long t = 0;
    for (uint32_t i = (uint32_t)plen + 1; i < m->topic.len; i++)
        t = t * 10 + (unsigned long)(m->topic.ptr[i] - '0');
    if (t >= l->g->o.topics) {
        r->seq_gaps++;
        return;
    }
    if (r->last_seq[t] && m->seq != r->last_seq[t] + 1)
        r->seq_gaps++;
    r->last_seq[t] = m->seq;
}

/* A decoded message while setting up (or checking). */
static void on_msg(struct lg_link *l, const struct link_msg *m)
{
    struct lg_rx *r = &l->rx;
    char why[LINK_MAX_REASON + 1];
    switch (m->type) {
    case LINK_HELLO:
        r->hello = 1;
        lg_setup_step(l->g);
        break;
    case LINK_POLICY: r->policy = 1; break;
    case LINK_ERROR:
        snprintf(why, sizeof why, "%.*s", (int)m->reason.len, m->reason.ptr);
        lg_fatal("link %u: the hub sent ERROR %u: %s", l->idx, m->code, why);
    case LINK_INTEREST_RESULT:
        if (m->code)
            r->interest_refused++;
        else
            r->interest_ok++;
        lg_setup_step(l->g);
        break;
    case LINK_MESSAGE:
        r->messages++;
        if (r->check)
            check_seq(l, m);
        break;
    default: break;
    }
}

/* Counts or decodes every complete record in r->in. */
static void dispatch(struct lg_link *l)
{
    struct lg_rx *r = &l->rx;
    const uint8_t *p = buf_head(&r->in);
    size_t avail = buf_readable(&r->in), off = 0;
    while (avail - off >= 4) {
        const uint8_t *h = p + off;
        size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (n < 2 || n > LINK_MAX_MESSAGE)
            lg_fatal("link %u: bad record length %zu", l->idx, n);
        if (avail - off - 4 < n)
            break;
        r->msgs++;
        if (r->fast && !r->check && h[4] >= 0x90 && h[4] <= 0x9f && h[5] < 0x80) {
            if (h[5] == LINK_MESSAGE)
                r->messages++;
            else if (h[5] == LINK_ERROR)
                goto decode; /* to say why */
        } else {
        decode:;
            struct link_msg m;
            char why[128];
            if (link_decode(h, 4 + n, &m, why, sizeof why) != (int)(4 + n))
                lg_fatal("link %u: undecodable message: %s", l->idx, why);
            on_msg(l, &m);
        }
        off += 4 + n;
    }
    buf_consume(&r->in, off);
}

/* Takes p[0, n) of plaintext link bytes. */
static void take(struct lg_link *l, const uint8_t *p, size_t n)
{
    struct lg_rx *r = &l->rx;
    while (r->preamble_seen < LINK_PREAMBLE_LEN && n) {
        if (*p != (uint8_t)LINK_PREAMBLE[r->preamble_seen])
            lg_fatal("link %u: bad preamble from the hub", l->idx);
        r->preamble_seen++;
        p++;
        n--;
    }
    if (!r->first_in && n) {
        /* The first message, uncompressed: collect it whole. */
        size_t have = buf_readable(&r->in), want = 4;
        if (have >= 4) {
            const uint8_t *h = buf_head(&r->in);
            want += (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        }
        size_t k = want - have < n ? want - have : n;
        buf_append(&r->in, p, k);
        p += k;
        n -= k;
        if (have < 4 && buf_readable(&r->in) == 4) {
            /* The length just arrived: the body may follow now or later. */
            const uint8_t *h = buf_head(&r->in);
            size_t body = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
            if (body > LINK_MAX_FIRST)
                lg_fatal("link %u: the hub's first message is %zu bytes", l->idx, body);
            if (n)
                return take(l, p, n);
            return;
        }
        if (buf_readable(&r->in) >= 4 && buf_readable(&r->in) == want) {
            r->raw_in += want;
            dispatch(l);
            r->first_in = 1;
            buf_reset(&r->in);
        }
    }
    if (!r->first_in || !n)
        return;
    if (!r->zin && !(r->zin = zin_new(ZSTREAM_WINDOW_LOG + 1)))
        lg_fatal("zstd: cannot create the decompressor");
    while (n) {
        size_t used = 0;
        buf_reserve(&r->in, RX_CHUNK);
        ssize_t got = zin_read(r->zin, p, n, &used, buf_tail(&r->in), RX_CHUNK);
        if (got < 0)
            lg_fatal("link %u: zstd: %s", l->idx, zin_error(r->zin));
        buf_commit(&r->in, (size_t)got);
        r->raw_in += (uint64_t)got;
        p += used;
        n -= used;
        if (got)
            dispatch(l);
        if (!used && (size_t)got < RX_CHUNK)
            break;
    }
    /* Output left inside zstd after a full chunk. */
    for (;;) {
        size_t used = 0;
        buf_reserve(&r->in, RX_CHUNK);
        ssize_t got = zin_read(r->zin, p, 0, &used, buf_tail(&r->in), RX_CHUNK);
        if (got <= 0)
            break;
        buf_commit(&r->in, (size_t)got);
        r->raw_in += (uint64_t)got;
        dispatch(l);
    }
}

int lg_rx_read(struct lg_link *l)
{
    static uint8_t chunk[RX_CHUNK];
    for (;;) {
        ssize_t n = read(l->fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            lg_fatal("link %u: read: %s", l->idx, strerror(errno));
        }
        if (n == 0)
            lg_fatal("link %u: the hub closed the link", l->idx);
        l->rx.wire_in += (uint64_t)n;
        take(l, chunk, (size_t)n);
        if ((size_t)n < sizeof chunk)
            return 0;
    }
}
