/* JSON parser: values, escapes, integers beyond 2^53, and rejection of malformed text. */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/json.h"

static wr_json parse_ok(const char *text)
{
    wr_json v;
    wr_status st = wr_json_parse(text, strlen(text), "test", &v);
    cr_assert_eq(st, WR_OK, "'%s': %s", text, wr_last_error());
    return v;
}

Test(json, values_and_nesting)
{
    wr_json v = parse_ok(" {\"a\": [1, -2.5e3, true, null, \"x\"], \"b\": {\"c\": false}} ");
    cr_assert_eq(v.type, WR_JSON_OBJECT);
    const wr_json *a = wr_json_get(&v, "a");
    cr_assert_not_null(a);
    cr_assert_eq(a->count, 5);
    cr_assert(a->items[0].is_int);
    cr_assert_eq(a->items[0].integer, 1);
    cr_assert_float_eq(a->items[1].number, -2500.0, 0);
    cr_assert_not(a->items[1].is_int);
    cr_assert(a->items[2].boolean);
    cr_assert_eq(a->items[3].type, WR_JSON_NULL);
    cr_assert_str_eq(a->items[4].string, "x");
    cr_assert_eq(wr_json_get(wr_json_get(&v, "b"), "c")->boolean, false);
    cr_assert_null(wr_json_get(&v, "zz"));
    wr_json_free(&v);
}

Test(json, escapes_and_unicode)
{
    wr_json v = parse_ok("\"a\\\"b\\\\c\\/\\n\\u00e9\\u4e2d\\ud83d\\ude00\"");
    cr_assert_str_eq(v.string, "a\"b\\c/\n\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    wr_json_free(&v);
}

Test(json, big_integers_are_exact)
{
    wr_json v = parse_ok("[9007199254740993, 9223372036854775807]");
    cr_assert_eq(v.items[0].integer, 9007199254740993LL);
    cr_assert_eq(v.items[1].integer, INT64_MAX);
    wr_json_free(&v);
}

Test(json, rejects_malformed)
{
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "01", "\"abc", "\"\\ud800\"", "\"\\x\"", "tru",
                         "[1] 2", "{\"a\":1,}", "\"a\x01\"", "-", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wr_json v;
        cr_assert_eq(wr_json_parse(bad[i], strlen(bad[i]), "case", &v), WR_E_FORMAT, "accepted '%s'", bad[i]);
        cr_assert(strstr(wr_last_error(), "case: invalid JSON at byte") != NULL, "%s", wr_last_error());
    }
    char deep[200];
    memset(deep, '[', sizeof deep);
    wr_json v;
    cr_assert_eq(wr_json_parse(deep, sizeof deep, "deep", &v), WR_E_FORMAT);
    cr_assert(strstr(wr_last_error(), "nesting too deep") != NULL);
}
