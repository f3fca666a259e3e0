/* Unit tests for common/pmdeflate.c: permessage-deflate offers accepted,
 * declined (unknown, repeated or bad parameters, server_max_window_bits
 * below 15), the first acceptable of many offers chosen, and malformed
 * headers declined as a whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/pmdeflate.h"

#define BOTH "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

static int neg(const char *h, char *answer)
{
    return pmd_negotiate(h, strlen(h), answer);
}

static void test_pmd_accepts_plain_and_browser_offers(void **state)
{
    char a[PMD_ANSWER_MAX];
    assert_int_equal(neg("permessage-deflate", a), 1);
    assert_string_equal(a, BOTH);
    assert_int_equal(neg("permessage-deflate; client_max_window_bits", a), 1);
    assert_string_equal(a, BOTH);
    assert_int_equal(neg("Permessage-Deflate ; client_max_window_bits=\"10\"", a), 1);
    assert_string_equal(a, BOTH);
    assert_int_equal(neg("permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover",
                         a),
                     1);
    assert_string_equal(a, BOTH);
    assert_int_equal(neg("permessage-deflate; server_max_window_bits=15", a), 1);
    assert_string_equal(a, BOTH "; server_max_window_bits=15");
}

static void test_pmd_declines_bad_offers_and_tries_the_next(void **state)
{
    char a[PMD_ANSWER_MAX];
    assert_int_equal(neg("permessage-deflate; server_max_window_bits=10", a), 0);
    assert_string_equal(a, "");
    assert_int_equal(neg("permessage-deflate; server_max_window_bits", a), 0);
    assert_int_equal(neg("permessage-deflate; client_max_window_bits=16", a), 0);
    assert_int_equal(neg("permessage-deflate; client_max_window_bits=08", a), 0);
    assert_int_equal(neg("permessage-deflate; x_unknown", a), 0);
    assert_int_equal(neg("permessage-deflate; server_no_context_takeover; "
                         "server_no_context_takeover",
                         a),
                     0);
    assert_int_equal(neg("permessage-deflate; client_no_context_takeover=1", a), 0);
    /* The first offer is declined, the second taken (RFC 7692 §5). */
    assert_int_equal(neg("permessage-deflate; server_max_window_bits=10, "
                         "permessage-deflate; server_max_window_bits=15",
                         a),
                     1);
    assert_string_equal(a, BOTH "; server_max_window_bits=15");
    assert_int_equal(neg("x-webkit-deflate-frame, foo; bar=\"baz\", permessage-deflate", a), 1);
    assert_string_equal(a, BOTH);
    assert_int_equal(neg("x-webkit-deflate-frame", a), 0);
    assert_int_equal(neg("", a), 0);
}

static void test_pmd_declines_malformed_headers(void **state)
{
    char a[PMD_ANSWER_MAX];
    const char *bad[] = {
        "permessage-deflate;",
        "permessage-deflate; =15",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate garbage",
        ";permessage-deflate",
        "permessage-deflate, \"quoted\"",
        "permessage-deflate, bad;",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(neg(bad[i], a), 0);
        assert_string_equal(a, "");
    }
    /* Empty list elements are allowed (RFC 7230 §7). */
    assert_int_equal(neg(" , ,permessage-deflate,", a), 1);
    /* A long token does not overflow. */
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(neg(big, a), 0);
    memcpy(big, "permessage-deflate;", 19);
    assert_int_equal(neg(big, a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pmd_accepts_plain_and_browser_offers),
        cmocka_unit_test(test_pmd_declines_bad_offers_and_tries_the_next),
        cmocka_unit_test(test_pmd_declines_malformed_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
