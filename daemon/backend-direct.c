/*
 * backend-direct.c - the direct QEMU backend of kemarid (see backend.h)
 *
 * The contract (kemarid(8)):
 *   - a VM named NAME is managed when its QEMU listens for QMP on
 *     RUN_DIR/NAME.qmp; kemarid finds such sockets by scanning RUN_DIR;
 *   - the secondary's QEMU is started by kemarid with the primary's
 *     command line (read from /proc/PID/cmdline of the QEMU at the other
 *     end of the QMP socket), minus the options that belong to the
 *     primary's host (-qmp, -pidfile, -daemonize, -incoming, -monitor,
 *     -D, -chroot, -runas, -S), plus its own -qmp socket, -incoming defer,
 *     and any -serial redirected to RUN_DIR/NAME.console;
 *   - the end of a QEMU is the end of our child (a secondary we started)
 *     or, for one we found, the end of its QMP connection and process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "kemarid.h"
#include "log.h"

/* Closes the QMP connection (the process, if any, stays known). */
static void
direct_drop_qmp(struct kd_vm *vm)
{
    if (vm->qmp) {
        qmpc_close(vm->qmp);
        qmpc_unref(vm->qmp);
        vm->qmp = NULL;
    }
    vm->pid = vm->child;        /* 0 unless we started it */
}

static void
direct_release(struct kd_vm *vm)
{
    direct_drop_qmp(vm);
    if (vm->kill_timer && !vm->child) {
        g_source_remove(vm->kill_timer);
        vm->kill_timer = 0;
    }
}

static bool
direct_ready(struct kd_vm *vm)
{
    return vm->qmp && qmpc_is_ready(vm->qmp);
}

struct direct_cmd {
    struct kd_vm *vm;
    kd_reply_fn cb;
    void *opaque;
};

static void
direct_reply(struct qmpc *q, const struct qmpc_msg *reply,
             const GError *error, void *opaque)
{
    struct direct_cmd *c = opaque;

    (void)q;
    /* cancelled: qmpc_close(), the VM may be being freed */
    if (c->cb && !g_error_matches(error, QMPC_ERROR, QMPC_ERROR_CANCELLED)) {
        c->cb(c->vm, reply, error, c->opaque);
    }
    g_free(c);
}

static bool
direct_command(struct kd_vm *vm, const char *command, JsonObject *args,
               kd_reply_fn cb, void *opaque, GError **error)
{
    struct direct_cmd *c;

    if (!vm->qmp) {
        g_set_error(error, QMPC_ERROR, QMPC_ERROR_NOT_CONNECTED,
                    "QEMU is not connected");
        return false;
    }
    c = g_new0(struct direct_cmd, 1);
    c->vm = vm;
    c->cb = cb;
    c->opaque = opaque;
    if (!qmpc_command(vm->qmp, command, args, direct_reply, c, error)) {
        g_free(c);
        return false;
    }
    return true;
}

static void
on_connected(struct qmpc *q, JsonNode *greeting, void *opaque)
{
    struct kd_vm *vm = opaque;

    (void)greeting;
    if (!vm->child) {
        vm->pid = qmpc_peer_pid(q);
    }
    kd_vm_qemu_connected(vm);
}

static void
on_event(struct qmpc *q, const struct qmpc_msg *ev, void *opaque)
{
    (void)q;
    kd_vm_qemu_event(opaque, ev->event,
                     JSON_NODE_HOLDS_OBJECT(ev->value)
                     ? json_node_get_object(ev->value) : NULL);
}

static void on_disconnected(struct qmpc *q, const GError *why, void *opaque);
static void qmp_connect(struct kd_vm *vm);

static void
child_exited(GPid pid, gint status, gpointer data)
{
    struct kd_vm *vm = data;
    g_autofree char *why = NULL;

    vm->child_watch = 0;
    g_spawn_close_pid(pid);
    vm->child = 0;
    if (vm->kill_timer) {
        g_source_remove(vm->kill_timer);
        vm->kill_timer = 0;
    }
    why = g_strdup_printf("QEMU exited (%s %d)",
                          WIFSIGNALED(status) ? "signal" : "status",
                          WIFSIGNALED(status) ? WTERMSIG(status)
                                              : WEXITSTATUS(status));
    vm_log_info(vm->name, "%s", why);
    direct_release(vm);
    kd_vm_qemu_exited(vm, why);
}

