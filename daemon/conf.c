/*
 * conf.c - kemari.conf parser, validator and printer (see conf.h)
 *
 * Table-driven: key_defs[] lists every key with its group, type, field
 * and bounds.  The parser reads the file line by line (GKeyFile gives no
 * line numbers), the printer walks the same table.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "pairproto.h"

G_DEFINE_QUARK(conf-error-quark, conf_error)

#ifndef KEMARI_LIBEXECDIR
#define KEMARI_LIBEXECDIR "/usr/libexec/kemari"
#endif
#ifndef KEMARI_SBINDIR
#define KEMARI_SBINDIR "/usr/sbin"
#endif

/* Enum fields are read and written as int through key_defs[]. */
G_STATIC_ASSERT(sizeof(enum log_level) == sizeof(int));
G_STATIC_ASSERT(sizeof(enum conf_failover_policy) == sizeof(int));
G_STATIC_ASSERT(sizeof(enum conf_reprotect) == sizeof(int));
G_STATIC_ASSERT(sizeof(enum conf_backend) == sizeof(int));
G_STATIC_ASSERT(sizeof(enum conf_ckpt_mode) == sizeof(int));
G_STATIC_ASSERT(sizeof(enum conf_page_encoding) == sizeof(int));

#define PATH_MAX_LEN 4095
#define GROUP_NAME_MAX 32
#define SHOWN_VALUE_MAX 64      /* longer bad values are cut in messages */

enum key_type {
    K_NAME,                     /* pairproto_name_valid() */
    K_PATH,                     /* absolute, no control characters */
    K_GROUP,                    /* a system group name */
    K_HOST,                     /* host name or address literal */
    K_ENUM,                     /* one of choices[] */
    K_UINT,                     /* decimal, min..max */
};

struct key_def {
    unsigned group;             /* index into group_names[] */
    const char *key;
    enum key_type type;
    size_t offset;              /* of the field in struct conf */
    const char *const *choices; /* K_ENUM: NULL-terminated, index = value */
    unsigned min, max;          /* K_UINT bounds */
    const char *unset;          /* optional strings: meaning when unset;
                                 * NULL: the key always has a value */
};

enum { G_DAEMON, G_QEMU, G_CHECKPOINT, G_COUNT };

static const char *const group_names[G_COUNT] = {
    [G_DAEMON] = "daemon",
    [G_QEMU] = "qemu",
    [G_CHECKPOINT] = "checkpoint",
};

