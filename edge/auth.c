/* JWT connect authentication and topic permissions: see auth.h.
 *
 * libjwt 1.10.2 verifies only the signature, and only when given a key
 * (LIBRARIES.md §9): it does not pin the algorithm and does not look at
 * exp/nbf. So this file never passes a NULL key, pins the algorithm after
 * decoding, and checks every claim itself on a strict jansson parse of the
 * payload (jwt_get_grant_int cannot tell 0 from a string or a float). */
#include "edge/auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/topic_pattern.h"
#include "common/xalloc.h"

#define KEY_FILE_MAX (64 * 1024)
#define RSA_BITS_MIN 2048

struct auth {
    jwt_alg_t alg;      /* JWT_ALG_NONE: no secret nor key, anonymous only */
    unsigned char *key; /* the secret, or the public key re-encoded as PEM */
    size_t keylen;
    int required;
    int default_allow;
    long leeway_s;
    char *audience; /* NULL: not checked */
    char *issuer;   /* NULL: not checked */
};

/* Packed as: [user NUL] [sub patterns] [pub patterns], each pattern one
 * length byte then its bytes. AUTH_USER_MAX + 1 + 2 * AUTH_PATTERNS_MAX *
 * (1 + AUTH_PATTERN_MAX) bytes at most, so 16-bit offsets suffice. */
struct auth_identity {
    int64_t exp;
    uint16_t sub_off; /* start of the sub patterns in data */
    uint16_t pub_off; /* start of the pub patterns, end of the sub ones */
    uint16_t end;     /* end of the pub patterns */
    uint8_t flags;
    char data[];
};
#define ID_HAS_USER 1u
#define ID_HAS_CLAIM 2u

_Static_assert(AUTH_USER_MAX + 1 + 2 * AUTH_PATTERNS_MAX * (1 + AUTH_PATTERN_MAX) <= UINT16_MAX,
               "identity offsets are 16-bit");
_Static_assert(AUTH_PATTERN_MAX <= UINT8_MAX, "pattern lengths are one byte");

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int nonempty(const char *s)
{
    return s && *s;
}

/* ---- configuration ---- */

/* Reads at most KEY_FILE_MAX bytes of path into a NUL-terminated heap
 * buffer. Returns it, or NULL with err set. */
static char *read_key_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open jwt_public_key %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    int failed = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (failed) {
        set_err(err, errlen, "cannot read jwt_public_key %s: %s", path, strerror(failed));
        goto fail;
    }
    if (n > KEY_FILE_MAX) {
        set_err(err, errlen, "jwt_public_key %s is larger than %d bytes", path, KEY_FILE_MAX);
        goto fail;
    }
    buf[n] = '\0';
    *lenp = n;
    return buf;
fail:
    free(buf);
    return NULL;
}

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

/* Checks that text (n bytes, NUL-terminated) is exactly one PEM
 * SubjectPublicKeyInfo block, the only form libjwt reads
 * (PEM_read_bio_PUBKEY), and names the usual mistakes. Returns 0 or -1. */
static int check_pem_shape(const char *path, const char *text, size_t n, char *err, size_t errlen)
{
    if (memchr(text, '\0', n) || count_substr(text, "-----BEGIN ") == 0) {
        set_err(err, errlen, "jwt_public_key %s is not a PEM file", path);
        return -1;
    }
    if (strstr(text, "PRIVATE KEY-----")) {
        set_err(err, errlen,
                "jwt_public_key %s holds a private key; give the public key "
                "(openssl pkey -in KEY -pubout)",
                path);
        return -1;
    }
    if (strstr(text, "-----BEGIN CERTIFICATE-----")) {
        set_err(err, errlen,
                "jwt_public_key %s holds a certificate; give its public key "
                "(openssl x509 -in CERT -pubkey -noout)",
                path);
        return -1;
    }
    if (strstr(text, "-----BEGIN RSA PUBLIC KEY-----")) {
        set_err(err, errlen,
                "jwt_public_key %s holds a PKCS#1 RSA key; convert it "
                "(openssl rsa -RSAPublicKey_in -in KEY -pubout)",
                path);
        return -1;
    }
    if (count_substr(text, "-----BEGIN ") != 1 ||
        count_substr(text, "-----BEGIN PUBLIC KEY-----") != 1) {
        set_err(err, errlen, "jwt_public_key %s must hold exactly one PUBLIC KEY block", path);
        return -1;
    }
    return 0;
}

