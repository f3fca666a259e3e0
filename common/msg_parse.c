/* Parses and validates the messages clients send (protocol v1, msg.h), in
 * JSON text frames or msgpack binary frames. */
#include <jansson.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mpcheck.h"
#include "common/msg.h"
#include "common/policy.h"
#include "common/utf8.h"
#include "common/xalloc.h"

/* Longest op name quoted back in "unknown op '...'" (reason is 128 bytes). */
#define OP_ECHO_MAX 32
/* A scratch buffer grown past this by one large message is released at the
 * next parse, so a worker does not keep a peak-sized buffer forever. */
#define SCRATCH_KEEP_MAX (256 * 1024)

struct msg_parser {
    msgpack_zone zone;         /* msgpack-c objects of the current frame */
    struct buf scratch;        /* JSON: "data" re-serialised */
    struct buf render;         /* data rendered in the other encoding, to measure it */
    size_t budget;             /* render budget of data (msg_render_budget) */
    char topic[TOPIC_MAX_LEN]; /* JSON: copies, so the DOM can be freed at once */
    char to[CONN_ID_MAX_LEN];
    char method[RPC_METHOD_MAX];
};

struct msg_parser *msg_parser_new(void)
{
    struct msg_parser *p = xcalloc(1, sizeof *p);
    /* One 4 KiB chunk covers a typical message's objects (24 bytes each). */
    if (!msgpack_zone_init(&p->zone, 4096))
        goto fail;
    buf_init(&p->scratch);
    buf_init(&p->render);
    struct policy def;
    policy_defaults(&def);
    p->budget = msg_render_budget(def.max_message_bytes);
    return p;
fail:
    free(p);
    return NULL;
}

void msg_parser_free(struct msg_parser *p)
{
    if (!p)
        return;
    msgpack_zone_destroy(&p->zone);
    buf_deinit(&p->scratch);
    buf_deinit(&p->render);
    free(p);
}

void msg_parser_set_render_budget(struct msg_parser *p, size_t budget)
{
    p->budget = budget;
}

int epoch_is_valid(const char *e, size_t n)
{
    if (!e || n == 0 || n > EPOCH_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((e[i] >= '0' && e[i] <= '9') || (e[i] >= 'a' && e[i] <= 'z')))
            return 0;
    return 1;
}

int topic_is_valid(const char *t, size_t n)
{
    /* [A-Za-z0-9._:/-] */
    static const uint8_t ok[256] = {
        ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
        ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1,
        ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
        ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
        ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,
        ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
        ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
        ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
        ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };

    if (!t || n == 0 || n > TOPIC_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ok[(uint8_t)t[i]])
            return 0;
    return 1;
}

/* ---- the encoding-independent part: both decoders reduce the message to
 * the few fields the protocol names, then one function applies the rules. */

enum field_kind { F_ABSENT = 0, F_STR, F_INT, F_OTHER };

struct field {
    enum field_kind kind;
    const char *s; /* F_STR */
    size_t len;
    int64_t i; /* F_INT */
};

struct fields {
    struct field op, topic, to, id, method;
    int has_data;
    /* "since": 0 absent, 1 an object (a msgpack map: its seq and epoch
     * below), -1 anything else */
    int since;
    struct field since_seq, since_epoch;
};

static int fail(struct msg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct msg_error *err, const char *fmt, ...)
{
    va_list ap;
    err->code = CODE_BAD_REQUEST;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return -1;
}

/* "unknown op 'x'", with x cut to OP_ECHO_MAX bytes at a UTF-8 boundary (the
 * reason goes back to the client as a string and must stay valid UTF-8) and
 * control characters shown as '?' (a NUL would end the C string). */
static int fail_unknown_op(struct msg_error *err, const char *op, size_t len)
{
    char shown[OP_ECHO_MAX + 1];
    size_t n = len;
    int cut = 0;

    if (n > OP_ECHO_MAX) {
        n = OP_ECHO_MAX;
        while (n > 0 && ((uint8_t)op[n] & 0xc0) == 0x80)
            n--; /* op[n] continues a sequence: cut before its lead byte */
        cut = 1;
    }
    for (size_t i = 0; i < n; i++)
        shown[i] = (uint8_t)op[i] < 0x20 || op[i] == 0x7f ? '?' : op[i];
    shown[n] = '\0';
    return fail(err, "unknown op '%s%s'", shown, cut ? "..." : "");
}

