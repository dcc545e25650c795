/*
 * qmpc.c - QMP client (see qmpc.h)
 *
 * Connection states:
 *
 *   IDLE --start--> CONNECTING --connected--> GREETING --greeting-->
 *   NEGOTIATING --qmp_capabilities ok--> READY
 *
 * and from any of them, on a failure, WAIT_RETRY (a back-off timer that
 * leads to CONNECTING again); qmpc_close() leads to CLOSED for good.
 * A single timer is used for the retry delay and for the greeting
 * timeout, which are never needed at the same time.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "jsonstrict.h"
#include "log.h"
#include "qmpc.h"

G_DEFINE_QUARK(qmpc-error-quark, qmpc_error)

#define READ_CHUNK 65536

/* ------------------------------------------------------------------ */
/* Wire parsing */

static bool G_GNUC_PRINTF(2, 3)
proto_fail(GError **error, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, QMPC_ERROR, QMPC_ERROR_PROTOCOL, msg);
    return false;
}

void
qmpc_msg_clear(struct qmpc_msg *m)
{
    g_clear_pointer(&m->value, json_node_unref);
    g_clear_pointer(&m->error_class, g_free);
    g_clear_pointer(&m->error_desc, g_free);
    g_clear_pointer(&m->event, g_free);
    memset(m, 0, sizeof(*m));
}

/* The member NAME of O if it is a JSON string, else NULL. */
static const char *
member_str(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

/* The member NAME of O if it is an integer; false otherwise. */
static bool
member_int(JsonObject *o, const char *name, int64_t *v)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        return false;
    }
    *v = json_node_get_int(n);
    return true;
}

/* The member NAME of O if it is an object, else NULL. */
static JsonObject *
member_obj(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static bool
parse_greeting(JsonObject *o, struct qmpc_msg *out, GError **error)
{
    JsonObject *qmp = member_obj(o, "QMP");
    JsonNode *caps;

    caps = qmp ? json_object_get_member(qmp, "capabilities") : NULL;
    if (!qmp || !member_obj(qmp, "version") || !caps ||
        !JSON_NODE_HOLDS_ARRAY(caps)) {
        return proto_fail(error, "malformed QMP greeting (needs an object "
                          "'QMP' with 'version' and 'capabilities')");
    }
    out->kind = QMPC_MSG_GREETING;
    out->value = json_object_dup_member(o, "QMP");
    return true;
}

static bool
parse_error(JsonObject *o, struct qmpc_msg *out, GError **error)
{
    JsonObject *e = member_obj(o, "error");
    const char *cls = e ? member_str(e, "class") : NULL;
    const char *desc = e ? member_str(e, "desc") : NULL;

    if (!cls || !desc) {
        return proto_fail(error, "malformed QMP error (needs an object "
                          "'error' with strings 'class' and 'desc')");
    }
    out->kind = QMPC_MSG_ERROR;
    out->error_class = g_strdup(cls);
    out->error_desc = g_strdup(desc);
    out->value = json_object_dup_member(o, "error");
    return true;
}

static bool
parse_event(JsonObject *o, struct qmpc_msg *out, GError **error)
{
    const char *name = member_str(o, "event");
    JsonNode *data = json_object_get_member(o, "data");
    JsonNode *ts = json_object_get_member(o, "timestamp");

    if (!name || name[0] == '\0') {
        return proto_fail(error, "malformed QMP event (needs a non-empty "
                          "string 'event')");
    }
    if (data && !JSON_NODE_HOLDS_OBJECT(data)) {
        return proto_fail(error, "QMP event %s: 'data' is not an object",
                          name);
    }
    out->ts_sec = -1;
    out->ts_usec = -1;
    if (ts) {
        JsonObject *t = JSON_NODE_HOLDS_OBJECT(ts) ? json_node_get_object(ts)
                                                   : NULL;

        if (!t || !member_int(t, "seconds", &out->ts_sec) ||
            !member_int(t, "microseconds", &out->ts_usec)) {
            return proto_fail(error, "QMP event %s: malformed 'timestamp'",
                              name);
        }
    }
    out->kind = QMPC_MSG_EVENT;
    out->event = g_strdup(name);
    out->value = data ? json_node_copy(data)
                      : json_node_init_object(json_node_alloc(),
                                              json_object_new());
    if (!data) {
        /* json_node_init_object took its own reference */
        json_object_unref(json_node_get_object(out->value));
    }
    return true;
}

bool
qmpc_parse_line(const char *line, size_t len, struct qmpc_msg *out,
                GError **error)
{
    static const char *const kinds[] = { "QMP", "return", "error", "event" };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) jerr = NULL;
    JsonObject *o;
    unsigned i, found = 0, which = 0;
    bool ok;

    memset(out, 0, sizeof(*out));
    out->id = -1;
    if (!jstrict_check(line, len, &jerr)) {
        return proto_fail(error, "QMP line is not JSON: %s", jerr->message);
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &jerr)) {
        return proto_fail(error, "QMP line is not JSON: %s", jerr->message);
    }
    root = json_parser_steal_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        return proto_fail(error, "QMP line is not a JSON object");
    }
    o = json_node_get_object(root);
    for (i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (json_object_has_member(o, kinds[i])) {
            found++;
            which = i;
        }
    }
    if (found != 1) {
        return proto_fail(error, "QMP message with %s of QMP, return, "
                          "error, event", found ? "more than one" : "none");
    }
    if (json_object_has_member(o, "id") &&
        (!member_int(o, "id", &out->id) || out->id < 0)) {
        out->id = -1;
        return proto_fail(error, "QMP reply id is not a non-negative "
                          "integer (kemarid only sends those)");
    }
    switch (which) {
    case 0:
        ok = parse_greeting(o, out, error);
        break;
    case 1:
        out->kind = QMPC_MSG_RETURN;
        out->value = json_object_dup_member(o, "return");
        ok = true;
        break;
    case 2:
        ok = parse_error(o, out, error);
        break;
    default:
        ok = parse_event(o, out, error);
        break;
    }
    if (!ok) {
        qmpc_msg_clear(out);
        out->id = -1;
    }
    return ok;
}

