/* Unit tests for common/assets.c: lookup by exact path and the index for
 * "/", content types by extension, ETags that follow the bytes, and the
 * If-None-Match comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/assets.h"

static const uint8_t js[] = "export class Spoke {}\n";
static const uint8_t js2[] = "export class Spoke { }\n";
static const uint8_t html[] = "<!doctype html>\n";

static const struct asset_raw raw[] = {
    {"spoke.js", js, sizeof js - 1},
    {"demo.html", html, sizeof html - 1},
    {"spoke.d.ts", js, sizeof js - 1},
};

static void test_assets_find_matches_exact_paths_only(void **state)
{
    struct assets *a = assets_new(raw, 3);
    const struct asset *f = assets_find(a, "/spoke.js", 9, NULL);
    assert_non_null(f);
    assert_string_equal(f->name, "spoke.js");
    assert_int_equal(f->len, sizeof js - 1);
    assert_null(assets_find(a, "/spoke.j", 8, NULL));
    assert_null(assets_find(a, "/spoke.jsx", 10, NULL));
    assert_null(assets_find(a, "spoke.js", 8, NULL));
    assert_null(assets_find(a, "//spoke.js", 10, NULL));
    assert_null(assets_find(a, "", 0, NULL));
    assets_free(a);
    assets_free(NULL);
}

static void test_assets_find_serves_index_at_root_only_when_asked(void **state)
{
    struct assets *a = assets_new(raw, 3);
    assert_null(assets_find(a, "/", 1, NULL));
    const struct asset *f = assets_find(a, "/", 1, "demo.html");
    assert_non_null(f);
    assert_string_equal(f->name, "demo.html");
    assert_true(f->is_html);
    assert_null(assets_find(a, "/", 1, "missing.html"));
    assets_free(a);
}

static void test_assets_content_types_follow_the_extension(void **state)
{
    assert_string_equal(assets_content_type("a.html"), "text/html; charset=utf-8");
    assert_string_equal(assets_content_type("a.js"), "text/javascript; charset=utf-8");
    assert_string_equal(assets_content_type("a.mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(assets_content_type("a.d.ts"), "text/plain; charset=utf-8");
    assert_string_equal(assets_content_type("a.css"), "text/css; charset=utf-8");
    assert_string_equal(assets_content_type("a.svg"), "image/svg+xml; charset=utf-8");
    assert_string_equal(assets_content_type("a.json"), "application/json; charset=utf-8");
    assert_string_equal(assets_content_type("a.bin"), "application/octet-stream");
    assert_string_equal(assets_content_type("html"), "application/octet-stream");
}

static void test_assets_etag_changes_with_the_bytes(void **state)
{
    const struct asset_raw other[] = {{"spoke.js", js2, sizeof js2 - 1}};
    struct assets *a = assets_new(raw, 3), *b = assets_new(other, 1);
    assert_string_equal(a->v[0].etag, a->v[2].etag); /* same bytes, same tag */
    assert_string_not_equal(a->v[0].etag, b->v[0].etag);
    assert_int_equal(strlen(a->v[0].etag), 18);
    assert_true(a->v[0].etag[0] == '"' && a->v[0].etag[17] == '"');
    assets_free(a);
    assets_free(b);
}

static void test_assets_etag_matches_lists_weak_tags_and_star(void **state)
{
    const char *tag = "\"0123456789abcdef\"";
#define M(s) assets_etag_matches((s), strlen(s), tag)
    assert_true(M("\"0123456789abcdef\""));
    assert_true(M("W/\"0123456789abcdef\""));
    assert_true(M("\"x\", \"0123456789abcdef\" ,\"y\""));
    assert_true(M("*"));
    assert_false(M("\"0123456789abcde\""));
    assert_false(M("0123456789abcdef"));
    assert_false(M(""));
    assert_false(assets_etag_matches(NULL, 0, tag));
#undef M
}

static void test_assets_respond_writes_304_and_head_without_body(void **state)
{
    struct assets *a = assets_new(raw, 3);
    struct buf out = BUF_INIT;
    assets_respond(&out, &a->v[1], 1, 0, "default-src 'self'");
    buf_append_u8(&out, 0);
    const char *s = (const char *)buf_head(&out);
    assert_non_null(strstr(s, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(s, "Content-Length: 16\r\n"));
    assert_non_null(strstr(s, "Content-Security-Policy: default-src 'self'\r\n"));
    assert_null(strstr(s, "doctype"));
    buf_reset(&out);
    assets_respond(&out, &a->v[0], 0, 1, "default-src 'self'");
    buf_append_u8(&out, 0);
    s = (const char *)buf_head(&out);
    assert_non_null(strstr(s, "HTTP/1.1 304 Not Modified\r\n"));
    assert_null(strstr(s, "Content-Security-Policy"));
    assert_null(strstr(s, "export"));
    buf_deinit(&out);
    assets_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_find_matches_exact_paths_only),
        cmocka_unit_test(test_assets_find_serves_index_at_root_only_when_asked),
        cmocka_unit_test(test_assets_content_types_follow_the_extension),
        cmocka_unit_test(test_assets_etag_changes_with_the_bytes),
        cmocka_unit_test(test_assets_etag_matches_lists_weak_tags_and_star),
        cmocka_unit_test(test_assets_respond_writes_304_and_head_without_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
