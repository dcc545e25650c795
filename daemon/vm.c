/*
 * vm.c - one protected VM in kemarid: its state machine, the effects the
 * machine asks for, and what the engine says over QMP (commands and
 * KEMARI_STATE_CHANGE events).  How QMP reaches QEMU, and how the
 * secondary's QEMU is started, is the backend's (backend.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "backend.h"
#include "ctlproto.h"
#include "kemarid.h"
#include "log.h"

static double
wall_now(void)
{
    return (double)g_get_real_time() / G_USEC_PER_SEC;
}

void
kd_vm_error(struct kd_vm *vm, const char *fmt, ...)
{
    va_list ap;

    g_free(vm->last_error);
    va_start(ap, fmt);
    vm->last_error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vm_log_warnx(vm->name, "%s", vm->last_error);
}

struct kd_vm *
kd_vm_get(struct kd *kd, const char *name)
{
    return g_hash_table_lookup(kd->vms, name);
}

static void
disk_rate_clear(gpointer p)
{
    g_free(((struct kd_disk_rate *)p)->device);
}

void
kd_vm_set_replicated(struct kd_vm *vm, char *const *ids)
{
    g_strfreev(vm->opts.replicated);
    vm->opts.replicated = ids && ids[0] ? g_strdupv((char **)ids) : NULL;
}

void
kd_vm_set_opts_problem(struct kd_vm *vm, const char *problem)
{
    g_free(vm->opts_problem);
    vm->opts_problem = g_strdup(problem);
}

struct kd_vm *
kd_vm_ensure(struct kd *kd, const char *name)
{
    struct vmfsm_policy policy = {
        .pacemaker = kd->conf->failover_policy == CONF_FAILOVER_PACEMAKER,
        .reprotect_auto = kd->conf->reprotect == CONF_REPROTECT_AUTOMATIC,
    };
    struct kd_vm *vm = kd_vm_get(kd, name);

    if (vm) {
        return vm;
    }
    vm = g_new0(struct kd_vm, 1);
    vm->kd = kd;
    vm->name = g_strdup(name);
    vm->fsm = vmfsm_new(name, &policy);
    vm->since = wall_now();
    vm->refused = g_hash_table_new(g_direct_hash, g_direct_equal);
    vm->qmp_path = g_strdup_printf("%s/%s.qmp", kd->conf->run_dir, name);
    vm->opts.ckpt_mode = -1;
    vm->opts.min_interval_ms = -1;
    vm->opts.max_interval_ms = -1;
    vm->opts.ack_timeout_ms = -1;
    vm->disk_rates = g_array_new(FALSE, TRUE, sizeof(struct kd_disk_rate));
    g_array_set_clear_func(vm->disk_rates, disk_rate_clear);
    g_hash_table_insert(kd->vms, vm->name, vm);
    if (kd->up) {
        struct vmfsm_event_data d = { .quorate = kd->view.quorate };

        kd_vm_feed(vm, VMFSM_EV_MEMBERSHIP_REGAINED, &d, NULL);
    }
    return vm;
}

/* Forgets the QEMU of the VM: its connection and what it said. */
static void
forget_qemu(struct kd_vm *vm)
{
    if (vm->poll_timer) {
        g_source_remove(vm->poll_timer);
        vm->poll_timer = 0;
    }
    vm->kd->backend->release(vm);
    vm->running_fed = false;
    vm->shutdown_seen = false;
    vm->continue_wanted = false;
    g_clear_pointer(&vm->engine, json_node_unref);
    g_clear_pointer(&vm->engine_state, g_free);
}

void
kd_vm_free(struct kd_vm *vm)
{
    if (!vm) {
        return;
    }
    forget_qemu(vm);
    if (vm->pair_timer) {
        g_source_remove(vm->pair_timer);
    }
    if (vm->kill_timer) {
        g_source_remove(vm->kill_timer);
    }
    if (vm->child_watch) {
        g_source_remove(vm->child_watch);
    }
    if (vm->config) {
        g_bytes_unref(vm->config);
    }
    g_hash_table_destroy(vm->refused);
    g_strfreev(vm->opts.replicated);
    g_strfreev(vm->opts.peers);
    g_free(vm->opts_problem);
    g_array_free(vm->disk_rates, TRUE);
    vmfsm_free(vm->fsm);
    g_free(vm->last_error);
    g_free(vm->qmp_path);
    g_free(vm->name);
    g_free(vm);
}

/* ------------------------------------------------------------------ */
/* Pair messages */

static void
send_simple(struct kd_vm *vm, enum pairproto_type type, uint32_t node,
            uint64_t epoch, const char *reason)
{
    struct pairproto_msg m = { .type = type, .target = node, .epoch = epoch };

    g_strlcpy(m.vm, vm->name, sizeof(m.vm));
    if (reason) {
        g_strlcpy(m.reason, reason, sizeof(m.reason));
    }
    kd_send(vm->kd, &m);
}

static void
send_refuse(struct kd *kd, const char *name, uint32_t node, uint64_t epoch,
            enum pairproto_reason code, const char *text)
{
    struct pairproto_msg m = {
        .type = PAIRPROTO_PAIR_REFUSE, .target = node, .epoch = epoch,
        .reason_code = code,
    };

    g_strlcpy(m.vm, name, sizeof(m.vm));
    g_strlcpy(m.reason, text ? text : "", sizeof(m.reason));
    kd_send(kd, &m);
}

static uint64_t
engine_epoch(struct kd_vm *vm)
{
    JsonObject *o;

    if (!vm->engine || !JSON_NODE_HOLDS_OBJECT(vm->engine)) {
        return 0;
    }
    o = json_node_get_object(vm->engine);
    return (uint64_t)json_object_get_int_member_with_default(o, "epoch", 0);
}

static void
send_pair_request(struct kd_vm *vm, uint32_t node, uint64_t epoch)
{
    unsigned i;
    struct pairproto_msg m = {
        .type = PAIRPROTO_PAIR_REQUEST, .target = node, .epoch = epoch,
        .node_id = vm->kd->view.local_node,
        .config_kind = vm->kd->backend->config_kind,
    };

    g_strlcpy(m.vm, vm->name, sizeof(m.vm));
    memcpy(m.uuid, vm->uuid, sizeof(m.uuid));
    m.config = vm->config;      /* borrowed for the encode */
    /* the secondary replicates the same disks if it takes over */
    for (i = 0; vm->opts.replicated && vm->opts.replicated[i] &&
                i < PAIRPROTO_MAX_REPLICATED; i++) {
        g_strlcpy(m.replicated[i], vm->opts.replicated[i],
                  sizeof(m.replicated[i]));
    }
    m.n_replicated = i;
    kd_send(vm->kd, &m);
}

/* ------------------------------------------------------------------ */
/* QEMU commands */

struct cmd_ctx {
    const char *what;           /* static */
    void (*done)(struct kd_vm *vm, const GError *error);
};

static void
cmd_reply(struct kd_vm *vm, const struct qmpc_msg *reply,
          const GError *error, void *opaque)
{
    struct cmd_ctx *c = opaque;

    (void)reply;
    if (error) {
        vm_log_warnx(vm->name, "%s: %s", c->what, error->message);
    }
    if (c->done) {
        c->done(vm, error);
    }
    g_free(c);
}

