/* Minting epochs (see epoch.h). */
#include "hub/epoch.h"

#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/siphash.h"

static void refill(struct epoch_source *s)
{
    if (s->random) {
        s->random(s->rnd, sizeof s->rnd, s->ud);
    } else if (getrandom(s->rnd, sizeof s->rnd, 0) != (ssize_t)sizeof s->rnd) {
        /* Not expected after boot. An epoch only has to differ from the
         * topic's earlier ones, which time and a hash give well enough. */
        uint64_t k = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof s->rnd; i += 8) {
            uint64_t v = siphash13(k, i, &k, sizeof k);
            memcpy(s->rnd + i, &v, 8);
        }
    }
    s->left = sizeof s->rnd;
}

/* Uniform: bytes of 252 and above (36 * 7) are skipped so that the modulo
 * favours no character. */
void epoch_mint(struct epoch_source *s, char out[HUB_EPOCH_LEN + 1])
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < HUB_EPOCH_LEN;) {
        if (!s->left)
            refill(s);
        uint8_t b = s->rnd[--s->left];
        if (b < 252)
            out[i++] = alphabet[b % 36];
    }
    out[HUB_EPOCH_LEN] = '\0';
}
