/* Signatures on backend hook requests, so a backend can tell that a request
 * came from spoke and was not replayed long after (Stripe's scheme).
 *
 * spoke sends, with every hook request,
 *
 *     X-Spoke-Signature: t=<unix seconds>,v1=<64 lowercase hex digits>
 *
 * where the hex is HMAC-SHA256(secret, "<t>.<body>"): the timestamp in
 * decimal as it appears after "t=", one '.', then the request body bytes
 * exactly as sent. A backend verifies it by
 *   1. splitting the header at ',' and each part at the first '=', taking t
 *      and v1 (ignoring parts it does not know, so schemes can be added);
 *   2. rejecting t more than a few minutes from its own clock (replay);
 *   3. computing the HMAC over t + "." + raw body with the shared secret and
 *      comparing it to v1 in constant time (hmac.compare_digest in Python,
 *      crypto.timingSafeEqual in Node). */
#ifndef SPOKE_HOOKSIGN_H
#define SPOKE_HOOKSIGN_H
#include <stddef.h>
#include <stdint.h>

/* The header value's size with its NUL: "t=" + up to 20 digits + ",v1=" +
 * 64 hex digits + NUL. */
#define HOOKSIGN_HEADER_MAX (2 + 20 + 4 + 64 + 1)

/* Writes HMAC-SHA256(secret, "<unix_ts>.<body>") as 64 lowercase hex digits
 * and a NUL into hex. Returns 0, or -1 if OpenSSL failed. */
int hooksign_hex(const void *secret, size_t secret_len, uint64_t unix_ts, const void *body,
                 size_t len, char hex[65]);

/* Writes the header value "t=<unix_ts>,v1=<hex>" and a NUL into out.
 * Returns its length (without the NUL), or -1 if outlen is too small (then
 * out holds an empty string when outlen > 0) or OpenSSL failed.
 * HOOKSIGN_HEADER_MAX is always enough. */
int hooksign_header(const void *secret, size_t secret_len, uint64_t unix_ts, const void *body,
                    size_t len, char *out, size_t outlen);

#endif
