/*
 * jsonstrict.h - strict JSON (RFC 8259) syntax check before json-glib
 *
 * json-glib's parser is lenient: it accepts a second top-level value
 * after the first, single-quoted strings, comments, leading zeros,
 * unknown escapes, control characters inside strings, duplicate member
 * names (the last wins) and numbers that overflow to infinity.  Peers
 * and clients must not be able to rely on any of that, so every line
 * kemarid receives as JSON (control requests and replies, QMP) passes
 * jstrict_check() first and json-glib only builds the tree.
 *
 * The other direction has its own trap: json-glib 1.6's generator writes
 * some doubles as invalid JSON ("2e+53.0", found by fuzzing).  Every
 * JSON text kemarid sends is therefore written by jstrict_to_string().
 *
 * Pure.
 */
#ifndef KEMARI_DAEMON_JSONSTRICT_H
#define KEMARI_DAEMON_JSONSTRICT_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#define JSTRICT_MAX_DEPTH 32        /* nested objects/arrays */

/*
 * Checks that the LEN bytes at TEXT (UTF-8, need not be NUL-terminated)
 * are exactly one JSON value, optionally surrounded by white space, with
 * at most JSTRICT_MAX_DEPTH levels of nesting, no byte-identical
 * duplicate member names in any object, no \u0000 escape, integers that
 * fit in 64 bits and finite numbers.  Returns false with a
 * JSTRICT_ERROR_SYNTAX error ("offset N: what") otherwise.
 */
bool jstrict_check(const char *text, size_t len, GError **error);

/*
 * Writes NODE (may be NULL: "null") as compact JSON, members in
 * insertion order, strings escaped, doubles in the shortest form that
 * reads back exactly ("%.17g"; non-finite ones as null).  Caller frees.
 */
char *jstrict_to_string(JsonNode *node);

#define JSTRICT_ERROR (jstrict_error_quark())
GQuark jstrict_error_quark(void);
enum jstrict_error_code {
    JSTRICT_ERROR_SYNTAX,           /* the only code */
};

#endif /* KEMARI_DAEMON_JSONSTRICT_H */
