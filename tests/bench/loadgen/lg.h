/* Shared declarations of spoke-loadgen: options, the process root, client
 * connections and the hooks between the connection, protocol and role layers.
 *
 * One process has one role and one libev loop (single-threaded; parallelism
 * comes from running several processes). Layers, bottom up:
 *   wsclient.c    TCP connect, HTTP upgrade, WebSocket frames, batched writes
 *   tlsclient.c   TLS under wsclient.c for wss (--tls)
 *   proto_spoke.c spoke client protocol v1 (JSON or msgpack) over those frames
 *   proto_nats.c  the NATS text protocol as a byte stream over those frames
 *   role_*.c      what the process does with its connections
 *   resume.c      positions and recovery for the sub role (--reconnect)
 *   main.c        options, the control channel (stdin/stdout), results */
#ifndef LOADGEN_LG_H
#define LOADGEN_LG_H

#include <ev.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/enc.h"
#include "tests/bench/loadgen/corpus.h"
#include "tests/bench/loadgen/hist.h"
#include "tests/bench/loadgen/tool.h"

enum lg_role { ROLE_SUB, ROLE_PUB, ROLE_HANDSHAKE, ROLE_CHURN, ROLE_IDLE };
enum lg_proto { PROTO_SPOKE, PROTO_NATS };

#define LG_MAX_URLS 16         /* per list: --url, and --reconnect-url after them in urls[] */
#define LG_READ_BUF (1u << 20) /* shared read buffer: also the largest frame we accept */

struct lg_url {
    struct sockaddr_storage ss;
    socklen_t sslen;
    char hostport[300]; /* for the Host header */
    char host[256];     /* without port or brackets: SNI and the certificate name check */
    char path[256];
    uint8_t tls;        /* wss:// or --tls */
    uint8_t host_is_ip; /* an address literal: no SNI (RFC 6066 §3) */
};

/* sub: what a connection does when the server closes it with 1001 or it is
 * lost (resume.c). */
enum lg_reconnect { RC_OFF, RC_SINCE, RC_PLAIN };

struct lg_opts {
    enum lg_role role;
    enum lg_proto proto;
    enum enc enc;
    /* [0, nurls): --url; [nurls, nurls + nrurls): --reconnect-url */
    struct lg_url urls[2 * LG_MAX_URLS];
    unsigned nurls, nrurls;
    struct in_addr *src_ips; /* NULL: let the kernel pick */
    unsigned nsrc;
    unsigned conns;
    const char *topic;
    unsigned topics, topic_base;
    unsigned subs; /* idle: subscriptions per connection */
    uint64_t messages;
    unsigned size;
    double rate;
    unsigned window;
    double timeout, duration, setup_timeout;
    unsigned inflight; /* connection attempts in flight during setup */
    int corpus_chat;
    int rx_timestamps;
    int tls;            /* --tls: every URL over TLS (wss:// URLs are anyway) */
    const char *tls_ca; /* --tls-ca: verify the server against this CA; NULL: no verification */
    int tls_resume;     /* --tls-resume: resume sessions (default: full handshakes) */
    enum lg_reconnect reconnect; /* sub: --reconnect since|plain|off */
    int echo;                    /* pub: subscribe to the topics and wait for the echoes */
    int deflate; /* --deflate: offer permessage-deflate without context takeover (RFC 7692) */
    int spread;  /* sub: --spread 1: per message, the first and last arrival on each URL */
};

/* ---- connections (wsclient.c) */

/* CS_TLS: the TLS handshake, between the TCP connect and the upgrade (wss only). */
enum conn_state { CS_IDLE, CS_CONNECTING, CS_TLS, CS_UPGRADING, CS_OPEN, CS_CLOSED };

struct pend; /* partial input kept between reads (wsclient.c) */
struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

/* One client connection. Idle ones hold no buffers: `pend` exists only while
 * a partial frame (or partial NATS operation) is waiting for more bytes, and
 * `out` is released once flushed unless keep_out is set (publishers). */
