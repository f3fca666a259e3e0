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

static void test_iplimit_counts_ipv6_per_64_prefix(void **state)
{
    struct iplimit *l = iplimit_new(2);
    /* Two addresses of one /64 share its count, whatever their last 64 bits. */
    struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff:ffff:ffff:ffff"),
                            c = v6("2001:db8:1:2:abcd::9");
    struct dict_entry *ha = iplimit_acquire(l, &a), *hb = iplimit_acquire(l, &b);
    assert_non_null(ha);
    assert_non_null(hb);
    assert_int_equal(iplimit_count(l, &c), 2);
    assert_null(iplimit_acquire(l, &c));
    /* A neighbouring /64 (differing in the 64th bit) and a shorter prefix
     * shared with it are counted apart. */
    struct sockaddr_storage n = v6("2001:db8:1:3::1"), far = v6("2001:db8:1::1");
    struct dict_entry *hn = iplimit_acquire(l, &n), *hf = iplimit_acquire(l, &far);
    assert_non_null(hn);
    assert_non_null(hf);
    assert_int_equal(iplimit_count(l, &n), 1);
    /* Releasing one frees a place for any address of the /64. */
    iplimit_release(l, ha);
    struct dict_entry *hc = iplimit_acquire(l, &c);
    assert_non_null(hc);
    iplimit_release(l, hb);
    iplimit_release(l, hc);
    iplimit_release(l, hn);
    iplimit_release(l, hf);
    assert_int_equal(iplimit_count(l, &a), 0);
    iplimit_free(l); /* ASan: nothing left behind */

    /* An IPv4 key (4 bytes) never equals a /64 key (8 bytes): 32.1.13.184
     * is 0x20010db8, the first 4 bytes of 2001:db8::/64. */
    l = iplimit_new(1);
    struct sockaddr_storage v4a = v4("32.1.13.184"), v6a = v6("2001:db8::1"),
                            mapped = v6("::ffff:32.1.13.184"), v6b = v6("2001:db8::2");
    struct dict_entry *h4 = iplimit_acquire(l, &v4a), *h6 = iplimit_acquire(l, &v6a);
    assert_non_null(h4);
    assert_non_null(h6);
    assert_null(iplimit_acquire(l, &mapped)); /* the same IPv4 address, mapped */
    assert_null(iplimit_acquire(l, &v6b));    /* the same /64 */
    iplimit_release(l, h4);
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
        cmocka_unit_test(test_iplimit_counts_ipv6_per_64_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
