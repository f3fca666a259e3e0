/* The NATS client protocol (text, as nats-server 2.9 speaks it over its
 * WebSocket listener) for the load generator, so the same workloads can run
 * against NATS.
 *
 * Over WebSocket the protocol is a byte stream: operations may be split
 * across frames or share one, so wsclient.c unwraps frame payloads into one
 * stream and this file parses complete operations from it, leaving a partial
 * one for the next read. Payloads carry "t=<ns> w=<0|1> g=<tag> " and then
 * padding (or a chat message); the tag tells a publisher its own echoes,
 * since NATS messages carry no sender. */
#include <stdio.h>
#include <string.h>

#include "common/wsframe.h"
#include "tests/bench/loadgen/lg.h"

#define NATS_LINE_MAX 4096 /* a control line longer than this is an error */

static int read_u64(const uint8_t **pp, const uint8_t *e, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p == e || *p < '0' || *p > '9')
        return -1;
    uint64_t x = 0;
    while (p < e && *p >= '0' && *p <= '9')
        x = x * 10 + (uint64_t)(*p++ - '0');
    *v = x;
    *pp = p;
    return 0;
}

/* Reads "t=<ns> w=<0|1> g=<tag> " at the start of a payload. */
static void parse_payload(const uint8_t *p, size_t n, struct lg_event *ev)
{
    const uint8_t *e = p + n;
    uint64_t w;

    if (n < 2 || p[0] != 't' || p[1] != '=')
        return;
    p += 2;
    if (read_u64(&p, e, &ev->t) < 0)
        return;
    ev->has_t = 1;
    if (e - p < 4 || memcmp(p, " w=", 3) != 0)
        return;
    p += 3;
    if (read_u64(&p, e, &w) < 0)
        return;
    ev->w = w != 0;
    if (e - p < 4 || memcmp(p, " g=", 3) != 0)
        return;
    p += 3;
    read_u64(&p, e, &ev->tag);
}