/* The algorithm a public key implies: RS256 for RSA of at least
 * RSA_BITS_MIN bits, ES256 for EC P-256 (RFC 7518 §3.4 ties ES256 to that
 * curve), else JWT_ALG_INVAL with err set. */
static jwt_alg_t key_alg(const char *path, EVP_PKEY *pkey, char *err, size_t errlen)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits >= RSA_BITS_MIN)
            return JWT_ALG_RS256;
        set_err(err, errlen, "jwt_public_key %s: RSA key of %d bits, need at least %d", path, bits,
                RSA_BITS_MIN);
        return JWT_ALG_INVAL;
    }
    if (id == EVP_PKEY_EC) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1 &&
            OBJ_sn2nid(group) == NID_X9_62_prime256v1)
            return JWT_ALG_ES256;
        set_err(err, errlen, "jwt_public_key %s: EC curve %s unsupported, use P-256", path,
                glen ? group : "?");
        return JWT_ALG_INVAL;
    }
    const char *name = OBJ_nid2sn(id);
    set_err(err, errlen, "jwt_public_key %s: unsupported key type %s (use RSA or EC P-256)", path,
            id != NID_undef && name ? name : "unknown");
    return JWT_ALG_INVAL;
}

/* Loads, checks and re-encodes the public key into a->key: libjwt then
 * parses exactly the key checked here, whatever else the file held. */
static int load_public_key(struct auth *a, const char *path, char *err, size_t errlen)
{
    size_t n = 0;
    char *text = read_key_file(path, &n, err, errlen);
    EVP_PKEY *pkey = NULL;
    BIO *in = NULL, *out = NULL;
    char *pem;
    long pemlen;
    int rc = -1;

    if (!text)
        return -1;
    if (check_pem_shape(path, text, n, err, errlen) < 0)
        goto done;
    in = BIO_new_mem_buf(text, (int)n);
    out = BIO_new(BIO_s_mem());
    if (!in || !out) {
        set_err(err, errlen, "jwt_public_key %s: out of memory", path);
        goto done;
    }
    pkey = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL);
    if (!pkey) {
        set_err(err, errlen, "jwt_public_key %s: cannot parse the PUBLIC KEY block", path);
        goto done;
    }
    a->alg = key_alg(path, pkey, err, errlen);
    if (a->alg == JWT_ALG_INVAL)
        goto done;
    if (PEM_write_bio_PUBKEY(out, pkey) != 1 || (pemlen = BIO_get_mem_data(out, &pem)) <= 0) {
        set_err(err, errlen, "jwt_public_key %s: cannot re-encode the key", path);
        goto done;
    }
    a->key = xmalloc((size_t)pemlen + 1);
    memcpy(a->key, pem, (size_t)pemlen);
    a->key[pemlen] = '\0';
    a->keylen = (size_t)pemlen;
    rc = 0;
done:
    ERR_clear_error(); /* leave this thread's OpenSSL error queue clean */
    EVP_PKEY_free(pkey);
    BIO_free(in);
    BIO_free(out);
    free(text);
    return rc;
}

struct auth *auth_new(const struct auth_settings *s, char *err, size_t errlen)
{
    int have_secret = nonempty(s->jwt_secret), have_key = nonempty(s->jwt_public_key);
    struct auth *a = xcalloc(1, sizeof *a);
    a->alg = JWT_ALG_NONE;
    a->required = s->required ? 1 : 0;
    a->default_allow = s->default_allow ? 1 : 0;
    a->leeway_s = s->leeway_s;

