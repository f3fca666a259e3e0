/* libFuzzer driver for the admin server's request checks (common/httpreq.h):
 * httpreq_host_is_allowed and httpreq_is_json_type read header values a client
 * chose. Input: the Host value, then optionally "\n" and the allowed-hosts
 * list. Beyond not crashing or reading past the value, the answers must not
 * depend on the case of the value, on surrounding blanks, or shrink when
 * "*" joins the list. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpreq.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t vlen = nl ? (size_t)(nl - (const char *)data) : size;
    size_t alen = nl ? size - vlen - 1 : 0;
    /* The value exactly as long as it is (no NUL after it, so ASan sees an
     * overread); the list as the C string settings are. */
    char *v = malloc(vlen ? vlen : 1), *allowed = malloc(alen + 3);
    char *lower = malloc(vlen + 2);
    memcpy(v, data, vlen);
    memcpy(allowed, nl ? nl + 1 : "", alen);
    allowed[alen] = '\0';
    if (memchr(allowed, '\0', alen)) /* settings cannot hold a NUL */
        goto out;

    int ok = httpreq_host_is_allowed(v, vlen, "hub.internal", allowed);
    FUZZ_CHECK(ok == 0 || ok == 1);
    for (size_t i = 0; i < vlen; i++)
        lower[i + 1] = (char)tolower((unsigned char)v[i]);
    FUZZ_CHECK(httpreq_host_is_allowed(lower + 1, vlen, "hub.internal", allowed) == ok);
    lower[0] = ' ';
    lower[vlen + 1] = '\t';
    FUZZ_CHECK(httpreq_host_is_allowed(lower, vlen + 2, "hub.internal", allowed) == ok);
    memcpy(allowed + alen, ",*", 3);
    FUZZ_CHECK(httpreq_host_is_allowed(v, vlen, "hub.internal", allowed) >= ok);

    int json = httpreq_is_json_type(v, vlen);
    FUZZ_CHECK(json == 0 || json == 1);
    if (json) {
        size_t k = 0;
        while (k < vlen && (v[k] == ' ' || v[k] == '\t'))
            k++;
        FUZZ_CHECK(vlen - k >= 16 && strncasecmp(v + k, "application/json", 16) == 0);
    }
out:
    free(v);
    free(allowed);
    free(lower);
    return 0;
}
