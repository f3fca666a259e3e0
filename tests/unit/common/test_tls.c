/* Unit tests for common/tls.c and for linkio over TLS (common/linkio.c):
 * two throwaway CAs and their leaf certificates are made at setup, and the
 * link's two ends talk over a non-blocking socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/link.h"
#include "common/linkio.h"
#include "common/tls.h"

/* ---- certificates: made once for the whole group, in a private directory */

enum file {
    CA1,     /* CA "spoke test CA1" */
    CA2,     /* CA "spoke test CA2", independent of CA1 */
    HUB_CRT, /* CN=hub, DNS:localhost, IP:127.0.0.1, serverAuth, from CA1 */
    HUB_KEY,
    HUB_CHAIN,  /* HUB_CRT followed by CA1 */
    EDGE_A_CRT, /* CN=edge-a, DNS:edge-a, clientAuth, from CA1 */
    EDGE_A_KEY,
    EDGE_B_CRT, /* CN=edge-b, no subjectAltName, clientAuth, from CA1 */
    EDGE_B_KEY,
    EDGE_A2_CRT, /* CN=edge-a, DNS:edge-a, clientAuth, from CA2 */
    EDGE_A2_KEY,
    STRAY_KEY, /* a P-256 key no certificate belongs to */
    STRAY_RSA, /* an RSA key, a type no certificate here uses */
    GARBAGE,   /* a text file that is not PEM */
    MISSING,   /* never created */
    NFILES
};

static const char *const file_names[NFILES] = {
    [CA1] = "ca1.pem",
    [CA2] = "ca2.pem",
    [HUB_CRT] = "hub.crt",
    [HUB_KEY] = "hub.key",
    [HUB_CHAIN] = "hub-chain.crt",
    [EDGE_A_CRT] = "edge-a.crt",
    [EDGE_A_KEY] = "edge-a.key",
    [EDGE_B_CRT] = "edge-b.crt",
    [EDGE_B_KEY] = "edge-b.key",
    [EDGE_A2_CRT] = "edge-a-ca2.crt",
    [EDGE_A2_KEY] = "edge-a-ca2.key",
    [STRAY_KEY] = "stray.key",
    [STRAY_RSA] = "stray-rsa.key",
    [GARBAGE] = "garbage.pem",
    [MISSING] = "missing.pem",
};

static char dir[64];
static char paths[NFILES][128];

static const char *path(enum file f)
{
    return paths[f];
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer_key (self-signed when issuer is
 * NULL). A CA gets CA:TRUE and keyCertSign; a leaf gets eku and, if given,
 * the subjectAltName san. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, const char *eku, const char *san)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"spoke tests", -1, -1, 0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
    X509 *iss = issuer ? issuer : x;
    if (!issuer) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
        add_ext(x, iss, NID_ext_key_usage, eku);
    }
    if (san)
        add_ext(x, iss, NID_subject_alt_name, san);
    assert_true(X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* Writes the certificates (in order) and then the key, if any, as PEM. */
static void write_pem(enum file f, X509 *x1, X509 *x2, EVP_PKEY *k)
{
    FILE *out = fopen(path(f), "w");
    assert_non_null(out);
    if (x1)
        assert_int_equal(PEM_write_X509(out, x1), 1);
    if (x2)
        assert_int_equal(PEM_write_X509(out, x2), 1);
    if (k)
        assert_int_equal(PEM_write_PrivateKey(out, k, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(out), 0);
}

static int certs_setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/spoke-test-tls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < NFILES; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, file_names[i]);

    EVP_PKEY *ca1k = EVP_EC_gen("P-256"), *ca2k = EVP_EC_gen("P-256");
    EVP_PKEY *hubk = EVP_EC_gen("P-256"), *ak = EVP_EC_gen("P-256");
    EVP_PKEY *bk = EVP_EC_gen("P-256"), *a2k = EVP_EC_gen("P-256");
    EVP_PKEY *strayk = EVP_EC_gen("P-256"), *rsak = EVP_RSA_gen(2048);
    assert_true(ca1k && ca2k && hubk && ak && bk && a2k && strayk && rsak);

    X509 *ca1 = make_cert(ca1k, "spoke test CA1", NULL, NULL, 1, NULL, NULL);
    X509 *ca2 = make_cert(ca2k, "spoke test CA2", NULL, NULL, 1, NULL, NULL);
    X509 *hub = make_cert(hubk, "hub", ca1, ca1k, 2, "serverAuth", "DNS:localhost,IP:127.0.0.1");
    X509 *a = make_cert(ak, "edge-a", ca1, ca1k, 3, "clientAuth", "DNS:edge-a");
    X509 *b = make_cert(bk, "edge-b", ca1, ca1k, 4, "clientAuth", NULL);
    X509 *a2 = make_cert(a2k, "edge-a", ca2, ca2k, 2, "clientAuth", "DNS:edge-a");

    write_pem(CA1, ca1, NULL, NULL);
    write_pem(CA2, ca2, NULL, NULL);
    write_pem(HUB_CRT, hub, NULL, NULL);
    write_pem(HUB_KEY, NULL, NULL, hubk);
    write_pem(HUB_CHAIN, hub, ca1, NULL);
    write_pem(EDGE_A_CRT, a, NULL, NULL);
    write_pem(EDGE_A_KEY, NULL, NULL, ak);
    write_pem(EDGE_B_CRT, b, NULL, NULL);
    write_pem(EDGE_B_KEY, NULL, NULL, bk);
    write_pem(EDGE_A2_CRT, a2, NULL, NULL);
    write_pem(EDGE_A2_KEY, NULL, NULL, a2k);
    write_pem(STRAY_KEY, NULL, NULL, strayk);
    write_pem(STRAY_RSA, NULL, NULL, rsak);
    FILE *g = fopen(path(GARBAGE), "w");
    assert_non_null(g);
    fputs("this is not a certificate\nnor a key\n", g);
    fclose(g);

    X509 *certs[] = {ca1, ca2, hub, a, b, a2};
    for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++)
        X509_free(certs[i]);
    EVP_PKEY *keys[] = {ca1k, ca2k, hubk, ak, bk, a2k, strayk, rsak};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        EVP_PKEY_free(keys[i]);
    return 0;
}