void
qmpc_splitter_init(struct qmpc_splitter *s, size_t max_line)
{
    s->pending = g_string_new(NULL);
    s->max_line = max_line;
}

void
qmpc_splitter_reset(struct qmpc_splitter *s)
{
    g_string_truncate(s->pending, 0);
}

void
qmpc_splitter_clear(struct qmpc_splitter *s)
{
    if (s->pending) {
        g_string_free(s->pending, TRUE);
        s->pending = NULL;
    }
}

bool
qmpc_splitter_feed(struct qmpc_splitter *s, const char *data, size_t len,
                   qmpc_line_fn fn, void *opaque, GError **error)
{
    size_t pos = 0;

    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        const char *line;
        size_t llen;

        if (s->pending->len + n > s->max_line) {
            qmpc_splitter_reset(s);
            return proto_fail(error, "QMP line longer than %zu bytes",
                              s->max_line);
        }
        if (!nl) {
            g_string_append_len(s->pending, start, (gssize)n);
            return true;
        }
        pos += n + 1;
        if (s->pending->len) {
            g_string_append_len(s->pending, start, (gssize)n);
            line = s->pending->str;
            llen = s->pending->len;
        } else {
            line = start;
            llen = n;
        }
        if (llen > 0 && line[llen - 1] == '\r') {
            llen--;
        }
        if (!fn(line, llen, opaque)) {
            qmpc_splitter_reset(s);
            return false;
        }
        qmpc_splitter_reset(s);
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* The connection */

enum qmpc_state {
    ST_IDLE,            /* not started */
    ST_WAIT_RETRY,      /* back-off timer running */
    ST_CONNECTING,      /* non-blocking connect in progress */
    ST_GREETING,        /* connected, waiting for the greeting */
    ST_NEGOTIATING,     /* qmp_capabilities sent */
    ST_READY,           /* commands may be sent */
    ST_CLOSED,          /* qmpc_close(): nothing more */
};

struct qmpc_pending {
    char *command;              /* owned, for error messages */
    qmpc_reply_fn cb;           /* may be NULL */
    void *opaque;
};

struct qmpc {
    gint refs;
    char *path;                 /* owned: socket path */
    char *label;                /* owned: vm= prefix of logs */
    struct qmpc_callbacks cb;
    void *opaque;
    struct qmpc_params params;
    enum qmpc_state state;
    int fd;                     /* -1 when no socket */
    guint in_watch;             /* readable/connected source, 0 = none */
    guint out_watch;            /* writable source, 0 = none */
    guint timer;                /* retry or greeting timeout, 0 = none */
    struct qmpc_splitter split;
    GString *outbuf;            /* bytes not yet written */
    GHashTable *pending;        /* gint64 id -> struct qmpc_pending */
    gint64 next_id;             /* ids are unique for the object's life */
    gint64 caps_id;             /* id of our qmp_capabilities */
    JsonNode *greeting;         /* the "QMP" object of this session */
    unsigned backoff_ms;        /* next retry delay */
    bool warned;                /* connect failure already at warn level */
};

static void attempt_connect(struct qmpc *q);

static void
pending_free(gpointer p)
{
    struct qmpc_pending *pd = p;

    g_free(pd->command);
    g_free(pd);
}

static void
remove_source(guint *id)
{
    if (*id) {
        g_source_remove(*id);
        *id = 0;
    }
}

/*
 * Tears the socket down and fails every pending command with CODE/WHY.
 * Runs the disconnected callback if a session was negotiated and
 * NOTIFY is set.  Leaves the state IDLE (callers set the next one).
 */
static void
drop_connection(struct qmpc *q, enum qmpc_error_code code, const char *why,
                bool notify)
{
    g_autoptr(GError) err = g_error_new(QMPC_ERROR, code, "%s", why);
    g_autoptr(GHashTable) failed = NULL;
    GHashTableIter it;
    gpointer value;
    bool was_ready = q->state == ST_READY;

    remove_source(&q->in_watch);
    remove_source(&q->out_watch);
    remove_source(&q->timer);
    if (q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    qmpc_splitter_reset(&q->split);
    g_string_truncate(q->outbuf, 0);
    g_clear_pointer(&q->greeting, json_node_unref);
    q->state = ST_IDLE;

    /* callbacks may send new commands (refused now) or close */
    failed = q->pending;
    q->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                       pending_free);
    g_hash_table_iter_init(&it, failed);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct qmpc_pending *pd = value;
        g_autoptr(GError) perr = g_error_new(QMPC_ERROR, code, "%s: %s",
                                             pd->command, why);

        if (pd->cb) {
            pd->cb(q, NULL, perr, pd->opaque);
        }
    }
    if (was_ready && notify && q->cb.disconnected && q->state != ST_CLOSED) {
        q->cb.disconnected(q, err, q->opaque);
    }
}

