/*
 * test-kemari-cli.c - kemari(1) against a fake kemarid
 *
 * Each test runs the built kemari binary (KEMARI_CLI) as a child and
 * serves its control connection from a thread: a UNIX socket server
 * that checks every request line against a script, byte for byte, and
 * answers the scripted replies.  "@ID@" in a script stands for the id
 * the request must carry (1, 2, ... on the connection).  The server
 * also checks that kemari leaves without a request beyond the script.
 *
 * Covered: the status table and --json; nodes; every error code and its
 * exit status; an unreachable daemon; malformed replies; bad command
 * lines; start following PAIRING and SYNCING to PROTECTED, and failing
 * with a new last-error; start's --replicate in the request and its
 * usage errors; stop; failover; --no-wait; --timeout; stats
 * --count; where the socket path comes from (--socket, KEMARI_SOCKET,
 * --config, KEMARI_CONFIG) and configuration errors.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>

#ifndef KEMARI_CLI
#error "KEMARI_CLI must name the kemari binary under test"
#endif

#define FAKE_TIMEOUT_MS 10000   /* the fake gives up on a silent client */

/* ------------------------------------------------------------------ */
/* Scripts */

/* A request line (no '\n') with the given command and args object. */
#define REQ(cmd, args) \
    "{\"version\":1,\"id\":@ID@,\"command\":\"" cmd "\",\"args\":" args "}"
/* A reply line with RESULT. */
#define OK(result) \
    "{\"version\":1,\"id\":@ID@,\"ok\":true,\"result\":" result "}\n"
#define ERR(code, msg) \
    "{\"version\":1,\"id\":@ID@,\"ok\":false,\"error\":{\"code\":\"" code \
    "\",\"message\":\"" msg "\"}}\n"

struct step {
    const char *expect;         /* request line expected; NULL: read none */
    const char *reply;          /* text sent then; NULL: nothing */
    bool hangup;                /* then close the connection */
};

/* Strings built by a test, freed when the program ends. */
static GPtrArray *garbage;

static const char *
keep(char *s)
{
    g_ptr_array_add(garbage, s);
    return s;
}

/* ------------------------------------------------------------------ */
/* The fake kemarid */

struct fake {
    char *dir;                  /* owned temporary directory */
    char *path;                 /* owned socket path in dir */
    int lfd;                    /* listening socket */
    const struct step *steps;
    unsigned n_steps;
    bool repeat_last;           /* answer the last step until EOF */
    GThread *thread;
    GString *problems;          /* what the server found wrong */
    unsigned requests;          /* request lines read */
};

static char *
subst_id(const char *tmpl, unsigned id)
{
    g_autofree char *num = g_strdup_printf("%u", id);
    g_auto(GStrv) parts = g_strsplit(tmpl, "@ID@", -1);

    return g_strjoinv(num, parts);
}

/* One line from FD (without '\n'), or NULL on EOF, error or timeout. */
static char *
fake_read_line(int fd, GString *in)
{
    char buf[4096];
    char *nl;

    while (!(nl = memchr(in->str, '\n', in->len))) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, FAKE_TIMEOUT_MS) <= 0) {
            return NULL;
        }
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return NULL;
        }
        g_string_append_len(in, buf, n);
    }
    {
        char *line = g_strndup(in->str, (gsize)(nl - in->str));

        g_string_erase(in, 0, nl - in->str + 1);
        return line;
    }
}

/* Writes TEXT; errors are ignored (the client may be gone on purpose). */
static void
fake_write(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

        if (n <= 0) {
            return;
        }
        off += (size_t)n;
    }
}

static gpointer
fake_main(gpointer opaque)
{
    struct fake *f = opaque;
    struct pollfd p = { .fd = f->lfd, .events = POLLIN };
    g_autoptr(GString) in = g_string_new(NULL);
    unsigned i = 0;
    int fd;

    if (poll(&p, 1, FAKE_TIMEOUT_MS) <= 0 ||
        (fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        g_string_append(f->problems, "kemari never connected\n");
        return NULL;
    }
    while (i < f->n_steps) {
        const struct step *s = &f->steps[i];
        bool repeating = f->repeat_last && i + 1 == f->n_steps;

        if (s->expect) {
            g_autofree char *line = fake_read_line(fd, in);
            g_autofree char *want = NULL;

            if (!line) {
                if (repeating && f->requests > 0) {
                    goto out;
                }
                g_string_append_printf(f->problems, "step %u: expected %s, "
                                       "got EOF or nothing\n", i, s->expect);
                goto out;
            }
            f->requests++;
            want = subst_id(s->expect, f->requests);
            if (strcmp(line, want) != 0) {
                g_string_append_printf(f->problems, "step %u: expected\n  %s"
                                       "\ngot\n  %s\n", i, want, line);
                goto out;
            }
        }
        if (s->reply) {
            g_autofree char *text = subst_id(s->reply, f->requests);

            fake_write(fd, text);
        }
        if (s->hangup) {
            goto out;
        }
        if (!repeating) {
            i++;
        }
    }
    {
        g_autofree char *extra = fake_read_line(fd, in);

        if (extra) {
            g_string_append_printf(f->problems, "request after the script: "
                                   "%s\n", extra);
        }
    }
out:
    close(fd);
    return NULL;
}

/* A socket path that nobody listens on, in a fresh directory. */
static void
fake_dir(struct fake *f)
{
    g_autoptr(GError) err = NULL;

    memset(f, 0, sizeof(*f));
    f->lfd = -1;
    f->dir = g_dir_make_tmp("kemari-cli-XXXXXX", &err);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "kemarid.sock", NULL);
    f->problems = g_string_new(NULL);
}

/* Listens at f->path and serves STEPS from a thread. */
static void
fake_start(struct fake *f, const struct step *steps, unsigned n,
           bool repeat_last)
{
    struct sockaddr_un sa;

    fake_dir(f);
    f->steps = steps;
    f->n_steps = n;
    f->repeat_last = repeat_last;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    g_strlcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    f->thread = g_thread_new("fake-kemarid", fake_main, f);
}

/* Joins the server, checks it found nothing wrong, removes everything. */
static void
fake_finish(struct fake *f)
{
    g_autofree char *problems = NULL;

    if (f->thread) {
        g_thread_join(f->thread);
    }
    if (f->lfd >= 0) {
        close(f->lfd);
    }
    g_unlink(f->path);
    g_rmdir(f->dir);
    /* tests still print f->path in expected messages */
    keep(f->path);
    keep(f->dir);
    problems = g_string_free(f->problems, FALSE);
    if (problems[0] != '\0') {
        fail_msg("fake kemarid: %s", problems);
    }
}

