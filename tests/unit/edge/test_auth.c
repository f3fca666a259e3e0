/* Unit tests for edge/auth.c: tokens minted here with libjwt and keys made
 * here with OpenSSL prove that only tokens of the pinned algorithm, with
 * well-formed and current claims, are accepted, and that the "spoke" claim
 * or default_allow decides topic permissions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/topic_pattern.h"
#include "edge/auth.h"

#define NOW ((time_t)1700000000)
#define LEEWAY 30
#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

/* Keys made once for the whole group, PEM files in a mkdtemp directory. */
static struct {
    char dir[64];
    char *rsa_priv, *rsa_pub, *ec_priv, *ec_pub, *ec2_priv;
    char rsa_pub_path[128], ec_pub_path[128], rsa_priv_path[128], cert_path[128];
    char ed25519_path[128], rsa1024_path[128], p384_path[128], pkcs1_path[128];
    char two_keys_path[128], garbage_path[128], empty_path[128], commented_path[128];
} K;

static char *pem_of(EVP_PKEY *k, int private)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    if (private)
        assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static char *pkcs1_pem_of(EVP_PKEY *k)
{
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", NULL);
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(ctx);
    assert_int_equal(OSSL_ENCODER_to_bio(ctx, b), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    OSSL_ENCODER_CTX_free(ctx);
    return s;
}

static char *cert_pem_of(EVP_PKEY *k)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"spoke", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    X509_free(x);
    return s;
}

