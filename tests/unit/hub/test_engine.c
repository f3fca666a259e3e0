/* Unit tests for the engine interface (hub/engine.h): the memory engine
 * orders, stores, reads back and forgets topic states (with a clock moved
 * by hand), mints a new epoch when a state is made again, keeps to
 * max_topics; the memory-deferred engine completes every call on a later
 * loop turn, in call order, with live messages apart from the answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "hub/engine.h"
#include "hub/history_rules.h"

static uint64_t fake_ms;
static uint64_t fake_clock(void *ud)
{
    return fake_ms;
}

/* Live messages seen: their seqs, in order. */
static uint64_t live[64];
static void *live_cookie[64];
static size_t nlive;
static void on_message(void *ud, const struct engine_msg *m)
{
    if (nlive < 64) {
        live_cookie[nlive] = m->cookie;
        live[nlive++] = m->seq;
    }
}

struct pos_seen {
    int calls, status;
    struct engine_pos pos;
};
static void on_pos(void *ctx, int status, const struct engine_pos *pos)
{
    struct pos_seen *p = ctx;
    p->calls++;
    p->status = status;
    if (pos)
        p->pos = *pos;
}

struct read_seen {
    int calls, status;
    struct engine_pos pos;
    enum engine_recovery why;
    uint64_t first_seq;
    uint64_t seqs[64];
    size_t n;
};
static void on_read(void *ctx, struct engine_read *r)
{
    struct read_seen *s = ctx;
    s->calls++;
    s->status = r->status;
    s->pos = r->pos;
    s->why = r->why;
    s->first_seq = r->first_seq;
    struct engine_msg m;
    while (r->next(r, &m))
        s->seqs[s->n++] = m.seq;
}

static struct link_str S(const char *s) {
    return link_str_c(s);
}

static struct engine *
memory_lingering(size_t max_topics, const char *rules_key, const char *rules_value,
                 uint64_t linger_ms)
{
    char err[256];
    struct history_rules *rules = history_rules_new();
    if (rules_key)
        assert_int_equal(history_rules_set(rules, rules_key, rules_value, err, sizeof err), 0);
    struct engine_opts o = {.max_topics = max_topics,
                            .history_bytes = 1 << 20,
                            .linger_ms = linger_ms,
                            .rules = rules,
                            .on_message = on_message,
                            .now_ms = fake_clock};
    nlive = 0;
    fake_ms = 1000;
    struct engine *e = engine_new("memory", &o, err, sizeof err);
    assert_non_null(e);
    return e;
}

static struct engine *memory(size_t max_topics, const char *rules_key, const char *rules_value)
{
    return memory_lingering(max_topics, rules_key, rules_value, 0);
}

static struct pos_seen publish(struct engine *e, const char *topic)
{
    struct engine_pub p = {.topic = S(topic), .from = S("edge-a:0:0000abcd:1"), .data = S("1")};
    struct pos_seen seen = {0};
    engine_publish(e, &p, on_pos, &seen);
    assert_int_equal(seen.calls, 1); /* the memory engine answers before it returns */
    return seen;
}

static struct read_seen read_since(struct engine *e, const char *topic, uint64_t seq,
                                   const char *epoch)
{
    struct engine_pos since = {.seq = seq};
    struct read_seen seen = {0};
    if (epoch)
        snprintf(since.epoch, sizeof since.epoch, "%s", epoch);
    engine_history_read(e, S(topic), epoch ? &since : NULL, on_read, &seen);
    assert_int_equal(seen.calls, 1);
    return seen;
}

static void test_memory_engine_orders_and_stores_a_topic_nobody_wants(void **state)
{
    struct engine *e = memory(16, NULL, NULL);
    struct pos_seen a = publish(e, "t");
    struct pos_seen b = publish(e, "t");
    assert_int_equal(a.status, ENGINE_OK);
    assert_int_equal(a.pos.seq, 1);
    assert_int_equal(b.pos.seq, 2);
    assert_int_equal(strlen(a.pos.epoch), 8);
    assert_int_equal(strspn(a.pos.epoch, "0123456789abcdefghijklmnopqrstuvwxyz"), 8);
    assert_string_equal(a.pos.epoch, b.pos.epoch);
    assert_int_equal(nlive, 0); /* the hub is not interested: nothing live */
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 1);
    assert_int_equal(st.history_messages, 2);
    engine_free(e);
}