static int certs_teardown(void **state)
{
    for (int i = 0; i < NFILES; i++)
        unlink(paths[i]);
    if (dir[0] && rmdir(dir) != 0)
        fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
    return 0;
}

/* ---- context constructors */

/* Asserts that err contains every one of the NULL-terminated substrings. */
static void assert_err_has(const char *err, ...)
{
    va_list ap;
    va_start(ap, err);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(err, s))
            fail_msg("error \"%s\" does not mention \"%s\"", err, s);
    va_end(ap);
}

static void test_tls_ctx_constructors_succeed_with_valid_files(void **state)
{
    char err[256] = "";
    SSL_CTX *c = tls_client_facing_ctx(path(HUB_CRT), path(HUB_KEY), err, sizeof err);
    assert_non_null(c);
    SSL_CTX_free(c);
    /* A chain file (leaf, then its CA) is accepted too. */
    c = tls_client_facing_ctx(path(HUB_CHAIN), path(HUB_KEY), err, sizeof err);
    assert_non_null(c);
    SSL_CTX_free(c);
    c = tls_link_server_ctx(path(CA1), path(HUB_CRT), path(HUB_KEY), err, sizeof err);
    assert_non_null(c);
    assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_verify_mode(c), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    SSL_CTX_free(c);
    c = tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), path(EDGE_A_KEY), err, sizeof err);
    assert_non_null(c);
    assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_verify_mode(c), SSL_VERIFY_PEER);
    SSL_CTX_free(c);
    assert_int_equal(ERR_peek_error(), 0); /* nothing left behind in the queue */
}

static void test_tls_ctx_constructors_name_a_missing_file(void **state)
{
    char err[256];
    assert_null(tls_client_facing_ctx(path(MISSING), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "tls_cert", path(MISSING), "No such file", NULL);
    assert_null(tls_client_facing_ctx(path(HUB_CRT), path(MISSING), err, sizeof err));
    assert_err_has(err, "tls_key", path(MISSING), "No such file", NULL);

    assert_null(tls_link_server_ctx(path(MISSING), path(HUB_CRT), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "link_ca", path(MISSING), "No such file", NULL);
    assert_null(tls_link_server_ctx(path(CA1), path(MISSING), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "link_cert", path(MISSING), "No such file", NULL);
    assert_null(tls_link_server_ctx(path(CA1), path(HUB_CRT), path(MISSING), err, sizeof err));
    assert_err_has(err, "link_key", path(MISSING), "No such file", NULL);

    assert_null(
        tls_link_client_ctx(path(MISSING), path(EDGE_A_CRT), path(EDGE_A_KEY), err, sizeof err));
    assert_err_has(err, "link_ca", path(MISSING), "No such file", NULL);
    assert_null(tls_link_client_ctx(path(CA1), path(MISSING), path(EDGE_A_KEY), err, sizeof err));
    assert_err_has(err, "link_cert", path(MISSING), "No such file", NULL);
    assert_null(tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), path(MISSING), err, sizeof err));
    assert_err_has(err, "link_key", path(MISSING), "No such file", NULL);
}

static void test_tls_ctx_constructors_reject_empty_or_null_path(void **state)
{
    char err[256];
    assert_null(tls_client_facing_ctx("", path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "tls_cert", "no file given", NULL);
    assert_null(tls_link_server_ctx(NULL, path(HUB_CRT), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "link_ca", "no file given", NULL);
    assert_null(tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), NULL, err, sizeof err));
    assert_err_has(err, "link_key", "no file given", NULL);
}

/* A key of another type than the certificate's (RSA for a P-256 certificate). */
static void test_tls_ctx_constructors_reject_key_of_other_type(void **state)
{
    char err[256];
    assert_null(tls_client_facing_ctx(path(HUB_CRT), path(STRAY_RSA), err, sizeof err));
    assert_err_has(err, "tls_key", path(STRAY_RSA), "does not match", path(HUB_CRT), NULL);
    assert_null(tls_link_server_ctx(path(CA1), path(HUB_CRT), path(STRAY_RSA), err, sizeof err));
    assert_err_has(err, "link_key", path(STRAY_RSA), "does not match", NULL);
    assert_null(tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), path(STRAY_RSA), err, sizeof err));
    assert_err_has(err, "link_key", path(STRAY_RSA), "does not match", NULL);
    assert_int_equal(ERR_peek_error(), 0);
}

/* The usual mistake: another valid P-256 key, the same type as the
 * certificate's. The message must say that the pair does not match, not
 * call a well-formed key "not a PEM private key". */