/* argv for the secondary: our binary, the primary's portable options,
 * our local ones. */
static GPtrArray *
secondary_argv(struct kd_vm *vm)
{
    const struct conf *c = vm->kd->conf;
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    gsize len = 0;
    const char *p = g_bytes_get_data(vm->config, &len), *end = p + len;
    unsigned serials = 0;

    g_ptr_array_add(argv, g_strdup(c->qemu_binary));
    while (p < end) {
        const char *a = p;

        p += strlen(a) + 1;
        if ((!strcmp(a, "-serial") || !strcmp(a, "--serial")) && p < end) {
            p += strlen(p) + 1;
            g_ptr_array_add(argv, g_strdup("-serial"));
            g_ptr_array_add(argv, g_strdup_printf(
                                "file:%s/%s.console%s", c->run_dir, vm->name,
                                serials ? "2" : ""));
            serials++;
            continue;
        }
        g_ptr_array_add(argv, g_strdup(a));
    }
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off",
                                          vm->qmp_path));
    g_ptr_array_add(argv, g_strdup("-incoming"));
    g_ptr_array_add(argv, g_strdup("defer"));
    g_ptr_array_add(argv, NULL);
    return argv;
}

static void
child_setup(gpointer data)
{
    (void)data;
    setsid();   /* a signal to kemarid's process group spares QEMU */
}

static bool
direct_start_incoming(struct kd_vm *vm, GError **error)
{
    g_autoptr(GPtrArray) argv = NULL;
    g_autofree char *logpath = NULL, *cmd = NULL;
    GPid pid;
    int fd;
    bool ok;

    if (!vm->config) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "no configuration from the primary");
        return false;
    }
    argv = secondary_argv(vm);
    cmd = g_strjoinv(" ", (char **)argv->pdata);
    vm_log_info(vm->name, "starting the incoming QEMU: %s", cmd);
    unlink(vm->qmp_path);
    logpath = g_strdup_printf("%s/%s.log", vm->kd->conf->run_dir, vm->name);
    fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "%s: %s", logpath, g_strerror(errno));
        return false;
    }
    ok = g_spawn_async_with_fds(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD |
                                G_SPAWN_STDIN_FROM_DEV_NULL,
                                child_setup, NULL, &pid, -1, fd, fd, error);
    close(fd);
    if (!ok) {
        return false;
    }
    qmp_connect(vm);
    vm->child = pid;
    vm->pid = pid;
    vm->child_watch = g_child_watch_add(pid, child_exited, vm);
    return true;
}

static gboolean
kill_timeout(gpointer data)
{
    struct kd_vm *vm = data;

    vm->kill_timer = 0;
    if (vm->pid > 0) {
        vm_log_warnx(vm->name, "QEMU (pid %d) did not quit: SIGKILL",
                     (int)vm->pid);
        kill(vm->pid, SIGKILL);
    }
    return G_SOURCE_REMOVE;
}

static void
direct_quit(struct kd_vm *vm)
{
    pid_t pid = vm->pid;

    if ((!vm->qmp ||
         !qmpc_command(vm->qmp, "quit", NULL, NULL, NULL, NULL)) && pid > 0) {
        kill(pid, SIGTERM);
    }
    if (pid > 0 && !vm->kill_timer) {
        vm->kill_timer = g_timeout_add(KD_QUIT_GRACE_MS, kill_timeout, vm);
    }
}

static bool
pid_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static gboolean
check_gone(gpointer data)
{
    struct kd_vm *vm = data;

    if (vm->child || !vm->qmp || qmpc_is_ready(vm->qmp)) {
        return G_SOURCE_REMOVE;     /* ours (child watch), or back */
    }
    if (pid_alive(vm->pid)) {
        return G_SOURCE_CONTINUE;   /* still exiting, or QMP restarts */
    }
    vm_log_info(vm->name, "QEMU (pid %d) is gone", (int)vm->pid);
    direct_release(vm);
    kd_vm_qemu_exited(vm, "QEMU exited");
    return G_SOURCE_REMOVE;
}

static void
on_disconnected(struct qmpc *q, const GError *why, void *opaque)
{
    struct kd_vm *vm = opaque;

    (void)q;
    vm_log_info(vm->name, "QMP connection lost: %s", why->message);
    if (!vm->child) {
        g_timeout_add(200, check_gone, vm);
    }
}