static const char *const log_levels[] = {
    [LOG_LEVEL_ERR] = "error", [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug", NULL,
};
static const char *const failover_policies[] = {
    [CONF_FAILOVER_STANDALONE] = "standalone",
    [CONF_FAILOVER_PACEMAKER] = "pacemaker", NULL,
};
static const char *const reprotects[] = {
    [CONF_REPROTECT_AUTOMATIC] = "automatic",
    [CONF_REPROTECT_MANUAL] = "manual", NULL,
};
static const char *const backends[] = {
    [CONF_BACKEND_DIRECT] = "direct", [CONF_BACKEND_LIBVIRT] = "libvirt",
    NULL,
};
static const char *const ckpt_modes[] = {
    [CONF_CKPT_EVENT] = "event", [CONF_CKPT_PERIODIC] = "periodic", NULL,
};
static const char *const page_encodings[] = {
    [CONF_PAGES_DELTA] = "delta", [CONF_PAGES_FULL] = "full", NULL,
};

#define F(field) offsetof(struct conf, field)

static const struct key_def key_defs[] = {
    { G_DAEMON, "node-name", K_NAME, F(node_name), NULL, 0, 0,
      "the host name" },
    { G_DAEMON, "control-socket", K_PATH, F(control_socket), NULL, 0, 0,
      NULL },
    { G_DAEMON, "control-group", K_GROUP, F(control_group), NULL, 0, 0,
      "only root may use the control socket" },
    { G_DAEMON, "log-level", K_ENUM, F(log_level), log_levels, 0, 0, NULL },
    { G_DAEMON, "failover-policy", K_ENUM, F(failover_policy),
      failover_policies, 0, 0, NULL },
    { G_DAEMON, "reprotect", K_ENUM, F(reprotect), reprotects, 0, 0, NULL },
    { G_DAEMON, "kvm-check", K_PATH, F(kvm_check), NULL, 0, 0, NULL },
    { G_DAEMON, "migration-address", K_HOST, F(migration_address), NULL, 0,
      0, "the first address of the host name that is not loopback" },
    { G_DAEMON, "migration-port-min", K_UINT, F(migration_port_min), NULL,
      1, 65535, NULL },
    { G_DAEMON, "migration-port-max", K_UINT, F(migration_port_max), NULL,
      1, 65535, NULL },
    { G_QEMU, "backend", K_ENUM, F(backend), backends, 0, 0, NULL },
    { G_QEMU, "binary", K_PATH, F(qemu_binary), NULL, 0, 0, NULL },
    { G_QEMU, "run-dir", K_PATH, F(run_dir), NULL, 0, 0, NULL },
    { G_QEMU, "state-dir", K_PATH, F(state_dir), NULL, 0, 0, NULL },
    { G_CHECKPOINT, "mode", K_ENUM, F(ckpt_mode), ckpt_modes, 0, 0, NULL },
    { G_CHECKPOINT, "min-interval-ms", K_UINT, F(min_interval_ms), NULL, 0,
      60000, NULL },
    { G_CHECKPOINT, "max-interval-ms", K_UINT, F(max_interval_ms), NULL, 1,
      600000, NULL },
    { G_CHECKPOINT, "ack-timeout-ms", K_UINT, F(ack_timeout_ms), NULL, 100,
      600000, NULL },
    { G_CHECKPOINT, "page-encoding", K_ENUM, F(page_encoding),
      page_encodings, 0, 0, NULL },
};

#define N_KEYS G_N_ELEMENTS(key_defs)

/* ------------------------------------------------------------------ */
/* Field access */

static char **
str_field(struct conf *c, const struct key_def *k)
{
    return (char **)(void *)((char *)c + k->offset);
}

static const char *
str_value(const struct conf *c, const struct key_def *k)
{
    return *(char *const *)(const void *)((const char *)c + k->offset);
}

/* Enums and unsigneds, both int-sized. */
static void
set_int(struct conf *c, const struct key_def *k, unsigned v)
{
    memcpy((char *)c + k->offset, &v, sizeof(v));
}

static unsigned
get_int(const struct conf *c, const struct key_def *k)
{
    unsigned v;

    memcpy(&v, (const char *)c + k->offset, sizeof(v));
    return v;
}

/* ------------------------------------------------------------------ */
/* Defaults and lifetime */

struct conf *
conf_new_defaults(void)
{
    struct conf *c = g_new0(struct conf, 1);

    c->path = g_strdup("");
    c->node_name = NULL;
    c->control_socket = g_strdup("/run/kemari/kemarid.sock");
    c->control_group = NULL;
    c->log_level = LOG_LEVEL_INFO;
    c->failover_policy = CONF_FAILOVER_STANDALONE;
    c->reprotect = CONF_REPROTECT_AUTOMATIC;
    c->kvm_check = g_strdup(KEMARI_SBINDIR "/kemari-kvm-check");
    c->migration_address = NULL;
    c->migration_port_min = 49152;
    c->migration_port_max = 49215;
    c->backend = CONF_BACKEND_DIRECT;
    c->qemu_binary = g_strdup(KEMARI_LIBEXECDIR "/qemu-system-x86_64");
    c->run_dir = g_strdup("/run/kemari");
    c->state_dir = g_strdup(KEMARI_STATEDIR);
    c->ckpt_mode = CONF_CKPT_EVENT;
    c->min_interval_ms = 0;
    c->max_interval_ms = 200;
    c->ack_timeout_ms = 2000;
    c->page_encoding = CONF_PAGES_DELTA;
    return c;
}

void
conf_free(struct conf *c)
{
    unsigned i;

    if (!c) {
        return;
    }
    for (i = 0; i < N_KEYS; i++) {
        if (key_defs[i].type == K_NAME || key_defs[i].type == K_PATH ||
            key_defs[i].type == K_GROUP || key_defs[i].type == K_HOST) {
            g_free(*str_field(c, &key_defs[i]));
        }
    }
    g_free(c->path);
    g_free(c);
}

/* ------------------------------------------------------------------ */
/* Errors */

static bool G_GNUC_PRINTF(5, 6)
conf_fail(GError **error, enum conf_error_code code, const char *file,
          unsigned line, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (line) {
        g_set_error(error, CONF_ERROR, code, "%s:%u: %s", file, line, msg);
    } else {
        g_set_error(error, CONF_ERROR, code, "%s: %s", file, msg);
    }
    return false;
}

/* A value as shown in messages: escaped, at most SHOWN_VALUE_MAX. */
static char *
shown(const char *v)
{
    g_autofree char *cut = g_utf8_substring(v, 0,
                                            MIN(g_utf8_strlen(v, -1),
                                                SHOWN_VALUE_MAX));
    g_autofree char *esc = g_strescape(cut, "");

    return g_strdup_printf("%s%s", esc,
                           strlen(cut) < strlen(v) ? "..." : "");
}

/* "a, b, c" */
static char *
join_choices(const char *const *choices)
{
    return g_strjoinv(", ", (char **)choices);
}

static char *
allowed_text(const struct key_def *k)
{
    switch (k->type) {
    case K_NAME:
        return g_strdup("1 to 64 of A-Z a-z 0-9 _ . -, not starting with "
                        ". or -");
    case K_PATH:
        return g_strdup("an absolute path without control characters");
    case K_GROUP:
        return g_strdup("a group name: 1 to 32 of A-Z a-z 0-9 _ . -, not "
                        "starting with . or -");
    case K_HOST:
        return g_strdup("a host name or address: 1 to 255 of A-Z a-z 0-9 "
                        ". : _ -");
    case K_ENUM:
        return join_choices(k->choices);
    case K_UINT:
        return g_strdup_printf("an integer from %u to %u", k->min, k->max);
    }
    g_assert_not_reached();
}

/* ------------------------------------------------------------------ */
/* Values */

static bool
path_valid(const char *v)
{
    const char *p;

    if (v[0] != '/' || strlen(v) > PATH_MAX_LEN) {
        return false;
    }
    for (p = v; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

/* The HOST rule of the pair protocol (PROTOCOL.md 1.2). */
static bool
host_valid(const char *v)
{
    size_t n = strlen(v), i;

    if (n == 0 || n > 255) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!g_ascii_isalnum(v[i]) && !strchr(".:_-", v[i])) {
            return false;
        }
    }
    return true;
}

static bool
uint_parse(const char *v, unsigned min, unsigned max, unsigned *out)
{
    guint64 n;

    /* decimal digits only: no sign, no space, no 0x */
    if (!g_ascii_isdigit(v[0]) ||
        !g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL)) {
        return false;
    }
    *out = (unsigned)n;
    return true;
}

