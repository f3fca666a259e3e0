/* libFuzzer driver for the payload functions of common/msg.h:
 * transcode_json_to_msgpack, transcode_msgpack_to_json and msg_data_check.
 * Every input is tried in both directions and as spliced data in both
 * encodings. What a transcoder produces must be valid in the target
 * encoding, no longer than the proved ratio times the input (7 for msgpack
 * -> JSON, 3 for JSON -> msgpack) nor than the budget it was given, and a
 * failure must leave the output buffer as it was. What msg_data_check
 * accepts, spliced into a message, must leave the message one object with
 * one key: no injection. */
#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/mpcheck.h"
#include "common/msg.h"
#include "tests/fuzz/fuzz_check.h"

/* Bytes already in the output buffer: a transcoder appends after them and
 * must not touch them, success or failure. */
static const char prefix[] = "prefix";
#define PREFIX_LEN (sizeof prefix - 1)

static void buf_with_prefix(struct buf *b)
{
    buf_init(b);
    buf_append(b, prefix, PREFIX_LEN);
}

typedef int (*transcode_fn)(const uint8_t *, size_t, size_t, struct buf *);

/* Runs fn with `budget` after the prefix; checks the prefix survived and that
 * a failure wrote nothing, a success at most `budget` bytes. Returns the
 * result; *out holds the prefix and the rendering. */
static int run(transcode_fn fn, const uint8_t *data, size_t size, size_t budget, struct buf *out)
{
    buf_with_prefix(out);
    int rc = fn(data, size, budget, out);
    FUZZ_CHECK(buf_readable(out) >= PREFIX_LEN && memcmp(buf_head(out), prefix, PREFIX_LEN) == 0);
    FUZZ_CHECK(rc == MSG_DATA_OK || rc == MSG_DATA_INVALID || rc == MSG_DATA_OVER_BUDGET);
    if (rc < 0)
        FUZZ_CHECK(buf_readable(out) == PREFIX_LEN);
    else
        FUZZ_CHECK(buf_readable(out) - PREFIX_LEN <= budget);
    return rc;
}

/* The budget property, given the unbounded result (rc, len): a budget of at
 * least len gives the same bytes, one below gives OVER_BUDGET; invalid input
 * is never accepted under a budget. */
static void check_budgets(transcode_fn fn, const uint8_t *data, size_t size, int rc,
                          const struct buf *full)
{
    size_t len = buf_readable(full) - PREFIX_LEN;
    size_t budgets[] = {len, len ? len - 1 : 0, size, size / 2, 0};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        struct buf out;
        int r = run(fn, data, size, budgets[i], &out);
        if (rc == MSG_DATA_INVALID) {
            FUZZ_CHECK(r != MSG_DATA_OK);
        } else if (len <= budgets[i]) {
            FUZZ_CHECK(r == MSG_DATA_OK);
            FUZZ_CHECK(buf_readable(&out) == buf_readable(full) &&
                       memcmp(buf_head(&out), buf_head(full), buf_readable(full)) == 0);
        } else {
            FUZZ_CHECK(r == MSG_DATA_OVER_BUDGET);
        }
        buf_deinit(&out);
    }
}

