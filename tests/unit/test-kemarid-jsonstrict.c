/*
 * test-kemarid-jsonstrict.c - the strict JSON syntax check
 *
 * Everything json-glib would accept but RFC 8259 does not is rejected,
 * with the offset of the problem; valid JSON of every kind is accepted.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "jsonstrict.h"

static void
test_valid(void **state)
{
    static const char *const ok[] = {
        "{}", "[]", " {\"a\" : [1, -2, 3.5e-3, 0, -0.0, 1E+2] }\r\n",
        "\"text with \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"",
        "\"\\ud83d\\ude00 and \xf0\x9f\x98\x80\"", "true", "false", "null",
        "9223372036854775807", "-9223372036854775808",
        "{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}",
        "1.7976931348623157e308",
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;

        if (!jstrict_check(ok[i], strlen(ok[i]), &err)) {
            fail_msg("rejected %s: %s", ok[i], err->message);
        }
    }
}

struct bad {
    const char *text;
    const char *message;
};

static const struct bad bad[] = {
    { "", "offset 0: value expected, end of text found" },
    { "   ", "offset 3: value expected, end of text found" },
    { "{} {}", "offset 3: text after the value" },
    { "{'a':1}", "offset 1: member name expected" },
    { "{a:1}", "offset 1: member name expected" },
    { "{\"a\":1,}", "offset 7: member name expected" },
    { "[1,]", "offset 3: value expected" },
    { "[1 2]", "offset 3: ',' or ']' expected" },
    { "{\"a\" 1}", "offset 5: ':' expected" },
    { "{\"a\":1 \"b\":2}", "offset 7: ',' or '}' expected" },
    { "{\"a\":01}", "offset 6: leading zero in number" },
    { "{\"a\":.5}", "offset 5: value expected" },
    { "{\"a\":1.}", "offset 7: digit expected after '.'" },
    { "{\"a\":1e}", "offset 7: digit expected in exponent" },
    { "{\"a\":-}", "offset 6: digit expected" },
    { "{\"a\":1e400}", "offset 10: number out of range" },
    { "{\"a\":9223372036854775808}", "offset 24: integer out of 64-bit "
      "range" },
    { "{\"a\":1}/*c*/", "offset 7: text after the value" },
    { "{\"a\":\"\\x41\"}", "offset 7: unknown escape in string" },
    { "{\"a\":\"\\u12\"}", "offset 10: \\u needs four hex digits" },
    { "{\"a\":\"\\u0000\"}", "offset 12: \\u0000 in string" },
    { "{\"a\":\"\\udc00\"}", "offset 12: lone low surrogate in string" },
    { "{\"a\":\"\\ud800x\"}", "offset 12: high surrogate without a low one" },
    { "{\"a\":\"\\ud800\\u0041\"}", "offset 18: high surrogate without a "
      "low one" },
    { "{\"a\":\"tab\there\"}", "offset 9: control character in string" },
    { "{\"a\":\"open", "offset 10: unterminated string" },
    { "{\"a\":1, \"a\":2}", "offset 9: duplicate member name" },
    { "{\"a\":tru}", "offset 5: value expected" },
    { "{\"a\":NaN}", "offset 5: value expected" },
    { "\xc3(", "offset 0: invalid UTF-8" },
    { "[1]\0", "offset 3: invalid UTF-8" },        /* GLib: NUL is */
};

static void
test_invalid(void **state)
{
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        size_t len = strlen(bad[i].text);

        if (i == G_N_ELEMENTS(bad) - 1) {
            len = 4;                /* with its NUL */
        }
        if (jstrict_check(bad[i].text, len, &err)) {
            fail_msg("accepted %s", bad[i].text);
        }
        assert_true(g_error_matches(err, JSTRICT_ERROR,
                                    JSTRICT_ERROR_SYNTAX));
        if (strcmp(err->message, bad[i].message) != 0) {
            fail_msg("%s: \"%s\", expected \"%s\"", bad[i].text,
                     err->message, bad[i].message);
        }
    }
}

static void
test_depth_limit(void **state)
{
    GString *s = g_string_new(NULL);
    g_autoptr(GError) err = NULL;
    unsigned i;

    (void)state;
    for (i = 0; i < JSTRICT_MAX_DEPTH; i++) {
        g_string_append_c(s, i % 2 ? '[' : '{');
        if (i % 2 == 0) {
            g_string_append(s, "\"k\":");
        }
    }
    g_string_append(s, "1");
    for (i = JSTRICT_MAX_DEPTH; i-- > 0;) {
        g_string_append_c(s, i % 2 ? ']' : '}');
    }
    assert_true(jstrict_check(s->str, s->len, &err));
    g_string_prepend(s, "[");
    g_string_append(s, "]");
    assert_false(jstrict_check(s->str, s->len, &err));
    assert_string_equal(err->message, "offset 96: nested too deeply");
    g_string_free(s, TRUE);
}

/* The writer: valid JSON that reads back equal, doubles included
 * (json-glib 1.6 writes 2e53 as "2e+53.0"). */
static void
test_writer(void **state)
{
    static const char *const texts[] = {
        "{\"a\":[2e53,1e-300,1.5,3.0,-0.25,1e300,0.1],\"b\":9007199254740993,"
        "\"c\":\"quote \\\" back \\\\ nl \\n tab \\t bell \\u0007 \\u00e9\","
        "\"d\":[true,false,null,{},[]]}",
        "[]", "\"x\"", "-7", "null",
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(JsonNode) in = json_from_string(texts[i], NULL);
        g_autofree char *out = NULL;
        g_autoptr(JsonNode) back = NULL;
        g_autoptr(GError) err = NULL;

        assert_non_null(in);
        out = jstrict_to_string(in);
        if (!jstrict_check(out, strlen(out), &err)) {
            fail_msg("%s written as invalid %s: %s", texts[i], out,
                     err->message);
        }
        back = json_from_string(out, &err);
        assert_non_null(back);
        assert_true(json_node_equal(in, back));
    }
    {
        g_autoptr(JsonNode) in = json_from_string("{\"z\":1,\"a\":2.0}",
                                                  NULL);
        g_autofree char *out = jstrict_to_string(in);

        /* insertion order, and a whole double stays a double */
        assert_string_equal(out, "{\"z\":1,\"a\":2.0}");
    }
    {
        g_autofree char *out = jstrict_to_string(NULL);

        assert_string_equal(out, "null");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_writer),
    };

    return cmocka_run_group_tests_name("kemarid-jsonstrict", tests, NULL,
                                       NULL);
}
