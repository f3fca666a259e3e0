/* Epochs: the names of a topic's numberings, 8 characters of [0-9a-z]
 * drawn uniformly from getrandom's bytes (or, in tests, from bytes made
 * predictable). The memory engine mints one when it makes a topic's state;
 * the redis engine proposes one to its script with every call that may
 * make the state (the first hub to make it wins, hub/engine_redis.h). */
#ifndef SPOKE_HUB_EPOCH_H
#define SPOKE_HUB_EPOCH_H
#include <stddef.h>
#include <stdint.h>

#define HUB_EPOCH_LEN 8

/* Where epochs come from: random (NULL: getrandom) filled with ud, and the
 * bytes not used yet. Zero it, set random and ud, and it is ready. */
struct epoch_source {
    void (*random)(void *buf, size_t n, void *ud);
    void *ud;
    uint8_t rnd[64];
    size_t left;
};

/* Writes HUB_EPOCH_LEN characters of [0-9a-z] and a NUL to out. */
void epoch_mint(struct epoch_source *s, char out[HUB_EPOCH_LEN + 1]);

#endif
