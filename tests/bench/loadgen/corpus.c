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

/* n messages of at most per_msg bytes each, and the 500 user names both
 * corpora draw from (the first draws of s). */
static void corpus_alloc(struct corpus *c, unsigned n, size_t per_msg, uint64_t *s)
{
    c->n = n;
    c->msgs = xmalloc(sizeof *c->msgs * n);
    c->text = xmalloc((size_t)n * per_msg);
    for (unsigned u = 0; u < 500; u++)
        snprintf(c->users[u], sizeof c->users[u], "user%05u", (unsigned)(next(s) % 100000));
}

void corpus_init(struct corpus *c, unsigned n, uint64_t seed)
{
    uint64_t s = seed;
    size_t cap = (size_t)n * 64, len = 0;

    corpus_alloc(c, n, 64, &s);
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

/* ---- chat1k: chat messages of about 1 KB as a chat service would send them
 * (ids, room, author object, several sentences of English-like text,
 * mentions, reactions). Words, names and rooms are drawn from lists large
 * enough that one message does not repeat itself much: the compression ratio
 * should be that of real chat JSON, not of filler. */

static const char *const vocab[] = {
    "about",     "after",     "again",   "agree",    "already",  "also",     "always",
    "another",   "anyone",    "around",  "ask",      "back",     "because",  "before",
    "believe",   "better",    "between", "both",     "bring",    "budget",   "calendar",
    "cannot",    "change",    "check",   "client",   "close",    "could",    "customer",
    "dashboard", "data",      "day",     "deadline", "decide",   "design",   "different",
    "doing",     "draft",     "during",  "each",     "early",    "easy",     "email",
    "enough",    "error",     "even",    "every",    "example",  "expect",   "feature",
    "feedback",  "figure",    "file",    "final",    "find",     "first",    "follow",
    "found",     "friday",    "from",    "give",     "going",    "good",     "graph",
    "group",     "happen",    "hard",    "help",     "here",     "honestly", "hour",
    "idea",      "important", "instead", "issue",    "keep",     "kind",     "last",
    "latency",   "later",     "least",   "leave",    "less",     "let",      "little",
    "look",      "lot",       "make",    "many",     "metrics",  "might",    "minute",
    "monday",    "more",      "morning", "most",     "move",     "much",     "must",
    "need",      "never",     "next",    "nice",     "night",    "note",     "nothing",
    "number",    "office",    "often",   "only",     "open",     "other",    "over",
    "page",      "part",      "people",  "perhaps",  "plan",     "point",    "possible",
    "pretty",    "probably",  "problem", "product",  "question", "quick",    "quite",
    "rather",    "really",    "reason",  "remember", "report",   "right",    "rollout",
    "same",      "schedule",  "second",  "see",      "seems",    "send",     "server",
    "should",    "show",      "since",   "slack",    "slide",    "small",    "some",
    "something", "soon",      "sorry",   "spend",    "start",    "still",    "such",
    "suggest",   "support",   "sure",    "take",     "team",     "tell",     "test",
    "than",      "that",      "their",   "them",     "then",     "there",    "these",
    "thing",     "think",     "those",   "though",   "through",  "thursday", "time",
    "together",  "took",      "traffic", "try",      "tuesday",  "turn",     "under",
    "until",     "update",    "upgrade", "useful",   "usually",  "version",  "wait",
    "want",      "week",      "weekend", "well",     "were",     "what",     "when",
    "where",     "which",     "while",   "whole",    "why",      "with",     "without",
    "wonder",    "work",      "would",   "write",    "wrong",    "year",     "yesterday",
    "yet",       "you",       "your",    "the",      "the",      "the",      "a",
    "a",         "to",        "to",      "and",      "and",      "of",       "of",
    "in",        "is",        "it",      "we",       "i",        "that",     "for",
    "on",        "this",      "be",      "are",      "have",     "not",      "but",
    "so",        "if",        "can",
};
static const char *const firsts[] = {
    "Maria", "Sam",   "Priya",  "Jonas", "Aiko",   "Lucas", "Fatima", "Noah",  "Elena", "Omar",
    "Chloe", "Mateo", "Ingrid", "Kwame", "Sofia",  "Liam",  "Hana",   "Diego", "Amara", "Felix",
    "Yuki",  "Nadia", "Oscar",  "Leila", "Tomasz", "Grace", "Ravi",   "Zoe",   "Erik",  "Mei",
};
static const char *const lasts[] = {
    "Kowalski", "Okafor",    "Nguyen", "Schmidt", "Tanaka",  "Silva",  "Haddad",
    "Johnson",  "Rossi",     "Khan",   "Dubois",  "Garcia",  "Larsen", "Mensah",
    "Costa",    "Murphy",    "Sato",   "Herrera", "Adeyemi", "Weber",  "Ito",
    "Petrova",  "Lindqvist", "Hassan", "Nowak",
};
static const char *const rooms[] = {
    "eng-backend",   "eng-frontend",  "general",    "random",          "incidents", "design-review",
    "release-train", "support-tier2", "sales-emea", "product-roadmap", "oncall",    "data-infra",
};
static const char *const reactions[] = {
    "thumbsup", "heart", "eyes", "tada", "laughing", "rocket", "white_check_mark", "thinking_face"};
#define COUNT(a) (sizeof a / sizeof a[0])

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* A ULID-like id: 10 characters of time, 16 random. */
static size_t put_id(char *o, uint64_t ms, uint64_t *s)
{
    for (int k = 9; k >= 0; k--, ms >>= 5)
        o[k] = b32[ms & 31];
    for (int k = 10; k < 26; k++)
        o[k] = b32[next(s) & 31];
    return 26;
}

/* Sentences until about `want` characters: capitalised, commas now and
 * then, numbers and mentions sometimes, ending in . ? or !. */
static size_t put_text(char *o, size_t want, uint64_t *s)
{
    size_t len = 0;
    while (len < want) {
        unsigned nw = 4 + (unsigned)(next(s) % 15);
        for (unsigned w = 0; w < nw; w++) {
            uint64_t r = next(s);
            char tmp[48];
            int l;
            if (r % 29 == 0)
                l = snprintf(tmp, sizeof tmp, "%u", (unsigned)(next(s) % 5000));
            else if (r % 37 == 0)
                l = snprintf(tmp, sizeof tmp, "@%s", firsts[next(s) % COUNT(firsts)]);
            else
                l = snprintf(tmp, sizeof tmp, "%s", vocab[next(s) % COUNT(vocab)]);
            if (w == 0 && tmp[0] >= 'a' && tmp[0] <= 'z')
                tmp[0] = (char)(tmp[0] - 32);
            if (w)
                o[len++] = ' ';
            memcpy(o + len, tmp, (size_t)l);
            len += (size_t)l;
            if (w + 1 < nw && next(s) % 9 == 0)
                o[len++] = ',';
        }
        uint64_t e = next(s) % 10;
        o[len++] = e < 7 ? '.' : e < 9 ? '?' : '!';
        if (len < want)
            o[len++] = ' ';
    }
    return len;
}

void corpus_init_chat1k(struct corpus *c, unsigned n, uint64_t seed)
{
    uint64_t s = seed;
    size_t cap = (size_t)n * 1400, len = 0;

    corpus_alloc(c, n, 1400, &s);
    for (unsigned i = 0; i < n; i++) {
        char *o = c->text + len;
        size_t l = 0;
        uint64_t ms = 1764000000000ull + (uint64_t)i * 2113 + next(&s) % 2000;
        unsigned uid = (unsigned)(next(&s) % 500);
        const char *first = firsts[uid % COUNT(firsts)], *last = lasts[(uid / 7) % COUNT(lasts)];

        l += (size_t)sprintf(o + l, "\"id\":\"");
        l += put_id(o + l, ms, &s);
        l += (size_t)sprintf(o + l,
                             "\",\"room\":\"%s\",\"sent_at\":%llu,\"user\":{\"id\":\"%s\","
                             "\"name\":\"%c%s\",\"display\":\"%s %s\","
                             "\"avatar\":\"https://cdn.example.com/avatars/%s.png\"},"
                             "\"text\":\"",
                             rooms[next(&s) % COUNT(rooms)], (unsigned long long)ms, c->users[uid],
                             first[0] + 32, last, first, last, c->users[uid]);
        l += put_text(o + l, 420 + (size_t)(next(&s) % 420), &s);
        l += (size_t)sprintf(o + l, "\",\"mentions\":[");
        unsigned nm = (unsigned)(next(&s) % 3);
        for (unsigned k = 0; k < nm; k++)
            l += (size_t)sprintf(o + l, "%s\"%s\"", k ? "," : "", c->users[next(&s) % 500]);
        l += (size_t)sprintf(o + l, "],\"reply_to\":");
        if (next(&s) % 3 == 0) {
            o[l++] = '"';
            l += put_id(o + l, ms - next(&s) % 600000, &s);
            o[l++] = '"';
        } else {
            l += (size_t)sprintf(o + l, "null");
        }
        l += (size_t)sprintf(o + l, ",\"edited\":%s,\"reactions\":{",
                             next(&s) % 8 == 0 ? "true" : "false");
        /* distinct names: a JSON object with a repeated key is refused */
        unsigned nr = (unsigned)(next(&s) % 4), r0 = (unsigned)(next(&s) % COUNT(reactions));
        for (unsigned k = 0; k < nr; k++)
            l += (size_t)sprintf(o + l, "%s\"%s\":%u", k ? "," : "",
                                 reactions[(r0 + k) % COUNT(reactions)],
                                 1 + (unsigned)(next(&s) % 12));
        o[l++] = '}';
        c->msgs[i].text_off = (uint32_t)len;
        c->msgs[i].text_len = (uint16_t)l;
        c->msgs[i].user = (uint16_t)uid;
        c->msgs[i].jitter = (uint16_t)(next(&s) % 100);
        len += l;
        if (len + 1400 > cap) {
            cap *= 2;
            c->text = xrealloc(c->text, cap);
        }
    }
}