static void test_tls_ctx_constructors_reject_key_that_does_not_match(void **state)
{
    char e1[256], e2[256], e3[256];
    assert_null(tls_client_facing_ctx(path(HUB_CRT), path(STRAY_KEY), e1, sizeof e1));
    assert_null(tls_link_server_ctx(path(CA1), path(HUB_CRT), path(EDGE_A_KEY), e2, sizeof e2));
    assert_null(tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), path(STRAY_KEY), e3, sizeof e3));
    assert_err_has(e1, "tls_key", path(STRAY_KEY), "does not match", NULL);
    assert_err_has(e2, "link_key", path(EDGE_A_KEY), "does not match", NULL);
    assert_err_has(e3, "link_key", path(STRAY_KEY), "does not match", NULL);
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_tls_ctx_constructors_reject_non_pem_files(void **state)
{
    char err[256];
    assert_null(tls_client_facing_ctx(path(GARBAGE), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "tls_cert", path(GARBAGE), "not a PEM certificate", NULL);
    assert_null(tls_client_facing_ctx(path(HUB_CRT), path(GARBAGE), err, sizeof err));
    assert_err_has(err, "tls_key", path(GARBAGE), "not a PEM private key", NULL);
    /* A key where the certificate belongs, and the other way round. */
    assert_null(tls_link_server_ctx(path(CA1), path(HUB_KEY), path(HUB_KEY), err, sizeof err));
    assert_err_has(err, "link_cert", path(HUB_KEY), "not a PEM certificate", NULL);
    assert_null(tls_link_server_ctx(path(CA1), path(HUB_CRT), path(HUB_CRT), err, sizeof err));
    assert_err_has(err, "link_key", path(HUB_CRT), "not a PEM private key", NULL);
    assert_null(
        tls_link_client_ctx(path(GARBAGE), path(EDGE_A_CRT), path(EDGE_A_KEY), err, sizeof err));
    assert_err_has(err, "link_ca", path(GARBAGE), NULL);
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_tls_error_returns_fallback_or_readable_reason(void **state)
{
    char out[128];
    ERR_clear_error();
    assert_string_equal(tls_error(out, sizeof out, "nothing queued"), "nothing queued");
    ERR_raise(ERR_LIB_SSL, SSL_R_NO_CERTIFICATE_SET);
    ERR_raise(ERR_LIB_SSL, SSL_R_NO_PRIVATE_KEY_ASSIGNED);
    /* The oldest error, without the "error:XXXXXXXX:lib::" prefix. */
    assert_string_equal(tls_error(out, sizeof out, "x"), "no certificate set");
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- client-facing context: a plain TLS client over memory BIOs */

static void mem_bio(SSL *ssl)
{
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    assert_true(r && w);
    BIO_set_mem_eof_return(r, -1);
    SSL_set_bio(ssl, r, w);
}

static void shuttle(SSL *from, SSL *to)
{
    char b[4096];
    int n;
    while ((n = BIO_read(SSL_get_wbio(from), b, sizeof b)) > 0)
        assert_int_equal(BIO_write(SSL_get_rbio(to), b, n), n);
}

/* Runs both handshakes to the end. Returns 0, or -1 if either side failed. */
static int mem_handshake(SSL *c, SSL *s)
{
    int cd = 0, sd = 0;
    for (int i = 0; i < 20 && !(cd == 1 && sd == 1); i++) {
        if (cd != 1) {
            ERR_clear_error();
            cd = SSL_do_handshake(c);
            if (cd != 1 && SSL_get_error(c, cd) != SSL_ERROR_WANT_READ)
                return -1;
        }
        shuttle(c, s);
        if (sd != 1) {
            ERR_clear_error();
            sd = SSL_do_handshake(s);
            if (sd != 1 && SSL_get_error(s, sd) != SSL_ERROR_WANT_READ)
                return -1;
        }
        shuttle(s, c);
    }
    return cd == 1 && sd == 1 ? 0 : -1;
}

/* A browser-like client trusting CA1, limited to TLS max_version. */
static SSL *browser(int max_version, const char *alpn, unsigned alpn_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, path(CA1), NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_security_level(ctx, 0); /* let it offer TLS 1.0 */
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set1_host(ssl, "localhost"), 1);
    if (alpn)
        assert_int_equal(SSL_set_alpn_protos(ssl, (const unsigned char *)alpn, alpn_len), 0);
    SSL_set_connect_state(ssl);
    mem_bio(ssl);
    return ssl;
}

static SSL *client_facing_server(void)
{
    char err[256];
    SSL_CTX *ctx = tls_client_facing_ctx(path(HUB_CRT), path(HUB_KEY), err, sizeof err);
    if (!ctx)
        fail_msg("tls_client_facing_ctx: %s", err);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    assert_non_null(ssl);
    SSL_set_accept_state(ssl);
    mem_bio(ssl);
    return ssl;
}

static void test_tls_client_facing_ctx_negotiates_http11_alpn(void **state)
{
    static const char offer[] = "\x02h2\x08http/1.1";
    SSL *s = client_facing_server();
    SSL *c = browser(TLS1_3_VERSION, offer, sizeof offer - 1);
    assert_int_equal(mem_handshake(c, s), 0);
    const unsigned char *proto;
    unsigned len;
    SSL_get0_alpn_selected(c, &proto, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(proto, "http/1.1", 8);
    assert_int_equal(SSL_version(c), TLS1_3_VERSION);
    SSL_free(c);
    SSL_free(s);
}

static void test_tls_client_facing_ctx_goes_on_without_alpn_match(void **state)
{
    static const char offer[] = "\x02h2";
    SSL *s = client_facing_server();
    SSL *c = browser(TLS1_3_VERSION, offer, sizeof offer - 1);
    assert_int_equal(mem_handshake(c, s), 0);
    const unsigned char *proto;
    unsigned len;
    SSL_get0_alpn_selected(c, &proto, &len);
    assert_int_equal(len, 0);
    SSL_free(c);
    SSL_free(s);
}

static void test_tls_client_facing_ctx_accepts_tls12_and_refuses_tls11(void **state)
{
    SSL *s = client_facing_server();
    SSL *c = browser(TLS1_2_VERSION, NULL, 0);
    assert_int_equal(mem_handshake(c, s), 0);
    assert_int_equal(SSL_version(s), TLS1_2_VERSION);
    SSL_free(c);
    SSL_free(s);

    s = client_facing_server();
    c = browser(TLS1_1_VERSION, NULL, 0);
    assert_int_equal(mem_handshake(c, s), -1);
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
}

/* ---- linkio over TLS: the hub (accept) and an edge (connect) on a socketpair */

struct tpair {
    struct linkio srv, cli;
    int fs, fc;
};

static int tpair_setup(void **state)
{
    struct tpair *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
    p->fs = sv[0];
    p->fc = sv[1];
    assert_int_equal(linkio_init(&p->srv), 0);
    assert_int_equal(linkio_init(&p->cli), 0);
    *state = p;
    return 0;
}

static int tpair_teardown(void **state)
{
    struct tpair *p = *state;
    linkio_deinit(&p->srv);
    linkio_deinit(&p->cli);
    if (p->fs >= 0)
        close(p->fs);
    if (p->fc >= 0)
        close(p->fc);
    free(p);
    ERR_clear_error();
    return 0;
}

/* A server SSL from tls_link_server_ctx(ca, cert, key); the context is
 * released at once, so the SSL's own reference is what keeps it alive. */
static SSL *hub_ssl(enum file ca, enum file cert, enum file key)
{
    char err[256];
    SSL_CTX *ctx = tls_link_server_ctx(path(ca), path(cert), path(key), err, sizeof err);
    if (!ctx)
        fail_msg("tls_link_server_ctx: %s", err);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    assert_non_null(ssl);
    SSL_set_accept_state(ssl);
    return ssl;
}

/* An edge SSL trusting CA1, presenting cert/key and expecting `host`. */
static SSL *edge_ssl(enum file cert, enum file key, const char *host)
{
    char err[256];
    SSL_CTX *ctx = tls_link_client_ctx(path(CA1), path(cert), path(key), err, sizeof err);
    if (!ctx)
        fail_msg("tls_link_client_ctx: %s", err);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    assert_non_null(ssl);
    SSL_set_connect_state(ssl);
    assert_int_equal(tls_expect_host(ssl, host), 0);
    return ssl;
}

static void use_tls(struct linkio *l, SSL *ssl)
{
    if (linkio_use_tls(l, ssl) != 0)
        fail_msg("linkio_use_tls: %s", l->err);
}

/* What one side expects to receive, in order, and what it got. */
struct rx {
    const struct link_msg *want;
    size_t nwant;
    size_t got;
};

static void assert_same_msg(const struct link_msg *x, const struct link_msg *y)
{
    struct buf bx = BUF_INIT, by = BUF_INIT;
    assert_true(link_encode(&bx, x) > 0);
    assert_true(link_encode(&by, y) > 0);
    assert_int_equal(buf_readable(&bx), buf_readable(&by));
    assert_memory_equal(buf_head(&bx), buf_head(&by), buf_readable(&bx));
    buf_deinit(&bx);
    buf_deinit(&by);
}

static int on_msg(void *ud, const struct link_msg *m)
{
    struct rx *rx = ud;
    if (rx->got >= rx->nwant)
        fail_msg("unexpected %s message", link_type_name(m->type));
    assert_same_msg(&rx->want[rx->got], m);
    rx->got++;
    return 0;
}

/* One loop iteration of one end, as uplink.c and edge_link_loop.c run it: end the
 * batch, write, read. Returns 0 while the link is fine, or the first
 * non-zero result (-1 error, 1 EOF). */
static int turn_budget(struct linkio *l, int fd, struct rx *rx, size_t budget)
{
    if (linkio_flush(l) < 0)
        return -1;
    if (linkio_write(l, fd) < 0)
        return -1;
    return linkio_read(l, fd, budget, on_msg, rx);
}

static int turn(struct linkio *l, int fd, struct rx *rx)
{
    return turn_budget(l, fd, rx, 1u << 20);
}

/* Turns both ends until each has received what it expects and has nothing
 * left to write; fails the test on an error or after a bounded number of
 * turns (no sleeps: every turn moves bytes or the test is stuck). */
static void converse(struct tpair *p, struct rx *to_srv, struct rx *to_cli)
{
    for (int i = 0; i < 1000; i++) {
        int rc = turn(&p->cli, p->fc, to_cli);
        if (rc)
            fail_msg("edge side stopped (%d): %s", rc, p->cli.err);
        rc = turn(&p->srv, p->fs, to_srv);
        if (rc)
            fail_msg("hub side stopped (%d): %s", rc, p->srv.err);
        if (to_srv->got == to_srv->nwant && to_cli->got == to_cli->nwant &&
            linkio_pending(&p->srv) == 0 && linkio_pending(&p->cli) == 0 && p->srv.tls_up == 1 &&
            p->cli.tls_up == 1)
            return;
    }
    fail_msg("no progress after 1000 turns (got %zu/%zu and %zu/%zu)", to_srv->got, to_srv->nwant,
             to_cli->got, to_cli->nwant);
}

/* Turns both ends until both have stopped; a stopped end closes its socket,
 * as the caller of linkio would, so the other one cannot wait forever. The
 * results land in *rs and *rc. Fails the test if either keeps running. */
static void run_until_both_stop(struct tpair *p, int *rs, int *rc)
{
    struct rx none = {NULL, 0, 0};
    *rs = *rc = 0;
    for (int i = 0; i < 200 && (!*rs || !*rc); i++) {
        if (!*rc && (*rc = turn(&p->cli, p->fc, &none)) != 0) {
            close(p->fc);
            p->fc = -1;
        }
        if (!*rs && (*rs = turn(&p->srv, p->fs, &none)) != 0) {
            close(p->fs);
            p->fs = -1;
        }
    }
    if (!*rs || !*rc)
        fail_msg("still running: hub %d (%s), edge %d (%s)", *rs, p->srv.err, *rc, p->cli.err);
}

static struct link_msg hello(const char *name)
{
    struct link_msg m;
    memset(&m, 0, sizeof m);
    m.type = LINK_HELLO;
    m.version = LINK_PROTOCOL_VERSION;
    m.name = link_str_c(name);
    m.region = link_str_c("eu-west");
    m.worker = 3;
    m.software = link_str_c("spoke test");
    m.boot = 1700000000123ull;
    m.heartbeat_ms = 5000;
    m.public_url = link_str_c("wss://edge.example/ws");
    return m;
}

static struct link_msg publish(const char *topic, const uint8_t *data, uint32_t n)
{
    struct link_msg m;
    memset(&m, 0, sizeof m);
    m.type = LINK_PUBLISH;
    m.topic = link_str_c(topic);
    m.from = link_str_c("e1.w0.c7");
    m.enc = 0;
    m.data.ptr = (const char *)data;
    m.data.len = n;
    return m;
}

static uint64_t rng = 88172645463325252ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)rng;
}

static void test_tls_link_carries_messages_both_ways(void **state)
{
    struct tpair *p = *state;
    enum { BIG = 100 * 1000 };
    static uint8_t data[BIG];
    for (size_t i = 0; i < BIG; i++)
        data[i] = rnd8(); /* incompressible: the whole 100 KB crosses TLS */

    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    /* Before the handshake the preamble waits unencrypted; only the
     * ClientHello is on its way. */
    assert_int_equal(p->cli.tls_up, 0);
    assert_int_equal(buf_readable(&p->cli.plain), LINK_PREAMBLE_LEN);
    assert_true(buf_readable(&p->cli.out) > 0);
    assert_int_equal(buf_readable(&p->srv.out), 0);

    struct link_msg up[2] = {hello("edge-a"), publish("room:1", data, BIG)};
    struct link_msg down[2] = {hello("hub"), publish("room:2", data + 1, BIG - 1)};
    down[1].type = LINK_MESSAGE;
    down[1].seq = 42;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(linkio_send(&p->cli, &up[i]), 0);
        assert_int_equal(linkio_send(&p->srv, &down[i]), 0);
    }
    struct rx to_srv = {up, 2, 0}, to_cli = {down, 2, 0};
    converse(p, &to_srv, &to_cli);

    assert_int_equal(p->srv.msgs_in, 2);
    assert_int_equal(p->cli.msgs_in, 2);
    assert_true(p->cli.raw_out == p->srv.raw_in && p->srv.raw_out == p->cli.raw_in);
    assert_true(p->cli.wire_out > 0 && p->srv.wire_out > 0);
    assert_true(p->cli.wire_out == p->srv.wire_in && p->srv.wire_out == p->cli.wire_in);
    /* Incompressible data: the wire carries at least the payload, plus TLS. */
    assert_true(p->cli.wire_out > BIG && p->srv.wire_out > BIG);

    /* A second round on the established link. */
    struct link_msg more[1] = {publish("room:3", data, 10)};
    struct rx to_srv2 = {more, 1, 0}, to_cli2 = {NULL, 0, 0};
    assert_int_equal(linkio_send(&p->cli, &more[0]), 0);
    converse(p, &to_srv2, &to_cli2);
    assert_int_equal(p->srv.msgs_in, 3);
}

