/* libFuzzer driver for common/pmdcodec.h, the inflater of compressed client
 * messages: any bytes inflate to a message within the limit, or are refused
 * as too big or bad data, with no crash, overread or growth past the limit;
 * and whatever the codec compresses inflates back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pmdcodec.h"
#include "tests/fuzz/fuzz_check.h"

#define LIMIT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pmd_codec *z;
    if (!z)
        z = pmd_codec_new(); /* one per worker in the edge: reused, as here */
    const uint8_t *msg;
    size_t len = 0;
    int r = pmd_inflate(z, data, size, LIMIT, &msg, &len);
    FUZZ_CHECK(r == PMD_INFLATED || r == PMD_TOO_BIG || r == PMD_BAD_DATA);
    if (r == PMD_INFLATED)
        FUZZ_CHECK(len <= LIMIT);

    const uint8_t *body;
    size_t blen = pmd_compress(z, data, size, &body);
    FUZZ_CHECK(blen < size || blen == 0);
    if (blen) {
        uint8_t *copy = malloc(blen);
        memcpy(copy, body, blen);
        FUZZ_CHECK(pmd_inflate(z, copy, blen, size, &msg, &len) == PMD_INFLATED);
        FUZZ_CHECK(len == size && memcmp(msg, data, size) == 0);
        free(copy);
    }
    return 0;
}