/* ------------------------------------------------------------------ */
/* Running kemari */

struct run {
    int rc;                     /* exit status, -1 if killed */
    char *out;                  /* owned stdout */
    char *err;                  /* owned stderr */
};

static void
run_clear(struct run *r)
{
    g_free(r->out);
    g_free(r->err);
    memset(r, 0, sizeof(*r));
}

/*
 * Runs kemari with ARGS (NULL-terminated) in a clean environment plus
 * ENV ("NAME=value", NULL-terminated, may be NULL).
 */
static void
run_kemari_env(struct run *r, const char *const *env, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GPtrArray) envp = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    int status = 0;
    unsigned i;

    g_ptr_array_add(argv, (char *)KEMARI_CLI);
    for (i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    g_ptr_array_add(envp, (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    g_ptr_array_add(envp, (char *)"LC_ALL=C");
    g_ptr_array_add(envp, (char *)"TZ=UTC");
    for (i = 0; env && env[i]; i++) {
        g_ptr_array_add(envp, (char *)env[i]);
    }
    g_ptr_array_add(envp, NULL);
    memset(r, 0, sizeof(*r));
    if (!g_spawn_sync(NULL, (char **)argv->pdata, (char **)envp->pdata,
                      G_SPAWN_DEFAULT, NULL, NULL, &r->out, &r->err,
                      &status, &err)) {
        fail_msg("cannot run %s: %s", KEMARI_CLI, err->message);
    }
    r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define run_kemari(r, ...) \
    run_kemari_env((r), NULL, (const char *const[]){ __VA_ARGS__, NULL })

/* The lines of S (without the empty string after the last '\n'). */
static GStrv
lines_of(const char *s)
{
    GStrv l = g_strsplit(s, "\n", -1);
    guint n = g_strv_length(l);

    if (n > 0 && l[n - 1][0] == '\0') {
        g_free(l[n - 1]);
        l[n - 1] = NULL;
    }
    return l;
}

/* The words of LINE, split on runs of spaces. */
static GStrv
words_of(const char *line)
{
    g_auto(GStrv) raw = g_strsplit(line, " ", -1);
    GPtrArray *w = g_ptr_array_new();
    unsigned i;

    for (i = 0; raw[i]; i++) {
        if (raw[i][0] != '\0') {
            g_ptr_array_add(w, g_strdup(raw[i]));
        }
    }
    g_ptr_array_add(w, NULL);
    return (GStrv)g_ptr_array_free(w, FALSE);
}

static void
assert_words(const char *line, const char *const *want)
{
    g_auto(GStrv) got = words_of(line);
    unsigned i;

    for (i = 0; want[i]; i++) {
        if (!got[i] || strcmp(got[i], want[i]) != 0) {
            fail_msg("word %u of '%s': expected '%s'", i, line, want[i]);
        }
    }
    if (got[i]) {
        fail_msg("extra word '%s' in '%s'", got[i], line);
    }
}

/* Column of WORD in LINE (it must be there). */
static long
column_of(const char *line, const char *word)
{
    const char *p = strstr(line, word);

    if (!p) {
        fail_msg("'%s' not in '%s'", word, line);
    }
    return p - line;
}

/* ------------------------------------------------------------------ */
/* Replies used by several tests */

#define STATUS_HEAD \
    "{\"node\":{\"name\":\"node-a\",\"id\":1}," \
    "\"cluster\":{\"membership\":\"up\",\"quorate\":true}," \
    "\"policy\":{\"failover\":\"standalone\",\"reprotect\":\"automatic\"}," \
    "\"kvm-check\":{\"verdict\":\"pass\",\"detail\":null},"

/* A status reply listing one VM.  LAST_ERROR is JSON ("null", "\"x\""). */
static const char *
vm_status(const char *role, const char *state, const char *last_error)
{
    return keep(g_strdup_printf(
        OK(STATUS_HEAD "\"vms\":[{\"name\":\"web1\",\"role\":\"%s\","
           "\"state\":\"%s\",\"peer\":\"node-b\",\"peer-id\":2,\"epoch\":3,"
           "\"protect-wanted\":true,\"since\":1764105600.25,"
           "\"last-error\":%s,\"engine\":null}]}"),
        role, state, last_error));
}

#define STATUS_WEB1 REQ("status", "{\"vm\":\"web1\"}")

/* ------------------------------------------------------------------ */
/* status, nodes */

static void
test_status_table(void **state)
{
    double since = (double)time(NULL) - 65;
    const char *result = keep(g_strdup_printf(
        "{\"node\":{\"name\":\"node-a\",\"id\":1},"
        "\"cluster\":{\"membership\":\"up\",\"quorate\":true},"
        "\"policy\":{\"failover\":\"standalone\",\"reprotect\":\"automatic\"},"
        "\"kvm-check\":{\"verdict\":\"fail\","
        "\"detail\":\"guest_execution: timeout\"},"
        "\"vms\":[{\"name\":\"web1\",\"role\":\"primary\","
        "\"state\":\"PROTECTED\",\"peer\":\"node-b\",\"peer-id\":2,"
        "\"epoch\":3,\"protect-wanted\":true,\"since\":%.2f,"
        "\"last-error\":null,\"engine\":{\"state\":\"protected\","
        "\"checkpoints\":1200,\"acked\":1200,\"checkpoint-bytes-last\":81920,"
        "\"held-packets\":2,\"held-writes\":1,\"held-bytes\":81920}},"
        "{\"name\":\"database-server\",\"role\":\"secondary\","
        "\"state\":\"STANDBY\",\"peer\":null,\"peer-id\":0,\"epoch\":12,"
        "\"protect-wanted\":false,\"since\":%.2f,"
        "\"last-error\":\"node-c refused: busy\",\"engine\":null,"
        "\"future-member\":[1,2]}],\"future\":{}}", since, since - 7200));
    const struct step steps[] = {
        { REQ("status", "{}"),
          keep(g_strdup_printf("{\"version\":1,\"id\":@ID@,\"ok\":true,"
                               "\"result\":%s}\n", result)) },
    };
    struct fake f;
    struct run r;
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) row = NULL;
    const char *age;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "status");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    lines = lines_of(r.out);
    assert_int_equal(g_strv_length(lines), 5);
    assert_string_equal(lines[0], "node node-a (id 1)  membership up  "
                        "quorum yes  kvm-check fail (guest_execution: "
                        "timeout)  failover standalone  reprotect "
                        "automatic");
    assert_words(lines[1], (const char *const[]){
        "VM", "ROLE", "STATE", "PEER", "EPOCH", "CHECKPOINTS", "HELD",
        "SINCE", "AGE", NULL });
    row = words_of(lines[2]);
    assert_int_equal(g_strv_length(row), 9);
    assert_string_equal(row[0], "web1");
    assert_string_equal(row[1], "primary");
    assert_string_equal(row[2], "PROTECTED");
    assert_string_equal(row[3], "node-b");
    assert_string_equal(row[4], "3");
    assert_string_equal(row[5], "1200");
    assert_string_equal(row[6], "80K");
    assert_true(g_regex_match_simple("^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$",
                                     row[7], 0, 0));
    age = row[8];
    assert_true(strcmp(age, "1m05s") == 0 || strcmp(age, "1m06s") == 0);
    g_strfreev(row);
    row = words_of(lines[3]);
    assert_int_equal(g_strv_length(row), 9);
    assert_string_equal(row[0], "database-server");
    assert_string_equal(row[1], "secondary");
    assert_string_equal(row[2], "STANDBY");
    assert_string_equal(row[3], "-");
    assert_string_equal(row[4], "12");
    assert_string_equal(row[5], "-");
    assert_string_equal(row[6], "-");
    assert_string_equal(row[8], "2h01m");
    /* columns line up: left-aligned words start under their header,
     * right-aligned numbers end under theirs */
    assert_int_equal(column_of(lines[1], "STATE"),
                     column_of(lines[2], "PROTECTED"));
    assert_int_equal(column_of(lines[1], "STATE"),
                     column_of(lines[3], "STANDBY"));
    assert_int_equal(column_of(lines[1], "EPOCH") + 5,
                     column_of(lines[3], " 12 ") + 3);
    assert_string_equal(lines[4], "database-server: last error: node-c "
                        "refused: busy");
    run_clear(&r);
}

static void
test_status_json(void **state)
{
    static const char result[] =
        "{\"node\":{\"name\":\"node-a\",\"id\":1},"
        "\"cluster\":{\"membership\":\"down\",\"quorate\":false},"
        "\"kvm-check\":{\"verdict\":\"not-run\",\"detail\":null},"
        "\"vms\":[{\"name\":\"web1\",\"role\":\"primary\","
        "\"state\":\"PEER_UNKNOWN\",\"since\":1764105600.25,"
        "\"last-error\":null,\"engine\":null}]}";
    const struct step steps[] = {
        { STATUS_WEB1, keep(g_strdup_printf("{\"version\":1,\"id\":@ID@,"
                                            "\"ok\":true,\"result\":%s}\n",
                                            result)) },
    };
    struct fake f;
    struct run r;

    (void)state;
    /* --json before the command */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--json", "--socket", f.path, "status", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_true(g_str_has_suffix(r.out, "\n"));
    assert_string_equal(r.out, keep(g_strconcat(result, "\n", NULL)));
    run_clear(&r);

    /* and after it */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "status", "web1", "--socket", f.path, "--json");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, keep(g_strconcat(result, "\n", NULL)));
    run_clear(&r);

    /* the header of a node whose corosync is down */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "status", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_true(g_str_has_prefix(r.out, "node node-a (id 1)  membership down"
                                 "  quorum no  kvm-check not-run\n"));
    run_clear(&r);
}

