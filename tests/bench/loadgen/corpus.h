/* A deterministic chat-like corpus (--corpus chat): user names, short texts
 * of Pareto-distributed length drawn from a fixed word list, and timestamps,
 * generated once at startup so that publishing allocates nothing. */
#ifndef LOADGEN_CORPUS_H
#define LOADGEN_CORPUS_H
#include <stddef.h>
#include <stdint.h>

struct chat_msg {
    uint32_t text_off;
    uint16_t text_len;
    uint16_t user;   /* index into the user names */
    uint16_t jitter; /* 0..99 ms added to the timestamp */
};

struct corpus {
    char *text; /* all texts, back to back */
    struct chat_msg *msgs;
    unsigned n;
    char users[500][10]; /* "user01234" */
};

#define CORPUS_USER_LEN 9

/* Generates n messages from seed (the same seed gives the same corpus). */
void corpus_init(struct corpus *c, unsigned n, uint64_t seed);
/* --corpus chat1k: n chat messages of about 1 KB each. Each message's
 * text_off/text_len is a ready JSON fragment (the members of the data
 * object, without braces: id, room, sent_at, user, text, mentions,
 * reply_to, edited, reactions); `user` indexes users[] as above. */
void corpus_init_chat1k(struct corpus *c, unsigned n, uint64_t seed);
/* Message number i (cycles through the corpus) and its chat timestamp in ms. */
static inline const struct chat_msg *corpus_msg(const struct corpus *c, uint64_t i, uint64_t *ts)
{
    const struct chat_msg *m = &c->msgs[i % c->n];
    *ts = 1764000000000ull + i * 137 + m->jitter;
    return m;
}

#endif