/* Validates V for K and stores it in C; false if invalid. */
static bool
set_value(struct conf *c, const struct key_def *k, const char *v)
{
    unsigned i, n;

    switch (k->type) {
    case K_NAME:
        if (!pairproto_name_valid(v)) {
            return false;
        }
        break;
    case K_PATH:
        if (!path_valid(v)) {
            return false;
        }
        break;
    case K_GROUP:
        if (strlen(v) > GROUP_NAME_MAX || !pairproto_name_valid(v)) {
            return false;
        }
        break;
    case K_HOST:
        if (!host_valid(v)) {
            return false;
        }
        break;
    case K_ENUM:
        for (i = 0; k->choices[i]; i++) {
            if (strcmp(v, k->choices[i]) == 0) {
                set_int(c, k, i);
                return true;
            }
        }
        return false;
    case K_UINT:
        if (!uint_parse(v, k->min, k->max, &n)) {
            return false;
        }
        set_int(c, k, n);
        return true;
    }
    g_free(*str_field(c, k));
    *str_field(c, k) = g_strdup(v);
    return true;
}

/*
 * Undoes the key-file escapes of V (LEN bytes).  Returns NULL and sets
 * *BAD to the offending character when an escape is unknown.
 */
static char *
unescape(const char *v, size_t len, char *bad)
{
    GString *out = g_string_sized_new(len);
    size_t i;

    for (i = 0; i < len; i++) {
        if (v[i] != '\\') {
            g_string_append_c(out, v[i]);
            continue;
        }
        if (++i == len) {
            *bad = '\0';
            g_string_free(out, TRUE);
            return NULL;
        }
        switch (v[i]) {
        case 's': g_string_append_c(out, ' '); break;
        case 'n': g_string_append_c(out, '\n'); break;
        case 't': g_string_append_c(out, '\t'); break;
        case 'r': g_string_append_c(out, '\r'); break;
        case '\\': g_string_append_c(out, '\\'); break;
        default:
            *bad = v[i];
            g_string_free(out, TRUE);
            return NULL;
        }
    }
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------ */
/* Parsing */

struct parse_state {
    struct conf *c;
    const char *file;
    int group;                      /* current group, -1 before any */
    unsigned group_line[G_COUNT];   /* line of each [group], 0 = unseen */
    unsigned key_line[N_KEYS];      /* line of each key, 0 = unset */
};

static bool
parse_group(struct parse_state *ps, unsigned line, const char *s, size_t len,
            GError **error)
{
    g_autofree char *name = NULL;
    unsigned g;

    if (len < 2 || s[len - 1] != ']' || memchr(s + 1, '[', len - 2) ||
        memchr(s + 1, ']', len - 2)) {
        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "malformed group header (expected [name])");
    }
    name = g_strndup(s + 1, len - 2);
    for (g = 0; g < G_COUNT; g++) {
        if (strcmp(name, group_names[g]) == 0) {
            break;
        }
    }
    if (g == G_COUNT) {
        g_autofree char *sh = shown(name);

        return conf_fail(error, CONF_ERROR_UNKNOWN, ps->file, line,
                         "unknown group [%s] (known: daemon, qemu, "
                         "checkpoint)", sh);
    }
    if (ps->group_line[g]) {
        return conf_fail(error, CONF_ERROR_DUPLICATE, ps->file, line,
                         "group [%s] appears twice (first on line %u)",
                         name, ps->group_line[g]);
    }
    ps->group_line[g] = line;
    ps->group = (int)g;
    return true;
}