static int starts(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

long nats_on_stream(struct conn *c, const uint8_t *s, size_t n, uint64_t now)
{
    struct lg *lg = c->lg;
    uint32_t gen = c->gen;
    size_t off = 0;

    while (off < n) {
        const uint8_t *line = s + off;
        const uint8_t *nl = memchr(line, '\n', n - off);
        if (!nl)
            return n - off > NATS_LINE_MAX ? -1 : (long)off;
        size_t ll = (size_t)(nl - line); /* without '\n' */
        const uint8_t *end = ll && nl[-1] == '\r' ? nl - 1 : nl;
        struct lg_event ev = {0};

        if (starts(line, ll, "MSG ")) {
            /* MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n */
            const uint8_t *sp = end;
            uint64_t size;
            while (sp > line && sp[-1] != ' ')
                sp--;
            const uint8_t *q = sp;
            if (read_u64(&q, end, &size) < 0 || q != end)
                return -1;
            size_t need = ll + 1 + (size_t)size + 2;
            if (n - off < need) {
                if (need > LG_READ_BUF - 65536)
                    return -1;
                return (long)off;
            }
            ev.kind = LE_MSG;
            parse_payload(nl + 1, (size_t)size, &ev);
            off += need;
            lg->ops->on_event(c, &ev, now);
            if (c->gen != gen)
                return (long)off;
            continue;
        }
        off += ll + 1;
        if (starts(line, ll, "PING")) {
            static const char pong[] = "PONG\r\n";
            buf_append(conn_frame(c, WS_OP_BINARY, sizeof pong - 1), pong, sizeof pong - 1);
            continue;
        }
        if (starts(line, ll, "+OK"))
            continue;
        if (starts(line, ll, "PONG")) {
            ev.kind = LE_ACK;
        } else if (starts(line, ll, "INFO")) {
            ev.kind = LE_HELLO;
            conn_greeted(c);
        } else if (starts(line, ll, "-ERR")) {
            ev.kind = LE_ERROR;
            ev.str = (const char *)line;
            ev.str_len = (size_t)(end - line);
            lg->spoke_errors++;
        } else {
            return -1;
        }
        lg->ops->on_event(c, &ev, now);
        if (c->gen != gen)
            return (long)off;
    }
    return (long)off;
}

static void send_text(struct conn *c, const char *s, size_t n)
{
    buf_append(conn_frame(c, WS_OP_BINARY, n), s, n);
}

void nats_send_connect(struct conn *c)
{
    static const char connect[] =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"echo\":true}\r\n";
    send_text(c, connect, sizeof connect - 1);
}

void nats_send_sub(struct conn *c, unsigned topic, unsigned sid)
{
    char tmp[320];
    int n = snprintf(tmp, sizeof tmp, "SUB %s %u\r\n", c->lg->topic_names[topic], sid);
    send_text(c, tmp, (size_t)n);
}

void nats_send_ping(struct conn *c)
{
    send_text(c, "PING\r\n", 6);
}

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

#define PUT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

void nats_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm)
{
    struct lg *lg = c->lg;
    size_t tl = lg->topic_lens[topic];
    unsigned td = digits(t), gd = digits(lg->tag);
    /* "t=" T " w=" W " g=" G " " */
    size_t prefix = 2 + td + 3 + 1 + 3 + gd + 1, body, pad = 0;
    const struct chat_msg *m = NULL;
    uint64_t ts = 0;

    if (lg->o.corpus_chat) {
        m = corpus_msg(&lg->corpus, i, &ts);
        /* {"user":"u","text":"…","ts":N} */
        body = 9 + CORPUS_USER_LEN + 10 + m->text_len + 7 + digits(ts) + 1;
    } else {
        pad = lg->o.size > prefix ? lg->o.size - prefix : 0;
        body = pad;
    }
    size_t plen = prefix + body;
    unsigned pd = digits(plen);
    /* "PUB " subject " " n "\r\n" payload "\r\n" */
    size_t len = 4 + tl + 1 + pd + 2 + plen + 2;
    struct buf *b = conn_frame(c, WS_OP_BINARY, len);
    buf_reserve(b, len);
    uint8_t *o = buf_tail(b), *start = o;
    o = PUT(o, "PUB ");
    memcpy(o, lg->topic_names[topic], tl);
    o += tl;
    *o++ = ' ';
    o = put_u64(o, plen, pd);
    o = PUT(o, "\r\nt=");
    o = put_u64(o, t, td);
    o = PUT(o, " w=");
    *o++ = warm ? '1' : '0';
    o = PUT(o, " g=");
    o = put_u64(o, lg->tag, gd);
    *o++ = ' ';
    if (m) {
        o = PUT(o, "{\"user\":\"");
        memcpy(o, lg->corpus.users[m->user], CORPUS_USER_LEN);
        o += CORPUS_USER_LEN;
        o = PUT(o, "\",\"text\":\"");
        memcpy(o, lg->corpus.text + m->text_off, m->text_len);
        o += m->text_len;
        o = PUT(o, "\",\"ts\":");
        o = put_u64(o, ts, digits(ts));
        *o++ = '}';
    } else {
        memset(o, 'x', pad);
        o += pad;
    }
    o = PUT(o, "\r\n");
    if ((size_t)(o - start) != len)
        lg_fatal("internal error: NATS PUB length %zu != %zu", (size_t)(o - start), len);
    buf_commit(b, len);
}

/* ---- protocol-neutral helpers for the roles */

void proto_on_hello(struct conn *c)
{
    if (c->lg->o.proto == PROTO_NATS)
        nats_send_connect(c);
}

void proto_send_sub(struct conn *c, unsigned topic, int64_t id)
{
    if (c->lg->o.proto == PROTO_NATS)
        nats_send_sub(c, topic, (unsigned)id);
    else
        spoke_send_sub(c, topic, id);
}

void proto_send_sync(struct conn *c)
{
    if (c->lg->o.proto == PROTO_NATS)
        nats_send_ping(c);
}

void proto_send_pub(struct conn *c, unsigned topic, uint64_t i, uint64_t t, int warm)
{
    if (c->lg->o.proto == PROTO_NATS)
        nats_send_pub(c, topic, i, t, warm);
    else
        spoke_send_pub(c, topic, i, t, warm);
}
