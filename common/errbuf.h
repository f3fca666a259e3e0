/* The one-line reasons decoders and checks leave in the caller's err
 * buffer (`char *err, size_t errlen`, the convention of every "returns -1
 * with err set" in the tree). */
#ifndef SPOKE_ERRBUF_H
#define SPOKE_ERRBUF_H
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Writes the reason into err[0, errlen) (cut to fit). Returns -1, for
 * `return errbuf_set(err, errlen, "...")`. */
static inline int errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
