/*
 * replay.c - main() that feeds a checked-in corpus to a fuzz harness
 *
 * Built by make (gcc, the project's warnings) once per harness, with
 * FUZZ_NAME naming the corpus: tests/fuzz/corpus/FUZZ_NAME/ under
 * $top_srcdir (set by make check), or under the source directory known
 * at build time.  A directory given as argument replaces it.  Fails if
 * the corpus is missing or empty; a crash fails by itself.  Prints TAP.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "fuzz.h"

/* g_ptr_array_sort() passes pointers to the elements. */
static gint
by_name(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
    const char *top = g_getenv("top_srcdir");
    g_autofree char *dir = NULL;
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    unsigned i;

    if (argc > 1) {
        dir = g_strdup(argv[1]);
    } else {
        dir = g_build_filename(top && *top ? top : KEMARI_TOP_SRCDIR,
                               "tests", "fuzz", "corpus", FUZZ_NAME, NULL);
    }
    d = g_dir_open(dir, 0, &err);
    if (!d) {
        printf("Bail out! %s\n", err->message);
        return 1;
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    }
    if (names->len == 0) {
        printf("Bail out! empty corpus %s\n", dir);
        return 1;
    }
    g_ptr_array_sort(names, by_name);
    printf("1..%u\n", names->len);
    for (i = 0; i < names->len; i++) {
        g_autofree char *data = NULL;
        gsize len;
        const char *path = g_ptr_array_index(names, i);

        if (!g_file_get_contents(path, &data, &len, &err)) {
            printf("not ok %u - %s\n", i + 1, err->message);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        printf("ok %u - %s\n", i + 1, path);
    }
    return 0;
}
