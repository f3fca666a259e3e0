/* Unit tests for edge/admission.c and edge/iplimit.c: the Origin list and
 * the per-address connection counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "edge/admission.h"
#include "edge/iplimit.h"

static void test_admission_origin_list_matches_exact_entries_case_insensitively(void **state)
{
    const char *list = "https://app.example.com, https://Other.example/ ,http://localhost:3000";
    assert_true(admission_origin_allowed(list, "https://app.example.com"));
    assert_true(admission_origin_allowed(list, "https://other.example"));
    assert_true(admission_origin_allowed(list, "HTTP://LOCALHOST:3000"));
    assert_false(admission_origin_allowed(list, "https://app.example.co"));
    assert_false(admission_origin_allowed(list, "https://app.example.com.evil"));
    assert_false(admission_origin_allowed(list, "http://app.example.com"));
    assert_false(admission_origin_allowed(list, "null"));
    assert_false(admission_origin_allowed(list, ""));
}

static void test_admission_origin_empty_list_star_or_no_header_allow(void **state)
{
    assert_true(admission_origin_allowed("", "https://anything"));
    assert_true(admission_origin_allowed(NULL, "https://anything"));
    assert_true(admission_origin_allowed("https://a, *", "https://anything"));
    assert_true(admission_origin_allowed("https://a", NULL)); /* not a browser */
}

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    return ss;
}

static void test_iplimit_refuses_beyond_max_and_frees_on_release(void **state)
{
    struct iplimit *l = iplimit_new(2);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    struct dict_entry *h1 = iplimit_acquire(l, &a), *h2 = iplimit_acquire(l, &a);
    assert_non_null(h1);
    assert_non_null(h2);
    assert_null(iplimit_acquire(l, &a));
    assert_int_equal(iplimit_count(l, &a), 2);
    struct dict_entry *hb = iplimit_acquire(l, &b); /* other addresses are unaffected */
    assert_non_null(hb);
    iplimit_release(l, h1);
    assert_int_equal(iplimit_count(l, &a), 1);
    struct dict_entry *h3 = iplimit_acquire(l, &a);
    assert_non_null(h3);
    iplimit_release(l, h2);
    iplimit_release(l, h3);
    iplimit_release(l, hb);
    iplimit_release(l, NULL);
    assert_int_equal(iplimit_count(l, &a), 0);
    assert_int_equal(iplimit_count(l, &b), 0);
    iplimit_free(l); /* ASan: nothing left behind */
}

static void test_iplimit_counts_v4_mapped_v6_as_the_v4_address(void **state)
{
    struct iplimit *l = iplimit_new(1);
    struct sockaddr_storage a = v4("198.51.100.7"), m = v6("::ffff:198.51.100.7"),
                            o = v6("2001:db8::7");
    struct dict_entry *h = iplimit_acquire(l, &a);
    assert_non_null(h);
    assert_null(iplimit_acquire(l, &m));
    struct dict_entry *h6 = iplimit_acquire(l, &o);
    assert_non_null(h6);
    iplimit_release(l, h);
    iplimit_release(l, h6);
    iplimit_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admission_origin_list_matches_exact_entries_case_insensitively),
        cmocka_unit_test(test_admission_origin_empty_list_star_or_no_header_allow),
        cmocka_unit_test(test_iplimit_refuses_beyond_max_and_frees_on_release),
        cmocka_unit_test(test_iplimit_counts_v4_mapped_v6_as_the_v4_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
