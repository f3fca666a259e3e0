/* spoke client protocol v1 (docs/protocol.md) for the load generator:
 * building sub and pub messages straight into a connection's output, and
 * reading what the edge sends without a JSON library or msgpack objects.
 *
 * The receive path is the hot one (one call per delivery): JSON messages are
 * scanned for the few keys we need ("op", "seq", "t", "w", and "from" for
 * publishers; "epoch", "recovered" and "reason" in acks and resets), msgpack
 * maps are walked in place. Keys are looked up by name,
 * never by position, since the protocol does not fix key order. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wsframe.h"
#include "tests/bench/loadgen/lg.h"

/* ---- JSON scanning
 *
 * A fast path reads the layout the edge writes today
 * ({"op":"msg","topic":"T","seq":N,"data":{"t":N,"w":N,...) directly; any
 * other layout falls back to a single pass over the message that steps from
 * string to string (memchr for the quotes) and looks at each key. */

#define LIT(s) s, sizeof(s) - 1

/* Decimal parsing eight bytes at a time (SWAR, little-endian): the send
 * time has 10 to 19 digits and is read once per delivery, where a loop over
 * the digits costs about 7 instructions each. These read 8 bytes at p, so
 * callers make sure 24 bytes are readable. */
static inline uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* How many of the 8 bytes of v, first byte first, are ASCII digits before
 * the first byte that is not. Bytes above a non-digit may be disturbed by a
 * carry, but only the lowest flagged byte matters. */
static inline unsigned lead_digits8(uint64_t v)
{
    uint64_t nd =
        ((v + 0x4646464646464646ull) | (v - 0x3030303030303030ull)) & 0x8080808080808080ull;
    return nd ? (unsigned)__builtin_ctzll(nd) >> 3 : 8;
}

