/*
 * ctlproto.c - the control-socket protocol codec and credential policy
 * (see ctlproto.h and PROTOCOL.md)
 *
 * Requests are checked against a table of commands and their arguments
 * (cmd_specs[]); every member of every message is accounted for, so
 * a misspelt argument is an error, not silently ignored.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "ctlproto.h"
#include "jsonstrict.h"
#include "pairproto.h"

G_DEFINE_QUARK(ctlproto-error-quark, ctlproto_error)

/* ------------------------------------------------------------------ */
/* Tables */

enum arg_kind {
    ARG_NONE = 0,
    ARG_NAME,               /* VM or node name, pairproto_name_valid() */
    ARG_INTERVAL,           /* integer, CTLPROTO_INTERVAL_MIN..MAX */
    ARG_HOOK_OP,            /* one of hook_ops[] */
    ARG_DEVICES,            /* array of 1..CTLPROTO_MAX_REPLICATE distinct
                             * device ids, pairproto_name_valid() */
};

/* The libvirt hook operations kemarid is told about. */
static const char *const hook_ops[] = { "started", "stopped", "release",
                                        NULL };

struct arg_spec {
    const char *name;       /* member of "args" */
    enum arg_kind kind;
    bool required;
};

#define MAX_ARGS 3

struct cmd_spec {
    const char *name;
    struct arg_spec args[MAX_ARGS]; /* unused entries have name NULL */
};

static const struct cmd_spec cmd_specs[CTLPROTO_CMD_COUNT] = {
    [CTLPROTO_CMD_STATUS] = { "status", { { "vm", ARG_NAME, false } } },
    [CTLPROTO_CMD_START] = { "start", { { "vm", ARG_NAME, true },
                                        { "peer", ARG_NAME, false },
                                        { "replicate", ARG_DEVICES,
                                          false } } },
    [CTLPROTO_CMD_STOP] = { "stop", { { "vm", ARG_NAME, true } } },
    [CTLPROTO_CMD_FAILOVER] = { "failover", { { "vm", ARG_NAME, true } } },
    [CTLPROTO_CMD_NODES] = { "nodes", { { NULL, ARG_NONE, false } } },
    [CTLPROTO_CMD_STATS_SUBSCRIBE] = {
        "stats-subscribe", { { "vm", ARG_NAME, false },
                             { "interval-ms", ARG_INTERVAL, false } } },
    [CTLPROTO_CMD_HOOK_EVENT] = {
        "hook-event", { { "vm", ARG_NAME, true },
                        { "op", ARG_HOOK_OP, true } } },
    [CTLPROTO_CMD_FENCED] = { "fenced", { { "node", ARG_NAME, true } } },
};

static const char *const error_names[CTLPROTO_ERROR_COUNT] = {
    [CTLPROTO_ERROR_BAD_REQUEST] = "bad-request",
    [CTLPROTO_ERROR_VERSION] = "unsupported-version",
    [CTLPROTO_ERROR_UNKNOWN_COMMAND] = "unknown-command",
    [CTLPROTO_ERROR_PERMISSION] = "permission-denied",
    [CTLPROTO_ERROR_NOT_FOUND] = "not-found",
    [CTLPROTO_ERROR_REFUSED] = "refused",
    [CTLPROTO_ERROR_UNAVAILABLE] = "unavailable",
    [CTLPROTO_ERROR_INTERNAL] = "internal",
    [CTLPROTO_ERROR_BAD_REPLY] = "bad-reply",
};

static const enum ctlproto_exit exit_codes[CTLPROTO_ERROR_COUNT] = {
    [CTLPROTO_ERROR_BAD_REQUEST] = CTLPROTO_EXIT_USAGE,
    [CTLPROTO_ERROR_VERSION] = CTLPROTO_EXIT_PROTOCOL,
    [CTLPROTO_ERROR_UNKNOWN_COMMAND] = CTLPROTO_EXIT_PROTOCOL,
    [CTLPROTO_ERROR_PERMISSION] = CTLPROTO_EXIT_PERMISSION,
    [CTLPROTO_ERROR_NOT_FOUND] = CTLPROTO_EXIT_NOT_FOUND,
    [CTLPROTO_ERROR_REFUSED] = CTLPROTO_EXIT_REFUSED,
    [CTLPROTO_ERROR_UNAVAILABLE] = CTLPROTO_EXIT_UNAVAILABLE,
    [CTLPROTO_ERROR_INTERNAL] = CTLPROTO_EXIT_FAILURE,
    [CTLPROTO_ERROR_BAD_REPLY] = CTLPROTO_EXIT_PROTOCOL,
};

