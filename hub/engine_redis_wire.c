/* The redis engine's keys, scripts and replies (see engine_redis_wire.h). */
#include "hub/engine_redis_wire.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "common/enc.h"

/* ---- the scripts
 *
 * Redis runs each atomically, so the seq a publish takes, its place in the
 * stream and its PUBLISH on the channel are one step for every hub. Every
 * number that goes back into a command is formatted with %d: Lua 5.1 would
 * print one above 1e14 in exponent form. Entry fields start with t, the
 * publish time, so that the age trim finds it at [2][2]. */

static const char prelude[] =
    "local function now_ms()\n"
    "  local t = redis.call('TIME')\n"
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local function seq_of(id)\n"
    "  return tonumber(string.match(id, '^(%d+)-'))\n"
    "end\n"
    /* Entries older than age (ms) are at the stream's front, in seq order,
     * and seqs have no holes: a binary search over seqs finds the first
     * young one, and XTRIM MINID drops the rest. */
    "local function trim_age(k, age, now)\n"
    "  if age <= 0 then return end\n"
    "  local cut = (now or now_ms()) - age\n"
    "  local head = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)\n"
    "  if #head == 0 or tonumber(head[1][2][2]) >= cut then return end\n"
    "  local tail = redis.call('XREVRANGE', k, '+', '-', 'COUNT', 1)\n"
    "  if tonumber(tail[1][2][2]) < cut then\n"
    "    redis.call('DEL', k)\n"
    "    return\n"
    "  end\n"
    "  local lo, hi = seq_of(head[1][1]), seq_of(tail[1][1])\n"
    "  while hi - lo > 1 do\n"
    "    local mid = math.floor((lo + hi) / 2)\n"
    "    local id = string.format('%d-0', mid)\n"
    "    local e = redis.call('XRANGE', k, id, id)\n"
    "    if #e == 0 or tonumber(e[1][2][2]) < cut then lo = mid else hi = mid end\n"
    "  end\n"
    "  redis.call('XTRIM', k, 'MINID', string.format('%d-0', hi))\n"
    "end\n"
    /* An expiring key lives at least ttl more; a lasting one stays so. */
    "local function touch(k, ttl)\n"
    "  if ttl <= 0 then return end\n"
    "  local p = redis.call('PTTL', k)\n"
    "  if p >= 0 and p < ttl then redis.call('PEXPIRE', k, ttl) end\n"
    "end\n";

/* With a third key (the publish's own record, PREFIX:p:ORIGIN:PUB_ID),
 * a publish recorded there is answered with the position it was ordered
 * at, plus a third element 1, and nothing else is done; a new one is
 * ordered and its position recorded there for keep ms. */
static const char publish_body[] =
    "local meta, hist, pubk = KEYS[1], KEYS[2], KEYS[3]\n"
    "if pubk then\n"
    "  local had = redis.call('GET', pubk)\n"
    "  if had then\n"
    "    local e0, s0 = string.match(had, '^([0-9a-z]+):(%d+)$')\n"
    "    if e0 then return {e0, tonumber(s0), 1} end\n"
    "  end\n"
    "end\n"
    "local e = redis.call('HGET', meta, 'e')\n"
    "if not e then\n"
    "  e = ARGV[2]\n"
    "  redis.call('DEL', hist)\n"
    "  redis.call('HSET', meta, 'e', e)\n"
    "end\n"
    "local s = redis.call('HINCRBY', meta, 's', 1)\n"
    "local sid = string.format('%d', s)\n"
    "local count, age, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "if count > 0 then\n"
    "  local now = now_ms()\n"
    "  redis.call('XADD', hist, 'MAXLEN', string.format('%d', count), sid .. '-0',\n"
    "             't', string.format('%d', now), 'f', ARGV[6], 'u', ARGV[7],\n"
    "             'n', ARGV[8], 'd', ARGV[9])\n"
    "  if age > 0 then\n"
    "    redis.call('PEXPIRE', hist, string.format('%d', age))\n"
    "    trim_age(hist, age, now)\n"
    "  else\n"
    "    redis.call('PERSIST', hist)\n"
    "  end\n"
    "else\n"
    "  redis.call('DEL', hist)\n"
    "end\n"
    "if ttl > 0 then\n"
    "  if redis.call('PTTL', meta) < ttl then\n"
    "    redis.call('PEXPIRE', meta, string.format('%d', ttl))\n"
    "  end\n"
    "else\n"
    "  redis.call('PERSIST', meta)\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[1], e .. ':' .. sid .. ':' .. ARGV[8] .. ':' ..\n"
    "           string.format('%d:%d:', #ARGV[6], #ARGV[7]) .. ARGV[6] .. ARGV[7] .. ARGV[9])\n"
    "if pubk then redis.call('SET', pubk, e .. ':' .. sid, 'PX', ARGV[10]) end\n"
    "return {e, s}\n";

