/* The history store: per-topic rings, age classes and the byte budget (see
 * history.h for the invariants). */
#include "hub/history.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* The messages stored with one max age, oldest first. */
struct history_class {
    struct history_entry *head, *tail;
    uint64_t max_age_ms;
    size_t n;
};

/* A ring's slot array never shrinks below this (nor grows from 0 to less). */
#define RING_MIN_CAP 4

struct history *history_new(uint64_t budget)
{
    struct history *h = xcalloc(1, sizeof *h);
    h->budget = budget;
    return h;
}

void history_free(struct history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nclasses; i++)
        free(h->classes[i]);
    free(h->classes);
    free(h);
}

void history_ring_init(struct history_ring *r)
{
    memset(r, 0, sizeof *r);
}

/* ---- classes ----------------------------------------------------------------- */

static struct history_class *class_for(struct history *h, uint64_t max_age_ms)
{
    for (size_t i = 0; i < h->nclasses; i++)
        if (h->classes[i]->max_age_ms == max_age_ms)
            return h->classes[i];
    h->classes = xrealloc(h->classes, (h->nclasses + 1) * sizeof *h->classes);
    struct history_class *c = xcalloc(1, sizeof *c);
    c->max_age_ms = max_age_ms;
    h->classes[h->nclasses++] = c;
    return c;
}

/* A class with no entries goes: only the max ages in use have one, so a
 * SIGHUP that changes the ages leaves no empty classes behind. */
static void class_unlink(struct history *h, struct history_entry *e)
{
    struct history_class *c = e->cls;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    if (--c->n)
        return;
    for (size_t i = 0; i < h->nclasses; i++) {
        if (h->classes[i] == c) {
            h->classes[i] = h->classes[--h->nclasses];
            break;
        }
    }
    free(c);
}

/* ---- rings --------------------------------------------------------------------- */

static void ring_resize(struct history_ring *r, uint32_t cap)
{
    struct history_entry **s = xmalloc((size_t)cap * sizeof *s);
    for (uint32_t k = 0; k < r->n; k++)
        s[k] = r->slot[(r->head + k) & (r->cap - 1)];
    free(r->slot);
    r->slot = s;
    r->cap = cap;
    r->head = 0;
}

