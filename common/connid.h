/* Connection ids, "NAME:WORKER:BOOT:SEQ": the one place their grammar is
 * written, formatted (by the edge that owns the connection) and parsed (by
 * the hub routing to it, the admin API, the edge checking a target).
 *
 * Grammar (docs/protocol.md, "Connection ids"), nothing else is an id:
 *   NAME    the edge's name, 1..CONNID_MAX_NAME bytes of [A-Za-z0-9._-],
 *           not starting with '.' (connid_name_is_valid)
 *   WORKER  decimal, no leading zeros, below CONNID_WORKER_LIMIT
 *   BOOT    exactly 8 lower-case hex digits: the edge process's 32-bit boot
 *   SEQ     decimal, no leading zeros, 1 .. 2^64-1
 * Every id has exactly one spelling: connid_parse accepts exactly the
 * strings connid_format writes, so an id that parses names the connection
 * its owner would recognise byte for byte (an upper-case or unpadded BOOT
 * would be accepted by a lenient hub and then ignored by the edge). */
#ifndef SPOKE_CONNID_H
#define SPOKE_CONNID_H
#include <stddef.h>
#include <stdint.h>

#define CONNID_MAX_NAME 64
/* Edge workers are numbered below this (the hub refuses a HELLO beyond). */
#define CONNID_WORKER_LIMIT 1024
/* Longest id: NAME, 4 worker digits, 8 boot digits, 20 seq digits, 3 ':'.
 * A buffer of CONNID_MAX_LEN + 1 bytes holds any id and its NUL. */
#define CONNID_MAX_LEN (CONNID_MAX_NAME + 4 + 8 + 20 + 3)

/* One parsed id. name points into the bytes given to connid_parse (not
 * NUL-terminated); for connid_format it is the caller's. */
struct connid {
    const char *name;
    size_t name_len;
    uint32_t worker;
    uint32_t boot;
    uint64_t seq;
};

/* Why connid_parse refused an id (negative; connid_strerror names it). */
enum connid_error {
    CONNID_E_PARTS = -1, /* not four ':'-separated parts */
    CONNID_E_NAME = -2,
    CONNID_E_WORKER = -3,
    CONNID_E_BOOT = -4,
    CONNID_E_SEQ = -5,
};

/* 1 if s[0, n) is a valid edge (or hub) name, the NAME of an id: 1..64
 * bytes of [A-Za-z0-9._-], not starting with '.' (certificate name checks
 * read ".example" as "any name under example", which no edge name may
 * mean). 0 otherwise. */
int connid_name_is_valid(const char *s, size_t n);

/* Parses s[0, n) (any bytes; no NUL needed) as an id. Returns 0 and fills
 * *out (its name pointing into s), or a negative enum connid_error; *out is
 * then unspecified. Allocates nothing, reads nothing outside s[0, n). */
int connid_parse(const char *s, size_t n, struct connid *out);

/* Writes id's spelling and a NUL into out[0, cap). Returns its length (at
 * most CONNID_MAX_LEN), or -1 if id is outside the grammar or cap is too
 * small (out then holds "" when cap > 0). */
int connid_format(char *out, size_t cap, const struct connid *id);

/* 1 if a and b name connections of the same edge worker (the same name,
 * worker and boot: the part before SEQ), 0 otherwise. */
int connid_same_worker(const struct connid *a, const struct connid *b);

/* A one-line reason for a connid_parse result, naming the part at fault
 * ("" for 0). Static storage. */
const char *connid_strerror(int rc);

#endif