static void json_to_msgpack(const uint8_t *data, size_t size)
{
    struct buf out;
    int rc = run(transcode_json_to_msgpack, data, size, SIZE_MAX, &out);
    FUZZ_CHECK(rc != MSG_DATA_OVER_BUDGET);
    check_budgets(transcode_json_to_msgpack, data, size, rc, &out);
    if (rc < 0) {
        buf_deinit(&out);
        return;
    }
    const uint8_t *mp = buf_head(&out) + PREFIX_LEN;
    size_t n = buf_readable(&out) - PREFIX_LEN;
    FUZZ_CHECK(n <= TRANSCODE_MSGPACK_MAX_RATIO * size);
    /* Our own guard accepts it, as a payload too, so msgpack-c may see it,
     * and unpacks it. */
    FUZZ_CHECK(mp_check(mp, n, MSG_DATA_MAX_DEPTH) == 0);
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
    FUZZ_CHECK(msgpack_unpack((const char *)mp, n, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == n);
    msgpack_zone_destroy(&zone);
    /* And it comes back as JSON. */
    struct buf back = BUF_INIT;
    FUZZ_CHECK(transcode_msgpack_to_json(mp, n, SIZE_MAX, &back) == MSG_DATA_OK);
    buf_deinit(&back);
    buf_deinit(&out);
}

static void msgpack_to_json(const uint8_t *data, size_t size)
{
    struct buf out;
    int rc = run(transcode_msgpack_to_json, data, size, SIZE_MAX, &out);
    FUZZ_CHECK(rc != MSG_DATA_OVER_BUDGET);
    check_budgets(transcode_msgpack_to_json, data, size, rc, &out);
    if (rc < 0) {
        buf_deinit(&out);
        return;
    }
    /* It transcodes only what mp_check accepts. */
    FUZZ_CHECK(mp_check(data, size, MSG_DATA_MAX_DEPTH) == 0);
    const char *js = (const char *)buf_head(&out) + PREFIX_LEN;
    size_t n = buf_readable(&out) - PREFIX_LEN;
    /* Linear: the output never passes 7 times the input. */
    FUZZ_CHECK(n <= TRANSCODE_JSON_MAX_RATIO * size);
    /* Valid JSON, which jansson reads (as UTF-8). Integers beyond int64 are
     * valid JSON that jansson only reads as reals: ask for that. A key with
     * "\u0000" (from a msgpack str key holding a NUL) is valid JSON too, but
     * one jansson refuses whatever the flags. */
    json_error_t je;
    json_t *v = json_loadb(js, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    if (!v && json_error_code(&je) == json_error_null_byte_in_key) {
        buf_deinit(&out);
        return;
    }
    if (!v)
        fprintf(stderr, "jansson: %s at %d: %.*s\n", je.text, je.position, (int)n, js);
    FUZZ_CHECK(v != NULL);
    json_decref(v);
    /* Where jansson reads the integers too, the way back must work. */
    v = json_loadb(js, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (v) {
        json_decref(v);
        struct buf back = BUF_INIT;
        FUZZ_CHECK(transcode_json_to_msgpack((const uint8_t *)js, n, SIZE_MAX, &back) == 0);
        FUZZ_CHECK(mp_check(buf_head(&back), buf_readable(&back), MSG_DATA_MAX_DEPTH) == 0);
        buf_deinit(&back);
    } else {
        FUZZ_CHECK(json_error_code(&je) == json_error_numeric_overflow);
    }
    buf_deinit(&out);
}

/* Splicing: what msg_data_check accepts, placed as the value of "data",
 * makes exactly a one-key object/map whose value is the input (the issue's
 * `1,"op":"ack","id":1` would make three keys). */
static void splice(const uint8_t *data, size_t size)
{
    if (msg_data_check(ENC_JSON, data, size) == MSG_DATA_OK) {
        struct buf m = BUF_INIT;
        buf_append(&m, "{\"data\":", 8);
        buf_append(&m, data, size);
        buf_append_u8(&m, '}');
        json_error_t je;
        json_t *v = json_loadb((const char *)buf_head(&m), buf_readable(&m), JSON_ALLOW_NUL, &je);
        FUZZ_CHECK(v != NULL && json_is_object(v) && json_object_size(v) == 1);
        json_decref(v);
        /* jansson alone would read "1\0..." as 1: the check refuses NULs. */
        FUZZ_CHECK(memchr(data, 0, size) == NULL);
        buf_deinit(&m);
    }
    if (msg_data_check(ENC_MSGPACK, data, size) == MSG_DATA_OK) {
        FUZZ_CHECK(mp_check(data, size, MSG_DATA_MAX_DEPTH) == 0);
        struct buf m = BUF_INIT;
        buf_append(&m,
                   "\x81\xa4"
                   "data",
                   6);
        buf_append(&m, data, size);
        /* A message holding it is within msgpack-c's depth (32). */
        FUZZ_CHECK(mp_check(buf_head(&m), buf_readable(&m), MP_MAX_DEPTH) == 0);
        msgpack_zone zone;
        msgpack_object obj;
        size_t off = 0;
        FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
        FUZZ_CHECK(msgpack_unpack((const char *)buf_head(&m), buf_readable(&m), &off, &zone,
                                  &obj) == MSGPACK_UNPACK_SUCCESS);
        FUZZ_CHECK(off == buf_readable(&m));
        FUZZ_CHECK(obj.type == MSGPACK_OBJECT_MAP && obj.via.map.size == 1);
        msgpack_zone_destroy(&zone);
        buf_deinit(&m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_to_msgpack(data, size);
    msgpack_to_json(data, size);
    splice(data, size);
    return 0;
}