struct conn {
    ev_io io; /* first: the callback casts the watcher back to the conn */
    struct lg *lg;
    struct pend *pend;
    struct buf out;
    struct conn *dirty_next;
    struct ssl_st *ssl; /* wss: from the end of the TCP connect to the close; else NULL */
    uint32_t gen;       /* bumped by every close: callers detect a close under them */
    uint32_t idx;       /* position in the role's array */
    uint8_t state;      /* enum conn_state */
    uint8_t dirty;      /* on lg->dirty (stays set across a close until the flush pass) */
    uint8_t writing;    /* EV_WRITE armed: the socket refused part of out */
    uint8_t keep_out;   /* keep out's storage when empty (busy connections) */
    uint8_t counted;    /* counted in lg->inflight (connect..hello) */
    uint8_t rst;        /* close with SO_LINGER 0 (no TIME_WAIT: handshake, churn) */
    uint16_t url_idx;
    uint8_t alt_urls; /* the next conn_start picks from the --reconnect-url list */
    uint8_t deflate;  /* the server accepted permessage-deflate for this connection */
    /* TLS (tlsclient.c): what the last call waits for (EV_READ or EV_WRITE);
     * a read that waits for EV_WRITE, a write that waits for EV_READ; a fatal
     * error (no close_notify may follow). */
    uint8_t tls_want, tls_rww, tls_wwr, tls_dead;
    uint64_t tls_t0; /* the TCP connect completed: start of the TLS handshake */
    /* role state */
    uint8_t ready, warm, done;
    uint32_t acks_wanted;
    uint32_t topic;
    uint64_t received, expected, last_seq;
    uint64_t t0;   /* handshake/churn: start of this attempt (ns) */
    char *conn_id; /* pub: our id from the spoke welcome, to recognise echoes */
    size_t conn_id_len;
};

/* What the protocol layer tells the role. Pointers are into the read buffer:
 * valid during the callback only. */
enum lg_ev_kind { LE_HELLO, LE_ACK, LE_MSG, LE_ERROR, LE_RESET };
struct lg_event {
    enum lg_ev_kind kind;
    int64_t id; /* LE_ACK: spoke ack id (NATS PONG: 0) */
    int has_seq, has_t;
    uint64_t seq; /* LE_MSG; LE_ACK, LE_RESET: the topic's position (spoke) */
    uint64_t t;   /* LE_MSG: send time, CLOCK_MONOTONIC ns */
    int w;        /* LE_MSG: warm-up flag */
    uint64_t tag; /* LE_MSG, NATS: publisher process tag (0: none) */
    /* LE_HELLO: spoke conn id; LE_MSG: spoke "from"; LE_ERROR: text;
     * LE_ACK, LE_RESET: "reason" (NULL: none) */
    const char *str;
    size_t str_len;
    const char *epoch; /* LE_ACK, LE_RESET: the topic's epoch (NULL: none) */
    size_t epoch_len;
    int has_recovered, recovered; /* LE_ACK of a sub with since */
};

struct role_ops {
    /* `now`: when the bytes reached our socket (kernel receive timestamp, or
     * the time of the read without --rx-timestamps), CLOCK_MONOTONIC ns. */
    void (*on_event)(struct conn *c, const struct lg_event *e, uint64_t now);
    /* After the socket closed (peer, error or conn_close); `why` is static text.
     * May restart the connection with conn_start. */
    void (*on_close)(struct conn *c, const char *why);
    /* Once per loop iteration before the writes are flushed (may queue more). */
    void (*prepare)(struct lg *lg);
    /* A "go" line arrived on stdin. */
    void (*on_go)(struct lg *lg);
};

/* ---- the process root */

