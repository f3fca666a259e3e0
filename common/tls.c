/* TLS contexts for wss and the edge-hub link: see tls.h. */
#include "common/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

const char *tls_error(char *out, size_t outlen, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, outlen, "%s", fallback);
        return out;
    }
    char line[256];
    ERR_error_string_n(e, line, sizeof line);
    ERR_clear_error();
    /* "error:0A00018F:SSL routines::ee key too small": keep the readable tail. */
    const char *p = strstr(line, "::");
    snprintf(out, outlen, "%s", p ? p + 2 : line);
    return out;
}

/* A file we cannot open gives a clearer message than OpenSSL's queue. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "%s: no file given", what);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

static int load_pair(SSL_CTX *ctx, const char *what_cert, const char *cert, const char *what_key,
                     const char *key, char *err, size_t errlen)
{
    char why[256];
    if (readable(what_cert, cert, err, errlen) < 0 || readable(what_key, key, err, errlen) < 0)
        return -1;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "%s %s: not a PEM certificate (%s)", what_cert, cert,
                 tls_error(why, sizeof why, "unreadable"));
        return -1;
    }
    /* Parsed first: OpenSSL 3's SSL_CTX_use_PrivateKey_file already fails on
     * a key that does not match, which would read as a malformed file. */
    BIO *bio = BIO_new_file(key, "r");
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        snprintf(err, errlen, "%s %s: not a PEM private key (%s)", what_key, key,
                 tls_error(why, sizeof why, "unreadable"));
        return -1;
    }
    int used = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s %s does not match the certificate in %s", what_key, key, cert);
        return -1;
    }
    return 0;
}

static int load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
    char why[256];
    if (readable("link_ca", ca, err, errlen) < 0)
        return -1;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        snprintf(err, errlen, "link_ca %s: %s", ca, tls_error(why, sizeof why, "no certificates"));
        return -1;
    }
    return 0;
}

static int select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                         const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no http/1.1 offered: go on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Options both uses share: no renegotiation (a CPU sink, and reads a
 * server never asked for), no compression (CRIME), and a peer FIN without
 * close_notify read as a clean end. Both write into BIOs that never block
 * (linkio's memory BIO, the edge transport's stage), so SSL_write always
 * takes everything and needs no partial-write or moving-buffer modes. */