static gboolean
on_retry(gpointer data)
{
    struct qmpc *q = data;

    q->timer = 0;
    attempt_connect(q);
    return G_SOURCE_REMOVE;
}

/* Schedules the next connection attempt with exponential back-off. */
static void
schedule_retry(struct qmpc *q)
{
    /* a callback may have closed, or restarted it */
    if (q->state != ST_IDLE) {
        return;
    }
    q->state = ST_WAIT_RETRY;
    q->timer = g_timeout_add_full(QMPC_PRIORITY, q->backoff_ms, on_retry, q,
                                  NULL);
    q->backoff_ms = MIN(q->backoff_ms * 2, q->params.backoff_max_ms);
}

/* The session (or the attempt) failed: drop it and try again later. */
static void
lost(struct qmpc *q, enum qmpc_error_code code, const char *why)
{
    bool was_session = q->state >= ST_GREETING && q->state <= ST_READY;

    if (was_session || !q->warned) {
        vm_log_warnx(q->label, "QMP %s: %s", q->path, why);
        q->warned = true;
    } else {
        vm_log_debug(q->label, "QMP %s: %s", q->path, why);
    }
    drop_connection(q, code, why, true);
    schedule_retry(q);
}

static void
lost_errno(struct qmpc *q, const char *what, int errnum)
{
    g_autofree char *why = g_strdup_printf("%s: %s", what,
                                           g_strerror(errnum));

    lost(q, QMPC_ERROR_CONNECT, why);
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data);

