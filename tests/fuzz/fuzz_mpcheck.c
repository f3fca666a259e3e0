/* libFuzzer driver for mp_check and mp_object_len (common/mpcheck.h), the
 * guard that stands between hostile msgpack and msgpack-c. Whatever the guard
 * accepts, msgpack-c must unpack, and to the same length. */
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mpcheck.h"
#include "tests/fuzz/fuzz_check.h"

/* The depth cap mp_object_len applies to any larger max_depth (mpcheck.c). */
#define DEPTH_CAP 256

/* msgpack-c's verdict on p[0, n), which must already have passed mp_check
 * with some depth limit: only then are its allocations bounded by n. */
static msgpack_unpack_return unpack(const uint8_t *p, size_t n, size_t *off)
{
    msgpack_zone zone;
    msgpack_object obj;
    FUZZ_CHECK(msgpack_zone_init(&zone, 2048));
    *off = 0;
    msgpack_unpack_return r = msgpack_unpack((const char *)p, n, off, &zone, &obj);
    msgpack_zone_destroy(&zone);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long n = mp_object_len(data, size, MP_MAX_DEPTH);
    int whole = mp_check(data, size, MP_MAX_DEPTH);

    FUZZ_CHECK(n == -1 || (n > 0 && (size_t)n <= size));
    FUZZ_CHECK((whole == 0) == (n > 0 && (size_t)n == size));

    /* A looser depth limit accepts at least as much, and finds the same end. */
    long deep = mp_object_len(data, size, DEPTH_CAP);
    FUZZ_CHECK(n < 0 || deep == n);
    FUZZ_CHECK(mp_object_len(data, size, DEPTH_CAP + 1000) == deep);
    FUZZ_CHECK(mp_object_len(data, size, 0) <= 0 || deep > 0);

    if (n > 0) {
        /* The object alone is exactly one complete object. */
        FUZZ_CHECK(mp_check(data, (size_t)n, MP_MAX_DEPTH) == 0);
        FUZZ_CHECK(mp_object_len(data, (size_t)n - 1, MP_MAX_DEPTH) == -1);
        /* The contract: accepted => msgpack-c unpacks it, consuming all. */
        size_t off;
        FUZZ_CHECK(unpack(data, (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS);
        FUZZ_CHECK(off == (size_t)n);
    } else if (deep > 0) {
        /* Refused only for depth: then msgpack-c, whose stack is as deep as
         * MP_MAX_DEPTH, must refuse it as well (bounded: deep passed). */
        size_t off;
        FUZZ_CHECK(unpack(data, (size_t)deep, &off) != MSGPACK_UNPACK_SUCCESS);
    }
    return 0;
}
