/*
 * kemarid.c - the Kemari daemon: start-up, corosync membership, the node
 * table and the dispatch of pair messages to VMs (see kemarid(8))
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "backend.h"
#include "jsonstrict.h"
#include "kemarid.h"
#include "log.h"

/* ------------------------------------------------------------------ */
/* systemd notification (Type=notify), without libsystemd */

static void
sd_notify_msg(const char *msg)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len;
    int fd;

    if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
        return;
    }
    memcpy(sa.sun_path, path, strlen(path));
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0';  /* abstract socket */
    }
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               len) < 0) {
        log_warn("sd_notify %s", msg);
    }
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Nodes */

struct kd_node *
kd_node_get(struct kd *kd, uint32_t id)
{
    return g_hash_table_lookup(kd->nodes, GUINT_TO_POINTER(id));
}

struct kd_node *
kd_node_by_name(struct kd *kd, const char *name)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, kd->nodes);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct kd_node *n = v;

        if (n->hello && !strcmp(n->name, name)) {
            return n;
        }
    }
    return NULL;
}

const char *
kd_node_label(struct kd *kd, uint32_t id, char *buf, size_t len)
{
    struct kd_node *n = kd_node_get(kd, id);

    if (n && n->hello) {
        g_strlcpy(buf, n->name, len);
    } else {
        snprintf(buf, len, "node%u", id);
    }
    return buf;
}

bool
kd_node_eligible(struct kd *kd, uint32_t id, const struct kd_vm *vm,
                 const char **why)
{
    struct kd_node *n = kd_node_get(kd, id);
    const char *dummy;

    why = why ? why : &dummy;
    if (!kd->up) {
        *why = "corosync is unreachable";
    } else if (id == kd->view.local_node) {
        *why = "it is this node";
    } else if (!membership_view_has_node(&kd->view, id)) {
        *why = "it is not in this partition's membership";
    } else if (!membership_view_has_daemon(&kd->view, id) || !n ||
               !n->hello) {
        *why = "its kemarid is not running (or has not said hello yet)";
    } else if (n->proto_min > PAIRPROTO_VERSION ||
               n->proto_max < PAIRPROTO_VERSION_MIN) {
        *why = "it speaks no pair protocol version this node speaks";
    } else if (vm && vm->opts.replicated &&
               n->proto_max < PAIRPROTO_VERSION_REPLICATED) {
        *why = "the VM has replicated disks and its kemarid is too old "
               "to know them";
    } else if (!(n->caps & PAIRPROTO_CAP_SECONDARY)) {
        *why = "it does not run secondaries";
    } else if (vm && vm->uses_kvm && n->kvm_check != PAIRPROTO_KVM_PASS) {
        *why = "the VM uses KVM and kemari-kvm-check did not pass there";
    } else {
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Messages */

bool
kd_send(struct kd *kd, const struct pairproto_msg *m)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) bytes = pairproto_encode(m, &err);
    gsize len = 0;
    const void *data;

    if (!bytes) {
        log_warnx("cannot encode %s for %s: %s", pairproto_type_name(m->type),
                  m->vm[0] ? m->vm : "the group", err->message);
        return false;
    }
    data = g_bytes_get_data(bytes, &len);
    if (!membership_send(kd->mb, data, len, &err)) {
        log_warnx("cannot send %s for %s: %s", pairproto_type_name(m->type),
                  m->vm[0] ? m->vm : "the group", err->message);
        return false;
    }
    log_debug("sent %s%s%s to node %u epoch %" G_GUINT64_FORMAT,
              pairproto_type_name(m->type), m->vm[0] ? " for " : "", m->vm,
              m->target, m->epoch);
    return true;
}

static void
send_hello(struct kd *kd)
{
    struct pairproto_msg m = {
        .type = PAIRPROTO_HELLO,
        .proto_min = PAIRPROTO_VERSION_MIN,
        .proto_max = PAIRPROTO_VERSION,
        .caps = PAIRPROTO_CAP_PRIMARY | PAIRPROTO_CAP_SECONDARY,
        .kvm_check = kd->kvm_verdict,
    };

    g_strlcpy(m.node_name, kd->node_name, sizeof(m.node_name));
    g_strlcpy(m.sw_version, KD_SW_VERSION, sizeof(m.sw_version));
    kd_send(kd, &m);
}