static void test_memory_engine_delivers_live_only_with_interest(void **state)
{
    struct engine *e = memory(16, NULL, NULL);
    publish(e, "t");
    struct pos_seen in = {0};
    engine_interest_add(e, S("t"), on_pos, &in);
    assert_int_equal(in.calls, 1);
    assert_int_equal(in.pos.seq, 1); /* live messages are those after 1 */
    publish(e, "t");
    publish(e, "t");
    assert_int_equal(nlive, 2);
    assert_int_equal(live[0], 2);
    assert_int_equal(live[1], 3);
    engine_interest_remove(e, S("t"));
    publish(e, "t");
    assert_int_equal(nlive, 2);
    engine_free(e);
}

static void test_memory_engine_hands_back_the_interest_cookie_until_interest_ends(void **state)
{
    struct engine *e = memory(16, NULL, NULL);
    int mark;
    engine_interest_cookie(e, S("t"), &mark); /* no interest yet: not kept */
    struct pos_seen in = {0};
    engine_interest_add(e, S("t"), on_pos, &in);
    publish(e, "t");
    engine_interest_cookie(e, S("t"), &mark);
    publish(e, "t");
    engine_interest_remove(e, S("t"));
    engine_interest_add(e, S("t"), on_pos, &in);
    publish(e, "t"); /* interest again, without a cookie */
    assert_int_equal(nlive, 3);
    assert_null(live_cookie[0]);
    assert_ptr_equal(live_cookie[1], &mark);
    assert_null(live_cookie[2]);
    engine_free(e);
}

static void test_memory_engine_reads_since_a_position(void **state)
{
    struct engine *e = memory(16, "t", "3");
    for (int i = 0; i < 5; i++)
        publish(e, "t");
    struct pos_seen p = publish(e, "t"); /* 6; the history holds 4..6 */
    const char *ep = p.pos.epoch;

    struct read_seen r = read_since(e, "t", 3, ep);
    assert_int_equal(r.why, ENGINE_RECOVERED);
    assert_int_equal(r.pos.seq, 6);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.seqs[0], 4);
    assert_int_equal(r.seqs[2], 6);
    r = read_since(e, "t", 6, ep);
    assert_int_equal(r.why, ENGINE_RECOVERED);
    assert_int_equal(r.n, 0);
    r = read_since(e, "t", 2, ep); /* 3 is gone */
    assert_int_equal(r.why, ENGINE_TOO_OLD);
    assert_int_equal(r.first_seq, 4);
    assert_int_equal(r.n, 0);
    r = read_since(e, "t", 7, ep);
    assert_int_equal(r.why, ENGINE_AHEAD);
    r = read_since(e, "t", 5, "zzzzzzzz");
    assert_int_equal(r.why, ENGINE_OTHER_EPOCH);
    assert_string_equal(r.pos.epoch, ep);
    r = read_since(e, "t", 0, NULL);
    assert_int_equal(r.why, ENGINE_NO_SINCE);
    assert_int_equal(r.pos.seq, 6);
    r = read_since(e, "nothing", 0, NULL);
    assert_int_equal(r.why, ENGINE_NO_TOPIC);
    assert_int_equal(r.pos.seq, 0);
    engine_free(e);
}

static void test_memory_engine_forgets_a_state_and_mints_a_new_epoch(void **state)
{
    struct engine *e = memory(16, "t", "10 1s");
    struct pos_seen a = publish(e, "t");
    fake_ms += 500;
    publish(e, "t");
    fake_ms += 600; /* the first expired, the second has 400 ms left */
    struct read_seen r = read_since(e, "t", 0, a.pos.epoch);
    assert_int_equal(r.why, ENGINE_TOO_OLD);
    assert_int_equal(r.first_seq, 2);
    fake_ms += 400; /* all expired, no interest: the state goes */
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 0);
    assert_int_equal(st.evicted_age, 2);
    struct pos_seen b = publish(e, "t");
    assert_int_equal(b.pos.seq, 1);
    assert_string_not_equal(b.pos.epoch, a.pos.epoch);

    /* Interest keeps a state without history. */
    struct pos_seen in = {0};
    engine_interest_add(e, S("u"), on_pos, &in);
    fake_ms += 100000;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 1); /* u: t's history expired, and t had no interest */
    engine_free(e);
}