    if (s->leeway_s < 0 || s->leeway_s > AUTH_LEEWAY_MAX) {
        set_err(err, errlen, "auth leeway %ld s is outside 0..%d", s->leeway_s, AUTH_LEEWAY_MAX);
        goto fail;
    }
    if (have_secret && have_key) {
        set_err(err, errlen, "set either jwt_secret or jwt_public_key, not both");
        goto fail;
    }
    if ((nonempty(s->audience) || nonempty(s->issuer)) && !have_secret && !have_key) {
        /* Without a key no token is verified, so nothing would be checked. */
        set_err(err, errlen, "jwt_audience and jwt_issuer need jwt_secret or jwt_public_key");
        goto fail;
    }
    if ((nonempty(s->audience) && strlen(s->audience) > AUTH_CLAIM_VALUE_MAX) ||
        (nonempty(s->issuer) && strlen(s->issuer) > AUTH_CLAIM_VALUE_MAX)) {
        set_err(err, errlen, "jwt_audience and jwt_issuer must be at most %d bytes",
                AUTH_CLAIM_VALUE_MAX);
        goto fail;
    }
    if (nonempty(s->audience))
        a->audience = xstrdup(s->audience);
    if (nonempty(s->issuer))
        a->issuer = xstrdup(s->issuer);
    if (a->required && !have_secret && !have_key) {
        set_err(err, errlen, "auth is required but neither jwt_secret nor jwt_public_key is set");
        goto fail;
    }
    if (have_secret) {
        size_t n = strlen(s->jwt_secret); /* the secret itself is never echoed */
        if (n < AUTH_SECRET_MIN || n > AUTH_SECRET_MAX) {
            set_err(err, errlen, "jwt_secret must be %d..%d bytes long (it is %zu)",
                    AUTH_SECRET_MIN, AUTH_SECRET_MAX, n);
            goto fail;
        }
        a->alg = JWT_ALG_HS256;
        a->key = (unsigned char *)xstrndup(s->jwt_secret, n);
        a->keylen = n;
    } else if (have_key) {
        if (load_public_key(a, s->jwt_public_key, err, errlen) < 0)
            goto fail;
    }
    return a;
fail:
    auth_free(a);
    return NULL;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->key)
        explicit_bzero(a->key, a->keylen); /* the secret should not outlive its use */
    free(a->key);
    free(a->audience);
    free(a->issuer);
    free(a);
}

int auth_enabled(const struct auth *a)
{
    return a->alg != JWT_ALG_NONE;
}
int auth_required(const struct auth *a)
{
    return a->required;
}

/* ---- verification ---- */

/* Three non-empty base64url parts: what every token of our algorithms looks
 * like (RFC 7515 §7.1; alg "none" has an empty third part). Checked before
 * libjwt sees the bytes, so only base64url text reaches its decoder and
 * junk costs no allocation. */
static int token_shape_ok(const char *t, size_t len)
{
    size_t dots = 0, part = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '.') {
            if (part == 0 || ++dots > 2)
                return 0;
            part = 0;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            part++;
        } else {
            return 0;
        }
    }
    return dots == 2 && part > 0;
}

/* sub is echoed to other clients inside JSON strings: printable ASCII only,
 * nothing that would need escaping. */
static int user_ok(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* Checks one optional pattern list; adds its packed size to *size. */
static int pattern_list_ok(const json_t *list, size_t *size)
{
    if (!list)
        return 1;
    if (!json_is_array(list) || json_array_size(list) > AUTH_PATTERNS_MAX)
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v))
            return 0;
        size_t n = json_string_length(v);
        if (n == 0 || n > AUTH_PATTERN_MAX)
            return 0;
        *size += 1 + n;
    }
    return 1;
}

static size_t pack_patterns(char *p, const json_t *list)
{
    size_t off = 0, i;
    const json_t *v;
    if (!list)
        return 0;
    json_array_foreach(list, i, v)
    {
        size_t n = json_string_length(v);
        p[off++] = (char)(uint8_t)n;
        memcpy(p + off, json_string_value(v), n);
        off += n;
    }
    return off;
}

/* 1 if v is a JSON string equal to s (compared with its length: a JSON
 * string may hold NUL bytes), else 0. */
