/* libFuzzer driver for transcode_json_to_msgpack and
 * transcode_msgpack_to_json (common/msg.h): every input is tried in both
 * directions. What either produces must be valid in the target encoding,
 * and a failure must leave the output buffer as it was. */
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

static void json_to_msgpack(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_with_prefix(&out);
    int rc = transcode_json_to_msgpack(data, size, &out);
    FUZZ_CHECK(buf_readable(&out) >= PREFIX_LEN &&
               memcmp(buf_head(&out), prefix, PREFIX_LEN) == 0);
    if (rc < 0) {
        FUZZ_CHECK(buf_readable(&out) == PREFIX_LEN);
        buf_deinit(&out);
        return;
    }
    FUZZ_CHECK(rc == 0);
    const uint8_t *mp = buf_head(&out) + PREFIX_LEN;
    size_t n = buf_readable(&out) - PREFIX_LEN;
    /* Our own guard accepts it, so msgpack-c may see it, and unpacks it. */
    FUZZ_CHECK(mp_check(mp, n, MP_MAX_DEPTH) == 0);
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
    FUZZ_CHECK(msgpack_unpack((const char *)mp, n, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == n);
    msgpack_zone_destroy(&zone);
    /* And it comes back as JSON. */
    struct buf back = BUF_INIT;
    FUZZ_CHECK(transcode_msgpack_to_json(mp, n, &back) == 0);
    buf_deinit(&back);
    buf_deinit(&out);
}

static void msgpack_to_json(const uint8_t *data, size_t size)
{
    struct buf out;
    buf_with_prefix(&out);
    int rc = transcode_msgpack_to_json(data, size, &out);
    FUZZ_CHECK(buf_readable(&out) >= PREFIX_LEN &&
               memcmp(buf_head(&out), prefix, PREFIX_LEN) == 0);
    if (rc < 0) {
        FUZZ_CHECK(buf_readable(&out) == PREFIX_LEN);
        buf_deinit(&out);
        return;
    }
    FUZZ_CHECK(rc == 0);
    /* It transcodes only what mp_check accepts. */
    FUZZ_CHECK(mp_check(data, size, MP_MAX_DEPTH) == 0);
    const char *js = (const char *)buf_head(&out) + PREFIX_LEN;
    size_t n = buf_readable(&out) - PREFIX_LEN;
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
        FUZZ_CHECK(transcode_json_to_msgpack((const uint8_t *)js, n, &back) == 0);
        FUZZ_CHECK(mp_check(buf_head(&back), buf_readable(&back), MP_MAX_DEPTH) == 0);
        buf_deinit(&back);
    } else {
        FUZZ_CHECK(json_error_code(&je) == json_error_numeric_overflow);
    }
    buf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_to_msgpack(data, size);
    msgpack_to_json(data, size);
    return 0;
}