static int op_lookup(const char *s, size_t n, enum msg_op *op)
{
    static const struct {
        const char *name;
        size_t len;
        enum msg_op op;
    } ops[] = {
        {"pub", 3, OP_PUB},   {"sub", 3, OP_SUB},   {"unsub", 5, OP_UNSUB},
        {"send", 4, OP_SEND}, {"ping", 4, OP_PING}, {"rpc", 3, OP_RPC},
    };

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (n == ops[i].len && memcmp(s, ops[i].name, n) == 0) {
            *op = ops[i].op;
            return 0;
        }
    }
    return -1;
}

/* Records a readable integer id in err as early as possible, so that even a
 * message refused for another reason gets a reply carrying its id. */
static void note_id(const struct field *id, struct msg_error *err)
{
    if (id->kind == F_INT) {
        err->has_id = 1;
        err->id = id->i;
    }
}

/* Applies the protocol's field rules; fills everything in out but data. */
static int fields_check(const struct fields *f, struct client_msg *out, struct msg_error *err)
{
    note_id(&f->id, err);
    if (f->id.kind == F_INT) {
        out->has_id = 1;
        out->id = f->id.i;
    } else if (f->id.kind != F_ABSENT) {
        return fail(err, "id must be an integer");
    }

    if (f->op.kind == F_ABSENT)
        return fail(err, "missing op");
    if (f->op.kind != F_STR)
        return fail(err, "op must be a string");
    if (op_lookup(f->op.s, f->op.len, &out->op) < 0)
        return fail_unknown_op(err, f->op.s, f->op.len);

    if (out->op == OP_PING)
        return 0; /* an application-level keepalive: no other field */
    if (out->op == OP_RPC) {
        /* Answered by the app's backend (docs/hooks.md): the reply needs
         * the id to find its request. */
        if (!out->has_id)
            return fail(err, "rpc needs an id");
        if (f->method.kind == F_ABSENT)
            return fail(err, "missing method");
        if (f->method.kind != F_STR || f->method.len > RPC_METHOD_MAX ||
            !topic_is_valid(f->method.s, f->method.len))
            return fail(err, "invalid method");
        out->method = f->method.s;
        out->method_len = f->method.len;
        return 0;
    }
    if (out->op == OP_SEND) {
        if (f->to.kind == F_ABSENT)
            return fail(err, "missing to");
        if (f->to.kind != F_STR || f->to.len == 0 || f->to.len > CONN_ID_MAX_LEN)
            return fail(err, "invalid to");
        out->to = f->to.s;
        out->to_len = f->to.len;
    } else {
        if (f->topic.kind == F_ABSENT)
            return fail(err, "missing topic");
        if (f->topic.kind != F_STR || !topic_is_valid(f->topic.s, f->topic.len))
            return fail(err, "invalid topic");
        out->topic = f->topic.s;
        out->topic_len = f->topic.len;
    }
    if ((out->op == OP_PUB || out->op == OP_SEND) && !f->has_data)
        return fail(err, "missing data");
    if (out->op == OP_SUB && f->since) {
        if (f->since < 0 || f->since_seq.kind != F_INT || f->since_seq.i < 0 ||
            f->since_epoch.kind != F_STR || !epoch_is_valid(f->since_epoch.s, f->since_epoch.len))
            return fail(err, "invalid since: expected {\"seq\":N,\"epoch\":\"...\"}");
        out->has_since = 1;
        out->since_seq = (uint64_t)f->since_seq.i;
        memcpy(out->since_epoch, f->since_epoch.s, f->since_epoch.len);
        out->since_epoch[f->since_epoch.len] = '\0';
    }
    return 0;
}

/* The publisher's side of the render budget (msg.h): data whose rendering
 * in either encoding would pass the budget is refused here, with a reason
 * the client can act on, rather than dropped by every receiving edge. Data
 * no longer than budget / ratio cannot pass it and is not rendered; longer
 * data is rendered into p->render once (work and memory bounded by len plus
 * the budget) and the rendering discarded. */
static int data_within_budget(struct msg_parser *p, enum enc enc, const uint8_t *data, size_t len,
                              struct msg_error *err)
{
    const char *other = enc == ENC_MSGPACK ? "JSON" : "msgpack";
    size_t ratio = enc == ENC_MSGPACK ? TRANSCODE_JSON_MAX_RATIO : TRANSCODE_MSGPACK_MAX_RATIO;
    int rc = MSG_DATA_OK;