static void
test_status_no_vms(void **state)
{
    const struct step steps[] = {
        { REQ("status", "{}"), OK(STATUS_HEAD "\"vms\":[]}") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "status");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "node node-a (id 1)  membership up  quorum yes"
                        "  kvm-check pass  failover standalone  reprotect "
                        "automatic\nno VMs on this node\n");
    run_clear(&r);
}

#define NODES_RESULT \
    "{\"local-id\":1,\"membership\":\"up\",\"quorate\":true," \
    "\"nodes\":[{\"id\":1,\"name\":\"node-a\",\"local\":true," \
    "\"member\":true,\"daemon\":true,\"kvm-check\":\"pass\"," \
    "\"sw-version\":\"kemari 0.1.0\",\"proto-min\":1,\"proto-max\":1," \
    "\"roles\":[\"primary\",\"secondary\"],\"eligible\":true}," \
    "{\"id\":12,\"name\":null,\"local\":false,\"member\":true," \
    "\"daemon\":false,\"kvm-check\":\"not-run\",\"sw-version\":null," \
    "\"proto-min\":0,\"proto-max\":0,\"roles\":[],\"eligible\":false}]}"

static void
test_nodes(void **state)
{
    const struct step steps[] = {
        { REQ("nodes", "{}"), OK(NODES_RESULT) },
    };
    struct fake f;
    struct run r;
    g_auto(GStrv) lines = NULL;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "nodes");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    lines = lines_of(r.out);
    assert_int_equal(g_strv_length(lines), 4);
    assert_string_equal(lines[0], "local node id 1  membership up  "
                        "quorum yes");
    assert_words(lines[1], (const char *const[]){
        "ID", "NAME", "MEMBER", "DAEMON", "KVM-CHECK", "ROLES", "ELIGIBLE",
        "VERSION", NULL });
    assert_words(lines[2], (const char *const[]){
        "1", "node-a", "yes", "yes", "pass", "primary,secondary", "yes",
        "kemari", "0.1.0", NULL });
    assert_words(lines[3], (const char *const[]){
        "12", "-", "yes", "no", "not-run", "-", "no", "-", NULL });
    assert_int_equal(column_of(lines[1], "KVM-CHECK"),
                     column_of(lines[3], "not-run"));
    /* ID is right-aligned */
    assert_int_equal(column_of(lines[1], "ID"), column_of(lines[3], "12"));
    assert_int_equal(column_of(lines[1], "ID") + 1,
                     column_of(lines[2], "1"));
    run_clear(&r);

    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "--json", "nodes");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, NODES_RESULT "\n");
    run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* Errors */

