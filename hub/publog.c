/* Publish results per edge worker (see publog.h). */
#include "hub/publog.h"

#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "common/xalloc.h"

struct entry {
    uint64_t pub_id;
    uint64_t seq;
    uint64_t answered;
    uint32_t code;
    uint8_t done;
    char epoch[LINK_MAX_EPOCH + 1];
};
_Static_assert(sizeof(struct entry) <= PUBLOG_ENTRY_BYTES, "PUBLOG_ENTRY_BYTES is too small");

enum rec_state { REC_ATTACHED, REC_RETIRED, REC_DEAD };

struct publog_rec {
    enum rec_state state;
    struct publog_rec *prev, *next; /* the retired list while REC_RETIRED */
    double deadline;                /* REC_RETIRED: forgotten at this time */
    uint32_t holds;                 /* publishes in flight */
    void *owner;                    /* REC_ATTACHED: the caller's link holding it */
    uint64_t highest;
    struct entry *e;
    uint32_t head, n, cap;
    size_t window;
    uint32_t worker;
    uint64_t boot;
    uint32_t keylen;
    char key[]; /* name, NUL, worker (4 bytes), boot (8 bytes) */
};

struct publog {
    struct dict recs; /* key -> record (attached and retired) */
    struct publog_rec *retired, *retired_tail;
    size_t nretired, max_retired;
};

struct publog *publog_new(size_t max_retired)
{
    struct publog *pl = xcalloc(1, sizeof *pl);
    dict_init(&pl->recs);
    pl->max_retired = max_retired;
    return pl;
}

static void rec_free(void *v)
{
    struct publog_rec *r = v;
    free(r->e);
    free(r);
}

void publog_free(struct publog *pl)
{
    if (!pl)
        return;
    dict_deinit(&pl->recs, rec_free);
    free(pl);
}

size_t publog_count(const struct publog *pl)
{
    return dict_count(&pl->recs);
}

static size_t make_key(char *out, const char *name, size_t len, uint32_t worker, uint64_t boot)
{
    memcpy(out, name, len);
    out[len] = '\0';
    memcpy(out + len + 1, &worker, 4);
    memcpy(out + len + 5, &boot, 8);
    return len + 13;
}

void *publog_owner(const struct publog_rec *r)
{
    return r->state == REC_ATTACHED ? r->owner : NULL;
}

struct publog_key publog_key_of(const struct publog_rec *r)
{
    return (struct publog_key){r->key, strlen(r->key), r->worker, r->boot};
}

/* ---- the retired list --------------------------------------------------------- */

static void retired_unlink(struct publog *pl, struct publog_rec *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        pl->retired = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        pl->retired_tail = r->prev;
    r->prev = r->next = NULL;
    pl->nretired--;
}

/* Forgets a retired record: out of the table, freed unless publishes in
 * flight still hold it. */
static void forget(struct publog *pl, struct publog_rec *r)
{
    retired_unlink(pl, r);
    dict_delete(&pl->recs, r->key, r->keylen);
    dict_shrink(&pl->recs);
    r->state = REC_DEAD;
    if (!r->holds)
        rec_free(r);
}

struct publog_rec *publog_attach(struct publog *pl, const char *name, size_t len, uint32_t worker,
                                 uint64_t boot, size_t window, void *owner)
{
    char key[LINK_MAX_NAME + 13];
    if (len > LINK_MAX_NAME)
        len = LINK_MAX_NAME;
    size_t klen = make_key(key, name, len, worker, boot);
    struct publog_rec *r = dict_get(&pl->recs, key, klen);
    if (r) {
        if (r->state == REC_RETIRED)
            retired_unlink(pl, r);
        r->state = REC_ATTACHED;
        r->owner = owner;
        publog_set_window(r, window);
        return r;
    }
    r = xcalloc(1, sizeof *r + klen);
    r->state = REC_ATTACHED;
    r->owner = owner;
    r->worker = worker;
    r->boot = boot;
    r->window = window ? window : 1;
    r->keylen = (uint32_t)klen;
    memcpy(r->key, key, klen);
    dict_add(&pl->recs, key, klen, r);
    return r;
}