static void test_tls_link_identifies_edge_by_san(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct link_msg up[1] = {hello("edge-a")};
    assert_int_equal(linkio_send(&p->cli, &up[0]), 0);
    struct rx to_srv = {up, 1, 0}, to_cli = {NULL, 0, 0};
    converse(p, &to_srv, &to_cli);

    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-a"), 1);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-b"), 0);
    /* Edge names are identities, compared byte for byte: not as host names
     * (which ignore case, and where ".edge-a" would mean "any name under"). */
    assert_int_equal(tls_peer_is(p->srv.ssl, "EDGE-A"), 0);
    assert_int_equal(tls_peer_is(p->srv.ssl, ".edge-a"), 0);
    assert_int_equal(tls_peer_is(p->srv.ssl, "a.edge-a"), 0);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-a."), 0);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge"), 0);
    /* The edge sees the hub under its DNS name too. */
    assert_int_equal(tls_peer_is(p->cli.ssl, "localhost"), 1);
    assert_int_equal(tls_peer_is(p->cli.ssl, "hub"), 0); /* CN ignored: the cert has DNS SANs */

    char d[128];
    assert_string_equal(tls_peer_describe(p->srv.ssl, d, sizeof d), "CN=edge-a, DNS:edge-a");
    /* IP subjectAltNames are not listed. */
    assert_string_equal(tls_peer_describe(p->cli.ssl, d, sizeof d), "CN=hub, DNS:localhost");
}