static void
test_error_codes(void **state)
{
    static const struct {
        const char *code;
        int rc;
    } cases[] = {
        { "bad-request", 2 },
        { "unsupported-version", 7 },
        { "unknown-command", 7 },
        { "permission-denied", 5 },
        { "not-found", 3 },
        { "refused", 4 },
        { "unavailable", 6 },
        { "internal", 1 },
        { "some-future-code", 1 },
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const struct step steps[] = {
            { STATUS_WEB1,
              keep(g_strdup_printf("{\"version\":1,\"id\":@ID@,\"ok\":false,"
                                   "\"error\":{\"code\":\"%s\",\"message\":"
                                   "\"it went wrong: \\u00e9\"}}\n",
                                   cases[i].code)) },
        };
        struct fake f;
        struct run r;

        fake_start(&f, steps, G_N_ELEMENTS(steps), false);
        run_kemari(&r, "--socket", f.path, "status", "web1");
        fake_finish(&f);
        if (r.rc != cases[i].rc) {
            fail_msg("%s: exit %d, expected %d", cases[i].code, r.rc,
                     cases[i].rc);
        }
        assert_string_equal(r.out, "");
        assert_string_equal(r.err, keep(g_strdup_printf(
            "kemari: %s: it went wrong: \xc3\xa9\n", cases[i].code)));
        run_clear(&r);
    }
}

static void
test_error_reply_null_id_and_escapes(void **state)
{
    /* an unreadable request is answered with "id":null; control
     * characters of a message never reach the terminal */
    const struct step steps[] = {
        { REQ("nodes", "{}"),
          "{\"version\":1,\"id\":null,\"ok\":false,\"error\":{\"code\":"
          "\"bad-request\",\"message\":\"bad\\u001b[31m\"}}\n" },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "nodes");
    fake_finish(&f);
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, "kemari: bad-request: bad?[31m\n");
    run_clear(&r);
}

static void
test_unreachable(void **state)
{
    struct sockaddr_un sa;
    struct fake f;
    struct run r;
    int fd;

    (void)state;
    /* nothing there */
    fake_dir(&f);
    run_kemari(&r, "--socket", f.path, "status");
    assert_int_equal(r.rc, 6);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: cannot reach kemarid at %s: No such file or directory "
        "(is kemarid running?)\n", f.path)));
    run_clear(&r);

    /* a socket nobody listens on */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    g_strlcpy(sa.sun_path, f.path, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    close(fd);
    assert_int_equal(r.rc, 6);
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: cannot reach kemarid at %s: Connection refused "
        "(is kemarid running?)\n", f.path)));
    run_clear(&r);
    fake_finish(&f);
}

static void
test_daemon_hangs_up(void **state)
{
    const struct step steps[] = {
        { REQ("status", "{}"), NULL, true },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "status");
    fake_finish(&f);
    assert_int_equal(r.rc, 6);
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: kemarid at %s closed the connection\n", f.path)));
    run_clear(&r);
}

static void
test_malformed_replies(void **state)
{
    g_autofree char *long_line = g_strnfill(70000, 'x');
    const char *replies[] = {
        "hello\n",
        "{\"version\":1,\"id\":@ID@,\"ok\":true}\n",
        "{\"version\":1,\"id\":@ID@,\"ok\":true,\"result\":[]}\n",
        "{\"version\":1,\"id\":@ID@,\"ok\":true,\"result\":{},\"x\":1}\n",
        "{\"version\":1,\"id\":@ID@,\"ok\":true,\"result\":{}} {}\n",
        "{\"version\":2,\"id\":@ID@,\"ok\":true,\"result\":{}}\n",
        "{\"version\":1,\"id\":7,\"ok\":true,\"result\":{}}\n",
        "{\"version\":1,\"id\":@ID@,\"event\":\"stats\",\"data\":{}}\n",
        "{\"version\":1,\"id\":@ID@,\"ok\":true,\"result\":{}}",
        long_line,
    };
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(replies); i++) {
        /* hang up after it: a line without '\n' is only cut short */
        const struct step steps[] = {
            { REQ("nodes", "{}"), replies[i], true },
        };
        struct fake f;
        struct run r;

        fake_start(&f, steps, G_N_ELEMENTS(steps), false);
        run_kemari(&r, "--socket", f.path, "--json", "nodes");
        fake_finish(&f);
        if (r.rc != 7) {
            fail_msg("reply %u: exit %d, expected 7 (stderr %s)", i, r.rc,
                     r.err);
        }
        assert_string_equal(r.out, "");
        assert_true(g_str_has_prefix(r.err, keep(g_strdup_printf(
            "kemari: bad reply from kemarid at %s: ", f.path))) ||
            g_str_has_prefix(r.err, keep(g_strdup_printf(
            "kemari: malformed reply from kemarid at %s: ", f.path))));
        run_clear(&r);
    }
}

static void
test_long_line_message(void **state)
{
    static const char base[] = "{\"version\":1,\"id\":1,\"ok\":true,"
                               "\"result\":{}}";
    g_autofree char *pad = g_strnfill(65536 - strlen(base), ' ');
    /* exactly CTLPROTO_MAX_LINE bytes plus '\n' is fine... */
    g_autofree char *fits = g_strconcat(pad, base, "\n", NULL);
    /* ...one byte more is not */
    g_autofree char *over = g_strconcat(" ", fits, NULL);
    const struct step ok_steps[] = {
        { REQ("nodes", "{}"), fits },
    };
    const struct step bad_steps[] = {
        { REQ("nodes", "{}"), over },
    };
    struct fake f;
    struct run r;

    (void)state;
    assert_int_equal(strlen(fits), 65536 + 1);
    fake_start(&f, ok_steps, G_N_ELEMENTS(ok_steps), false);
    run_kemari(&r, "--socket", f.path, "--json", "nodes");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "{}\n");
    run_clear(&r);

    fake_start(&f, bad_steps, G_N_ELEMENTS(bad_steps), false);
    run_kemari(&r, "--socket", f.path, "nodes");
    fake_finish(&f);
    assert_int_equal(r.rc, 7);
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: malformed reply from kemarid at %s: line longer than "
        "65536 bytes\n", f.path)));
    run_clear(&r);
}

