/*
 * hook.c - kemari-hook: libvirt's QEMU hook for protected domains
 *
 * Installed as $(libvirthookdir)/kemari (hooks/qemu.d/kemari).  libvirt
 * runs it as
 *
 *   kemari DOMAIN OP SUBOP EXTRA      (the full domain XML on stdin)
 *
 * and waits for it with no timeout, so it must be quick, and it must
 * never call libvirt nor wait on anything that does: that deadlocks
 * libvirt.  Domains without <kemari> in their <metadata> pass untouched:
 * exit 0, nothing printed.  For the others:
 *
 *   prepare   vet the domain (kemarixml): print each problem on stderr as
 *             "kemari: DOMAIN: PROBLEM" (libvirt shows it to the user)
 *             and exit 1, which refuses the start; a domain that may
 *             start has the state files of its replicated disks sealed
 *             (seal_disk_state())
 *   started, stopped, release
 *             tell kemarid over its control socket (kemari.conf's
 *             control-socket, or $KEMARI_SOCKET), waiting at most
 *             HOOK_NOTIFY_TIMEOUT_MS; an unreachable kemarid is logged,
 *             never a failure
 *   anything else (reconnect above all: a failing hook there kills the
 *             running QEMU)
 *             exit 0 at once, without reading stdin
 *
 * The Kemari QEMU is KEMARI_LIBEXECDIR/qemu-system-x86_64, or
 * $KEMARI_QEMU_EMULATOR (tests).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>

#include "conf.h"
#include "ctlproto.h"
#include "kemarixml.h"
#include "log.h"
#include "pairproto.h"

#ifndef KEMARI_LIBEXECDIR
#define KEMARI_LIBEXECDIR "/usr/libexec/kemari"
#endif

#define HOOK_NOTIFY_TIMEOUT_MS 1000     /* for all of connect, send, reply */
#define HOOK_CONNECT_RETRY_MS 10        /* while the listen queue is full */

/* ------------------------------------------------------------------ */
/* Input */

/*
 * Reads FD to its end, but at most MAX + 1 bytes (so that the caller
 * can tell "too large").  Returns NULL with *LEN 0 on a read error.
 */
static char *
read_input(int fd, size_t max, size_t *len)
{
    GString *s = g_string_sized_new(64 * 1024);
    char buf[64 * 1024];
    ssize_t n;

    while (s->len <= max) {
        n = read(fd, buf, MIN(sizeof(buf), max + 1 - s->len));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            log_warn("cannot read the domain XML");
            g_string_free(s, TRUE);
            *len = 0;
            return NULL;
        }
        if (n == 0) {
            break;
        }
        g_string_append_len(s, buf, n);
    }
    *len = s->len;
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ */
/* prepare */

/*
 * KEMARI_SHARED_STORAGE, a ':'-separated list of directories the
 * operator declares shared between the hosts (storage whose file system
 * type does not say so, e.g. a cluster's own replicated mount): a file
 * disk below one of them is accepted; any other goes to statfs().
 */
static char *
path_shared(const char *path, void *opaque)
{
    const char *list = opaque;
    g_auto(GStrv) dirs = list ? g_strsplit(list, ":", -1) : NULL;
    unsigned i;

    for (i = 0; dirs && dirs[i]; i++) {
        size_t n = strlen(dirs[i]);

        if (n > 1 && dirs[i][0] == '/' && strncmp(path, dirs[i], n) == 0 &&
            (path[n] == '/' || (n > 0 && dirs[i][n - 1] == '/'))) {
            return NULL;
        }
    }
    return kemarixml_path_shared_statfs(path, NULL);
}

/* kemari.conf, or its defaults when it is missing or unreadable. */
static conf *
hook_conf(void)
{
    g_autoptr(GError) err = NULL;
    conf *c = NULL;

    if (g_file_test(CONF_DEFAULT_PATH, G_FILE_TEST_EXISTS)) {
        c = conf_load(CONF_DEFAULT_PATH, &err);
        if (!c) {
            log_warnx("%s (using the defaults)", err->message);
        }
    }
    return c ? c : conf_new_defaults();
}

/*
 * Seals the state files of DOMAIN's replicated disks before its QEMU
 * starts: STATE-DIR/disks/DOMAIN/DEVICE.kemari-disk becomes
 * DEVICE.kemari-disk.sealed.  Only a QEMU that is given that directory
 * reads a sealed file, and it removes it as soon as it logs the disk's
 * writes itself; a QEMU that is never given it (kemarid not running,
 * say) thus leaves no file behind that names a session its image may no
 * longer match.  A sealed file an earlier launch left is removed first:
 * that QEMU may have written to the image without logging.  STATE-DIR is
 * $KEMARI_STATE_DIR, else kemari.conf's state-dir.  Returns NULL, or
 * what could be neither sealed nor removed (caller frees).
 */
