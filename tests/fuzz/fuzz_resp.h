/* What the drivers that feed RESP bytes to hiredis's reader share:
 * hiredis 0.14 allocates whatever array length or bulk size it is told, so
 * such inputs are skipped by fuzz_resp_each (a hostile Redis could exhaust a hub's memory
 * that way; a trusted one does not). */
#ifndef SPOKE_FUZZ_RESP_H
#define SPOKE_FUZZ_RESP_H
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* 1 if some '*' or '$' count in p declares more than 4096. */
static inline int fuzz_resp_declares_too_much(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '*' && p[i] != '$')
            continue;
        size_t j = i + 1, digits = 0;
        unsigned long v = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9' && digits < 12) {
            v = v * 10 + (unsigned long)(p[j] - '0');
            j++;
            digits++;
        }
        if (digits >= 12 || v > 4096)
            return 1;
    }
    return 0;
}

/* Calls fn for every reply hiredis's reader makes of p[0, n), unless the
 * bytes declare too much. */
static inline void fuzz_resp_each(const uint8_t *p, size_t n, void (*fn)(const redisReply *r))
{
    if (fuzz_resp_declares_too_much(p, n))
        return;
    redisReader *rd = redisReaderCreate();
    redisReaderFeed(rd, (const char *)p, n);
    void *reply;
    while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
        fn(reply);
        freeReplyObject(reply);
    }
    redisReaderFree(rd);
}

#endif
