/* Unit tests for hub/engine_redis_wire.c: key and channel names, channel
 * payloads and stream entries decoded (and hostile ones refused), the
 * scripts' replies read (through hiredis's own reader, from RESP bytes as
 * Redis sends them), and the scripts' SHA1s. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "hub/engine_redis_wire.h"
#include "tests/unit/hub/resp_reply.h"

static int str_is(struct link_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void test_wire_names_keys_and_finds_the_topic_in_a_channel(void **state)
{
    struct buf b = BUF_INIT;
    redis_wire_key(&b, "spoke", 'm', link_str_c("chat.lobby"));
    buf_append_u8(&b, 0);
    assert_string_equal((const char *)buf_head(&b), "spoke:m:{chat.lobby}");
    buf_reset(&b);
    redis_wire_key(&b, "x", 'c', link_str_c("a/b:c"));
    struct link_str t;
    assert_int_equal(
        redis_wire_channel_topic("x", (const char *)buf_head(&b), buf_readable(&b), &t), 0);
    assert_true(str_is(t, "a/b:c"));
    assert_int_equal(
        redis_wire_channel_topic("y", (const char *)buf_head(&b), buf_readable(&b), &t), -1);
    assert_int_equal(redis_wire_channel_topic("x", "x:hb:hub", 8, &t), -1);
    assert_int_equal(redis_wire_channel_topic("x", "x:c:{", 5, &t), -1);
    buf_deinit(&b);
}

static void test_wire_decodes_a_live_message(void **state)
{
    static const char p[] = "k3x9a0qz:57:1:5:2:edgeAu1\x81\xa1x";
    struct redis_wire_msg m;
    assert_int_equal(redis_wire_decode_live(p, sizeof p - 1, &m), 0);
    assert_true(str_is(m.epoch, "k3x9a0qz"));
    assert_true(m.seq == 57);
    assert_int_equal(m.enc, 1);
    assert_true(str_is(m.from, "edgeA"));
    assert_true(str_is(m.user, "u1"));
    assert_int_equal(m.data.len, 3);
    /* Data may hold colons and be empty. */
    static const char q[] = "e:1:0:0:0:a:b";
    assert_int_equal(redis_wire_decode_live(q, sizeof q - 1, &m), 0);
    assert_true(str_is(m.data, "a:b") && !m.from.len && !m.user.len);
}

static void test_wire_refuses_hostile_live_messages(void **state)
{
    static const char *bad[] = {
        "",
        "k3x9a0qz",
        "K3X9:1:0:0:0:",                 /* not [0-9a-z] */
        "aaaaaaaaaaaaaaaaa:1:0:0:0:",    /* 17 characters */
        ":1:0:0:0:",                     /* no epoch */
        "e:0:0:0:0:",                    /* seq 0 */
        "e:01:0:0:0:",                   /* a leading zero */
        "e:18446744073709551616:0:0:0:", /* past u64 */
        "e:1:2:0:0:",                    /* enc 2 */
        "e:1:0:5:0:abc",                 /* from longer than what follows */
        "e:1:0:1:5:abc",
        "e:1:0:129:0:", /* from past its limit */
        "e:1:0:0:x:",
        "e:-1:0:0:0:",
    };
    struct redis_wire_msg m;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (redis_wire_decode_live(bad[i], strlen(bad[i]), &m) != -1)
            fail_msg("accepted '%s'", bad[i]);
}