static void
retry_reprotects(struct kd *kd)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, kd->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        kd_vm_retry_reprotect(v);
    }
}

static void
on_message(struct membership *m, uint32_t from, const void *buf, size_t len,
           void *opaque)
{
    struct kd *kd = opaque;
    g_autoptr(GError) err = NULL;
    struct pairproto_msg msg;
    struct kd_vm *vm;

    (void)m;
    if (from == kd->view.local_node) {
        return;                 /* our own, echoed by CPG */
    }
    if (!pairproto_decode(buf, len, &msg, &err)) {
        log_warnx("dropped a message from node %u: %s", from, err->message);
        return;
    }
    if (msg.target != 0 && msg.target != kd->view.local_node) {
        pairproto_msg_clear(&msg);
        return;
    }
    log_debug("received %s%s%s from node %u epoch %" G_GUINT64_FORMAT,
              pairproto_type_name(msg.type), msg.vm[0] ? " for " : "",
              msg.vm, from, msg.epoch);
    if (msg.type == PAIRPROTO_HELLO) {
        struct kd_node *n = kd_node_get(kd, from);
        bool first = !n || !n->hello;

        if (!n) {
            n = g_new0(struct kd_node, 1);
            n->id = from;
            g_hash_table_insert(kd->nodes, GUINT_TO_POINTER(from), n);
        }
        n->hello = true;
        g_strlcpy(n->name, msg.node_name, sizeof(n->name));
        g_strlcpy(n->sw_version, msg.sw_version, sizeof(n->sw_version));
        n->proto_min = msg.proto_min;
        n->proto_max = msg.proto_max;
        n->caps = msg.caps;
        n->kvm_check = msg.kvm_check;
        if (first) {
            log_info("node %u is %s (%s, kvm-check %s)", from, n->name,
                     n->sw_version,
                     n->kvm_check == PAIRPROTO_KVM_PASS ? "pass"
                     : n->kvm_check == PAIRPROTO_KVM_FAIL ? "fail"
                                                          : "not run");
        }
        retry_reprotects(kd);
    } else {
        vm = msg.type == PAIRPROTO_PAIR_REQUEST ? kd_vm_ensure(kd, msg.vm)
                                                : kd_vm_get(kd, msg.vm);
        if (vm) {
            kd_vm_pair_message(vm, from, &msg);
        } else {
            log_debug("%s for unknown VM %s from node %u: ignored",
                      pairproto_type_name(msg.type), msg.vm, from);
        }
    }
    pairproto_msg_clear(&msg);
}

static void
on_up(struct membership *m, uint32_t local, void *opaque)
{
    (void)m;
    (void)opaque;
    log_info("corosync reached: this is node %u", local);
}

static void
on_down(struct membership *m, const GError *why, void *opaque)
{
    struct kd *kd = opaque;
    GHashTableIter it;
    gpointer v;

    (void)m;
    if (!kd->up) {
        return;
    }
    log_warnx("corosync unreachable (%s): every VM's peer state is unknown",
              why->message);
    kd->up = false;
    g_hash_table_iter_init(&it, kd->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        kd_vm_membership_lost(v);
    }
}

static void
on_view(struct membership *m, const struct membership_view *view,
        void *opaque)
{
    struct kd *kd = opaque;
    struct membership_view old = kd->view;
    bool was_up = kd->up, new_daemon = false;
    GHashTableIter it;
    gpointer v;
    size_t i;

    (void)m;
    kd->view = *view;
    kd->up = true;
    log_info("membership: %zu node%s, %zu kemarid%s, %squorate",
             view->n_nodes, view->n_nodes == 1 ? "" : "s", view->n_daemons,
             view->n_daemons == 1 ? "" : "s", view->quorate ? "" : "NOT ");
    for (i = 0; i < view->n_daemons; i++) {
        if (!was_up || !membership_view_has_daemon(&old, view->daemons[i])) {
            new_daemon = true;
        }
    }
    if (new_daemon) {
        send_hello(kd);         /* newcomers learn about us */
    }
    g_hash_table_iter_init(&it, kd->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        kd_vm_membership(v, was_up ? &old : NULL, view);
        if (new_daemon) {
            /* ...and which VMs we run as primaries, in which epoch */
            kd_vm_announce(v);
        }
    }
    retry_reprotects(kd);
}