/* Writes what it can of outbuf; the rest waits for a writable socket. */
static void
flush(struct qmpc *q)
{
    while (q->outbuf->len > 0) {
        ssize_t n = send(q->fd, q->outbuf->str, q->outbuf->len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!q->out_watch) {
                q->out_watch = g_unix_fd_add_full(QMPC_PRIORITY, q->fd,
                                                  G_IO_OUT, on_writable, q,
                                                  NULL);
            }
            return;
        }
        if (n < 0) {
            /* the read side sees the end of the connection and handles
             * it; never call back into the caller from here */
            vm_log_debug(q->label, "QMP write: %s", g_strerror(errno));
            g_string_truncate(q->outbuf, 0);
            shutdown(q->fd, SHUT_RDWR);
            break;
        }
        g_string_erase(q->outbuf, 0, n);
    }
    remove_source(&q->out_watch);
}

static gboolean
on_writable(gint fd, GIOCondition cond, gpointer data)
{
    struct qmpc *q = data;

    q->out_watch = 0;
    flush(q);
    return G_SOURCE_REMOVE;
}

/* Queues {"execute": COMMAND, "arguments": ARGS, "id": ID}. */
static void
send_command(struct qmpc *q, const char *command, JsonObject *args,
             gint64 id)
{
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, json_node_init_object(json_node_alloc(),
                                                        args));
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = jstrict_to_string(root);
    g_string_append(q->outbuf, text);
    g_string_append_c(q->outbuf, '\n');
    flush(q);
}

/* A reply: complete the pending command with its id. */
static void
complete(struct qmpc *q, const struct qmpc_msg *m)
{
    struct qmpc_pending *pd = NULL;
    g_autoptr(GError) err = NULL;
    gpointer key;

    if (m->id < 0 ||
        !g_hash_table_steal_extended(q->pending, &m->id, &key,
                                     (gpointer *)&pd)) {
        g_autofree char *why = g_strdup_printf(
            "QMP %s with %s id %" G_GINT64_FORMAT,
            m->kind == QMPC_MSG_RETURN ? "reply" : "error",
            m->id < 0 ? "no" : "unknown", m->id);

        lost(q, QMPC_ERROR_PROTOCOL, why);
        return;
    }
    g_free(key);
    if (m->kind == QMPC_MSG_ERROR) {
        err = g_error_new(QMPC_ERROR, QMPC_ERROR_COMMAND, "%s: %s: %s",
                          pd->command, m->error_class, m->error_desc);
    }
    if (pd->cb) {
        pd->cb(q, m, err, pd->opaque);
    }
    pending_free(pd);
}

/* The greeting/negotiation step of the session. */
static void
session_step(struct qmpc *q, const struct qmpc_msg *m)
{
    g_autofree char *why = NULL;

    if (q->state == ST_GREETING && m->kind == QMPC_MSG_GREETING) {
        q->greeting = json_node_ref(m->value);
        q->caps_id = q->next_id++;
        q->state = ST_NEGOTIATING;
        send_command(q, "qmp_capabilities", NULL, q->caps_id);
        return;
    }
    if (q->state == ST_NEGOTIATING && m->kind == QMPC_MSG_RETURN &&
        m->id == q->caps_id) {
        remove_source(&q->timer);
        q->state = ST_READY;
        q->backoff_ms = q->params.backoff_initial_ms;
        q->warned = false;
        vm_log_info(q->label, "QMP connected to %s", q->path);
        if (q->cb.connected) {
            q->cb.connected(q, q->greeting, q->opaque);
        }
        return;
    }
    if (m->kind == QMPC_MSG_ERROR) {
        why = g_strdup_printf("qmp_capabilities failed: %s: %s",
                              m->error_class, m->error_desc);
    } else {
        why = g_strdup_printf("unexpected QMP message while %s",
                              q->state == ST_GREETING ? "waiting for the "
                              "greeting" : "negotiating capabilities");
    }
    lost(q, QMPC_ERROR_PROTOCOL, why);
}

