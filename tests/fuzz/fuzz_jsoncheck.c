/* libFuzzer driver for common/jsoncheck.c, differential: json_check must
 * agree with jansson (json_loadb with JSON_DECODE_ANY | JSON_ALLOW_NUL, the
 * reading the JSON -> msgpack transcoder does) on every input, numbers it
 * cannot hold included, except on inputs with a NUL byte, which jansson
 * takes for the end of its input. Also: the check
 * never reads outside the input (ASan) and its answer does not depend on
 * bytes after n (it gets a heap copy of exactly n bytes). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsoncheck.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int ours = json_check(copy, size, JSON_CHECK_MAX_DEPTH);
    free(copy);
    if (memchr(data, 0, size))
        return 0;
    json_error_t je;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (v) {
        json_decref(v);
        FUZZ_CHECK(ours == 0);
    } else {
        FUZZ_CHECK(ours == -1);
    }
    return 0;
}