static SSL_CTX *ctx_new(const SSL_METHOD *method, int min_version, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        char why[256];
        snprintf(err, errlen, "SSL_CTX_new: %s", tls_error(why, sizeof why, "out of memory"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_version);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
    return ctx;
}

/* A server context for browsers and HTTP clients; what_cert and what_key
 * name the settings in messages. */
static SSL_CTX *web_server_ctx(const char *what_cert, const char *cert, const char *what_key,
                               const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(TLS_server_method(), TLS1_2_VERSION, err, errlen);
    if (!ctx)
        return NULL;
    /* Idle connections give their read and write buffers back: 47 KB ->
     * 14 KB per connection (LIBRARIES.md §6) for +5 % CPU on small writes. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Forward-secret AEAD suites only, AES-128-GCM first: as safe for
     * this use and cheaper per byte than AES-256 on every fan-out copy
     * (measured in docs/performance.md). */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AES128+AESGCM:ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, NULL);
    if (load_pair(ctx, what_cert, cert, what_key, key, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *tls_client_facing_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    return web_server_ctx("tls_cert", cert, "tls_key", key, err, errlen);
}

SSL_CTX *tls_http_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    return web_server_ctx("http_tls_cert", cert, "http_tls_key", key, err, errlen);
}

/* Both ends of a link: TLS 1.3 only, the peer verified against the
 * private CA, no session cache (links live for days and reconnect rarely). */
static SSL_CTX *link_ctx(const SSL_METHOD *method, int verify, const char *ca, const char *cert,
                         const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(method, TLS1_3_VERSION, err, errlen);
    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, verify, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (load_ca(ctx, ca, err, errlen) < 0 ||
        load_pair(ctx, "link_cert", cert, "link_key", key, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *tls_link_server_ctx(const char *ca, const char *cert, const char *key, char *err,
                             size_t errlen)
{
    SSL_CTX *ctx = link_ctx(TLS_server_method(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                            ca, cert, key, err, errlen);
    if (ctx)
        SSL_CTX_set_num_tickets(ctx, 0); /* tickets would only cost memory */
    return ctx;
}

SSL_CTX *tls_link_client_ctx(const char *ca, const char *cert, const char *key, char *err,
                             size_t errlen)
{
    return link_ctx(TLS_client_method(), SSL_VERIFY_PEER, ca, cert, key, err, errlen);
}

int tls_link_mode(const char *ca, const char *cert, const char *key, const struct net_addr *addr,
                  int allow_insecure, const char *where, char *err, size_t errlen)
{
    int n = !!(ca && *ca) + !!(cert && *cert) + !!(key && *key);
    if (n == 3)
        return 1;
    if (n != 0) {
        snprintf(err, errlen, "link_ca, link_cert and link_key must be set together");
        return -1;
    }
    if (net_addr_is_loopback(addr))
        return 0;
    char a[300];
    net_format_addr(addr, a, sizeof a);
    if (!allow_insecure) {
        snprintf(err, errlen,
                 "refusing plain TCP %s %s: set link_ca, link_cert and link_key "
                 "(or allow_insecure_links = true on a trusted network)",
                 where, a);
        return -1;
    }
    log_warn("%s %s is NOT encrypted or authenticated (allow_insecure_links = true)", where, a);
    return 0;
}

int tls_expect_host(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1)
        return 0; /* an IP address: checked against IP subjectAltNames, no SNI */
    ERR_clear_error();
    if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    return 0;
}

int tls_peer_is(SSL *ssl, const char *name)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    /* Byte for byte, not X509_check_host: host name rules compare without
     * case and let ".example" match any name under it, while an edge name
     * is an identity, and "EDGE-A" is not "edge-a". DNS subjectAltNames
     * decide; the subject CN only when there are none (RFC 6125 §6.4.4). */
    size_t n = strlen(name);
    int found = 0, any_dns = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS)
            continue;
        any_dns = 1;
        const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
        if ((size_t)ASN1_STRING_length(g->d.dNSName) == n && memcmp(s, name, n) == 0)
            found = 1;
    }
    GENERAL_NAMES_free(sans);
    if (!any_dns) {
        X509_NAME *subj = X509_get_subject_name(cert);
        int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
        /* Exactly one CN: with two, which one names the peer is unclear. */
        if (idx >= 0 && X509_NAME_get_index_by_NID(subj, NID_commonName, idx) < 0) {
            const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
            found = (size_t)ASN1_STRING_length(cn) == n &&
                    memcmp(ASN1_STRING_get0_data(cn), name, n) == 0;
        }
    }
    ERR_clear_error();
    return found;
}

const char *tls_peer_describe(SSL *ssl, char *out, size_t outlen)
{
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (!cert) {
        snprintf(out, outlen, "-");
        return out;
    }
    size_t used = 0;
    out[0] = '\0';
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
        used += (size_t)snprintf(out, outlen, "CN=%s", cn);
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && used < outlen; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
        int n = ASN1_STRING_length(g->d.dNSName);
        used += (size_t)snprintf(out + used, outlen - used, "%sDNS:%.*s", used ? ", " : "", n,
                                 (const char *)s);
    }
    GENERAL_NAMES_free(sans);
    ERR_clear_error();
    return out;
}

void tls_slot_init(struct tls_slot *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = NULL;
}

void tls_slot_deinit(struct tls_slot *s)
{
    SSL_CTX_free(s->ctx);
    s->ctx = NULL;
    pthread_mutex_destroy(&s->mu);
}

void tls_slot_set(struct tls_slot *s, SSL_CTX *ctx)
{
    pthread_mutex_lock(&s->mu);
    SSL_CTX *old = s->ctx;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->mu);
    SSL_CTX_free(old);
}

SSL *tls_slot_new_ssl(struct tls_slot *s)
{
    /* SSL_new takes its own reference on the context under the lock, so a
     * reload between here and the handshake cannot free it. */
    pthread_mutex_lock(&s->mu);
    SSL *ssl = s->ctx ? SSL_new(s->ctx) : NULL;
    pthread_mutex_unlock(&s->mu);
    return ssl;
}
