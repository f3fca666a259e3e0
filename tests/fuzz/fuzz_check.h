/* The one assertion the fuzz drivers share: an invariant that must hold on
 * every input, reported with its location and turned into a crash so that
 * libFuzzer saves the input (plain assert() vanishes under -DNDEBUG). */
#ifndef SPOKE_FUZZ_CHECK_H
#define SPOKE_FUZZ_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif
