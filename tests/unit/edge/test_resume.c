/* Unit tests for edge/resume.c: a subscription resuming from a position
 * gets an answer and exactly the messages it missed, once each, in order:
 * from the topic's cache when it can, from one shared history read
 * otherwise; and the bounds on caches hold. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "edge/frame.h"
#include "edge/resume.h"
#include "edge/topic.h"

struct fake_conn {
    struct topic_subs subs;
    int id;
};
#define CONN(fc) ((struct client *)(fc))

struct answer {
    struct client *c;
    int64_t id;
    int code, recovered;
    uint64_t seq;
    char reason[120];
};

struct pushed {
    struct client *c;
    uint64_t seq;
};

static struct {
    struct answer answers[64];
    int nanswers;
    struct pushed pushed[256];
    int npushed;
    size_t twin_len; /* > 0: each push builds the frame's deflate twin, this long */
} rec;

static void on_answer(void *ud, struct client *c, const struct topic *t, int has_id, int64_t id,
                      int code, int recovered, const char *reason)
{
    assert_true(rec.nanswers < 64);
    struct answer *a = &rec.answers[rec.nanswers++];
    a->c = c;
    a->id = id;
    a->code = code;
    a->recovered = recovered;
    a->seq = t ? t->seq : 0;
    snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
}

/* Frames carry their seq as the payload, so a push says which message. */
static uint64_t seq_of(const struct frame *f)
{
    uint64_t s;
    memcpy(&s, f->data + 2, sizeof s);
    return s;
}

static void on_push(void *ud, struct client *c, struct frame *f)
{
    assert_true(rec.npushed < 256);
    rec.pushed[rec.npushed].c = c;
    rec.pushed[rec.npushed].seq = seq_of(f);
    rec.npushed++;
    /* What client_push_frame does for a deflate connection: the frame's
     * first such subscriber builds its twin (frame_for_deflate). */
    if (rec.twin_len && !f->deflated) {
        static const uint8_t zeros[4096];
        assert_true(rec.twin_len <= sizeof zeros);
        f->deflated = frame_build(1, zeros, rec.twin_len);
    }
}

static struct topics ts;
static struct resumes rs;
static struct fake_conn conns[4];
static struct topic *t;

static int setup(void **state)
{
    memset(&rec, 0, sizeof rec);
    memset(conns, 0, sizeof conns);
    topics_init(&ts, on_answer, NULL, offsetof(struct fake_conn, subs));
    resumes_init(&rs, &ts, on_push, NULL, 1u << 20);
    /* A topic with one member (conn 3), at position e1/10. */
    struct sub *s;
    assert_int_equal(
        topic_subscribe(&ts, CONN(&conns[3]), &conns[3].subs, ENC_JSON, "t", 1, 10, 10, 0, &s),
        TOPIC_FIRST);
    t = s->t;
    topic_set_position(t, 10, "e1", 2);
    return 0;
}

static int teardown(void **state)
{
    resumes_deinit(&rs);
    static struct topic *unused;
    (void)unused;
    for (int i = 0; i < 4; i++) {
        while (conns[i].subs.head) {
            struct sub *s = conns[i].subs.head;
            topic_unsubscribe(&ts, CONN(&conns[i]), &conns[i].subs, s->t->node.name,
                              s->t->node.len);
        }
    }
    topics_deinit(&ts);
    return 0;
}

static void both(struct frame *f[ENC_COUNT], uint64_t seq)
{
    for (int k = 0; k < ENC_COUNT; k++)
        f[k] = frame_build(k == ENC_JSON ? 1 : 2, (const uint8_t *)&seq, sizeof seq);
}

static void unref_both(struct frame *f[ENC_COUNT])
{
    for (int k = 0; k < ENC_COUNT; k++)
        frame_unref(f[k]);
}

/* A live message: the members' position moves, and the cache keeps it. */
static void live(uint64_t seq)
{
    struct frame *f[ENC_COUNT];
    both(f, seq);
    t->seq = seq;
    resume_delivered(&rs, t, seq, f);
    unref_both(f);
}

static void replay(int64_t id, uint64_t seq)
{
    struct frame *f[ENC_COUNT];
    both(f, seq);
    resume_replayed(&rs, t, id, seq, f, 0);
    unref_both(f);
}

static struct topic_resumer *resume(int conn, uint64_t since, const char *epoch, int64_t id)
{
    struct sub *s;
    topic_subscribe(&ts, CONN(&conns[conn]), &conns[conn].subs, ENC_JSON, "t", 1, 10, 10, 1, &s);
    assert_int_equal(s->slot, TOPIC_NOT_MEMBER);
    struct topic_resumer *r = topic_resume(s, CONN(&conns[conn]), since, epoch, 1, id);
    resume_request(&rs, r, 1, 0);
    return r;
}