const char *
ctlproto_command_name(enum ctlproto_command cmd)
{
    return (unsigned)cmd < CTLPROTO_CMD_COUNT ? cmd_specs[cmd].name : "?";
}

const char *
ctlproto_error_name(enum ctlproto_error_code code)
{
    return (unsigned)code < CTLPROTO_ERROR_COUNT ? error_names[code]
                                                 : "internal";
}

enum ctlproto_exit
ctlproto_exit_code(enum ctlproto_error_code code)
{
    return (unsigned)code < CTLPROTO_ERROR_COUNT ? exit_codes[code]
                                                 : CTLPROTO_EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* JSON helpers */

/*
 * Parses LINE as one JSON object.  WHAT ("request", "reply") and CODE
 * are used for errors.  Returns a new node or NULL.
 */
static JsonNode *
parse_object(const char *line, size_t len, const char *what,
             enum ctlproto_error_code code, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) jerr = NULL;
    JsonNode *root;

    if (len > CTLPROTO_MAX_LINE) {
        g_set_error(error, CTLPROTO_ERROR, code,
                    "%s too long: %zu bytes (at most %u)", what, len,
                    CTLPROTO_MAX_LINE);
        return NULL;
    }
    if (memchr(line, '\0', len)) {
        g_set_error(error, CTLPROTO_ERROR, code, "NUL byte in %s", what);
        return NULL;
    }
    if (!g_utf8_validate_len(line, len, NULL)) {
        g_set_error(error, CTLPROTO_ERROR, code, "%s is not UTF-8", what);
        return NULL;
    }
    if (!jstrict_check(line, len, &jerr)) {
        g_set_error(error, CTLPROTO_ERROR, code, "%s is not JSON: %s", what,
                    jerr->message);
        return NULL;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &jerr)) {
        g_set_error(error, CTLPROTO_ERROR, code, "%s is not JSON: %s", what,
                    jerr->message);
        return NULL;
    }
    root = json_parser_steal_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, CTLPROTO_ERROR, code, "%s is not a JSON object",
                    what);
        if (root) {
            json_node_unref(root);
        }
        return NULL;
    }
    return root;
}

/* Whether NODE is a JSON integer; its value in *V. */
static bool
get_int(JsonNode *node, int64_t *v)
{
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64) {
        return false;
    }
    *v = json_node_get_int(node);
    return true;
}

/* The string in NODE, or NULL if NODE is not a JSON string. */
static const char *
get_str(JsonNode *node)
{
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}

/*
 * Checks that OBJ has no member outside ALLOWED (NULL-terminated).
 * Returns the first stranger, or NULL.
 */
static const char *
stray_member(JsonObject *obj, const char *const *allowed)
{
    JsonObjectIter it;
    const char *name;
    JsonNode *node;

    json_object_iter_init(&it, obj);
    while (json_object_iter_next(&it, &name, &node)) {
        const char *const *a;

        for (a = allowed; *a; a++) {
            if (strcmp(*a, name) == 0) {
                break;
            }
        }
        if (!*a) {
            return name;
        }
    }
    return NULL;
}

/* Reads the "id" member: integer in range, or (if NULL_OK) null. */
static bool
get_id(JsonObject *obj, bool null_ok, int64_t *id)
{
    JsonNode *node = json_object_get_member(obj, "id");

    if (null_ok && node && JSON_NODE_HOLDS_NULL(node)) {
        *id = -1;
        return true;
    }
    return get_int(node, id) && *id >= 0 && *id <= CTLPROTO_ID_MAX;
}

/* Reads "version" and checks it is ours. */
static bool
check_version(JsonObject *obj, const char *what, const char *us,
              enum ctlproto_error_code malformed, GError **error)
{
    int64_t v;

    if (!get_int(json_object_get_member(obj, "version"), &v)) {
        g_set_error(error, CTLPROTO_ERROR, malformed,
                    "%s has no integer member 'version'", what);
        return false;
    }
    if (v != CTLPROTO_VERSION) {
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_VERSION,
                    "%s protocol version %" G_GINT64_FORMAT " not supported "
                    "(%s speaks %d)", what, v, us, CTLPROTO_VERSION);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Requests */

static bool G_GNUC_PRINTF(3, 4)
bad_request(GError **error, enum ctlproto_error_code code, const char *fmt,
            ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, CTLPROTO_ERROR, code, msg);
    return false;
}

