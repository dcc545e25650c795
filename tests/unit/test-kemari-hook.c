/*
 * test-kemari-hook.c - the built hook, run as libvirt runs it
 *
 * argv "DOMAIN OP SUBOP EXTRA", the domain XML on stdin, over every file
 * of tests/unit/hook-domains/:
 *   plain-*       no <kemari>: exit 0, nothing printed
 *   allow-*       protected, every device allowed: exit 0, nothing printed
 *   refuse-*, bad-kemari-*
 *                 exit 1, one "kemari: DOMAIN: PROBLEM" line per problem
 * What each prints is compared with tests/unit/golden/
 * kemari-hook-domains.out (KEMARI_REGENERATE=1 rewrites it).  A domain
 * allowed to start has the state files of its replicated disks sealed
 * ($KEMARI_STATE_DIR/disks/DOMAIN); one refused, or without <kemari>,
 * leaves them alone.
 *
 * started/stopped/release talk to a fake kemarid (a thread serving a
 * UNIX socket, $KEMARI_SOCKET): one request line, then exit 0 whatever
 * kemarid does (answers, answers an error, stays silent, is absent).
 * reconnect and other operations exit 0 without reading stdin.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <gio/gio.h>

#include "ctlproto.h"
#include "golden-file.h"
#include "kemarixml.h"

#define EMULATOR "/usr/libexec/kemari/qemu-system-x86_64"

/* ------------------------------------------------------------------ */
/* Running the hook */

struct run {
    int status;                 /* exit status, -1 if killed */
    char *out;                  /* owned: stdout */
    char *err;                  /* owned: stderr */
    gint64 elapsed_ms;
};

static void
run_clear(struct run *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* $KEMARI_STATE_DIR of the hooks run_hook() runs */
static const char *hook_state_dir = "/nonexistent/kemari-state";

/*
 * Runs the hook with DOMAIN OP, stdin from STDIN_FD (taken), and
 * KEMARI_SOCKET set to SOCKET (NULL: a path where nothing listens).
 */
static void
run_hook(const char *domain, const char *op, int stdin_fd,
         const char *socket_path, struct run *r)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) err = NULL;
    gint64 start = g_get_monotonic_time();

    g_subprocess_launcher_setenv(l, "KEMARI_QEMU_EMULATOR", EMULATOR, TRUE);
    g_subprocess_launcher_setenv(l, "KEMARI_STATE_DIR", hook_state_dir, TRUE);
    g_subprocess_launcher_setenv(l, "KEMARI_SOCKET",
                                 socket_path ? socket_path
                                             : "/nonexistent/kemarid.sock",
                                 TRUE);
    g_subprocess_launcher_take_stdin_fd(l, stdin_fd);
    p = g_subprocess_launcher_spawn(l, &err, KEMARI_HOOK, domain, op,
                                    strcmp(op, "prepare") == 0 ? "begin"
                                                               : "-",
                                    "-", NULL);
    if (!p) {
        fail_msg("cannot run %s: %s", KEMARI_HOOK, err->message);
    }
    if (!g_subprocess_communicate_utf8(p, NULL, NULL, &r->out, &r->err,
                                       &err)) {
        fail_msg("%s: %s", KEMARI_HOOK, err->message);
    }
    r->elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    r->status = g_subprocess_get_if_exited(p)
                    ? g_subprocess_get_exit_status(p) : -1;
}

static int
open_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fail_msg("%s: %s", path, g_strerror(errno));
    }
    return fd;
}

/* The domain name of the XML file PATH, as libvirt passes it. */
static char *
domain_name(const char *path)
{
    g_autofree char *xml = NULL;
    g_autoptr(kemarixml_doc) d = NULL;
    g_autoptr(GError) err = NULL;
    size_t len;

    assert_true(g_file_get_contents(path, &xml, &len, &err));
    d = kemarixml_parse(xml, len, &err);
    if (!d) {
        fail_msg("%s: %s", path, err->message);
    }
    return g_strdup(kemarixml_doc_name(d));
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The .xml files of hook-domains/, sorted. */
static GPtrArray *
domain_files(void)
{
    g_autofree char *dir = golden_srcpath("tests/unit/hook-domains");
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &err);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!d) {
        fail_msg("%s", err->message);
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        if (g_str_has_suffix(name, ".xml")) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_ptr_array_sort(names, by_name);
    return names;
}

/* ------------------------------------------------------------------ */
/* prepare over the table of domains */