/* Conn 0 resumes from 9 of e1: its read goes out, and the hub answers it
 * (recovered, up to 10). Returns the read's id, for the replay. */
static int64_t read_for_conn0(void)
{
    resume(0, 9, "e1", 1);
    uint64_t since;
    int64_t id;
    resume_next_read(&rs, &since, &id);
    resume_read_result(&rs, t, id, 0, 1, 10, "", 0);
    return id;
}

static int is_member(int conn)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->members[i].c == CONN(&conns[conn]))
            return 1;
    return 0;
}

static void test_resume_at_the_topics_position_is_recovered_at_once(void **state)
{
    resume(0, 10, "e1", 5);
    assert_int_equal(rec.nanswers, 1);
    assert_int_equal(rec.answers[0].recovered, 1);
    assert_int_equal(rec.answers[0].id, 5);
    assert_int_equal(rec.answers[0].seq, 10);
    assert_true(is_member(0));
    assert_null(rs.due);
}

static void test_resume_of_another_epoch_or_ahead_is_not_recovered_and_joins(void **state)
{
    resume(0, 3, "e0", 1);
    resume(1, 11, "e1", 2);
    assert_int_equal(rec.nanswers, 2);
    assert_int_equal(rec.answers[0].recovered, 0);
    assert_non_null(strstr(rec.answers[0].reason, "epoch changed"));
    assert_int_equal(rec.answers[1].recovered, 0);
    assert_non_null(strstr(rec.answers[1].reason, "ahead"));
    assert_true(is_member(0) && is_member(1));
    assert_int_equal(rec.npushed, 0);
}

/* Three connections behind, two arriving in one turn and one while the
 * read is on its way: one read, from the oldest position; each gets the
 * messages after its own position, once, in order, then joins. */
static void test_resumes_behind_share_one_read_and_get_exactly_what_they_missed(void **state)
{
    resume(0, 7, "e1", 1);
    resume(1, 4, "e1", 2);
    assert_int_equal(rec.nanswers, 0);
    uint64_t since;
    int64_t id;
    assert_ptr_equal(resume_next_read(&rs, &since, &id), t);
    assert_int_equal(since, 4);
    assert_null(resume_next_read(&rs, &since, &id));
    resume(2, 8, "e1", 3); /* waits for the read in progress */
    assert_int_equal(rs.reads, 1);

    live(11); /* published before the hub read the history: in the replay */
    resume_read_result(&rs, t, id, 0, 1, 11, "", 0);
    assert_int_equal(rec.nanswers, 2); /* conns 0 and 1 acked: the replay follows */
    for (uint64_t s = 5; s <= 11; s++)
        replay(id, s);
    assert_true(is_member(0) && is_member(1) && is_member(2));
    /* conn 1: 5..11; conn 0: 8..11; conn 2 (served from the new cache): 9..11 */
    uint64_t want1 = 5, want0 = 8, want2 = 9;
    for (int i = 0; i < rec.npushed; i++) {
        struct pushed *p = &rec.pushed[i];
        if (p->c == CONN(&conns[1]))
            assert_int_equal(p->seq, want1++);
        else if (p->c == CONN(&conns[0]))
            assert_int_equal(p->seq, want0++);
        else
            assert_int_equal(p->seq, want2++);
    }
    assert_int_equal(want1, 12);
    assert_int_equal(want0, 12);
    assert_int_equal(want2, 12);
    assert_int_equal(rec.nanswers, 3);
    assert_int_equal(rs.reads, 1);
    assert_int_equal(rs.served_cached, 1);
}

static void test_the_cache_follows_live_messages_and_serves_without_a_read(void **state)
{
    int64_t id = read_for_conn0();
    replay(id, 10);
    live(11);
    live(12);
    rec.npushed = 0;
    resume(1, 10, "e1", 2);
    assert_true(is_member(1));
    assert_int_equal(rec.npushed, 2);
    assert_int_equal(rec.pushed[0].seq, 11);
    assert_int_equal(rec.pushed[1].seq, 12);
    assert_null(rs.due);
    assert_int_equal(rs.reads, 1);
}

/* A twin built when a cached frame goes to a deflate connection is
 * counted against the budget (it was not: a cache could hold twice its
 * budget), from a cache and from a read alike, and the budget holds. */