/* Checks and stores the device ids of argument A (ARG_DEVICES). */
static bool
parse_devices(const struct cmd_spec *spec, const struct arg_spec *a,
              JsonNode *node, struct ctlproto_request *out, GError **error)
{
    JsonArray *arr;
    unsigned i, j, n;

    arr = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    n = arr ? json_array_get_length(arr) : 0;
    if (n == 0) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "command '%s': argument '%s' must be an array of "
                           "1 to %d device ids", spec->name, a->name,
                           CTLPROTO_MAX_REPLICATE);
    }
    if (n > CTLPROTO_MAX_REPLICATE) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "command '%s': argument '%s' has %u device ids "
                           "(at most %d)", spec->name, a->name, n,
                           CTLPROTO_MAX_REPLICATE);
    }
    for (i = 0; i < n; i++) {
        const char *s = get_str(json_array_get_element(arr, i));

        if (!s) {
            return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                               "command '%s': argument '%s[%u]' must be a "
                               "string", spec->name, a->name, i);
        }
        if (!pairproto_name_valid(s)) {
            return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                               "command '%s': argument '%s[%u]': invalid "
                               "device id (1 to 64 of A-Z a-z 0-9 _ . -, not "
                               "starting with . or -)", spec->name, a->name,
                               i);
        }
        for (j = 0; j < i; j++) {
            if (strcmp(s, out->replicate[j]) == 0) {
                return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                                   "command '%s': argument '%s': device id "
                                   "'%s' appears twice", spec->name,
                                   a->name, s);
            }
        }
        g_strlcpy(out->replicate[i], s, CTLPROTO_NAME_MAX + 1);
    }
    out->n_replicate = n;
    return true;
}

/* Checks and stores one argument of command SPEC. */
static bool
parse_arg(const struct cmd_spec *spec, const struct arg_spec *a,
          JsonNode *node, struct ctlproto_request *out, GError **error)
{
    const char *s;
    int64_t v;

    switch (a->kind) {
    case ARG_NAME:
        s = get_str(node);
        if (!s) {
            return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                               "command '%s': argument '%s' must be a "
                               "string", spec->name, a->name);
        }
        if (!pairproto_name_valid(s)) {
            return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                               "command '%s': argument '%s': invalid name "
                               "(1 to 64 of A-Z a-z 0-9 _ . -, not starting "
                               "with . or -)", spec->name, a->name);
        }
        /* "vm", or a node: "peer" (start), "node" (fenced) */
        g_strlcpy(strcmp(a->name, "vm") == 0 ? out->vm : out->peer, s,
                  CTLPROTO_NAME_MAX + 1);
        return true;
    case ARG_INTERVAL:
        if (!get_int(node, &v) || v < CTLPROTO_INTERVAL_MIN ||
            v > CTLPROTO_INTERVAL_MAX) {
            return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                               "command '%s': argument '%s' must be an "
                               "integer from %d to %d", spec->name, a->name,
                               CTLPROTO_INTERVAL_MIN, CTLPROTO_INTERVAL_MAX);
        }
        out->interval_ms = (unsigned)v;
        return true;
    case ARG_HOOK_OP: {
        unsigned i;

        s = get_str(node);
        for (i = 0; s && hook_ops[i]; i++) {
            if (strcmp(s, hook_ops[i]) == 0) {
                g_strlcpy(out->op, s, sizeof(out->op));
                return true;
            }
        }
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "command '%s': argument '%s' must be one of "
                           "started, stopped, release", spec->name, a->name);
    }
    case ARG_DEVICES:
        return parse_devices(spec, a, node, out, error);
    case ARG_NONE:
        break;
    }
    g_assert_not_reached();
}

/* Checks the "args" member (may be NULL) against SPEC. */
static bool
parse_args(const struct cmd_spec *spec, JsonNode *args,
           struct ctlproto_request *out, GError **error)
{
    const char *allowed[MAX_ARGS + 1] = { NULL };
    JsonObject *obj = NULL;
    const char *stray;
    unsigned i;