/* Its history emptied, an interested topic keeps its position and cookie;
 * the next publish goes on in the same epoch, stored again under the rules
 * of then (the state's log is made again: engine_memory.c). */
static void test_memory_engine_goes_on_after_an_interested_topics_history_expired(void **state)
{
    struct engine *e = memory(16, "t", "10 1s");
    struct pos_seen in = {0};
    engine_interest_add(e, S("t"), on_pos, &in);
    int mark;
    engine_interest_cookie(e, S("t"), &mark);
    assert_int_equal(publish(e, "t").pos.seq, 1);
    fake_ms += 1500;
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 1);
    assert_int_equal(st.evicted_age, 1);
    assert_int_equal(st.history_messages, 0);
    struct read_seen r = read_since(e, "t", 0, in.pos.epoch);
    assert_int_equal(r.why, ENGINE_TOO_OLD);
    assert_int_equal(r.first_seq, 2);
    assert_int_equal(r.pos.seq, 1);

    char err[256];
    struct history_rules *rules = history_rules_new();
    assert_int_equal(history_rules_set(rules, "t", "2", err, sizeof err), 0);
    engine_set_rules(e, rules);
    for (int i = 0; i < 3; i++) {
        struct pos_seen p = publish(e, "t");
        assert_int_equal(p.pos.seq, 2 + i);
        assert_string_equal(p.pos.epoch, in.pos.epoch);
    }
    assert_int_equal(nlive, 4);
    assert_ptr_equal(live_cookie[3], &mark);
    r = read_since(e, "t", 2, in.pos.epoch);
    assert_int_equal(r.why, ENGINE_RECOVERED);
    assert_int_equal(r.n, 2); /* the new rules: 2 kept */
    assert_int_equal(r.seqs[0], 3);
    assert_int_equal(r.seqs[1], 4);
    fake_ms += 100000; /* no age bound now: they stay */
    r = read_since(e, "t", 2, in.pos.epoch);
    assert_int_equal(r.n, 2);
    engine_free(e);
}

static void test_memory_engine_without_history_forgets_at_once(void **state)
{
    struct engine *e = memory(16, "ticker.*", "0");
    struct pos_seen a = publish(e, "ticker.eur");
    struct pos_seen b = publish(e, "ticker.eur");
    assert_int_equal(a.pos.seq, 1);
    assert_int_equal(b.pos.seq, 1); /* a new state each time */
    assert_string_not_equal(a.pos.epoch, b.pos.epoch);
    struct pos_seen in = {0};
    engine_interest_add(e, S("ticker.eur"), on_pos, &in);
    publish(e, "ticker.eur");
    struct pos_seen c = publish(e, "ticker.eur"); /* interest keeps it: the count goes on */
    assert_int_equal(c.pos.seq, 2);
    engine_free(e);
}

static void test_memory_engine_keeps_an_unwanted_empty_state_for_its_linger(void **state)
{
    struct engine *e = memory_lingering(16, "t", "0", 60000);
    struct pos_seen in = {0};
    engine_interest_add(e, S("t"), on_pos, &in); /* subscribers, nothing published yet */
    engine_interest_remove(e, S("t"));           /* the edge's link broke */
    fake_ms += 59000;
    struct pos_seen back = {0};
    engine_interest_add(e, S("t"), on_pos, &back); /* it relinked: the same epoch */
    assert_string_equal(back.pos.epoch, in.pos.epoch);
    engine_interest_remove(e, S("t"));
    struct pos_seen a = publish(e, "t"); /* no history, but the state lingers on */
    struct pos_seen b = publish(e, "t");
    assert_int_equal(b.pos.seq, a.pos.seq + 1);
    assert_string_equal(b.pos.epoch, in.pos.epoch);
    fake_ms += 60000;
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 0); /* then it is forgotten */
    struct pos_seen c = publish(e, "t");
    assert_int_equal(c.pos.seq, 1);
    assert_string_not_equal(c.pos.epoch, in.pos.epoch);
    engine_free(e);
}