static void
test_usage(void **state)
{
    const char *const *const cases[] = {
        (const char *const[]){ NULL },
        (const char *const[]){ "bogus", NULL },
        (const char *const[]){ "start", "--peer", "node-b", NULL },
        (const char *const[]){ "start", "web1", "--peer", NULL },
        (const char *const[]){ "start", "web1", "--peer", "-x", NULL },
        (const char *const[]){ "start", "web1", "--peer", "b", "--count",
                               "2", NULL },
        (const char *const[]){ "stop", NULL },
        (const char *const[]){ "stop", "web1", "--timeout", "x", NULL },
        (const char *const[]){ "stop", "web1", "--timeout", "0", NULL },
        (const char *const[]){ "stop", "web1", "--timeout", "-1", NULL },
        (const char *const[]){ "stop", "web1", "--peer", "b", NULL },
        (const char *const[]){ "failover", "web1", "web2", NULL },
        (const char *const[]){ "status", "a", "b", NULL },
        (const char *const[]){ "status", "bad/name", NULL },
        (const char *const[]){ "status", "--no-wait", NULL },
        (const char *const[]){ "nodes", "x", NULL },
        (const char *const[]){ "stats", "--count", "0", NULL },
        (const char *const[]){ "stats", "--count", "x", NULL },
        (const char *const[]){ "stats", "--interval", "99", NULL },
        (const char *const[]){ "stats", "--interval", "60001", NULL },
        (const char *const[]){ "--nope", "status", NULL },
        (const char *const[]){ "--socket", NULL },
        (const char *const[]){ "--socket", "", "status", NULL },
        (const char *const[]){ "-x", "status", NULL },
        (const char *const[]){ "start", "web1", "--replicate", NULL },
        (const char *const[]){ "start", "web1", "--replicate", "", NULL },
        (const char *const[]){ "failover", "web1", "--replicate", "disk0",
                               NULL },
    };
    unsigned i, j;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) args = g_ptr_array_new();
        struct run r;

        /* were it to connect, it would exit 6, not 2 */
        for (j = 0; cases[i][j]; j++) {
            g_ptr_array_add(args, (char *)cases[i][j]);
        }
        if (i != 22) {
            g_ptr_array_insert(args, 0,
                               (char *)"--socket=/nonexistent/k.sock");
        }
        g_ptr_array_add(args, NULL);
        run_kemari_env(&r, NULL, (const char *const *)args->pdata);
        if (r.rc != 2) {
            fail_msg("case %u: exit %d, expected 2 (stderr %s)", i, r.rc,
                     r.err);
        }
        assert_string_equal(r.out, "");
        assert_true(g_str_has_prefix(r.err, "kemari: "));
        assert_non_null(strstr(r.err, "\nUsage: kemari "));
        run_clear(&r);
    }
}

static void
test_help_version(void **state)
{
    struct run r;

    (void)state;
    run_kemari(&r, "--version");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "kemari " PACKAGE_VERSION "\n");
    run_clear(&r);
    run_kemari(&r, "help");
    assert_int_equal(r.rc, 0);
    assert_true(g_str_has_prefix(r.out, "Usage: kemari "));
    assert_string_equal(r.err, "");
    run_clear(&r);
    run_kemari(&r, "--help");
    assert_int_equal(r.rc, 0);
    assert_true(g_str_has_prefix(r.out, "Usage: kemari "));
    run_clear(&r);
    run_kemari(&r, "-h");
    assert_int_equal(r.rc, 0);
    run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* start, stop, failover */

#define START_REQ REQ("start", "{\"vm\":\"web1\",\"peer\":\"node-b\"}")

static void
test_start_waits(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED",
                                 "\"an old failure\"") },
        { START_REQ, OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "PAIRING", "null") },
        { STATUS_WEB1, vm_status("primary", "SYNCING", "null") },
        { STATUS_WEB1, vm_status("primary", "SYNCING", "null") },
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "web1: PAIRING\nweb1: SYNCING\n"
                        "web1: PROTECTED\n"
                        "web1: protected, secondary on node-b\n");
    run_clear(&r);

    /* --json: the result of start on stdout, the progress on stderr */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "--json", "start", "web1", "--peer",
               "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "{\"vm\":\"web1\",\"state\":\"PAIRING\"}\n");
    assert_string_equal(r.err, "web1: PAIRING\nweb1: SYNCING\n"
                        "web1: PROTECTED\n"
                        "web1: protected, secondary on node-b\n");
    run_clear(&r);
}

/* Without --peer the request names none: kemarid picks the node. */
static void
test_start_without_peer(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED", "null") },
        { REQ("start", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "start", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "web1: PAIRING\nweb1: PROTECTED\n"
                        "web1: protected, secondary on node-b\n");
    run_clear(&r);
}

static void
test_start_fails(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED",
                                 "\"an old failure\"") },
        { START_REQ, OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "PAIRING", "\"an old failure\"") },
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED",
                                 "\"node-b refused: not-eligible\"") },
    };
    /* the same text as before, but the VM went PAIRING and came back */
    const struct step again[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED",
                                 "\"node-b refused: busy\"") },
        { START_REQ, OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED",
                                 "\"node-b refused: busy\"") },
    };
    /* refused by the daemon right away */
    const struct step refused[] = {
        { STATUS_WEB1, vm_status("primary", "DEGRADED", "null") },
        { START_REQ, ERR("refused", "outputs are held") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 4);
    assert_string_equal(r.out, "web1: PAIRING\nweb1: UNPROTECTED\n");
    assert_string_equal(r.err, "kemari: web1: protection failed: node-b "
                        "refused: not-eligible\n");
    run_clear(&r);

    fake_start(&f, again, G_N_ELEMENTS(again), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 4);
    assert_string_equal(r.err, "kemari: web1: protection failed: node-b "
                        "refused: busy\n");
    run_clear(&r);

    fake_start(&f, refused, G_N_ELEMENTS(refused), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 4);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "kemari: refused: outputs are held\n");
    run_clear(&r);
}

static void
test_start_vm_unknown(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, ERR("not-found", "no VM 'web1' on this node") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 3);
    assert_string_equal(r.err, "kemari: not-found: no VM 'web1' on this "
                        "node\n");
    run_clear(&r);
}

