/*
 * cli-table.c - aligned text tables (see cli-table.h)
 */
#include "config.h"

#include <string.h>

#include "cli-table.h"

struct clitab {
    unsigned ncols;
    char **headers;             /* owned: ncols, without the '>' */
    bool *right;                /* owned: ncols, right-aligned columns */
    unsigned *min;              /* owned: ncols minimum widths */
    GPtrArray *cells;           /* owned strings, row after row */
};

struct clitab *
clitab_new(const char *const *headers, unsigned ncols)
{
    struct clitab *t = g_new0(struct clitab, 1);
    unsigned i;

    t->ncols = ncols;
    t->headers = g_new0(char *, ncols + 1);
    t->right = g_new0(bool, ncols);
    t->min = g_new0(unsigned, ncols);
    for (i = 0; i < ncols; i++) {
        t->right[i] = headers[i][0] == '>';
        t->headers[i] = g_strdup(headers[i] + (t->right[i] ? 1 : 0));
    }
    t->cells = g_ptr_array_new_with_free_func(g_free);
    return t;
}

void
clitab_free(struct clitab *t)
{
    if (!t) {
        return;
    }
    g_strfreev(t->headers);
    g_free(t->right);
    g_free(t->min);
    g_ptr_array_unref(t->cells);
    g_free(t);
}

void
clitab_min_width(struct clitab *t, unsigned col, unsigned width)
{
    g_return_if_fail(col < t->ncols);
    t->min[col] = width;
}

void
clitab_cell_take(struct clitab *t, char *text)
{
    char *p;

    if (!text) {
        text = g_strdup("");
    }
    for (p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    g_ptr_array_add(t->cells, text);
}

void
clitab_cell(struct clitab *t, const char *text)
{
    clitab_cell_take(t, g_strdup(text));
}

void
clitab_cellf(struct clitab *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    clitab_cell_take(t, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

unsigned
clitab_rows(const struct clitab *t)
{
    return t->cells->len / t->ncols;
}

/* Display width of S: one column per character. */
static unsigned
width_of(const char *s)
{
    return (unsigned)g_utf8_strlen(s, -1);
}

static void
print_line(const struct clitab *t, FILE *out, const unsigned *widths,
           char *const *cells)
{
    GString *line = g_string_new(NULL);
    unsigned i, w, pad;

    for (i = 0; i < t->ncols; i++) {
        w = width_of(cells[i]);
        pad = widths[i] > w ? widths[i] - w : 0;
        if (i > 0) {
            g_string_append(line, "  ");
        }
        if (t->right[i]) {
            g_string_append_printf(line, "%*s", (int)pad, "");
        }
        g_string_append(line, cells[i]);
        if (!t->right[i] && i + 1 < t->ncols) {
            g_string_append_printf(line, "%*s", (int)pad, "");
        }
    }
    /* a right-aligned last column may leave blanks only in front */
    while (line->len > 0 && line->str[line->len - 1] == ' ') {
        g_string_truncate(line, line->len - 1);
    }
    fprintf(out, "%s\n", line->str);
    g_string_free(line, TRUE);
}

void
clitab_print(const struct clitab *t, FILE *out, bool header)
{
    g_autofree unsigned *widths = g_new0(unsigned, t->ncols);
    unsigned rows = clitab_rows(t);
    unsigned r, i;

    for (i = 0; i < t->ncols; i++) {
        widths[i] = MAX(t->min[i], width_of(t->headers[i]));
        for (r = 0; r < rows; r++) {
            const char *s = g_ptr_array_index(t->cells, r * t->ncols + i);

            widths[i] = MAX(widths[i], width_of(s));
        }
    }
    if (header) {
        print_line(t, out, widths, t->headers);
    }
    for (r = 0; r < rows; r++) {
        print_line(t, out, widths,
                   (char *const *)&t->cells->pdata[r * t->ncols]);
    }
}