static void test_wire_decodes_stream_entries_and_refuses_others(void **state)
{
    redisReply *r = resp("*2\r\n$4\r\n42-0\r\n*10\r\n$1\r\nt\r\n$13\r\n1700000000123\r\n"
                         "$1\r\nf\r\n$3\r\nabc\r\n$1\r\nu\r\n$0\r\n\r\n$1\r\nn\r\n$1\r\n0\r\n"
                         "$1\r\nd\r\n$4\r\n\"hi\"\r\n");
    struct redis_wire_msg m;
    assert_int_equal(redis_wire_decode_entry(r, &m), 0);
    assert_true(m.seq == 42 && m.time_ms == 1700000000123ull && m.enc == 0);
    assert_true(str_is(m.from, "abc") && !m.user.len && str_is(m.data, "\"hi\""));
    freeReplyObject(r);
    static const char *bad[] = {
        /* no d */
        "*2\r\n$3\r\n1-0\r\n*6\r\n$1\r\nf\r\n$0\r\n\r\n$1\r\nu\r\n$0\r\n\r\n$1\r\nn\r\n$1\r\n0\r\n",
        /* an id that is no seq */
        "*2\r\n$3\r\nx-0\r\n*8\r\n$1\r\nf\r\n$0\r\n\r\n$1\r\nu\r\n$0\r\n\r\n$1\r\nn\r\n$1\r\n0\r\n"
        "$1\r\nd\r\n$0\r\n\r\n",
        /* enc 7 */
        "*2\r\n$3\r\n1-0\r\n*8\r\n$1\r\nf\r\n$0\r\n\r\n$1\r\nu\r\n$0\r\n\r\n$1\r\nn\r\n$1\r\n7\r\n"
        "$1\r\nd\r\n$0\r\n\r\n",
        /* an odd field list */
        "*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nf\r\n",
        /* not an entry */
        ":5\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        if (redis_wire_decode_entry(r, &m) != -1)
            fail_msg("accepted entry %zu", i);
        freeReplyObject(r);
    }
}

static void test_wire_reads_the_scripts_replies(void **state)
{
    struct link_str epoch;
    uint64_t seq;
    int repeated = -1;
    redisReply *r = resp("*2\r\n$8\r\nk3x9a0qz\r\n:7\r\n");
    assert_int_equal(redis_wire_publish_reply(r, &epoch, &seq, &repeated), 0);
    assert_true(str_is(epoch, "k3x9a0qz") && seq == 7 && repeated == 0);
    freeReplyObject(r);
    r = resp("*2\r\n$8\r\nk3x9a0qz\r\n:0\r\n"); /* a publish always takes a seq */
    assert_int_equal(redis_wire_publish_reply(r, &epoch, &seq, &repeated), -1);
    freeReplyObject(r);

    struct redis_wire_read rd;
    r = resp("*5\r\n$8\r\nk3x9a0qz\r\n:10\r\n:8\r\n:0\r\n*0\r\n");
    assert_int_equal(redis_wire_read_reply(r, &rd), 0);
    assert_true(str_is(rd.epoch, "k3x9a0qz") && rd.seq == 10 && rd.first == 8 && !rd.flags);
    assert_int_equal(rd.entries->elements, 0);
    freeReplyObject(r);
    r = resp("*5\r\n$-1\r\n:0\r\n:1\r\n:0\r\n*0\r\n"); /* no state */
    assert_int_equal(redis_wire_read_reply(r, &rd), 0);
    assert_int_equal(rd.epoch.len, 0);
    freeReplyObject(r);
    r = resp("*5\r\n$8\r\nk3x9a0qz\r\n:10\r\n:12\r\n:0\r\n*0\r\n"); /* first past seq + 1 */
    assert_int_equal(redis_wire_read_reply(r, &rd), -1);
    freeReplyObject(r);
    r = resp("*4\r\n$8\r\nk3x9a0qz\r\n:10\r\n:8\r\n:0\r\n");
    assert_int_equal(redis_wire_read_reply(r, &rd), -1);
    freeReplyObject(r);
    r = resp("-ERR boom\r\n");
    assert_int_equal(redis_wire_read_reply(r, &rd), -1);
    freeReplyObject(r);
}

