/* The cluster's keys, scripts, envelopes and documents (see cluster_wire.h). */
#include "hub/cluster_wire.h"

#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/connid.h"
#include "common/errbuf.h"
#include "common/mpcheck.h"
#include "common/mpwrite.h"
#include "common/printable.h"
#include "common/xalloc.h"
#include "hub/engine_redis_wire.h"

/* ---- keys and channels --------------------------------------------------- */

char *cluster_key_hubs(char *out, const char *prefix)
{
    snprintf(out, CLUSTER_KEY_MAX, "%s:hubs", prefix);
    return out;
}

char *cluster_key_hub(char *out, const char *prefix, const char *name, size_t len)
{
    snprintf(out, CLUSTER_KEY_MAX, "%s:hub:%.*s", prefix, (int)len, name);
    return out;
}

char *cluster_key_hub_prefix(char *out, const char *prefix)
{
    snprintf(out, CLUSTER_KEY_MAX, "%s:hub:", prefix);
    return out;
}

char *cluster_key_policy(char *out, const char *prefix)
{
    snprintf(out, CLUSTER_KEY_MAX, "%s:policy", prefix);
    return out;
}

/* ---- scripts
 *
 * Each runs atomically, so two hubs starting with one name cannot both
 * take it, and a policy change cannot slip between another's read and
 * write. Numbers that go back into commands are formatted with %d (Lua 5.1
 * prints large ones in exponent form). Work is bounded by the hubs listed
 * (max hubs), whatever the set holds. */

static const char refresh_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ok, held, left = 1, '', 0\n"
    "if ARGV[8] == '1' then\n"
    "  local b = redis.call('HGET', KEYS[2], 'boot')\n"
    "  if b and b ~= ARGV[2] then\n"
    "    ok, held, left = 0, b, redis.call('PTTL', KEYS[2])\n"
    "  else\n"
    "    redis.call('HSET', KEYS[2], 'boot', ARGV[2], 'reg', ARGV[3], 'view', ARGV[4])\n"
    "    redis.call('PEXPIRE', KEYS[2], ARGV[5])\n"
    "    redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[5])), ARGV[1])\n"
    "  end\n"
    "else\n"
    "  ok = 0\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now))\n"
    "local out = {ok, held, left, redis.call('HGET', KEYS[3], 'v') or '0'}\n"
    "for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[7]) - 1)) do\n"
    "  local k = ARGV[6] .. n\n"
    "  local v = redis.call('HMGET', k, 'boot', 'reg', 'view')\n"
    "  if v[1] then\n"
    "    out[#out + 1] = n\n"
    "    out[#out + 1] = redis.call('PTTL', k)\n"
    "    out[#out + 1] = v[1]\n"
    "    out[#out + 1] = v[2] or ''\n"
    "    out[#out + 1] = v[3] or ''\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], n)\n"
    "  end\n"
    "end\n"
    "return out\n";

static const char leave_script[] = "if redis.call('HGET', KEYS[2], 'boot') == ARGV[2] then\n"
                                   "  redis.call('DEL', KEYS[2])\n"
                                   "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
                                   "  return 1\n"
                                   "end\n"
                                   "return 0\n";

static const char policy_set_script[] =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')\n"
    "if ARGV[1] ~= 'any' and tonumber(ARGV[1]) ~= cur then\n"
    "  return {0, cur, redis.call('HGET', KEYS[1], 'doc') or ''}\n"
    "end\n"
    "local v = cur + 1\n"
    "redis.call('HSET', KEYS[1], 'v', string.format('%d', v), 'doc', ARGV[2])\n"
    "redis.call('PUBLISH', ARGV[3], string.format('%d', v))\n"
    "return {1, v}\n";

const char *cluster_script_text(enum cluster_script s)
{
    switch (s) {
    case CLUSTER_SCRIPT_REFRESH: return refresh_script;
    case CLUSTER_SCRIPT_LEAVE: return leave_script;
    case CLUSTER_SCRIPT_POLICY_SET: return policy_set_script;
    }
    return "";
}

/* ---- replies ------------------------------------------------------------- */

int cluster_boot_parse(const char *s, size_t n, uint64_t *boot)
{
    if (n != 16)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            x = x << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x << 4 | (uint64_t)(c - 'a' + 10);
        else
            return -1;
    }
    *boot = x;
    return 0;
}

