/* libFuzzer driver for what the redis engine reads from Redis
 * (hub/engine_redis_wire.c): the first byte picks a decoder, the rest is
 * its input. 0: a message as published on a topic's channel; 1: RESP bytes
 * (what Redis answers), parsed by hiredis's reader, each reply read as a
 * stream entry, a PUBLISH script's answer and a READ script's answer with
 * its entries; 2: a channel name. Redis is trusted, so this is robustness,
 * not a defence: no crash or sanitizer report, and everything decoded lies
 * inside the input within its limits. hiredis 0.14 allocates whatever
 * array length it is told, so inputs declaring more than 4096 elements or
 * bytes are skipped (a hostile Redis could exhaust the hub's memory that
 * way; a trusted one does not). */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hub/engine_redis_wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_resp.h"

static const char *lo, *hi; /* the input */

static void inside(struct link_str s, uint32_t max)
{
    FUZZ_CHECK(s.len <= max);
    FUZZ_CHECK(!s.len || (s.ptr >= lo && s.ptr + s.len <= hi));
}

static void check_msg(const struct redis_wire_msg *m)
{
    FUZZ_CHECK(m->seq >= 1);
    FUZZ_CHECK(m->enc < 2);
    inside(m->from, LINK_MAX_CONN_ID);
    inside(m->user, LINK_MAX_USER);
}

static void reply(const redisReply *r)
{
    struct redis_wire_msg m;
    if (redis_wire_decode_entry(r, &m) == 0)
        FUZZ_CHECK(m.seq >= 1 && m.enc < 2 && m.from.len <= LINK_MAX_CONN_ID);
    struct link_str epoch;
    uint64_t seq;
    int repeated;
    if (redis_wire_publish_reply(r, &epoch, &seq, &repeated) == 0)
        FUZZ_CHECK(seq >= 1 && redis_wire_epoch_ok(epoch.ptr, epoch.len) &&
                   (repeated == 0 || repeated == 1));
    struct redis_wire_read out;
    if (redis_wire_read_reply(r, &out) == 0) {
        FUZZ_CHECK(out.entries && out.entries->type == REDIS_REPLY_ARRAY);
        FUZZ_CHECK(!out.epoch.len || out.first <= out.seq + 1);
        for (size_t i = 0; i < out.entries->elements; i++)
            if (redis_wire_decode_entry(out.entries->element[i], &m) == 0)
                FUZZ_CHECK(m.seq >= 1 && m.user.len <= LINK_MAX_USER);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size || size > 65536)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    lo = p;
    hi = p + n;
    struct redis_wire_msg m;
    struct link_str t;
    switch (data[0] % 3) {
    case 0:
        if (redis_wire_decode_live(p, n, &m) == 0) {
            check_msg(&m);
            FUZZ_CHECK(redis_wire_epoch_ok(m.epoch.ptr, m.epoch.len));
            inside(m.epoch, LINK_MAX_EPOCH);
            inside(m.data, LINK_MAX_MESSAGE);
        }
        break;
    case 1: fuzz_resp_each(data + 1, n, reply); break;
    case 2:
        if (redis_wire_channel_topic("spoke", p, n, &t) == 0)
            inside(t, (uint32_t)n);
        break;
    }
    return 0;
}