/* ------------------------------------------------------------------ */
/* kemari-kvm-check */

static void
kvm_check_done(GObject *src, GAsyncResult *res, gpointer data)
{
    struct kd *kd = data;
    GSubprocess *p = G_SUBPROCESS(src);
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *summary = NULL;

    kd->kvm_check_done = true;
    if (!g_subprocess_communicate_utf8_finish(p, res, &out, NULL, &err)) {
        kd->kvm_verdict = PAIRPROTO_KVM_NOT_RUN;
        kd->kvm_detail = g_strdup(err->message);
    } else {
        int status = g_subprocess_get_if_exited(p)
                     ? g_subprocess_get_exit_status(p) : -1;

        if (out && json_parser_load_from_data(parser, out, -1, NULL) &&
            JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
            JsonObject *o = json_node_get_object(json_parser_get_root(parser));

            if (json_object_has_member(o, "summary")) {
                summary = json_object_get_string_member(o, "summary");
            }
        }
        kd->kvm_verdict = status == 0 ? PAIRPROTO_KVM_PASS
                          : status == 1 ? PAIRPROTO_KVM_FAIL
                                        : PAIRPROTO_KVM_NOT_RUN;
        kd->kvm_detail = g_strdup(summary ? summary
                                  : status == 0 ? "pass"
                                  : "the check did not complete");
    }
    log_info("kemari-kvm-check: %s: %s",
             kd->kvm_verdict == PAIRPROTO_KVM_PASS ? "pass"
             : kd->kvm_verdict == PAIRPROTO_KVM_FAIL ? "fail" : "not run",
             kd->kvm_detail);
    if (kd->up) {
        send_hello(kd);
    }
}

static void
run_kvm_check(struct kd *kd)
{
    g_autoptr(GError) err = NULL;
    GSubprocess *p;

    p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                         G_SUBPROCESS_FLAGS_STDERR_SILENCE, &err,
                         kd->conf->kvm_check, "--json", NULL);
    if (!p) {
        kd->kvm_verdict = PAIRPROTO_KVM_NOT_RUN;
        kd->kvm_detail = g_strdup_printf("cannot run %s: %s",
                                         kd->conf->kvm_check, err->message);
        kd->kvm_check_done = true;
        log_warnx("%s", kd->kvm_detail);
        return;
    }
    /* the check bounds each of its steps with a timeout itself */
    g_subprocess_communicate_utf8_async(p, NULL, NULL, kvm_check_done, kd);
    g_object_unref(p);
}

/* ------------------------------------------------------------------ */
/* Start-up */

static char *
resolve_address(const char *host)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    char buf[NI_MAXHOST];
    char *out = NULL;

    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        return NULL;
    }
    for (ai = res; ai && !out; ai = ai->ai_next) {
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), NULL,
                        0, NI_NUMERICHOST) != 0) {
            continue;
        }
        if (!g_str_has_prefix(buf, "127.") && strcmp(buf, "::1") != 0) {
            out = g_strdup(buf);
        }
    }
    freeaddrinfo(res);
    return out;
}

