/* OpenSSL contexts for spoke's TLS uses: client-facing wss on the edge and
 * the hub's HTTPS API (TLS 1.2 and 1.3, ALPN http/1.1, buffers released on
 * idle connections), and the mutually authenticated edge-hub link (TLS 1.3
 * only, private CA).
 * Contexts are built whole from files and swapped on reload (tls_slot):
 * SSL objects hold their own reference, so live connections keep the
 * context they were accepted with. See LIBRARIES.md §6. */
#ifndef SPOKE_TLS_H
#define SPOKE_TLS_H
#include <openssl/ssl.h>
#include <pthread.h>
#include <stddef.h>

#include "common/net.h"

/* Client-facing server context from a PEM certificate (chain allowed) and
 * key. Returns the context, or NULL with a one-line reason in err (missing,
 * unreadable, malformed, or a key that does not match the certificate). */
SSL_CTX *tls_client_facing_ctx(const char *cert, const char *key, char *err, size_t errlen);
/* The same for the hub's HTTPS API (http_tls_cert, http_tls_key): errors
 * name those settings. */
SSL_CTX *tls_http_server_ctx(const char *cert, const char *key, char *err, size_t errlen);

/* Hub side of the link: requires a client certificate issued by ca.
 * Returns the context or NULL (err set). */
SSL_CTX *tls_link_server_ctx(const char *ca, const char *cert, const char *key, char *err,
                             size_t errlen);
/* Edge side of the link: presents cert/key and trusts only ca. Returns the
 * context or NULL (err set). */
SSL_CTX *tls_link_client_ctx(const char *ca, const char *cert, const char *key, char *err,
                             size_t errlen);

/* Decides how a link runs: 1 for TLS (link_ca, link_cert and link_key all
 * set), 0 for plain TCP (none set, and addr on loopback or allow_insecure:
 * the latter logged as a warning), -1 with err set otherwise. `where`
 * names the address in messages ("edge links on", "link to the hub at"). */
int tls_link_mode(const char *ca, const char *cert, const char *key, const struct net_addr *addr,
                  int allow_insecure, const char *where, char *err, size_t errlen);

/* Makes ssl (from tls_link_client_ctx) verify that the peer's certificate
 * names `host` (an IP address or a DNS name) and sends it as SNI.
 * Returns 0 or -1. */
int tls_expect_host(SSL *ssl, const char *host);

/* 1 if the verified peer certificate names `name` exactly (byte for byte,
 * case included, no wildcards or suffixes) as a DNS subjectAltName or,
 * when it has none, as its only subject CN; 0 otherwise. */
int tls_peer_is(SSL *ssl, const char *name);
/* The peer certificate's names for logs ("CN=x, DNS:y"); "-" without one. */
const char *tls_peer_describe(SSL *ssl, char *out, size_t outlen);

/* The oldest error in this thread's OpenSSL queue as one line (queue
 * cleared), or `fallback` when it is empty. */
const char *tls_error(char *out, size_t outlen, const char *fallback);

/* A context shared by threads and replaced on reload. */
struct tls_slot {
    pthread_mutex_t mu;
    SSL_CTX *ctx;
};
void tls_slot_init(struct tls_slot *s);
/* Frees the context held; safe on a zeroed slot. */
void tls_slot_deinit(struct tls_slot *s);
/* Takes ownership of ctx; the previous one is released (connections that
 * use it keep it alive until they end). */
void tls_slot_set(struct tls_slot *s, SSL_CTX *ctx);
/* A new SSL object from the current context, or NULL (none set or no memory). */
SSL *tls_slot_new_ssl(struct tls_slot *s);

#endif
