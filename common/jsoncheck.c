/* JSON syntax check without a document: see jsoncheck.h. */
#include "common/jsoncheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

struct jc {
    const uint8_t *p, *end;
};

static void skip_ws(struct jc *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const uint8_t *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* A \u escape at j->p (after the backslash and 'u'), and its low half if it
 * is a high surrogate. */
static int unicode_escape(struct jc *j, int is_key)
{
    unsigned v, lo;
    if (j->end - j->p < 4 || hex4(j->p, &v) < 0)
        return -1;
    j->p += 4;
    if (v >= 0xdc00 && v <= 0xdfff)
        return -1; /* a low half alone */
    if (v >= 0xd800 && v <= 0xdbff) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) < 0 ||
            lo < 0xdc00 || lo > 0xdfff)
            return -1;
        j->p += 6;
    }
    return v == 0 && is_key ? -1 : 0;
}

/* The string at j->p (its opening quote). */
static int string(struct jc *j, int is_key)
{
    j->p++;
    for (;;) {
        /* Runs of plain ASCII are the common case. */
        while (j->p < j->end && *j->p >= 0x20 && *j->p < 0x80 && *j->p != '"' && *j->p != '\\')
            j->p++;
        if (j->p >= j->end)
            return -1;
        uint8_t c = *j->p;
        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20)
            return -1; /* a raw control character (RFC 8259 §7) */
        if (c == '\\') {
            if (j->end - j->p < 2)
                return -1;
            uint8_t e = j->p[1];
            j->p += 2;
            if (e == 'u') {
                if (unicode_escape(j, is_key) < 0)
                    return -1;
            } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                       e != 'r' && e != 't') {
                return -1;
            }
            continue;
        }
        size_t bad, l = utf8_sequence(j->p, (size_t)(j->end - j->p), &bad);
        if (!l)
            return -1;
        j->p += l;
    }
}

static int digits(struct jc *j)
{
    const uint8_t *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start ? 0 : -1;
}

/* 1 if the integer literal p[0, n) (digits, after any '-') fits an int64
 * (jansson's json_int_t): at most 19 digits, and for 19 at most
 * 9223372036854775807, or ...808 when negative. */
static int int_fits(const uint8_t *p, size_t n, int neg)
{
    static const char max[] = "9223372036854775807";
    if (n != 19)
        return n < 19;
    int c = memcmp(p, max, 18);
    if (c)
        return c < 0;
    return p[18] <= (neg ? '8' : '7');
}

/* Significant digits kept for the one exact check below: more than a double
 * ever needs to round correctly (767), the rest folded into one sticky
 * digit, so the work stays bounded whatever the literal's length. */
#define REAL_DIGITS 800

/* 1 if the real literal (integer digits ip[0, ni), fraction digits
 * fp[0, nf), exponent e, saturated) is finite as a double, as strtod reads
 * it (jansson refuses the others as "real number overflow"; underflow to 0
 * is fine). Only a literal within a factor of ten of DBL_MAX needs strtod. */