    if (len > p->budget) {
        other = enc == ENC_MSGPACK ? "msgpack" : "JSON"; /* its own encoding */
        rc = MSG_DATA_OVER_BUDGET;
    } else if (len > p->budget / ratio) {
        buf_reset(&p->render);
        rc = enc == ENC_MSGPACK ? transcode_msgpack_to_json(data, len, p->budget, &p->render)
                                : transcode_json_to_msgpack(data, len, p->budget, &p->render);
        buf_reset(&p->render);
    }
    if (rc == MSG_DATA_OVER_BUDGET)
        return fail(err, "data too large: over %zu bytes as %s", p->budget, other);
    if (rc < 0)
        return fail(err, "data has no %s form", other);
    return 0;
}

/* ---- JSON */

static void json_field(json_t *root, const char *key, size_t key_len, struct field *f)
{
    json_t *v = json_object_getn(root, key, key_len);

    if (!v) {
        f->kind = F_ABSENT;
    } else if (json_is_string(v)) {
        f->kind = F_STR;
        f->s = json_string_value(v);
        f->len = json_string_length(v);
    } else if (json_is_integer(v)) {
        f->kind = F_INT; /* jansson's json_int_t is long long: exactly int64 */
        f->i = json_integer_value(v);
    } else {
        f->kind = F_OTHER;
    }
}

/* 1 if no path in v has more than `room` containers, empty ones included
 * (the count mp_check and msgpack-c use), so the payload transcodes to
 * msgpack that our own parser would accept. */
static int json_depth_ok(json_t *v, unsigned room)
{
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (room == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!json_depth_ok(json_array_get(v, i), room - 1))
                return 0;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        if (room == 0)
            return 0;
        json_object_foreach(v, k, e) if (!json_depth_ok(e, room - 1)) return 0;
    }
    return 1;
}

/* jansson refuses integers outside int64 with a numeric overflow error and
 * no document. When that happens, parse again with every number read as a
 * double (only on this error path): if the overflowing number is the "id",
 * say so, as a msgpack id out of range would. */
