/* Deterministic chat corpus: see corpus.h. The shape follows
 * tests/bench/link_ratio.py (same word list, Pareto(1.3) word counts). */
#include "tests/bench/loadgen/corpus.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"

static const char *const words[] = {
    "the",    "a",     "to",    "and",    "of",      "you",    "i",      "it",      "is",
    "in",     "that",  "for",   "on",     "we",      "this",   "be",     "are",     "have",
    "with",   "not",   "just",  "so",     "can",     "what",   "do",     "at",      "was",
    "but",    "get",   "like",  "if",     "all",     "me",     "my",     "your",    "they",
    "know",   "will",  "one",   "up",     "go",      "out",    "about",  "meeting", "tomorrow",
    "deploy", "build", "lunch", "coffee", "release", "bug",    "fix",    "thanks",  "ok",
    "sure",   "great", "maybe", "later",  "today",   "please", "review", "merge",   "ticket",
    "call",   "now",   "done",  "yes",    "no",
};
#define NWORDS (sizeof words / sizeof words[0])

/* splitmix64: small, fast and good enough for a corpus. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return (double)(next(s) >> 11) / 9007199254740992.0; /* [0, 1) */
}

void corpus_init(struct corpus *c, unsigned n, uint64_t seed)
{
    uint64_t s = seed;
    size_t cap = (size_t)n * 64, len = 0;

    c->n = n;
    c->msgs = xmalloc(sizeof *c->msgs * n);
    c->text = xmalloc(cap);
    for (unsigned u = 0; u < 500; u++)
        snprintf(c->users[u], sizeof c->users[u], "user%05u", (unsigned)(next(&s) % 100000));
    for (unsigned i = 0; i < n; i++) {
        /* Pareto(alpha 1.3, scale 1) by inversion, times 3 words, capped at 40. */
        double pareto = pow(1.0 - uniform(&s), -1.0 / 1.3);
        unsigned nw = pareto * 3 > 40 ? 40 : (unsigned)(pareto * 3);
        if (nw < 1)
            nw = 1;
        if (len + nw * 9 > cap) {
            cap *= 2;
            c->text = xrealloc(c->text, cap);
        }
        c->msgs[i].text_off = (uint32_t)len;
        for (unsigned w = 0; w < nw; w++) {
            const char *word = words[next(&s) % NWORDS];
            size_t wl = strlen(word);
            if (w)
                c->text[len++] = ' ';
            memcpy(c->text + len, word, wl);
            len += wl;
        }
        c->msgs[i].text_len = (uint16_t)(len - c->msgs[i].text_off);
        c->msgs[i].user = (uint16_t)(next(&s) % 500);
        c->msgs[i].jitter = (uint16_t)(next(&s) % 100);
    }
}
