/* JSON syntax check without a document: see jsoncheck.h. */
#include "common/jsoncheck.h"

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

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int number(struct jc *j)
{
    if (*j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return -1;
    if (*j->p == '0')
        j->p++;
    else if (digits(j) < 0)
        return -1;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (digits(j) < 0)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (digits(j) < 0)
            return -1;
    }
    return 0;
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