    if (args && !JSON_NODE_HOLDS_OBJECT(args)) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "command '%s': 'args' must be an object",
                           spec->name);
    }
    obj = args ? json_node_get_object(args) : NULL;
    for (i = 0; i < MAX_ARGS && spec->args[i].name; i++) {
        const struct arg_spec *a = &spec->args[i];
        JsonNode *node = obj ? json_object_get_member(obj, a->name) : NULL;

        allowed[i] = a->name;
        if (!node) {
            if (a->required) {
                return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                                   "command '%s': missing argument '%s'",
                                   spec->name, a->name);
            }
            continue;
        }
        if (!parse_arg(spec, a, node, out, error)) {
            return false;
        }
    }
    if (obj && (stray = stray_member(obj, allowed)) != NULL) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "command '%s': unknown argument '%s'", spec->name,
                           stray);
    }
    return true;
}

bool
ctlproto_request_parse(const char *line, size_t len,
                       struct ctlproto_request *out, GError **error)
{
    static const char *const members[] = { "version", "id", "command",
                                           "args", NULL };
    g_autoptr(JsonNode) root = NULL;
    JsonObject *obj;
    const char *cmd, *stray;
    unsigned i;

    memset(out, 0, sizeof(*out));
    out->id = -1;
    out->interval_ms = CTLPROTO_INTERVAL_DEFAULT;
    root = parse_object(line, len, "request", CTLPROTO_ERROR_BAD_REQUEST,
                        error);
    if (!root) {
        return false;
    }
    obj = json_node_get_object(root);
    if (!get_id(obj, false, &out->id)) {
        out->id = -1;
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "request has no member 'id' with an integer "
                           "from 0 to 2^53-1");
    }
    if (!check_version(obj, "request", "kemarid",
                       CTLPROTO_ERROR_BAD_REQUEST, error)) {
        return false;
    }
    if ((stray = stray_member(obj, members)) != NULL) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "request has an unknown member '%s'", stray);
    }
    cmd = get_str(json_object_get_member(obj, "command"));
    if (!cmd) {
        return bad_request(error, CTLPROTO_ERROR_BAD_REQUEST,
                           "request has no string member 'command'");
    }
    for (i = 0; i < CTLPROTO_CMD_COUNT; i++) {
        if (strcmp(cmd, cmd_specs[i].name) == 0) {
            break;
        }
    }
    if (i == CTLPROTO_CMD_COUNT) {
        /* at most 64 characters of it, cut at a character boundary */
        g_autofree char *shown = g_utf8_substring(cmd, 0,
                                                  MIN(g_utf8_strlen(cmd, -1),
                                                      64));

        return bad_request(error, CTLPROTO_ERROR_UNKNOWN_COMMAND,
                           "unknown command '%s' (known: status, start, "
                           "stop, failover, nodes, stats-subscribe, "
                           "hook-event, fenced)", shown);
    }
    out->command = (enum ctlproto_command)i;
    return parse_args(&cmd_specs[i], json_object_get_member(obj, "args"),
                      out, error);
}

/* Serialises the builder's root as one line. */
static char *
finish_line(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = jstrict_to_string(root);

    return g_strconcat(text, "\n", NULL);
}

/* Starts a message: {"version":1,"id":ID */
static JsonBuilder *
begin_message(int64_t id)
{
    JsonBuilder *b = json_builder_new_immutable();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, CTLPROTO_VERSION);
    json_builder_set_member_name(b, "id");
    if (id < 0) {
        json_builder_add_null_value(b);
    } else {
        json_builder_add_int_value(b, id);
    }
    return b;
}