struct lg {
    struct ev_loop *loop;
    struct lg_opts o;
    const struct role_ops *ops;
    void *role;
    uint64_t tag;           /* this process's publisher tag (NATS echo recognition) */
    uint8_t *rbuf;          /* shared read buffer, LG_READ_BUF bytes */
    struct conn *dirty;     /* connections with output to flush this iteration */
    struct pend *pend_free; /* pool of small partial-input blocks */
    unsigned pend_nfree;
    /* connection launcher: conns [launch_next, launch_total) still to start */
    struct conn *launch;
    unsigned launch_next, launch_total;
    unsigned inflight; /* connects and upgrades not yet greeted */
    uint64_t attempts; /* conn_start calls: spreads URLs and source IPs */
    uint64_t proto_errors, server_closes, spoke_errors;
    /* During on_close for a server close frame: its status code and the
     * time it reached our socket (kernel stamp); 0 and 0 otherwise. */
    uint16_t close_code;
    uint64_t close_now;
    int rx_timestamps;          /* latency to the kernel's receive timestamp (SO_TIMESTAMPING) */
    uint64_t read_ns;           /* CLOCK_MONOTONIC time of the current read */
    uint64_t reads, read_bytes; /* socket reads that returned data, and their bytes */
    struct {
        uint16_t code; /* 0: a close frame without a status code */
        uint64_t n;
    } close_codes[8]; /* server close frames by status code (RFC 6455 §7.4) */
    /* TLS (tlsclient.c) */
    struct ssl_ctx_st *tls_ctx;                       /* one per process; NULL without TLS */
    struct ssl_session_st *tls_sess[2 * LG_MAX_URLS]; /* --tls-resume: the newest per URL */
    uint64_t tls_rx_real; /* last socket read's kernel stamp (REALTIME ns; 0: none) */
    uint64_t tls_done, tls_resumed, tls_failed;
    int tls_said_error;                   /* the first handshake failure was described on stderr */
    const char *tls_version, *tls_cipher; /* of the first completed handshake */
    struct hist tls_hist;                 /* TCP connected -> TLS handshake done */
    ev_prepare prep;
    ev_io ctl;
    char ctl_line[256];
    size_t ctl_len;
    /* topic names "NAME" (topics == 1) or "NAME.<t>" */
    char **topic_names;
    uint16_t *topic_lens;
    struct corpus corpus;
    /* --deflate (wsclient.c): one raw inflate stream for all connections
     * (no context takeover: reset per message) and its output buffer. */
    void *zs;
    uint8_t *zbuf;
    /* Compressed messages seen and what they inflated to, direct-mapped by
     * a hash of their bytes: every subscriber of a process gets the same
     * compressed bytes for a message, and inflating each copy would make
     * the generator, not the edge, the bottleneck. A hit is an exact byte
     * match, so the roles see what they would have. Sized for a backlog of
     * hundreds of messages per connection read at once. */
#define LG_ZCACHE 4096
    struct lg_zcache {
        uint8_t *z, *plain;
        uint32_t zlen, plen;
    } * zcache;
    uint64_t zcache_hits;
    uint64_t deflate_accepted, deflate_declined; /* upgrade answers */
    uint64_t wire_payload_bytes;                 /* data frame payloads as received */
    uint64_t inflated_bytes, compressed_msgs;    /* after inflate; RSV1 messages */
};

/* ---- wsclient.c */
void ws_init(struct lg *lg);
/* Starts connecting c (state CONNECTING) to the next URL (of the --url list,
 * or of the --reconnect-url list when c->alt_urls) and source address in
 * round-robin order. Returns 0, or -1 when no socket could be created (the
 * error is printed; c stays CS_CLOSED and on_close is not called). */
int conn_start(struct conn *c);
/* Closes the socket now; calls ops->on_close(c, why). No-op unless open. */
void conn_close(struct conn *c, const char *why);
/* The output buffer for c, which is flushed at the end of this loop iteration. */
struct buf *conn_out(struct conn *c);
/* Appends a masked client frame header (mask key 0, so the payload goes
 * unchanged; RFC 6455 §5.3) for a payload of n bytes that the caller appends
 * right after. Returns the buffer. */
struct buf *conn_frame(struct conn *c, uint8_t opcode, size_t n);
/* The server greeted c (spoke welcome, NATS INFO): it no longer counts
 * against the limit of attempts in flight. */
void conn_greeted(struct conn *c);
/* Connections [0, n) of conns are started at most o.inflight at a time. */
void ws_launch(struct lg *lg, struct conn *conns, unsigned n);
/* Flushes every dirty connection (also called by the prepare watcher). */
void ws_flush_all(struct lg *lg);
uint64_t now_ns(void);
uint64_t now_real_ns(void);
/* Appends ,"deflate":{offered, negotiated, wire/inflated bytes} (--deflate or not). */
void ws_append_deflate(struct buf *b, const struct lg *lg);

/* ---- tlsclient.c */
/* Creates lg->tls_ctx from the options (exits on an unreadable --tls-ca). */
void tlsc_init(struct lg *lg);
/* Gives c, whose TCP connect just completed, an SSL object for its URL
 * (SNI, name check, session). Returns 0, or -1 (out of memory). */
int tlsc_begin(struct conn *c);
/* One handshake step. Returns 1 when done, 0 to wait for c->tls_want, -1 on
 * failure, -2 when the server's certificate did not verify. The first
 * failure of the process is described on stderr. */
int tlsc_handshake(struct conn *c);
/* SSL_read into p[0, n). Returns the bytes read (> 0), 0 to wait for
 * c->tls_want, -1 on an error, -2 when the server closed (close_notify or
 * FIN). Further records may wait inside OpenSSL: see tlsc_has_pending. */
long tlsc_read(struct conn *c, uint8_t *p, size_t n);
/* SSL_write of p[0, n), record by record. Returns the bytes taken (perhaps
 * fewer than n: then wait for c->tls_want), or -1 on an error. A retry may
 * pass a moved buffer that starts with the bytes not yet taken. */
