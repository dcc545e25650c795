/*
 * membership-probe.c - the membership module on a main loop, for tests
 *
 * Prints one JSON line per callback on stdout (line-buffered):
 *
 *   {"event":"up","local":N}
 *   {"event":"down","reason":"..."}
 *   {"event":"view","quorate":B,"nodes":[..],"daemons":[..],
 *    "local":N,"ring_seq":N}
 *   {"event":"message","from":N,"text":"..."}
 *
 * each with a last member "t_ms", the wall-clock time of the callback in
 * milliseconds since the epoch (so that shell tests can measure delays).
 * Every line read on stdin (without its newline) is sent as a group
 * message.  With --status FILE, FILE is replaced atomically (temporary
 * file + rename) by the last view line, or by the down line while down,
 * so that a test polling it never acts on a view that no longer holds.
 *
 * usage: membership-probe [--status FILE] [--group NAME]
 *                         [--backoff-initial MS] [--backoff-max MS] [-v]
 * Logs of the module go to stderr.  SIGTERM/SIGINT: leave and exit 0.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "jsonstrict.h"
#include "log.h"
#include "membership.h"

struct probe {
    GMainLoop *loop;
    struct membership *memb;
    char *status;               /* --status FILE or NULL */
    GString *in;                /* stdin bytes not yet a full line */
    guint in_watch;
};

static gint64
now_ms(void)
{
    return g_get_real_time() / 1000;
}

/* Ends B's object with "t_ms", prints it as a line, returns the text. */
static char *
finish_line(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = NULL;
    char *text;

    json_builder_set_member_name(b, "t_ms");
    json_builder_add_int_value(b, now_ms());
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = jstrict_to_string(root);
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return text;
}

static void
write_status(struct probe *p, const char *line)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;

    if (!p->status) {
        return;
    }
    text = g_strconcat(line, "\n", NULL);
    /* g_file_set_contents writes a temporary file and renames it */
    if (!g_file_set_contents(p->status, text, -1, &err)) {
        log_warnx("status file: %s", err->message);
    }
}

static JsonBuilder *
begin_line(const char *event)
{
    JsonBuilder *b = json_builder_new_immutable();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, event);
    return b;
}

static void
on_up(struct membership *m, uint32_t local_node, void *opaque)
{
    g_autoptr(JsonBuilder) b = begin_line("up");
    g_autofree char *line = NULL;

    json_builder_set_member_name(b, "local");
    json_builder_add_int_value(b, local_node);
    line = finish_line(b);
}

static void
on_down(struct membership *m, const GError *why, void *opaque)
{
    struct probe *p = opaque;
    g_autoptr(JsonBuilder) b = begin_line("down");
    g_autofree char *line = NULL;

    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, why ? why->message : "unknown");
    line = finish_line(b);
    write_status(p, line);
}

static void
add_ids(JsonBuilder *b, const char *name, const uint32_t *ids, size_t n)
{
    size_t i;

    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (i = 0; i < n; i++) {
        json_builder_add_int_value(b, ids[i]);
    }
    json_builder_end_array(b);
}

static void
on_view(struct membership *m, const struct membership_view *v, void *opaque)
{
    struct probe *p = opaque;
    g_autoptr(JsonBuilder) b = begin_line("view");
    g_autofree char *line = NULL;

    json_builder_set_member_name(b, "quorate");
    json_builder_add_boolean_value(b, v->quorate);
    add_ids(b, "nodes", v->nodes, v->n_nodes);
    add_ids(b, "daemons", v->daemons, v->n_daemons);
    json_builder_set_member_name(b, "local");
    json_builder_add_int_value(b, v->local_node);
    json_builder_set_member_name(b, "ring_seq");
    json_builder_add_int_value(b, (gint64)v->ring_seq);
    line = finish_line(b);
    write_status(p, line);
}

