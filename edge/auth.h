/* Client authentication: a JWT presented on connect (verified with libjwt,
 * algorithm pinned to the configured key) and the topic permissions it
 * grants. */
#ifndef SPOKE_EDGE_AUTH_H
#define SPOKE_EDGE_AUTH_H
#include <stddef.h>
#include <time.h>

/* Tokens longer than this are refused without being decoded. */
#define AUTH_TOKEN_MAX 8192
/* Limits of the "spoke" claim (see auth_verify). */
#define AUTH_PATTERN_MAX 255
#define AUTH_PATTERNS_MAX 64
/* Limit of the "sub" claim, in bytes. */
#define AUTH_USER_MAX 128
/* Limits of the configuration. */
#define AUTH_SECRET_MIN 32
#define AUTH_SECRET_MAX 4096
#define AUTH_LEEWAY_MAX 86400
/* Longest jwt_audience / jwt_issuer, in bytes. */
#define AUTH_CLAIM_VALUE_MAX 1024

struct auth_settings {
    const char *jwt_secret;     /* HS256 shared secret, or NULL/"" */
    const char *jwt_public_key; /* path to a PEM public key (RSA -> RS256 only,
                                   EC P-256 -> ES256 only), or NULL/"" */
    int required;               /* 1: a connection without a valid token is refused */
    int default_allow;          /* topic permission when a token carries no "spoke"
                                   claim, and for anonymous connections */
    long leeway_s;              /* clock skew allowed on exp/nbf, 0..AUTH_LEEWAY_MAX */
    const char *audience;       /* NULL/"": aud not checked; else a token's aud must be
                                   this string or an array of strings holding it */
    const char *issuer;         /* NULL/"": iss not checked; else a token's iss must
                                   be this string */
};

/* Immutable after auth_new: shared read-only by all worker threads. */
struct auth;

/* Builds the verifier; reads the key file (blocking: call at startup only).
 * Returns NULL with a one-line reason in err (never containing the secret)
 * when: both secret and key are set; the secret is shorter than
 * AUTH_SECRET_MIN or longer than AUTH_SECRET_MAX bytes; the key file is
 * missing, unreadable, larger than 64 KiB, or not exactly one PEM
 * "PUBLIC KEY" block (a private key, a certificate or a PKCS#1 "RSA PUBLIC
 * KEY" is refused with the openssl command that converts it); the key is
 * neither RSA of at least 2048 bits nor EC P-256; required is set with
 * neither secret nor key; leeway_s is outside 0..AUTH_LEEWAY_MAX; audience
 * or issuer is set with neither secret nor key, or is longer than
 * AUTH_CLAIM_VALUE_MAX bytes.
 * Neither secret nor key with required=0 gives a valid auth that accepts
 * anonymous connections only. The settings' strings are copied. */
struct auth *auth_new(const struct auth_settings *s, char *err, size_t errlen);
void auth_free(struct auth *a); /* NULL ok */
/* 1 if a secret or a key is configured, else 0. */
int auth_enabled(const struct auth *a);
/* 1 if a connection without a valid token must be refused, else 0. */
int auth_required(const struct auth *a);

/* What a verified token grants one connection: one compact heap block
 * (the user and the patterns packed behind a 16-byte header). */
struct auth_identity;

/* Verifies token (len bytes, need not be NUL-terminated) at time now.
 * Returns 0 and sets *out (caller frees with auth_identity_free), or -1 with
 * *out NULL and *why (if why is not NULL) set to a short static reason fit
 * for an HTTP 401 body: "token authentication not enabled", "invalid token"
 * (not three base64url parts, longer than AUTH_TOKEN_MAX, bad signature, or
 * undecodable), "wrong algorithm" (anything but the algorithm the key
 * implies: HS256 for a secret, RS256 for an RSA key, ES256 for an EC key),
 * "missing exp", "bad exp claim" (not an integer), "token expired"
 * (exp + leeway <= now), "bad nbf claim", "token not yet valid"
 * (nbf - leeway > now); with an issuer set: "missing iss claim", "bad iss
 * claim" (not a string), "wrong issuer" (not equal to it); with an audience
 * set: "missing aud claim", "bad aud claim" (neither a string nor an array
 * of strings), "wrong audience" (not equal to it, or an array without it);
 * "bad sub claim" (sub, if present, must be a string
 * of 1..AUTH_USER_MAX printable ASCII bytes without '"' or '\'), "bad spoke
 * claim" (spoke, if present, must be an object whose optional members "sub"
 * and "pub" are arrays of at most AUTH_PATTERNS_MAX strings of
 * 1..AUTH_PATTERN_MAX bytes; other members are ignored). Thread-safe. */
int auth_verify(const struct auth *a, const char *token, size_t len, time_t now,
                struct auth_identity **out, const char **why);
void auth_identity_free(struct auth_identity *id); /* NULL ok */
/* A copy of base (NULL: anonymous, no claim) with user[0, len) as its user:
 * what a connect hook's answer names (docs/hooks.md). The token's
 * permissions, if any, stay. Returns NULL if user is not a valid sub
 * (1..AUTH_USER_MAX printable ASCII bytes without '"' or '\'). */
struct auth_identity *auth_identity_with_user(const struct auth_identity *base, const char *user,
                                              size_t len);
/* The sub claim (NUL-terminated, safe to embed in JSON) or NULL. */
const char *auth_identity_user(const struct auth_identity *id);
/* The token's exp claim (id not NULL): when the caller may want to close
 * the connection. */
time_t auth_identity_expires(const struct auth_identity *id);

/* Permission checks, returning 1 (allowed) or 0. id may be NULL (anonymous):
 * default_allow decides. With an identity whose token had a "spoke" claim,
 * the claim decides (a missing "sub" or "pub" list means nothing is allowed
 * for that verb); without the claim, default_allow decides. O(patterns). */
int auth_may_subscribe(const struct auth *a, const struct auth_identity *id, const char *topic,
                       size_t len);
int auth_may_publish(const struct auth *a, const struct auth_identity *id, const char *topic,
                     size_t len);

#endif