static const char read_body[] =
    "local meta, hist = KEYS[1], KEYS[2]\n"
    "local st = redis.call('HMGET', meta, 'e', 's')\n"
    "local e, s, flags = st[1], tonumber(st[2]) or 0, 0\n"
    "local since_e, since = ARGV[3], tonumber(ARGV[4])\n"
    "if e and ARGV[7] == '1' and since_e == e and since > s then\n"
    "  e = false\n"
    "  flags = 2\n"
    "end\n"
    "if not e then\n"
    "  if ARGV[1] == '' then return {false, 0, 1, flags, {}} end\n"
    "  e, s = ARGV[1], 0\n"
    "  flags = flags + 1\n"
    "  redis.call('DEL', hist)\n"
    "  redis.call('HSET', meta, 'e', e, 's', 0)\n"
    "  local ttl = tonumber(ARGV[2])\n"
    "  if ttl > 0 then redis.call('PEXPIRE', meta, string.format('%d', ttl)) end\n"
    "elseif ARGV[1] ~= '' then\n"
    "  touch(meta, tonumber(ARGV[2]))\n"
    "end\n"
    "trim_age(hist, tonumber(ARGV[6]))\n"
    "local first = s + 1\n"
    "local head = redis.call('XRANGE', hist, '-', '+', 'COUNT', 1)\n"
    "if #head > 0 then first = seq_of(head[1][1]) end\n"
    "local entries = {}\n"
    "if since_e == e and since < s and since + 1 >= first then\n"
    "  entries = redis.call('XRANGE', hist, string.format('%d-0', since + 1), '+',\n"
    "                       'COUNT', ARGV[5])\n"
    "end\n"
    "return {e, s, first, flags, entries}\n";

static const char touch_body[] = "touch(KEYS[1], tonumber(ARGV[1]))\n"
                                 "return 1\n";

static char texts[REDIS_SCRIPTS][sizeof prelude + sizeof publish_body + sizeof read_body];
static char shas[REDIS_SCRIPTS][41];

static void make_scripts(void)
{
    static const char *const bodies[REDIS_SCRIPTS] = {publish_body, read_body, touch_body};
    if (shas[0][0])
        return;
    for (int i = 0; i < REDIS_SCRIPTS; i++) {
        snprintf(texts[i], sizeof texts[i], "%s%s", prelude, bodies[i]);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_Digest(texts[i], strlen(texts[i]), md, &n, EVP_sha1(), NULL);
        for (unsigned k = 0; k < n && k < 20; k++)
            snprintf(&shas[i][2 * k], 3, "%02x", md[k]);
    }
}

const char *redis_script_text(enum redis_script s)
{
    make_scripts();
    return texts[s];
}

const char *redis_script_sha(enum redis_script s)
{
    make_scripts();
    return shas[s];
}

/* ---- names --------------------------------------------------------------- */

void redis_wire_key(struct buf *out, const char *prefix, char kind, struct link_str topic)
{
    buf_printf(out, "%s:%c:{", prefix, kind);
    buf_append(out, topic.ptr, topic.len);
    buf_append(out, "}", 1);
}

void redis_wire_pub_key(struct buf *out, const char *prefix, struct link_str topic,
                        struct link_str name, uint32_t worker, uint64_t boot, uint64_t pub_id)
{
    redis_wire_key(out, prefix, 'p', topic);
    buf_append(out, ":", 1);
    buf_append(out, name.ptr, name.len);
    buf_printf(out, ":%u:%08llx:%llu", worker, (unsigned long long)boot,
               (unsigned long long)pub_id);
}

int redis_wire_channel_topic(const char *prefix, const char *ch, size_t len, struct link_str *topic)
{
    size_t pl = strlen(prefix);
    if (len < pl + 6 || memcmp(ch, prefix, pl) != 0 || memcmp(ch + pl, ":c:{", 4) != 0 ||
        ch[len - 1] != '}')
        return -1;
    topic->ptr = ch + pl + 4;
    topic->len = (uint32_t)(len - pl - 5);
    return 0;
}

/* ---- numbers and epochs ------------------------------------------------------ */

