/*
 * cli-table.h - aligned text tables for kemari(1)'s output
 *
 * A table has a fixed number of columns, a header per column and rows
 * of cells added left to right.  Columns are separated by two spaces;
 * a column is as wide as its widest cell (or its minimum width) and
 * numbers may be right-aligned.  The last column is never padded, so
 * lines carry no trailing blanks.  Control characters in cells are
 * shown as '?', so that a name cannot send escapes to a terminal.  Pure.
 */
#ifndef KEMARI_DAEMON_CLI_TABLE_H
#define KEMARI_DAEMON_CLI_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include <glib.h>

struct clitab;

/*
 * A table with the NCOLS headers in HEADERS (copied).  A header that
 * starts with '>' is the header of a right-aligned column (the '>' is
 * not printed).
 */
struct clitab *clitab_new(const char *const *headers, unsigned ncols);
void clitab_free(struct clitab *t);
typedef struct clitab clitab;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(clitab, clitab_free)

/* Column COL is at least WIDTH characters wide. */
void clitab_min_width(struct clitab *t, unsigned col, unsigned width);

/* Appends one cell; a row is complete after NCOLS cells. */
void clitab_cell(struct clitab *t, const char *text);
void clitab_cellf(struct clitab *t, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/* The same, taking TEXT (allocated with GLib). */
void clitab_cell_take(struct clitab *t, char *text);

/* Complete rows so far. */
unsigned clitab_rows(const struct clitab *t);

/* Writes the header line (if HEADER) and every row to OUT. */
void clitab_print(const struct clitab *t, FILE *out, bool header);

#endif /* KEMARI_DAEMON_CLI_TABLE_H */