/* One complete line from QEMU.  False: stop reading this chunk. */
static bool
handle_line(const char *line, size_t len, void *opaque)
{
    struct qmpc *q = opaque;
    struct qmpc_msg m;
    g_autoptr(GError) err = NULL;

    if (len == 0) {
        return true;
    }
    if (!qmpc_parse_line(line, len, &m, &err)) {
        lost(q, QMPC_ERROR_PROTOCOL, err->message);
        return false;
    }
    if (m.kind == QMPC_MSG_EVENT && q->state >= ST_NEGOTIATING) {
        if (q->cb.event) {
            q->cb.event(q, &m, q->opaque);
        }
    } else if (q->state == ST_READY && m.kind != QMPC_MSG_GREETING &&
               m.kind != QMPC_MSG_EVENT) {
        complete(q, &m);
    } else if (q->state == ST_READY) {
        lost(q, QMPC_ERROR_PROTOCOL, "unexpected QMP greeting");
    } else {
        session_step(q, &m);
    }
    qmpc_msg_clear(&m);
    return q->state >= ST_GREETING && q->state <= ST_READY;
}

static gboolean
on_readable(gint fd, GIOCondition cond, gpointer data)
{
    struct qmpc *q = qmpc_ref(data);
    g_autoptr(GError) err = NULL;
    char buf[READ_CHUNK];
    ssize_t n;

    n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        if (!qmpc_splitter_feed(&q->split, buf, (size_t)n, handle_line, q,
                                &err) && err) {
            lost(q, QMPC_ERROR_PROTOCOL, err->message);
        }
    } else if (n == 0) {
        lost(q, QMPC_ERROR_DISCONNECTED, "QEMU closed the QMP socket");
    } else if (errno != EAGAIN && errno != EINTR) {
        int e = errno;
        g_autofree char *why = g_strdup_printf("QMP read: %s",
                                               g_strerror(e));

        lost(q, QMPC_ERROR_DISCONNECTED, why);
    }
    qmpc_unref(q);
    /* lost() removed this source if it ended the session */
    return G_SOURCE_CONTINUE;
}

static gboolean
on_greeting_timeout(gpointer data)
{
    struct qmpc *q = data;
    g_autofree char *why = g_strdup_printf(
        "no QMP greeting and negotiation within %u ms",
        q->params.greeting_timeout_ms);

    q->timer = 0;
    lost(q, QMPC_ERROR_TIMEOUT, why);
    return G_SOURCE_REMOVE;
}

/* Connected: wait for the greeting, within the timeout. */
static void
start_session(struct qmpc *q)
{
    q->state = ST_GREETING;
    q->in_watch = g_unix_fd_add_full(QMPC_PRIORITY, q->fd,
                                     G_IO_IN | G_IO_HUP | G_IO_ERR,
                                     on_readable, q, NULL);
    q->timer = g_timeout_add_full(QMPC_PRIORITY,
                                  q->params.greeting_timeout_ms,
                                  on_greeting_timeout, q, NULL);
}

static gboolean
on_connected(gint fd, GIOCondition cond, gpointer data)
{
    struct qmpc *q = data;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    q->in_watch = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
        soerr = errno;
    }
    if (soerr != 0) {
        lost_errno(q, "QMP connect", soerr);
    } else {
        start_session(q);
    }
    return G_SOURCE_REMOVE;
}

static void
attempt_connect(struct qmpc *q)
{
    struct sockaddr_un sa;

    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->fd < 0) {
        lost_errno(q, "QMP socket", errno);
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, q->path, strlen(q->path));     /* checked in new */
    if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        start_session(q);
    } else if (errno == EINPROGRESS || errno == EAGAIN) {
        q->state = ST_CONNECTING;
        q->in_watch = g_unix_fd_add_full(QMPC_PRIORITY, q->fd, G_IO_OUT,
                                         on_connected, q, NULL);
    } else {
        lost_errno(q, "QMP connect", errno);
    }
}