static gboolean
on_quit_signal(gpointer data)
{
    struct kd *kd = data;

    log_info("signal received: leaving the group; QEMUs keep running");
    g_main_loop_quit(kd->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean
on_hup(gpointer data)
{
    struct kd *kd = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(conf) c = conf_load(kd->config_path, &err);

    if (!c) {
        log_warnx("SIGHUP: configuration not re-read: %s", err->message);
        return G_SOURCE_CONTINUE;
    }
    log_set_verbosity(c->log_level);
    kd->conf->log_level = c->log_level;
    log_info("SIGHUP: log-level is now %s",
             c->log_level == LOG_LEVEL_DEBUG ? "debug"
             : c->log_level == LOG_LEVEL_INFO ? "info" : "error");
    return G_SOURCE_CONTINUE;
}

static gboolean
on_scan(gpointer data)
{
    struct kd *kd = data;

    kd->backend->scan(kd);
    /* a node that refused a pairing may be pickable again */
    retry_reprotects(kd);
    return G_SOURCE_CONTINUE;
}

static void
usage(FILE *f)
{
    fprintf(f,
"usage: kemarid [-c FILE] [-f] [--check-config] [--version]\n"
"The Kemari daemon: cluster membership through corosync, pairing and\n"
"failover of protected VMs.  See kemarid(8).\n"
"  -c, --config FILE   configuration (default " CONF_DEFAULT_PATH ")\n"
"  -f, --foreground    stay in the foreground (always; for scripts)\n"
"      --check-config  print the configuration in canonical form, exit\n"
"      --version       print the version, exit\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const struct membership_callbacks mcb = {
        .up = on_up, .down = on_down, .view = on_view,
        .message = on_message,
    };
    g_autoptr(GError) err = NULL;
    const char *config = NULL;
    bool check_only = false;
    struct kd kd = { 0 };
    int c;

    while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            break;
        case 'C':
            check_only = true;
            break;
        case 'V':
            printf("kemarid %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("kemarid", 1, LOG_LEVEL_INFO);
    kd.config_path = g_strdup(config ? config : CONF_DEFAULT_PATH);
    if (!config && access(CONF_DEFAULT_PATH, F_OK) != 0 && errno == ENOENT) {
        log_info("%s does not exist: built-in defaults", CONF_DEFAULT_PATH);
        kd.conf = conf_new_defaults();
    } else {
        kd.conf = conf_load(kd.config_path, &err);
    }
    if (!kd.conf) {
        fprintf(stderr, "kemarid: %s\n", err->message);
        return 2;
    }
    if (check_only) {
        g_autofree char *text = conf_print(kd.conf);

        fputs(text, stdout);
        return 0;
    }
    log_set_verbosity(kd.conf->log_level);
    kd.backend = kd.conf->backend == CONF_BACKEND_LIBVIRT
                 ? &kd_backend_libvirt : &kd_backend_direct;
    if (!vmfsm_table_check(&err)) {
        fatalx("state table: %s", err->message);
    }
    kd.node_name = g_strdup(kd.conf->node_name ? kd.conf->node_name
                                               : g_get_host_name());
    kd.migration_address = kd.conf->migration_address
                           ? g_strdup(kd.conf->migration_address)
                           : resolve_address(g_get_host_name());
    if (!kd.migration_address) {
        fatalx("no migration-address in %s and the host name %s has no "
               "address that is not loopback", kd.config_path,
               g_get_host_name());
    }
    if (g_mkdir_with_parents(kd.conf->run_dir, 0750) < 0) {
        fatal("cannot create run-dir %s", kd.conf->run_dir);
    }
    kd.loop = g_main_loop_new(NULL, FALSE);
    kd.nodes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                     g_free);
    kd.vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                   (GDestroyNotify)kd_vm_free);
    kd.ctl = ctlserver_new(&kd, &err);
    if (!kd.ctl) {
        fatalx("control socket: %s", err->message);
    }
    run_kvm_check(&kd);
    kd.mb = membership_new(&mcb, &kd, NULL);
    membership_start(kd.mb);
    kd.backend->scan(&kd);
    kd.scan_timer = g_timeout_add(KD_POLL_MS, on_scan, &kd);
    g_unix_signal_add(SIGTERM, on_quit_signal, &kd);
    g_unix_signal_add(SIGINT, on_quit_signal, &kd);
    g_unix_signal_add(SIGHUP, on_hup, &kd);
    signal(SIGPIPE, SIG_IGN);
    log_info("kemarid %s started: node %s, migration address %s, "
             "failover-policy %s, reprotect %s", PACKAGE_VERSION, kd.node_name,
             kd.migration_address,
             kd.conf->failover_policy == CONF_FAILOVER_PACEMAKER
             ? "pacemaker" : "standalone",
             kd.conf->reprotect == CONF_REPROTECT_AUTOMATIC ? "automatic"
                                                            : "manual");
    sd_notify_msg("READY=1");
    g_main_loop_run(kd.loop);

    sd_notify_msg("STOPPING=1");
    g_source_remove(kd.scan_timer);
    ctlserver_free(kd.ctl);
    membership_free(kd.mb);
    g_hash_table_destroy(kd.vms);
    g_hash_table_destroy(kd.nodes);
    g_main_loop_unref(kd.loop);
    g_free(kd.kvm_detail);
    g_free(kd.migration_address);
    g_free(kd.node_name);
    g_free(kd.config_path);
    conf_free(kd.conf);
    log_info("kemarid stopped");
    return 0;
}
