/* HMAC-SHA256 signatures on backend hook requests (hooksign.h has the
 * scheme), with OpenSSL 3's EVP_MAC. */
#include "common/hooksign.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Fetched once per process: fetching takes a lock and a lookup in
 * OpenSSL's provider store, too much for every hook call. Never freed. */
static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int hooksign_hex(const void *secret, size_t secret_len, uint64_t unix_ts, const void *body,
                 size_t len, char hex[65])
{
    pthread_once(&hmac_once, hmac_fetch);
    if (!hmac)
        return -1;
    char ts[24];
    int tslen = snprintf(ts, sizeof ts, "%" PRIu64 ".", unix_ts);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    unsigned char mac[32];
    size_t maclen = 0;
    /* EVP_MAC_init wants a non-NULL key pointer even when it is empty. */
    static const unsigned char nokey[1];
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    int ok = ctx && EVP_MAC_init(ctx, secret_len ? secret : nokey, secret_len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tslen) &&
             (len == 0 || EVP_MAC_update(ctx, body, len)) &&
             EVP_MAC_final(ctx, mac, &maclen, sizeof mac) && maclen == sizeof mac;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof mac; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int hooksign_header(const void *secret, size_t secret_len, uint64_t unix_ts, const void *body,
                    size_t len, char *out, size_t outlen)
{
    char hex[65];
    if (outlen > 0)
        out[0] = '\0';
    if (hooksign_hex(secret, secret_len, unix_ts, body, len, hex) < 0)
        return -1;
    int n = snprintf(out, outlen, "t=%" PRIu64 ",v1=%s", unix_ts, hex);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}
