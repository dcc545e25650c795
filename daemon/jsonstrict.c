/*
 * jsonstrict.c - strict JSON syntax check (see jsonstrict.h)
 *
 * A recursive-descent recogniser for RFC 8259, building nothing.  Depth
 * is bounded, so the recursion is too.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstrict.h"

G_DEFINE_QUARK(jstrict-error-quark, jstrict_error)

#define NUMBER_MAX 64               /* longest number token accepted */

struct jctx {
    const char *s;                  /* the text */
    size_t len;                     /* its length */
    size_t pos;                     /* next byte to read */
    GError **error;
};

static bool value(struct jctx *c, unsigned depth);

static bool
jfail(struct jctx *c, const char *what)
{
    g_set_error(c->error, JSTRICT_ERROR, JSTRICT_ERROR_SYNTAX,
                "offset %zu: %s", c->pos, what);
    return false;
}

/* The byte at the cursor, or -1 at the end. */
static int
peek(const struct jctx *c)
{
    return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static void
skip_ws(struct jctx *c)
{
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
                               c->s[c->pos] == '\n' || c->s[c->pos] == '\r')) {
        c->pos++;
    }
}

/* Reads 4 hex digits after "\u"; the code unit in *CU. */
static bool
hex4(struct jctx *c, unsigned *cu)
{
    unsigned i;

    *cu = 0;
    for (i = 0; i < 4; i++) {
        int d = c->pos < c->len ? g_ascii_xdigit_value(c->s[c->pos]) : -1;

        if (d < 0) {
            return jfail(c, "\\u needs four hex digits");
        }
        *cu = (*cu << 4) | (unsigned)d;
        c->pos++;
    }
    return true;
}

/* One escape sequence; the cursor is on the byte after the backslash. */
static bool
escape(struct jctx *c)
{
    unsigned cu, lo;

    switch (peek(c)) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        c->pos++;
        return true;
    case 'u':
        c->pos++;
        if (!hex4(c, &cu)) {
            return false;
        }
        if (cu == 0) {
            return jfail(c, "\\u0000 in string");
        }
        if (cu >= 0xdc00 && cu <= 0xdfff) {
            return jfail(c, "lone low surrogate in string");
        }
        if (cu >= 0xd800 && cu <= 0xdbff) {
            if (c->len - c->pos < 2 || c->s[c->pos] != '\\' ||
                c->s[c->pos + 1] != 'u') {
                return jfail(c, "high surrogate without a low one");
            }
            c->pos += 2;
            if (!hex4(c, &lo)) {
                return false;
            }
            if (lo < 0xdc00 || lo > 0xdfff) {
                return jfail(c, "high surrogate without a low one");
            }
        }
        return true;
    default:
        return jfail(c, "unknown escape in string");
    }
}

/* A string; the cursor is on the opening quote.  START and END receive
 * the offsets of its raw contents (between the quotes). */
static bool
string(struct jctx *c, size_t *start, size_t *end)
{
    c->pos++;
    *start = c->pos;
    for (;;) {
        int ch = peek(c);

        if (ch < 0) {
            return jfail(c, "unterminated string");
        }
        if (ch == '"') {
            *end = c->pos;
            c->pos++;
            return true;
        }
        if (ch < 0x20) {
            return jfail(c, "control character in string");
        }
        c->pos++;
        if (ch == '\\' && !escape(c)) {
            return false;
        }
    }
}

static void
digits(struct jctx *c)
{
    while (c->pos < c->len && g_ascii_isdigit(c->s[c->pos])) {
        c->pos++;
    }
}

/* A number (RFC 8259 grammar) that fits an int64 or a finite double. */
static bool
number(struct jctx *c)
{
    size_t start = c->pos;
    bool integer = true;
    char buf[NUMBER_MAX + 1];

    if (peek(c) == '-') {
        c->pos++;
    }
    if (peek(c) == '0') {
        c->pos++;
        if (c->pos < c->len && g_ascii_isdigit(c->s[c->pos])) {
            return jfail(c, "leading zero in number");
        }
    } else if (peek(c) >= '1' && peek(c) <= '9') {
        digits(c);
    } else {
        return jfail(c, "digit expected");
    }
    if (peek(c) == '.') {
        integer = false;
        c->pos++;
        if (!(peek(c) >= '0' && peek(c) <= '9')) {
            return jfail(c, "digit expected after '.'");
        }
        digits(c);
    }
    if (peek(c) == 'e' || peek(c) == 'E') {
        integer = false;
        c->pos++;
        if (peek(c) == '+' || peek(c) == '-') {
            c->pos++;
        }
        if (!(peek(c) >= '0' && peek(c) <= '9')) {
            return jfail(c, "digit expected in exponent");
        }
        digits(c);
    }
    if (c->pos - start > NUMBER_MAX) {
        return jfail(c, "number too long");
    }
    memcpy(buf, c->s + start, c->pos - start);
    buf[c->pos - start] = '\0';
    errno = 0;
    if (integer) {
        (void)g_ascii_strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            return jfail(c, "integer out of 64-bit range");
        }
    } else if (!isfinite(g_ascii_strtod(buf, NULL))) {
        return jfail(c, "number out of range");
    }
    return true;
}

/* true, false, null */
static bool
literal(struct jctx *c, const char *word)
{
    size_t n = strlen(word);

    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0) {
        return jfail(c, "value expected");
    }
    c->pos += n;
    return true;
}