/* Sends COMMAND; DONE (may be NULL) gets the outcome.  False (and DONE
 * is not called) when QMP is not ready. */
static bool
qemu_cmd(struct kd_vm *vm, const char *command, JsonObject *args,
         void (*done)(struct kd_vm *vm, const GError *error))
{
    g_autoptr(GError) err = NULL;
    struct cmd_ctx *c = g_new0(struct cmd_ctx, 1);

    c->what = command;
    c->done = done;
    if (!vm->kd->backend->command(vm, command, args, cmd_reply, c, &err)) {
        vm_log_warnx(vm->name, "%s: %s", command, err->message);
        g_free(c);
        return false;
    }
    return true;
}

static void
add_cap(JsonArray *caps, const char *name, bool state)
{
    JsonObject *cap = json_object_new();

    json_object_set_string_member(cap, "capability", name);
    json_object_set_boolean_member(cap, "state", state);
    json_array_add_object_element(caps, cap);
}

/*
 * x-kemari, and on the primary xbzrle as page-encoding says: a page the
 * guest changed in part travels as a delta against the copy sent last.
 */
static JsonObject *
caps_args(const struct kd *kd, bool primary)
{
    JsonObject *args = json_object_new();
    JsonArray *caps = json_array_new();

    add_cap(caps, "x-kemari", true);
    if (primary) {
        add_cap(caps, "xbzrle",
                kd->conf->page_encoding == CONF_PAGES_DELTA);
    }
    json_object_set_array_member(args, "capabilities", caps);
    return args;
}

static char *
tcp_uri(const char *host, unsigned port)
{
    if (strchr(host, ':')) {
        return g_strdup_printf("tcp:[%s]:%u", host, port);
    }
    return g_strdup_printf("tcp:%s:%u", host, port);
}

/* Feeds an event from a callback (never from inside kd_vm_feed). */
static void
feed_simple(struct kd_vm *vm, enum vmfsm_event ev, const char *reason)
{
    struct vmfsm_event_data d = { .reason = reason };

    kd_vm_feed(vm, ev, &d, NULL);
}

/* ---- primary: start protection ---- */

static void start_protection(struct kd_vm *vm);

static gboolean
protection_retry(gpointer data)
{
    struct kd_vm *vm = data;

    if (vm->fsm->state == VMFSM_SYNCING) {
        start_protection(vm);
    }
    return G_SOURCE_REMOVE;
}

static void
migrate_done(struct kd_vm *vm, const GError *error)
{
    if (error && strstr(error->message, "still being cleaned up") &&
        vm->protect_retries < 50) {
        /* the engine's previous session is finishing: a moment */
        vm->protect_retries++;
        g_timeout_add(100, protection_retry, vm);
        return;
    }
    if (error) {
        kd_vm_error(vm, "protection did not start: %s", error->message);
        feed_simple(vm, VMFSM_EV_STREAM_BROKEN, error->message);
    }
}

static void
params_done(struct kd_vm *vm, const GError *error)
{
    g_autofree char *uri = NULL;
    JsonObject *args;

    if (error) {
        migrate_done(vm, error);
        return;
    }
    uri = tcp_uri(vm->peer_host, vm->peer_port);
    args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    vm_log_info(vm->name, "protecting: migrate to %s", uri);
    if (!qemu_cmd(vm, "migrate", args, migrate_done)) {
        feed_simple(vm, VMFSM_EV_STREAM_BROKEN, "QEMU is not connected");
    }
    json_object_unref(args);
}

/* A VM's own setting if it has one (>= 0), else kemari.conf's. */
static unsigned
own_or(int own, unsigned dflt)
{
    return own >= 0 ? (unsigned)own : dflt;
}

/*
 * Where the VM's QEMU keeps the state of its replicated disks' images
 * (x-kemari-disk-state-dir): STATE-DIR/disks/VM, made if missing and
 * given to the QEMU's user, so that the QEMU can write there whoever
 * started it.  NULL (logged) if it cannot be made: the disks are then
 * always copied whole.
 */
static char *
disk_state_dir(struct kd_vm *vm)
{
    g_autofree char *dir = g_build_filename(vm->kd->conf->state_dir, "disks",
                                            vm->name, NULL);
    g_autofree char *proc = NULL;
    struct stat st;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        vm_log_warnx(vm->name, "cannot create %s: %s; replicated disks "
                     "will be copied whole", dir, g_strerror(errno));
        return NULL;
    }
    proc = g_strdup_printf("/proc/%d", (int)vm->pid);
    if (vm->pid > 0 && stat(proc, &st) == 0 && st.st_uid != 0 &&
        chown(dir, st.st_uid, st.st_gid) < 0) {
        vm_log_warnx(vm->name, "cannot give %s to QEMU's user %u: %s", dir,
                     (unsigned)st.st_uid, g_strerror(errno));
    }
    return g_steal_pointer(&dir);
}

/* The x-kemari-disk-state-dir argument, for a VM with replicated disks. */
static void
add_disk_state_dir(struct kd_vm *vm, JsonObject *args)
{
    g_autofree char *dir = NULL;

    if (!vm->opts.replicated) {
        return;
    }
    dir = disk_state_dir(vm);
    json_object_set_string_member(args, "x-kemari-disk-state-dir",
                                  dir ? dir : "");
}

/* The x-kemari-replicated-disks argument: the VM's list, maybe empty. */
static void
add_replicated_disks(const struct kd_vm_opts *o, JsonObject *args)
{
    JsonArray *disks = json_array_new();
    unsigned i;

    for (i = 0; o->replicated && o->replicated[i]; i++) {
        json_array_add_string_element(disks, o->replicated[i]);
    }
    json_object_set_array_member(args, "x-kemari-replicated-disks", disks);
}

/*
 * The engine's parameters: the VM's own settings, else kemari.conf's.
 * The replicated disks are always set, so that a list left from an
 * earlier session never applies.
 */
static JsonObject *
protection_params(const struct conf *c, const struct kd_vm_opts *o)
{
    JsonObject *args = json_object_new();
    int mode = o->ckpt_mode >= 0 ? o->ckpt_mode : (int)c->ckpt_mode;

    json_object_set_string_member(args, "x-kemari-mode",
                                  mode == CONF_CKPT_PERIODIC
                                  ? "periodic" : "event");
    json_object_set_int_member(args, "x-kemari-min-interval",
                               own_or(o->min_interval_ms, c->min_interval_ms));
    json_object_set_int_member(args, "x-kemari-max-interval",
                               own_or(o->max_interval_ms, c->max_interval_ms));
    json_object_set_int_member(args, "x-kemari-ack-timeout",
                               own_or(o->ack_timeout_ms, c->ack_timeout_ms));
    add_replicated_disks(o, args);
    return args;
}

static void
caps_done_primary(struct kd_vm *vm, const GError *error)
{
    const struct conf *c = vm->kd->conf;
    JsonObject *args;

    if (error) {
        migrate_done(vm, error);
        return;
    }
    args = protection_params(c, &vm->opts);
    add_disk_state_dir(vm, args);
    if (!qemu_cmd(vm, "migrate-set-parameters", args, params_done)) {
        feed_simple(vm, VMFSM_EV_STREAM_BROKEN, "QEMU is not connected");
    }
    json_object_unref(args);
}

