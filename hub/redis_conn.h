/* A Redis connection kept up on the hub's loop: hiredis 0.14's async API
 * over its libev adapter, with what that pair lacks (../shared/LIBRARIES.md,
 * section 11) done here once, for the redis engine and for whatever else of
 * the hub talks to Redis later (a hub registry, the policy, cross-hub
 * directs):
 *
 *  - addresses parsed and host names resolved once, at startup (hiredis
 *    resolves with a blocking getaddrinfo: here it only ever gets numbers);
 *  - reconnection with capped exponential backoff and jitter, a connect
 *    timeout, AUTH and CLIENT SETNAME before the connection counts as up;
 *  - liveness, which hiredis 0.14 has no timeouts for: a command
 *    connection PINGs every period and is reset when a PING goes
 *    unanswered for `misses` periods; a pub/sub connection (where PING
 *    replies are lost) subscribes to a private heartbeat channel that a
 *    command connection beside it PUBLISHes to every period, and is reset
 *    when it hears nothing for as long while that connection is up;
 *  - hiredis's context lifetime: it frees the context right after its
 *    connect-failure and disconnect callbacks and must not be freed from
 *    inside its own callbacks, so resets are deferred to the next loop turn
 *    and the owner never sees the context.
 *
 * States: IDLE (waiting out the backoff) -> CONNECTING -> SETUP (AUTH and
 * CLIENT SETNAME sent, not answered) -> UP -> back to IDLE when the
 * connection is lost, reset or cannot be made. Commands are taken only
 * while UP. When an UP connection goes, every command's callback is called
 * with a NULL reply first, then on_down.
 *
 * Ownership: the connection copies its options' strings; replies are
 * hiredis's, valid during the callback only. Nothing here blocks, except
 * redis_addr_resolve (startup only). */
#ifndef SPOKE_HUB_REDIS_CONN_H
#define SPOKE_HUB_REDIS_CONN_H
#include <ev.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_ADDR_MAX 108 /* a unix socket path's room in sockaddr_un */

/* Where a Redis listens: a unix socket (an absolute path) or host:port.
 * label is the address as written (the name a shard goes by in the
 * consistent hash, the logs and the metrics); host becomes a numeric
 * address once resolved. */
struct redis_addr {
    char label[REDIS_ADDR_MAX + 8];
    int is_unix;
    char host[REDIS_ADDR_MAX]; /* the socket path, or the host */
    int port;
};

/* Parses one address: "/path/to/redis.sock", "host:port", "host" (port
 * 6379), "[v6]:port" or "[v6]". Pure. Returns 0, or -1 with a one-line
 * reason in err. */
int redis_addr_parse(const char *s, size_t len, struct redis_addr *out, char *err, size_t errlen);
/* The most shards a hub may be given (`redis`). */
#define REDIS_MAX_SHARDS 64
/* Parses a comma-separated list of at most max addresses (spaces around
 * commas allowed, none twice) into out[]. Returns how many (at least 1), or
 * -1 with err set. */
int redis_addr_list_parse(const char *list, struct redis_addr *out, size_t max, char *err,
                          size_t errlen);
/* Replaces a's host by its first numeric address (blocking DNS: call at
 * startup only; a numeric host or a socket is left as it is). Returns 0, or
 * -1 with err set. */
int redis_addr_resolve(struct redis_addr *a, char *err, size_t errlen);

enum redis_conn_kind {
    REDIS_CONN_COMMAND, /* request / reply */
    REDIS_CONN_PUBSUB,  /* SUBSCRIBE and UNSUBSCRIBE only; pushes to on_push */
};

enum redis_conn_state {
    REDIS_CONN_IDLE,
    REDIS_CONN_CONNECTING,
    REDIS_CONN_SETUP,
    REDIS_CONN_UP,
};

struct redis_conn;

/* A pub/sub connection's push: "message" (channel, payload), "subscribe"
 * or "unsubscribe" (channel; count is the connection's subscriptions). */
struct redis_push {
    const char *kind;
    const char *channel;
    size_t channel_len;
    const char *payload;
    size_t payload_len;
    long long count;
};

