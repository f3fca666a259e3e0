/* permessage-deflate negotiation (RFC 7692 §5, §7.1): reads a client's
 * Sec-WebSocket-Extensions offers and picks the first one the edge can
 * honour without context takeover in either direction. The edge compresses
 * each message once for every subscriber and inflates with per-worker state
 * only, so it always answers server_no_context_takeover and
 * client_no_context_takeover (§7.1.1.1: a server may require the latter).
 * Not yet wired into the handshake (see docs/protocol.md). */
#ifndef SPOKE_PMDEFLATE_H
#define SPOKE_PMDEFLATE_H
#include <stddef.h>

/* Longest answer pmd_negotiate writes, NUL included. */
#define PMD_ANSWER_MAX 128

/* Judges the comma-joined value(s) of Sec-WebSocket-Extensions hdr[0, len)
 * (a repeated header is one list: join the values with ", ").
 * Per offer: unknown, repeated or badly valued parameters decline it;
 * server_max_window_bits below 15 declines it (the shared compressor uses a
 * 15-bit window); client_max_window_bits (with or without a value 8..15)
 * is accepted and not echoed (the inflater takes any window). A header
 * that is not valid extension syntax declines everything.
 * Returns 1 and writes the answer's value into answer (PMD_ANSWER_MAX
 * bytes) for the first acceptable offer; 0 (answer "") if none. */
int pmd_negotiate(const char *hdr, size_t len, char answer[PMD_ANSWER_MAX]);

#endif