/* Whether the engine's previous protection session is still going. */
static bool
engine_busy(struct kd_vm *vm)
{
    return g_strcmp0(vm->engine_state, "syncing") == 0 ||
           g_strcmp0(vm->engine_state, "protected") == 0 ||
           g_strcmp0(vm->engine_state, "secondary-lost") == 0;
}

static void
start_protection(struct kd_vm *vm)
{
    JsonObject *args;

    if (engine_busy(vm)) {
        vm_log_info(vm->name, "protection starts when the engine's previous "
                    "session has ended (now: %s)", vm->engine_state);
        vm->protect_deferred = true;
        return;
    }
    vm->protect_deferred = false;
    if (vm->opts_problem) {
        /* e.g. a replicated disk without a name: never take it for shared */
        kd_vm_error(vm, "protection did not start: %s", vm->opts_problem);
        return;
    }
    args = caps_args(vm->kd, true);
    vm->continue_wanted = false;
    if (!qemu_cmd(vm, "migrate-set-capabilities", args, caps_done_primary)) {
        /* from inside kd_vm_feed: report through an idle callback */
        kd_vm_error(vm, "protection did not start: QEMU is not connected");
    }
    json_object_unref(args);
}

static void
continue_unprotected(struct kd_vm *vm)
{
    if (g_strcmp0(vm->engine_state, "secondary-lost") == 0) {
        vm->continue_wanted = false;
        qemu_cmd(vm, "x-kemari-continue-unprotected", NULL, NULL);
    } else {
        /* the engine has not noticed yet (acknowledgement timeout):
         * outputs stay held until it does, then we continue */
        vm_log_info(vm->name, "secondary confirmed gone; releasing held "
                    "outputs as soon as QEMU reports it lost (now: %s)",
                    vm->engine_state ? vm->engine_state : "unknown");
        vm->continue_wanted = true;
    }
}

/* ---- secondary: start the incoming QEMU ---- */

static bool
port_free(const char *host, unsigned port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
    struct addrinfo *res = NULL;
    char service[8];
    bool ok = false;
    int fd;

    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        return false;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static unsigned
pick_port(struct kd *kd)
{
    GHashTableIter it;
    gpointer v;
    unsigned p;

    for (p = kd->conf->migration_port_min; p <= kd->conf->migration_port_max;
         p++) {
        bool used = false;

        g_hash_table_iter_init(&it, kd->vms);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            if (((struct kd_vm *)v)->incoming_port == p) {
                used = true;
            }
        }
        if (!used && port_free(kd->migration_address, p)) {
            return p;
        }
    }
    return 0;
}

static void
incoming_done(struct kd_vm *vm, const GError *error)
{
    if (error) {
        kd_vm_error(vm, "the incoming QEMU did not listen: %s",
                    error->message);
        feed_simple(vm, VMFSM_EV_INCOMING_FAILED, error->message);
        return;
    }
    vm_log_info(vm->name, "incoming QEMU listens on %s port %u",
                vm->kd->migration_address, vm->incoming_port);
    feed_simple(vm, VMFSM_EV_INCOMING_READY, NULL);
}

static void
params_done_secondary(struct kd_vm *vm, const GError *error)
{
    g_autofree char *uri = NULL;
    JsonObject *args;

    if (error) {
        incoming_done(vm, error);
        return;
    }
    uri = tcp_uri(vm->kd->migration_address, vm->incoming_port);
    args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    if (!qemu_cmd(vm, "migrate-incoming", args, incoming_done)) {
        feed_simple(vm, VMFSM_EV_INCOMING_FAILED, "QEMU is not connected");
    }
    json_object_unref(args);
}

/* The secondary's replicated disks keep their state here too. */
static void
caps_done_secondary(struct kd_vm *vm, const GError *error)
{
    JsonObject *args;

    if (error || !vm->opts.replicated) {
        params_done_secondary(vm, error);
        return;
    }
    args = json_object_new();
    add_disk_state_dir(vm, args);
    if (!qemu_cmd(vm, "migrate-set-parameters", args,
                  params_done_secondary)) {
        feed_simple(vm, VMFSM_EV_INCOMING_FAILED, "QEMU is not connected");
    }
    json_object_unref(args);
}

/* ------------------------------------------------------------------ */
/* Effects */

static gboolean
pair_timeout(gpointer data)
{
    struct kd_vm *vm = data;

    vm->pair_timer = 0;
    kd_vm_error(vm, "the peer did not answer the pair request in %u s",
                KD_PAIR_TIMEOUT_MS / 1000);
    kd_vm_feed(vm, VMFSM_EV_PEER_TIMEOUT, NULL, NULL);
    return G_SOURCE_REMOVE;
}

static gboolean
reprotect_idle(gpointer data)
{
    struct kd_vm *vm = data;

    vm->reprotect_pending = true;
    kd_vm_retry_reprotect(vm);
    return G_SOURCE_REMOVE;
}

static gboolean
incoming_failed_idle(gpointer data)
{
    struct kd_vm *vm = data;

    feed_simple(vm, VMFSM_EV_INCOMING_FAILED, vm->last_error);
    return G_SOURCE_REMOVE;
}

static void
failover_done(struct kd_vm *vm, const GError *error)
{
    if (error) {
        kd_vm_error(vm, "failover refused by QEMU: %s", error->message);
        feed_simple(vm, VMFSM_EV_FAILOVER_FAILED, error->message);
    }
}

