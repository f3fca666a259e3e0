/* Unit tests for common/connid.c: the one grammar of connection ids, its
 * strict parser (exactly what the formatter writes, nothing else) and the
 * edge-name rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/connid.h"

static int parse(const char *s, struct connid *c)
{
    return connid_parse(s, strlen(s), c);
}

static void test_connid_parse_accepts_what_the_edge_writes(void **state)
{
    struct connid c;
    assert_int_equal(parse("edge-a:1:18d84800:1", &c), 0);
    assert_int_equal(c.name_len, 6);
    assert_memory_equal(c.name, "edge-a", 6);
    assert_int_equal(c.worker, 1);
    assert_int_equal(c.boot, 0x18d84800);
    assert_int_equal(c.seq, 1);
    assert_int_equal(parse("e:0:00000000:18446744073709551615", &c), 0);
    assert_true(c.worker == 0 && c.boot == 0 && c.seq == UINT64_MAX);
    assert_int_equal(parse("e:1023:ffffffff:10", &c), 0);
    assert_true(c.worker == 1023 && c.boot == UINT32_MAX && c.seq == 10);
}

static void test_connid_parse_rejects_upper_case_hex(void **state)
{
    struct connid c;
    assert_int_equal(parse("edge-a:1:18D84800:1", &c), CONNID_E_BOOT);
    assert_int_equal(parse("edge-a:1:ABCDEF01:1", &c), CONNID_E_BOOT);
}

static void test_connid_parse_rejects_unpadded_or_long_boot(void **state)
{
    struct connid c;
    assert_int_equal(parse("edge-a:1:1234:1", &c), CONNID_E_BOOT);
    assert_int_equal(parse("edge-a:1::1", &c), CONNID_E_BOOT);
    assert_int_equal(parse("edge-a:1:0000000018d84800:1", &c), CONNID_E_BOOT);
    assert_int_equal(parse("edge-a:1:0x123456:1", &c), CONNID_E_BOOT);
    assert_int_equal(parse("edge-a:1:1234567g:1", &c), CONNID_E_BOOT);
}

static void test_connid_parse_rejects_leading_zeros_and_signs(void **state)
{
    struct connid c;
    assert_int_equal(parse("e:01:00000001:1", &c), CONNID_E_WORKER);
    assert_int_equal(parse("e:+1:00000001:1", &c), CONNID_E_WORKER);
    assert_int_equal(parse("e:1:00000001:01", &c), CONNID_E_SEQ);
    assert_int_equal(parse("e:1:00000001:-1", &c), CONNID_E_SEQ);
    assert_int_equal(parse("e:1:00000001: 1", &c), CONNID_E_SEQ);
}

static void test_connid_parse_rejects_out_of_range_numbers(void **state)
{
    struct connid c;
    assert_int_equal(parse("e:1024:00000001:1", &c), CONNID_E_WORKER);
    assert_int_equal(parse("e:4294967296:00000001:1", &c), CONNID_E_WORKER);
    assert_int_equal(parse("e:1:00000001:18446744073709551616", &c), CONNID_E_SEQ);
    assert_int_equal(parse("e:1:00000001:0", &c), CONNID_E_SEQ); /* edges count from 1 */
    assert_int_equal(parse("e:1:00000001:", &c), CONNID_E_SEQ);
    assert_int_equal(parse("e::00000001:1", &c), CONNID_E_WORKER);
}

static void test_connid_parse_rejects_invalid_names(void **state)
{
    struct connid c;
    assert_int_equal(parse(":1:00000001:1", &c), CONNID_E_NAME);
    assert_int_equal(parse(":::", &c), CONNID_E_NAME);
    assert_int_equal(parse(".edge:1:00000001:1", &c), CONNID_E_NAME);
    assert_int_equal(parse("ed ge:1:00000001:1", &c), CONNID_E_NAME);
    char id[128];
    snprintf(id, sizeof id, "%065d:1:00000001:1", 0); /* a 65-byte name */
    assert_int_equal(parse(id, &c), CONNID_E_NAME);
    snprintf(id, sizeof id, "%064d:1:00000001:1", 0);
    assert_int_equal(parse(id, &c), 0);
}

static void test_connid_parse_rejects_wrong_part_counts(void **state)
{
    struct connid c;
    const char *bad[] = {
        "",    "nonsense", "a:1:00000001", "a:b:c:0:1:2", "a:1:00000001:1:", "a:1:00000001:1:2",
        "::::"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], &c), CONNID_E_PARTS);
}

static void test_connid_parse_reads_only_the_bytes_given(void **state)
{
    /* A valid id followed by more digits: only n bytes count. */
    const char *s = "e:1:00000001:12345";
    struct connid c;
    assert_int_equal(connid_parse(s, strlen(s) - 3, &c), 0);
    assert_int_equal(c.seq, 12);
    /* A NUL inside is just an invalid byte. */
    assert_int_equal(connid_parse("e\0:1:00000001:1", 15, &c), CONNID_E_NAME);
}

