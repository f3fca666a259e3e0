/* libFuzzer driver for link_decode (common/link.h): hostile bytes from a
 * link peer, after decompression. A decoded message must re-encode, and the
 * re-encoding must decode to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/mpcheck.h"
#include "tests/fuzz/fuzz_check.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int str_inside(const struct link_str *s, const uint8_t *lo, const uint8_t *hi)
{
    if (s->len == 0)
        return 1;
    const uint8_t *p = (const uint8_t *)s->ptr;
    return p >= lo && p <= hi && s->len <= (size_t)(hi - p);
}

static int str_eq(const struct link_str *a, const struct link_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* link_decode zeroes what the type does not carry (policy too, except for
 * POLICY, where it carries it), so a field-by-field comparison works. */
static int same_msg(const struct link_msg *a, const struct link_msg *b)
{
    return a->type == b->type && a->version == b->version && a->worker == b->worker &&
           a->code == b->code && a->enc == b->enc && a->has_id == b->has_id && a->id == b->id &&
           a->seq == b->seq && a->boot == b->boot && a->time_ms == b->time_ms &&
           a->heartbeat_ms == b->heartbeat_ms && str_eq(&a->name, &b->name) &&
           str_eq(&a->region, &b->region) && str_eq(&a->software, &b->software) &&
           str_eq(&a->topic, &b->topic) && str_eq(&a->from, &b->from) && str_eq(&a->to, &b->to) &&
           str_eq(&a->data, &b->data) && str_eq(&a->reason, &b->reason) &&
           (a->type != LINK_POLICY || policy_equal(&a->policy, &b->policy));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct link_msg m;
    char err[128];

    err[0] = '\0';
    int n = link_decode(data, size, &m, err, sizeof err);
    if (n < 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        /* A complete body that is not msgpack is reported as such, whatever
         * the field reader stopped at. */
        if (size >= 4 && be32(data) >= 1 && be32(data) <= LINK_MAX_MESSAGE &&
            size - 4 >= be32(data) && mp_check(data + 4, be32(data), MP_MAX_DEPTH) < 0)
            FUZZ_CHECK(strcmp(err, "malformed msgpack") == 0);
        return 0;
    }
    if (n == 0) {
        /* "Need more" only while the prefix or the declared body is short. */
        FUZZ_CHECK(size < 4 || size - 4 < be32(data));
        return 0;
    }

    uint32_t declared = be32(data);
    FUZZ_CHECK((size_t)n == 4 + (size_t)declared && (size_t)n <= size);
    FUZZ_CHECK(declared >= 1 && declared <= LINK_MAX_MESSAGE);
    /* What is accepted is well-formed msgpack (the reader does not run
     * mp_check first: this holds it to that). */
    FUZZ_CHECK(mp_check(data + 4, declared, MP_MAX_DEPTH) == 0);
    /* One byte short of the message is "need more", never an error. */
    struct link_msg scratch;
    FUZZ_CHECK(link_decode(data, (size_t)n - 1, &scratch, NULL, 0) == 0);

    /* Strings point into the message body, within its limits. */
    const uint8_t *lo = data + 4, *hi = data + n;
    const struct link_str *strs[] = {&m.name, &m.region, &m.software, &m.topic,
                                     &m.from, &m.to,     &m.data,     &m.reason};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        FUZZ_CHECK(str_inside(strs[i], lo, hi));
    FUZZ_CHECK(m.topic.len <= LINK_MAX_TOPIC && m.from.len <= LINK_MAX_CONN_ID &&
               m.to.len <= LINK_MAX_CONN_ID && m.reason.len <= LINK_MAX_REASON &&
               m.name.len <= LINK_MAX_NAME && m.region.len <= LINK_MAX_NAME &&
               m.software.len <= LINK_MAX_NAME);
    FUZZ_CHECK(m.enc < 2 && strcmp(link_type_name(m.type), "unknown") != 0);

    /* Re-encode, decode again: same fields, and a fixed point on the bytes. */
    struct buf a = BUF_INIT, b = BUF_INIT;
    int ea = link_encode(&a, &m);
    FUZZ_CHECK(ea > 0 && (size_t)ea == buf_readable(&a));
    struct link_msg m2;
    int n2 = link_decode(buf_head(&a), buf_readable(&a), &m2, err, sizeof err);
    FUZZ_CHECK(n2 == ea);
    FUZZ_CHECK(same_msg(&m, &m2));
    int eb = link_encode(&b, &m2);
    FUZZ_CHECK(eb == ea && memcmp(buf_head(&a), buf_head(&b), (size_t)ea) == 0);
    buf_deinit(&a);
    buf_deinit(&b);
    return 0;
}
