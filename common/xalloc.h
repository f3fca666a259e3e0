/* Allocation for bookkeeping: out of memory aborts (as h2o does). Every size a
 * peer can influence is bounded by a configured limit before it gets here. */
#ifndef SPOKE_XALLOC_H
#define SPOKE_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
