/* libFuzzer driver for pmd_negotiate (common/pmdeflate.h), the parser of a
 * client's Sec-WebSocket-Extensions offers: no crash or overread on any
 * bytes, the answer is always NUL-terminated and either empty (declined) or
 * one of the answers the edge can honour, and it depends only on the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/pmdeflate.h"
#include "tests/fuzz/fuzz_check.h"

#define BOTH "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char a[PMD_ANSWER_MAX], b[PMD_ANSWER_MAX];
    int r = pmd_negotiate((const char *)data, size, a);
    FUZZ_CHECK(r == 0 || r == 1);
    FUZZ_CHECK(memchr(a, 0, sizeof a) != NULL);
    if (r)
        FUZZ_CHECK(strcmp(a, BOTH) == 0 || strcmp(a, BOTH "; server_max_window_bits=15") == 0);
    else
        FUZZ_CHECK(a[0] == '\0');
    FUZZ_CHECK(pmd_negotiate((const char *)data, size, b) == r && strcmp(a, b) == 0);
    return 0;
}