/* A command's reply, or NULL when the connection went before it came. */
typedef void (*redis_reply_fn)(struct redis_conn *c, redisReply *r, void *privdata);

struct redis_conn_opts {
    struct ev_loop *loop;
    const struct redis_addr *addr; /* resolved */
    enum redis_conn_kind kind;
    const char *user;        /* AUTH [user] password first ("" or NULL: no AUTH) */
    const char *password;    /* ... */
    const char *client_name; /* CLIENT SETNAME (NULL: none): who we are in CLIENT LIST */
    unsigned backoff_min_ms; /* first retry delay (0: 100) ... */
    unsigned backoff_max_ms; /* ... doubling up to this (0: 5000), each drawn in [d/2, d] */
    unsigned connect_ms;     /* a connection not up within this is dropped (0: 2000) */
    unsigned period_ms;      /* liveness period (0: 1000) */
    unsigned misses;         /* periods of silence that drop it (0: 3) */
    /* PUBSUB: the private heartbeat channel and the command connection that
     * publishes to it (NULL: no liveness check for this connection). */
    const char *heartbeat_channel;
    struct redis_conn *heartbeat_via;
    /* The connection is up: issue what it carries (SCRIPT LOAD, SUBSCRIBE). */
    void (*on_up)(struct redis_conn *c, void *ud);
    /* An up connection went (why: a one-line reason); every pending
     * callback has had its NULL reply. Not called by redis_conn_free. */
    void (*on_down)(struct redis_conn *c, const char *why, void *ud);
    /* PUBSUB: every push except the heartbeat channel's. */
    void (*on_push)(struct redis_conn *c, const struct redis_push *p, void *ud);
    void *ud;
};

/* What a connection counts (since it was made). */
struct redis_conn_stats {
    uint64_t connects; /* times it came up */
    uint64_t failures; /* attempts that failed, and up connections lost or reset */
    uint64_t commands; /* commands sent (subscriptions included) */
    uint64_t error_replies;
    uint64_t pushes; /* PUBSUB: messages received */
};

/* A connection, IDLE, that connects on the next loop turn. The strings of
 * o are copied. */
struct redis_conn *redis_conn_new(const struct redis_conn_opts *o);
/* Drops the connection (callbacks get NULL replies; on_down is not
 * called), stops its timers and frees it. Not from inside one of its own
 * callbacks. No-op on NULL. */
void redis_conn_free(struct redis_conn *c);

/* Sends a command (argv[i] is argvlen[i] bytes, binary safe). Returns 0:
 * cb (may be NULL) will be called exactly once, with the reply or NULL; or
 * -1 when the connection is not up (cb is not called). Commands queued in
 * one loop turn leave in one write: nothing here waits for a reply. */
int redis_conn_command(struct redis_conn *c, redis_reply_fn cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen);
/* PUBSUB: SUBSCRIBE / UNSUBSCRIBE one channel; the confirmation comes as a
 * push. Returns 0, or -1 when not up. */
int redis_conn_subscribe(struct redis_conn *c, const char *channel, size_t len);
int redis_conn_unsubscribe(struct redis_conn *c, const char *channel, size_t len);
/* Drops the connection (from anywhere, callbacks included: done on the
 * next loop turn, and commands are refused from now) and reconnects after
 * the backoff. why goes to the log and last_error. */
void redis_conn_reset(struct redis_conn *c, const char *why);

/* 1 if UP and taking commands (not being reset). */
int redis_conn_is_up(const struct redis_conn *c);
enum redis_conn_state redis_conn_state(const struct redis_conn *c);
/* ev_now when it last came up, or when it was made (for "how long has it
 * been up"). */
double redis_conn_since(const struct redis_conn *c);
/* Why it is not up (the last failure; "" before any). */
const char *redis_conn_last_error(const struct redis_conn *c);
const struct redis_conn_stats *redis_conn_stats(const struct redis_conn *c);
const struct redis_addr *redis_conn_addr(const struct redis_conn *c);

#endif