/* --replicate: every device, in order, in the start request. */
static void
test_start_replicate(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED", "null") },
        { REQ("start", "{\"vm\":\"web1\",\"peer\":\"node-b\","
              "\"replicate\":[\"virtio-disk1\",\"scsi0-0-0-0\"]}"),
          OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
    };
    const struct step no_peer[] = {
        { REQ("start", "{\"vm\":\"web1\",\"replicate\":[\"disk0\"]}"),
          OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
    };
    const struct step most[] = {
        { REQ("start", "{\"vm\":\"web1\",\"replicate\":[\"d0\",\"d1\","
              "\"d2\",\"d3\",\"d4\",\"d5\",\"d6\",\"d7\",\"d8\",\"d9\","
              "\"d10\",\"d11\",\"d12\",\"d13\",\"d14\",\"d15\"]}"),
          OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
    };
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    struct fake f;
    struct run r;
    unsigned i;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "start", "--replicate",
               "virtio-disk1", "web1", "--peer", "node-b",
               "--replicate=scsi0-0-0-0");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(r.out, "web1: PAIRING\nweb1: PROTECTED\n"
                        "web1: protected, secondary on node-b\n");
    run_clear(&r);

    fake_start(&f, no_peer, G_N_ELEMENTS(no_peer), false);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--no-wait",
               "--replicate", "disk0");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "web1: start accepted, the VM is PAIRING\n");
    run_clear(&r);

    /* sixteen, the most */
    fake_start(&f, most, G_N_ELEMENTS(most), false);
    g_ptr_array_add(args, g_strdup("--socket"));
    g_ptr_array_add(args, g_strdup(f.path));
    g_ptr_array_add(args, g_strdup("start"));
    g_ptr_array_add(args, g_strdup("web1"));
    g_ptr_array_add(args, g_strdup("--no-wait"));
    for (i = 0; i < 16; i++) {
        g_ptr_array_add(args, g_strdup_printf("--replicate=d%u", i));
    }
    g_ptr_array_add(args, NULL);
    run_kemari_env(&r, NULL, (const char *const *)args->pdata);
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    run_clear(&r);
}

/* --replicate refused on the command line: exit 2, the exact message. */
static void
test_replicate_usage(void **state)
{
    const struct {
        const char *const *args;
        const char *first_line;     /* of stderr */
    } cases[] = {
        { (const char *const[]){ "start", "web1", "--replicate", "-x",
                                 NULL },
          "kemari: --replicate: invalid device id '-x' (1 to 64 of A-Z a-z "
          "0-9 _ . -, not starting with . or -)" },
        { (const char *const[]){ "start", "web1", "--replicate", "disk/0",
                                 NULL },
          "kemari: --replicate: invalid device id 'disk/0' (1 to 64 of A-Z "
          "a-z 0-9 _ . -, not starting with . or -)" },
        { (const char *const[]){ "start", "web1", "--replicate", "disk0",
                                 "--replicate", "disk1", "--replicate",
                                 "disk0", NULL },
          "kemari: --replicate: device 'disk0' given twice" },
        { (const char *const[]){ "stop", "web1", "--replicate", "disk0",
                                 NULL },
          "kemari: stop: option --replicate does not apply" },
        { (const char *const[]){ "start", "web1", "--replicate", NULL },
          "kemari: option '--replicate' needs an argument" },
    };
    unsigned i, j;

    (void)state;
    for (i = 0; i <= G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
        g_auto(GStrv) lines = NULL;
        const char *want;
        struct run r;

        /* were it to connect, it would exit 6, not 2 */
        g_ptr_array_add(args, g_strdup("--socket=/nonexistent/k.sock"));
        if (i < G_N_ELEMENTS(cases)) {
            for (j = 0; cases[i].args[j]; j++) {
                g_ptr_array_add(args, g_strdup(cases[i].args[j]));
            }
            want = cases[i].first_line;
        } else {
            /* one more than the most */
            g_ptr_array_add(args, g_strdup("start"));
            g_ptr_array_add(args, g_strdup("web1"));
            for (j = 0; j < 17; j++) {
                g_ptr_array_add(args, g_strdup_printf("--replicate=d%u", j));
            }
            want = "kemari: --replicate: at most 16 devices";
        }
        g_ptr_array_add(args, NULL);
        run_kemari_env(&r, NULL, (const char *const *)args->pdata);
        if (r.rc != 2) {
            fail_msg("case %u: exit %d, expected 2 (stderr %s)", i, r.rc,
                     r.err);
        }
        assert_string_equal(r.out, "");
        lines = lines_of(r.err);
        assert_string_equal(lines[0], want);
        assert_string_equal(lines[1], "Usage: kemari [--socket PATH] "
                            "[--config FILE] [--json] COMMAND [ARGS]");
        run_clear(&r);
    }
}

static void
test_no_wait(void **state)
{
    const struct step start[] = {
        { START_REQ, OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
    };
    const struct step stop[] = {
        { REQ("stop", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"UNPROTECTED\"}") },
    };
    struct fake f;
    struct run r;

    (void)state;
    /* one request, id 1, and nothing after it */
    fake_start(&f, start, G_N_ELEMENTS(start), false);
    run_kemari(&r, "--socket", f.path, "start", "--no-wait", "web1",
               "--peer", "node-b");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "web1: start accepted, the VM is PAIRING\n");
    assert_string_equal(r.err, "");
    run_clear(&r);

    fake_start(&f, stop, G_N_ELEMENTS(stop), false);
    run_kemari(&r, "--socket", f.path, "--json", "stop", "web1",
               "--no-wait");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "{\"vm\":\"web1\",\"state\":\"UNPROTECTED\"}"
                        "\n");
    assert_string_equal(r.err, "");
    run_clear(&r);
}

static void
test_stop_waits(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
        { REQ("stop", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"PROTECTED\"}") },
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED", "null") },
    };
    const struct step gone[] = {
        { STATUS_WEB1, vm_status("primary", "PROTECTED", "null") },
        { REQ("stop", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"PROTECTED\"}") },
        { STATUS_WEB1, vm_status("none", "STOPPED", "\"QEMU exited\"") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "stop", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "web1: PROTECTED\nweb1: UNPROTECTED\n"
                        "web1: protection stopped, the VM runs "
                        "unprotected\n");
    run_clear(&r);

    fake_start(&f, gone, G_N_ELEMENTS(gone), false);
    run_kemari(&r, "--socket", f.path, "stop", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 4);
    assert_string_equal(r.err, "kemari: web1: stop failed: QEMU exited\n");
    run_clear(&r);
}