static void test_connid_format_writes_the_one_spelling(void **state)
{
    char out[CONNID_MAX_LEN + 1];
    struct connid id = {.name = "edge-a", .name_len = 6, .worker = 3, .boot = 0xabc, .seq = 7};
    assert_int_equal(connid_format(out, sizeof out, &id), 19);
    assert_string_equal(out, "edge-a:3:00000abc:7");
    /* The longest id fits CONNID_MAX_LEN exactly. */
    char name[CONNID_MAX_NAME + 1];
    memset(name, 'n', CONNID_MAX_NAME);
    name[CONNID_MAX_NAME] = '\0';
    struct connid big = {.name = name,
                         .name_len = CONNID_MAX_NAME,
                         .worker = CONNID_WORKER_LIMIT - 1,
                         .boot = UINT32_MAX,
                         .seq = UINT64_MAX};
    assert_int_equal(connid_format(out, sizeof out, &big), CONNID_MAX_LEN);
    assert_int_equal(connid_format(out, CONNID_MAX_LEN, &big), -1);
    assert_string_equal(out, "");
}

static void test_connid_format_refuses_ids_outside_the_grammar(void **state)
{
    char out[CONNID_MAX_LEN + 1];
    struct connid id = {.name = "edge-a", .name_len = 6, .worker = 0, .boot = 1, .seq = 1};
    id.worker = CONNID_WORKER_LIMIT;
    assert_int_equal(connid_format(out, sizeof out, &id), -1);
    id.worker = 0;
    id.seq = 0;
    assert_int_equal(connid_format(out, sizeof out, &id), -1);
    id.seq = 1;
    id.name = ".edge";
    id.name_len = 5;
    assert_int_equal(connid_format(out, sizeof out, &id), -1);
    assert_string_equal(out, "");
}

static void test_connid_format_and_parse_round_trip(void **state)
{
    const struct connid ids[] = {
        {"a", 1, 0, 0, 1},
        {"edge-b.eu_1", 11, 255, 0x236902c6, 99999},
        {"Z", 1, 1023, 0xffffffff, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char out[CONNID_MAX_LEN + 1];
        int n = connid_format(out, sizeof out, &ids[i]);
        assert_true(n > 0);
        struct connid back;
        assert_int_equal(connid_parse(out, (size_t)n, &back), 0);
        assert_true(connid_same_worker(&back, &ids[i]));
        assert_true(back.seq == ids[i].seq);
    }
}

static void test_connid_same_worker_compares_all_but_seq(void **state)
{
    struct connid a = {"e", 1, 2, 3, 4}, b = a;
    b.seq = 5;
    assert_true(connid_same_worker(&a, &b));
    b.boot = 4;
    assert_false(connid_same_worker(&a, &b));
    b = a;
    b.worker = 1;
    assert_false(connid_same_worker(&a, &b));
    b = a;
    b.name = "f";
    assert_false(connid_same_worker(&a, &b));
    b.name = "ee";
    b.name_len = 2;
    assert_false(connid_same_worker(&a, &b));
}

static void test_connid_name_is_valid_follows_the_edge_name_rule(void **state)
{
    assert_true(connid_name_is_valid("edge-a", 6));
    assert_true(connid_name_is_valid("a.b_c-D9", 8));
    assert_true(connid_name_is_valid("a.", 2));
    assert_false(connid_name_is_valid("", 0));
    assert_false(connid_name_is_valid(".a", 2));
    assert_false(connid_name_is_valid("a:b", 3));
    assert_false(connid_name_is_valid("a/b", 3));
    assert_false(connid_name_is_valid("\xc3\xa9", 2));
    char name[CONNID_MAX_NAME + 1];
    memset(name, 'x', sizeof name);
    assert_true(connid_name_is_valid(name, CONNID_MAX_NAME));
    assert_false(connid_name_is_valid(name, CONNID_MAX_NAME + 1));
}

static void test_connid_strerror_names_the_part(void **state)
{
    assert_string_equal(connid_strerror(0), "");
    assert_non_null(strstr(connid_strerror(CONNID_E_BOOT), "lower-case hex"));
    assert_non_null(strstr(connid_strerror(CONNID_E_WORKER), "worker"));
    assert_non_null(strstr(connid_strerror(CONNID_E_SEQ), "sequence"));
    assert_non_null(strstr(connid_strerror(CONNID_E_NAME), "name"));
    assert_non_null(strstr(connid_strerror(CONNID_E_PARTS), "NAME:WORKER:BOOT:SEQ"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connid_parse_accepts_what_the_edge_writes),
        cmocka_unit_test(test_connid_parse_rejects_upper_case_hex),
        cmocka_unit_test(test_connid_parse_rejects_unpadded_or_long_boot),
        cmocka_unit_test(test_connid_parse_rejects_leading_zeros_and_signs),
        cmocka_unit_test(test_connid_parse_rejects_out_of_range_numbers),
        cmocka_unit_test(test_connid_parse_rejects_invalid_names),
        cmocka_unit_test(test_connid_parse_rejects_wrong_part_counts),
        cmocka_unit_test(test_connid_parse_reads_only_the_bytes_given),
        cmocka_unit_test(test_connid_format_writes_the_one_spelling),
        cmocka_unit_test(test_connid_format_refuses_ids_outside_the_grammar),
        cmocka_unit_test(test_connid_format_and_parse_round_trip),
        cmocka_unit_test(test_connid_same_worker_compares_all_but_seq),
        cmocka_unit_test(test_connid_name_is_valid_follows_the_edge_name_rule),
        cmocka_unit_test(test_connid_strerror_names_the_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