char *cluster_boot_format(char *out, uint64_t boot)
{
    snprintf(out, 17, "%016llx", (unsigned long long)boot);
    return out;
}

static int is_str(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING;
}

static struct link_str str_of(const redisReply *r)
{
    return (struct link_str){r->str, (uint32_t)(r->len > UINT32_MAX ? UINT32_MAX : r->len)};
}

/* An integer element, or a string holding one (Lua numbers come back as
 * integers, hash values as strings). */
static int int_of(const redisReply *r, long long *v)
{
    uint64_t u;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return 0;
    }
    if (is_str(r) && redis_wire_u64(r->str, r->len, &u) == 0 && u <= INT64_MAX) {
        *v = (long long)u;
        return 0;
    }
    return -1;
}

int cluster_refresh_reply(const redisReply *r, struct cluster_refresh *out)
{
    memset(out, 0, sizeof *out);
    long long reg, left, pv;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 || (r->elements - 4) % 5 != 0 ||
        int_of(r->element[0], &reg) < 0 || !is_str(r->element[1]) ||
        int_of(r->element[2], &left) < 0 || int_of(r->element[3], &pv) < 0 || pv < 0)
        return -1;
    out->registered = reg == 1;
    out->holder = str_of(r->element[1]);
    out->holder_ttl_ms = left;
    out->policy_version = (uint64_t)pv;
    out->nhubs = (r->elements - 4) / 5;
    if (out->nhubs > CLUSTER_MAX_HUBS)
        out->nhubs = CLUSTER_MAX_HUBS;
    out->r = r;
    return 0;
}

int cluster_refresh_hub(const struct cluster_refresh *rf, size_t i, struct cluster_listed *out)
{
    redisReply **e = rf->r->element + 4 + 5 * i;
    if (i >= rf->nhubs || !is_str(e[0]) || int_of(e[1], &out->ttl_left_ms) < 0 || !is_str(e[2]) ||
        !is_str(e[3]) || !is_str(e[4]))
        return -1;
    out->name = str_of(e[0]);
    out->boot = str_of(e[2]);
    out->reg = str_of(e[3]);
    out->view = str_of(e[4]);
    return 0;
}

int cluster_policy_set_reply(const redisReply *r, int *set, uint64_t *version, struct link_str *doc)
{
    long long ok, v;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || int_of(r->element[0], &ok) < 0 ||
        int_of(r->element[1], &v) < 0 || v < 0)
        return -1;
    *set = ok == 1;
    *version = (uint64_t)v;
    *doc = (struct link_str){"", 0};
    if (!*set) {
        if (r->elements < 3 || !is_str(r->element[2]))
            return -1;
        *doc = str_of(r->element[2]);
    }
    return 0;
}

int cluster_policy_get_reply(const redisReply *r, uint64_t *version, struct link_str *doc)
{
    *version = 0;
    *doc = (struct link_str){"", 0};
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    if (r->element[0]->type == REDIS_REPLY_NIL)
        return 0; /* no policy yet */
    long long v;
    if (int_of(r->element[0], &v) < 0 || v < 0 || !is_str(r->element[1]))
        return -1;
    *version = (uint64_t)v;
    *doc = str_of(r->element[1]);
    return 0;
}

/* ---- envelopes ----------------------------------------------------------- */

static enum link_type type_of(enum cluster_kind k)
{
    switch (k) {
    case CLUSTER_DIRECT: return LINK_DIRECT;
    case CLUSTER_RESULT: return LINK_DIRECT_RESULT;
    case CLUSTER_KICK: return LINK_KICK;
    case CLUSTER_DRAIN: return LINK_DRAIN;
    case CLUSTER_NAME_TAKEN: break;
    }
    return 0;
}