static int json_overflow_reason(const uint8_t *frame, size_t len, struct msg_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(
        (const char *)frame, len,
        JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    json_t *id = root && json_is_object(root) ? json_object_get(root, "id") : NULL;
    /* 2^63 is exactly representable, and every double at or above it is
     * outside int64. Below, -2^63 - 1 rounds to -2^63 itself, so -2^63 is
     * taken as the overflow too: the only misreport is an id of exactly
     * INT64_MIN in a message whose overflow is elsewhere (still a 400). */
    int id_overflow = id && json_is_real(id) &&
                      (json_real_value(id) >= 9223372036854775808.0 ||
                       json_real_value(id) <= -9223372036854775808.0);
    json_decref(root);
    return fail(err, id_overflow ? "id must be an integer" : "number out of range");
}

static int parse_json(struct msg_parser *p, const uint8_t *frame, size_t len,
                      struct client_msg *out, struct msg_error *err)
{
    json_error_t je;
    struct fields f;
    int rc = -1;

    /* JSON_DECODE_ANY so that a top-level scalar gets the precise "must be
     * an object" reason; JSON_ALLOW_NUL because "\u0000" is valid JSON in a
     * payload string (fields are compared with their lengths). */
    json_t *root = json_loadb((const char *)frame, len,
                              JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        switch (json_error_code(&je)) {
        case json_error_duplicate_key: return fail(err, "duplicate key");
        case json_error_numeric_overflow: return json_overflow_reason(frame, len, err);
        case json_error_stack_overflow: return fail(err, "nesting too deep");
        default: return fail(err, "malformed JSON");
        }
    }
    if (!json_is_object(root)) {
        fail(err, "message must be an object");
        goto done;
    }

    memset(&f, 0, sizeof f);
    json_field(root, "op", 2, &f.op);
    json_field(root, "topic", 5, &f.topic);
    json_field(root, "to", 2, &f.to);
    json_field(root, "method", 6, &f.method);
    json_field(root, "id", 2, &f.id);
    json_t *data = json_object_getn(root, "data", 4);
    f.has_data = data != NULL;
    json_t *since = json_object_getn(root, "since", 5);
    if (since) {
        f.since = json_is_object(since) ? 1 : -1;
        if (f.since > 0) {
            json_field(since, "seq", 3, &f.since_seq);
            json_field(since, "epoch", 5, &f.since_epoch);
        }
    }
    if (fields_check(&f, out, err) < 0)
        goto done;

    /* The strings live in the DOM, which is freed below: copy them (their
     * lengths are bounded by fields_check). */
    if (out->topic) {
        memcpy(p->topic, out->topic, out->topic_len);
        out->topic = p->topic;
    }
    if (out->to) {
        memcpy(p->to, out->to, out->to_len);
        out->to = p->to;
    }
    if (out->method) {
        memcpy(p->method, out->method, out->method_len);
        out->method = p->method;
    }
    if (out->op == OP_RPC && !data) {
        static const uint8_t null_json[] = "null";
        out->data = null_json;
        out->data_len = 4;
    }

    if (out->op == OP_PUB || out->op == OP_SEND || (out->op == OP_RPC && data)) {
        /* The envelope is one level: data gets the rest of MP_MAX_DEPTH. */
        if (!json_depth_ok(data, MSG_DATA_MAX_DEPTH)) {
            fail(err, "nesting too deep");
            goto done;
        }
        const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
        struct buf *s = &p->scratch;
        /* The compact form is rarely longer than the frame (reals may grow
         * to 17 digits): reserving that much usually means one dump. */
        buf_reserve(s, len + 64);
        size_t n = json_dumpb(data, (char *)buf_tail(s), buf_writable(s), flags);
        if (n > buf_writable(s)) { /* did not fit: grow once and dump again */
            buf_reserve(s, n);
            n = json_dumpb(data, (char *)buf_tail(s), buf_writable(s), flags);
        }
        if (n == 0 || n > buf_writable(s)) {
            fail(err, "malformed JSON"); /* jansson could not serialise it */
            goto done;
        }
        buf_commit(s, n);
        out->data = buf_head(s);
        out->data_len = n;
        if (data_within_budget(p, ENC_JSON, out->data, n, err) < 0)
            goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- msgpack */

enum { K_OP, K_TOPIC, K_TO, K_ID, K_DATA, K_SINCE, K_METHOD, K_COUNT };
static const char *const key_names[K_COUNT] = {"op",   "topic", "to",    "id",
                                               "data", "since", "method"};

/* The value of str key `name` in map o, or NULL (the first one: a
 * position's own keys are not checked for repeats). */
static const msgpack_object *mp_map_get(const msgpack_object *o, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, name, n) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

static int mp_key_index(const msgpack_object_str *k)
{
    for (int i = 0; i < K_COUNT; i++)
        if (k->size == strlen(key_names[i]) && memcmp(k->ptr, key_names[i], k->size) == 0)
            return i;
    return -1;
}

static void mp_field(const msgpack_object *o, struct field *f)
{
    if (!o) {
        f->kind = F_ABSENT;
    } else if (o->type == MSGPACK_OBJECT_STR) {
        f->kind = F_STR;
        f->s = o->via.str.ptr;
        f->len = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        f->kind = F_INT;
        f->i = o->via.i64;
    } else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        f->kind = F_INT;
        f->i = (int64_t)o->via.u64;
    } else {
        f->kind = F_OTHER; /* includes uint64 above INT64_MAX */
    }
}

/* 1 if every str in o (keys and values, at any depth) is valid UTF-8.
 * Recursion depth is bounded by mp_check's MP_MAX_DEPTH. */
static int mp_strs_valid(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR: return utf8_is_valid((const uint8_t *)o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!mp_strs_valid(&o->via.array.ptr[i]))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!mp_strs_valid(&o->via.map.ptr[i].key) || !mp_strs_valid(&o->via.map.ptr[i].val))
                return 0;
        return 1;
    default: return 1;
    }
}

/* 1 if a map key anywhere in o is a map or an array: such a key has no JSON
 * form (msg.h). Same recursion bound as mp_strs_valid. */
static int mp_has_container_key(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (mp_has_container_key(&o->via.array.ptr[i]))
                return 1;
        return 0;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_MAP || k->type == MSGPACK_OBJECT_ARRAY ||
                mp_has_container_key(&o->via.map.ptr[i].val))
                return 1;
        }
        return 0;
    default: return 0;
    }
}

/* Finds the bytes of the value of entry `idx` of the top-level map, so data
 * is handed on as the client's own bytes (no re-pack). Each skipped object
 * is walked once by mp_object_len: linear in the bytes before the value. */
static int mp_value_span(const uint8_t *frame, size_t len, uint32_t idx, const uint8_t **v,
                         size_t *vlen)
{
    size_t pos;
    uint8_t b = frame[0];

    if (b >= 0x80 && b <= 0x8f)
        pos = 1; /* fixmap */
    else if (b == 0xde)
        pos = 3; /* map16 */
    else if (b == 0xdf)
        pos = 5; /* map32 */
    else
        return -1;
    for (uint64_t i = 0; i <= 2 * (uint64_t)idx + 1; i++) {
        long n = mp_object_len(frame + pos, len - pos, MP_MAX_DEPTH);
        if (n <= 0)
            return -1;
        if (i == 2 * (uint64_t)idx + 1) {
            *v = frame + pos;
            *vlen = (size_t)n;
            return 0;
        }
        pos += (size_t)n;
    }
    return -1;
}