static void test_tls_link_falls_back_to_cn_without_san(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_B_CRT, EDGE_B_KEY, "localhost"));
    struct link_msg up[1] = {hello("edge-b")};
    struct link_msg down[1] = {hello("hub")};
    assert_int_equal(linkio_send(&p->cli, &up[0]), 0);
    assert_int_equal(linkio_send(&p->srv, &down[0]), 0);
    struct rx to_srv = {up, 1, 0}, to_cli = {down, 1, 0};
    converse(p, &to_srv, &to_cli);

    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-b"), 1);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-a"), 0);
    assert_int_equal(tls_peer_is(p->srv.ssl, "Edge-B"), 0);
    char d[128];
    assert_string_equal(tls_peer_describe(p->srv.ssl, d, sizeof d), "CN=edge-b");
}

static void test_tls_peer_describe_without_peer_and_in_small_buffer(void **state)
{
    struct tpair *p = *state;
    char d[128];
    assert_string_equal(tls_peer_describe(NULL, d, sizeof d), "-");
    SSL *fresh = hub_ssl(CA1, HUB_CRT, HUB_KEY);
    assert_string_equal(tls_peer_describe(fresh, d, sizeof d), "-");
    assert_int_equal(tls_peer_is(fresh, "edge-a"), 0);
    SSL_free(fresh);

    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct rx none1 = {NULL, 0, 0}, none2 = {NULL, 0, 0};
    converse(p, &none1, &none2);
    /* Truncated, always terminated, never past the end (ASan watches). */
    for (size_t n = 1; n <= 24; n++) {
        char *small = malloc(n);
        tls_peer_describe(p->srv.ssl, small, n);
        assert_true(strlen(small) < n);
        assert_memory_equal(small, "CN=edge-a, DNS:edge-a", strlen(small));
        free(small);
    }
}

