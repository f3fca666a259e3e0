/* container_of: from a pointer to a member back to the struct holding it,
 * for intrusive nodes (deadline lists) whose callbacks get the node. */
#ifndef SPOKE_CONTAINER_H
#define SPOKE_CONTAINER_H
#include <stddef.h>

/* Kept out of clang-format, which reads "(ptr) - offsetof" as a cast. */
/* clang-format off */
#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */

#endif
