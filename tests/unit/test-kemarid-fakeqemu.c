/*
 * test-kemarid-fakeqemu.c - scripted fake QEMU (see the header)
 *
 * Deliberately independent of daemon/qmpc.c: its own line handling and
 * plain json-glib comparisons, so that a bug in the client cannot hide
 * itself in the fake.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "test-kemarid-fakeqemu.h"

#define MAX_IDS 16

struct fakeqemu {
    const struct fq_step *script;
    unsigned step;              /* current step */
    int listen_fd;
    int fd;                     /* client, -1 when none */
    guint listen_watch, client_watch, chunk_timer;
    GString *in;                /* partial request line */
    size_t chunk_off;           /* FQ_SEND_SPLIT progress */
    gint64 ids[MAX_IDS];        /* ids of expected requests, last first */
    unsigned n_ids;
    unsigned connections;
    char *error;                /* first deviation */
};

static void run(struct fakeqemu *f);

static void G_GNUC_PRINTF(2, 3)
deviate(struct fakeqemu *f, const char *fmt, ...)
{
    va_list ap;

    if (f->error) {
        return;
    }
    va_start(ap, fmt);
    f->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static void
close_client(struct fakeqemu *f)
{
    if (f->client_watch) {
        g_source_remove(f->client_watch);
        f->client_watch = 0;
    }
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    g_string_truncate(f->in, 0);
}

static void
send_all(struct fakeqemu *f, const char *text, size_t len)
{
    while (len > 0 && f->fd >= 0) {
        ssize_t n = send(f->fd, text, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            /* the client hung up (tests of failures do that) */
            close_client(f);
            return;
        }
        if (n < 0) {
            deviate(f, "send: %s", g_strerror(errno));
            return;
        }
        text += n;
        len -= (size_t)n;
    }
}

/* Compares request LINE with the expected TEXT, "id" aside. */
static void
check_request(struct fakeqemu *f, const char *line, const char *text)
{
    g_autoptr(JsonNode) got = json_from_string(line, NULL);
    g_autoptr(JsonNode) want = json_from_string(text, NULL);
    JsonObject *o;

    if (!got || !JSON_NODE_HOLDS_OBJECT(got) || !want) {
        deviate(f, "step %u: request '%s' is not a JSON object", f->step,
                line);
        return;
    }
    o = json_node_get_object(got);
    if (!json_object_has_member(o, "id")) {
        deviate(f, "step %u: request '%s' has no id", f->step, line);
        return;
    }
    memmove(f->ids + 1, f->ids, sizeof(f->ids[0]) * (MAX_IDS - 1));
    f->ids[0] = json_object_get_int_member(o, "id");
    f->n_ids = MIN(f->n_ids + 1, MAX_IDS);
    json_object_remove_member(o, "id");
    if (!json_node_equal(got, want)) {
        g_autofree char *shown = json_to_string(got, FALSE);

        deviate(f, "step %u: expected %s, got %s", f->step, text, shown);
    }
}

static gboolean
on_client(gint fd, GIOCondition cond, gpointer data)
{
    struct fakeqemu *f = data;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    char *nl;

    if (n <= 0) {
        if (f->script[f->step].op == FQ_EXPECT) {
            deviate(f, "step %u: client closed while expecting %s", f->step,
                    f->script[f->step].text);
        }
        f->client_watch = 0;
        close_client(f);
        run(f);
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(f->in, buf, n);
    while ((nl = memchr(f->in->str, '\n', f->in->len)) != NULL) {
        g_autofree char *line = g_strndup(f->in->str,
                                          (gsize)(nl - f->in->str));

        g_string_erase(f->in, 0, nl - f->in->str + 1);
        if (f->script[f->step].op != FQ_EXPECT) {
            deviate(f, "step %u: unexpected request %s", f->step, line);
            continue;
        }
        check_request(f, line, f->script[f->step].text);
        f->step++;
        run(f);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_listen(gint fd, GIOCondition cond, gpointer data)
{
    struct fakeqemu *f = data;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (c < 0) {
        return G_SOURCE_CONTINUE;
    }
    close_client(f);
    f->fd = c;
    f->connections++;
    f->client_watch = g_unix_fd_add(c, G_IO_IN | G_IO_HUP, on_client, f);
    f->listen_watch = 0;
    f->step++;
    run(f);
    return G_SOURCE_REMOVE;
}

static gboolean
on_chunk(gpointer data)
{
    struct fakeqemu *f = data;
    const struct fq_step *s = &f->script[f->step];
    size_t len = strlen(s->text);
    size_t n = MIN((size_t)s->arg, len - f->chunk_off);

    send_all(f, s->text + f->chunk_off, n);
    f->chunk_off += n;
    if (f->chunk_off < len) {
        return G_SOURCE_CONTINUE;
    }
    f->chunk_timer = 0;
    f->chunk_off = 0;
    f->step++;
    run(f);
    return G_SOURCE_REMOVE;
}

/* Plays steps until one has to wait. */
static void
run(struct fakeqemu *f)
{
    for (;;) {
        const struct fq_step *s = &f->script[f->step];

        switch (s->op) {
        case FQ_END:
        case FQ_EXPECT:
            return;
        case FQ_ACCEPT:
            if (!f->listen_watch) {
                f->listen_watch = g_unix_fd_add(f->listen_fd, G_IO_IN,
                                                on_listen, f);
            }
            return;
        case FQ_SEND:
            send_all(f, s->text, strlen(s->text));
            break;
        case FQ_SEND_SPLIT:
            if (!f->chunk_timer) {
                f->chunk_timer = g_timeout_add(5, on_chunk, f);
            }
            return;
        case FQ_REPLY: {
            g_autoptr(JsonNode) n = json_from_string(s->text, NULL);
            g_autofree char *text = NULL;

            if (s->arg >= f->n_ids || !n || !JSON_NODE_HOLDS_OBJECT(n)) {
                deviate(f, "step %u: bad FQ_REPLY", f->step);
                return;
            }
            json_object_set_int_member(json_node_get_object(n), "id",
                                       f->ids[s->arg]);
            text = json_to_string(n, FALSE);
            send_all(f, text, strlen(text));
            send_all(f, "\n", 1);
            break;
        }
        case FQ_CLOSE:
            close_client(f);
            break;
        }
        f->step++;
    }
}

struct fakeqemu *
fakeqemu_new(const char *path, const struct fq_step *script)
{
    struct fakeqemu *f = g_new0(struct fakeqemu, 1);
    struct sockaddr_un sa;

    f->script = script;
    f->fd = -1;
    f->in = g_string_new(NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    g_assert(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path));
    unlink(path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
                          SOCK_CLOEXEC, 0);
    g_assert(f->listen_fd >= 0);
    if (bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(f->listen_fd, 4) < 0) {
        g_error("fake QEMU: %s: %s", path, g_strerror(errno));
    }
    run(f);
    return f;
}

void
fakeqemu_free(struct fakeqemu *f)
{
    if (!f) {
        return;
    }
    close_client(f);
    if (f->listen_watch) {
        g_source_remove(f->listen_watch);
    }
    if (f->chunk_timer) {
        g_source_remove(f->chunk_timer);
    }
    close(f->listen_fd);
    g_string_free(f->in, TRUE);
    g_free(f->error);
    g_free(f);
}

bool
fakeqemu_done(const struct fakeqemu *f)
{
    return f->script[f->step].op == FQ_END;
}

const char *
fakeqemu_error(const struct fakeqemu *f)
{
    return f->error;
}

unsigned
fakeqemu_connections(const struct fakeqemu *f)
{
    return f->connections;
}