int cluster_env_encode(struct buf *out, const struct cluster_env *e)
{
    size_t start = buf_readable(out);
    struct buf body = BUF_INIT;
    if (e->kind != CLUSTER_NAME_TAKEN &&
        (e->msg.type != type_of(e->kind) || link_encode(&body, &e->msg) < 0)) {
        buf_deinit(&body);
        return -1;
    }
    mp_write_array(out, 7);
    mp_write_uint(out, 1);
    mp_write_uint(out, (uint64_t)e->kind);
    mp_write_str(out, e->from.ptr, e->from.len);
    mp_write_uint(out, e->from_boot);
    mp_write_uint(out, e->to_boot);
    mp_write_str(out, e->edge.ptr ? e->edge.ptr : "", e->edge.len);
    mp_write_bin(out, buf_readable(&body) ? buf_head(&body) : (const uint8_t *)"",
                 buf_readable(&body));
    buf_deinit(&body);
    size_t n = buf_readable(out) - start;
    if (n > CLUSTER_MAX_ENVELOPE) {
        buf_truncate(out, start);
        return -1;
    }
    return (int)n;
}

static int get_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *v = o->via.u64;
    return 0;
}

/* A str or bin object inside p[0, n) (msgpack_unpack_next points into the
 * input; checked all the same). */
static int get_bytes(const msgpack_object *o, int bin, const uint8_t *p, size_t n,
                     struct link_str *s)
{
    const char *ptr;
    uint32_t len;
    if (bin && o->type == MSGPACK_OBJECT_BIN) {
        ptr = o->via.bin.ptr;
        len = o->via.bin.size;
    } else if (!bin && o->type == MSGPACK_OBJECT_STR) {
        ptr = o->via.str.ptr;
        len = o->via.str.size;
    } else {
        return -1;
    }
    if (len && (ptr < (const char *)p || ptr + len > (const char *)p + n))
        return -1;
    *s = (struct link_str){len ? ptr : "", len};
    return 0;
}

static int decode_env(const msgpack_object *top, const uint8_t *p, size_t n, struct cluster_env *e,
                      char *err, size_t errlen)
{
    if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 7)
        return errbuf_set(err, errlen, "not an array of 7");
    const msgpack_object *a = top->via.array.ptr;
    uint64_t version, kind;
    struct link_str body;
    if (get_uint(&a[0], &version) < 0 || version != 1)
        return errbuf_set(err, errlen, "version: not 1");
    if (get_uint(&a[1], &kind) < 0 || kind < CLUSTER_DIRECT || kind > CLUSTER_NAME_TAKEN)
        return errbuf_set(err, errlen, "unknown kind");
    e->kind = (enum cluster_kind)kind;
    if (get_bytes(&a[2], 0, p, n, &e->from) < 0 || !connid_name_is_valid(e->from.ptr, e->from.len))
        return errbuf_set(err, errlen, "from: not a hub name");
    if (get_uint(&a[3], &e->from_boot) < 0 || get_uint(&a[4], &e->to_boot) < 0)
        return errbuf_set(err, errlen, "boots: not unsigned integers");
    if (get_bytes(&a[5], 0, p, n, &e->edge) < 0 ||
        (e->edge.len && !connid_name_is_valid(e->edge.ptr, e->edge.len)) ||
        (e->kind == CLUSTER_DRAIN && !e->edge.len))
        return errbuf_set(err, errlen, "edge: not an edge name");
    if (get_bytes(&a[6], 1, p, n, &body) < 0)
        return errbuf_set(err, errlen, "body: not bin");
    memset(&e->msg, 0, sizeof e->msg);
    if (e->kind == CLUSTER_NAME_TAKEN)
        return 0;
    char why[128];
    int used = link_decode((const uint8_t *)body.ptr, body.len, &e->msg, why, sizeof why);
    if (used < 0)
        return errbuf_set(err, errlen, "body: %s", why);
    if ((uint32_t)used != body.len)
        return errbuf_set(err, errlen, "body: not exactly one link message");
    if (e->msg.type != type_of(e->kind))
        return errbuf_set(err, errlen, "body: a %s in a kind %u envelope",
                          link_type_name(e->msg.type), (unsigned)kind);
    return 0;
}

int cluster_env_decode(const uint8_t *p, size_t n, struct cluster_env *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    if (n > CLUSTER_MAX_ENVELOPE)
        return errbuf_set(err, errlen, "%zu bytes (at most %u)", n, (unsigned)CLUSTER_MAX_ENVELOPE);
    /* Every size it declares fits in n: msgpack-c allocates little. */
    if (mp_check(p, n, 2) < 0)
        return errbuf_set(err, errlen, "not one msgpack value of depth 2");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&u, (const char *)p, n, &off) != MSGPACK_UNPACK_SUCCESS || off != n)
        errbuf_set(err, errlen, "not msgpack");
    else
        rc = decode_env(&u.data, p, n, e, err, errlen);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- documents ----------------------------------------------------------- */

