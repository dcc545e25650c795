/*
 * test-kemarid-conf.c - kemari.conf parse, validate, print
 *
 * Golden files (tests/unit/golden/kemarid-conf-*.out):
 *   example   daemon/kemari.conf.example parsed and printed
 *   defaults  the built-in defaults printed (install directories
 *             replaced by @LIBEXECDIR@ and @SBINDIR@)
 *   errors    one line per malformed file: its name and the error
 * KEMARI_REGENERATE=1 rewrites them instead of comparing; review the
 * diff before committing.  Also: print/parse round trips, agreement
 * with GKeyFile on the example, escapes, CRLF, exact error codes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "conf.h"
#include "golden-file.h"

/* ------------------------------------------------------------------ */

static struct conf *
parse_str(const char *text, GError **err)
{
    return conf_parse("kemari.conf", text, strlen(text), err);
}

static void
test_example_golden(void **state)
{
    g_autofree char *path = golden_srcpath("daemon/kemari.conf.example");
    g_autoptr(GError) err = NULL;
    g_autoptr(conf) c = conf_load(path, &err);
    g_autoptr(conf) again = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text2 = NULL;

    (void)state;
    if (!c) {
        fail_msg("%s", err->message);
    }
    assert_string_equal(c->path, path);
    assert_string_equal(c->node_name, "node-a");
    assert_string_equal(c->control_group, "kemari");
    assert_int_equal(c->failover_policy, CONF_FAILOVER_STANDALONE);
    assert_int_equal(c->reprotect, CONF_REPROTECT_AUTOMATIC);
    assert_int_equal(c->min_interval_ms, 5);
    text = conf_print(c);
    golden("kemarid-conf-example.out", text);

    /* the printout is itself a valid file that gives the same config */
    again = parse_str(text, &err);
    assert_non_null(again);
    text2 = conf_print(again);
    assert_string_equal(text, text2);
}

/* Replaces every FROM in S with TO. */
static char *
replace(const char *s, const char *from, const char *to)
{
    g_auto(GStrv) parts = g_strsplit(s, from, -1);

    return g_strjoinv(to, parts);
}

static void
test_defaults_golden(void **state)
{
    g_autoptr(conf) c = conf_new_defaults();
    g_autoptr(conf) again = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = conf_print(c);
    g_autofree char *t1 = replace(text, KEMARI_LIBEXECDIR, "@LIBEXECDIR@");
    g_autofree char *t2 = replace(t1, KEMARI_SBINDIR, "@SBINDIR@");
    g_autofree char *t3 = replace(t2, KEMARI_STATEDIR, "@STATEDIR@");
    g_autofree char *text2 = NULL;

    (void)state;
    assert_null(c->node_name);
    assert_null(c->control_group);
    golden("kemarid-conf-defaults.out", t3);
    /* unset optional keys print as comments and stay unset */
    again = parse_str(text, &err);
    assert_non_null(again);
    assert_null(again->node_name);
    text2 = conf_print(again);
    assert_string_equal(text, text2);
    /* an empty file is the defaults */
    conf_free(again);
    again = parse_str("", &err);
    assert_non_null(again);
    g_free(text2);
    text2 = conf_print(again);
    assert_string_equal(text, text2);
}

/* Our reading of the example agrees with GKeyFile's, key by key. */
static void
test_matches_gkeyfile(void **state)
{
    g_autofree char *path = golden_srcpath("daemon/kemari.conf.example");
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(conf) c = conf_load(path, &err);
    g_autofree char *text = conf_print(c);
    g_auto(GStrv) groups = NULL;
    unsigned g, k, nkeys = 0;

    (void)state;
    assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err));
    groups = g_key_file_get_groups(kf, NULL);
    for (g = 0; groups[g]; g++) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);

        for (k = 0; keys[k]; k++) {
            g_autofree char *v = g_key_file_get_value(kf, groups[g], keys[k],
                                                      NULL);
            g_autofree char *line = g_strdup_printf("\n%s = %s\n", keys[k],
                                                    v);

            if (!strstr(text, line)) {
                fail_msg("[%s] %s = %s from GKeyFile not in:\n%s", groups[g],
                         keys[k], v, text);
            }
            nkeys++;
        }
    }
    /* the example sets every key */
    assert_int_equal(nkeys, 19);
}