static void write_file(char *path, const char *name, const char *text)
{
    snprintf(path, 128, "%s/%s", K.dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
    strcpy(K.dir, "/tmp/spoke_test_auth_XXXXXX");
    if (!mkdtemp(K.dir))
        return -1;
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *ec2 = EVP_EC_gen("P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *rsa1024 = EVP_RSA_gen(1024);
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    if (!rsa || !ec || !ec2 || !ed || !rsa1024 || !p384)
        return -1;
    K.rsa_priv = pem_of(rsa, 1);
    K.rsa_pub = pem_of(rsa, 0);
    K.ec_priv = pem_of(ec, 1);
    K.ec_pub = pem_of(ec, 0);
    K.ec2_priv = pem_of(ec2, 1);
    write_file(K.rsa_pub_path, "rsa_pub.pem", K.rsa_pub);
    write_file(K.ec_pub_path, "ec_pub.pem", K.ec_pub);
    write_file(K.rsa_priv_path, "rsa_priv.pem", K.rsa_priv);

    char *s = cert_pem_of(rsa);
    write_file(K.cert_path, "cert.pem", s);
    free(s);
    s = pem_of(ed, 0);
    write_file(K.ed25519_path, "ed25519_pub.pem", s);
    free(s);
    s = pem_of(rsa1024, 0);
    write_file(K.rsa1024_path, "rsa1024_pub.pem", s);
    free(s);
    s = pem_of(p384, 0);
    write_file(K.p384_path, "p384_pub.pem", s);
    free(s);
    s = pkcs1_pem_of(rsa);
    assert_non_null(strstr(s, "-----BEGIN RSA PUBLIC KEY-----"));
    write_file(K.pkcs1_path, "pkcs1_pub.pem", s);
    free(s);

    char two[8192];
    snprintf(two, sizeof two, "%s%s", K.ec_pub, K.rsa_pub);
    write_file(K.two_keys_path, "two_keys.pem", two);
    write_file(K.garbage_path, "garbage.pem", "this is not a key\n");
    write_file(K.empty_path, "empty.pem", "");
    snprintf(two, sizeof two, "# the hub's signing key\n%s\n", K.ec_pub);
    write_file(K.commented_path, "commented.pem", two);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p384);
    return 0;
}

static int group_teardown(void **state)
{
    const char *paths[] = {K.rsa_pub_path,  K.ec_pub_path,  K.rsa_priv_path, K.cert_path,
                           K.ed25519_path,  K.rsa1024_path, K.p384_path,     K.pkcs1_path,
                           K.two_keys_path, K.garbage_path, K.empty_path,    K.commented_path};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (paths[i][0])
            unlink(paths[i]);
    rmdir(K.dir);
    free(K.rsa_priv);
    free(K.rsa_pub);
    free(K.ec_priv);
    free(K.ec_pub);
    free(K.ec2_priv);
    return 0;
}

/* ---- helpers ---- */

/* Signs claims (a JSON object, may be NULL) with alg and key. Caller frees. */
static char *mint(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    if (claims)
        assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
    char *t = jwt_encode_str(jwt);
    assert_non_null(t);
    jwt_free(jwt);
    return t;
}

/* HS256 with SECRET over claims built from fmt. Caller frees. */
static char *mint_hs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *mint_hs(const char *fmt, ...)
{
    char claims[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(claims, sizeof claims, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof claims);
    return mint(JWT_ALG_HS256, SECRET, claims);
}

static struct auth *auth_secret(int required, int default_allow)
{
    struct auth_settings s = {.jwt_secret = SECRET,
                              .required = required,
                              .default_allow = default_allow,
                              .leeway_s = LEEWAY};
    char err[256] = "";
    struct auth *a = auth_new(&s, err, sizeof err);
    assert_non_null(a);
    return a;
}

static struct auth *auth_key(const char *path)
{
    struct auth_settings s = {.jwt_public_key = path, .required = 1, .leeway_s = LEEWAY};
    char err[256] = "";
    struct auth *a = auth_new(&s, err, sizeof err);
    if (!a)
        fail_msg("auth_new(%s): %s", path, err);
    return a;
}

/* Verifies a C-string token; returns the reason for a refusal or NULL. */
static const char *refusal(const struct auth *a, const char *token)
{
    struct auth_identity *id = (struct auth_identity *)1;
    const char *why = NULL;
    int rc = auth_verify(a, token, strlen(token), NOW, &id, &why);
    if (rc == 0) {
        assert_non_null(id);
        auth_identity_free(id);
        return NULL;
    }
    assert_int_equal(rc, -1);
    assert_null(id);
    assert_non_null(why);
    return why;
}

static void assert_refused(const struct auth *a, const char *token, const char *reason)
{
    const char *why = refusal(a, token);
    if (!why)
        fail_msg("token accepted, expected \"%s\": %.200s", reason, token);
    assert_string_equal(why, reason);
}

static void assert_accepted(const struct auth *a, const char *token)
{
    const char *why = refusal(a, token);
    if (why)
        fail_msg("token refused (%s): %.200s", why, token);
}

static struct auth_identity *identity(const struct auth *a, const char *token)
{
    struct auth_identity *id = NULL;
    const char *why = NULL;
    if (auth_verify(a, token, strlen(token), NOW, &id, &why) != 0)
        fail_msg("token refused (%s)", why);
    return id;
}

static void b64url(const char *in, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* ---- verification: HS256 ---- */

static void test_auth_accepts_valid_hs256_token_with_sub_and_spoke_claim(void **state)
{
    struct auth *a = auth_secret(1, 0);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", NOW + 600), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "nbf", NOW - 5), 0);
    assert_int_equal(
        jwt_add_grants_json(jwt, "{\"sub\":\"alice\",\"iat\":1,\"spoke\":{\"sub\":[\"chat.*\"],"
                                 "\"pub\":[\"chat.room1\"]}}"),
        0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);

    struct auth_identity *id = identity(a, t);
    assert_string_equal(auth_identity_user(id), "alice");
    assert_int_equal(auth_identity_expires(id), NOW + 600);
    assert_true(auth_may_subscribe(a, id, "chat.x", 6));
    assert_true(auth_may_publish(a, id, "chat.room1", 10));
    assert_false(auth_may_publish(a, id, "chat.room2", 10));
    assert_true(auth_enabled(a));
    assert_true(auth_required(a));
    auth_identity_free(id);
    free(t);
    auth_free(a);
}

static void test_auth_accepts_token_without_sub(void **state)
{
    struct auth *a = auth_secret(1, 1);
    char *t = mint_hs("{\"exp\":%ld}", (long)NOW + 60);
    struct auth_identity *id = identity(a, t);
    assert_null(auth_identity_user(id));
    auth_identity_free(id);
    free(t);
    auth_free(a);
}

static void test_auth_reads_only_len_bytes_of_token(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *t = mint_hs("{\"exp\":%ld}", (long)NOW + 60);
    size_t n = strlen(t);
    char *buf = malloc(n + 8);
    memcpy(buf, t, n);
    memcpy(buf + n, "garbage!", 8); /* not NUL-terminated */
    struct auth_identity *id = NULL;
    const char *why = NULL;
    assert_int_equal(auth_verify(a, buf, n, NOW, &id, &why), 0);
    auth_identity_free(id);
    /* One byte short is a different (bad) signature. */
    assert_int_equal(auth_verify(a, buf, n - 1, NOW, &id, NULL), -1);
    free(buf);
    free(t);
    auth_free(a);
}

static void test_auth_rejects_expired_token(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *t = mint_hs("{\"exp\":%ld,\"sub\":\"alice\"}", (long)NOW - 3600);
    assert_refused(a, t, "token expired");
    free(t);
    t = mint_hs("{\"exp\":-1}");
    assert_refused(a, t, "token expired");
    free(t);
    auth_free(a);
}

static void test_auth_accepts_exp_within_leeway(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *t = mint_hs("{\"exp\":%ld}", (long)NOW - LEEWAY + 1); /* exp + leeway > now */
    assert_accepted(a, t);
    free(t);
    t = mint_hs("{\"exp\":%ld}", (long)NOW - LEEWAY); /* exp + leeway == now */
    assert_refused(a, t, "token expired");
    free(t);
    t = mint_hs("{\"exp\":9223372036854775807}"); /* no overflow at the top */
    assert_accepted(a, t);
    free(t);
    auth_free(a);
}

static void test_auth_rejects_nbf_in_future(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *t = mint_hs("{\"exp\":%ld,\"nbf\":%ld}", (long)NOW + 600, (long)NOW + LEEWAY + 1);
    assert_refused(a, t, "token not yet valid");
    free(t);
    t = mint_hs("{\"exp\":%ld,\"nbf\":%ld}", (long)NOW + 600, (long)NOW + LEEWAY);
    assert_accepted(a, t); /* within the clock skew */
    free(t);
    auth_free(a);
}

static void test_auth_rejects_bad_nbf_type(void **state)
{
    struct auth *a = auth_secret(1, 0);
    const char *bad[] = {"\"0\"", "1.5", "null", "true", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = mint_hs("{\"exp\":%ld,\"nbf\":%s}", (long)NOW + 600, bad[i]);
        assert_refused(a, t, "bad nbf claim");
        free(t);
    }
    auth_free(a);
}

static void test_auth_rejects_missing_exp(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *t = mint_hs("{\"sub\":\"alice\"}");
    assert_refused(a, t, "missing exp");
    free(t);
    t = mint(JWT_ALG_HS256, SECRET, NULL); /* empty payload {} */
    assert_refused(a, t, "missing exp");
    free(t);
    auth_free(a);
}

static void test_auth_rejects_exp_as_string_or_float(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char exp[64];
    snprintf(exp, sizeof exp, "\"%ld\"", (long)NOW + 600);
    char *t = mint_hs("{\"exp\":%s}", exp);
    assert_refused(a, t, "bad exp claim");
    free(t);
    t = mint_hs("{\"exp\":%ld.0}", (long)NOW + 600);
    assert_refused(a, t, "bad exp claim");
    free(t);
    t = mint_hs("{\"exp\":%ld.5}", (long)NOW + 600);
    assert_refused(a, t, "bad exp claim");
    free(t);
    t = mint_hs("{\"exp\":1e12}");
    assert_refused(a, t, "bad exp claim");
    free(t);
    t = mint_hs("{\"exp\":null}");
    assert_refused(a, t, "bad exp claim");
    free(t);
    t = mint_hs("{\"exp\":true}");
    assert_refused(a, t, "bad exp claim");
    free(t);
    auth_free(a);
}

static void test_auth_rejects_wrong_signature(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    char *t = mint(JWT_ALG_HS256, "another-secret-of-at-least-32-bytes!!", claims);
    assert_refused(a, t, "invalid token");
    free(t);

    /* A flipped signature character. */
    t = mint_hs("{\"exp\":%ld}", (long)NOW + 600);
    char *sig = strrchr(t, '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    assert_refused(a, t, "invalid token");
    free(t);

    /* A good signature over another payload. */
    char *good = mint_hs("{\"exp\":%ld,\"sub\":\"alice\"}", (long)NOW + 600);
    char *other = mint_hs("{\"exp\":%ld,\"sub\":\"admin\"}", (long)NOW + 600);
    char forged[1024];
    size_t head = (size_t)(strrchr(other, '.') - other);
    snprintf(forged, sizeof forged, "%.*s%s", (int)head, other, strrchr(good, '.'));
    assert_refused(a, forged, "invalid token");
    free(good);
    free(other);
    auth_free(a);
}

static void test_auth_rejects_alg_none(void **state)
{
    struct auth *a = auth_secret(1, 1);
    char payload[64], h[128], p[128], tok[512];
    snprintf(payload, sizeof payload, "{\"exp\":%ld,\"sub\":\"admin\"}", (long)NOW + 600);
    b64url(payload, p);
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"NoNe\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        b64url(headers[i], h);
        snprintf(tok, sizeof tok, "%s.%s.", h, p); /* empty signature */
        assert_refused(a, tok, "invalid token");
        snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p); /* and a dummy one */
        assert_refused(a, tok, "invalid token");
    }
    auth_free(a);
}

static void test_auth_rejects_hs512_token_with_same_secret(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    char *t = mint(JWT_ALG_HS512, SECRET, claims);
    assert_refused(a, t, "wrong algorithm"); /* libjwt itself verifies it fine */
    free(t);
    t = mint(JWT_ALG_HS384, SECRET, claims);
    assert_refused(a, t, "wrong algorithm");
    free(t);
    auth_free(a);
}

static void test_auth_rejects_rs256_token_with_secret_configured(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    char *t = mint(JWT_ALG_RS256, K.rsa_priv, claims);
    assert_non_null(refusal(a, t));
    free(t);
    auth_free(a);
}

/* ---- verification: public keys ---- */

static void test_auth_accepts_valid_rs256_token(void **state)
{
    struct auth *a = auth_key(K.rsa_pub_path);
    assert_true(auth_enabled(a));
    char claims[128];
    snprintf(claims, sizeof claims, "{\"exp\":%ld,\"sub\":\"bob\"}", (long)NOW + 600);
    char *t = mint(JWT_ALG_RS256, K.rsa_priv, claims);
    struct auth_identity *id = identity(a, t);
    assert_string_equal(auth_identity_user(id), "bob");
    auth_identity_free(id);
    free(t);
    t = mint(JWT_ALG_RS512, K.rsa_priv, claims);
    assert_non_null(refusal(a, t));
    free(t);
    auth_free(a);
}

static void test_auth_accepts_valid_es256_token(void **state)
{
    struct auth *a = auth_key(K.ec_pub_path);
    char claims[128];
    snprintf(claims, sizeof claims, "{\"exp\":%ld,\"sub\":\"carol\"}", (long)NOW + 600);
    char *t = mint(JWT_ALG_ES256, K.ec_priv, claims);
    struct auth_identity *id = identity(a, t);
    assert_string_equal(auth_identity_user(id), "carol");
    auth_identity_free(id);
    free(t);
    t = mint(JWT_ALG_ES256, K.ec2_priv, claims); /* another key's signature */
    assert_refused(a, t, "invalid token");
    free(t);
    auth_free(a);
}

static void test_auth_rejects_rs256_token_with_es256_key(void **state)
{
    struct auth *a = auth_key(K.ec_pub_path);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    char *t = mint(JWT_ALG_RS256, K.rsa_priv, claims);
    assert_non_null(refusal(a, t));
    free(t);
    auth_free(a);
    a = auth_key(K.rsa_pub_path);
    t = mint(JWT_ALG_ES256, K.ec_priv, claims);
    assert_non_null(refusal(a, t));
    free(t);
    auth_free(a);
}

/* The RS256 -> HS256 confusion (libjwt issue #200): libjwt accepts an HS256
 * token whose HMAC secret is the public key PEM it was handed. */
static void test_auth_rejects_hs256_token_signed_with_public_key_pem(void **state)
{
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    const char *paths[] = {K.rsa_pub_path, K.ec_pub_path};
    const char *pems[] = {K.rsa_pub, K.ec_pub};
    for (int i = 0; i < 2; i++) {
        struct auth *a = auth_key(paths[i]);
        char *t = mint(JWT_ALG_HS256, pems[i], claims);
        assert_refused(a, t, "wrong algorithm");
        free(t);
        auth_free(a);
    }
}

/* ---- malformed tokens and claims ---- */

static void test_auth_rejects_malformed_token_strings(void **state)
{
    struct auth *a = auth_secret(1, 0);
    const char *bad[] = {
        "",         "garbage",       "...",     "..",      "a.b",        "a.b.c.d", ".b.c",
        "a..c",     "a.b.",          "a b.c.d", "a.b.c\n", "a+b.c/d.e=", "Bearer",  "a.b.c",
        "e30.e30.", "\xff.\xfe.\xfd"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_refused(a, bad[i], "invalid token");

    /* A NUL inside the counted bytes. */
    char *t = mint_hs("{\"exp\":%ld}", (long)NOW + 600);
    size_t n = strlen(t);
    t[n / 2] = '\0';
    struct auth_identity *id = NULL;
    const char *why = NULL;
    assert_int_equal(auth_verify(a, t, n, NOW, &id, &why), -1);
    assert_string_equal(why, "invalid token");
    free(t);

    /* Overlong: 8193 bytes of an otherwise plausible shape. */
    char *big = malloc(AUTH_TOKEN_MAX + 2);
    memset(big, 'a', AUTH_TOKEN_MAX + 1);
    big[10] = big[20] = '.';
    big[AUTH_TOKEN_MAX + 1] = '\0';
    assert_refused(a, big, "invalid token");
    free(big);
    auth_free(a);
}

/* A token near AUTH_TOKEN_MAX is accepted; one byte of claim more is not. */
static void test_auth_token_length_limit(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char *pad = malloc(AUTH_TOKEN_MAX);
    char *best = NULL;
    for (size_t n = 6000; n < AUTH_TOKEN_MAX; n++) {
        memset(pad, 'x', n);
        pad[n] = '\0';
        char *t = mint_hs("{\"exp\":%ld,\"pad\":\"%s\"}", (long)NOW + 600, pad);
        if (strlen(t) > AUTH_TOKEN_MAX) {
            assert_refused(a, t, "invalid token");
            free(t);
            break;
        }
        free(best);
        best = t;
    }
    assert_non_null(best);
    assert_true(strlen(best) >= AUTH_TOKEN_MAX - 2);
    assert_accepted(a, best);
    free(best);
    free(pad);
    auth_free(a);
}

static void test_auth_rejects_bad_sub_claim(void **state)
{
    struct auth *a = auth_secret(1, 0);
    char long_sub[AUTH_USER_MAX + 80];
    memset(long_sub, 'u', 200);
    long_sub[200] = '\0';
    const char *bad[] = {"42",         "null",       "[\"a\"]",        "{}",
                         "\"\"",       "\"a\\tb\"",  "\"a\\u0001\"",   "\"a\\u007f\"",
                         "\"a\\\"b\"", "\"a\\\\b\"", "\"caf\\u00e9\"", "\"line\\n\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = mint_hs("{\"exp\":%ld,\"sub\":%s}", (long)NOW + 600, bad[i]);
        assert_refused(a, t, "bad sub claim");
        free(t);
    }
    char *t = mint_hs("{\"exp\":%ld,\"sub\":\"%s\"}", (long)NOW + 600, long_sub);
    assert_refused(a, t, "bad sub claim");
    free(t);
    long_sub[AUTH_USER_MAX + 1] = '\0'; /* 129 */
    t = mint_hs("{\"exp\":%ld,\"sub\":\"%s\"}", (long)NOW + 600, long_sub);
    assert_refused(a, t, "bad sub claim");
    free(t);

    long_sub[AUTH_USER_MAX] = '\0'; /* 128: the limit */
    t = mint_hs("{\"exp\":%ld,\"sub\":\"%s\"}", (long)NOW + 600, long_sub);
    struct auth_identity *id = identity(a, t);
    assert_string_equal(auth_identity_user(id), long_sub);
    auth_identity_free(id);
    free(t);
    t = mint_hs("{\"exp\":%ld,\"sub\":\" ~user@example.com/1\"}", (long)NOW + 600);
    assert_accepted(a, t);
    free(t);
    auth_free(a);
}

static void test_auth_rejects_bad_spoke_claim(void **state)
{
    struct auth *a = auth_secret(1, 1);
    const char *bad[] = {"\"chat.*\"",
                         "[\"chat.*\"]",
                         "null",
                         "1",
                         "{\"sub\":\"chat.*\"}",
                         "{\"sub\":null}",
                         "{\"pub\":{}}",
                         "{\"sub\":[1]}",
                         "{\"sub\":[\"a\",null]}",
                         "{\"pub\":[[\"a\"]]}",
                         "{\"pub\":[\"\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = mint_hs("{\"exp\":%ld,\"spoke\":%s}", (long)NOW + 600, bad[i]);
        assert_refused(a, t, "bad spoke claim");
        free(t);
    }

    /* Pattern length: 255 bytes is the limit. */
    char pat[AUTH_PATTERN_MAX + 2];
    memset(pat, 'p', AUTH_PATTERN_MAX + 1);
    pat[AUTH_PATTERN_MAX + 1] = '\0';
    char *t = mint_hs("{\"exp\":%ld,\"spoke\":{\"pub\":[\"%s\"]}}", (long)NOW + 600, pat);
    assert_refused(a, t, "bad spoke claim");
    free(t);
    pat[AUTH_PATTERN_MAX] = '\0';
    t = mint_hs("{\"exp\":%ld,\"spoke\":{\"pub\":[\"%s\"]}}", (long)NOW + 600, pat);
    struct auth_identity *id = identity(a, t);
    assert_true(auth_may_publish(a, id, pat, AUTH_PATTERN_MAX));
    assert_false(auth_may_subscribe(a, id, pat, AUTH_PATTERN_MAX));
    auth_identity_free(id);
    free(t);

    /* Pattern count: 64 per list is the limit. */
    char list[2048] = "";
    size_t off = 0;
    for (int i = 0; i < AUTH_PATTERNS_MAX + 1; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s\"t%d\"", i ? "," : "", i);
    t = mint_hs("{\"exp\":%ld,\"spoke\":{\"sub\":[%s]}}", (long)NOW + 600, list);
    assert_refused(a, t, "bad spoke claim");
    free(t);
    *strrchr(list, ',') = '\0'; /* t0..t63 */
    t = mint_hs("{\"exp\":%ld,\"spoke\":{\"sub\":[%s],\"pub\":[%s]}}", (long)NOW + 600, list, list);
    id = identity(a, t);
    assert_true(auth_may_subscribe(a, id, "t0", 2));
    assert_true(auth_may_subscribe(a, id, "t63", 3));
    assert_true(auth_may_publish(a, id, "t63", 3));
    assert_false(auth_may_subscribe(a, id, "t64", 3));
    auth_identity_free(id);
    free(t);
    auth_free(a);
}

/* ---- permissions ---- */

static void test_auth_spoke_claim_decides_permissions(void **state)
{
    struct auth *a = auth_secret(1, 1); /* default allow must not leak in */
    char *t = mint_hs("{\"exp\":%ld,\"spoke\":{\"sub\":[\"chat.*\",\"news\"],"
                      "\"pub\":[\"chat.room1\"],\"future\":true}}",
                      (long)NOW + 600);
    struct auth_identity *id = identity(a, t);
    assert_true(auth_may_subscribe(a, id, "chat.a", 6));
    assert_true(auth_may_subscribe(a, id, "chat.a.b", 8));
    assert_false(auth_may_subscribe(a, id, "chat.", 5));
    assert_false(auth_may_subscribe(a, id, "chat", 4));
    assert_true(auth_may_subscribe(a, id, "news", 4));
    assert_false(auth_may_subscribe(a, id, "newsx", 5));
    assert_false(auth_may_subscribe(a, id, "other", 5));
    assert_true(auth_may_subscribe(a, id, "chat.abc", 8));
    assert_false(auth_may_subscribe(a, id, "chat.abc", 5)); /* counted bytes only: "chat." */
    assert_true(auth_may_publish(a, id, "chat.room1", 10));
    assert_false(auth_may_publish(a, id, "chat.room2", 10));
    assert_false(auth_may_publish(a, id, "news", 4));
    auth_identity_free(id);
    free(t);
    auth_free(a);
}

static void test_auth_missing_list_in_spoke_claim_allows_nothing(void **state)
{
    struct auth *a = auth_secret(1, 1);
    char *t = mint_hs("{\"exp\":%ld,\"spoke\":{\"sub\":[\"*\"]}}", (long)NOW + 600);
    struct auth_identity *id = identity(a, t);
    assert_true(auth_may_subscribe(a, id, "anything", 8));
    assert_false(auth_may_subscribe(a, id, "", 0));
    assert_false(auth_may_publish(a, id, "anything", 8));
    auth_identity_free(id);
    free(t);

    t = mint_hs("{\"exp\":%ld,\"spoke\":{}}", (long)NOW + 600);
    id = identity(a, t);
    assert_false(auth_may_subscribe(a, id, "a", 1));
    assert_false(auth_may_publish(a, id, "a", 1));
    auth_identity_free(id);
    free(t);

    t = mint_hs("{\"exp\":%ld,\"spoke\":{\"sub\":[],\"pub\":[]}}", (long)NOW + 600);
    id = identity(a, t);
    assert_false(auth_may_subscribe(a, id, "a", 1));
    assert_false(auth_may_publish(a, id, "a", 1));
    auth_identity_free(id);
    free(t);
    auth_free(a);
}

static void test_auth_without_spoke_claim_default_allow_decides(void **state)
{
    char *t = mint_hs("{\"exp\":%ld,\"sub\":\"dave\"}", (long)NOW + 600);
    struct auth *allow = auth_secret(1, 1), *deny = auth_secret(1, 0);
    struct auth_identity *id = identity(allow, t);
    assert_true(auth_may_subscribe(allow, id, "x", 1));
    assert_true(auth_may_publish(allow, id, "x", 1));
    assert_false(auth_may_subscribe(deny, id, "x", 1));
    assert_false(auth_may_publish(deny, id, "x", 1));
    auth_identity_free(id);
    free(t);
    auth_free(allow);
    auth_free(deny);
}

static void test_auth_anonymous_default_allow_decides(void **state)
{
    struct auth *allow = auth_secret(0, 1), *deny = auth_secret(0, 0);
    assert_false(auth_required(allow));
    assert_true(auth_may_subscribe(allow, NULL, "x", 1));
    assert_true(auth_may_publish(allow, NULL, "x", 1));
    assert_false(auth_may_subscribe(deny, NULL, "x", 1));
    assert_false(auth_may_publish(deny, NULL, "x", 1));
    auth_free(allow);
    auth_free(deny);
}

static void test_topic_pattern_match_table(void **state)
{
    static const struct {
        const char *pattern, *topic;
        int match;
    } cases[] = {
        {"chat", "chat", 1},
        {"chat", "chat2", 0},
        {"chat", "cha", 0},
        {"chat", "", 0},
        {"chat.*", "chat.a", 1},
        {"chat.*", "chat.a.b", 1},
        {"chat.*", "chat.", 0},
        {"chat.*", "chat", 0},
        {"chat.*", "chatx", 0},
        {"chat.*", "chat.*", 1},
        {"chat*", "chatx", 1},
        {"chat*", "chat", 0},
        {"*", "a", 1},
        {"*", "chat.a.b", 1},
        {"*", "", 0},
        {"*", "*", 1},
        {"a*b", "a*b", 1},
        {"a*b", "axb", 0},
        {"a*b", "a*bc", 0},
        {"*.x", "a.x", 0},
        {"*.x", "*.x", 1},
        {"a**", "a*b", 1},
        {"a**", "ab", 0},
        {"a**", "a*", 0},
        {"", "", 0},
        {"", "a", 0},
        {"Chat", "chat", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = topic_pattern_match(cases[i].pattern, strlen(cases[i].pattern), cases[i].topic,
                                      strlen(cases[i].topic));
        if (got != cases[i].match)
            fail_msg("pattern \"%s\" topic \"%s\": got %d", cases[i].pattern, cases[i].topic, got);
    }
}

/* ---- audience and issuer ---- */

#define AUD "spoke.example.com"
#define ISS "https://auth.example.com/"

static struct auth *auth_aud_iss(const char *audience, const char *issuer)
{
    struct auth_settings s = {.jwt_secret = SECRET,
                              .required = 1,
                              .leeway_s = LEEWAY,
                              .audience = audience,
                              .issuer = issuer};
    char err[256] = "";
    struct auth *a = auth_new(&s, err, sizeof err);
    if (!a)
        fail_msg("auth_new: %s", err);
    return a;
}

/* Refusal reason (or NULL) for an HS256 token with exp and the given extra
 * JSON members (may be empty). */
static const char *claims_refusal(const struct auth *a, const char *extra)
{
    char *t = mint_hs("{\"exp\":%ld%s%s}", (long)NOW + 600, *extra ? "," : "", extra);
    const char *why = refusal(a, t);
    free(t);
    return why;
}

static void test_auth_audience_accepts_string_or_array_holding_it(void **state)
{
    struct auth *a = auth_aud_iss(AUD, NULL);
    assert_null(claims_refusal(a, "\"aud\":\"" AUD "\""));
    assert_null(claims_refusal(a, "\"aud\":[\"" AUD "\"]"));
    assert_null(claims_refusal(a, "\"aud\":[\"other\",\"" AUD "\",\"third\"]"));
    /* No issuer configured: iss is not looked at. */
    assert_null(claims_refusal(a, "\"aud\":\"" AUD "\",\"iss\":42"));
    auth_free(a);
}

static void test_auth_audience_refuses_missing_bad_or_wrong_aud(void **state)
{
    struct auth *a = auth_aud_iss(AUD, NULL);
    assert_string_equal(claims_refusal(a, ""), "missing aud claim");
    assert_string_equal(claims_refusal(a, "\"aud\":\"other\""), "wrong audience");
    assert_string_equal(claims_refusal(a, "\"aud\":\"" AUD "x\""), "wrong audience");
    assert_string_equal(claims_refusal(a, "\"aud\":\"SPOKE.example.com\""), "wrong audience");
    assert_string_equal(claims_refusal(a, "\"aud\":\"\""), "wrong audience");
    assert_string_equal(claims_refusal(a, "\"aud\":[]"), "wrong audience");
    assert_string_equal(claims_refusal(a, "\"aud\":[\"a\",\"b\"]"), "wrong audience");
    /* Strict types, as for the other claims. */
    assert_string_equal(claims_refusal(a, "\"aud\":null"), "bad aud claim");
    assert_string_equal(claims_refusal(a, "\"aud\":7"), "bad aud claim");
    assert_string_equal(claims_refusal(a, "\"aud\":{\"" AUD "\":1}"), "bad aud claim");
    assert_string_equal(claims_refusal(a, "\"aud\":[\"" AUD "\",1]"), "bad aud claim");
    assert_string_equal(claims_refusal(a, "\"aud\":[[\"" AUD "\"]]"), "bad aud claim");
    auth_free(a);
}

static void test_auth_issuer_must_match_exactly(void **state)
{
    struct auth *a = auth_aud_iss(NULL, ISS);
    assert_null(claims_refusal(a, "\"iss\":\"" ISS "\""));
    assert_null(claims_refusal(a, "\"iss\":\"" ISS "\",\"aud\":7")); /* aud not checked */
    assert_string_equal(claims_refusal(a, ""), "missing iss claim");
    assert_string_equal(claims_refusal(a, "\"iss\":\"https://auth.example.com\""), "wrong issuer");
    assert_string_equal(claims_refusal(a, "\"iss\":\"https://evil.example.com/\""), "wrong issuer");
    assert_string_equal(claims_refusal(a, "\"iss\":[\"" ISS "\"]"), "bad iss claim");
    assert_string_equal(claims_refusal(a, "\"iss\":null"), "bad iss claim");
    auth_free(a);
}

static void test_auth_audience_and_issuer_together(void **state)
{
    struct auth *a = auth_aud_iss(AUD, ISS);
    assert_null(claims_refusal(a, "\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\"]"));
    assert_string_equal(claims_refusal(a, "\"aud\":\"" AUD "\""), "missing iss claim");
    assert_string_equal(claims_refusal(a, "\"iss\":\"" ISS "\""), "missing aud claim");
    /* Without them configured, the same tokens pass whatever they carry. */
    struct auth *plain = auth_secret(1, 1);
    assert_null(claims_refusal(plain, ""));
    assert_null(claims_refusal(plain, "\"iss\":1,\"aud\":{}"));
    auth_free(plain);
    auth_free(a);
}

static void test_auth_new_checks_audience_and_issuer_settings(void **state)
{
    char err[256];
    /* Nothing would verify the token, so nothing would be checked. */
    struct auth_settings s = {.audience = AUD};
    assert_null(auth_new(&s, err, sizeof err));
    assert_non_null(strstr(err, "jwt_audience and jwt_issuer need"));
    s = (struct auth_settings){.issuer = ISS};
    assert_null(auth_new(&s, err, sizeof err));
    /* Empty strings mean "not checked". */
    s = (struct auth_settings){.jwt_secret = SECRET, .audience = "", .issuer = ""};
    struct auth *a = auth_new(&s, err, sizeof err);
    assert_non_null(a);
    assert_null(claims_refusal(a, ""));
    auth_free(a);
    /* Too long. */
    char big[AUTH_CLAIM_VALUE_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s = (struct auth_settings){.jwt_secret = SECRET, .issuer = big};
    assert_null(auth_new(&s, err, sizeof err));
    assert_non_null(strstr(err, "at most"));
    big[AUTH_CLAIM_VALUE_MAX] = '\0'; /* exactly the limit */
    s = (struct auth_settings){.jwt_secret = SECRET, .audience = big};
    a = auth_new(&s, err, sizeof err);
    assert_non_null(a);
    auth_free(a);
}

/* ---- configuration ---- */

static struct auth *try_new(const char *secret, const char *key, int required, char *err)
{
    struct auth_settings s = {
        .jwt_secret = secret, .jwt_public_key = key, .required = required, .leeway_s = LEEWAY};
    err[0] = '\0';
    return auth_new(&s, err, 256);
}

static void assert_new_fails(const char *secret, const char *key, int required, const char *expect)
{
    char err[256];
    struct auth *a = try_new(secret, key, required, err);
    if (a) {
        auth_free(a);
        fail_msg("auth_new accepted secret=%s key=%s", secret ? "(set)" : "-", key ? key : "-");
    }
    if (!strstr(err, expect))
        fail_msg("error \"%s\" lacks \"%s\"", err, expect);
    assert_null(strchr(err, '\n'));
}

static void test_auth_new_rejects_short_secret(void **state)
{
    const char *secret = "short-secret-31-bytes-long-xxxx";
    assert_int_equal(strlen(secret), 31);
    char err[256];
    assert_null(try_new(secret, NULL, 1, err));
    assert_non_null(strstr(err, "jwt_secret"));
    assert_null(strstr(err, secret)); /* never echoed */
    assert_null(strstr(err, "short-secret"));
    /* 32 bytes is enough. */
    struct auth *a = try_new("short-secret-32-bytes-long-xxxxx", NULL, 1, err);
    assert_non_null(a);
    auth_free(a);
}

static void test_auth_new_rejects_secret_and_key_together(void **state)
{
    assert_new_fails(SECRET, K.rsa_pub_path, 0, "not both");
}

static void test_auth_new_rejects_required_without_secret_or_key(void **state)
{
    assert_new_fails(NULL, NULL, 1, "neither");
    assert_new_fails("", "", 1, "neither");
}

static void test_auth_new_without_secret_or_key_allows_anonymous_only(void **state)
{
    char err[256];
    struct auth *a = try_new(NULL, "", 0, err);
    assert_non_null(a);
    assert_false(auth_enabled(a));
    assert_false(auth_required(a));
    char *t = mint_hs("{\"exp\":%ld}", (long)NOW + 600);
    assert_refused(a, t, "token authentication not enabled");
    free(t);
    auth_free(a);
    auth_free(NULL);
    auth_identity_free(NULL);
}

static void test_auth_new_rejects_bad_leeway(void **state)
{
    struct auth_settings s = {.jwt_secret = SECRET, .leeway_s = -1};
    char err[256];
    assert_null(auth_new(&s, err, sizeof err));
    assert_non_null(strstr(err, "leeway"));
    s.leeway_s = AUTH_LEEWAY_MAX + 1;
    assert_null(auth_new(&s, NULL, 0)); /* no error buffer is fine */
}

static void test_auth_new_rejects_missing_or_non_pem_key_file(void **state)
{
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-key.pem", K.dir);
    assert_new_fails(NULL, missing, 1, "cannot open");
    assert_new_fails(NULL, K.dir, 1, "jwt_public_key"); /* a directory */
    assert_new_fails(NULL, K.garbage_path, 1, "not a PEM file");
    assert_new_fails(NULL, K.empty_path, 1, "not a PEM file");
    assert_new_fails(NULL, K.two_keys_path, 1, "exactly one");
}

/* A private key or a certificate is refused rather than used: libjwt reads
 * only a PUBLIC KEY block, the edge has no business holding the private
 * key, and the message names the openssl command that extracts the public
 * key. PKCS#1 "RSA PUBLIC KEY" likewise. */
static void test_auth_new_rejects_private_key_or_certificate(void **state)
{
    assert_new_fails(NULL, K.rsa_priv_path, 1, "private key");
    assert_new_fails(NULL, K.cert_path, 1, "certificate");
    assert_new_fails(NULL, K.pkcs1_path, 1, "PKCS#1");
}

static void test_auth_new_rejects_unsupported_key_types(void **state)
{
    assert_new_fails(NULL, K.ed25519_path, 1, "unsupported key type ED25519");
    assert_new_fails(NULL, K.rsa1024_path, 1, "1024 bits");
    assert_new_fails(NULL, K.p384_path, 1, "secp384r1");
}

static void test_auth_new_accepts_pem_with_surrounding_text(void **state)
{
    struct auth *a = auth_key(K.commented_path);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld}", (long)NOW + 600);
    char *t = mint(JWT_ALG_ES256, K.ec_priv, claims);
    assert_accepted(a, t);
    free(t);
    auth_free(a);
}

/* ---- sharing ---- */

struct worker_arg {
    const struct auth *a;
    const char *token;
    int ok;
};

static void *verify_many(void *p)
{
    struct worker_arg *w = p;
    for (int i = 0; i < 200; i++) {
        struct auth_identity *id = NULL;
        if (auth_verify(w->a, w->token, strlen(w->token), NOW, &id, NULL) == 0 &&
            strcmp(auth_identity_user(id), "eve") == 0)
            w->ok++;
        auth_identity_free(id);
    }
    return NULL;
}

static void test_auth_verify_is_safe_from_many_threads(void **state)
{
    struct auth *hs = auth_secret(1, 0), *es = auth_key(K.ec_pub_path);
    char claims[64];
    snprintf(claims, sizeof claims, "{\"exp\":%ld,\"sub\":\"eve\"}", (long)NOW + 600);
    char *ht = mint(JWT_ALG_HS256, SECRET, claims), *et = mint(JWT_ALG_ES256, K.ec_priv, claims);
    pthread_t th[4];
    struct worker_arg w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker_arg){i % 2 ? es : hs, i % 2 ? et : ht, 0};
        assert_int_equal(pthread_create(&th[i], NULL, verify_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 200);
    }
    free(ht);
    free(et);
    auth_free(hs);
    auth_free(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_accepts_valid_hs256_token_with_sub_and_spoke_claim),
        cmocka_unit_test(test_auth_accepts_token_without_sub),
        cmocka_unit_test(test_auth_reads_only_len_bytes_of_token),
        cmocka_unit_test(test_auth_rejects_expired_token),
        cmocka_unit_test(test_auth_accepts_exp_within_leeway),
        cmocka_unit_test(test_auth_rejects_nbf_in_future),
        cmocka_unit_test(test_auth_rejects_bad_nbf_type),
        cmocka_unit_test(test_auth_rejects_missing_exp),
        cmocka_unit_test(test_auth_rejects_exp_as_string_or_float),
        cmocka_unit_test(test_auth_rejects_wrong_signature),
        cmocka_unit_test(test_auth_rejects_alg_none),
        cmocka_unit_test(test_auth_rejects_hs512_token_with_same_secret),
        cmocka_unit_test(test_auth_rejects_rs256_token_with_secret_configured),
        cmocka_unit_test(test_auth_accepts_valid_rs256_token),
        cmocka_unit_test(test_auth_accepts_valid_es256_token),
        cmocka_unit_test(test_auth_rejects_rs256_token_with_es256_key),
        cmocka_unit_test(test_auth_rejects_hs256_token_signed_with_public_key_pem),
        cmocka_unit_test(test_auth_rejects_malformed_token_strings),
        cmocka_unit_test(test_auth_token_length_limit),
        cmocka_unit_test(test_auth_rejects_bad_sub_claim),
        cmocka_unit_test(test_auth_rejects_bad_spoke_claim),
        cmocka_unit_test(test_auth_spoke_claim_decides_permissions),
        cmocka_unit_test(test_auth_missing_list_in_spoke_claim_allows_nothing),
        cmocka_unit_test(test_auth_without_spoke_claim_default_allow_decides),
        cmocka_unit_test(test_auth_anonymous_default_allow_decides),
        cmocka_unit_test(test_topic_pattern_match_table),
        cmocka_unit_test(test_auth_audience_accepts_string_or_array_holding_it),
        cmocka_unit_test(test_auth_audience_refuses_missing_bad_or_wrong_aud),
        cmocka_unit_test(test_auth_issuer_must_match_exactly),
        cmocka_unit_test(test_auth_audience_and_issuer_together),
        cmocka_unit_test(test_auth_new_checks_audience_and_issuer_settings),
        cmocka_unit_test(test_auth_new_rejects_short_secret),
        cmocka_unit_test(test_auth_new_rejects_secret_and_key_together),
        cmocka_unit_test(test_auth_new_rejects_required_without_secret_or_key),
        cmocka_unit_test(test_auth_new_without_secret_or_key_allows_anonymous_only),
        cmocka_unit_test(test_auth_new_rejects_bad_leeway),
        cmocka_unit_test(test_auth_new_rejects_missing_or_non_pem_key_file),
        cmocka_unit_test(test_auth_new_rejects_private_key_or_certificate),
        cmocka_unit_test(test_auth_new_rejects_unsupported_key_types),
        cmocka_unit_test(test_auth_new_accepts_pem_with_surrounding_text),
        cmocka_unit_test(test_auth_verify_is_safe_from_many_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
