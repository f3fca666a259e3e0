/* The byte side of one link, shared by the edge (uplink.c) and the hub
 * (edge_link_loop.c): the preamble, the uncompressed first message, both zstd
 * streams, length-prefixed message framing (docs/protocol.md, "Byte-level
 * framing"), and the byte counters. The
 * caller owns the socket and its watchers; linkio only reads from and writes
 * to the fd it is given.
 *
 * Each direction is: the preamble, then one uncompressed message of at most
 * LINK_MAX_FIRST bytes (HELLO, or ERROR when refusing), then the zstd
 * stream. The zstd contexts (about 1 MB each) are created only when the
 * first compressed byte is sent or received, so a peer that connects and
 * says nothing, or is refused at HELLO, costs a few hundred bytes.
 *
 * Outgoing: linkio_send() encodes into a batch (compressed with
 * ZSTD_e_continue every LINKIO_CHUNK bytes); linkio_flush() compresses the
 * rest and ends the batch (ZSTD_e_flush), once per loop iteration;
 * linkio_write() writes what is pending.
 * Incoming: linkio_read() decompresses and dispatches at most about `budget`
 * bytes per call, counted after decompression: a small compressed input
 * that inflates to megabytes is worked off over several loop turns (the
 * rest waits as a backlog of at most one read), never in one. */
#ifndef SPOKE_LINKIO_H
#define SPOKE_LINKIO_H
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/link.h"

struct zstream_out;
struct zstream_in;
typedef struct ssl_st SSL;

/* Bytes per read() (on the stack of linkio_read) and per decompression
 * step. Undecoded bytes held per link stay below
 * 4 + LINK_MAX_MESSAGE + LINKIO_CHUNK, whatever the peer sends. */
#define LINKIO_CHUNK (64u << 10)

struct linkio {
    struct zstream_out *zout; /* NULL until our first compressed message */
    struct zstream_in *zin;   /* NULL until the peer's first compressed byte */
    struct buf out;           /* preamble + first message + compressed bytes not yet written */
    struct buf in;            /* decompressed (or first-message) bytes not yet decoded */
    struct buf scratch;       /* messages encoded since the last compression call */
    struct buf plain;         /* with TLS: bytes not yet encrypted */
    struct buf pend;          /* backlog: link bytes read (and decrypted) but not yet
                         * decompressed because the work budget ran out */
    SSL *ssl;                 /* NULL: plain TCP */
    int tls_up;               /* the TLS handshake has completed */
    int preamble_seen;        /* bytes of the peer's preamble matched so far */
    int first_out;            /* our uncompressed first message has been queued */
    int first_in;             /* the peer's first message has been decoded */
    int zin_more;             /* backlog: the decompressor may hold output without more input */
    int tls_more;             /* backlog: TLS may hold records not yet read */
    size_t work_left;         /* budget of the linkio_read in progress */
    int unflushed;            /* messages compressed since the last flush */
    uint64_t raw_out, wire_out, raw_in, wire_in; /* raw = decompressed; wire = on the socket */
    uint64_t msgs_out, msgs_in;
    char err[160]; /* why the last call failed */
};

/* Queues our preamble; the zstd streams come later (see above). Returns 0,
 * or -1 (err set, l deinitialised). */
int linkio_init(struct linkio *l);
/* Frees everything and zeroes l: safe on a zeroed or half-initialised
 * struct, and twice. */
void linkio_deinit(struct linkio *l);

/* Runs the link over TLS from now on (call right after linkio_init, before
 * any byte was written or read): takes ownership of ssl, which must already
 * be set to connect or accept state. linkio feeds it through memory BIOs, so
 * the socket calls and their EAGAIN handling stay as for plain TCP and the
 * TLS handshake progresses inside linkio_read and linkio_flush. Returns 0,
 * or -1 (err set); either way ssl is l's now (freed by linkio_deinit). */
int linkio_use_tls(struct linkio *l, SSL *ssl);

/* Encodes and compresses m; the first message sent goes uncompressed and
 * must be a HELLO or an ERROR of at most LINK_MAX_FIRST bytes. Returns 0,
 * or -1 (err set: the link must go). An err starting "encode:" means
 * link_encode refused m and nothing was queued, so the stream is still
 * intact if the caller prefers to go on. */
int linkio_send(struct linkio *l, const struct link_msg *m);
/* Queues a message already encoded by link_encode (length prefix included):
 * for a message going to many links, encoded once. Returns 0 or -1. */
int linkio_send_encoded(struct linkio *l, const uint8_t *msg, size_t n);
/* Ends the current batch so the peer can decode it (with TLS: encrypts
 * what the handshake allows into the output). Returns 0 or -1. */
int linkio_flush(struct linkio *l);
/* Writes pending bytes to fd. Returns 0 when all are written, 1 when some
 * remain (EAGAIN: wait for EV_WRITE), -1 on error (err set). */
int linkio_write(struct linkio *l, int fd);
/* Bytes waiting to be written (with TLS, counting those not yet encrypted). */
static inline size_t linkio_pending(const struct linkio *l)
{
    return l->out.len - l->out.off + l->plain.len - l->plain.off;
}

/* Called once per decoded message; its strings point into linkio's buffer
 * and are valid only during the call. Return 0 to continue; any other value
 * stops linkio_read at once, which returns that value without touching l
 * again (so the callback may free the link). The message is counted and
 * consumed before the call, but compressed bytes already read and not yet
 * decompressed are lost: stopping means the link is being dropped. */
typedef int (*linkio_msg_cb)(void *ud, const struct link_msg *m);
/* What a linkio_msg_cb returns after it closed (and may have freed) the
 * link: linkio_read passes it back at once, so the caller knows not to
 * touch the link either. Distinct from linkio_read's own 0, 1 and -1. */
#define LINK_GONE 2

/* Works off the backlog, then reads from fd until EAGAIN, decoding and
 * dispatching messages, until about `budget` bytes were decompressed or
 * read from the socket (a decompression step makes at most LINKIO_CHUNK
 * bytes, so the budget may be passed by less than that). The peer's first
 * message must be a HELLO or an ERROR. Returns 0 (would block, or budget
 * used: see linkio_has_backlog), 1 on EOF (peer closed, everything before
 * it dispatched), -1 on a read, preamble, decompression or decode error
 * (err set), or the callback's non-zero value. */
int linkio_read(struct linkio *l, int fd, size_t budget, linkio_msg_cb on_msg, void *ud);

/* Messages linkio_read_ahead decodes ahead of the one it dispatches. */
#define LINKIO_AHEAD 6

/* Shown a message decoded ahead, before the messages in front of it are
 * dispatched (its strings are valid during the call only): a hint, to
 * prefetch what handling it will need. It must change nothing that
 * handling the messages in front of it could see. Returns 1 to go on, 0
 * to be called no more during this linkio_read_ahead (looking ahead is no
 * use now: the read then costs what linkio_read does). */
typedef int (*linkio_peek_cb)(void *ud, const struct link_msg *m);
/* linkio_read, with on_peek shown each message up to LINKIO_AHEAD messages
 * before its dispatch (the order and the dispatch are linkio_read's). */
int linkio_read_ahead(struct linkio *l, int fd, size_t budget, linkio_msg_cb on_msg,
                      linkio_peek_cb on_peek, void *ud);

/* 1 if bytes already read wait to be worked off: call linkio_read again in
 * a later loop turn without waiting for the socket to become readable
 * (epoll does not know about them). */
static inline int linkio_has_backlog(const struct linkio *l)
{
    return l->pend.len > l->pend.off || l->zin_more || l->tls_more;
}

#endif