long tlsc_write(struct conn *c, const uint8_t *p, size_t n);
/* 1 if OpenSSL holds input that epoll will not report. */
int tlsc_has_pending(struct conn *c);
/* Frees c->ssl, after a non-blocking close_notify if polite and allowed. */
void tlsc_close(struct conn *c, int polite);
/* Appends ,"tls":{handshakes, resumed, failed, verify, version, cipher,
 * handshake_p50_ns, ...}. */
void tlsc_append_result(struct buf *b, const struct lg *lg);
/* The oldest OpenSSL error as text (queue cleared). */
const char *tlsc_error(char *out, size_t outlen);

/* ---- proto_spoke.c */
/* Handles one complete spoke message (a text or binary frame payload). */
void spoke_on_message(struct conn *c, const uint8_t *p, size_t n, uint64_t now);
void spoke_send_sub(struct conn *c, unsigned topic, int64_t id);
/* A sub with "since":{"seq":seq,"epoch":epoch}: resume after that position. */
void spoke_send_sub_since(struct conn *c, unsigned topic, int64_t id, uint64_t seq,
                          const char *epoch, size_t epoch_len);
/* Publishes message number i (corpus index) to topic with send time t. */
void spoke_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm);

/* ---- proto_nats.c */
/* Parses complete NATS operations in s[0, n). Returns bytes consumed, or -1
 * on a protocol error. */
long nats_on_stream(struct conn *c, const uint8_t *s, size_t n, uint64_t now);
void nats_send_connect(struct conn *c);
void nats_send_sub(struct conn *c, unsigned topic, unsigned sid);
void nats_send_ping(struct conn *c);
void nats_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm);

/* Protocol-neutral helpers used by the roles (in proto_nats.c). */
void proto_send_sub(struct conn *c, unsigned topic, int64_t id);
/* NATS: a PING whose PONG acknowledges the SUBs before it. Spoke: nothing. */
void proto_send_sync(struct conn *c);
void proto_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm);
/* NATS needs CONNECT after INFO before anything else. */
void proto_on_hello(struct conn *c);

/* ---- main.c */
/* Appends "server_close_codes":{"1008":N,...}. */
void lg_append_close_codes(struct buf *b, const struct lg *lg);
/* One line on stdout, flushed. */
void lg_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Closes the object begun in b with '}', prints "RESULT " and it as one
 * line, and exits 0. */
void lg_result(struct buf *b) __attribute__((noreturn));
/* Appends `"p50_ns":…,…,"max_ns":…` and `"hist":[…]` for h. */
void lg_append_latency(struct buf *b, const char *prefix, const struct hist *h, int with_hist);

/* ---- resume.c: positions and recovery for the sub role (--reconnect).
 * The sub role hands it every event of a connection whose initial
 * subscription was acknowledged; resume.c owns c->last_seq then. */
struct resume;
struct resume *resume_new(struct lg *lg, struct conn *conns, unsigned n);
/* The initial sub ack of c: remembers the position it carries. */
void resume_on_first_ack(struct resume *rs, struct conn *c, const struct lg_event *e);
/* A welcome on a reconnected c: sends the sub, with since when c has a position. */
void resume_on_hello(struct resume *rs, struct conn *c);
void resume_on_ack(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now);
void resume_on_error(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now);
void resume_on_reset(struct resume *rs, struct conn *c, const struct lg_event *e);
/* Checks seq continuity. Returns 0, or -1 for a duplicate (not to be counted). */
int resume_on_msg(struct resume *rs, struct conn *c, const struct lg_event *e, uint64_t now);
/* c was closed after setup. Returns 1 if it will reconnect (it is not done),
 * 0 if the close ends it (a close code other than 1001). */
int resume_on_close(struct resume *rs, struct conn *c);
/* Starts queued reconnects within --inflight (from the prepare hook). */
void resume_prepare(struct resume *rs);
/* 1 once every connection was closed at least once and is back (caught up). */
int resume_all_back(const struct resume *rs);
/* Appends ,"resume":{...}. */
void resume_append_result(const struct resume *rs, struct buf *b);
/* Missing seqs plus duplicates, before and after closes (the sub's seq_gaps). */
uint64_t resume_seq_gaps(const struct resume *rs);

/* ---- roles */
void role_sub_init(struct lg *lg); /* sub and idle */
void role_pub_init(struct lg *lg);
void role_handshake_init(struct lg *lg); /* handshake and churn */

#endif