/* The keys of group G, for messages. */
static char *
keys_of(unsigned g)
{
    GString *s = g_string_new(NULL);
    unsigned i;

    for (i = 0; i < N_KEYS; i++) {
        if (key_defs[i].group == g) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "",
                                   key_defs[i].key);
        }
    }
    return g_string_free(s, FALSE);
}

static bool
parse_key(struct parse_state *ps, unsigned line, const char *s, size_t len,
          GError **error)
{
    const char *eq = memchr(s, '=', len);
    g_autofree char *key = NULL;
    g_autofree char *value = NULL;
    const char *v;
    size_t klen, vlen;
    unsigned i;
    char bad = 0;

    if (!eq) {
        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "malformed line (expected [group], key = value or "
                         "a # comment)");
    }
    klen = (size_t)(eq - s);
    while (klen > 0 && g_ascii_isspace(s[klen - 1])) {
        klen--;
    }
    if (klen == 0) {
        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "malformed line (no key before '=')");
    }
    key = g_strndup(s, klen);
    if (ps->group < 0) {
        g_autofree char *sh = shown(key);

        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "key '%s' outside of any group", sh);
    }
    for (i = 0; i < N_KEYS; i++) {
        if (key_defs[i].group == (unsigned)ps->group &&
            strcmp(key_defs[i].key, key) == 0) {
            break;
        }
    }
    if (i == N_KEYS) {
        g_autofree char *sh = shown(key);
        g_autofree char *known = keys_of((unsigned)ps->group);

        return conf_fail(error, CONF_ERROR_UNKNOWN, ps->file, line,
                         "unknown key '%s' in [%s] (known: %s)", sh,
                         group_names[ps->group], known);
    }
    if (ps->key_line[i]) {
        return conf_fail(error, CONF_ERROR_DUPLICATE, ps->file, line,
                         "key '%s' in [%s] set twice (first on line %u)",
                         key, group_names[ps->group], ps->key_line[i]);
    }
    v = eq + 1;
    vlen = len - (size_t)(v - s);
    while (vlen > 0 && g_ascii_isspace(*v)) {
        v++;
        vlen--;
    }
    value = unescape(v, vlen, &bad);
    if (!value && bad == '\0') {
        return conf_fail(error, CONF_ERROR_VALUE, ps->file, line,
                         "key '%s' in [%s]: value ends in a lone '\\'", key,
                         group_names[ps->group]);
    }
    if (!value) {
        return conf_fail(error, CONF_ERROR_VALUE, ps->file, line,
                         "key '%s' in [%s]: invalid escape '\\%c' (allowed: "
                         "\\s \\n \\t \\r \\\\)", key, group_names[ps->group],
                         bad);
    }
    if (!set_value(ps->c, &key_defs[i], value)) {
        g_autofree char *sh = shown(value);
        g_autofree char *allowed = allowed_text(&key_defs[i]);

        return conf_fail(error, CONF_ERROR_VALUE, ps->file, line,
                         "key '%s' in [%s]: bad value '%s' (allowed: %s)",
                         key, group_names[ps->group], sh, allowed);
    }
    ps->key_line[i] = line;
    return true;
}

/* The index of KEY in key_defs[]; KEY must exist. */
static unsigned
key_index(const char *key)
{
    unsigned i;

    for (i = 0; i < N_KEYS; i++) {
        if (strcmp(key_defs[i].key, key) == 0) {
            return i;
        }
    }
    g_error("conf: no key %s", key);
}

/*
 * The rule "key LO <= key HI" (both K_UINT of the same group), reported
 * on LO's line (or HI's, when LO kept its default).
 */