struct bad_conf {
    const char *name;
    const char *text;
    size_t len;                 /* 0: strlen(text) */
    enum conf_error_code code;
};

static const struct bad_conf bad_confs[] = {
    { "garbage", "just words\n", 0, CONF_ERROR_SYNTAX },
    { "no-key", "[daemon]\n = value\n", 0, CONF_ERROR_SYNTAX },
    { "open-header", "[daemon\n", 0, CONF_ERROR_SYNTAX },
    { "nested-header", "[dae[mon]\n", 0, CONF_ERROR_SYNTAX },
    { "unknown-group", "# c\n[network]\n", 0, CONF_ERROR_UNKNOWN },
    { "group-twice", "[daemon]\n[qemu]\n[daemon]\n", 0,
      CONF_ERROR_DUPLICATE },
    { "outside-group", "node-name = a\n", 0, CONF_ERROR_SYNTAX },
    { "unknown-key", "[daemon]\nnode_name = a\n", 0, CONF_ERROR_UNKNOWN },
    { "key-in-wrong-group", "[qemu]\nmode = event\n", 0,
      CONF_ERROR_UNKNOWN },
    { "key-twice", "[daemon]\nnode-name = a\n\nnode-name = b\n", 0,
      CONF_ERROR_DUPLICATE },
    { "bad-node-name", "[daemon]\nnode-name = -bad\n", 0,
      CONF_ERROR_VALUE },
    { "relative-socket", "[daemon]\ncontrol-socket = run/k.sock\n", 0,
      CONF_ERROR_VALUE },
    { "long-group", "[daemon]\ncontrol-group = "
      "abcdefghijklmnopqrstuvwxyz0123456\n", 0, CONF_ERROR_VALUE },
    { "log-level", "[daemon]\nlog-level = verbose\n", 0, CONF_ERROR_VALUE },
    { "failover-policy", "[daemon]\nfailover-policy = auto\n", 0,
      CONF_ERROR_VALUE },
    { "reprotect", "[daemon]\nreprotect = yes\n", 0, CONF_ERROR_VALUE },
    { "control-char", "[daemon]\nkvm-check = /usr/sbin/x\\n\n", 0,
      CONF_ERROR_VALUE },
    { "backend", "[qemu]\nbackend = xen\n", 0, CONF_ERROR_VALUE },
    { "migration-address", "[daemon]\nmigration-address = a b\n", 0,
      CONF_ERROR_VALUE },
    { "migration-port-zero", "[daemon]\nmigration-port-min = 0\n", 0,
      CONF_ERROR_VALUE },
    { "migration-ports-reversed", "[daemon]\nmigration-port-min = 5000\n"
      "migration-port-max = 4000\n", 0, CONF_ERROR_VALUE },
    { "bad-escape", "[qemu]\nbinary = /usr/bin/q\\x\n", 0,
      CONF_ERROR_VALUE },
    { "trailing-backslash", "[qemu]\nbinary = /usr/bin/q\\\n", 0,
      CONF_ERROR_VALUE },
    { "empty-value", "[qemu]\nrun-dir =\n", 0, CONF_ERROR_VALUE },
    { "mode", "[checkpoint]\nmode = burst\n", 0, CONF_ERROR_VALUE },
    { "negative", "[checkpoint]\nmin-interval-ms = -1\n", 0,
      CONF_ERROR_VALUE },
    { "above-max", "[checkpoint]\nmin-interval-ms = 60001\n", 0,
      CONF_ERROR_VALUE },
    { "zero-max", "[checkpoint]\nmax-interval-ms = 0\n", 0,
      CONF_ERROR_VALUE },
    { "exponent", "[checkpoint]\nack-timeout-ms = 1e3\n", 0,
      CONF_ERROR_VALUE },
    { "hex", "[checkpoint]\nack-timeout-ms = 0x100\n", 0,
      CONF_ERROR_VALUE },
    { "huge", "[checkpoint]\nack-timeout-ms = 99999999999999999999\n", 0,
      CONF_ERROR_VALUE },
    { "min-above-max", "[checkpoint]\nmin-interval-ms = 500\n"
      "max-interval-ms = 100\n", 0, CONF_ERROR_VALUE },
    { "min-above-default-max", "[checkpoint]\nmin-interval-ms = 500\n", 0,
      CONF_ERROR_VALUE },
    { "not-utf8", "[daemon]\nnode-name = \xff\n", 0, CONF_ERROR_SYNTAX },
    { "nul-byte", "[daemon]\nnode-name = a\0b\n", 25, CONF_ERROR_SYNTAX },
    { "long-value", "[daemon]\nnode-name = "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaa\n", 0, CONF_ERROR_VALUE },
    { "locale-key", "[daemon]\nnode-name[de] = a\n", 0, CONF_ERROR_UNKNOWN },
};

static void
test_errors_golden(void **state)
{
    GString *out = g_string_new(NULL);
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad_confs); i++) {
        const struct bad_conf *b = &bad_confs[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(conf) c = conf_parse("kemari.conf", b->text,
                                       b->len ? b->len : strlen(b->text),
                                       &err);

        if (c) {
            fail_msg("%s: accepted", b->name);
        }
        assert_true(err->domain == CONF_ERROR);
        if (err->code != (int)b->code) {
            fail_msg("%s: code %d, expected %d (%s)", b->name, err->code,
                     b->code, err->message);
        }
        /* every message names the file and the line */
        assert_true(g_str_has_prefix(err->message, "kemari.conf:"));
        g_string_append_printf(out, "%s: %s\n", b->name, err->message);
    }
    golden("kemarid-conf-errors.out", out->str);
    g_string_free(out, TRUE);
}