static void
test_prepare_domains(void **state)
{
    g_autoptr(GPtrArray) files = domain_files();
    GString *out = g_string_new(NULL);
    unsigned i, j, plain = 0, allowed = 0, refused = 0;

    (void)state;
    for (i = 0; i < files->len; i++) {
        const char *name = g_ptr_array_index(files, i);
        g_autofree char *rel = g_strconcat("tests/unit/hook-domains/", name,
                                           NULL);
        g_autofree char *path = golden_srcpath(rel);
        g_autofree char *domain = domain_name(path);
        g_autofree char *prefix = g_strdup_printf("kemari: %s: ", domain);
        g_auto(GStrv) lines = NULL;
        struct run r;

        run_hook(domain, "prepare", open_file(path), NULL, &r);
        assert_string_equal(r.out, "");
        if (g_str_has_prefix(name, "plain-") ||
            g_str_has_prefix(name, "allow-")) {
            if (r.status != 0 || *r.err) {
                fail_msg("%s: exit %d: %s", name, r.status, r.err);
            }
            if (*name == 'p') {
                plain++;
            } else {
                allowed++;
            }
        } else {
            assert_true(g_str_has_prefix(name, "refuse-") ||
                        g_str_has_prefix(name, "bad-kemari-"));
            if (r.status != 1 || !*r.err) {
                fail_msg("%s: exit %d, expected 1 and messages", name,
                         r.status);
            }
            lines = g_strsplit(r.err, "\n", -1);
            for (j = 0; lines[j + 1]; j++) {
                /* one problem per line, each with the domain's name */
                assert_true(g_str_has_prefix(lines[j], prefix));
            }
            assert_string_equal(lines[j], "");
            refused++;
        }
        g_string_append_printf(out, "%s: exit %d\n", name, r.status);
        if (lines) {
            for (j = 0; lines[j] && *lines[j]; j++) {
                g_string_append_printf(out, "  %s\n", lines[j]);
            }
        }
        run_clear(&r);
    }
    assert_true(plain >= 2);
    assert_true(allowed >= 3);
    assert_true(refused >= 40);
    golden("kemari-hook-domains.out", out->str);
    g_string_free(out, TRUE);
}

/* A domain without <kemari> is not even parsed: no limit applies. */
static void
test_prepare_large(void **state)
{
    g_autofree char *tmp = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *big = g_malloc(KEMARIXML_MAX_SIZE + 100);
    size_t head;
    int fd;
    struct run r;

    (void)state;
    fd = g_file_open_tmp("kemari-hook-XXXXXX.xml", &tmp, &err);
    assert_true(fd >= 0);
    close(fd);
    memset(big, ' ', KEMARIXML_MAX_SIZE + 100);
    head = strlen("<domain><name>big</name>");
    memcpy(big, "<domain><name>big</name>", head);
    memcpy(big + KEMARIXML_MAX_SIZE + 100 - 9, "</domain>", 9);
    assert_true(g_file_set_contents(tmp, big, KEMARIXML_MAX_SIZE + 100,
                                    &err));
    run_hook("big", "prepare", open_file(tmp), NULL, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    run_clear(&r);

    /* the same size with <kemari>: refused, saying why */
    memcpy(big + head, "<metadata><kemari:kemari xmlns:kemari='"
           KEMARIXML_NS "'/></metadata>",
           strlen("<metadata><kemari:kemari xmlns:kemari='" KEMARIXML_NS
                  "'/></metadata>"));
    assert_true(g_file_set_contents(tmp, big, KEMARIXML_MAX_SIZE + 100,
                                    &err));
    run_hook("big", "prepare", open_file(tmp), NULL, &r);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "kemari: big: domain XML: 16777217 bytes "
                        "(allowed: at most 16777216)\n");
    run_clear(&r);
    unlink(tmp);
}

/* ------------------------------------------------------------------ */
/* Operations that must never read nor fail */

static void
test_never_read(void **state)
{
    static const char *const ops[] = {
        "reconnect", "migrate", "restore", "attach", "start", "no-such-op",
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(ops); i++) {
        int p[2];
        struct run r;

        /* stdin stays open and empty: reading would block forever */
        assert_int_equal(pipe(p), 0);
        run_hook("web1", ops[i], p[0], NULL, &r);
        close(p[1]);
        if (r.status != 0 || *r.err || *r.out) {
            fail_msg("%s: exit %d: %s", ops[i], r.status, r.err);
        }
        run_clear(&r);
    }
}

/* ------------------------------------------------------------------ */
/* started, stopped, release and a fake kemarid */

enum fake_mode {
    FAKE_REPLY_OK,
    FAKE_REPLY_ERROR,
    FAKE_SILENT,                /* reads the request, never answers */
};

