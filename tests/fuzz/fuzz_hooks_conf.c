/* libFuzzer driver for common/hooks_conf.c's hooks_conf_from_json, the
 * reader of the document the hub pushes (LINK_HOOKS) and PUT /api/hooks
 * takes. Invariants: no crash or leak on any input (ASan), a refusal
 * leaves the conf in defaults, and a document it takes, written back with
 * the secret and read again, gives the same conf and the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hooks_conf.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hooks_conf c, back, def;
    char err[256];
    hooks_conf_defaults(&def);
    if (hooks_conf_from_json(&c, (const char *)data, size, err, sizeof err) < 0) {
        FUZZ_CHECK(hooks_conf_equal(&c, &def) && c.version == 0);
        return 0;
    }
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    hooks_conf_to_json(&c, &a, 1);
    FUZZ_CHECK(buf_readable(&a) <= HOOKS_DOC_MAX);
    int rc =
        hooks_conf_from_json(&back, (const char *)buf_head(&a), buf_readable(&a), err, sizeof err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(hooks_conf_equal(&c, &back) && c.version == back.version);
    hooks_conf_to_json(&back, &b, 1);
    FUZZ_CHECK(buf_readable(&a) == buf_readable(&b) &&
               memcmp(buf_head(&a), buf_head(&b), buf_readable(&a)) == 0);
    buf_deinit(&a);
    buf_deinit(&b);
    return 0;
}
