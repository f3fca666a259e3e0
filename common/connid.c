/* Connection ids: the grammar, its parser and its formatter (see connid.h). */
#include "common/connid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int connid_name_is_valid(const char *s, size_t n)
{
    if (n < 1 || n > CONNID_MAX_NAME || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Parses p[0, n) as a decimal number without leading zeros ("0" itself is
 * allowed) that is at most max. Returns 0 or -1. */
static int parse_dec(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] < '0' || p[k] > '9')
            return -1;
        unsigned d = (unsigned)(p[k] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Parses exactly 8 lower-case hex digits. Returns 0 or -1. */
static int parse_boot(const char *p, size_t n, uint32_t *out)
{
    if (n != 8)
        return -1;
    uint32_t v = 0;
    for (size_t k = 0; k < 8; k++) {
        char c = p[k];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

int connid_parse(const char *s, size_t n, struct connid *out)
{
    /* No part may hold a ':', so an id has exactly three: splitting needs
     * no rule about which of them count. */
    size_t colon[3];
    int found = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] != ':')
            continue;
        if (found == 3)
            return CONNID_E_PARTS;
        colon[found++] = k;
    }
    if (found != 3)
        return CONNID_E_PARTS;
    uint64_t worker, seq;
    if (!connid_name_is_valid(s, colon[0]))
        return CONNID_E_NAME;
    if (parse_dec(s + colon[0] + 1, colon[1] - colon[0] - 1, CONNID_WORKER_LIMIT - 1, &worker) < 0)
        return CONNID_E_WORKER;
    if (parse_boot(s + colon[1] + 1, colon[2] - colon[1] - 1, &out->boot) < 0)
        return CONNID_E_BOOT;
    if (parse_dec(s + colon[2] + 1, n - colon[2] - 1, UINT64_MAX, &seq) < 0 || seq == 0)
        return CONNID_E_SEQ;
    out->name = s;
    out->name_len = colon[0];
    out->worker = (uint32_t)worker;
    out->seq = seq;
    return 0;
}

int connid_format(char *out, size_t cap, const struct connid *id)
{
    if (cap > 0)
        out[0] = '\0';
    if (!connid_name_is_valid(id->name, id->name_len) || id->worker >= CONNID_WORKER_LIMIT ||
        id->seq == 0)
        return -1;
    int n = snprintf(out, cap, "%.*s:%" PRIu32 ":%08" PRIx32 ":%" PRIu64, (int)id->name_len,
                     id->name, id->worker, id->boot, id->seq);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}

int connid_same_worker(const struct connid *a, const struct connid *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0 &&
           a->worker == b->worker && a->boot == b->boot;
}

const char *connid_strerror(int rc)
{
    switch (rc) {
    case 0: return "";
    case CONNID_E_NAME:
        return "the edge name of a connection id must be 1..64 bytes of A-Z a-z 0-9 . _ - "
               "not starting with '.'";
    case CONNID_E_WORKER:
        return "the worker of a connection id must be a decimal number below 1024 without "
               "leading zeros";
    case CONNID_E_BOOT: return "the boot of a connection id must be 8 lower-case hex digits";
    case CONNID_E_SEQ:
        return "the sequence number of a connection id must be a decimal number from 1 "
               "without leading zeros";
    case CONNID_E_PARTS:
    default: return "a connection id is NAME:WORKER:BOOT:SEQ (four parts, three ':')";
    }
}