struct fake_kemarid {
    char *dir;                  /* owned: temporary directory */
    char *path;                 /* owned: socket path */
    int fd;                     /* listening socket */
    int stop[2];                /* a pipe: written by fake_stop() */
    enum fake_mode mode;
    GThread *thread;
    unsigned connections;       /* set by the thread */
    char *request;              /* owned, set by the thread: first line */
};

static gpointer
fake_serve(gpointer data)
{
    struct fake_kemarid *f = data;
    struct pollfd p[2] = {
        { .fd = f->fd, .events = POLLIN },
        { .fd = f->stop[0], .events = POLLIN },
    };
    char buf[4096];
    size_t got = 0;
    int c;

    /* at most one connection, until fake_stop(); one already queued
     * when fake_stop() is called is still accepted */
    if (poll(p, 2, 10000) <= 0 || !(p[0].revents & POLLIN)) {
        return NULL;
    }
    c = accept(f->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    f->connections++;
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);

        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    f->request = g_strdup(buf);
    if (f->mode == FAKE_SILENT) {
        /* until the hook gives up and closes */
        while (read(c, buf, sizeof(buf)) > 0) {
        }
    } else {
        g_autofree char *reply = f->mode == FAKE_REPLY_OK
            ? ctlproto_reply_ok(1, NULL)
            : ctlproto_reply_error(1, CTLPROTO_ERROR_NOT_FOUND,
                                   "no VM web1");

        if (write(c, reply, strlen(reply)) < 0) {
            /* the hook's problem */
        }
    }
    close(c);
    return NULL;
}

static void
fake_start(struct fake_kemarid *f, enum fake_mode mode)
{
    struct sockaddr_un sa;
    g_autoptr(GError) err = NULL;

    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->dir = g_dir_make_tmp("kemari-hook-XXXXXX", &err);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "kemarid.sock", NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    g_strlcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
    f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->fd >= 0);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->fd, 4), 0);
    assert_int_equal(pipe(f->stop), 0);
    f->thread = g_thread_new("fake-kemarid", fake_serve, f);
}

static void
fake_stop(struct fake_kemarid *f)
{
    assert_int_equal(write(f->stop[1], "x", 1), 1);
    g_thread_join(f->thread);
    close(f->stop[0]);
    close(f->stop[1]);
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    /* f->request stays for the test to look at: it frees it */
}

static char *
domain_path(const char *file)
{
    g_autofree char *rel = g_strconcat("tests/unit/hook-domains/", file,
                                       NULL);

    return golden_srcpath(rel);
}

static void
test_notify_ok(void **state)
{
    static const char *const ops[] = { "started", "stopped", "release" };
    g_autofree char *path = domain_path("allow-minimal.xml");
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(ops); i++) {
        struct fake_kemarid f;
        struct ctlproto_request req;
        g_autoptr(GError) err = NULL;
        struct run r;

        fake_start(&f, FAKE_REPLY_OK);
        run_hook("web1", ops[i], open_file(path), f.path, &r);
        fake_stop(&f);
        if (r.status != 0 || *r.err || *r.out) {
            fail_msg("%s: exit %d: %s", ops[i], r.status, r.err);
        }
        /* exactly one request line, a valid one about this VM */
        assert_int_equal(f.connections, 1);
        assert_non_null(f.request);
        assert_true(strchr(f.request, '\n') ==
                    f.request + strlen(f.request) - 1);
        if (!ctlproto_request_parse(f.request, strlen(f.request) - 1, &req,
                                    &err)) {
            fail_msg("%s: %s: %s", ops[i], f.request, err->message);
        }
        assert_int_equal(req.command, CTLPROTO_CMD_HOOK_EVENT);
        assert_string_equal(req.vm, "web1");
        assert_string_equal(req.op, ops[i]);
        g_free(f.request);
        run_clear(&r);
    }
}

/* A domain without <kemari>: kemarid is not bothered. */
static void
test_notify_not_ours(void **state)
{
    g_autofree char *path = domain_path("plain-no-kemari.xml");
    struct fake_kemarid f;
    struct run r;

    (void)state;
    fake_start(&f, FAKE_REPLY_OK);
    run_hook("plain1", "started", open_file(path), f.path, &r);
    fake_stop(&f);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_int_equal(f.connections, 0);
    assert_null(f.request);
    run_clear(&r);
}