/* The value of the digits in the n (1..8) first bytes of v. */
static inline uint64_t digits_n(uint64_t v, unsigned n)
{
    if (n < 8) { /* shift the digits up and pad with leading '0's */
        v <<= 8 * (8 - n);
        v |= 0x3030303030303030ull >> (8 * n);
    }
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8);
    v = ((v & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
         ((v >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >>
        32;
    return v;
}

static const uint64_t pow10_tab[9] = {1,      10,      100,      1000,     10000,
                                      100000, 1000000, 10000000, 100000000};

/* Reads a non-negative decimal integer at *pp (after optional spaces). */
static int jread_u64(const uint8_t **pp, const uint8_t *e, uint64_t *v)
{
    const uint8_t *p = *pp, *d;
    uint64_t x = 0;
    while (p < e && *p == ' ')
        p++;
    if (e - p >= 24) {
        uint64_t w = load8(p);
        unsigned n = lead_digits8(w);
        if (n == 0)
            return -1;
        if (n < 8) {
            x = digits_n(w, n);
            d = p + n;
        } else {
            uint64_t w2 = load8(p + 8);
            unsigned n2 = lead_digits8(w2);
            x = digits_n(w, 8);
            if (n2 < 8) {
                x = n2 ? x * pow10_tab[n2] + digits_n(w2, n2) : x;
                d = p + 8 + n2;
            } else {
                uint64_t w3 = load8(p + 16);
                unsigned n3 = lead_digits8(w3);
                if (n3 > 3)
                    return -1; /* more than 19 digits */
                x = x * 100000000u + digits_n(w2, 8);
                x = n3 ? x * pow10_tab[n3] + digits_n(w3, n3) : x;
                d = p + 16 + n3;
            }
        }
    } else {
        for (d = p; d < e && (unsigned)(*d - '0') <= 9; d++)
            x = x * 10 + (uint64_t)(*d - '0');
        if (d == p || d - p > 19)
            return -1;
    }
    *v = x;
    *pp = d;
    return 0;
}

/* The end of the JSON string whose body starts at p: the closing quote, or
 * NULL. A quote preceded by an odd number of backslashes is escaped. */
static const uint8_t *jstr_end(const uint8_t *p, const uint8_t *e)
{
    for (;;) {
        const uint8_t *q = memchr(p, '"', (size_t)(e - p));
        if (!q)
            return NULL;
        const uint8_t *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0)
            return q;
        p = q + 1;
    }
}

static int key_eq(const uint8_t *k, size_t kl, const char *lit, size_t ll)
{
    return kl == ll && memcmp(k, lit, ll) == 0;
}

/* What a message carries, whatever its op. */
struct jfields {
    const uint8_t *op, *conn, *from, *epoch, *reason;
    size_t op_len, conn_len, from_len, epoch_len, reason_len;
    int has_id;
    uint64_t id;
};

/* The general path: every key of every object at any depth is looked at, so
 * "t" and "w" are found inside "data" wherever they are. */
static int json_scan(const uint8_t *p, const uint8_t *e, struct lg_event *ev, struct jfields *f)
{
    const uint8_t *q = p;
    for (;;) {
        q = memchr(q, '"', (size_t)(e - q));
        if (!q)
            return 0;
        const uint8_t *k = q + 1, *ke = jstr_end(k, e);
        if (!ke)
            return -1;
        q = ke + 1;
        while (q < e && *q == ' ')
            q++;
        if (q == e || *q != ':')
            continue; /* a string value */
        q++;
        while (q < e && *q == ' ')
            q++;
        size_t kl = (size_t)(ke - k);
        const uint8_t **sp = NULL;
        size_t *sl = NULL;
        uint64_t w;
        if (key_eq(k, kl, LIT("t"))) {
            ev->has_t = jread_u64(&q, e, &ev->t) == 0;
        } else if (key_eq(k, kl, LIT("w"))) {
            if (jread_u64(&q, e, &w) == 0)
                ev->w = w != 0;
        } else if (key_eq(k, kl, LIT("seq"))) {
            ev->has_seq = jread_u64(&q, e, &ev->seq) == 0;
        } else if (key_eq(k, kl, LIT("id"))) {
            f->has_id = jread_u64(&q, e, &f->id) == 0;
        } else if (key_eq(k, kl, LIT("op"))) {
            sp = &f->op, sl = &f->op_len;
        } else if (key_eq(k, kl, LIT("conn"))) {
            sp = &f->conn, sl = &f->conn_len;
        } else if (key_eq(k, kl, LIT("from"))) {
            sp = &f->from, sl = &f->from_len;
        } else if (key_eq(k, kl, LIT("epoch"))) {
            sp = &f->epoch, sl = &f->epoch_len;
        } else if (key_eq(k, kl, LIT("reason"))) {
            sp = &f->reason, sl = &f->reason_len;
        } else if (key_eq(k, kl, LIT("recovered"))) {
            if (e - q >= 4 && memcmp(q, "true", 4) == 0)
                ev->has_recovered = ev->recovered = 1;
            else if (e - q >= 5 && memcmp(q, "false", 5) == 0)
                ev->has_recovered = 1;
        }
        if (sp && q < e && *q == '"') {
            const uint8_t *ve = jstr_end(q + 1, e);
            if (!ve)
                return -1;
            if (!*sp) { /* the first occurrence: the top level comes first */
                *sp = q + 1;
                *sl = (size_t)(ve - q - 1);
            }
            q = ve + 1;
        }
    }
}

/* The edge's own layout, read in one go; returns 0 if p is not in it. */
static int json_fast_msg(const uint8_t *p, const uint8_t *e, struct lg_event *ev)
{
    static const char head[] = "{\"op\":\"msg\",\"topic\":\"";
    const uint8_t *q = p + sizeof head - 1;
    if (e - p < 64 || memcmp(p, head, sizeof head - 1) != 0)
        return 0;
    q = memchr(q, '"', (size_t)(e - q)); /* topics never contain quotes or escapes */
    if (!q || e - q < 40 || memcmp(q, "\",\"seq\":", 8) != 0)
        return 0;
    q += 8;
    if (jread_u64(&q, e, &ev->seq) < 0 || e - q < 20 || memcmp(q, ",\"data\":{\"t\":", 13) != 0)
        return 0;
    q += 13;
    if (jread_u64(&q, e, &ev->t) < 0 || e - q < 6 || memcmp(q, ",\"w\":", 5) != 0)
        return 0;
    q += 5;
    if ((unsigned)(*q - '0') > 1)
        return 0;
    ev->w = *q == '1';
    ev->has_seq = ev->has_t = 1;
    ev->kind = LE_MSG;
    return 1;
}

static int json_message(struct conn *c, const uint8_t *p, size_t n, struct lg_event *ev)
{
    const uint8_t *e = p + n;
    struct jfields f = {0};

    if (json_fast_msg(p, e, ev)) {
        if (!c->conn_id)
            return 0;
        /* Publishers also need "from", after the data. */
        const uint8_t *k = memmem(p, n, LIT("\"from\":\""));
        if (k) {
            const uint8_t *ve = jstr_end(k + 8, e);
            if (ve) {
                ev->str = (const char *)k + 8;
                ev->str_len = (size_t)(ve - k - 8);
            }
        }
        return 0;
    }
    memset(ev, 0, sizeof *ev);
    if (json_scan(p, e, ev, &f) < 0 || !f.op)
        return -1;
    if (key_eq(f.op, f.op_len, LIT("msg"))) {
        ev->kind = LE_MSG;
        ev->str = (const char *)f.from;
        ev->str_len = f.from_len;
    } else if (key_eq(f.op, f.op_len, LIT("ack")) || key_eq(f.op, f.op_len, LIT("reset"))) {
        if (f.op_len == 3) {
            if (!f.has_id)
                return -1;
            ev->kind = LE_ACK;
            ev->id = (int64_t)f.id;
        } else {
            ev->kind = LE_RESET;
        }
        ev->epoch = (const char *)f.epoch;
        ev->epoch_len = f.epoch_len;
        ev->str = (const char *)f.reason;
        ev->str_len = f.reason_len;
    } else if (key_eq(f.op, f.op_len, LIT("welcome"))) {
        ev->kind = LE_HELLO;
        ev->str = (const char *)f.conn;
        ev->str_len = f.conn_len;
    } else if (key_eq(f.op, f.op_len, LIT("error"))) {
        ev->kind = LE_ERROR;
        ev->str = (const char *)p;
        ev->str_len = n;
    } else {
        return 1; /* direct or a later op: ignored */
    }
    return 0;
}

/* ---- msgpack walking (the subset the edge sends; anything else is skipped) */

struct mpr {
    const uint8_t *p, *e;
};

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a str header and its bytes. */
static int mp_str(struct mpr *r, const char **s, size_t *n)
{
    if (r->p >= r->e)
        return -1;
    uint8_t b = *r->p;
    size_t hl, len;
    if ((b & 0xe0) == 0xa0) {
        hl = 1;
        len = b & 0x1f;
    } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
        unsigned w = b == 0xd9 ? 1 : b == 0xda ? 2 : 4;
        if ((size_t)(r->e - r->p) < 1 + w)
            return -1;
        hl = 1 + w;
        len = (size_t)be(r->p + 1, w);
    } else {
        return -1;
    }
    if ((size_t)(r->e - r->p) < hl + len)
        return -1;
    *s = (const char *)r->p + hl;
    *n = len;
    r->p += hl + len;
    return 0;
}

/* Reads a non-negative integer in any encoding (JSON publishers' values
 * arrive transcoded with the shortest form). */
static int mp_uint(struct mpr *r, uint64_t *v)
{
    if (r->p >= r->e)
        return -1;
    uint8_t b = *r->p;
    unsigned w;
    if (b <= 0x7f) {
        *v = b;
        r->p++;
        return 0;
    }
    switch (b) {
    case 0xcc:
    case 0xd0: w = 1; break;
    case 0xcd:
    case 0xd1: w = 2; break;
    case 0xce:
    case 0xd2: w = 4; break;
    case 0xcf:
    case 0xd3: w = 8; break;
    default: return -1;
    }
    if ((size_t)(r->e - r->p) < 1 + w)
        return -1;
    *v = be(r->p + 1, w);
    r->p += 1 + w;
    return 0;
}

static int mp_map(struct mpr *r, uint32_t *n)
{
    if (r->p >= r->e)
        return -1;
    uint8_t b = *r->p;
    if ((b & 0xf0) == 0x80) {
        *n = b & 0x0f;
        r->p++;
        return 0;
    }
    unsigned w = b == 0xde ? 2 : b == 0xdf ? 4 : 0;
    if (!w || (size_t)(r->e - r->p) < 1 + w)
        return -1;
    *n = (uint32_t)be(r->p + 1, w);
    r->p += 1 + w;
    return 0;
}

static int mp_skip(struct mpr *r, unsigned depth)
{
    if (r->p >= r->e || depth > 32)
        return -1;
    uint8_t b = *r->p++;
    uint64_t len = 0, items = 0;
    size_t avail = (size_t)(r->e - r->p);

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if ((b & 0xe0) == 0xa0)
        len = b & 0x1f;
    else if ((b & 0xf0) == 0x90)
        items = b & 0x0f;
    else if ((b & 0xf0) == 0x80)
        items = 2u * (b & 0x0f);
    else {
        static const uint8_t fixed[] = {
            /* 0xc4.. */ 0,
            0,
            0,
            0,
            0,
            0,
            /* 0xca float32, 0xcb float64, 0xcc..0xcf uint, 0xd0..0xd3 int */ 4,
            8,
            1,
            2,
            4,
            8,
            1,
            2,
            4,
            8,
            /* 0xd4..0xd8 fixext 1, 2, 4, 8, 16 (+1 type byte) */ 2,
            3,
            5,
            9,
            17};
        if (b >= 0xca && b <= 0xd8) {
            len = fixed[b - 0xc4];
        } else {
            unsigned w;
            switch (b) {
            case 0xc4:
            case 0xc7:
            case 0xd9: w = 1; break;
            case 0xc5:
            case 0xc8:
            case 0xda:
            case 0xdc:
            case 0xde: w = 2; break;
            case 0xc6:
            case 0xc9:
            case 0xdb:
            case 0xdd:
            case 0xdf: w = 4; break;
            default: return -1;
            }
            if (avail < w)
                return -1;
            uint64_t v = be(r->p, w);
            r->p += w;
            avail -= w;
            if (b == 0xdc || b == 0xdd)
                items = v;
            else if (b == 0xde || b == 0xdf)
                items = 2 * v;
            else
                len = v + (b >= 0xc7 && b <= 0xc9); /* ext: + type byte */
        }
    }
    if (len) {
        if (avail < len)
            return -1;
        r->p += len;
    }
    for (uint64_t i = 0; i < items; i++)
        if (mp_skip(r, depth + 1) < 0)
            return -1;
    return 0;
}

static int key_is(const char *k, size_t kl, const char *lit, size_t ll)
{
    return key_eq((const uint8_t *)k, kl, lit, ll);
}

static int mp_data(struct mpr *r, struct lg_event *ev)
{
    uint32_t n;
    if (mp_map(r, &n) < 0)
        return mp_skip(r, 1);
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        if (mp_str(r, &k, &kl) < 0)
            return -1;
        if (kl == 1 && k[0] == 't') {
            if (mp_uint(r, &ev->t) == 0) {
                ev->has_t = 1;
                continue;
            }
        } else if (kl == 1 && k[0] == 'w') {
            uint64_t w;
            if (mp_uint(r, &w) == 0) {
                ev->w = w != 0;
                continue;
            }
        }
        if (mp_skip(r, 1) < 0)
            return -1;
    }
    return 0;
}