static void test_memory_engine_keeps_to_max_topics(void **state)
{
    struct engine *e = memory(2, NULL, NULL);
    assert_int_equal(publish(e, "a").status, ENGINE_OK);
    struct pos_seen in = {0};
    engine_interest_add(e, S("b"), on_pos, &in);
    assert_int_equal(in.status, ENGINE_OK);
    assert_int_equal(publish(e, "c").status, ENGINE_FULL);
    engine_interest_add(e, S("c"), on_pos, &in);
    assert_int_equal(in.status, ENGINE_FULL);
    assert_int_equal(publish(e, "a").status, ENGINE_OK); /* an existing state */
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.publishes_refused, 1);
    assert_int_equal(st.topics, 2);
    engine_free(e);
}

struct listed {
    size_t total, n;
    uint64_t messages;
};
static void on_list(void *ctx, struct engine_list *l)
{
    struct listed *s = ctx;
    s->total = l->total;
    struct engine_topic t;
    while (l->next(l, &t)) {
        s->n++;
        s->messages += t.history_messages;
        assert_int_equal(t.first_seq, 1);
        assert_int_equal(strlen(t.pos.epoch), 8);
    }
}

static void test_memory_engine_lists_topic_states(void **state)
{
    struct engine *e = memory(16, NULL, NULL);
    publish(e, "a");
    publish(e, "b");
    publish(e, "b");
    struct listed s = {0};
    engine_topics(e, 10, on_list, &s);
    assert_int_equal(s.total, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.messages, 3);
    memset(&s, 0, sizeof s);
    engine_topics(e, 1, on_list, &s); /* capped, the total still says all */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.total, 2);
    engine_free(e);
}

/* engine_prefetch is a hint: with few topics the memory engine declines it;
 * with many, what it hashed ahead never decides a lookup, even when the
 * name's bytes at the same place changed before the publish came (a
 * read buffer reused), and a name it was told of may be new. */
static void test_memory_engine_prefetch_is_only_a_hint(void **state)
{
    char err[256];
    struct engine_opts o = {.max_topics = 6000,
                            .history_bytes = 16 << 20, /* no eviction drops a topic */
                            .rules = history_rules_new(),
                            .on_message = on_message,
                            .now_ms = fake_clock};
    struct engine *e = engine_new("memory", &o, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(engine_prefetch(e, S("t0")), 0); /* no topics: no use */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(publish(e, name).pos.seq, 1);
    }
    for (int i = 0; i < 5000; i++) { /* each told ahead, as the hub does */
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(engine_prefetch(e, S(name)), 1);
        assert_int_equal(publish(e, name).pos.seq, 2);
    }
    /* Told of t1 and t2, then the same bytes say t3 and t4. */
    char a[8] = "t1", b[8] = "t2";
    engine_prefetch(e, S(a));
    engine_prefetch(e, S(b));
    memcpy(a, "t3", 2);
    memcpy(b, "t4", 2);
    assert_int_equal(publish(e, a).pos.seq, 3);
    assert_int_equal(publish(e, b).pos.seq, 3);
    assert_int_equal(read_since(e, "t1", 0, NULL).pos.seq, 2);
    assert_int_equal(read_since(e, "t2", 0, NULL).pos.seq, 2);
    /* A new name, told ahead, and one never told. */
    engine_prefetch(e, S("new"));
    assert_int_equal(publish(e, "new").pos.seq, 1);
    assert_int_equal(publish(e, "new2").pos.seq, 1);
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.topics, 5002);
    assert_int_equal(st.evicted_budget, 0);
    engine_free(e);
}

/* Many topics, each told ahead as the hub does: budget eviction still
 * takes the hub's oldest messages first. */
static void test_memory_engine_budget_evicts_oldest_across_many_topics(void **state)
{
    struct engine *e = memory(6000, NULL, NULL); /* 1 MiB: about 10,000 messages */
    char name[32];
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 5000; i++) {
            snprintf(name, sizeof name, "t%d", i);
            engine_prefetch(e, S(name));
            assert_int_equal(publish(e, name).pos.seq, (uint64_t)round + 1);
        }
    struct engine_stats st;
    engine_stats(e, &st);
    assert_true(st.evicted_budget >= 9000);
    assert_int_equal(st.evicted_budget + st.history_messages, 20000);
    /* The oldest went first: what is left is the newest publishes, the
     * g-th (0-based) being round g / 5000 of topic g % 5000. */
    uint64_t first_kept = 20000 - st.history_messages;
    for (int i = 0; i < 5000; i += 7) {
        snprintf(name, sizeof name, "t%d", i);
        struct read_seen r = read_since(e, name, 0, NULL);
        assert_int_equal(r.pos.seq, 4);
        uint64_t round = 0;
        while (round * 5000 + (uint64_t)i < first_kept)
            round++;
        assert_int_equal(r.first_seq, round + 1);
    }
    engine_free(e);
}