/* Takes the oldest entry off r (and out of its class) and frees it. */
static void ring_pop(struct history *h, struct history_ring *r)
{
    struct history_entry *e = r->slot[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
    r->first_seq++;
    r->bytes -= e->cost;
    h->bytes -= e->cost;
    h->messages--;
    class_unlink(h, e);
    free(e);
    /* A ring that held a burst gives its slots back. */
    if (r->n == 0) {
        free(r->slot);
        r->slot = NULL;
        r->cap = r->head = 0;
    } else if (r->cap > RING_MIN_CAP && r->n < r->cap / 4) {
        ring_resize(r, r->cap / 2);
    }
}

static void note_emptied(struct history *h, struct history_ring *r)
{
    if (r->n || r->emptied)
        return;
    r->emptied = 1;
    r->emptied_next = h->emptied;
    h->emptied = r;
}

/* Evicts e and every older entry of its ring (the ring stays a suffix). */
static void evict_through(struct history *h, struct history_entry *e, enum history_reason why)
{
    struct history_ring *r = e->ring;
    uint64_t last = e->seq;
    while (r->n && r->first_seq <= last) {
        ring_pop(h, r);
        h->evicted[why]++;
    }
    note_emptied(h, r);
}

static void ring_drop_all(struct history *h, struct history_ring *r, enum history_reason why)
{
    while (r->n) {
        ring_pop(h, r);
        h->evicted[why]++;
    }
}

void history_ring_clear(struct history *h, struct history_ring *r)
{
    while (r->n)
        ring_pop(h, r);
    free(r->slot);
    r->slot = NULL;
    r->cap = r->head = 0;
}

const struct history_entry *history_get(const struct history_ring *r, uint64_t seq)
{
    if (!r->n || seq < r->first_seq || seq - r->first_seq >= r->n)
        return NULL;
    return r->slot[(r->head + (uint32_t)(seq - r->first_seq)) & (r->cap - 1)];
}

struct history_ring *history_take_emptied(struct history *h)
{
    struct history_ring *list = h->emptied;
    h->emptied = NULL;
    for (struct history_ring *r = list; r; r = r->emptied_next)
        r->emptied = 0;
    return list;
}

/* ---- storing and evicting -------------------------------------------------------- */

/* The hub's oldest entry: the oldest class head. */
static struct history_entry *oldest(const struct history *h)
{
    struct history_entry *best = NULL;
    for (size_t i = 0; i < h->nclasses; i++) {
        struct history_entry *e = h->classes[i]->head;
        if (e && (!best || e->stored_ms < best->stored_ms))
            best = e;
    }
    return best;
}

void history_expire(struct history *h, uint64_t now_ms)
{
    /* An eviction may take entries of other classes with it (older ones of
     * the same ring) and so remove classes from the array: look again from
     * the start after each. O(classes) per entry, and classes are few. */
    for (size_t i = 0; i < h->nclasses;) {
        struct history_class *c = h->classes[i];
        if (!c->max_age_ms || c->head->stored_ms + c->max_age_ms > now_ms) {
            i++;
            continue;
        }
        evict_through(h, c->head, HISTORY_AGE);
        i = 0;
    }
}

/* What an entry of this size really holds: the block, the allocator's
 * chunk header, and its ring slot. */
static uint32_t entry_cost(struct history_entry *e)
{
    return (uint32_t)(malloc_usable_size(e) + sizeof(size_t) + sizeof(struct history_entry *));
}

int history_store(struct history *h, struct history_ring *r, uint64_t seq,
                  const struct history_msg *m, uint64_t now_ms, uint32_t max_count,
                  uint64_t max_age_ms)
{
    if (r->n && seq != r->first_seq + r->n) {
        /* A message went unstored: what is held no longer ends at the
         * topic's last seq. */
        ring_drop_all(h, r, HISTORY_BUDGET);
        note_emptied(h, r);
    }
    if (!max_count) {
        ring_drop_all(h, r, HISTORY_COUNT);
        note_emptied(h, r);
        return 0;
    }
    size_t len = (size_t)m->from.len + m->user.len + m->data.len;
    struct history_entry *e = xmalloc(sizeof *e + len);
    e->cost = entry_cost(e);
    if (e->cost > h->budget) {
        free(e);
        ring_drop_all(h, r, HISTORY_BUDGET);
        note_emptied(h, r);
        return 0;
    }
    while (h->bytes + e->cost > h->budget)
        evict_through(h, oldest(h), HISTORY_BUDGET);
    e->ring = r;
    e->seq = seq;
    e->stored_ms = now_ms;
    e->data_len = m->data.len;
    e->from_len = (uint8_t)m->from.len;
    e->user_len = (uint8_t)m->user.len;
    e->enc = m->enc;
    if (m->from.len)
        memcpy(e->text, m->from.ptr, m->from.len);
    if (m->user.len)
        memcpy(e->text + m->from.len, m->user.ptr, m->user.len);
    if (m->data.len)
        memcpy(e->text + m->from.len + m->user.len, m->data.ptr, m->data.len);

    struct history_class *c = class_for(h, max_age_ms);
    e->cls = c;
    e->next = NULL;
    e->prev = c->tail;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->n++;

    if (r->n == r->cap)
        ring_resize(r, r->cap ? r->cap * 2 : RING_MIN_CAP);
    if (!r->n)
        r->first_seq = seq;
    r->slot[(r->head + r->n) & (r->cap - 1)] = e;
    r->n++;
    r->bytes += e->cost;
    h->bytes += e->cost;
    h->messages++;
    while (r->n > max_count) {
        ring_pop(h, r);
        h->evicted[HISTORY_COUNT]++;
    }
    return 1;
}