static void test_wire_reads_a_repeated_publish_s_first_position(void **state)
{
    struct link_str epoch;
    uint64_t seq;
    int repeated = 0;
    redisReply *r = resp("*3\r\n$8\r\nk3x9a0qz\r\n:7\r\n:1\r\n");
    assert_int_equal(redis_wire_publish_reply(r, &epoch, &seq, &repeated), 0);
    assert_true(str_is(epoch, "k3x9a0qz") && seq == 7 && repeated == 1);
    freeReplyObject(r);
    static const char *bad[] = {
        "*3\r\n$8\r\nk3x9a0qz\r\n:7\r\n:2\r\n",       /* a flag that is not 1 */
        "*3\r\n$8\r\nk3x9a0qz\r\n:7\r\n$1\r\n1\r\n",  /* a string flag */
        "*4\r\n$8\r\nk3x9a0qz\r\n:7\r\n:1\r\n:1\r\n", /* one element too many */
        "*3\r\n$8\r\nk3x9a0qZ\r\n:7\r\n:1\r\n",       /* not an epoch */
        "*3\r\n$8\r\nk3x9a0qz\r\n:-7\r\n:1\r\n",      /* no seq */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        if (redis_wire_publish_reply(r, &epoch, &seq, &repeated) != -1)
            fail_msg("accepted publish reply %zu", i);
        freeReplyObject(r);
    }
}

static void test_wire_names_a_publish_s_record_in_its_topic_s_slot(void **state)
{
    struct buf b = BUF_INIT;
    redis_wire_pub_key(&b, "spoke", link_str_c("chat.lobby"), link_str_c("edge-a.eu_1"), 3,
                       0xabcdull, 42);
    buf_append_u8(&b, 0);
    assert_string_equal((const char *)buf_head(&b),
                        "spoke:p:{chat.lobby}:edge-a.eu_1:3:0000abcd:42");
    buf_reset(&b);
    redis_wire_pub_key(&b, "app1", link_str_c("t"), link_str_c("e"), 1023, 0xffffffffull,
                       UINT64_MAX);
    buf_append_u8(&b, 0);
    assert_string_equal((const char *)buf_head(&b),
                        "app1:p:{t}:e:1023:ffffffff:18446744073709551615");
    buf_deinit(&b);
}

static void test_wire_scripts_have_their_sha1(void **state)
{
    for (int i = 0; i < REDIS_SCRIPTS; i++) {
        const char *sha = redis_script_sha((enum redis_script)i);
        assert_int_equal(strlen(sha), 40);
        assert_non_null(strstr(redis_script_text((enum redis_script)i), "local function now_ms"));
    }
    assert_string_not_equal(redis_script_sha(REDIS_SCRIPT_PUBLISH),
                            redis_script_sha(REDIS_SCRIPT_READ));
    assert_non_null(strstr(redis_script_text(REDIS_SCRIPT_PUBLISH), "'PUBLISH'"));
}

static void test_wire_numbers_are_strict_decimals(void **state)
{
    uint64_t v;
    assert_int_equal(redis_wire_u64("0", 1, &v), 0);
    assert_true(v == 0);
    assert_int_equal(redis_wire_u64("18446744073709551615", 20, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(redis_wire_u64("", 0, &v), -1);
    assert_int_equal(redis_wire_u64("+1", 2, &v), -1);
    assert_int_equal(redis_wire_u64("00", 2, &v), -1);
    assert_true(redis_wire_epoch_ok("0123456789abcdef", 16));
    assert_false(redis_wire_epoch_ok("", 0));
    assert_false(redis_wire_epoch_ok("a-b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_names_keys_and_finds_the_topic_in_a_channel),
        cmocka_unit_test(test_wire_decodes_a_live_message),
        cmocka_unit_test(test_wire_refuses_hostile_live_messages),
        cmocka_unit_test(test_wire_decodes_stream_entries_and_refuses_others),
        cmocka_unit_test(test_wire_reads_the_scripts_replies),
        cmocka_unit_test(test_wire_reads_a_repeated_publish_s_first_position),
        cmocka_unit_test(test_wire_names_a_publish_s_record_in_its_topic_s_slot),
        cmocka_unit_test(test_wire_scripts_have_their_sha1),
        cmocka_unit_test(test_wire_numbers_are_strict_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
