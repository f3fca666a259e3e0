/* libFuzzer driver for auth_verify (edge/auth.h), which takes a token from
 * an untrusted client. Random bytes rarely get past the signature, so the
 * first input byte chooses: odd, the rest is the token as sent; even, the
 * rest is the claims JSON, signed here with the edge's secret, so the claim
 * checks and the identity packing see hostile but authentic payloads. Its
 * second bit picks a verifier that also checks aud and iss. A verified
 * identity must answer its permission checks without crashing. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edge/auth.h"
#include "tests/fuzz/fuzz_check.h"

#define SECRET "fuzzing-secret-fuzzing-secret-0123456789"
#define NOW 1700000000

static struct auth *plain, *aud_iss;

static size_t b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = tab[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!plain) {
        struct auth_settings s = {.jwt_secret = SECRET, .required = 1, .leeway_s = 30};
        char err[200];
        plain = auth_new(&s, err, sizeof err);
        FUZZ_CHECK(plain != NULL);
        s.audience = "spoke";
        s.issuer = "https://auth.example.com/";
        aud_iss = auth_new(&s, err, sizeof err);
        FUZZ_CHECK(aud_iss != NULL);
    }
    if (size < 1 || size > 6000)
        return 0;
    const struct auth *a = data[0] & 2 ? aud_iss : plain;
    static char token[AUTH_TOKEN_MAX * 2];
    size_t len;
    if (data[0] & 1) {
        len = size - 1;
        memcpy(token, data + 1, len);
    } else {
        static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        len = b64url((const uint8_t *)hdr, sizeof hdr - 1, token);
        token[len++] = '.';
        len += b64url(data + 1, size - 1, token + len);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)token, len, mac,
             &maclen);
        token[len++] = '.';
        len += b64url(mac, maclen, token + len);
    }
    struct auth_identity *id = NULL;
    const char *why = NULL;
    if (auth_verify(a, token, len, NOW, &id, &why) == 0) {
        FUZZ_CHECK(id != NULL);
        const char *user = auth_identity_user(id);
        FUZZ_CHECK(!user || strlen(user) <= AUTH_USER_MAX);
        (void)auth_may_subscribe(a, id, "chat.lobby", 10);
        (void)auth_may_publish(a, id, "x", 1);
        auth_identity_free(id);
    } else {
        FUZZ_CHECK(id == NULL && why != NULL);
    }
    return 0;
}