char *
ctlproto_request_format(const struct ctlproto_request *req)
{
    g_autoptr(JsonBuilder) b = NULL;
    const struct cmd_spec *spec;
    unsigned i;

    g_return_val_if_fail((unsigned)req->command < CTLPROTO_CMD_COUNT, NULL);
    g_return_val_if_fail(req->n_replicate <= CTLPROTO_MAX_REPLICATE, NULL);
    spec = &cmd_specs[req->command];
    b = begin_message(req->id);
    json_builder_set_member_name(b, "command");
    json_builder_add_string_value(b, spec->name);
    json_builder_set_member_name(b, "args");
    json_builder_begin_object(b);
    for (i = 0; i < MAX_ARGS && spec->args[i].name; i++) {
        const struct arg_spec *a = &spec->args[i];
        const char *s = strcmp(a->name, "vm") == 0 ? req->vm : req->peer;

        if (a->kind == ARG_NAME && s[0] != '\0') {
            json_builder_set_member_name(b, a->name);
            json_builder_add_string_value(b, s);
        } else if (a->kind == ARG_INTERVAL &&
                   req->interval_ms != CTLPROTO_INTERVAL_DEFAULT) {
            json_builder_set_member_name(b, a->name);
            json_builder_add_int_value(b, req->interval_ms);
        } else if (a->kind == ARG_HOOK_OP && req->op[0] != '\0') {
            json_builder_set_member_name(b, a->name);
            json_builder_add_string_value(b, req->op);
        } else if (a->kind == ARG_DEVICES && req->n_replicate > 0) {
            unsigned j;

            json_builder_set_member_name(b, a->name);
            json_builder_begin_array(b);
            for (j = 0; j < req->n_replicate; j++) {
                json_builder_add_string_value(b, req->replicate[j]);
            }
            json_builder_end_array(b);
        }
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    return finish_line(b);
}

/* ------------------------------------------------------------------ */
/* Replies and events */

/* Adds NODE (copied) or {} as the value of the current member. */
static void
add_body(JsonBuilder *b, JsonNode *node)
{
    if (node) {
        json_builder_add_value(b, json_node_copy(node));
    } else {
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
}

char *
ctlproto_reply_ok(int64_t id, JsonNode *result)
{
    g_autoptr(JsonBuilder) b = begin_message(id);

    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "result");
    add_body(b, result);
    json_builder_end_object(b);
    return finish_line(b);
}

char *
ctlproto_reply_error(int64_t id, enum ctlproto_error_code code,
                     const char *message)
{
    g_autoptr(JsonBuilder) b = begin_message(id);

    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, ctlproto_error_name(code));
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message ? message : "");
    json_builder_end_object(b);
    json_builder_end_object(b);
    return finish_line(b);
}

char *
ctlproto_reply_event(int64_t id, const char *event, JsonNode *data)
{
    g_autoptr(JsonBuilder) b = begin_message(id);

    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, event);
    json_builder_set_member_name(b, "data");
    add_body(b, data);
    json_builder_end_object(b);
    return finish_line(b);
}

void
ctlproto_reply_clear(struct ctlproto_reply *r)
{
    g_clear_pointer(&r->body, json_node_unref);
    g_clear_pointer(&r->code_name, g_free);
    g_clear_pointer(&r->message, g_free);
    g_clear_pointer(&r->event, g_free);
    memset(r, 0, sizeof(*r));
}

static bool
bad_reply(GError **error, const char *what)
{
    g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_BAD_REPLY,
                "malformed reply: %s", what);
    return false;
}

/* The "error" object of a failed reply. */
static bool
parse_error_object(JsonNode *node, struct ctlproto_reply *out,
                   GError **error)
{
    static const char *const members[] = { "code", "message", NULL };
    JsonObject *obj;
    const char *code, *message;
    unsigned i;

    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return bad_reply(error, "'error' must be an object");
    }
    obj = json_node_get_object(node);
    code = get_str(json_object_get_member(obj, "code"));
    message = get_str(json_object_get_member(obj, "message"));
    if (!code || !message) {
        return bad_reply(error, "'error' needs string members 'code' and "
                         "'message'");
    }
    if (stray_member(obj, members)) {
        return bad_reply(error, "unknown member in 'error'");
    }
    out->kind = CTLPROTO_REPLY_ERROR;
    out->code = CTLPROTO_ERROR_INTERNAL;
    for (i = 0; i < CTLPROTO_ERROR_COUNT; i++) {
        if (strcmp(code, error_names[i]) == 0) {
            out->code = (enum ctlproto_error_code)i;
        }
    }
    out->code_name = g_strdup(code);
    out->message = g_strdup(message);
    return true;
}