static bool
check_order(struct parse_state *ps, const char *lo, const char *hi,
            GError **error)
{
    unsigned lo_i = key_index(lo), hi_i = key_index(hi);
    unsigned lo_v = get_int(ps->c, &key_defs[lo_i]);
    unsigned hi_v = get_int(ps->c, &key_defs[hi_i]);
    g_autofree char *where = NULL;
    unsigned line;

    if (lo_v <= hi_v) {
        return true;
    }
    where = ps->key_line[hi_i] ? g_strdup_printf("line %u", ps->key_line[hi_i])
                               : g_strdup("the default");
    line = ps->key_line[lo_i] ? ps->key_line[lo_i] : ps->key_line[hi_i];
    return conf_fail(error, CONF_ERROR_VALUE, ps->file, line,
                     "key '%s' in [%s]: %u is above %s (%u, %s)", lo,
                     group_names[key_defs[lo_i].group], lo_v, hi, hi_v,
                     where);
}

/* Rules that involve more than one key. */
static bool
check_consistency(struct parse_state *ps, GError **error)
{
    return check_order(ps, "min-interval-ms", "max-interval-ms", error) &&
           check_order(ps, "migration-port-min", "migration-port-max", error);
}

/* One line, without its '\n'. */
static bool
parse_line(struct parse_state *ps, unsigned line, const char *s, size_t len,
           GError **error)
{
    if (memchr(s, '\0', len)) {
        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "NUL byte");
    }
    if (!g_utf8_validate_len(s, len, NULL)) {
        return conf_fail(error, CONF_ERROR_SYNTAX, ps->file, line,
                         "not UTF-8");
    }
    while (len > 0 && g_ascii_isspace(*s)) {
        s++;
        len--;
    }
    while (len > 0 && g_ascii_isspace(s[len - 1])) {
        len--;
    }
    if (len == 0 || s[0] == '#') {
        return true;
    }
    if (s[0] == '[') {
        return parse_group(ps, line, s, len, error);
    }
    return parse_key(ps, line, s, len, error);
}

struct conf *
conf_parse(const char *name, const char *data, size_t len, GError **error)
{
    g_autoptr(conf) c = conf_new_defaults();
    struct parse_state ps;
    size_t pos = 0;
    unsigned line = 0;

    memset(&ps, 0, sizeof(ps));
    ps.c = c;
    ps.file = name;
    ps.group = -1;
    g_free(c->path);
    c->path = g_strdup(name);
    if (len > CONF_MAX_SIZE) {
        conf_fail(error, CONF_ERROR_SYNTAX, name, 0,
                  "larger than %u bytes", CONF_MAX_SIZE);
        return NULL;
    }
    while (pos < len) {
        const char *s = data + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;

        line++;
        pos += n + (nl ? 1 : 0);
        if (!parse_line(&ps, line, s, n, error)) {
            return NULL;
        }
    }
    if (!check_consistency(&ps, error)) {
        return NULL;
    }
    return g_steal_pointer(&c);
}

struct conf *
conf_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) ioerr = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, &ioerr)) {
        g_set_error(error, CONF_ERROR, CONF_ERROR_IO, "%s", ioerr->message);
        return NULL;
    }
    return conf_parse(path, data, len, error);
}

/* ------------------------------------------------------------------ */
/* Printing */

/* The key-file form of string V: backslashes doubled. */
static void
append_escaped(GString *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\') {
            g_string_append_c(out, '\\');
        }
        g_string_append_c(out, *v);
    }
}

char *
conf_print(const struct conf *c)
{
    GString *out = g_string_new(NULL);
    unsigned g, i;

    for (g = 0; g < G_COUNT; g++) {
        g_string_append_printf(out, "%s[%s]\n", g ? "\n" : "",
                               group_names[g]);
        for (i = 0; i < N_KEYS; i++) {
            const struct key_def *k = &key_defs[i];

            if (k->group != g) {
                continue;
            }
            switch (k->type) {
            case K_NAME:
            case K_PATH:
            case K_GROUP:
            case K_HOST:
                if (!str_value(c, k)) {
                    g_string_append_printf(out, "# %s: not set (%s)\n",
                                           k->key, k->unset);
                    break;
                }
                g_string_append_printf(out, "%s = ", k->key);
                append_escaped(out, str_value(c, k));
                g_string_append_c(out, '\n');
                break;
            case K_ENUM:
                g_string_append_printf(out, "%s = %s\n", k->key,
                                       k->choices[get_int(c, k)]);
                break;
            case K_UINT:
                g_string_append_printf(out, "%s = %u\n", k->key,
                                       get_int(c, k));
                break;
            }
        }
    }
    return g_string_free(out, FALSE);
}