static void
run_effect(struct kd_vm *vm, const struct vmfsm_effect *e)
{
    g_autoptr(GError) err = NULL;

    vm_log_debug(vm->name, "effect %s", vmfsm_fx_name(e->kind));
    switch (e->kind) {
    case VMFSM_FX_SEND_PAIR_REQUEST:
        send_pair_request(vm, e->node, e->epoch);
        break;
    case VMFSM_FX_SEND_PAIR_ACCEPT: {
        struct pairproto_msg m = {
            .type = PAIRPROTO_PAIR_ACCEPT, .target = e->node,
            .epoch = e->epoch, .port = vm->incoming_port,
        };

        g_strlcpy(m.vm, vm->name, sizeof(m.vm));
        g_strlcpy(m.host, vm->kd->migration_address, sizeof(m.host));
        kd_send(vm->kd, &m);
        break;
    }
    case VMFSM_FX_SEND_PAIR_REFUSE:
        send_refuse(vm->kd, vm->name, e->node, e->epoch,
                    PAIRPROTO_REASON_START_FAILED, e->reason);
        break;
    case VMFSM_FX_SEND_RELEASE:
        send_simple(vm, PAIRPROTO_RELEASE, e->node, e->epoch, e->reason);
        break;
    case VMFSM_FX_SEND_STOP:
        send_simple(vm, PAIRPROTO_STOP, e->node, e->epoch, e->reason);
        break;
    case VMFSM_FX_SEND_STATE_REPORT: {
        struct pairproto_msg m = {
            .type = PAIRPROTO_STATE_REPORT, .target = e->node,
            .epoch = e->epoch, .role = (uint8_t)vmfsm_role(vm->fsm),
            .state = (uint8_t)vm->fsm->state, .ckpt_seq = engine_epoch(vm),
        };

        g_strlcpy(m.vm, vm->name, sizeof(m.vm));
        kd_send(vm->kd, &m);
        break;
    }
    case VMFSM_FX_ARM_PAIR_TIMER:
        if (vm->pair_timer) {
            g_source_remove(vm->pair_timer);
        }
        vm->pair_timer = g_timeout_add(KD_PAIR_TIMEOUT_MS, pair_timeout, vm);
        break;
    case VMFSM_FX_DISARM_PAIR_TIMER:
        if (vm->pair_timer) {
            g_source_remove(vm->pair_timer);
            vm->pair_timer = 0;
        }
        break;
    case VMFSM_FX_QEMU_START_INCOMING:
        vm->incoming_port = pick_port(vm->kd);
        if (!vm->incoming_port) {
            kd_vm_error(vm, "cannot start the incoming QEMU: no free port "
                        "in %u-%u on %s", vm->kd->conf->migration_port_min,
                        vm->kd->conf->migration_port_max,
                        vm->kd->migration_address);
            g_idle_add(incoming_failed_idle, vm);
        } else if (!vm->kd->backend->start_incoming(vm, &err)) {
            kd_vm_error(vm, "cannot start the incoming QEMU: %s",
                        err->message);
            g_idle_add(incoming_failed_idle, vm);
        }
        break;
    case VMFSM_FX_QEMU_START_PROTECTION:
        vm->protect_retries = 0;
        start_protection(vm);
        break;
    case VMFSM_FX_QEMU_STOP_PROTECTION:
        qemu_cmd(vm, "x-kemari-stop", NULL, NULL);
        break;
    case VMFSM_FX_QEMU_CONTINUE_UNPROTECTED:
        continue_unprotected(vm);
        break;
    case VMFSM_FX_QEMU_FAILOVER:
        vm_log_info(vm->name, "failing over: x-kemari-failover");
        if (!qemu_cmd(vm, "x-kemari-failover", NULL, failover_done)) {
            kd_vm_error(vm, "failover impossible: QEMU is not connected");
        }
        break;
    case VMFSM_FX_QEMU_QUIT:
        vm->kd->backend->quit(vm);
        break;
    case VMFSM_FX_REPROTECT:
        g_idle_add(reprotect_idle, vm);
        break;
    case VMFSM_FX_COUNT:
        break;
    }
}

