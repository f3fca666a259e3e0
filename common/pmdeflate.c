/* permessage-deflate negotiation: see pmdeflate.h. */
#include "common/pmdeflate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 7230 §3.2.6 tchar. */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct cursor {
    const char *p, *end;
};

static void skip_ows(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* A token into out (NUL-terminated, at most cap - 1 bytes kept; longer ones
 * are marked by a length of cap). Returns its length, 0 if none. */
static size_t read_token(struct cursor *c, char *out, size_t cap)
{
    size_t n = 0;
    while (c->p < c->end && is_tchar((unsigned char)*c->p)) {
        if (n < cap - 1)
            out[n] = *c->p;
        n++;
        c->p++;
    }
    out[n < cap - 1 ? n : cap - 1] = '\0';
    return n < cap ? n : cap;
}

/* A quoted-string (RFC 7230 §3.2.6) holding a token (RFC 6455 §9.1).
 * Returns its length, or 0 if malformed. */
static size_t read_quoted(struct cursor *c, char *out, size_t cap)
{
    size_t n = 0;
    c->p++; /* the opening quote */
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return 0;
            ch = *c->p++;
        }
        if (!is_tchar((unsigned char)ch))
            return 0;
        if (n < cap - 1)
            out[n] = ch;
        n++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++; /* the closing quote */
    out[n < cap - 1 ? n : cap - 1] = '\0';
    return n == 0 ? 0 : (n < cap ? n : cap);
}

/* 8..15 written as digits without leading zeros (§7.1.2.1), else -1. */
static int window_bits(const char *v)
{
    if (strcmp(v, "8") == 0 || strcmp(v, "9") == 0)
        return v[0] - '0';
    if (strlen(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return -1;
}

enum { P_SNCT = 1, P_CNCT = 2, P_SMWB = 4, P_CMWB = 8 };

int pmd_negotiate(const char *hdr, size_t len, char answer[PMD_ANSWER_MAX])
{
    struct cursor c = {hdr, hdr + len};
    int chosen = 0, smwb15 = 0;
    answer[0] = '\0';
    /* The whole list is parsed before answering: malformed syntax anywhere
     * declines everything rather than half-reading it. */
    for (;;) {
        char name[32], pname[32], pval[32];
        skip_ows(&c);
        if (c.p < c.end && *c.p == ',') { /* empty list elements (RFC 7230 §7) */
            c.p++;
            continue;
        }
        if (c.p >= c.end)
            break;
        size_t nlen = read_token(&c, name, sizeof name);
        if (nlen == 0)
            return answer[0] = '\0', 0;
        int ours = nlen == 18 && strcasecmp(name, "permessage-deflate") == 0;
        int ok = ours, seen = 0, offer_smwb15 = 0;
        for (;;) {
            skip_ows(&c);
            if (c.p >= c.end || *c.p == ',')
                break;
            if (*c.p != ';')
                return answer[0] = '\0', 0;
            c.p++;
            skip_ows(&c);
            size_t plen = read_token(&c, pname, sizeof pname);
            if (plen == 0)
                return answer[0] = '\0', 0;
            int has_value = 0;
            skip_ows(&c);
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                skip_ows(&c);
                size_t vlen = c.p < c.end && *c.p == '"' ? read_quoted(&c, pval, sizeof pval)
                                                         : read_token(&c, pval, sizeof pval);
                if (vlen == 0)
                    return answer[0] = '\0', 0;
                if (vlen >= sizeof pval)
                    pval[0] = '\0'; /* too long to be a valid value */
                has_value = 1;
            }
            if (!ours)
                continue;
            int bit = strcasecmp(pname, "server_no_context_takeover") == 0   ? P_SNCT
                      : strcasecmp(pname, "client_no_context_takeover") == 0 ? P_CNCT
                      : strcasecmp(pname, "server_max_window_bits") == 0     ? P_SMWB
                      : strcasecmp(pname, "client_max_window_bits") == 0     ? P_CMWB
                                                                             : 0;
            if (!bit || (seen & bit)) { /* §7: unknown or repeated: decline */
                ok = 0;
                continue;
            }
            seen |= bit;
            if ((bit == P_SNCT || bit == P_CNCT) && has_value)
                ok = 0;
            else if (bit == P_SMWB) {
                /* A value is required; below 15 the shared 15-bit
                 * compressor cannot honour it: decline (§7.1.2.1). */
                int wb = has_value ? window_bits(pval) : -1;
                if (wb != 15)
                    ok = 0;
                else
                    offer_smwb15 = 1;
            } else if (bit == P_CMWB && has_value && window_bits(pval) < 0)
                ok = 0;
        }
        if (ok && !chosen) {
            chosen = 1;
            smwb15 = offer_smwb15;
        }
        if (c.p < c.end)
            c.p++; /* the comma */
    }
    if (!chosen)
        return 0;
    /* §7.1.2.1: an accepted server_max_window_bits is echoed (15 here). */
    snprintf(answer, PMD_ANSWER_MAX,
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover%s",
             smwb15 ? "; server_max_window_bits=15" : "");
    return 1;
}
