/* spokectl: the operator's command line for a running hub (a stub for now:
 * it only explains itself until the hub's control API exists). */
#include <stdio.h>
#include <string.h>

#include "common/version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spokectl [--hub URL] [--token T] COMMAND ...\n"
            "commands: edges, topics, policy, publish, kick, drain — not implemented yet\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("spokectl %s\n", SPOKE_VERSION);
            return 0;
        }
    }
    usage(stderr);
    return 2;
}