static int msgpack_message(struct conn *c, const uint8_t *p, size_t n, struct lg_event *ev)
{
    struct mpr r = {p, p + n};
    uint32_t keys;
    const char *op = NULL;
    size_t opl = 0;
    uint64_t id = 0;
    int has_id = 0;

    if (mp_map(&r, &keys) < 0)
        return -1;
    for (uint32_t i = 0; i < keys; i++) {
        const char *k, *s;
        size_t kl, sl;
        if (mp_str(&r, &k, &kl) < 0)
            return -1;
        if (key_is(k, kl, LIT("op"))) {
            if (mp_str(&r, &op, &opl) < 0)
                return -1;
        } else if (key_is(k, kl, LIT("seq"))) {
            if (mp_uint(&r, &ev->seq) < 0)
                return -1;
            ev->has_seq = 1;
        } else if (key_is(k, kl, LIT("data"))) {
            if (mp_data(&r, ev) < 0)
                return -1;
        } else if (key_is(k, kl, LIT("id"))) {
            if (mp_uint(&r, &id) < 0)
                return -1;
            has_id = 1;
        } else if ((key_is(k, kl, LIT("from")) && c->conn_id) || key_is(k, kl, LIT("conn")) ||
                   key_is(k, kl, LIT("reason"))) {
            if (mp_str(&r, &s, &sl) < 0)
                return -1;
            ev->str = s;
            ev->str_len = sl;
        } else if (key_is(k, kl, LIT("epoch"))) {
            if (mp_str(&r, &ev->epoch, &ev->epoch_len) < 0)
                return -1;
        } else if (key_is(k, kl, LIT("recovered")) && r.p < r.e && (*r.p == 0xc2 || *r.p == 0xc3)) {
            ev->has_recovered = 1;
            ev->recovered = *r.p++ == 0xc3;
        } else if (mp_skip(&r, 1) < 0) {
            return -1;
        }
    }
    if (!op)
        return -1;
    if (key_is(op, opl, LIT("msg")))
        ev->kind = LE_MSG;
    else if (key_is(op, opl, LIT("ack")) && has_id) {
        ev->kind = LE_ACK;
        ev->id = (int64_t)id;
    } else if (key_is(op, opl, LIT("reset")))
        ev->kind = LE_RESET;
    else if (key_is(op, opl, LIT("welcome")))
        ev->kind = LE_HELLO;
    else if (key_is(op, opl, LIT("error"))) {
        ev->kind = LE_ERROR;
        ev->str = "(msgpack error message)";
        ev->str_len = strlen(ev->str);
    } else
        return 1;
    return 0;
}

void spoke_on_message(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
    struct lg_event ev = {0};
    int rc =
        c->lg->o.enc == ENC_MSGPACK ? msgpack_message(c, p, n, &ev) : json_message(c, p, n, &ev);
    if (rc < 0) {
        c->lg->proto_errors++;
        conn_close(c, "unreadable spoke message");
        return;
    }
    if (rc > 0)
        return;
    if (ev.kind == LE_HELLO)
        conn_greeted(c);
    else if (ev.kind == LE_ERROR)
        c->lg->spoke_errors++;
    c->lg->ops->on_event(c, &ev, now);
}

/* ---- building */

static unsigned digits(uint64_t v)
{
    unsigned d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static uint8_t *put_u64(uint8_t *o, uint64_t v, unsigned d)
{
    for (unsigned i = d; i-- > 0;) {
        o[i] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
    return o + d;
}

static uint8_t *put_be64(uint8_t *o, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        o[i] = (uint8_t)v;
        v >>= 8;
    }
    return o + 8;
}

/* The lengths above are computed before writing (the frame header needs
 * them); a mismatch is a bug in this file, caught on the first message. */
#define CHECK_LEN(o, b, len) check_len((size_t)(o - buf_tail(b)), (size_t)(len))

static void check_len(size_t got, size_t want)
{
    if (got != want)
        lg_fatal("internal error: pub message length %zu != %zu", got, want);
}

#define PUT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

/* msgpack str header for a string of n bytes; returns its length. */
static size_t mp_strhdr(uint8_t *o, size_t n)
{
    if (n < 32) {
        o[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    if (n < 256) {
        o[0] = 0xd9;
        o[1] = (uint8_t)n;
        return 2;
    }
    o[0] = 0xda;
    o[1] = (uint8_t)(n >> 8);
    o[2] = (uint8_t)n;
    return 3;
}

static size_t mp_strhdr_len(size_t n)
{
    return n < 32 ? 1 : n < 256 ? 2 : 3;
}

/* {"op":"sub","topic":T,"id":N} and, with an epoch, "since":{"seq":S,"epoch":E}.
 * Topics have at most 255 bytes and epochs at most 16 (the callers' limits). */
static void send_sub(struct conn *c, unsigned topic, int64_t id, uint64_t seq, const char *epoch,
                     size_t epoch_len)
{
    struct lg *lg = c->lg;
    const char *t = lg->topic_names[topic];
    size_t tl = lg->topic_lens[topic];
    uint8_t tmp[512], *o = tmp;

    if (lg->o.enc == ENC_JSON) {
        o += snprintf((char *)o, sizeof tmp, "{\"op\":\"sub\",\"topic\":\"%s\",\"id\":%lld", t,
                      (long long)id);
        if (epoch)
            o += snprintf((char *)o, sizeof tmp - (size_t)(o - tmp),
                          ",\"since\":{\"seq\":%llu,\"epoch\":\"%.*s\"}", (unsigned long long)seq,
                          (int)epoch_len, epoch);
        *o++ = '}';
        buf_append(conn_frame(c, WS_OP_TEXT, (size_t)(o - tmp)), tmp, (size_t)(o - tmp));
        return;
    }
    *o++ = epoch ? 0x84 : 0x83;
    o = PUT(o, "\xa2op\xa3sub\xa5topic");
    o += mp_strhdr(o, tl);
    memcpy(o, t, tl);
    o += tl;
    o = PUT(o, "\xa2id");
    if (id >= 0 && id < 128) {
        *o++ = (uint8_t)id;
    } else {
        *o++ = 0xd3; /* int64 */
        o = put_be64(o, (uint64_t)id);
    }
    if (epoch) {
        o = PUT(o, "\xa5since\x82\xa3seq\xcf");
        o = put_be64(o, seq);
        o = PUT(o, "\xa5"
                   "epoch");
        o += mp_strhdr(o, epoch_len);
        memcpy(o, epoch, epoch_len);
        o += epoch_len;
    }
    buf_append(conn_frame(c, WS_OP_BINARY, (size_t)(o - tmp)), tmp, (size_t)(o - tmp));
}

void spoke_send_sub(struct conn *c, unsigned topic, int64_t id)
{
    send_sub(c, topic, id, 0, NULL, 0);
}

void spoke_send_sub_since(struct conn *c, unsigned topic, int64_t id, uint64_t seq,
                          const char *epoch, size_t epoch_len)
{
    send_sub(c, topic, id, seq, epoch, epoch_len);
}

/* Padding so that the data value is about --size bytes. */
static size_t pad_for(size_t size, size_t fixed)
{
    return size > fixed ? size - fixed : 0;
}

static void pub_json(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm)
{
    struct lg *lg = c->lg;
    size_t tl = lg->topic_lens[topic];
    unsigned td = digits(t);
    size_t data_len, pad = 0, text_len = 0;
    const struct chat_msg *m = NULL;
    uint64_t ts = 0;

    /* {"t":T,"w":W,"p":"xx…"} or {"user":"u","text":"…","ts":N,"t":T,"w":W} */
    if (lg->o.corpus_chat == 2) { /* {FRAGMENT,"t":T,"w":W} */
        m = corpus_msg(&lg->corpus, i, &ts);
        text_len = m->text_len;
        data_len = 1 + text_len + 5 + td + 5 + 1 + 1;
    } else if (lg->o.corpus_chat) {
        m = corpus_msg(&lg->corpus, i, &ts);
        text_len = m->text_len;
        data_len = 9 + CORPUS_USER_LEN + 10 + text_len + 7 + digits(ts) + 5 + td + 7;
    } else {
        pad = pad_for(lg->o.size, 19 + td);
        data_len = 19 + td + pad;
    }
    size_t len = 21 + tl + 9 + data_len + 1;
    struct buf *b = conn_frame(c, WS_OP_TEXT, len);
    buf_reserve(b, len);
    uint8_t *o = buf_tail(b);
    o = PUT(o, "{\"op\":\"pub\",\"topic\":\"");
    memcpy(o, lg->topic_names[topic], tl);
    o += tl;
    o = PUT(o, "\",\"data\":");
    if (m && lg->o.corpus_chat == 2) {
        *o++ = '{';
        memcpy(o, lg->corpus.text + m->text_off, text_len);
        o += text_len;
        o = PUT(o, ",\"t\":");
        o = put_u64(o, t, td);
        o = PUT(o, ",\"w\":");
        *o++ = warm ? '1' : '0';
        *o++ = '}';
    } else if (m) {
        o = PUT(o, "{\"user\":\"");
        memcpy(o, lg->corpus.users[m->user], CORPUS_USER_LEN);
        o += CORPUS_USER_LEN;
        o = PUT(o, "\",\"text\":\"");
        memcpy(o, lg->corpus.text + m->text_off, text_len);
        o += text_len;
        o = PUT(o, "\",\"ts\":");
        o = put_u64(o, ts, digits(ts));
        o = PUT(o, ",\"t\":");
        o = put_u64(o, t, td);
        *o++ = ',';
        o = PUT(o, "\"w\":");
        *o++ = warm ? '1' : '0';
        *o++ = '}';
    } else {
        o = PUT(o, "{\"t\":");
        o = put_u64(o, t, td);
        o = PUT(o, ",\"w\":");
        *o++ = warm ? '1' : '0';
        o = PUT(o, ",\"p\":\"");
        memset(o, 'x', pad);
        o += pad;
        *o++ = '"';
        *o++ = '}';
    }
    *o++ = '}';
    CHECK_LEN(o, b, len);
    buf_commit(b, len);
}

static void pub_msgpack(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm)
{
    struct lg *lg = c->lg;
    size_t tl = lg->topic_lens[topic];
    size_t data_len, pad = 0, text_len = 0;
    const struct chat_msg *m = NULL;
    uint64_t ts = 0;

    /* {"t": 0xcf u64, "w": 0|1, "p": str} or {"user","text","ts","t","w"} */
    if (lg->o.corpus_chat) {
        m = corpus_msg(&lg->corpus, i, &ts);
        text_len = m->text_len;
        data_len = 1 + 5 + 1 + CORPUS_USER_LEN + 5 + mp_strhdr_len(text_len) + text_len + 3 + 9 +
                   2 + 9 + 2 + 1;
    } else {
        pad = pad_for(lg->o.size, 18);
        if (pad > 0 && mp_strhdr_len(pad) > 1)
            pad -= mp_strhdr_len(pad) - 1;
        data_len = 17 + mp_strhdr_len(pad) + pad;
    }
    size_t len = 14 + mp_strhdr_len(tl) + tl + 5 + data_len;
    struct buf *b = conn_frame(c, WS_OP_BINARY, len);
    buf_reserve(b, len);
    uint8_t *o = buf_tail(b);
    o = PUT(o, "\x83\xa2op\xa3pub\xa5topic");
    o += mp_strhdr(o, tl);
    memcpy(o, lg->topic_names[topic], tl);
    o += tl;
    o = PUT(o, "\xa4"
               "data");
    if (m) {
        o = PUT(o, "\x85\xa4user");
        o += mp_strhdr(o, CORPUS_USER_LEN);
        memcpy(o, lg->corpus.users[m->user], CORPUS_USER_LEN);
        o += CORPUS_USER_LEN;
        o = PUT(o, "\xa4text");
        o += mp_strhdr(o, text_len);
        memcpy(o, lg->corpus.text + m->text_off, text_len);
        o += text_len;
        o = PUT(o, "\xa2ts\xcf");
        o = put_be64(o, ts);
    } else {
        *o++ = 0x83;
    }
    o = PUT(o, "\xa1t\xcf");
    o = put_be64(o, t);
    o = PUT(o, "\xa1w");
    *o++ = warm ? 1 : 0;
    if (!m) {
        o = PUT(o, "\xa1p");
        o += mp_strhdr(o, pad);
        memset(o, 'x', pad);
        o += pad;
    }
    CHECK_LEN(o, b, len);
    buf_commit(b, len);
}

void spoke_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm)
{
    if (c->lg->o.enc == ENC_MSGPACK)
        pub_msgpack(c, topic, i, t, warm);
    else
        pub_json(c, topic, i, t, warm);
}