static void test_tls_link_rejects_peer_from_other_ca(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A2_CRT, EDGE_A2_KEY, "127.0.0.1"));
    struct link_msg m = hello("edge-a");
    assert_int_equal(linkio_send(&p->cli, &m), 0); /* must never reach the hub */
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "tls handshake", "certificate verify failed",
                   "unable to get local issuer certificate", NULL);
    assert_int_equal(p->srv.msgs_in, 0);
    /* The edge learns why from the hub's alert, not just from a closed socket. */
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "tls", "unknown ca", NULL);
    assert_int_equal(p->cli.msgs_in, 0);
}

static void test_tls_link_rejects_hub_with_wrong_name(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "other.example"));
    struct link_msg m = hello("hub");
    assert_int_equal(linkio_send(&p->srv, &m), 0);
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "tls handshake", "certificate verify failed", "hostname mismatch",
                   NULL);
    assert_int_equal(p->cli.msgs_in, 0);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "tls handshake", "alert", NULL);
    assert_int_equal(p->srv.msgs_in, 0);
}

static void test_tls_link_rejects_hub_with_wrong_ip(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.2"));
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "certificate verify failed", "IP address mismatch", NULL);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "tls handshake", "alert", NULL);
}

/* An edge certificate is for clients only: the hub's own certificate
 * (serverAuth) does not let an edge in. */
static void test_tls_link_rejects_edge_cert_without_client_purpose(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(HUB_CRT, HUB_KEY, "127.0.0.1"));
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "certificate verify failed", "unsuitable certificate purpose", NULL);
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "tls read", "alert", NULL);
}

static void test_tls_link_rejects_edge_without_certificate(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, path(CA1), NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    SSL_set_connect_state(ssl);
    assert_int_equal(tls_expect_host(ssl, "localhost"), 0);
    use_tls(&p->cli, ssl);
    struct link_msg m = hello("edge-x");
    assert_int_equal(linkio_send(&p->cli, &m), 0);
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "tls handshake", "peer did not return a certificate", NULL);
    assert_int_equal(p->srv.msgs_in, 0);
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "tls read", "certificate required", NULL);
}

/* Every byte of the handshake and of the records arrives on its own: TLS
 * and linkio both wait for the rest without error. */
static void trickle(struct linkio *l, int fd)
{
    assert_int_equal(linkio_flush(l), 0);
    if (buf_readable(&l->out)) {
        assert_int_equal(write(fd, buf_head(&l->out), 1), 1);
        buf_consume(&l->out, 1);
    }
}

static void test_tls_link_handles_bytes_arriving_one_at_a_time(void **state)
{
    struct tpair *p = *state;
    static const uint8_t data[] = "a small payload";
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "localhost"));
    struct link_msg up[2] = {hello("edge-a"), publish("room:1", data, sizeof data)};
    struct link_msg down[1] = {hello("hub")};
    for (int i = 0; i < 2; i++)
        assert_int_equal(linkio_send(&p->cli, &up[i]), 0);
    assert_int_equal(linkio_send(&p->srv, &down[0]), 0);
    struct rx to_srv = {up, 2, 0}, to_cli = {down, 1, 0};
    for (int i = 0; i < 100000 && (to_srv.got < 2 || to_cli.got < 1); i++) {
        trickle(&p->cli, p->fc);
        int rc = linkio_read(&p->srv, p->fs, 1u << 20, on_msg, &to_srv);
        if (rc)
            fail_msg("hub side stopped (%d): %s", rc, p->srv.err);
        trickle(&p->srv, p->fs);
        rc = linkio_read(&p->cli, p->fc, 1u << 20, on_msg, &to_cli);
        if (rc)
            fail_msg("edge side stopped (%d): %s", rc, p->cli.err);
    }
    assert_int_equal(to_srv.got, 2);
    assert_int_equal(to_cli.got, 1);
    assert_true(p->srv.wire_in > 1000); /* it did take many one-byte reads */
}

/* A message at the size limit crosses TLS (many records, partial writes),
 * and the big buffers go back once it is through. */
static void test_tls_link_carries_max_size_message_and_releases_buffers(void **state)
{
    struct tpair *p = *state;
    size_t n = LINK_MAX_MESSAGE - 200;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = rnd8();
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct link_msg up[2] = {hello("edge-a"), publish("big", data, (uint32_t)n)};
    assert_int_equal(linkio_send(&p->cli, &up[0]), 0);
    assert_int_equal(linkio_send(&p->cli, &up[1]), 0);
    struct rx to_srv = {up, 2, 0}, to_cli = {NULL, 0, 0};
    converse(p, &to_srv, &to_cli);
    assert_true(p->cli.wire_out > n);
    assert_true(p->cli.out.cap <= 4 * LINKIO_CHUNK);
    assert_true(p->cli.plain.cap <= 4 * LINKIO_CHUNK);
    assert_true(p->cli.scratch.cap <= 4 * LINKIO_CHUNK);
    assert_true(p->srv.in.cap <= 4 * LINKIO_CHUNK);
    free(data);
}

/* Decrypted bytes must not stay inside OpenSSL when the read budget is
 * used up: once the socket is drained, every message has been dispatched
 * (an event loop would not wake up again for bytes OpenSSL holds). */