static char *dump(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        abort(); /* jansson fails only when out of memory: as xmalloc would */
    return text;
}

/* A string member into out[cap]: printable ASCII, cut to fit. */
static void text(char *out, size_t cap, const json_t *s)
{
    printable_copy(out, cap, json_string_value(s));
}

/* A non-negative integer member (absent: 0). */
static int count(const json_t *o, const char *key, uint64_t *v, char *err, size_t errlen)
{
    const json_t *x = json_object_get(o, key);
    *v = 0;
    if (!x)
        return 0;
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return errbuf_set(err, errlen, "%s: not a non-negative integer", key);
    *v = (uint64_t)json_integer_value(x);
    return 0;
}

static json_t *load(const char *p, size_t n, size_t max, const char *what, char *err, size_t errlen)
{
    if (n > max) {
        errbuf_set(err, errlen, "%s of %zu bytes (at most %zu)", what, n, max);
        return NULL;
    }
    json_error_t je;
    json_t *doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        errbuf_set(err, errlen, "%s: not JSON: %s", what, je.text);
        return NULL;
    }
    const json_t *v = json_object_get(doc, "v");
    if (!json_is_object(doc) || !json_is_integer(v) || json_integer_value(v) != 1) {
        json_decref(doc);
        errbuf_set(err, errlen, "%s: not a version 1 object", what);
        return NULL;
    }
    return doc;
}

char *cluster_reg_encode(const struct cluster_reg *r)
{
    char boot[17];
    return dump(json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "v",
                          1, "name", r->name, "boot", cluster_boot_format(boot, r->boot), "version",
                          r->version, "link", r->link, "http", r->http, "https", r->https,
                          "uptime_s", (json_int_t)r->uptime_s, "ttl_ms", (json_int_t)r->ttl_ms,
                          "refresh_ms", (json_int_t)r->refresh_ms, "links", (json_int_t)r->links,
                          "edges", (json_int_t)r->edges, "policy_version",
                          (json_int_t)r->policy_version));
}

int cluster_reg_decode(const char *p, size_t n, struct cluster_reg *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_t *doc = load(p, n, CLUSTER_MAX_REG, "registration", err, errlen);
    if (!doc)
        return -1;
    const json_t *name = json_object_get(doc, "name");
    const json_t *boot = json_object_get(doc, "boot");
    int rc = -1;
    if (!json_is_string(name) ||
        !connid_name_is_valid(json_string_value(name), json_string_length(name)))
        errbuf_set(err, errlen, "registration: name: not a hub name");
    else if (!json_is_string(boot) ||
             cluster_boot_parse(json_string_value(boot), json_string_length(boot), &r->boot) < 0)
        errbuf_set(err, errlen, "registration: boot: not 16 hex digits");
    else if (count(doc, "uptime_s", &r->uptime_s, err, errlen) == 0 &&
             count(doc, "ttl_ms", &r->ttl_ms, err, errlen) == 0 &&
             count(doc, "refresh_ms", &r->refresh_ms, err, errlen) == 0 &&
             count(doc, "links", &r->links, err, errlen) == 0 &&
             count(doc, "edges", &r->edges, err, errlen) == 0 &&
             count(doc, "policy_version", &r->policy_version, err, errlen) == 0)
        rc = 0;
    if (rc == 0) {
        snprintf(r->name, sizeof r->name, "%s", json_string_value(name));
        text(r->version, sizeof r->version, json_object_get(doc, "version"));
        text(r->link, sizeof r->link, json_object_get(doc, "link"));
        text(r->http, sizeof r->http, json_object_get(doc, "http"));
        r->https = json_is_true(json_object_get(doc, "https"));
    }
    json_decref(doc);
    return rc;
}