static void
test_notify_failures(void **state)
{
    g_autofree char *path = domain_path("allow-minimal.xml");
    struct fake_kemarid f;
    struct run r;

    (void)state;
    /* nobody listens */
    run_hook("web1", "started", open_file(path), NULL, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "kemari: web1: cannot tell kemarid about "
                        "started: cannot connect to "
                        "/nonexistent/kemarid.sock: No such file or "
                        "directory\n");
    run_clear(&r);

    /* an error reply */
    fake_start(&f, FAKE_REPLY_ERROR);
    run_hook("web1", "stopped", open_file(path), f.path, &r);
    fake_stop(&f);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "kemari: web1: cannot tell kemarid about "
                        "stopped: kemarid answered not-found: no VM web1\n");
    assert_non_null(f.request);
    g_free(f.request);
    run_clear(&r);

    /* kemarid hangs (e.g. itself waiting on libvirt): give up in time */
    fake_start(&f, FAKE_SILENT);
    run_hook("web1", "release", open_file(path), f.path, &r);
    fake_stop(&f);
    assert_int_equal(r.status, 0);
    assert_true(g_str_has_prefix(r.err, "kemari: web1: cannot tell kemarid "
                                 "about release: no reply from "));
    assert_true(r.elapsed_ms >= 900);
    assert_true(r.elapsed_ms < 2500);
    assert_int_equal(f.connections, 1);
    assert_non_null(f.request);
    g_free(f.request);
    run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* Sealing the state of replicated disks at prepare */

/* Writes TEXT to DIR/NAME. */
static void
put_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;

    if (!g_file_set_contents(path, text, -1, &err)) {
        fail_msg("%s", err->message);
    }
}

/* DIR/NAME holds WANT, or there is no such file if WANT is "-". */
static void
assert_file(const char *dir, const char *name, const char *want)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        text = g_strdup("-");
    }
    assert_string_equal(text, want);
}

/* Runs prepare for hook-domains/FILE, whose domain is DOMAIN. */
static int
prepare_file(const char *file, const char *domain)
{
    g_autofree char *rel = g_strconcat("tests/unit/hook-domains/", file, NULL);
    g_autofree char *path = golden_srcpath(rel);
    struct run r;
    int status;

    run_hook(domain, "prepare", open_file(path), NULL, &r);
    status = r.status;
    run_clear(&r);
    return status;
}

static void
test_prepare_seals(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *top = g_dir_make_tmp("kemari-hook-state-XXXXXX", &err);
    g_autofree char *dir = NULL;
    g_autofree char *disks = NULL;
    const char *names[] = { "vdisk0.kemari-disk", "vdisk0.kemari-disk.sealed",
                            "vdisk1.kemari-disk.sealed", "notes.txt" };
    unsigned i;

    (void)state;
    assert_non_null(top);
    hook_state_dir = top;
    dir = g_build_filename(top, "disks", "a-replicated-local", NULL);
    assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
    put_file(dir, "vdisk0.kemari-disk", "state of vdisk0");
    put_file(dir, "vdisk1.kemari-disk.sealed", "left by an earlier launch");
    put_file(dir, "notes.txt", "not ours");

    /* refused, or not protected: nothing is touched */
    assert_int_equal(prepare_file("refuse-file-disk-local.xml",
                                  "a-replicated-local"), 1);
    assert_int_equal(prepare_file("plain-no-kemari.xml",
                                  "a-replicated-local"), 0);
    assert_file(dir, "vdisk0.kemari-disk", "state of vdisk0");

    /* allowed: sealed; what an earlier launch left sealed is gone */
    assert_int_equal(prepare_file("allow-replicated-local.xml",
                                  "a-replicated-local"), 0);
    assert_file(dir, "vdisk0.kemari-disk", "-");
    assert_file(dir, "vdisk0.kemari-disk.sealed", "state of vdisk0");
    assert_file(dir, "vdisk1.kemari-disk.sealed", "-");
    assert_file(dir, "notes.txt", "not ours");

    /* started again without a QEMU that took it up: the seal is removed */
    assert_int_equal(prepare_file("allow-replicated-local.xml",
                                  "a-replicated-local"), 0);
    assert_file(dir, "vdisk0.kemari-disk.sealed", "-");

    /* a domain that keeps no state: nothing to do */
    assert_int_equal(prepare_file("allow-minimal.xml", "a-minimal"), 0);

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_build_filename(dir, names[i], NULL);

        unlink(path);
    }
    rmdir(dir);
    disks = g_build_filename(top, "disks", NULL);
    rmdir(disks);
    rmdir(top);
    hook_state_dir = "/nonexistent/kemari-state";
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_domains),
        cmocka_unit_test(test_prepare_large),
        cmocka_unit_test(test_prepare_seals),
        cmocka_unit_test(test_never_read),
        cmocka_unit_test(test_notify_ok),
        cmocka_unit_test(test_notify_not_ours),
        cmocka_unit_test(test_notify_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
