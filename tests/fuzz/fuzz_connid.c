/* libFuzzer driver for connid_parse (common/connid.h): any bytes in. Beyond
 * not crashing or reading past the input, an id that parses must be spelt
 * exactly as connid_format spells it (one spelling per id, so what the hub
 * accepts is what the owning edge recognises), its name must point into the
 * input, and a refusal must be one of the documented reasons. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/connid.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly as long as the input, so ASan sees any overread. */
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    struct connid id;
    int rc = connid_parse(s, size, &id);
    FUZZ_CHECK(rc <= 0 && rc >= CONNID_E_SEQ);
    FUZZ_CHECK(connid_strerror(rc) != NULL && (rc == 0) == (connid_strerror(rc)[0] == '\0'));
    if (rc == 0) {
        FUZZ_CHECK(id.name == s && id.name_len < size);
        FUZZ_CHECK(connid_name_is_valid(id.name, id.name_len));
        char out[CONNID_MAX_LEN + 1];
        int n = connid_format(out, sizeof out, &id);
        FUZZ_CHECK(n > 0 && (size_t)n == size && memcmp(out, s, size) == 0);
        struct connid again;
        FUZZ_CHECK(connid_parse(out, (size_t)n, &again) == 0 && connid_same_worker(&id, &again) &&
                   again.seq == id.seq);
    }
    free(s);
    return 0;
}