static char *
seal_disk_state(const char *domain)
{
    const char *env = g_getenv("KEMARI_STATE_DIR");
    g_autoptr(conf) c = env && *env ? NULL : hook_conf();
    g_autofree char *dir = g_build_filename(c ? c->state_dir : env, "disks",
                                            domain, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    unsigned i;
    int fd;

    if (!d) {
        return NULL;            /* no state kept for this domain */
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        g_ptr_array_add(names, g_strdup(name));
    }
    for (i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(
            dir, (const char *)g_ptr_array_index(names, i), NULL);

        if (g_str_has_suffix(path, ".kemari-disk.sealed") &&
            unlink(path) < 0 && errno != ENOENT) {
            return g_strdup_printf("cannot remove %s: %s", path,
                                   g_strerror(errno));
        }
    }
    for (i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(
            dir, (const char *)g_ptr_array_index(names, i), NULL);
        g_autofree char *sealed = g_strconcat(path, ".sealed", NULL);

        if (g_str_has_suffix(path, ".kemari-disk") &&
            rename(path, sealed) < 0 && unlink(path) < 0 && errno != ENOENT) {
            return g_strdup_printf("cannot seal nor remove %s: %s", path,
                                   g_strerror(errno));
        }
    }
    /* sealed for good before the QEMU may write */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return NULL;
}

static int
hook_prepare(const char *domain)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *xml = NULL;
    const char *emulator = g_getenv("KEMARI_QEMU_EMULATOR");
    struct kemarixml_host host = {
        .emulator = emulator && *emulator
                    ? emulator : KEMARI_LIBEXECDIR "/qemu-system-x86_64",
        .path_shared = path_shared,
        .opaque = (void *)g_getenv("KEMARI_SHARED_STORAGE"),
    };
    size_t len;
    unsigned i;

    xml = read_input(STDIN_FILENO, KEMARIXML_MAX_SIZE, &len);
    if (!xml || !kemarixml_check(xml, len, &host, problems)) {
        return 0;
    }
    if (problems->len == 0) {
        char *why = pairproto_name_valid(domain) ? seal_disk_state(domain)
                                                 : NULL;

        if (!why) {
            return 0;
        }
        g_ptr_array_add(problems, g_strdup_printf(
            "replicated disk state: %s", why));
        g_free(why);
    }
    for (i = 0; i < problems->len; i++) {
        log_warnx("%s: %s", domain,
                  (const char *)g_ptr_array_index(problems, i));
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* started, stopped, release */

/* The one request line that tells kemarid about OP on DOMAIN.  Caller
 * frees. */
static char *
hook_request_line(const char *domain, const char *op)
{
    struct ctlproto_request req;

    memset(&req, 0, sizeof(req));
    req.id = 1;
    req.command = CTLPROTO_CMD_HOOK_EVENT;
    req.interval_ms = CTLPROTO_INTERVAL_DEFAULT;
    g_strlcpy(req.vm, domain, sizeof(req.vm));
    g_strlcpy(req.op, op, sizeof(req.op));
    return ctlproto_request_format(&req);
}

/* Milliseconds left until DEADLINE (monotonic, us); 0 when past. */
static int
ms_left(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    return left > 0 ? (int)((left + 999) / 1000) : 0;
}

/* Waits for EVENTS on FD until DEADLINE.  False with ETIMEDOUT or errno. */
static bool
wait_fd(int fd, short events, gint64 deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;

    do {
        r = poll(&p, 1, ms_left(deadline));
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        errno = ETIMEDOUT;
    }
    return r > 0;
}

static bool G_GNUC_PRINTF(2, 3)
notify_fail(GError **error, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, msg);
    return false;
}

/* Connects to PATH without ever blocking past DEADLINE.  -1 on failure. */
static int
connect_until(const char *path, gint64 deadline, GError **error)
{
    struct sockaddr_un sa;
    int fd, e;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
        notify_fail(error, "socket path '%s' is empty or too long", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        e = errno;
        notify_fail(error, "socket: %s", g_strerror(e));
        return -1;
    }
    /* non-blocking: a UNIX connect fails with EAGAIN on a full queue */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        if (e == EINTR) {
            continue;
        }
        if (e == EAGAIN && ms_left(deadline) > 0) {
            g_usleep(HOOK_CONNECT_RETRY_MS * 1000);
            continue;
        }
        close(fd);
        notify_fail(error, "cannot connect to %s: %s", path,
                    e == EAGAIN ? "kemarid does not accept connections"
                                : g_strerror(e));
        return -1;
    }
    return fd;
}

