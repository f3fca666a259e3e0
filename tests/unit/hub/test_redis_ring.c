/* Unit tests for hub/redis_ring.c: the consistent hash of topics over Redis
 * shards maps alike whatever the order of the list, spreads topics evenly,
 * and moves only about 1/(n+1) of them, all to the new shard, when one is
 * added. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hub/redis_ring.h"

#define TOPICS 20000

static const char *topic(unsigned i, char *buf, size_t cap)
{
    snprintf(buf, cap, "chat.room.%u", i);
    return buf;
}

static void test_redis_ring_maps_alike_whatever_the_order_of_the_shards(void **state)
{
    const char *one[] = {"/run/redis/a.sock", "10.0.0.2:6379", "10.0.0.3:6379"};
    const char *two[] = {"10.0.0.3:6379", "/run/redis/a.sock", "10.0.0.2:6379"};
    struct redis_ring r1, r2;
    redis_ring_init(&r1, one, 3);
    redis_ring_init(&r2, two, 3);
    char buf[64];
    for (unsigned i = 0; i < TOPICS; i++) {
        const char *t = topic(i, buf, sizeof buf);
        uint32_t a = redis_ring_shard(&r1, t, strlen(t));
        uint32_t b = redis_ring_shard(&r2, t, strlen(t));
        assert_string_equal(one[a], two[b]);
    }
    redis_ring_deinit(&r1);
    redis_ring_deinit(&r2);
}

static void test_redis_ring_spreads_topics_evenly(void **state)
{
    const char *shards[] = {"r0:6379", "r1:6379", "r2:6379", "r3:6379"};
    struct redis_ring r;
    redis_ring_init(&r, shards, 4);
    unsigned count[4] = {0};
    char buf[64];
    for (unsigned i = 0; i < TOPICS; i++) {
        const char *t = topic(i, buf, sizeof buf);
        count[redis_ring_shard(&r, t, strlen(t))]++;
    }
    /* A quarter each, within a fifth of it (160 points per shard). */
    for (int s = 0; s < 4; s++) {
        assert_true(count[s] > TOPICS / 4 * 8 / 10);
        assert_true(count[s] < TOPICS / 4 * 12 / 10);
    }
    redis_ring_deinit(&r);
}

static void test_redis_ring_adding_a_shard_moves_few_topics_all_to_it(void **state)
{
    const char *four[] = {"r0:6379", "r1:6379", "r2:6379", "r3:6379"};
    const char *five[] = {"r0:6379", "r1:6379", "r2:6379", "r3:6379", "r4:6379"};
    struct redis_ring before, after;
    redis_ring_init(&before, four, 4);
    redis_ring_init(&after, five, 5);
    unsigned moved = 0;
    char buf[64];
    for (unsigned i = 0; i < TOPICS; i++) {
        const char *t = topic(i, buf, sizeof buf);
        uint32_t a = redis_ring_shard(&before, t, strlen(t));
        uint32_t b = redis_ring_shard(&after, t, strlen(t));
        if (a != b) {
            assert_int_equal(b, 4); /* only ever to the new shard */
            moved++;
        }
    }
    /* About a fifth: between 15 % and 25 %. */
    assert_true(moved > TOPICS * 15 / 100);
    assert_true(moved < TOPICS * 25 / 100);
    redis_ring_deinit(&before);
    redis_ring_deinit(&after);
}

static void test_redis_ring_is_stable_across_processes(void **state)
{
    /* Fixed keys, not the dict's random ones: every hub computes this. */
    const char *shards[] = {"a:1", "b:1"};
    struct redis_ring r;
    redis_ring_init(&r, shards, 2);
    uint32_t first = redis_ring_shard(&r, "x", 1);
    redis_ring_deinit(&r);
    redis_ring_init(&r, shards, 2);
    assert_int_equal(redis_ring_shard(&r, "x", 1), first);
    redis_ring_deinit(&r);
    const char *single[] = {"only:1"};
    redis_ring_init(&r, single, 1);
    assert_int_equal(redis_ring_shard(&r, "anything", 8), 0);
    redis_ring_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_ring_maps_alike_whatever_the_order_of_the_shards),
        cmocka_unit_test(test_redis_ring_spreads_topics_evenly),
        cmocka_unit_test(test_redis_ring_adding_a_shard_moves_few_topics_all_to_it),
        cmocka_unit_test(test_redis_ring_is_stable_across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
