/*
 * golden-file.c - golden files for cmocka unit tests (see golden-file.h)
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>

#include "golden-file.h"

char *
golden_srcpath(const char *rel)
{
    const char *d = g_getenv("top_srcdir");

    return g_build_filename(d && *d ? d : KEMARI_TOP_SRCDIR, rel, NULL);
}

bool
golden_regenerate(void)
{
    return g_strcmp0(g_getenv("KEMARI_REGENERATE"), "1") == 0;
}

void
golden(const char *name, const char *actual)
{
    g_autofree char *rel = g_strconcat("tests/unit/golden/", name, NULL);
    g_autofree char *path = golden_srcpath(rel);
    g_autofree char *expected = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) want = NULL;
    g_auto(GStrv) got = NULL;
    unsigned i;

    if (golden_regenerate()) {
        if (!g_file_set_contents(path, actual, -1, &err)) {
            fail_msg("cannot write %s: %s", path, err->message);
        }
        print_message("regenerated %s\n", path);
        return;
    }
    if (!g_file_get_contents(path, &expected, NULL, &err)) {
        fail_msg("%s (run with KEMARI_REGENERATE=1 to create it)",
                 err->message);
    }
    if (strcmp(expected, actual) == 0) {
        return;
    }
    want = g_strsplit(expected, "\n", -1);
    got = g_strsplit(actual, "\n", -1);
    for (i = 0; want[i] && got[i]; i++) {
        if (strcmp(want[i], got[i]) != 0) {
            break;
        }
    }
    fail_msg("%s differs at line %u:\n  expected: %s\n  actual:   %s", path,
             i + 1, want[i] ? want[i] : "(end)", got[i] ? got[i] : "(end)");
}