enum vmfsm_result
kd_vm_feed(struct kd_vm *vm, enum vmfsm_event ev,
           const struct vmfsm_event_data *d, const char **reason)
{
    struct vmfsm_effects fx;
    enum vmfsm_state before = vm->fsm->state;
    enum vmfsm_result r;
    unsigned i;

    r = vmfsm_handle(vm->fsm, ev, d, &fx, reason);
    if (vm->fsm->state != before) {
        vm->since = wall_now();
        if (vm->fsm->state == VMFSM_PROTECTED ||
            vm->fsm->state == VMFSM_STANDBY) {
            g_clear_pointer(&vm->last_error, g_free);
        }
    }
    for (i = 0; i < fx.n; i++) {
        run_effect(vm, &fx.fx[i]);
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* QMP: events, state, polling */

static JsonArray *
array_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

static gboolean poll_engine(gpointer data);

static void
engine_change(struct kd_vm *vm, const char *role, const char *state,
              const char *reason)
{
    g_free(vm->engine_state);
    vm->engine_state = g_strdup(state);
    /* what `kemari status` shows follows at once, not at the next poll */
    poll_engine(vm);
    vm_log_info(vm->name, "engine: %s %s%s%s", role, state,
                reason ? ": " : "", reason ? reason : "");
    if (!strcmp(state, "protected")) {
        feed_simple(vm, VMFSM_EV_SYNC_DONE, NULL);
    } else if (!strcmp(state, "primary-lost") &&
               vm->fsm->state == VMFSM_FAILING_OVER) {
        /* x-kemari-failover did not complete (e.g. the old primary,
         * alive behind a partition, still holds the disk images' locks) */
        kd_vm_error(vm, "failover failed: %s", reason ? reason : "?");
        feed_simple(vm, VMFSM_EV_FAILOVER_FAILED, reason);
    } else if (!strcmp(state, "secondary-lost") ||
               !strcmp(state, "primary-lost")) {
        if (reason) {
            kd_vm_error(vm, "checkpoint stream broken: %s", reason);
        }
        feed_simple(vm, VMFSM_EV_STREAM_BROKEN, reason);
        if (!strcmp(state, "secondary-lost") && vm->continue_wanted) {
            continue_unprotected(vm);
        }
    } else if (!strcmp(state, "failed-over")) {
        if (vm->kd->backend->took_over) {
            vm->kd->backend->took_over(vm);
        }
        feed_simple(vm, VMFSM_EV_FAILOVER_DONE, NULL);
    }
    if (vm->protect_deferred && !engine_busy(vm) &&
        vm->fsm->state == VMFSM_SYNCING) {
        start_protection(vm);
    }
}

void
kd_vm_qemu_event(struct kd_vm *vm, const char *event, JsonObject *data)
{
    if (!strcmp(event, "KEMARI_STATE_CHANGE")) {
        const char *role = str_member(data, "role");
        const char *state = str_member(data, "state");

        if (role && state) {
            engine_change(vm, role, state, str_member(data, "reason"));
        }
    } else if (!strcmp(event, "SHUTDOWN")) {
        if (data && json_object_get_boolean_member_with_default(data, "guest",
                                                                FALSE)) {
            vm->shutdown_seen = true;
        }
    }
}

void
kd_vm_qemu_exited(struct kd_vm *vm, const char *why)
{
    struct vmfsm_event_data d = { .clean = vm->shutdown_seen,
                                  .reason = why };

    forget_qemu(vm);
    kd_vm_feed(vm, VMFSM_EV_QEMU_EXITED, &d, NULL);
}

/*
 * The I-th entry of query-kemari's "disks": its device id (NULL when the
 * entry is malformed), the object, its size and remaining bytes.
 */
static const char *
disk_entry(JsonArray *disks, guint i, JsonObject **d, gint64 *size,
           gint64 *remaining)
{
    JsonNode *e = json_array_get_element(disks, i);

    *d = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
    if (!*d) {
        return NULL;
    }
    *size = json_object_get_int_member_with_default(*d, "size", 0);
    *remaining = json_object_get_int_member_with_default(*d, "remaining", 0);
    return str_member(*d, "device");
}

static struct kd_disk_rate *
disk_rate(struct kd_vm *vm, const char *device)
{
    struct kd_disk_rate r = { .device = g_strdup(device) };
    guint i;

    for (i = 0; i < vm->disk_rates->len; i++) {
        struct kd_disk_rate *e = &g_array_index(vm->disk_rates,
                                                struct kd_disk_rate, i);

        if (!strcmp(e->device, device)) {
            return e;
        }
    }
    g_array_append_val(vm->disk_rates, r);
    return &g_array_index(vm->disk_rates, struct kd_disk_rate,
                          vm->disk_rates->len - 1);
}

/*
 * How fast each replicated disk's copy advances: bytes of the disk
 * covered (its size less what remains) per second between two samples,
 * smoothed.  Writes made meanwhile add to what remains, so the rate is
 * the net one, the one that says when the copy will end.
 */
static void
disk_rates_update(struct kd_vm *vm, JsonObject *engine, double now)
{
    JsonArray *disks = array_member(engine, "disks");
    guint i, n = disks ? json_array_get_length(disks) : 0;

    for (i = 0; i < n; i++) {
        JsonObject *d;
        gint64 size, remaining;
        const char *device = disk_entry(disks, i, &d, &size, &remaining);
        struct kd_disk_rate *r;
        uint64_t done;

        if (!device) {
            continue;
        }
        done = size > remaining ? (uint64_t)(size - remaining) : 0;
        r = disk_rate(vm, device);
        if (r->time > 0 && now > r->time) {
            double sample = done > r->done
                            ? (double)(done - r->done) / (now - r->time) : 0;

            r->rate = r->rate > 0 ? (r->rate + sample) / 2 : sample;
        }
        r->done = done;
        r->time = now;
    }
}

static void
kemari_reply(struct kd_vm *q, const struct qmpc_msg *reply,
             const GError *error, void *opaque)
{
    struct kd_vm *vm = opaque;
    JsonObject *o;
    uint64_t n;
    double t;

    (void)q;
    if (error || !reply || !JSON_NODE_HOLDS_OBJECT(reply->value)) {
        return;
    }
    if (vm->engine) {
        json_node_unref(vm->engine);
    }
    vm->engine = json_node_copy(reply->value);
    o = json_node_get_object(vm->engine);
    n = (uint64_t)json_object_get_int_member_with_default(o, "checkpoints",
                                                          0);
    t = wall_now();
    if (vm->rate_time > 0 && t > vm->rate_time && n >= vm->rate_ckpts) {
        vm->ckpt_rate = (double)(n - vm->rate_ckpts) / (t - vm->rate_time);
    }
    vm->rate_ckpts = n;
    vm->rate_time = t;
    disk_rates_update(vm, o, t);
    if (!vm->engine_state && str_member(o, "state")) {
        vm->engine_state = g_strdup(str_member(o, "state"));
    }
}

static gboolean
poll_engine(gpointer data)
{
    struct kd_vm *vm = data;

    if (vm->kd->backend->ready(vm)) {
        g_autoptr(GError) err = NULL;

        vm->kd->backend->command(vm, "query-kemari", NULL, kemari_reply, vm,
                                 &err);
    }
    return G_SOURCE_CONTINUE;
}

/* The QEMU answered query-status/query-kemari after connecting. */
struct adopt_ctx {
    struct kd_vm *vm;
    bool running;
};

static void
uuid_reply(struct kd_vm *q, const struct qmpc_msg *reply, const GError *error,
           void *opaque)
{
    struct kd_vm *vm = opaque;
    const char *s = NULL;
    unsigned i, zero = 1;

    (void)q;
    if (!error && reply && JSON_NODE_HOLDS_OBJECT(reply->value)) {
        s = str_member(json_node_get_object(reply->value), "UUID");
    }
    if (s && strlen(s) == 36) {
        unsigned j = 0;

        for (i = 0; s[i] && j < PAIRPROTO_UUID_SIZE * 2; i++) {
            int v = g_ascii_xdigit_value(s[i]);

            if (v < 0) {
                continue;
            }
            if (j % 2 == 0) {
                vm->uuid[j / 2] = (uint8_t)(v << 4);
            } else {
                vm->uuid[j / 2] |= (uint8_t)v;
            }
            j++;
        }
    }
    for (i = 0; i < PAIRPROTO_UUID_SIZE; i++) {
        if (vm->uuid[i]) {
            zero = 0;
        }
    }
    if (zero) {
        /* no -uuid: a stable one from the name (version 5 style) */
        g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA1);
        guint8 digest[20];
        gsize len = sizeof(digest);

        g_checksum_update(ck, (const guchar *)"kemari-vm:", 10);
        g_checksum_update(ck, (const guchar *)vm->name, -1);
        g_checksum_get_digest(ck, digest, &len);
        memcpy(vm->uuid, digest, PAIRPROTO_UUID_SIZE);
        vm->uuid[6] = (uint8_t)((vm->uuid[6] & 0x0f) | 0x50);
        vm->uuid[8] = (uint8_t)((vm->uuid[8] & 0x3f) | 0x80);
    }
}

static void
kvm_reply(struct kd_vm *q, const struct qmpc_msg *reply, const GError *error,
          void *opaque)
{
    struct kd_vm *vm = opaque;

    (void)q;
    if (!error && reply && JSON_NODE_HOLDS_OBJECT(reply->value)) {
        vm->uses_kvm = json_object_get_boolean_member_with_default(
            json_node_get_object(reply->value), "enabled", FALSE);
    }
}

static void
adopt_reply(struct kd_vm *q, const struct qmpc_msg *reply, const GError *error,
            void *opaque)
{
    struct kd_vm *vm = opaque;
    JsonObject *o;
    const char *role, *state;

    (void)q;
    if (error || !reply || !JSON_NODE_HOLDS_OBJECT(reply->value)) {
        vm_log_warnx(vm->name, "query-kemari failed: %s (not a Kemari QEMU?)",
                     error ? error->message : "no answer");
        return;
    }
    kemari_reply(q, reply, error, vm);
    o = json_node_get_object(reply->value);
    role = str_member(o, "role");
    state = str_member(o, "state");
    if (!role || !state) {
        return;
    }
    if (vm->fsm->state == VMFSM_STOPPED && !vm->running_fed &&
        (!strcmp(role, "none") || !strcmp(role, "primary"))) {
        if (!strcmp(state, "protected") || !strcmp(state, "syncing") ||
            !strcmp(state, "secondary-lost")) {
            kd_vm_error(vm, "QEMU is already %s (kemarid restarted?); "
                        "its protection is not adopted", state);
        }
        vm->running_fed = true;
        vm_log_info(vm->name, "QEMU (pid %d) runs here", (int)vm->pid);
        kd_vm_feed(vm, VMFSM_EV_VM_RUNNING, NULL, NULL);
    }
}

/*
 * A QEMU that runs the guest here learns its replicated disks and their
 * state directory at once, not only when protection starts: a QEMU
 * started again (after a crash, say) whose guest has not written to a
 * disk yet takes up the disk's activity log as its resync bitmap, so
 * that the other copy comes back with an incremental resync.
 */
static void
arm_disk_state(struct kd_vm *vm)
{
    JsonObject *args;

    if (!vm->opts.replicated) {
        return;
    }
    args = json_object_new();
    add_replicated_disks(&vm->opts, args);
    add_disk_state_dir(vm, args);
    qemu_cmd(vm, "migrate-set-parameters", args, NULL);
    json_object_unref(args);
}

void
kd_vm_qemu_connected(struct kd_vm *vm)
{
    const struct kd_backend *be = vm->kd->backend;
    g_autoptr(GError) err = NULL;

    if (vm->fsm->state != VMFSM_INCOMING) {
        arm_disk_state(vm);
    }
    be->command(vm, "query-uuid", NULL, uuid_reply, vm, NULL);
    be->command(vm, "query-kvm", NULL, kvm_reply, vm, NULL);
    if (vm->fsm->state == VMFSM_INCOMING) {
        JsonObject *args = caps_args(vm->kd, false);

        if (!qemu_cmd(vm, "migrate-set-capabilities", args,
                      caps_done_secondary)) {
            feed_simple(vm, VMFSM_EV_INCOMING_FAILED,
                        "QEMU is not connected");
        }
        json_object_unref(args);
    } else if (!be->command(vm, "query-kemari", NULL, adopt_reply, vm,
                            &err)) {
        vm_log_warnx(vm->name, "query-kemari: %s", err->message);
    }
    if (!vm->poll_timer) {
        vm->poll_timer = g_timeout_add(KD_POLL_MS, poll_engine, vm);
    }
}

/* ------------------------------------------------------------------ */
/* The primary's configuration for its secondary */

/* Whether CONFIG (argv or domain XML) asks for KVM acceleration. */
static bool
config_uses_kvm(enum pairproto_config_kind kind, GBytes *config)
{
    gsize len = 0;
    const char *p = g_bytes_get_data(config, &len), *end = p + len;
    bool accel_next = false;

    if (kind == PAIRPROTO_CONFIG_LIBVIRT_XML) {
        /* <domain type='kvm'>: the first attribute libvirt writes */
        g_autofree char *head = g_strndup(p, MIN(len, 256));

        return strstr(head, "type='kvm'") || strstr(head, "type=\"kvm\"");
    }
    while (p < end) {
        if (!strcmp(p, "-enable-kvm") || !strcmp(p, "--enable-kvm")) {
            return true;
        }
        if (accel_next && (g_str_has_prefix(p, "kvm") ||
                           strstr(p, "accel=kvm"))) {
            return true;
        }
        accel_next = !strcmp(p, "-accel") || !strcmp(p, "-machine") ||
                     !strcmp(p, "-M");
        p += strlen(p) + 1;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Requests */

static bool
refuse(GError **error, enum ctlproto_error_code code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static bool
refuse(GError **error, enum ctlproto_error_code code, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, CTLPROTO_ERROR, code, msg);
    return false;
}

static bool
fsm_result(struct kd_vm *vm, enum vmfsm_result r, const char *why,
           GError **error)
{
    if (r == VMFSM_RESULT_REFUSED) {
        return refuse(error, vm->kd->up ? CTLPROTO_ERROR_REFUSED
                                        : CTLPROTO_ERROR_UNAVAILABLE,
                      "%s", why);
    }
    return true;
}

/* Whether the VM's own peer list (if any) allows node N. */
static bool
peer_allowed(struct kd_vm *vm, uint32_t n)
{
    struct kd_node *node;
    unsigned i;

    if (!vm->opts.peers) {
        return true;
    }
    for (i = 0; vm->opts.peers[i]; i++) {
        node = kd_node_by_name(vm->kd, vm->opts.peers[i]);
        if (node && node->id == n) {
            return true;
        }
    }
    return false;
}

bool
kd_vm_start(struct kd_vm *vm, uint32_t peer, GError **error)
{
    g_autoptr(GError) err = NULL;
    struct vmfsm_event_data d = { .node = peer,
                                  .epoch = vm->max_epoch_seen };
    const char *why = NULL, *not_eligible = NULL;
    char label[80];
    enum vmfsm_result r;

    if (vm->fsm->state == VMFSM_UNPROTECTED) {
        if (vm->uses_kvm && vm->kd->kvm_verdict != PAIRPROTO_KVM_PASS) {
            return refuse(error, CTLPROTO_ERROR_REFUSED,
                          "%s uses KVM acceleration and kemari-kvm-check "
                          "did not pass on this node: %s", vm->name,
                          vm->kd->kvm_detail ? vm->kd->kvm_detail
                                             : "not run");
        }
        if (!kd_node_eligible(vm->kd, peer, vm, &not_eligible)) {
            return refuse(error, CTLPROTO_ERROR_REFUSED,
                          "node %s cannot be the secondary: %s",
                          kd_node_label(vm->kd, peer, label, sizeof(label)),
                          not_eligible);
        }
        if (!peer_allowed(vm, peer)) {
            g_autofree char *list = g_strjoinv(", ", vm->opts.peers);

            return refuse(error, CTLPROTO_ERROR_REFUSED,
                          "node %s is not one of %s's peers in its "
                          "<kemari> element (%s)",
                          kd_node_label(vm->kd, peer, label, sizeof(label)),
                          vm->name, list);
        }
        if (!vm->kd->backend->load_config(vm, &err)) {
            return refuse(error, CTLPROTO_ERROR_INTERNAL, "%s", err->message);
        }
        if (vm->opts_problem) {
            return refuse(error, CTLPROTO_ERROR_REFUSED, "%s: %s", vm->name,
                          vm->opts_problem);
        }
    }
    r = kd_vm_feed(vm, VMFSM_EV_START, &d, &why);
    return fsm_result(vm, r, why, error);
}

bool
kd_vm_stop(struct kd_vm *vm, GError **error)
{
    const char *why = NULL;
    enum vmfsm_result r = kd_vm_feed(vm, VMFSM_EV_STOP_REQUESTED, NULL, &why);

    if (r == VMFSM_RESULT_TRANSITION) {
        vm->fsm->protect_wanted = false;
    }
    return fsm_result(vm, r, why, error);
}

bool
kd_vm_failover(struct kd_vm *vm, GError **error)
{
    const char *why = NULL;
    enum vmfsm_result r = kd_vm_feed(vm, VMFSM_EV_FAILOVER_REQUESTED, NULL,
                                     &why);

    return fsm_result(vm, r, why, error);
}

bool
kd_vm_peer_fenced(struct kd_vm *vm, uint32_t node)
{
    struct vmfsm_event_data d = { .node = node,
                                  .reason = "its node was fenced" };

    if (node == 0 || vm->fsm->peer_node != node) {
        return false;
    }
    vm_log_info(vm->name, "the node of the other copy (%u) was fenced",
                node);
    kd_vm_feed(vm, VMFSM_EV_PEER_FENCED, &d, NULL);
    return true;
}

/*
 * Whether node N could take the VM's secondary now: not this node, not
 * refused lately, eligible.
 */
static bool
peer_candidate(struct kd_vm *vm, uint32_t n, gint64 now)
{
    gpointer t = g_hash_table_lookup(vm->refused, GUINT_TO_POINTER(n));

    return n != vm->kd->view.local_node &&
           !(t && now - GPOINTER_TO_INT(t) < KD_REFUSED_BACKOFF_S) &&
           kd_node_eligible(vm->kd, n, vm, NULL);
}

uint32_t
kd_vm_pick_peer(struct kd_vm *vm)
{
    struct kd *kd = vm->kd;
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    size_t i;

    if (vm->opts.peers) {
        /* the VM's own list, in its order of preference */
        for (i = 0; vm->opts.peers[i]; i++) {
            struct kd_node *node = kd_node_by_name(kd, vm->opts.peers[i]);

            if (node && peer_candidate(vm, node->id, now)) {
                return node->id;
            }
        }
        return 0;
    }
    for (i = 0; i < kd->view.n_daemons; i++) {
        if (peer_candidate(vm, kd->view.daemons[i], now)) {
            return kd->view.daemons[i];
        }
    }
    return 0;
}

void
kd_vm_retry_reprotect(struct kd_vm *vm)
{
    struct kd *kd = vm->kd;
    g_autoptr(GError) err = NULL;
    uint32_t pick;

    if (!vm->reprotect_pending) {
        return;
    }
    if (vm->fsm->state != VMFSM_UNPROTECTED || !kd->up ||
        !kd->view.quorate || !vm->fsm->protect_wanted) {
        vm->reprotect_pending = vm->fsm->state == VMFSM_UNPROTECTED &&
                                vm->fsm->protect_wanted;
        return;
    }
    if (!(pick = kd_vm_pick_peer(vm))) {
        vm_log_debug(vm->name, "re-protection: no eligible node yet");
        return;
    }
    if (!vm->kd->backend->load_config(vm, &err)) {
        kd_vm_error(vm, "re-protection impossible: %s", err->message);
        vm->reprotect_pending = false;
        return;
    }
    vm->reprotect_pending = false;
    {
        struct vmfsm_event_data d = { .node = pick,
                                      .epoch = vm->max_epoch_seen };
        char label[80];

        vm_log_info(vm->name, "re-protection: picked %s",
                    kd_node_label(kd, pick, label, sizeof(label)));
        kd_vm_feed(vm, VMFSM_EV_ELIGIBLE_NODE, &d, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* Cluster input */

void
kd_vm_pair_message(struct kd_vm *vm, uint32_t from,
                   const struct pairproto_msg *m)
{
    struct kd *kd = vm->kd;
    struct vmfsm_event_data d = { .node = from, .epoch = m->epoch };
    const char *why = NULL;

    if (m->epoch > vm->max_epoch_seen) {
        vm->max_epoch_seen = m->epoch;
    }
    switch (m->type) {
    case PAIRPROTO_PAIR_REQUEST:
        if (m->node_id != from) {
            log_warnx("PAIR_REQUEST for %s from node %u names node %u as "
                      "requester: dropped", vm->name, from, m->node_id);
            return;
        }
        if (m->config_kind != kd->backend->config_kind) {
            g_autofree char *text = g_strdup_printf(
                "this node's kemarid uses the %s QEMU backend",
                kd->backend->name);

            send_refuse(kd, vm->name, from, m->epoch,
                        PAIRPROTO_REASON_INCOMPATIBLE, text);
            return;
        }
        if (config_uses_kvm(m->config_kind, m->config) &&
            kd->kvm_verdict != PAIRPROTO_KVM_PASS) {
            g_autofree char *text = g_strdup_printf(
                "kemari-kvm-check did not pass on this node: %s",
                kd->kvm_detail ? kd->kvm_detail : "not run");

            send_refuse(kd, vm->name, from, m->epoch,
                        PAIRPROTO_REASON_NOT_ELIGIBLE, text);
            return;
        }
        if (vm->fsm->state == VMFSM_STOPPED) {
            char *ids[PAIRPROTO_MAX_REPLICATED + 1] = { NULL };
            unsigned i;

            if (vm->config) {
                g_bytes_unref(vm->config);
            }
            vm->config = g_bytes_ref(m->config);
            memcpy(vm->uuid, m->uuid, sizeof(vm->uuid));
            for (i = 0; i < m->n_replicated; i++) {
                ids[i] = (char *)m->replicated[i];
            }
            kd_vm_set_replicated(vm, ids);
        }
        if (kd_vm_feed(vm, VMFSM_EV_PAIR_REQUEST, &d, &why) ==
            VMFSM_RESULT_REFUSED) {
            send_refuse(kd, vm->name, from, m->epoch,
                        strstr(why, "epoch") ? PAIRPROTO_REASON_STALE_EPOCH
                                             : PAIRPROTO_REASON_BUSY, why);
        }
        break;
    case PAIRPROTO_PAIR_ACCEPT:
        if (vm->fsm->peer_node == from && vm->fsm->epoch == m->epoch) {
            g_strlcpy(vm->peer_host, m->host, sizeof(vm->peer_host));
            vm->peer_port = m->port;
        }
        kd_vm_feed(vm, VMFSM_EV_PEER_ACCEPTED, &d, NULL);
        break;
    case PAIRPROTO_PAIR_REFUSE:
        if (vm->fsm->peer_node == from && vm->fsm->epoch == m->epoch) {
            char label[80];

            kd_vm_error(vm, "%s refused to be the secondary (%s)%s%s",
                        kd_node_label(kd, from, label, sizeof(label)),
                        pairproto_reason_name(m->reason_code),
                        m->reason[0] ? ": " : "", m->reason);
            g_hash_table_insert(vm->refused, GUINT_TO_POINTER(from),
                                GINT_TO_POINTER((int)(g_get_monotonic_time()
                                                      / G_USEC_PER_SEC)));
        }
        d.reason = m->reason[0] ? m->reason : NULL;
        kd_vm_feed(vm, VMFSM_EV_PEER_REFUSED, &d, NULL);
        break;
    case PAIRPROTO_STATE_REPORT:
        if (m->role == VMFSM_ROLE_PRIMARY && m->epoch > vm->fsm->epoch &&
            vmfsm_role(vm->fsm) == VMFSM_ROLE_PRIMARY &&
            vm->fsm->state != VMFSM_STOPPED) {
            /*
             * Another node runs the VM as primary in a later epoch: it
             * took over while we were cut off (our outputs have been
             * held since).  Our copy is stale: destroy it, so that
             * nobody can resume it.
             */
            char label[80];

            kd_vm_error(vm, "superseded: %s runs this VM as primary since "
                        "epoch %" G_GUINT64_FORMAT " (this copy: epoch %"
                        G_GUINT64_FORMAT "); destroying this copy",
                        kd_node_label(kd, from, label, sizeof(label)),
                        m->epoch, vm->fsm->epoch);
            vm->fsm->protect_wanted = false;
            vm->continue_wanted = false;
            kd->backend->quit(vm);
            break;
        }
        if (m->state == VMFSM_DEGRADED && m->role == VMFSM_ROLE_PRIMARY &&
            vm->fsm->state == VMFSM_STOPPED && m->epoch == vm->fsm->epoch) {
            /* our copy of its pairing is gone for good (it quit while
             * the primary was away, e.g. after a failed failover): say
             * so, or the primary would hold its outputs forever */
            send_simple(vm, PAIRPROTO_RELEASE, from, m->epoch,
                        "the secondary's copy is gone");
            break;
        }
        if (m->state == VMFSM_DEGRADED && m->role == VMFSM_ROLE_PRIMARY) {
            kd_vm_feed(vm, VMFSM_EV_PEER_DEGRADED, &d, NULL);
        }
        break;
    case PAIRPROTO_RELEASE:
        d.reason = m->reason[0] ? m->reason : NULL;
        kd_vm_feed(vm, VMFSM_EV_PEER_RELEASED, &d, NULL);
        break;
    case PAIRPROTO_STOP:
        d.reason = m->reason[0] ? m->reason : NULL;
        kd_vm_feed(vm, VMFSM_EV_PEER_STOP, &d, NULL);
        break;
    case PAIRPROTO_HELLO:
        break;
    }
}

void
kd_vm_membership(struct kd_vm *vm, const struct membership_view *old,
                 const struct membership_view *now)
{
    uint32_t peer = vm->fsm->peer_node;

    if (!old) {
        struct vmfsm_event_data d = {
            .quorate = now->quorate,
            .peer_present = peer && membership_view_has_node(now, peer),
        };

        kd_vm_feed(vm, VMFSM_EV_MEMBERSHIP_REGAINED, &d, NULL);
        return;
    }
    if (peer) {
        bool was = membership_view_has_node(old, peer);
        bool is = membership_view_has_node(now, peer);
        struct vmfsm_event_data d = { .node = peer,
                                      .quorate = now->quorate };

        if (was && !is) {
            d.reason = "its node left the membership";
            kd_vm_feed(vm, VMFSM_EV_PEER_LEFT, &d, NULL);
        } else if (!was && is) {
            kd_vm_feed(vm, VMFSM_EV_PEER_JOINED, &d, NULL);
        }
    }
    if (old->quorate && !now->quorate) {
        kd_vm_feed(vm, VMFSM_EV_QUORUM_LOST, NULL, NULL);
    } else if (!old->quorate && now->quorate) {
        kd_vm_feed(vm, VMFSM_EV_QUORUM_REGAINED, NULL, NULL);
    }
}

void
kd_vm_announce(struct kd_vm *vm)
{
    struct pairproto_msg m = {
        .type = PAIRPROTO_STATE_REPORT, .target = 0,
        .epoch = vm->fsm->epoch, .role = (uint8_t)vmfsm_role(vm->fsm),
        .state = (uint8_t)vm->fsm->state, .ckpt_seq = engine_epoch(vm),
    };

    if (vm->fsm->epoch == 0 || vmfsm_role(vm->fsm) != VMFSM_ROLE_PRIMARY ||
        vm->fsm->state == VMFSM_PEER_UNKNOWN) {
        return;
    }
    g_strlcpy(m.vm, vm->name, sizeof(m.vm));
    kd_send(vm->kd, &m);
}

void
kd_vm_membership_lost(struct kd_vm *vm)
{
    kd_vm_feed(vm, VMFSM_EV_MEMBERSHIP_LOST, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Status */

static void
copy_member(JsonBuilder *b, JsonObject *o, const char *from, const char *to)
{
    JsonNode *n = o ? json_object_get_member(o, from) : NULL;

    json_builder_set_member_name(b, to);
    json_builder_add_value(b, n ? json_node_copy(n) : json_node_new(JSON_NODE_NULL));
}

/*
 * How far a disk's copy is: of the disk for a full copy, of what it has
 * to send (sent so far and still to send) for an incremental one.
 */
static double
disk_percent(JsonObject *d, bool synced, gint64 size, gint64 remaining)
{
    gint64 copied = json_object_get_int_member_with_default(d, "copied", 0);

    if (synced) {
        return 100.0;
    }
    if (json_object_get_boolean_member_with_default(d, "incremental",
                                                    FALSE)) {
        return copied + remaining > 0
               ? 100.0 * (double)copied / (double)(copied + remaining) : 0.0;
    }
    return size > 0 && remaining < size
           ? 100.0 * (double)(size - remaining) / (double)size : 0.0;
}

/*
 * "disks": the replicated disks, with the copy's progress: percent of
 * the disk covered (of the blocks to send, for an incremental copy), the
 * rate it advances at, and the seconds left at that rate (null while
 * unknown).
 */
static void
disks_members(struct kd_vm *vm, JsonObject *engine, JsonBuilder *b)
{
    JsonArray *disks = array_member(engine, "disks");
    guint i, n = disks ? json_array_get_length(disks) : 0;

    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (i = 0; i < n; i++) {
        JsonObject *d;
        gint64 size, remaining;
        const char *device = disk_entry(disks, i, &d, &size, &remaining);
        bool synced;
        double rate;

        if (!device) {
            continue;
        }
        synced = json_object_get_boolean_member_with_default(d, "synced",
                                                             FALSE);
        rate = disk_rate(vm, device)->rate;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "device");
        json_builder_add_string_value(b, device);
        copy_member(b, d, "size", "size");
        copy_member(b, d, "synced", "synced");
        copy_member(b, d, "remaining", "remaining");
        copy_member(b, d, "transferred", "transferred");
        copy_member(b, d, "copied", "copied");
        copy_member(b, d, "incremental", "incremental");
        json_builder_set_member_name(b, "percent");
        json_builder_add_double_value(b, disk_percent(d, synced, size,
                                                      remaining));
        json_builder_set_member_name(b, "rate");
        json_builder_add_double_value(b, synced ? 0.0 : rate);
        json_builder_set_member_name(b, "seconds-left");
        if (synced) {
            json_builder_add_int_value(b, 0);
        } else if (rate > 0) {
            json_builder_add_double_value(b, (double)remaining / rate);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void
engine_members(struct kd_vm *vm, JsonBuilder *b)
{
    JsonObject *o = json_node_get_object(vm->engine);

    copy_member(b, o, "checkpoints", "checkpoints");
    copy_member(b, o, "stop-time", "stop-time-us");
    copy_member(b, o, "release-latency", "release-latency-us");
    copy_member(b, o, "checkpoint-bytes-last", "checkpoint-bytes-last");
    copy_member(b, o, "held-packets", "held-packets");
    copy_member(b, o, "held-writes", "held-writes");
    disks_members(vm, o, b);
    json_builder_set_member_name(b, "held-bytes");
    json_builder_add_int_value(
        b, json_object_get_int_member_with_default(o, "held-packet-bytes", 0) +
           json_object_get_int_member_with_default(o, "held-write-bytes", 0));
}

JsonNode *
kd_vm_status_json(struct kd_vm *vm)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    struct vmfsm *f = vm->fsm;
    char label[80];

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vm->name);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vmfsm_role_name(vmfsm_role(f)));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vmfsm_state_name(f->state));
    json_builder_set_member_name(b, "peer");
    if (f->peer_node) {
        json_builder_add_string_value(
            b, kd_node_label(vm->kd, f->peer_node, label, sizeof(label)));
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "peer-id");
    json_builder_add_int_value(b, f->peer_node);
    json_builder_set_member_name(b, "epoch");
    json_builder_add_int_value(b, (gint64)f->epoch);
    json_builder_set_member_name(b, "protect-wanted");
    json_builder_add_boolean_value(b, f->protect_wanted);
    json_builder_set_member_name(b, "since");
    json_builder_add_double_value(b, vm->since);
    json_builder_set_member_name(b, "last-error");
    if (vm->last_error) {
        json_builder_add_string_value(b, vm->last_error);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "engine");
    if (vm->engine && JSON_NODE_HOLDS_OBJECT(vm->engine)) {
        JsonObject *o = json_node_get_object(vm->engine);

        json_builder_begin_object(b);
        copy_member(b, o, "state", "state");
        copy_member(b, o, "epoch", "acked");
        engine_members(vm, b);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
kd_vm_stats_json(struct kd_vm *vm)
{
    g_autoptr(JsonBuilder) b = NULL;

    if (!vm->engine || !JSON_NODE_HOLDS_OBJECT(vm->engine)) {
        return NULL;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vm->name);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, vmfsm_role_name(vmfsm_role(vm->fsm)));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vmfsm_state_name(vm->fsm->state));
    json_builder_set_member_name(b, "epoch");
    json_builder_add_int_value(b, (gint64)vm->fsm->epoch);
    json_builder_set_member_name(b, "checkpoints-per-s");
    json_builder_add_double_value(b, vm->ckpt_rate);
    engine_members(vm, b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