static int parse_msgpack(struct msg_parser *p, const uint8_t *frame, size_t len,
                         struct client_msg *out, struct msg_error *err)
{
    msgpack_object root;
    size_t off = 0;
    int rc = -1;

    /* msgpack-c allocates what headers declare (LIBRARIES.md section 5):
     * nothing reaches it before mp_check has proved every size fits. */
    if (!frame || mp_check(frame, len, MP_MAX_DEPTH) < 0)
        return fail(err, "malformed msgpack");
    if (msgpack_unpack((const char *)frame, len, &off, &p->zone, &root) != MSGPACK_UNPACK_SUCCESS) {
        fail(err, "malformed msgpack");
        goto done;
    }
    if (root.type != MSGPACK_OBJECT_MAP) {
        fail(err, "message must be a map");
        goto done;
    }

    const msgpack_object *val[K_COUNT] = {0};
    uint32_t data_idx = 0;
    int bad_key = 0, dup = -1;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        const msgpack_object_kv *kv = &root.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            bad_key = 1;
            continue;
        }
        int k = mp_key_index(&kv->key.via.str);
        if (k < 0)
            continue; /* unknown keys are ignored (forward compatibility) */
        if (val[k]) {
            dup = k; /* a repeated key is ambiguous: refuse it, as for JSON */
            continue;
        }
        val[k] = &kv->val;
        if (k == K_DATA)
            data_idx = i;
    }

    struct fields f;
    memset(&f, 0, sizeof f);
    mp_field(val[K_OP], &f.op);
    mp_field(val[K_TOPIC], &f.topic);
    mp_field(val[K_TO], &f.to);
    mp_field(val[K_METHOD], &f.method);
    mp_field(val[K_ID], &f.id);
    f.has_data = val[K_DATA] != NULL;
    if (val[K_SINCE]) {
        f.since = val[K_SINCE]->type == MSGPACK_OBJECT_MAP ? 1 : -1;
        if (f.since > 0) {
            mp_field(mp_map_get(val[K_SINCE], "seq"), &f.since_seq);
            mp_field(mp_map_get(val[K_SINCE], "epoch"), &f.since_epoch);
        }
    }
    if (dup != K_ID)
        note_id(&f.id, err);

    if (bad_key) {
        fail(err, "map keys must be strings");
        goto done;
    }
    if (dup >= 0) {
        fail(err, "duplicate key '%s'", key_names[dup]);
        goto done;
    }
    if (!mp_strs_valid(&root)) {
        fail(err, "invalid UTF-8 in string");
        goto done;
    }
    if (fields_check(&f, out, err) < 0)
        goto done;
    /* topic and to point into frame (msgpack-c does not copy str bodies). */
    if (out->op == OP_RPC && !val[K_DATA]) {
        static const uint8_t nil[] = {0xc0};
        out->data = nil;
        out->data_len = 1;
    }
    if (out->op == OP_PUB || out->op == OP_SEND || (out->op == OP_RPC && val[K_DATA])) {
        if (mp_value_span(frame, len, data_idx, &out->data, &out->data_len) < 0) {
            fail(err, "malformed msgpack");
            goto done;
        }
        if (mp_has_container_key(val[K_DATA])) {
            fail(err, "data has a map or array as a map key, which has no JSON form");
            goto done;
        }
        if (data_within_budget(p, ENC_MSGPACK, out->data, out->data_len, err) < 0)
            goto done;
    }
    rc = 0;
done:
    /* Releases every chunk but the first: a large frame's objects do not
     * stay pinned until the next message. Nothing in *out points into it. */
    msgpack_zone_clear(&p->zone);
    return rc;
}

int msg_parse(struct msg_parser *p, enum enc enc, const uint8_t *frame, size_t len,
              struct client_msg *out, struct msg_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);

    buf_reset(&p->scratch);
    if (p->scratch.cap > SCRATCH_KEEP_MAX)
        buf_deinit(&p->scratch);
    if (p->render.cap > SCRATCH_KEEP_MAX)
        buf_deinit(&p->render);

    if (enc == ENC_MSGPACK)
        return parse_msgpack(p, frame, len, out, err);
    return parse_json(p, frame, len, out, err);
}