struct qmpc *
qmpc_new(const char *path, const char *label, const struct qmpc_callbacks *cb,
         void *opaque, const struct qmpc_params *params, GError **error)
{
    struct sockaddr_un sa;
    struct qmpc *q;

    if (strlen(path) == 0 || strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(error, QMPC_ERROR, QMPC_ERROR_CONNECT,
                    "QMP socket path '%s' is empty or longer than %zu bytes",
                    path, sizeof(sa.sun_path) - 1);
        return NULL;
    }
    q = g_new0(struct qmpc, 1);
    q->refs = 1;
    q->path = g_strdup(path);
    q->label = g_strdup(label);
    if (cb) {
        q->cb = *cb;
    }
    q->opaque = opaque;
    if (params) {
        q->params = *params;
    }
    if (!q->params.backoff_initial_ms) {
        q->params.backoff_initial_ms = 100;
    }
    if (!q->params.backoff_max_ms) {
        q->params.backoff_max_ms = 5000;
    }
    if (!q->params.greeting_timeout_ms) {
        q->params.greeting_timeout_ms = 5000;
    }
    if (!q->params.max_line) {
        q->params.max_line = QMPC_MAX_LINE;
    }
    q->backoff_ms = q->params.backoff_initial_ms;
    q->state = ST_IDLE;
    q->fd = -1;
    qmpc_splitter_init(&q->split, q->params.max_line);
    q->outbuf = g_string_new(NULL);
    q->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                       pending_free);
    q->next_id = 1;
    return q;
}

struct qmpc *
qmpc_ref(struct qmpc *q)
{
    g_atomic_int_inc(&q->refs);
    return q;
}

void
qmpc_close(struct qmpc *q)
{
    if (q->state == ST_CLOSED) {
        return;
    }
    qmpc_ref(q);
    drop_connection(q, QMPC_ERROR_CANCELLED, "QMP client closed", false);
    q->state = ST_CLOSED;
    qmpc_unref(q);
}

void
qmpc_unref(struct qmpc *q)
{
    if (!q || !g_atomic_int_dec_and_test(&q->refs)) {
        return;
    }
    if (q->state != ST_CLOSED) {
        /* callbacks of the cancellation may take and drop references */
        q->refs = 1;
        qmpc_close(q);
        if (!g_atomic_int_dec_and_test(&q->refs)) {
            return;
        }
    }
    qmpc_splitter_clear(&q->split);
    g_string_free(q->outbuf, TRUE);
    g_hash_table_unref(q->pending);
    g_free(q->path);
    g_free(q->label);
    g_free(q);
}

void
qmpc_start(struct qmpc *q)
{
    if (q->state == ST_IDLE) {
        attempt_connect(q);
    } else if (q->state == ST_WAIT_RETRY) {
        remove_source(&q->timer);
        attempt_connect(q);
    }
}

pid_t
qmpc_peer_pid(const struct qmpc *q)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (q->fd < 0 || (q->state != ST_GREETING && q->state != ST_READY &&
                      q->state != ST_NEGOTIATING)) {
        return 0;
    }
    if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return 0;
    }
    return cred.pid;
}

bool
qmpc_is_ready(const struct qmpc *q)
{
    return q->state == ST_READY;
}

bool
qmpc_command(struct qmpc *q, const char *command, JsonObject *args,
             qmpc_reply_fn cb, void *opaque, GError **error)
{
    struct qmpc_pending *pd;
    gint64 *key;
    const char *p;

    if (q->state != ST_READY) {
        g_set_error(error, QMPC_ERROR, QMPC_ERROR_NOT_CONNECTED,
                    "%s: no QMP session with %s", command, q->path);
        return false;
    }
    for (p = command; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_') {
            break;
        }
    }
    if (*command == '\0' || *p != '\0') {
        g_set_error(error, QMPC_ERROR, QMPC_ERROR_PROTOCOL,
                    "invalid QMP command name '%s'", command);
        return false;
    }
    pd = g_new0(struct qmpc_pending, 1);
    pd->command = g_strdup(command);
    pd->cb = cb;
    pd->opaque = opaque;
    key = g_new(gint64, 1);
    *key = q->next_id++;
    g_hash_table_insert(q->pending, key, pd);
    send_command(q, command, args, *key);
    return true;
}