/*
 * Sends LINE to kemarid at PATH and reads its reply, all within
 * HOOK_NOTIFY_TIMEOUT_MS.  An error reply is a failure too.
 */
static bool
notify(const char *path, const char *line, GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      HOOK_NOTIFY_TIMEOUT_MS * G_GINT64_CONSTANT(1000);
    g_autofree char *buf = g_malloc(CTLPROTO_MAX_LINE + 1);
    struct ctlproto_reply reply;
    size_t sent = 0, len = strlen(line), got = 0;
    char *nl = NULL;
    ssize_t n;
    int fd, e;
    bool ok;

    fd = connect_until(path, deadline, error);
    if (fd < 0) {
        return false;
    }
    while (sent < len) {
        if (!wait_fd(fd, POLLOUT, deadline)) {
            e = errno;
            close(fd);
            return notify_fail(error, "cannot send to %s: %s", path,
                               g_strerror(e));
        }
        n = send(fd, line + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            e = errno;
            close(fd);
            return notify_fail(error, "cannot send to %s: %s", path,
                               g_strerror(e));
        }
        sent += (size_t)n;
    }
    while (!nl && got <= CTLPROTO_MAX_LINE) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            e = errno;
            close(fd);
            return notify_fail(error, "no reply from %s: %s", path,
                               g_strerror(e));
        }
        n = recv(fd, buf + got, CTLPROTO_MAX_LINE + 1 - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            e = n < 0 ? errno : 0;
            close(fd);
            return notify_fail(error, "no reply from %s: %s", path,
                               e ? g_strerror(e)
                                 : "connection closed by kemarid");
        }
        nl = memchr(buf + got, '\n', (size_t)n);
        got += (size_t)n;
    }
    close(fd);
    if (!nl) {
        return notify_fail(error, "reply from %s longer than %d bytes",
                           path, CTLPROTO_MAX_LINE);
    }
    if (!ctlproto_reply_parse(buf, (size_t)(nl - buf), &reply, error)) {
        return false;
    }
    ok = reply.kind == CTLPROTO_REPLY_OK;
    if (reply.kind == CTLPROTO_REPLY_ERROR) {
        notify_fail(error, "kemarid answered %s: %s", reply.code_name,
                    reply.message);
    } else if (!ok) {
        notify_fail(error, "kemarid sent an event instead of a reply");
    }
    ctlproto_reply_clear(&reply);
    return ok;
}

/* kemarid's control socket: $KEMARI_SOCKET, else kemari.conf's. */
static char *
control_socket(void)
{
    const char *env = g_getenv("KEMARI_SOCKET");
    g_autoptr(conf) c = NULL;

    if (env && *env) {
        return g_strdup(env);
    }
    c = hook_conf();
    return g_strdup(c->control_socket);
}

static int
hook_notify(const char *domain, const char *op)
{
    g_autoptr(kemarixml_doc) d = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;
    g_autofree char *line = NULL;
    size_t len;

    xml = read_input(STDIN_FILENO, KEMARIXML_MAX_SIZE, &len);
    if (!xml || !memmem(xml, len, "kemari", 6)) {
        return 0;
    }
    d = kemarixml_parse(xml, len, &err);
    if (!d || !kemarixml_doc_has_kemari(d)) {
        return 0;
    }
    if (!pairproto_name_valid(domain)) {
        log_warnx("%s: not a VM name kemarid accepts: not telling it about "
                  "%s", domain, op);
        return 0;
    }
    path = control_socket();
    line = hook_request_line(domain, op);
    if (!notify(path, line, &err)) {
        log_warnx("%s: cannot tell kemarid about %s: %s", domain, op,
                  err->message);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
    const char *domain, *op;

    log_init("kemari", 1, LOG_LEVEL_INFO);
    if (argc < 3) {
        log_warnx("usage: %s DOMAIN OPERATION [SUB-OPERATION [EXTRA]] "
                  "(libvirt's QEMU hook; the domain XML on stdin)",
                  argv[0]);
        return 0;
    }
    domain = argv[1];
    op = argv[2];
    if (strcmp(op, "prepare") == 0) {
        return hook_prepare(domain);
    }
    if (strcmp(op, "started") == 0 || strcmp(op, "stopped") == 0 ||
        strcmp(op, "release") == 0) {
        return hook_notify(domain, op);
    }
    /* reconnect above all: never read, never fail */
    return 0;
}