static int real_fits(const uint8_t *ip, size_t ni, const uint8_t *fp, size_t nf, long e)
{
    /* The first significant digit: its power of ten is mag. */
    size_t lead = 0;
    while (lead < ni && ip[lead] == '0')
        lead++;
    long mag;
    if (lead < ni) {
        mag = (long)(ni - lead) - 1;
    } else {
        size_t z = 0;
        while (z < nf && fp[z] == '0')
            z++;
        if (z == nf)
            return 1; /* zero */
        mag = -(long)z - 1;
    }
    long m = mag + e;
    if (m != 308)
        return m < 308;
    char text[2 + REAL_DIGITS + 2 + 8];
    size_t k = 0;
    text[k++] = '0';
    text[k++] = '.';
    int sticky = 0;
    for (size_t i = lead; i < ni + nf; i++) {
        uint8_t d = i < ni ? ip[i] : fp[i - ni];
        if (k < 2 + REAL_DIGITS)
            text[k++] = (char)d;
        else if (d != '0')
            sticky = 1;
    }
    if (sticky)
        text[k++] = '1';
    memcpy(text + k, "e309", 5);
    return isfinite(strtod(text, NULL));
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?, whose value
 * jansson can hold: an integer in int64 range, a real finite as a double. */
static int number(struct jc *j)
{
    int neg = 0;
    if (*j->p == '-') {
        neg = 1;
        j->p++;
    }
    if (j->p >= j->end)
        return -1;
    const uint8_t *ip = j->p, *fp = NULL;
    if (*j->p == '0')
        j->p++;
    else if (digits(j) < 0)
        return -1;
    size_t ni = (size_t)(j->p - ip), nf = 0;
    int real = 0;
    long e = 0;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        fp = j->p;
        if (digits(j) < 0)
            return -1;
        nf = (size_t)(j->p - fp);
        real = 1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        int eneg = 0;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            eneg = *j->p++ == '-';
        const uint8_t *ep = j->p;
        if (digits(j) < 0)
            return -1;
        for (; ep < j->p; ep++)
            if (e < 100000000)
                e = e * 10 + (*ep - '0'); /* saturates: beyond this, the sign decides */
        if (eneg)
            e = -e;
        real = 1;
    }
    if (!real)
        return int_fits(ip, ni, neg) ? 0 : -1;
    return real_fits(ip, ni, fp, nf, e) ? 0 : -1;
}

static int literal(struct jc *j, const char *word, size_t n)
{
    if ((size_t)(j->end - j->p) < n)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (j->p[i] != (uint8_t)word[i])
            return -1;
    j->p += n;
    return 0;
}

/* An object key and its colon, at j->p after whitespace. */
static int key(struct jc *j)
{
    if (j->p >= j->end || *j->p != '"' || string(j, 1) < 0)
        return -1;
    skip_ws(j);
    if (j->p >= j->end || *j->p != ':')
        return -1;
    j->p++;
    return 0;
}

int json_check(const uint8_t *p, size_t n, unsigned max_depth)
{
    /* One bit per open container: 1 for an object, 0 for an array. */
    uint64_t stack[JSON_CHECK_MAX_DEPTH / 64];
    unsigned depth = 0;
    struct jc j = {p, p + n};
    if (max_depth > JSON_CHECK_MAX_DEPTH)
        max_depth = JSON_CHECK_MAX_DEPTH;

value:
    skip_ws(&j);
    if (j.p >= j.end)
        return -1;
    switch (*j.p) {
    case '{':
    case '[': {
        int is_obj = *j.p == '{';
        if (depth >= max_depth)
            return -1;
        if (is_obj)
            stack[depth / 64] |= (uint64_t)1 << (depth % 64);
        else
            stack[depth / 64] &= ~((uint64_t)1 << (depth % 64));
        depth++;
        j.p++;
        skip_ws(&j);
        if (j.p < j.end && *j.p == (is_obj ? '}' : ']')) {
            j.p++;
            depth--;
            goto after;
        }
        if (is_obj && key(&j) < 0)
            return -1;
        goto value;
    }
    case '"':
        if (string(&j, 0) < 0)
            return -1;
        break;
    case 't':
        if (literal(&j, "true", 4) < 0)
            return -1;
        break;
    case 'f':
        if (literal(&j, "false", 5) < 0)
            return -1;
        break;
    case 'n':
        if (literal(&j, "null", 4) < 0)
            return -1;
        break;
    default:
        if ((*j.p < '0' || *j.p > '9') && *j.p != '-')
            return -1;
        if (number(&j) < 0)
            return -1;
    }

after:
    skip_ws(&j);
    if (depth == 0)
        return j.p == j.end ? 0 : -1;
    if (j.p >= j.end)
        return -1;
    int in_obj = (stack[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
    if (*j.p == ',') {
        j.p++;
        skip_ws(&j);
        if (in_obj && key(&j) < 0)
            return -1;
        goto value;
    }
    if (*j.p == (in_obj ? '}' : ']')) {
        j.p++;
        depth--;
        goto after;
    }
    return -1;
}