static void
on_message(struct membership *m, uint32_t from, const void *buf, size_t len,
           void *opaque)
{
    g_autoptr(JsonBuilder) b = begin_line("message");
    g_autofree char *text = g_utf8_make_valid(buf, (gssize)len);
    g_autofree char *line = NULL;

    json_builder_set_member_name(b, "from");
    json_builder_add_int_value(b, from);
    json_builder_set_member_name(b, "text");
    json_builder_add_string_value(b, text);
    line = finish_line(b);
}

static void
send_line(struct probe *p, const char *line, size_t len)
{
    g_autoptr(GError) err = NULL;

    if (!membership_send(p->memb, line, len, &err)) {
        log_warnx("send: %s", err->message);
    }
}

static gboolean
on_stdin(gint fd, GIOCondition cond, gpointer data)
{
    struct probe *p = data;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        /* end of input: keep following the cluster */
        if (n < 0) {
            log_warn("stdin");
        }
        p->in_watch = 0;
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(p->in, buf, n);
    while ((nl = memchr(p->in->str, '\n', p->in->len)) != NULL) {
        size_t len = (size_t)(nl - p->in->str);

        send_line(p, p->in->str, len);
        g_string_erase(p->in, 0, (gssize)len + 1);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_signal(gpointer data)
{
    struct probe *p = data;

    g_main_loop_quit(p->loop);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    static const struct membership_callbacks cb = {
        .up = on_up,
        .down = on_down,
        .view = on_view,
        .message = on_message,
    };
    struct membership_params params = { 0 };
    struct probe p = { 0 };
    g_autofree char *group = NULL;
    gint backoff_initial = 0, backoff_max = 0;
    gboolean verbose = FALSE;
    g_autoptr(GError) err = NULL;
    g_autoptr(GOptionContext) ctx = NULL;
    GOptionEntry entries[] = {
        { "status", 0, 0, G_OPTION_ARG_FILENAME, &p.status,
          "replace FILE with the last view line", "FILE" },
        { "group", 0, 0, G_OPTION_ARG_STRING, &group,
          "CPG group [kemari]", "NAME" },
        { "backoff-initial", 0, 0, G_OPTION_ARG_INT, &backoff_initial,
          "first reconnect delay [200]", "MS" },
        { "backoff-max", 0, 0, G_OPTION_ARG_INT, &backoff_max,
          "reconnect delay cap [5000]", "MS" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
          "debug logs", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };

    log_init("membership-probe", 1, LOG_LEVEL_INFO);
    ctx = g_option_context_new("- print corosync membership events");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fatalx("%s", err->message);
    }
    if (argc != 1 || backoff_initial < 0 || backoff_max < 0) {
        fatalx("usage: membership-probe [--status FILE] [--group NAME] "
               "[--backoff-initial MS] [--backoff-max MS] [-v]");
    }
    if (verbose) {
        log_set_verbosity(LOG_LEVEL_DEBUG);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    params.group = group;
    params.backoff_initial_ms = (unsigned)backoff_initial;
    params.backoff_max_ms = (unsigned)backoff_max;
    p.loop = g_main_loop_new(NULL, FALSE);
    p.in = g_string_new(NULL);
    p.memb = membership_new(&cb, &p, &params);
    if (!g_unix_set_fd_nonblocking(STDIN_FILENO, TRUE, &err)) {
        log_warnx("stdin: %s", err->message);
        g_clear_error(&err);
    }
    p.in_watch = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP, on_stdin,
                               &p);
    g_unix_signal_add(SIGTERM, on_signal, &p);
    g_unix_signal_add(SIGINT, on_signal, &p);
    membership_start(p.memb);
    g_main_loop_run(p.loop);

    membership_free(p.memb);
    if (p.in_watch) {
        g_source_remove(p.in_watch);
    }
    g_string_free(p.in, TRUE);
    g_main_loop_unref(p.loop);
    g_free(p.status);
    return 0;
}