int redis_wire_u64(const char *s, size_t n, uint64_t *v)
{
    if (!n || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int redis_wire_epoch_ok(const char *s, size_t n)
{
    if (!n || n > LINK_MAX_EPOCH)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

/* The field up to the next ':' from *p (at most end); moves *p past it. */
static int field(const char **p, const char *end, const char **f, size_t *n)
{
    const char *colon = memchr(*p, ':', (size_t)(end - *p));
    if (!colon)
        return -1;
    *f = *p;
    *n = (size_t)(colon - *p);
    *p = colon + 1;
    return 0;
}

static int number_field(const char **p, const char *end, uint64_t *v)
{
    const char *f;
    size_t n;
    return field(p, end, &f, &n) < 0 ? -1 : redis_wire_u64(f, n, v);
}

/* ---- messages -------------------------------------------------------------- */

int redis_wire_decode_live(const char *p, size_t n, struct redis_wire_msg *m)
{
    const char *end = p + n, *e;
    size_t elen;
    uint64_t enc, flen, ulen;
    memset(m, 0, sizeof *m);
    if (field(&p, end, &e, &elen) < 0 || !redis_wire_epoch_ok(e, elen) ||
        number_field(&p, end, &m->seq) < 0 || !m->seq || number_field(&p, end, &enc) < 0 ||
        enc >= ENC_COUNT || number_field(&p, end, &flen) < 0 || flen > LINK_MAX_CONN_ID ||
        number_field(&p, end, &ulen) < 0 || ulen > LINK_MAX_USER ||
        flen + ulen > (uint64_t)(end - p) || (uint64_t)(end - p) > LINK_MAX_MESSAGE)
        return -1;
    m->epoch = (struct link_str){e, (uint32_t)elen};
    m->enc = (uint8_t)enc;
    m->from = (struct link_str){p, (uint32_t)flen};
    m->user = (struct link_str){p + flen, (uint32_t)ulen};
    m->data = (struct link_str){p + flen + ulen, (uint32_t)(end - p - flen - ulen)};
    return 0;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int redis_wire_decode_entry(const redisReply *r, struct redis_wire_msg *m)
{
    memset(m, 0, sizeof *m);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]))
        return -1;
    const redisReply *id = r->element[0], *f = r->element[1];
    const char *dash = memchr(id->str, '-', id->len);
    if (!dash || redis_wire_u64(id->str, (size_t)(dash - id->str), &m->seq) < 0 || !m->seq)
        return -1;
    if (f->type != REDIS_REPLY_ARRAY || f->elements % 2)
        return -1;
    unsigned seen = 0;
    for (size_t i = 0; i < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (!is_str(k) || !is_str(v) || k->len != 1)
            return -1;
        struct link_str s = {v->str, (uint32_t)v->len};
        uint64_t x;
        switch (k->str[0]) {
        case 't':
            if (redis_wire_u64(v->str, v->len, &m->time_ms) < 0)
                return -1;
            break;
        case 'f':
            if (v->len > LINK_MAX_CONN_ID)
                return -1;
            m->from = s;
            seen |= 1;
            break;
        case 'u':
            if (v->len > LINK_MAX_USER)
                return -1;
            m->user = s;
            seen |= 2;
            break;
        case 'n':
            if (redis_wire_u64(v->str, v->len, &x) < 0 || x >= ENC_COUNT)
                return -1;
            m->enc = (uint8_t)x;
            seen |= 4;
            break;
        case 'd':
            if (v->len > LINK_MAX_MESSAGE)
                return -1;
            m->data = s;
            seen |= 8;
            break;
        default: break; /* a field a newer hub added */
        }
    }
    return seen == 15 ? 0 : -1;
}

static int to_u64(const redisReply *r, uint64_t *v)
{
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        *v = (uint64_t)r->integer;
        return 0;
    }
    return -1;
}

int redis_wire_publish_reply(const redisReply *r, struct link_str *epoch, uint64_t *seq,
                             int *repeated)
{
    uint64_t flag = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements > 3 ||
        !is_str(r->element[0]) || !redis_wire_epoch_ok(r->element[0]->str, r->element[0]->len) ||
        to_u64(r->element[1], seq) < 0 || !*seq ||
        (r->elements == 3 && (to_u64(r->element[2], &flag) < 0 || flag != 1)))
        return -1;
    *repeated = r->elements == 3;
    *epoch = (struct link_str){r->element[0]->str, (uint32_t)r->element[0]->len};
    return 0;
}

int redis_wire_read_reply(const redisReply *r, struct redis_wire_read *out)
{
    memset(out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return -1;
    const redisReply *e = r->element[0];
    uint64_t flags;
    if (e->type != REDIS_REPLY_NIL) {
        if (!is_str(e) || !redis_wire_epoch_ok(e->str, e->len))
            return -1;
        out->epoch = (struct link_str){e->str, (uint32_t)e->len};
    }
    if (to_u64(r->element[1], &out->seq) < 0 || to_u64(r->element[2], &out->first) < 0 ||
        to_u64(r->element[3], &flags) < 0 || r->element[4]->type != REDIS_REPLY_ARRAY)
        return -1;
    if (out->epoch.len && (out->first < 1 || out->first > out->seq + 1))
        return -1;
    out->flags = (unsigned)flags;
    out->entries = r->element[4];
    return 0;
}
