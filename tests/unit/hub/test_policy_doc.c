/* Unit tests for hub/policy_doc.c: the policy document a cluster keeps in
 * Redis survives a round trip exactly, and what another hub (or anyone
 * with access to Redis) wrote there is refused unless every value passes
 * the checks PUT /api/policy makes, within the size and count bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dict.h"
#include "hub/policy_doc.h"

static struct dict *one_override(const char *edge, const char *key, long v)
{
    struct dict *ov = policy_overrides_new();
    struct edge_override *o = calloc(1, sizeof *o);
    const struct policy_key *k = policy_key_find(key);
    *policy_field(&o->values, k) = v;
    o->mask = POLICY_BIT(k - policy_keys);
    dict_add(ov, edge, strlen(edge), o);
    return ov;
}

static int decode_text(const char *text, struct policy *base, struct dict **ov, char *err)
{
    struct policy_doc_meta meta;
    return policy_doc_decode(text, strlen(text), base, ov, &meta, err, 200);
}

static void test_policy_doc_round_trip_keeps_every_value(void **state)
{
    struct policy base;
    policy_defaults(&base);
    base.idle_timeout_ms = 1250; /* 1.25 s: a fraction of a second */
    base.rate_limit = 7;
    struct dict *ov = one_override("fra-1", "ping_interval", 60000);
    struct policy_doc_meta meta = {.by = "hub-a", .how = "API"};
    char *text = policy_doc_encode(&base, ov, &meta);

    struct policy got;
    struct dict *got_ov;
    struct policy_doc_meta got_meta;
    char err[200];
    assert_int_equal(
        policy_doc_decode(text, strlen(text), &got, &got_ov, &got_meta, err, sizeof err), 0);
    assert_true(policy_equal(&got, &base));
    assert_true(policy_overrides_equal(got_ov, ov));
    assert_string_equal(got_meta.by, "hub-a");
    assert_string_equal(got_meta.how, "API");
    struct policy eff;
    policy_effective(&got, got_ov, "fra-1", 5, &eff);
    assert_int_equal(eff.ping_interval_ms, 60000);
    assert_int_equal(eff.idle_timeout_ms, 1250);
    free(text);
    policy_overrides_free(ov);
    policy_overrides_free(got_ov);
}

static void test_policy_doc_missing_keys_default_and_unknown_ones_are_counted(void **state)
{
    const char *text = "{\"v\":1,\"base\":{\"rate_limit\":3,\"from_a_newer_hub\":1}}";
    struct policy got, def;
    struct dict *ov;
    struct policy_doc_meta meta;
    char err[200];
    assert_int_equal(policy_doc_decode(text, strlen(text), &got, &ov, &meta, err, sizeof err), 0);
    policy_defaults(&def);
    def.rate_limit = 3;
    assert_true(policy_equal(&got, &def));
    assert_int_equal(meta.unknown_keys, 1);
    assert_int_equal(dict_count(ov), 0);
    policy_overrides_free(ov);
}

static void test_policy_doc_refuses_what_the_api_would_refuse(void **state)
{
    static const char *const bad[] = {
        "",
        "[1]",
        "{\"v\":2,\"base\":{}}",
        "{\"base\":{}}",
        "{\"v\":1}",
        "{\"v\":1,\"base\":[]}",
        "{\"v\":1,\"base\":{\"idle_timeout\":-1}}",
        "{\"v\":1,\"base\":{\"idle_timeout\":\"30\"}}",
        "{\"v\":1,\"base\":{\"max_message_bytes\":1}}",               /* below its range */
        "{\"v\":1,\"base\":{\"max_subscriptions\":1.5}}",             /* not a whole number */
        "{\"v\":1,\"base\":{},\"edges\":[]}",                         /* edges: not an object */
        "{\"v\":1,\"base\":{},\"edges\":{\".bad\":{}}}",              /* not an edge name */
        "{\"v\":1,\"base\":{},\"edges\":{\"e\":{\"rate_burst\":0}}}", /* out of range */
        "{\"v\":1,\"base\":{},\"edges\":{\"e\":1}}",
        "{\"v\":1,\"v\":1,\"base\":{}}", /* a duplicate key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct policy got;
        struct dict *ov = (struct dict *)1;
        char err[200] = "";
        if (decode_text(bad[i], &got, &ov, err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_null(ov);
        assert_true(err[0] != '\0');
    }
}

static void test_policy_doc_refuses_too_many_edges_and_bytes(void **state)
{
    size_t cap = 64 + (size_t)(POLICY_DOC_MAX_EDGES + 1) * 16;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "{\"v\":1,\"base\":{},\"edges\":{");
    for (int i = 0; i <= POLICY_DOC_MAX_EDGES; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s\"e%d\":{}", i ? "," : "", i);
    n += (size_t)snprintf(text + n, cap - n, "}}");
    struct policy got;
    struct dict *ov;
    char err[200];
    assert_int_equal(decode_text(text, &got, &ov, err), -1);
    assert_non_null(strstr(err, "overrides"));
    free(text);

    size_t big = POLICY_DOC_MAX_BYTES + 1;
    text = malloc(big + 1);
    memset(text, ' ', big);
    text[big] = '\0';
    struct policy_doc_meta meta;
    assert_int_equal(policy_doc_decode(text, big, &got, &ov, &meta, err, sizeof err), -1);
    assert_non_null(strstr(err, "bytes"));
    free(text);
}

static void test_policy_doc_cleans_the_names_it_logs(void **state)
{
    const char *text = "{\"v\":1,\"base\":{},\"by\":\"hub\\u001b[2J\",\"how\":\"API\"}";
    struct policy got;
    struct dict *ov;
    struct policy_doc_meta meta;
    char err[200];
    assert_int_equal(policy_doc_decode(text, strlen(text), &got, &ov, &meta, err, sizeof err), 0);
    assert_string_equal(meta.by, "hub?[2J");
    policy_overrides_free(ov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_doc_round_trip_keeps_every_value),
        cmocka_unit_test(test_policy_doc_missing_keys_default_and_unknown_ones_are_counted),
        cmocka_unit_test(test_policy_doc_refuses_what_the_api_would_refuse),
        cmocka_unit_test(test_policy_doc_refuses_too_many_edges_and_bytes),
        cmocka_unit_test(test_policy_doc_cleans_the_names_it_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