static void
test_failover_waits(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("secondary", "PRIMARY_LOST", "null") },
        { REQ("failover", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"FAILING_OVER\"}") },
        { STATUS_WEB1, vm_status("secondary", "FAILING_OVER", "null") },
        /* UNPROTECTED as a secondary is not done yet */
        { STATUS_WEB1, vm_status("secondary", "UNPROTECTED", "null") },
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED", "null") },
    };
    const struct step failed[] = {
        { STATUS_WEB1, vm_status("secondary", "STANDBY", "null") },
        { REQ("failover", "{\"vm\":\"web1\"}"),
          OK("{\"vm\":\"web1\",\"state\":\"FAILING_OVER\"}") },
        { STATUS_WEB1, vm_status("none", "STOPPED",
                                 "\"x-kemari-failover: no complete "
                                 "checkpoint\"") },
    };
    struct fake f;
    struct run r;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "failover", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "web1: FAILING_OVER\n"
                        "web1: FAILING_OVER (secondary)\n"
                        "web1: UNPROTECTED (secondary)\n"
                        "web1: UNPROTECTED (primary)\n"
                        "web1: failed over, primary on this node\n");
    run_clear(&r);

    fake_start(&f, failed, G_N_ELEMENTS(failed), false);
    run_kemari(&r, "--socket", f.path, "failover", "web1");
    fake_finish(&f);
    assert_int_equal(r.rc, 4);
    assert_string_equal(r.err, "kemari: web1: failover failed: "
                        "x-kemari-failover: no complete checkpoint\n");
    run_clear(&r);
}

static void
test_timeout(void **state)
{
    const struct step steps[] = {
        { STATUS_WEB1, vm_status("primary", "UNPROTECTED", "null") },
        { START_REQ, OK("{\"vm\":\"web1\",\"state\":\"PAIRING\"}") },
        { STATUS_WEB1, vm_status("primary", "SYNCING", "null") },
    };
    struct fake f;
    struct run r;
    gint64 t0 = g_get_monotonic_time();
    gint64 took;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), true);
    run_kemari(&r, "--socket", f.path, "start", "web1", "--peer", "node-b",
               "--timeout", "0.5");
    fake_finish(&f);
    took = g_get_monotonic_time() - t0;
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "kemari: web1: timed out after 0.5 s waiting "
                        "for PROTECTED (the VM is primary SYNCING)\n");
    /* polled every 200 ms: at least 3 polls, and it did stop */
    assert_true(f.requests >= 2 + 3);
    assert_true(took < 5 * G_USEC_PER_SEC);
    run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* stats */

#define STATS_EVENT(t, n) \
    "{\"version\":1,\"id\":@ID@,\"event\":\"stats\",\"data\":" \
    "{\"time\":" t ",\"vms\":[{\"name\":\"web1\",\"role\":\"primary\"," \
    "\"state\":\"PROTECTED\",\"epoch\":3,\"checkpoints\":" n "," \
    "\"checkpoints-per-s\":41.5,\"stop-time-us\":{\"last\":310," \
    "\"mean\":295,\"p99\":720,\"max\":1900},\"release-latency-us\":" \
    "{\"last\":400,\"mean\":380,\"p99\":15000,\"max\":2500000}," \
    "\"checkpoint-bytes-last\":81920,\"held-packets\":0," \
    "\"held-writes\":0,\"held-bytes\":0}]}}\n"

static void
test_stats_count(void **state)
{
    const struct step steps[] = {
        { REQ("stats-subscribe", "{}"),
          OK("{}")
          "{\"version\":1,\"id\":@ID@,\"event\":\"future-event\","
          "\"data\":{}}\n"
          STATS_EVENT("1764105600.25", "1200")
          STATS_EVENT("1764105601.25", "1241")
          STATS_EVENT("1764105602.25", "1283") },
    };
    const struct step one_vm[] = {
        { REQ("stats-subscribe", "{\"vm\":\"web1\",\"interval-ms\":250}"),
          OK("{}") STATS_EVENT("1764105600.25", "1200") },
    };
    struct fake f;
    struct run r;
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) json = NULL;

    (void)state;
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "stats", "--count", "2");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    lines = lines_of(r.out);
    assert_int_equal(g_strv_length(lines), 3);
    assert_words(lines[0], (const char *const[]){
        "TIME", "VM", "STATE", "CHECKPOINTS", "CKPT/S", "STOP-MEAN",
        "STOP-P99", "STOP-MAX", "RELEASE-P99", "CKPT-BYTES", "HELD", NULL });
    assert_words(lines[1], (const char *const[]){
        "21:20:00", "web1", "PROTECTED", "1200", "41.5", "295us", "720us",
        "1.9ms", "15ms", "80K", "0", NULL });
    assert_words(lines[2], (const char *const[]){
        "21:20:01", "web1", "PROTECTED", "1241", "41.5", "295us", "720us",
        "1.9ms", "15ms", "80K", "0", NULL });
    assert_int_equal(strlen(lines[0]), strlen(lines[1]));
    run_clear(&r);

    /* --json: one line per event, the event's data */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "--json", "stats", "--count", "2");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    json = lines_of(r.out);
    assert_int_equal(g_strv_length(json), 2);
    assert_true(g_str_has_prefix(json[0], "{\"time\":1764105600.25,"
                                 "\"vms\":[{\"name\":\"web1\""));
    assert_true(g_str_has_prefix(json[1], "{\"time\":1764105601.25,"));
    run_clear(&r);

    /* a VM and an interval go into the request */
    fake_start(&f, one_vm, G_N_ELEMENTS(one_vm), false);
    run_kemari(&r, "--socket", f.path, "stats", "web1", "--interval", "250",
               "--count", "1");
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    run_clear(&r);
}

