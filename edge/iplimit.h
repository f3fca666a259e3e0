/* Connections per client address across all of an edge's workers
 * (max_conns_per_ip). An IPv4 address counts on its own (also when it comes
 * IPv4-mapped in IPv6); IPv6 addresses count per /64 prefix, which one
 * client usually holds whole. Shared by the worker threads: the table is
 * split into stripes, each under its own mutex, so accepts on different
 * workers rarely wait for each other. Behind a proxy every client has the
 * proxy's address: set the limit at the proxy instead. */
#ifndef SPOKE_EDGE_IPLIMIT_H
#define SPOKE_EDGE_IPLIMIT_H
#include <stdint.h>
#include <sys/socket.h>

/* IPv6 peers are counted per /64, as by every per-address limit of spoke
 * (net_sockaddr_group in common/net.h). */

struct iplimit;
struct dict_entry;

struct iplimit *iplimit_new(uint32_t max);
void iplimit_free(struct iplimit *l); /* NULL ok */

/* Counts one more connection from the peer address ss (AF_INET or
 * AF_INET6) under its key: its IPv4 address or its IPv6 /64. Returns the
 * handle to give back to iplimit_release, or NULL when the key already holds
 * `max` connections (nothing counted). */
struct dict_entry *iplimit_acquire(struct iplimit *l, const struct sockaddr_storage *ss);
void iplimit_release(struct iplimit *l, struct dict_entry *handle); /* NULL ok */
/* Connections counted for ss's key (its IPv4 address or IPv6 /64) now (for
 * tests and metrics). */
uint32_t iplimit_count(struct iplimit *l, const struct sockaddr_storage *ss);

#endif