static int string_is(const json_t *v, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), s, n) == 0;
}

/* The iss and aud checks (RFC 7519 §4.1.1, §4.1.3), when configured.
 * Returns 0, or -1 with *why set. O(elements of aud): the token is at most
 * AUTH_TOKEN_MAX bytes. */
static int issuer_audience_ok(const struct auth *a, const json_t *claims, const char **why)
{
    if (a->issuer) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!iss) {
            *why = "missing iss claim";
            return -1;
        }
        if (!json_is_string(iss)) {
            *why = "bad iss claim";
            return -1;
        }
        if (!string_is(iss, a->issuer)) {
            *why = "wrong issuer";
            return -1;
        }
    }
    if (a->audience) {
        const json_t *aud = json_object_get(claims, "aud");
        if (!aud) {
            *why = "missing aud claim";
            return -1;
        }
        if (json_is_string(aud)) {
            if (!string_is(aud, a->audience)) {
                *why = "wrong audience";
                return -1;
            }
            return 0;
        }
        if (!json_is_array(aud)) {
            *why = "bad aud claim";
            return -1;
        }
        /* Every element must be a string, whether or not ours comes first:
         * a malformed claim is refused, not searched. */
        int found = 0;
        size_t i;
        const json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v)) {
                *why = "bad aud claim";
                return -1;
            }
            if (string_is(v, a->audience))
                found = 1;
        }
        if (!found) {
            *why = "wrong audience";
            return -1;
        }
    }
    return 0;
}

/* Checks the claims and builds the identity. Returns NULL with *why set. */
static struct auth_identity *identity_from_claims(const struct auth *a, const json_t *claims,
                                                  time_t now, const char **why)
{
    const json_t *exp = json_object_get(claims, "exp");
    if (!exp) {
        *why = "missing exp";
        return NULL;
    }
    if (!json_is_integer(exp)) {
        *why = "bad exp claim";
        return NULL;
    }
    /* exp + leeway > now, written so that nothing overflows: leeway is
     * bounded by AUTH_LEEWAY_MAX and now is a real clock. */
    json_int_t expv = json_integer_value(exp);
    if (expv <= (json_int_t)now - a->leeway_s) {
        *why = "token expired";
        return NULL;
    }
    const json_t *nbf = json_object_get(claims, "nbf");
    if (nbf) {
        if (!json_is_integer(nbf)) {
            *why = "bad nbf claim";
            return NULL;
        }
        if (json_integer_value(nbf) > (json_int_t)now + a->leeway_s) {
            *why = "token not yet valid";
            return NULL;
        }
    }

    if (issuer_audience_ok(a, claims, why) < 0)
        return NULL;

    const json_t *sub = json_object_get(claims, "sub");
    size_t user_len = 0;
    if (sub) {
        if (!json_is_string(sub) ||
            !user_ok(json_string_value(sub), user_len = json_string_length(sub))) {
            *why = "bad sub claim";
            return NULL;
        }
    }

    const json_t *spoke = json_object_get(claims, "spoke");
    const json_t *subs = NULL, *pubs = NULL;
    size_t sub_size = 0, pub_size = 0;
    if (spoke) {
        /* Members other than "sub" and "pub" are ignored: a list that is
         * missing grants nothing, so an unknown member can only fail closed,
         * and tokens may carry new members before every edge knows them. */
        if (!json_is_object(spoke) ||
            !pattern_list_ok(subs = json_object_get(spoke, "sub"), &sub_size) ||
            !pattern_list_ok(pubs = json_object_get(spoke, "pub"), &pub_size)) {
            *why = "bad spoke claim";
            return NULL;
        }
    }

    size_t user_size = sub ? user_len + 1 : 0;
    struct auth_identity *id = xmalloc(sizeof *id + user_size + sub_size + pub_size);
    id->exp = expv;
    id->flags = (sub ? ID_HAS_USER : 0) | (spoke ? ID_HAS_CLAIM : 0);
    if (sub) {
        memcpy(id->data, json_string_value(sub), user_len);
        id->data[user_len] = '\0';
    }
    id->sub_off = (uint16_t)user_size;
    id->pub_off = (uint16_t)(id->sub_off + pack_patterns(id->data + id->sub_off, subs));
    id->end = (uint16_t)(id->pub_off + pack_patterns(id->data + id->pub_off, pubs));
    return id;
}