static void
test_stats_daemon_leaves(void **state)
{
    const struct step steps[] = {
        { REQ("stats-subscribe", "{}"),
          OK("{}") STATS_EVENT("1764105600.25", "1200"), true },
    };
    const struct step refused[] = {
        { REQ("stats-subscribe", "{}"), ERR("not-found", "no VM") },
    };
    struct fake f;
    struct run r;
    g_auto(GStrv) lines = NULL;

    (void)state;
    /* the daemon closes after one event: kemari says so, exit 6 */
    fake_start(&f, steps, G_N_ELEMENTS(steps), false);
    run_kemari(&r, "--socket", f.path, "stats", "--count", "3");
    fake_finish(&f);
    assert_int_equal(r.rc, 6);
    lines = lines_of(r.out);
    assert_int_equal(g_strv_length(lines), 2);
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: kemarid at %s closed the connection\n", f.path)));
    run_clear(&r);

    fake_start(&f, refused, G_N_ELEMENTS(refused), false);
    run_kemari(&r, "--socket", f.path, "stats");
    fake_finish(&f);
    assert_int_equal(r.rc, 3);
    assert_string_equal(r.err, "kemari: not-found: no VM\n");
    run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* Where the socket comes from */

static const struct step nodes_steps[] = {
    { REQ("nodes", "{}"), OK(NODES_RESULT) },
};

/* Writes a configuration file in F's directory; returns its path. */
static const char *
write_conf(struct fake *f, const char *name, const char *text)
{
    g_autoptr(GError) err = NULL;
    char *path = g_build_filename(f->dir, name, NULL);

    if (!g_file_set_contents(path, text, -1, &err)) {
        fail_msg("%s", err->message);
    }
    return keep(path);
}

static void
test_socket_precedence(void **state)
{
    struct fake f;
    struct run r;
    const char *env[4];
    const char *conf;
    const char *bad_conf;

    (void)state;
    /* $KEMARI_SOCKET */
    fake_start(&f, nodes_steps, 1, false);
    env[0] = keep(g_strconcat("KEMARI_SOCKET=", f.path, NULL));
    env[1] = NULL;
    run_kemari_env(&r, env, (const char *const[]){ "nodes", NULL });
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    run_clear(&r);

    /* --socket wins over $KEMARI_SOCKET */
    fake_start(&f, nodes_steps, 1, false);
    env[0] = "KEMARI_SOCKET=/nonexistent/kemarid.sock";
    env[1] = NULL;
    run_kemari_env(&r, env, (const char *const[]){ "--socket", f.path,
                                                   "nodes", NULL });
    fake_finish(&f);
    assert_int_equal(r.rc, 0);
    run_clear(&r);

    /* $KEMARI_SOCKET is used, not the configuration's */
    run_kemari_env(&r, env, (const char *const[]){ "nodes", NULL });
    assert_int_equal(r.rc, 6);
    assert_string_equal(r.err, "kemari: cannot reach kemarid at "
                        "/nonexistent/kemarid.sock: No such file or "
                        "directory (is kemarid running?)\n");
    run_clear(&r);

    /* the configuration's control-socket, through $KEMARI_CONFIG */
    fake_start(&f, nodes_steps, 1, false);
    conf = write_conf(&f, "kemari.conf", keep(g_strdup_printf(
        "# test\n[daemon]\ncontrol-socket = %s\n", f.path)));
    env[0] = keep(g_strconcat("KEMARI_CONFIG=", conf, NULL));
    env[1] = NULL;
    run_kemari_env(&r, env, (const char *const[]){ "nodes", NULL });
    assert_int_equal(r.rc, 0);
    run_clear(&r);
    g_unlink(conf);
    fake_finish(&f);

    /* --config FILE */
    fake_start(&f, nodes_steps, 1, false);
    conf = write_conf(&f, "other.conf", keep(g_strdup_printf(
        "[daemon]\ncontrol-socket = %s\n", f.path)));
    run_kemari_env(&r, NULL, (const char *const[]){ "--config", conf,
                                                    "nodes", NULL });
    assert_int_equal(r.rc, 0);
    run_clear(&r);
    g_unlink(conf);
    fake_finish(&f);

    /* with $KEMARI_SOCKET set, a broken configuration is not even read */
    fake_start(&f, nodes_steps, 1, false);
    bad_conf = write_conf(&f, "bad.conf", "[daemon]\nbogus = 1\n");
    env[0] = keep(g_strconcat("KEMARI_CONFIG=", bad_conf, NULL));
    env[1] = keep(g_strconcat("KEMARI_SOCKET=", f.path, NULL));
    env[2] = NULL;
    run_kemari_env(&r, env, (const char *const[]){ "nodes", NULL });
    assert_int_equal(r.rc, 0);
    run_clear(&r);
    g_unlink(bad_conf);
    fake_finish(&f);
}

static void
test_conf_errors(void **state)
{
    struct fake f;
    struct run r;
    const char *env[2] = { NULL, NULL };
    const char *conf;

    (void)state;
    fake_dir(&f);
    conf = write_conf(&f, "kemari.conf", "[daemon]\n# a typo:\n"
                      "control-sock = /run/k.sock\n");
    env[0] = keep(g_strconcat("KEMARI_CONFIG=", conf, NULL));
    run_kemari_env(&r, env, (const char *const[]){ "status", NULL });
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.out, "");
    /* conf.c's message, with the known keys of [daemon] */
    assert_true(g_str_has_prefix(r.err, keep(g_strdup_printf(
        "kemari: %s:3: unknown key 'control-sock' in [daemon] (known: "
        "node-name, control-socket, ", conf))));
    assert_true(g_str_has_suffix(r.err, ")\n"));
    /* one line */
    assert_true(strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
    run_clear(&r);

    conf = write_conf(&f, "kemari.conf", "[daemon]\n"
                      "control-socket = run/k.sock\n");
    run_kemari_env(&r, NULL, (const char *const[]){ "--config", conf,
                                                    "nodes", NULL });
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.err, keep(g_strdup_printf(
        "kemari: %s:2: key 'control-socket' in [daemon]: bad value "
        "'run/k.sock' (allowed: an absolute path without control "
        "characters)\n", conf)));
    run_clear(&r);
    g_unlink(conf);

    /* a configuration named explicitly must exist */
    run_kemari_env(&r, env, (const char *const[]){ "status", NULL });
    assert_int_equal(r.rc, 2);
    assert_true(g_str_has_prefix(r.err, "kemari: "));
    assert_non_null(strstr(r.err, conf));
    assert_non_null(strstr(r.err, "No such file or directory"));
    run_clear(&r);
    fake_finish(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_status_no_vms),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_error_reply_null_id_and_escapes),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_daemon_hangs_up),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_long_line_message),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_start_waits),
        cmocka_unit_test(test_start_without_peer),
        cmocka_unit_test(test_start_fails),
        cmocka_unit_test(test_start_vm_unknown),
        cmocka_unit_test(test_start_replicate),
        cmocka_unit_test(test_replicate_usage),
        cmocka_unit_test(test_no_wait),
        cmocka_unit_test(test_stop_waits),
        cmocka_unit_test(test_failover_waits),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_stats_count),
        cmocka_unit_test(test_stats_daemon_leaves),
        cmocka_unit_test(test_socket_precedence),
        cmocka_unit_test(test_conf_errors),
    };
    int rc;

    /* a hung kemari or fake must not hang make check */
    alarm(300);
    garbage = g_ptr_array_new_with_free_func(g_free);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_ptr_array_unref(garbage);
    return rc;
}
