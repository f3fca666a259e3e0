/* Shared declarations of spoke-linkgen, the hub's own load generator: it
 * plays edge workers at the link protocol level (docs/protocol.md, "Link
 * protocol"), so the hub can be measured alone, at full batch sizes.
 *
 * One process, one libev loop, one thread. Layers:
 *   replay.c  the publishing links' traffic, encoded and compressed once
 *             into self-contained zstd frames that are replayed verbatim
 *   rx.c      the bytes the hub sends: preamble, first message, zstd stream,
 *             decoded while setting up and merely counted while measuring
 *   main.c    options, links, phases (connect, interest, go, publish,
 *             wait for delivery), the control channel and the result */
#ifndef LINKGEN_H
#define LINKGEN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "tests/bench/loadgen/tool.h"

/* One pre-compressed zstd frame of PUBLISH messages: n messages, whose
 * encoded bytes are plain[0, plen) (length prefixes included) and whose
 * compressed frame is z[0, zlen). */
struct lg_frame {
    uint8_t *plain, *z;
    size_t plen, zlen;
    uint32_t n;
};

/* A publishing link's replay: the cycle of frames it sends over and over. */
struct lg_replay {
    struct lg_frame *frames;
    size_t nframes;
    uint64_t cycle_msgs; /* messages in one cycle (a multiple of the topics) */
};

/* What the hub sent on one link. */
struct lg_rx {
    struct linkio io; /* its input side: the hub's bytes, decoded (and its counters) */
    int check;        /* check each topic's seq in the MESSAGEs */
    uint64_t messages;
    uint64_t interest_ok, interest_refused;
    uint64_t seq_gaps;
    uint64_t *last_seq; /* check: per topic */
    int hello, policy;
};

enum lg_link_role { LG_RX, LG_PUB };

struct lg_link {
    struct lg *g;
    enum lg_link_role role;
    unsigned idx; /* also its HELLO worker number */
    int fd;
    ev_io w;
    int watching_write;
    struct linkio io; /* HELLO, INTEREST_ADD, HEARTBEAT (rx); HELLO only (pub) */
    struct lg_rx rx;
    char conn[LINK_MAX_CONN_ID + 1]; /* pub: its connection id, the `from` */
    /* pub: where the replay stands */
    struct lg_replay replay;
    size_t frame, frame_off;
    struct lg_frame tail; /* the last, partial frame, compressed when needed */
    struct lg_frame hb;   /* a HEARTBEAT between frames, its bytes in hb_bytes */
    struct buf hb_bytes;
    const struct lg_frame *cur;
    uint64_t sent;   /* messages whose frame has started */
    uint64_t target; /* messages this link sends in all */
    uint64_t wire_out;
    int hb_due;
};

struct lg_opts {
    char hub[300];
    unsigned rx_links, pub_links;
    unsigned topics;
    uint64_t messages;
    unsigned size;
    uint64_t window;
    unsigned check_links;
    double timeout_s;
    size_t frame_bytes;
    const char *name;
    const char *prefix;
    int chat; /* data from the chat corpus instead of padding */
};

struct lg {
    struct ev_loop *loop;
    struct lg_opts o;
    struct lg_link *links;  /* [0, rx_links): rx, then pub */
    unsigned nlinks, nopen; /* links [0, nopen) are open */
    struct sockaddr_storage ss;
    socklen_t sslen;
    uint32_t boot;
    int phase;     /* 0 linking, 1 interest, 2 ready, 3 measuring, 4 done */
    int timed_out; /* the result came from the deadline, not the last message */
    int go_seen;
    ev_io ctl;
    ev_timer hb, deadline;
    uint64_t t_start_ns, t_ready_ns, t_go_ns, t_sent_ns, t_done_ns;
    double cpu_go, cpu_done;
    struct buf ctlbuf;
};

/* ---- replay.c */

/* Encodes `cycle` PUBLISH messages from conn id `from` to topics
 * PREFIX.(i mod topics), data a JSON string of `size` bytes, pub_id 0, and
 * compresses them into frames of about frame_bytes each, once. Exits on
 * failure. */
void lg_replay_build(struct lg_replay *r, const struct lg_opts *o, const char *from);
/* Compresses the first n messages of f into out (a frame of its own). */
void lg_frame_prefix(const struct lg_frame *f, uint32_t n, struct lg_frame *out);
/* One zstd frame holding the link message m: for a HEARTBEAT between
 * replayed frames. Appends to out. */
void lg_frame_one(const struct link_msg *m, struct buf *out);
void lg_replay_free(struct lg_replay *r);

/* ---- rx.c */

void lg_rx_init(struct lg_rx *r);
void lg_rx_deinit(struct lg_rx *r);
/* Reads fd until EAGAIN. Returns 0, or exits the process on EOF, an ERROR
 * from the hub or undecodable bytes. */
int lg_rx_read(struct lg_link *l);

/* ---- main.c */

/* The rx side made progress: the publishers may have window again, and
 * the run may be complete. */
void lg_progress(struct lg *g);
/* A link got the hub's HELLO, or an INTEREST_RESULT. */
void lg_setup_step(struct lg *g);

#endif