void publog_detach(struct publog *pl, struct publog_rec *r, const void *owner, double now,
                   double keep_s)
{
    if (!r || r->state != REC_ATTACHED || r->owner != owner)
        return; /* another link of the same run holds it now */
    r->state = REC_RETIRED;
    r->owner = NULL;
    r->deadline = now + keep_s;
    r->next = NULL;
    r->prev = pl->retired_tail;
    if (pl->retired_tail)
        pl->retired_tail->next = r;
    else
        pl->retired = r;
    pl->retired_tail = r;
    pl->nretired++;
    while (pl->nretired > pl->max_retired)
        forget(pl, pl->retired);
}

void publog_expire(struct publog *pl, double now)
{
    /* Oldest first; keep_s is twice publish_timeout, which a policy change
     * may move, so a later record may be due first: it waits for the ones
     * before it, at most the difference. */
    while (pl->retired && pl->retired->deadline <= now)
        forget(pl, pl->retired);
}

void publog_hold(struct publog_rec *r)
{
    r->holds++;
}

void publog_release(struct publog *pl, struct publog_rec *r)
{
    if (--r->holds == 0 && r->state == REC_DEAD)
        rec_free(r);
}

/* ---- results ------------------------------------------------------------------ */

static struct entry *at(const struct publog_rec *r, uint32_t k)
{
    return &r->e[(r->head + k) & (r->cap - 1)];
}

static void drop_oldest(struct publog_rec *r)
{
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
}

void publog_set_window(struct publog_rec *r, size_t window)
{
    r->window = window ? window : 1;
    while (r->n > r->window)
        drop_oldest(r);
}

/* The entry of pub_id, or NULL: a binary search, pub_ids being sorted. */
static struct entry *find(const struct publog_rec *r, uint64_t pub_id)
{
    uint32_t lo = 0, hi = r->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        struct entry *x = at(r, mid);
        if (x->pub_id == pub_id)
            return x;
        if (x->pub_id < pub_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

enum publog_seen publog_check(const struct publog_rec *r, uint64_t pub_id,
                              struct publog_result *res)
{
    if (pub_id > r->highest)
        return PUBLOG_NEW;
    struct entry *x = find(r, pub_id);
    if (!x)
        return PUBLOG_FORGOTTEN;
    if (!x->done)
        return PUBLOG_PENDING;
    res->code = x->code;
    res->seq = x->seq;
    res->answered = x->answered;
    memcpy(res->epoch, x->epoch, sizeof res->epoch);
    return PUBLOG_DONE;
}

void publog_begin(struct publog_rec *r, uint64_t pub_id)
{
    r->highest = pub_id;
    if (r->n == r->window)
        drop_oldest(r);
    if (r->n == r->cap) {
        /* Grows as pub_ids come, never past the window's power of two. */
        uint32_t cap = r->cap ? r->cap * 2 : 16;
        struct entry *e = xmalloc((size_t)cap * sizeof *e);
        for (uint32_t k = 0; k < r->n; k++)
            e[k] = *at(r, k);
        free(r->e);
        r->e = e;
        r->cap = cap;
        r->head = 0;
    }
    struct entry *x = at(r, r->n++);
    memset(x, 0, sizeof *x);
    x->pub_id = pub_id;
}

void publog_done(struct publog_rec *r, uint64_t pub_id, const struct publog_result *res)
{
    struct entry *x = find(r, pub_id);
    if (!x)
        return;
    x->done = 1;
    x->code = res->code;
    x->seq = res->seq;
    x->answered = res->answered;
    memcpy(x->epoch, res->epoch, sizeof x->epoch);
}
