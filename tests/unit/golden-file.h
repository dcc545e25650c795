/*
 * golden-file.h - source paths and golden files for cmocka unit tests
 *
 * A golden file is tests/unit/golden/NAME.out, the expected output of a
 * test.  golden() compares a test's output with it and fails on the
 * first differing line; with KEMARI_REGENERATE=1 in the environment it
 * rewrites the file instead (review the diff before committing).  The
 * source tree is $top_srcdir (make check sets it), else KEMARI_TOP_SRCDIR
 * as built.  Include after <cmocka.h>.
 */
#ifndef KEMARI_TESTS_GOLDEN_FILE_H
#define KEMARI_TESTS_GOLDEN_FILE_H

#include <stdbool.h>

/* The absolute path of REL in the source tree.  Caller frees. */
char *golden_srcpath(const char *rel);

/* Whether KEMARI_REGENERATE=1: tests rewrite what they compare with. */
bool golden_regenerate(void);

/* Compares ACTUAL with tests/unit/golden/NAME, or rewrites it. */
void golden(const char *name, const char *actual);

#endif /* KEMARI_TESTS_GOLDEN_FILE_H */