static void
qmp_connect(struct kd_vm *vm)
{
    static const struct qmpc_callbacks cb = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .event = on_event,
    };
    struct qmpc_params params = { .backoff_initial_ms = 50,
                                  .backoff_max_ms = 1000 };
    g_autoptr(GError) err = NULL;

    direct_drop_qmp(vm);
    vm->qmp = qmpc_new(vm->qmp_path, vm->name, &cb, vm, &params, &err);
    if (!vm->qmp) {
        kd_vm_error(vm, "%s", err->message);
        return;
    }
    qmpc_start(vm->qmp);
}

/* Whether a UNIX socket accepts connections now (connect returns at once
 * for UNIX sockets). */
static bool
socket_listening(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd, rc;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return false;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return false;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return rc == 0 || errno == EAGAIN;
}

static void
direct_scan(struct kd *kd)
{
    g_autoptr(GDir) dir = g_dir_open(kd->conf->run_dir, 0, NULL);
    const char *ent;

    if (!dir) {
        return;
    }
    while ((ent = g_dir_read_name(dir))) {
        g_autofree char *name = NULL, *path = NULL;
        struct kd_vm *vm;
        struct stat st;

        if (!g_str_has_suffix(ent, ".qmp")) {
            continue;
        }
        name = g_strndup(ent, strlen(ent) - 4);
        if (!pairproto_name_valid(name)) {
            continue;
        }
        vm = kd_vm_get(kd, name);
        if (vm && (vm->qmp || vm->child)) {
            continue;
        }
        path = g_strdup_printf("%s/%s", kd->conf->run_dir, ent);
        if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            !socket_listening(path)) {
            continue;
        }
        vm = kd_vm_ensure(kd, name);
        if (vm->fsm->state != VMFSM_STOPPED) {
            continue;
        }
        vm_log_info(name, "found QMP socket %s", path);
        qmp_connect(vm);
    }
}

static bool
arg_is(const char *a, const char *opt)
{
    return !strcmp(a, opt) || (a[0] == '-' && !strcmp(a + 1, opt));
}

/* Reads the QEMU command line and keeps what the secondary needs. */
static bool
direct_load_config(struct kd_vm *vm, GError **error)
{
    static const char *const drop_arg[] = {
        "-qmp", "-pidfile", "-incoming", "-monitor", "-D", "-chroot",
        "-runas", NULL,
    };
    static const char *const drop_flag[] = { "-daemonize", "-S", NULL };
    g_autofree char *path = NULL, *data = NULL;
    GByteArray *out;
    gsize len = 0, off;
    bool first = true;
    unsigned i;

    if (vm->pid <= 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "the QEMU process of %s is not known", vm->name);
        return false;
    }
    path = g_strdup_printf("/proc/%d/cmdline", (int)vm->pid);
    if (!g_file_get_contents(path, &data, &len, error)) {
        return false;
    }
    out = g_byte_array_new();
    for (off = 0; off < len;) {
        const char *a = data + off;
        size_t n = strnlen(a, len - off);
        bool skip = false, skip_next = false;

        off += n + 1;
        if (first) {            /* argv[0]: the secondary uses its own */
            first = false;
            continue;
        }
        for (i = 0; drop_arg[i]; i++) {
            if (arg_is(a, drop_arg[i])) {
                skip = skip_next = true;
            }
        }
        for (i = 0; drop_flag[i]; i++) {
            if (arg_is(a, drop_flag[i])) {
                skip = true;
            }
        }
        if (skip_next && off < len) {
            off += strnlen(data + off, len - off) + 1;
        }
        if (!skip && n > 0) {
            g_byte_array_append(out, (const guint8 *)a, (guint)n + 1);
        }
    }
    if (out->len == 0 || out->len > PAIRPROTO_CONFIG_MAX) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the QEMU command line of %s is %s", vm->name,
                    out->len ? "too long for the pair protocol" : "empty");
        g_byte_array_unref(out);
        return false;
    }
    if (vm->config) {
        g_bytes_unref(vm->config);
    }
    vm->config = g_byte_array_free_to_bytes(out);
    return true;
}

const struct kd_backend kd_backend_direct = {
    .name = "direct",
    .config_kind = PAIRPROTO_CONFIG_ARGV,
    .scan = direct_scan,
    .ready = direct_ready,
    .command = direct_command,
    .load_config = direct_load_config,
    .start_incoming = direct_start_incoming,
    .quit = direct_quit,
    .release = direct_release,
};