static void test_tls_link_read_budget_leaves_nothing_inside_openssl(void **state)
{
    struct tpair *p = *state;
    enum { N = 6, SIZE = 40 * 1000 };
    static uint8_t data[N][SIZE];
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct rx none1 = {NULL, 0, 0}, none2 = {NULL, 0, 0};
    converse(p, &none1, &none2);

    struct link_msg up[N + 1];
    up[0] = hello("edge-a");
    assert_int_equal(linkio_send(&p->cli, &up[0]), 0);
    for (unsigned i = 1; i <= N; i++) {
        for (size_t k = 0; k < SIZE; k++)
            data[i - 1][k] = rnd8();
        up[i] = publish("room:1", data[i - 1], SIZE);
        assert_int_equal(linkio_send(&p->cli, &up[i]), 0);
    }
    struct rx to_srv = {up, N + 1, 0};
    int w = 1;
    /* Budget 1: each read does one step. While input waits inside linkio
     * (TLS records not yet read, bytes not yet decompressed) it says so,
     * because no socket event would come for it. */
    for (int i = 0;
         i < 1000 && (w != 0 || p->srv.wire_in < p->cli.wire_out || linkio_has_backlog(&p->srv));
         i++) {
        assert_int_equal(linkio_flush(&p->cli), 0);
        w = linkio_write(&p->cli, p->fc);
        assert_true(w == 0 || w == 1);
        assert_int_equal(linkio_read(&p->srv, p->fs, 1, on_msg, &to_srv), 0);
    }
    assert_true(p->srv.wire_in == p->cli.wire_out);
    assert_int_equal(to_srv.got, N + 1);
    assert_false(linkio_has_backlog(&p->srv));
    assert_int_equal(SSL_pending(p->srv.ssl), 0);
}

/* TLS 1.3 key updates, requested by either side, keep the link going. */
static void test_tls_link_survives_key_updates(void **state)
{
    struct tpair *p = *state;
    static const uint8_t data[] = "after the key update";
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct link_msg hs[2] = {hello("edge-a"), hello("hub")};
    assert_int_equal(linkio_send(&p->cli, &hs[0]), 0);
    assert_int_equal(linkio_send(&p->srv, &hs[1]), 0);
    struct rx h1 = {&hs[0], 1, 0}, h2 = {&hs[1], 1, 0};
    converse(p, &h1, &h2);

    struct link_msg m[1] = {publish("t", data, sizeof data)};
    for (int round = 0; round < 4; round++) {
        /* Alternate the side that updates; the peer must answer with its own. */
        struct linkio *l = round % 2 ? &p->cli : &p->srv;
        assert_int_equal(SSL_key_update(l->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        assert_int_equal(linkio_send(l, &m[0]), 0);
        struct rx a = {m, l == &p->cli ? 1u : 0u, 0}, b = {m, l == &p->srv ? 1u : 0u, 0};
        converse(p, &a, &b);
        /* And data flows the other way on the peer's new keys. */
        struct linkio *peer = l == &p->cli ? &p->srv : &p->cli;
        assert_int_equal(linkio_send(peer, &m[0]), 0);
        struct rx c = {m, peer == &p->cli ? 1u : 0u, 0}, d = {m, peer == &p->srv ? 1u : 0u, 0};
        converse(p, &c, &d);
        assert_int_equal(SSL_get_key_update_type(p->srv.ssl), SSL_KEY_UPDATE_NONE);
        assert_int_equal(SSL_get_key_update_type(p->cli.ssl), SSL_KEY_UPDATE_NONE);
    }
    assert_int_equal(p->srv.msgs_in, 5);
    assert_int_equal(p->cli.msgs_in, 5);
}

/* The peer going away in the middle of the handshake is an EOF, not a hang. */
static void test_tls_link_reports_eof_during_handshake(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct rx none = {NULL, 0, 0};
    assert_int_equal(turn(&p->cli, p->fc, &none), 0); /* ClientHello out */
    assert_int_equal(turn(&p->srv, p->fs, &none), 0); /* server flight out */
    close(p->fc);
    p->fc = -1;
    assert_int_equal(linkio_read(&p->srv, p->fs, 1u << 20, on_msg, &none), 1);
    assert_int_equal(p->srv.tls_up, 0);
}

/* A plain-TCP edge reaching a TLS hub: both sides give up, nobody hangs. */
static void test_tls_link_rejects_plaintext_edge(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->srv, hub_ssl(CA1, HUB_CRT, HUB_KEY));
    struct link_msg m = hello("edge-a");
    assert_int_equal(linkio_send(&p->cli, &m), 0);
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rs, -1);
    assert_err_has(p->srv.err, "tls handshake", "wrong version number", NULL);
    assert_int_equal(p->srv.msgs_in, 0);
    assert_true(rc == -1 || rc == 1); /* OpenSSL sends no alert here: EOF */
    if (rc == -1)
        assert_string_equal(p->cli.err, "not a spoke link (bad preamble)");
}

/* A TLS edge reaching a plain-TCP hub. */
static void test_tls_link_rejects_plaintext_hub(void **state)
{
    struct tpair *p = *state;
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct link_msg m = hello("hub");
    assert_int_equal(linkio_send(&p->srv, &m), 0);
    int rs, rc;
    run_until_both_stop(p, &rs, &rc);
    assert_int_equal(rs, -1);
    assert_string_equal(p->srv.err, "not a spoke link (bad preamble)");
    assert_int_equal(rc, -1);
    assert_err_has(p->cli.err, "tls handshake", "wrong version number", NULL);
    assert_int_equal(p->cli.msgs_in, 0);
}

/* An SSL in neither connect nor accept state: refused, and whatever the
 * link holds is released by linkio_deinit (no leak, no double free). */
static void test_tls_link_use_tls_refuses_ssl_without_role(void **state)
{
    struct tpair *p = *state;
    char err[256];
    SSL_CTX *ctx =
        tls_link_client_ctx(path(CA1), path(EDGE_A_CRT), path(EDGE_A_KEY), err, sizeof err);
    assert_non_null(ctx);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    assert_int_equal(linkio_use_tls(&p->cli, ssl), -1);
    assert_string_equal(p->cli.err, "tls handshake: connection type not set");
}

/* ---- tls_slot */