/* ---- memory-deferred ----------------------------------------------------------- */

static struct engine *deferred(struct ev_loop *loop)
{
    char err[256];
    struct engine_opts o = {
        .loop = loop, .max_topics = 16, .history_bytes = 1 << 20, .on_message = on_message};
    nlive = 0;
    struct engine *e = engine_new("memory-deferred", &o, err, sizeof err);
    assert_non_null(e);
    return e;
}

static void test_deferred_engine_answers_on_later_turns_in_call_order(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct engine *e = deferred(loop);
    struct pos_seen in = {0}, p1 = {0}, p2 = {0};
    struct read_seen r = {0};
    struct engine_pub pub = {.topic = S("t"), .from = S("f"), .data = S("1")};
    engine_interest_add(e, S("t"), on_pos, &in);
    engine_publish(e, &pub, on_pos, &p1);
    struct engine_pos since = {.seq = 0};
    engine_history_read(e, S("t"), NULL, on_read, &r);
    engine_publish(e, &pub, on_pos, &p2);
    assert_int_equal(in.calls + p1.calls + p2.calls + r.calls, 0); /* nothing during the calls */
    ev_run(loop, EVRUN_NOWAIT);                                    /* carried out */
    assert_int_equal(in.calls + p1.calls + r.calls, 0);
    for (int i = 0; i < 3; i++)
        ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(in.calls, 1);
    assert_int_equal(in.pos.seq, 0);
    assert_int_equal(p1.pos.seq, 1);
    assert_int_equal(p2.pos.seq, 2);
    assert_int_equal(r.pos.seq, 1); /* read after the first publish, before the second */
    assert_string_equal(r.pos.epoch, p1.pos.epoch);
    assert_int_equal(nlive, 2);
    assert_int_equal(live[0], 1);
    assert_int_equal(live[1], 2);

    /* A read since a position returns copies of what the memory engine held. */
    snprintf(since.epoch, sizeof since.epoch, "%s", p1.pos.epoch);
    struct read_seen r2 = {0};
    engine_history_read(e, S("t"), &since, on_read, &r2);
    for (int i = 0; i < 3; i++)
        ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r2.why, ENGINE_RECOVERED);
    assert_int_equal(r2.n, 2);
    assert_int_equal(r2.seqs[1], 2);

    /* Freed with calls pending: each callback hears ENGINE_GONE. */
    struct pos_seen gone = {0};
    engine_publish(e, &pub, on_pos, &gone);
    engine_free(e);
    assert_int_equal(gone.calls, 1);
    assert_int_equal(gone.status, ENGINE_GONE);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_engine_orders_and_stores_a_topic_nobody_wants),
        cmocka_unit_test(test_memory_engine_delivers_live_only_with_interest),
        cmocka_unit_test(test_memory_engine_hands_back_the_interest_cookie_until_interest_ends),
        cmocka_unit_test(test_memory_engine_reads_since_a_position),
        cmocka_unit_test(test_memory_engine_forgets_a_state_and_mints_a_new_epoch),
        cmocka_unit_test(test_memory_engine_goes_on_after_an_interested_topics_history_expired),
        cmocka_unit_test(test_memory_engine_without_history_forgets_at_once),
        cmocka_unit_test(test_memory_engine_keeps_an_unwanted_empty_state_for_its_linger),
        cmocka_unit_test(test_memory_engine_keeps_to_max_topics),
        cmocka_unit_test(test_memory_engine_lists_topic_states),
        cmocka_unit_test(test_memory_engine_prefetch_is_only_a_hint),
        cmocka_unit_test(test_memory_engine_budget_evicts_oldest_across_many_topics),
        cmocka_unit_test(test_deferred_engine_answers_on_later_turns_in_call_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