int auth_verify(const struct auth *a, const char *token, size_t len, time_t now,
                struct auth_identity **out, const char **why)
{
    const char *dummy;
    char buf[AUTH_TOKEN_MAX + 1]; /* libjwt wants a C string; 8 KiB of a worker's stack */
    jwt_t *jwt = NULL;
    json_t *claims = NULL;

    if (!why)
        why = &dummy;
    *out = NULL;
    if (a->alg == JWT_ALG_NONE) {
        *why = "token authentication not enabled";
        return -1;
    }
    *why = "invalid token";
    if (len > AUTH_TOKEN_MAX || !token_shape_ok(token, len))
        return -1;
    memcpy(buf, token, len);
    buf[len] = '\0';

    /* a->key is never NULL here: libjwt skips verification without a key. */
    if (jwt_decode(&jwt, buf, a->key, (int)a->keylen) != 0)
        return -1;
    /* libjwt accepts any algorithm the key can verify, e.g. HS512 with our
     * HS256 secret, or HS256 with the RSA public key PEM as the HMAC secret
     * (libjwt issue #200): pin the one algorithm the key implies. */
    if (jwt_get_alg(jwt) != a->alg) {
        jwt_free(jwt);
        *why = "wrong algorithm";
        return -1;
    }
    /* The one way libjwt 1.10.2 exposes the typed payload: re-serialised. */
    char *json = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    if (!json)
        return -1;
    claims = json_loads(json, 0, NULL);
    free(json);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return -1;
    }
    *out = identity_from_claims(a, claims, now, why);
    json_decref(claims);
    return *out ? 0 : -1;
}

void auth_identity_free(struct auth_identity *id)
{
    free(id);
}

const char *auth_identity_user(const struct auth_identity *id)
{
    return id && (id->flags & ID_HAS_USER) ? id->data : NULL;
}

time_t auth_identity_expires(const struct auth_identity *id)
{
    return (time_t)id->exp;
}

/* ---- permissions ---- */

static int list_matches(const char *p, const char *end, const char *topic, size_t len)
{
    while (p < end) {
        size_t n = (uint8_t)*p++;
        if (topic_pattern_match(p, n, topic, len))
            return 1;
        p += n;
    }
    return 0;
}

int auth_may_subscribe(const struct auth *a, const struct auth_identity *id, const char *topic,
                       size_t len)
{
    if (!id || !(id->flags & ID_HAS_CLAIM))
        return a->default_allow;
    return list_matches(id->data + id->sub_off, id->data + id->pub_off, topic, len);
}

int auth_may_publish(const struct auth *a, const struct auth_identity *id, const char *topic,
                     size_t len)
{
    if (!id || !(id->flags & ID_HAS_CLAIM))
        return a->default_allow;
    return list_matches(id->data + id->pub_off, id->data + id->end, topic, len);
}
struct auth_identity *auth_identity_with_user(const struct auth_identity *base, const char *user,
                                              size_t len)
{
    if (!user_ok(user, len))
        return NULL;
    size_t pats = base ? (size_t)(base->end - base->sub_off) : 0;
    struct auth_identity *id = xmalloc(sizeof *id + len + 1 + pats);
    id->exp = base ? base->exp : 0;
    id->flags = (uint8_t)(ID_HAS_USER | (base ? base->flags & ID_HAS_CLAIM : 0));
    memcpy(id->data, user, len);
    id->data[len] = '\0';
    id->sub_off = (uint16_t)(len + 1);
    id->pub_off = (uint16_t)(id->sub_off + (base ? base->pub_off - base->sub_off : 0));
    id->end = (uint16_t)(id->sub_off + pats);
    if (pats)
        memcpy(id->data + id->sub_off, base->data + base->sub_off, pats);
    return id;
}
