/* libFuzzer driver for what a hub of a cluster reads from Redis
 * (hub/cluster_wire.c, hub/policy_doc.c): the first byte picks a decoder,
 * the rest is its input. 0: an envelope on the hub's channel (one that
 * decodes must encode again to the same message); 1: a registration;
 * 2: a view; 3: a policy document; 4: RESP bytes (what Redis answers) read
 * as the REFRESH, POLICY_SET and HMGET answers. Whatever Redis holds is
 * untrusted: no crash, no sanitizer report, nothing decoded outside the
 * input or its bounds. hiredis 0.14 allocates whatever array length it is
 * told, so RESP declaring more than 4096 elements or bytes is skipped. */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/connid.h"
#include "common/dict.h"
#include "hub/cluster_wire.h"
#include "hub/policy_doc.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_resp.h"

static const char *lo, *hi;

static void inside(struct link_str s)
{
    FUZZ_CHECK(!s.len || (s.ptr >= lo && s.ptr + s.len <= hi));
}

static void envelope(const uint8_t *p, size_t n)
{
    struct cluster_env e;
    char err[200];
    if (cluster_env_decode(p, n, &e, err, sizeof err) < 0)
        return;
    FUZZ_CHECK(connid_name_is_valid(e.from.ptr, e.from.len));
    inside(e.from);
    inside(e.edge);
    inside(e.msg.to);
    inside(e.msg.from);
    inside(e.msg.data);
    inside(e.msg.reason);
    /* What decodes encodes again, to an envelope that decodes alike. */
    struct buf b = BUF_INIT;
    FUZZ_CHECK(cluster_env_encode(&b, &e) > 0);
    struct cluster_env again;
    FUZZ_CHECK(cluster_env_decode(buf_head(&b), buf_readable(&b), &again, err, sizeof err) == 0);
    FUZZ_CHECK(again.kind == e.kind && again.from_boot == e.from_boot &&
               again.to_boot == e.to_boot && again.msg.type == e.msg.type &&
               again.msg.data.len == e.msg.data.len);
    buf_deinit(&b);
}

static void reply(const redisReply *r)
{
    struct cluster_refresh rf;
    if (cluster_refresh_reply(r, &rf) == 0) {
        FUZZ_CHECK(rf.nhubs <= CLUSTER_MAX_HUBS);
        for (size_t i = 0; i < rf.nhubs; i++) {
            struct cluster_listed l;
            uint64_t boot;
            if (cluster_refresh_hub(&rf, i, &l) == 0)
                (void)cluster_boot_parse(l.boot.ptr, l.boot.len, &boot);
        }
    }
    int set;
    uint64_t v;
    struct link_str doc;
    (void)cluster_policy_set_reply(r, &set, &v, &doc);
    (void)cluster_policy_get_reply(r, &v, &doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size || size > 65536)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    lo = p;
    hi = p + n;
    char err[256];
    switch (data[0] % 5) {
    case 0: envelope(data + 1, n); break;
    case 1: {
        struct cluster_reg r;
        if (cluster_reg_decode(p, n, &r, err, sizeof err) == 0)
            FUZZ_CHECK(connid_name_is_valid(r.name, strlen(r.name)));
        break;
    }
    case 2: {
        struct cluster_view v;
        if (cluster_view_decode(p, n, &v, err, sizeof err) == 0) {
            FUZZ_CHECK(v.nedges <= CLUSTER_MAX_VIEW_EDGES && v.nlinks <= CLUSTER_MAX_VIEW_LINKS);
            for (size_t i = 0; i < v.nlinks; i++)
                FUZZ_CHECK(v.links[i].worker < CONNID_WORKER_LIMIT);
            cluster_view_free(&v);
        }
        break;
    }
    case 3: {
        struct policy base;
        struct dict *ov;
        struct policy_doc_meta meta;
        if (policy_doc_decode(p, n, &base, &ov, &meta, err, sizeof err) == 0) {
            FUZZ_CHECK(policy_doc_validate(&base, ov, err, sizeof err) == 0);
            FUZZ_CHECK(dict_count(ov) <= POLICY_DOC_MAX_EDGES);
            policy_overrides_free(ov);
        }
        break;
    }
    case 4: fuzz_resp_each(data + 1, n, reply); break;
    }
    return 0;
}