static void test_tls_slot_replacement_keeps_old_ssl_working(void **state)
{
    struct tpair *p = *state;
    char err[256];
    struct tls_slot slot;
    tls_slot_init(&slot);
    assert_null(tls_slot_new_ssl(&slot));

    SSL_CTX *one = tls_link_server_ctx(path(CA1), path(HUB_CRT), path(HUB_KEY), err, sizeof err);
    assert_non_null(one);
    tls_slot_set(&slot, one);
    SSL *old = tls_slot_new_ssl(&slot);
    assert_non_null(old);
    assert_ptr_equal(SSL_get_SSL_CTX(old), one);

    /* The replacement presents a CA2 certificate an edge trusting CA1
     * refuses: a handshake that succeeds proves the old context was used. */
    SSL_CTX *two =
        tls_link_server_ctx(path(CA2), path(EDGE_A2_CRT), path(EDGE_A2_KEY), err, sizeof err);
    assert_non_null(two);
    tls_slot_set(&slot, two); /* releases the slot's reference to `one` */
    SSL *fresh = tls_slot_new_ssl(&slot);
    assert_non_null(fresh);
    assert_ptr_equal(SSL_get_SSL_CTX(fresh), two);
    assert_ptr_equal(SSL_get_SSL_CTX(old), one);

    SSL_set_accept_state(old);
    use_tls(&p->srv, old);
    use_tls(&p->cli, edge_ssl(EDGE_A_CRT, EDGE_A_KEY, "127.0.0.1"));
    struct link_msg up[1] = {hello("edge-a")};
    struct link_msg down[1] = {hello("hub")};
    assert_int_equal(linkio_send(&p->cli, &up[0]), 0);
    assert_int_equal(linkio_send(&p->srv, &down[0]), 0);
    struct rx to_srv = {up, 1, 0}, to_cli = {down, 1, 0};
    converse(p, &to_srv, &to_cli);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-a"), 1);

    /* Replacing again and deinitialising frees `two`; `fresh` still holds it. */
    tls_slot_set(&slot, NULL);
    assert_null(tls_slot_new_ssl(&slot));
    tls_slot_deinit(&slot);
    assert_ptr_equal(SSL_get_SSL_CTX(fresh), two);
    SSL_free(fresh);
}

static void test_tls_slot_new_ssl_uses_the_new_context(void **state)
{
    struct tpair *p = *state;
    char err[256];
    struct tls_slot slot;
    tls_slot_init(&slot);
    tls_slot_set(&slot, tls_link_server_ctx(path(CA2), path(EDGE_A2_CRT), path(EDGE_A2_KEY), err,
                                            sizeof err));
    tls_slot_set(&slot,
                 tls_link_server_ctx(path(CA1), path(HUB_CRT), path(HUB_KEY), err, sizeof err));
    SSL *ssl = tls_slot_new_ssl(&slot);
    tls_slot_deinit(&slot); /* the SSL keeps its context alive */
    assert_non_null(ssl);
    SSL_set_accept_state(ssl);
    use_tls(&p->srv, ssl);
    use_tls(&p->cli, edge_ssl(EDGE_B_CRT, EDGE_B_KEY, "localhost"));
    struct rx none1 = {NULL, 0, 0}, none2 = {NULL, 0, 0};
    converse(p, &none1, &none2);
    assert_int_equal(tls_peer_is(p->srv.ssl, "edge-b"), 1);
}

static void test_tls_slot_deinit_is_safe_on_zeroed_slot(void **state)
{
    struct tls_slot slot;
    memset(&slot, 0, sizeof slot);
    tls_slot_deinit(&slot);
    assert_null(slot.ctx);
}

#define T(f) cmocka_unit_test(f)
#define TP(f) cmocka_unit_test_setup_teardown(f, tpair_setup, tpair_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tls_ctx_constructors_succeed_with_valid_files),
        T(test_tls_ctx_constructors_name_a_missing_file),
        T(test_tls_ctx_constructors_reject_empty_or_null_path),
        T(test_tls_ctx_constructors_reject_key_of_other_type),
        T(test_tls_ctx_constructors_reject_key_that_does_not_match),
        T(test_tls_ctx_constructors_reject_non_pem_files),
        T(test_tls_error_returns_fallback_or_readable_reason),
        T(test_tls_client_facing_ctx_negotiates_http11_alpn),
        T(test_tls_client_facing_ctx_goes_on_without_alpn_match),
        T(test_tls_client_facing_ctx_accepts_tls12_and_refuses_tls11),
        TP(test_tls_link_carries_messages_both_ways),
        TP(test_tls_link_identifies_edge_by_san),
        TP(test_tls_link_falls_back_to_cn_without_san),
        TP(test_tls_peer_describe_without_peer_and_in_small_buffer),
        TP(test_tls_link_handles_bytes_arriving_one_at_a_time),
        TP(test_tls_link_carries_max_size_message_and_releases_buffers),
        TP(test_tls_link_read_budget_leaves_nothing_inside_openssl),
        TP(test_tls_link_survives_key_updates),
        TP(test_tls_link_reports_eof_during_handshake),
        TP(test_tls_link_rejects_peer_from_other_ca),
        TP(test_tls_link_rejects_hub_with_wrong_name),
        TP(test_tls_link_rejects_hub_with_wrong_ip),
        TP(test_tls_link_rejects_edge_cert_without_client_purpose),
        TP(test_tls_link_rejects_edge_without_certificate),
        TP(test_tls_link_rejects_plaintext_edge),
        TP(test_tls_link_rejects_plaintext_hub),
        TP(test_tls_link_use_tls_refuses_ssl_without_role),
        TP(test_tls_slot_replacement_keeps_old_ssl_working),
        TP(test_tls_slot_new_ssl_uses_the_new_context),
        T(test_tls_slot_deinit_is_safe_on_zeroed_slot),
    };
    return cmocka_run_group_tests(tests, certs_setup, certs_teardown);
}