static void
test_io_error(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(conf) c = conf_load("/nonexistent/kemari.conf", &err);
    g_autofree char *big = g_malloc0(CONF_MAX_SIZE + 1);

    (void)state;
    assert_null(c);
    assert_true(g_error_matches(err, CONF_ERROR, CONF_ERROR_IO));
    assert_non_null(strstr(err->message, "/nonexistent/kemari.conf"));
    g_clear_error(&err);
    assert_null(conf_parse("big.conf", big, CONF_MAX_SIZE + 1, &err));
    assert_string_equal(err->message, "big.conf: larger than 1048576 bytes");
}

static void
test_syntax_details(void **state)
{
    static const char text[] =
        "  # indented comment\r\n"
        "   [qemu]   \r\n"
        "binary=/opt/kemari\\sbuild/q\\\\emu   \r\n"
        "run-dir    =    /run/k # not a comment\r\n"
        "[checkpoint]\n"
        "min-interval-ms = 0\n"
        "max-interval-ms = 0000000001";
    g_autoptr(GError) err = NULL;
    g_autoptr(conf) c = parse_str(text, &err);
    g_autoptr(conf) again = NULL;
    g_autofree char *printed = NULL;

    (void)state;
    if (!c) {
        fail_msg("%s", err->message);
    }
    assert_string_equal(c->qemu_binary, "/opt/kemari build/q\\emu");
    assert_string_equal(c->run_dir, "/run/k # not a comment");
    assert_int_equal(c->max_interval_ms, 1);
    printed = conf_print(c);
    assert_non_null(strstr(printed, "\nbinary = /opt/kemari build/q\\\\emu\n"));
    again = parse_str(printed, &err);
    assert_non_null(again);
    assert_string_equal(again->qemu_binary, c->qemu_binary);
    assert_string_equal(again->run_dir, c->run_dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_golden),
        cmocka_unit_test(test_defaults_golden),
        cmocka_unit_test(test_matches_gkeyfile),
        cmocka_unit_test(test_errors_golden),
        cmocka_unit_test(test_io_error),
        cmocka_unit_test(test_syntax_details),
    };

    return cmocka_run_group_tests_name("kemarid-conf", tests, NULL, NULL);
}