static char *view_text(const json_t *edges, size_t nedges, const struct cluster_route *links,
                       size_t nlinks, int truncated)
{
    json_t *es = json_array(), *ls = json_array();
    for (size_t i = 0; i < nedges; i++)
        json_array_append(es, json_array_get(edges, i));
    for (size_t i = 0; i < nlinks; i++)
        json_array_append_new(ls,
                              json_pack("[s, I, I, I]", links[i].edge, (json_int_t)links[i].worker,
                                        (json_int_t)links[i].boot, (json_int_t)links[i].age_ms));
    json_t *doc = json_pack("{s:i, s:o, s:o}", "v", 1, "edges", es, "links", ls);
    if (truncated)
        json_object_set_new(doc, "truncated", json_true());
    return dump(doc);
}

char *cluster_view_encode(const struct http_edges *es, const struct cluster_route *links, size_t n,
                          size_t max)
{
    json_t *edges = http_edges_json(es);
    size_t nedges = json_array_size(edges), nlinks = n;
    char *t = view_text(edges, nedges, links, nlinks, 0);
    while (strlen(t) > max && (nedges || nlinks)) {
        free(t);
        nedges /= 2;
        nlinks /= 2;
        t = view_text(edges, nedges, links, nlinks, 1);
    }
    json_decref(edges);
    return t;
}

void cluster_view_free(struct cluster_view *v)
{
    for (size_t i = 0; i < v->nedges; i++)
        http_edge_deinit(&v->edges[i]);
    free(v->edges);
    free(v->links);
    memset(v, 0, sizeof *v);
}

static int decode_link(const json_t *l, struct cluster_route *out, char *err, size_t errlen)
{
    const json_t *edge = json_array_get(l, 0);
    const json_t *w = json_array_get(l, 1), *b = json_array_get(l, 2), *a = json_array_get(l, 3);
    if (!json_is_array(l) || !json_is_string(edge) ||
        !connid_name_is_valid(json_string_value(edge), json_string_length(edge)))
        return errbuf_set(err, errlen, "links: an entry without an edge name");
    if (!json_is_integer(w) || json_integer_value(w) < 0 ||
        json_integer_value(w) >= CONNID_WORKER_LIMIT || !json_is_integer(b) ||
        json_integer_value(b) < 0 || json_integer_value(b) > UINT32_MAX || !json_is_integer(a) ||
        json_integer_value(a) < 0)
        return errbuf_set(err, errlen, "links: a worker, boot or age out of range");
    snprintf(out->edge, sizeof out->edge, "%s", json_string_value(edge));
    out->worker = (uint32_t)json_integer_value(w);
    out->boot = (uint32_t)json_integer_value(b);
    out->age_ms = (uint64_t)json_integer_value(a);
    return 0;
}

static int decode_view(const json_t *doc, struct cluster_view *v, char *err, size_t errlen)
{
    const json_t *edges = json_object_get(doc, "edges"), *links = json_object_get(doc, "links");
    if (!json_is_array(edges) || json_array_size(edges) > CLUSTER_MAX_VIEW_EDGES)
        return errbuf_set(err, errlen, "edges: not an array of at most %d", CLUSTER_MAX_VIEW_EDGES);
    if (!json_is_array(links) || json_array_size(links) > CLUSTER_MAX_VIEW_LINKS)
        return errbuf_set(err, errlen, "links: not an array of at most %d", CLUSTER_MAX_VIEW_LINKS);
    v->truncated = json_is_true(json_object_get(doc, "truncated"));
    v->edges = xcalloc(json_array_size(edges) + 1, sizeof *v->edges);
    size_t i;
    json_t *x;
    json_array_foreach(edges, i, x)
    {
        if (http_edge_from_json(x, &v->edges[v->nedges], err, errlen) < 0)
            return -1;
        v->nedges++;
    }
    v->links = xcalloc(json_array_size(links) + 1, sizeof *v->links);
    json_array_foreach(links, i, x)
    {
        if (decode_link(x, &v->links[v->nlinks], err, errlen) < 0)
            return -1;
        v->nlinks++;
    }
    return 0;
}

int cluster_view_decode(const char *p, size_t n, struct cluster_view *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    json_t *doc = load(p, n, CLUSTER_MAX_VIEW, "view", err, errlen);
    if (!doc)
        return -1;
    int rc = decode_view(doc, v, err, errlen);
    json_decref(doc);
    if (rc < 0)
        cluster_view_free(v);
    return rc;
}
