/* libFuzzer driver for the incoming side of a link (common/linkio.h): the
 * input is what a peer sends after its preamble (a zstd stream of
 * length-prefixed messages), written into one end of a socketpair and read
 * back with linkio_read as the edge and the hub do, so the preamble match,
 * decompression, framing and link_decode all see it. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "tests/fuzz/fuzz_check.h"

/* The edge's per-iteration read budget (edge/uplink.c). */
#define BUDGET (64 * 1024)
/* The preamble goes out in two writes, read in between, so a preamble split
 * across reads is exercised on every input. */
#define PREAMBLE_FIRST 3

struct rx {
    uint64_t msgs;
};

static int on_msg(void *ud, const struct link_msg *m)
{
    struct rx *rx = ud;
    struct buf b = BUF_INIT;
    /* Whatever linkio hands on is a message our own encoder accepts. */
    FUZZ_CHECK(link_encode(&b, m) > 0);
    buf_deinit(&b);
    rx->msgs++;
    return 0;
}

/* Writes p[0, n) to fd, draining the other end into l whenever the socket
 * is full. Returns linkio_read's first non-zero answer, or 0. */
static int feed(struct linkio *l, int wfd, int rfd, const uint8_t *p, size_t n, struct rx *rx)
{
    while (n) {
        ssize_t w = write(wfd, p, n);
        if (w < 0) {
            FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            w = 0;
        }
        p += w;
        n -= (size_t)w;
        int rc = linkio_read(l, rfd, BUDGET, on_msg, rx);
        if (rc)
            return rc;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    for (int i = 0; i < 2; i++)
        FUZZ_CHECK(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK) == 0);

    struct linkio l;
    FUZZ_CHECK(linkio_init(&l) == 0);
    struct rx rx = {0};

    int rc = feed(&l, sv[0], sv[1], (const uint8_t *)LINK_PREAMBLE, PREAMBLE_FIRST, &rx);
    FUZZ_CHECK(rc == 0 && l.preamble_seen == PREAMBLE_FIRST);
    rc = feed(&l, sv[0], sv[1], (const uint8_t *)LINK_PREAMBLE + PREAMBLE_FIRST,
              LINK_PREAMBLE_LEN - PREAMBLE_FIRST, &rx);
    FUZZ_CHECK(rc == 0 && l.preamble_seen == LINK_PREAMBLE_LEN);
    if (size)
        rc = feed(&l, sv[0], sv[1], data, size, &rx);
    close(sv[0]);
    /* Drain to EOF: budget-limited reads return 0 with bytes still queued. */
    for (int i = 0; rc == 0; i++) {
        FUZZ_CHECK(i < 1000000);
        rc = linkio_read(&l, sv[1], BUDGET, on_msg, &rx);
    }
    close(sv[1]);

    /* on_msg never stops the read, so the answer is EOF or an error. */
    FUZZ_CHECK(rc == 1 || rc == -1);
    if (rc == 1)
        FUZZ_CHECK(l.wire_in == LINK_PREAMBLE_LEN + size);
    else
        FUZZ_CHECK(l.err[0] != '\0' && memchr(l.err, '\0', sizeof l.err) != NULL);
    FUZZ_CHECK(l.msgs_in == rx.msgs);
    FUZZ_CHECK(l.wire_in <= LINK_PREAMBLE_LEN + size);
    /* Undecoded bytes stay bounded whatever the peer sends (linkio.h). */
    FUZZ_CHECK(buf_readable(&l.in) < 4 + LINK_MAX_MESSAGE + LINKIO_CHUNK);
    linkio_deinit(&l);
    return 0;
}