static void test_deflate_twins_built_from_the_cache_are_counted(void **state)
{
    int64_t id = read_for_conn0();
    static const uint8_t payload[1000];
    struct frame *probe = frame_build(1, payload, sizeof payload);
    size_t twin = sizeof(struct frame) + probe->len; /* what a twin holds */
    frame_unref(probe);
    rec.twin_len = sizeof payload;
    size_t before = rs.cache_bytes;
    replay(id, 10);                         /* conn 0, catching up in the read, builds 10's twin */
    size_t plain = rs.cache_bytes - before; /* 10's entry, its frames and 10's twin */
    assert_true(plain > twin);
    rec.twin_len = 0;
    live(11);
    live(12);
    size_t no_twins = rs.cache_bytes;
    rec.twin_len = sizeof payload;
    resume(1, 9, "e1", 2); /* served from the cache: 11 and 12 get twins */
    assert_int_equal(rs.served_cached, 1);
    assert_int_equal(rs.cache_bytes - no_twins, 2 * twin);
    /* A budget the twins overrun: the oldest entries go, one stays. */
    rs.cache_budget = rs.cache_bytes - 1;
    resume(2, 11, "e1", 3);
    assert_true(rs.cache_bytes <= rs.cache_budget);
    rec.twin_len = 0;
}

static void test_a_read_the_hub_cannot_serve_answers_not_recovered_with_its_reason(void **state)
{
    resume(0, 2, "e1", 1);
    uint64_t since;
    int64_t id;
    resume_next_read(&rs, &since, &id);
    resume_read_result(&rs, t, id, 0, 0, 10, "too old: the history now starts after seq 5", 0);
    assert_int_equal(rec.nanswers, 1);
    assert_int_equal(rec.answers[0].recovered, 0);
    assert_non_null(strstr(rec.answers[0].reason, "too old"));
    assert_true(is_member(0));
    assert_null(t->cu->cache);
}

static void test_link_down_answers_every_waiting_resume(void **state)
{
    resume(0, 2, "e1", 1);
    resume(1, 3, "e1", 2);
    uint64_t since;
    int64_t id;
    resume_next_read(&rs, &since, &id);
    resume(2, 5, "e1", 3);
    resume_link_down(&rs);
    assert_int_equal(rec.nanswers, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rec.answers[i].recovered, 0);
        assert_string_equal(rec.answers[i].reason, "hub unavailable");
    }
    assert_true(is_member(0) && is_member(1) && is_member(2));
    assert_int_equal(t->cu->read_id, 0);
    /* A late result for the lost read answers nobody again. */
    resume_read_result(&rs, t, id, 0, 1, 10, "", 0);
    assert_int_equal(rec.nanswers, 3);
}

static void test_a_hole_in_live_messages_drops_the_cache(void **state)
{
    int64_t id = read_for_conn0();
    replay(id, 10);
    assert_non_null(t->cu->cache);
    live(12); /* 11 never came */
    assert_null(t->cu->cache);
    assert_int_equal(rs.cache_bytes, 0);
}

static void test_a_cache_keeps_at_most_its_max_and_the_budget(void **state)
{
    int64_t id = read_for_conn0();
    replay(id, 10);
    for (uint64_t s = 11; s <= 10 + RESUME_CACHE_MAX + 50; s++)
        live(s);
    assert_true(rs.cache_bytes <= rs.cache_budget);
    /* An old position is no longer served from the cache: a read is due. */
    resume(1, 11, "e1", 2);
    assert_ptr_equal(rs.due, t);
}

static void test_a_topic_that_goes_leaves_no_trace_in_the_due_list(void **state)
{
    struct sub *s;
    topic_subscribe(&ts, CONN(&conns[0]), &conns[0].subs, ENC_JSON, "u", 1, 10, 10, 1, &s);
    topic_set_position(s->t, 10, "e1", 2);
    struct topic_resumer *r = topic_resume(s, CONN(&conns[0]), 3, "e1", 1, 1);
    resume_request(&rs, r, 1, 0);
    assert_ptr_equal(rs.due, s->t);
    topic_unsubscribe(&ts, CONN(&conns[0]), &conns[0].subs, "u", 1); /* the topic goes */
    assert_null(rs.due);
    uint64_t since;
    int64_t id;
    assert_null(resume_next_read(&rs, &since, &id));
}

static void test_idle_caches_are_swept(void **state)
{
    int64_t id = read_for_conn0();
    replay(id, 10);
    resume_sweep(&rs, RESUME_CACHE_IDLE_S / 2);
    assert_non_null(t->cu->cache);
    resume_sweep(&rs, RESUME_CACHE_IDLE_S + 1);
    assert_null(t->cu->cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_resume_at_the_topics_position_is_recovered_at_once),
        T(test_resume_of_another_epoch_or_ahead_is_not_recovered_and_joins),
        T(test_resumes_behind_share_one_read_and_get_exactly_what_they_missed),
        T(test_the_cache_follows_live_messages_and_serves_without_a_read),
        T(test_deflate_twins_built_from_the_cache_are_counted),
        T(test_a_read_the_hub_cannot_serve_answers_not_recovered_with_its_reason),
        T(test_link_down_answers_every_waiting_resume),
        T(test_a_hole_in_live_messages_drops_the_cache),
        T(test_a_cache_keeps_at_most_its_max_and_the_budget),
        T(test_a_topic_that_goes_leaves_no_trace_in_the_due_list),
        T(test_idle_caches_are_swept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