static bool
parse_reply_object(JsonObject *obj, struct ctlproto_reply *out,
                   GError **error)
{
    static const char *const ok_members[] = { "version", "id", "ok",
                                              "result", NULL };
    static const char *const err_members[] = { "version", "id", "ok",
                                               "error", NULL };
    static const char *const ev_members[] = { "version", "id", "event",
                                              "data", NULL };
    JsonNode *node;

    if (!get_id(obj, true, &out->id)) {
        return bad_reply(error, "no member 'id' with null or an integer "
                         "from 0 to 2^53-1");
    }
    if (json_object_has_member(obj, "event")) {
        const char *event = get_str(json_object_get_member(obj, "event"));

        node = json_object_get_member(obj, "data");
        if (!event || event[0] == '\0') {
            return bad_reply(error, "'event' must be a non-empty string");
        }
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
            return bad_reply(error, "event without object member 'data'");
        }
        if (stray_member(obj, ev_members)) {
            return bad_reply(error, "unknown member in event");
        }
        out->kind = CTLPROTO_REPLY_EVENT;
        out->event = g_strdup(event);
        out->body = json_node_copy(node);
        return true;
    }
    node = json_object_get_member(obj, "ok");
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        return bad_reply(error, "no boolean member 'ok'");
    }
    if (!json_node_get_boolean(node)) {
        if (stray_member(obj, err_members)) {
            return bad_reply(error, "unknown member in error reply");
        }
        return parse_error_object(json_object_get_member(obj, "error"), out,
                                  error);
    }
    node = json_object_get_member(obj, "result");
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return bad_reply(error, "reply without object member 'result'");
    }
    if (stray_member(obj, ok_members)) {
        return bad_reply(error, "unknown member in reply");
    }
    out->kind = CTLPROTO_REPLY_OK;
    out->body = json_node_copy(node);
    return true;
}

bool
ctlproto_reply_parse(const char *line, size_t len, struct ctlproto_reply *out,
                     GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *obj;

    memset(out, 0, sizeof(*out));
    out->id = -1;
    root = parse_object(line, len, "reply", CTLPROTO_ERROR_BAD_REPLY, error);
    if (!root) {
        return false;
    }
    obj = json_node_get_object(root);
    if (!check_version(obj, "reply", "kemari", CTLPROTO_ERROR_BAD_REPLY,
                       error) ||
        !parse_reply_object(obj, out, error)) {
        ctlproto_reply_clear(out);
        out->id = -1;
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Peer credentials */

void
ctlproto_cred_clear(struct ctlproto_cred *cred)
{
    g_clear_pointer(&cred->groups, g_free);
    memset(cred, 0, sizeof(*cred));
}

static bool
sockopt_error(GError **error, const char *what)
{
    int e = errno;

    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                "control socket peer credentials (%s): %s", what,
                g_strerror(e));
    return false;
}

bool
ctlproto_peer_cred(int fd, struct ctlproto_cred *out, GError **error)
{
    struct ucred uc;
    socklen_t len = sizeof(uc);

    memset(out, 0, sizeof(*out));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
        return sockopt_error(error, "SO_PEERCRED");
    }
    out->pid = uc.pid;
    out->uid = uc.uid;
    out->gid = uc.gid;
#ifdef SO_PEERGROUPS
    {
        /* the kernel says how much room it needs (ERANGE) */
        socklen_t glen = 32 * sizeof(gid_t);
        int tries;

        for (tries = 0; tries < 3; tries++) {
            out->groups = g_realloc(out->groups, glen ? glen : 1);
            if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out->groups,
                           &glen) == 0) {
                out->n_groups = glen / sizeof(gid_t);
                return true;
            }
            if (errno == ENOPROTOOPT) {
                out->n_groups = 0;      /* kernel before 4.13 */
                return true;
            }
            if (errno != ERANGE) {
                ctlproto_cred_clear(out);
                return sockopt_error(error, "SO_PEERGROUPS");
            }
        }
        ctlproto_cred_clear(out);
        errno = ERANGE;
        return sockopt_error(error, "SO_PEERGROUPS");
    }
#else
    return true;
#endif
}

bool
ctlproto_cred_allowed(const struct ctlproto_cred *cred, bool have_group,
                      gid_t group, const char *group_name, GError **error)
{
    unsigned i;

    if (cred->uid == 0) {
        return true;
    }
    if (have_group) {
        if (cred->gid == group) {
            return true;
        }
        for (i = 0; i < cred->n_groups; i++) {
            if (cred->groups[i] == group) {
                return true;
            }
        }
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_PERMISSION,
                    "permission denied: uid %u is neither root nor a member "
                    "of group '%s' (gid %u)", (unsigned)cred->uid,
                    group_name ? group_name : "?", (unsigned)group);
        return false;
    }
    g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_PERMISSION,
                "permission denied: only root may use kemarid's control "
                "socket (uid %u); control-group in kemari.conf can allow a "
                "group", (unsigned)cred->uid);
    return false;
}