/* An object; the cursor is on '{'. */
static bool
object(struct jctx *c, unsigned depth)
{
    g_autoptr(GHashTable) names = NULL;     /* raw member names seen */
    size_t ks, ke;

    c->pos++;
    skip_ws(c);
    if (peek(c) == '}') {
        c->pos++;
        return true;
    }
    for (;;) {
        char *name;

        if (peek(c) != '"') {
            return jfail(c, "member name expected");
        }
        if (!string(c, &ks, &ke)) {
            return false;
        }
        if (!names) {
            names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          NULL);
        }
        name = g_strndup(c->s + ks, ke - ks);
        if (!g_hash_table_add(names, name)) {
            c->pos = ks;
            return jfail(c, "duplicate member name");
        }
        skip_ws(c);
        if (peek(c) != ':') {
            return jfail(c, "':' expected");
        }
        c->pos++;
        if (!value(c, depth + 1)) {
            return false;
        }
        skip_ws(c);
        if (peek(c) == '}') {
            c->pos++;
            return true;
        }
        if (peek(c) != ',') {
            return jfail(c, "',' or '}' expected");
        }
        c->pos++;
        skip_ws(c);
    }
}

/* An array; the cursor is on '['. */
static bool
array(struct jctx *c, unsigned depth)
{
    c->pos++;
    skip_ws(c);
    if (peek(c) == ']') {
        c->pos++;
        return true;
    }
    for (;;) {
        if (!value(c, depth + 1)) {
            return false;
        }
        skip_ws(c);
        if (peek(c) == ']') {
            c->pos++;
            return true;
        }
        if (peek(c) != ',') {
            return jfail(c, "',' or ']' expected");
        }
        c->pos++;
    }
}

static bool
value(struct jctx *c, unsigned depth)
{
    size_t s, e;

    skip_ws(c);
    switch (peek(c)) {
    case '{':
    case '[':
        if (depth >= JSTRICT_MAX_DEPTH) {
            return jfail(c, "nested too deeply");
        }
        return peek(c) == '{' ? object(c, depth) : array(c, depth);
    case '"':
        return string(c, &s, &e);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    case '-': case '0': case '1': case '2': case '3': case '4': case '5':
    case '6': case '7': case '8': case '9':
        return number(c);
    case -1:
        return jfail(c, "value expected, end of text found");
    default:
        return jfail(c, "value expected");
    }
}

bool
jstrict_check(const char *text, size_t len, GError **error)
{
    struct jctx c = { text, len, 0, error };
    const char *bad;

    if (!g_utf8_validate_len(text, len, &bad)) {
        c.pos = (size_t)(bad - text);
        return jfail(&c, "invalid UTF-8");
    }
    if (!value(&c, 0)) {
        return false;
    }
    skip_ws(&c);
    if (c.pos != len) {
        return jfail(&c, "text after the value");
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Writing */

static void
write_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        switch (ch) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                g_string_append_printf(out, "\\u%04x", ch);
            } else {
                g_string_append_c(out, (char)ch);
            }
        }
    }
    g_string_append_c(out, '"');
}

static void
write_double(GString *out, double d)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (!isfinite(d)) {
        g_string_append(out, "null");
        return;
    }
    g_ascii_formatd(buf, sizeof(buf), "%.17g", d);
    g_string_append(out, buf);
    if (!strpbrk(buf, ".eE")) {
        g_string_append(out, ".0");     /* stays a double when read */
    }
}

static void
write_node(GString *out, JsonNode *node)
{
    GList *names, *l;
    JsonArray *a;
    JsonObject *o;
    guint i;

    switch (node ? json_node_get_node_type(node) : JSON_NODE_NULL) {
    case JSON_NODE_OBJECT:
        o = json_node_get_object(node);
        names = json_object_get_members(o);
        g_string_append_c(out, '{');
        for (l = names; l; l = l->next) {
            write_string(out, l->data);
            g_string_append_c(out, ':');
            write_node(out, json_object_get_member(o, l->data));
            if (l->next) {
                g_string_append_c(out, ',');
            }
        }
        g_string_append_c(out, '}');
        g_list_free(names);
        return;
    case JSON_NODE_ARRAY:
        a = json_node_get_array(node);
        g_string_append_c(out, '[');
        for (i = 0; i < json_array_get_length(a); i++) {
            if (i) {
                g_string_append_c(out, ',');
            }
            write_node(out, json_array_get_element(a, i));
        }
        g_string_append_c(out, ']');
        return;
    case JSON_NODE_VALUE:
        switch (json_node_get_value_type(node)) {
        case G_TYPE_INT64:
            g_string_append_printf(out, "%" G_GINT64_FORMAT,
                                   json_node_get_int(node));
            return;
        case G_TYPE_DOUBLE:
            write_double(out, json_node_get_double(node));
            return;
        case G_TYPE_BOOLEAN:
            g_string_append(out, json_node_get_boolean(node) ? "true"
                                                              : "false");
            return;
        case G_TYPE_STRING:
            write_string(out, json_node_get_string(node));
            return;
        default:
            break;
        }
        break;
    case JSON_NODE_NULL:
        break;
    }
    g_string_append(out, "null");
}

char *
jstrict_to_string(JsonNode *node)
{
    GString *out = g_string_new(NULL);

    write_node(out, node);
    return g_string_free(out, FALSE);
}
