/*
 * backend-libvirt.c - kemarid's libvirt backend (see backend.h)
 *
 * QMP goes through libvirt's QEMU API (monitor command passthrough and
 * monitor events) instead of a socket of kemarid's own:
 *   - managed VMs are the running domains whose <metadata> holds a
 *     <kemari> element (libvirt-driver/kemarixml.h); scanning lists them;
 *   - the secondary is started through libvirt from the primary's
 *     migratable domain XML, paused, with a <qemu:commandline> that adds
 *     -incoming defer (the one passthrough the hook allows), so that
 *     after a failover libvirt lists the domain as running like any
 *     other: QEMU's own RESUME event tells it the guest runs;
 *   - the end of a domain (lifecycle event, or its absence from a scan)
 *     is the end of its QEMU.
 *
 * libvirt calls block (they are RPCs to libvirtd), so they run on one
 * worker thread, in order; their results come back to the main loop.
 * libvirt's own event loop runs on a second thread; its callbacks copy
 * what they got and hand it to the main loop too.  The main loop never
 * calls libvirt.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "backend.h"
#include "kemarid.h"
#include "kemarixml.h"
#include "log.h"

#define LV_URI "qemu:///system"
/* where qemu:///system keeps the pid of each running domain's QEMU */
#define LV_PID_DIR "/run/libvirt/qemu"
#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/* Per VM. */
struct lv_vm {
    bool active;                /* the domain runs (or is paused) */
    bool ours;                  /* we started it (secondary) */
    char *xml;                  /* migratable XML from the last scan */
    char *live;                 /* live XML from the last scan */
    uint64_t stopped;           /* lv.stops when its domain last stopped */
};

/* The connection; touched only by the worker (and the event thread
 * through libvirt's callbacks). */
static struct {
    struct kd *kd;
    GThreadPool *pool;          /* one thread: libvirt calls, in order */
    GThread *events;            /* virEventRunDefaultImpl() */
    virConnectPtr conn;         /* worker's */
    bool scanning;              /* a scan job is queued (main) */
    bool warned;
    uint64_t stops;             /* lifecycle STOPPED events so far (main) */
} lv;

enum lv_kind { LV_SCAN, LV_COMMAND, LV_CREATE, LV_DESTROY, LV_PERSIST };

struct lv_found {
    char *name;
    char *xml;
    char *live;                 /* live XML: with the devices' aliases */
};

struct lv_job {
    enum lv_kind kind;
    struct kd_vm *vm;           /* NULL for scans */
    char *name;                 /* domain */
    char *text;                 /* COMMAND: QMP JSON; CREATE: XML */
    kd_reply_fn cb;
    void *opaque;
    /* results */
    char *result;               /* COMMAND: QMP reply JSON */
    GError *error;
    GPtrArray *found;           /* SCAN: struct lv_found */
    uint64_t stops;             /* SCAN: lv.stops when it was submitted */
};

static void
found_free(gpointer p)
{
    struct lv_found *f = p;

    g_free(f->name);
    g_free(f->xml);
    g_free(f->live);
    g_free(f);
}

static void
job_free(struct lv_job *j)
{
    g_free(j->name);
    g_free(j->text);
    g_free(j->result);
    g_clear_error(&j->error);
    if (j->found) {
        g_ptr_array_unref(j->found);
    }
    g_free(j);
}

static struct lv_vm *
lvm(struct kd_vm *vm)
{
    if (!vm->be) {
        vm->be = g_new0(struct lv_vm, 1);
    }
    return vm->be;
}

static void
set_virt_error(GError **error, const char *what)
{
    virErrorPtr e = virGetLastError();

    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what,
                e && e->message ? e->message : "libvirt error");
}

/* ------------------------------------------------------------------ */
/* Events (libvirt's event thread -> main loop) */

struct lv_event {
    char *name;
    char *event;                /* QMP event name, or NULL: lifecycle */
    char *details;              /* QMP data JSON */
    int life;                   /* VIR_DOMAIN_EVENT_* */
    int detail;
};

static gboolean
event_main(gpointer data)
{
    struct lv_event *e = data;
    struct kd_vm *vm = kd_vm_get(lv.kd, e->name);

    if (vm && vm->be && ((struct lv_vm *)vm->be)->active) {
        if (e->event) {
            g_autoptr(JsonParser) p = json_parser_new();
            JsonObject *o = NULL;

            if (e->details && json_parser_load_from_data(p, e->details, -1,
                                                         NULL) &&
                JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
                o = json_node_get_object(json_parser_get_root(p));
            }
            kd_vm_qemu_event(vm, e->event, o);
        } else if (e->life == VIR_DOMAIN_EVENT_STOPPED) {
            ((struct lv_vm *)vm->be)->active = false;
            ((struct lv_vm *)vm->be)->stopped = ++lv.stops;
            kd_vm_qemu_exited(vm, "libvirt: the domain stopped");
        }
    }
    g_free(e->name);
    g_free(e->event);
    g_free(e->details);
    g_free(e);
    return G_SOURCE_REMOVE;
}

static void
on_qmp_event(virConnectPtr conn, virDomainPtr dom, const char *event,
             long long seconds, unsigned int micros, const char *details,
             void *opaque)
{
    struct lv_event *e = g_new0(struct lv_event, 1);

    (void)conn;
    (void)seconds;
    (void)micros;
    (void)opaque;
    e->name = g_strdup(virDomainGetName(dom));
    e->event = g_strdup(event);
    e->details = g_strdup(details);
    g_main_context_invoke(NULL, event_main, e);
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
             void *opaque)
{
    struct lv_event *e;

    (void)conn;
    (void)opaque;
    if (event != VIR_DOMAIN_EVENT_STOPPED) {
        return 0;
    }
    e = g_new0(struct lv_event, 1);
    e->name = g_strdup(virDomainGetName(dom));
    e->life = event;
    e->detail = detail;
    g_main_context_invoke(NULL, event_main, e);
    return 0;
}

static gpointer
event_thread(gpointer data)
{
    (void)data;
    for (;;) {
        if (virEventRunDefaultImpl() < 0) {
            g_usleep(100000);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The worker */

static gboolean job_main(gpointer data);

static void
on_close(virConnectPtr conn, int reason, void *opaque)
{
    (void)conn;
    (void)opaque;
    log_warnx("libvirt: connection to %s closed (reason %d); reconnecting",
              LV_URI, reason);
}

/* Connects if needed (worker thread).  False with an error if not. */
static bool
worker_connect(GError **error)
{
    if (lv.conn && virConnectIsAlive(lv.conn) == 1) {
        return true;
    }
    if (lv.conn) {
        virConnectClose(lv.conn);
        lv.conn = NULL;
    }
    lv.conn = virConnectOpen(LV_URI);
    if (!lv.conn) {
        set_virt_error(error, "cannot connect to " LV_URI);
        return false;
    }
    virConnectSetKeepAlive(lv.conn, 5, 3);
    virConnectRegisterCloseCallback(lv.conn, on_close, NULL, NULL);
    if (virConnectDomainQemuMonitorEventRegister(lv.conn, NULL, NULL,
                                                 on_qmp_event, NULL, NULL,
                                                 0) < 0 ||
        virConnectDomainEventRegisterAny(lv.conn, NULL,
                                         VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(
                                             on_lifecycle),
                                         NULL, NULL) < 0) {
        set_virt_error(error, "cannot register for domain events");
        virConnectClose(lv.conn);
        lv.conn = NULL;
        return false;
    }
    log_info("libvirt: connected to %s", LV_URI);
    return true;
}

static void
worker_scan(struct lv_job *j)
{
    virDomainPtr *doms = NULL;
    int n, i;

    j->found = g_ptr_array_new_with_free_func(found_free);
    n = virConnectListAllDomains(lv.conn, &doms,
                                 VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        set_virt_error(&j->error, "cannot list domains");
        return;
    }
    for (i = 0; i < n; i++) {
        char *meta = virDomainGetMetadata(doms[i],
                                          VIR_DOMAIN_METADATA_ELEMENT,
                                          KEMARIXML_NS, 0);

        if (meta) {
            char *xml = virDomainGetXMLDesc(doms[i],
                                            VIR_DOMAIN_XML_MIGRATABLE);
            char *live = virDomainGetXMLDesc(doms[i], 0);

            /*
             * A domain that stops is still listed for a moment after its
             * STOPPED event, while its XML is already gone: not running.
             */
            if (xml && live && virDomainIsActive(doms[i]) == 1) {
                struct lv_found *f = g_new0(struct lv_found, 1);

                f->name = g_strdup(virDomainGetName(doms[i]));
                f->xml = g_strdup(xml);
                f->live = g_strdup(live);
                g_ptr_array_add(j->found, f);
            } else {
                virResetLastError();
            }
            free(xml);
            free(live);
            free(meta);
        } else {
            virResetLastError();
        }
        virDomainFree(doms[i]);
    }
    free(doms);
}

/*
 * The domain we started as a secondary took over: define it, from its
 * live XML without the -incoming passthrough, so that libvirt keeps it
 * like any other domain (a persistent definition of the same name is
 * replaced by the one that runs now).
 */
static void
worker_persist(struct lv_job *j, virDomainPtr dom)
{
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE |
                                    VIR_DOMAIN_XML_MIGRATABLE);
    const char *a, *b;
    GString *def;
    virDomainPtr d;

    if (!xml) {
        set_virt_error(&j->error, "cannot read the domain XML");
        return;
    }
    def = g_string_new(xml);
    free(xml);
    a = strstr(def->str, "<qemu:commandline>");
    b = a ? strstr(a, "</qemu:commandline>") : NULL;
    if (a && b) {
        g_string_erase(def, a - def->str,
                       b + strlen("</qemu:commandline>") - a);
    }
    d = virDomainDefineXML(lv.conn, def->str);
    if (!d) {
        set_virt_error(&j->error, "cannot define the domain");
    } else {
        virDomainFree(d);
    }
    g_string_free(def, TRUE);
}

static void
worker(gpointer data, gpointer user)
{
    struct lv_job *j = data;
    virDomainPtr dom = NULL;

    (void)user;
    if (!worker_connect(&j->error)) {
        goto done;
    }
    if (j->kind == LV_SCAN) {
        worker_scan(j);
        goto done;
    }
    if (j->kind == LV_CREATE) {
        dom = virDomainCreateXML(lv.conn, j->text, VIR_DOMAIN_START_PAUSED);
        if (!dom) {
            set_virt_error(&j->error, "cannot start the incoming domain");
        }
        goto done;
    }
    dom = virDomainLookupByName(lv.conn, j->name);
    if (!dom) {
        set_virt_error(&j->error, "no such domain");
        goto done;
    }
    if (j->kind == LV_COMMAND) {
        char *result = NULL;

        if (virDomainQemuMonitorCommand(dom, j->text, &result, 0) < 0) {
            set_virt_error(&j->error, "QMP through libvirt");
        } else {
            j->result = g_strdup(result);
            free(result);
        }
    } else if (j->kind == LV_DESTROY) {
        if (virDomainDestroy(dom) < 0) {
            set_virt_error(&j->error, "cannot destroy the domain");
        }
    } else if (j->kind == LV_PERSIST) {
        worker_persist(j, dom);
    }
done:
    if (dom) {
        virDomainFree(dom);
    }
    g_main_context_invoke(NULL, job_main, j);
}

/* ------------------------------------------------------------------ */
/* Main loop side */

static void
submit(struct lv_job *j)
{
    g_thread_pool_push(lv.pool, j, NULL);
}

/* Turns a libvirt QMP reply into a struct qmpc_msg and calls back. */
static void
command_main(struct lv_job *j)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    struct qmpc_msg m = { .id = -1 };
    JsonObject *o;

    if (!j->cb) {
        if (j->error) {
            vm_log_warnx(j->vm->name, "%s", j->error->message);
        }
        return;
    }
    if (j->error) {
        j->cb(j->vm, NULL, j->error, j->opaque);
        return;
    }
    if (!json_parser_load_from_data(p, j->result, -1, &err) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_autoptr(GError) e2 = g_error_new(QMPC_ERROR, QMPC_ERROR_PROTOCOL,
                                           "malformed QMP reply from "
                                           "libvirt");

        j->cb(j->vm, NULL, e2, j->opaque);
        return;
    }
    o = json_node_get_object(json_parser_get_root(p));
    if (json_object_has_member(o, "error")) {
        JsonObject *e = json_object_get_object_member(o, "error");
        g_autoptr(GError) e2 = NULL;

        m.kind = QMPC_MSG_ERROR;
        m.value = json_object_get_member(o, "error");
        m.error_class = (char *)(e && json_object_has_member(e, "class")
                                 ? json_object_get_string_member(e, "class")
                                 : "GenericError");
        m.error_desc = (char *)(e && json_object_has_member(e, "desc")
                                ? json_object_get_string_member(e, "desc")
                                : "");
        e2 = g_error_new(QMPC_ERROR, QMPC_ERROR_COMMAND, "%s: %s",
                         m.error_class, m.error_desc);
        j->cb(j->vm, &m, e2, j->opaque);
        return;
    }
    m.kind = QMPC_MSG_RETURN;
    m.value = json_object_get_member(o, "return");
    if (!m.value) {
        g_autoptr(GError) e2 = g_error_new(QMPC_ERROR, QMPC_ERROR_PROTOCOL,
                                           "QMP reply without return");

        j->cb(j->vm, NULL, e2, j->opaque);
        return;
    }
    j->cb(j->vm, &m, NULL, j->opaque);
}

/*
 * The VM's own settings, from the <kemari> element of its live domain
 * XML: the nodes that may hold its secondary, checkpoint mode and
 * intervals, the failover policy, and which disks are replicated (by
 * their aliases, the QEMU device ids libvirt gives them, which only the
 * live XML has).  The hook vetted the element when the domain started.
 * Protection is refused while a replicated disk cannot be named: taking
 * it for shared would lose its writes on failover.
 */
static void
apply_metadata(struct kd_vm *vm, const char *xml)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), &err);
    g_autoptr(kemarixml_config) c = NULL;
    g_auto(GStrv) disks = NULL;
    guint i;

    if (d) {
        c = kemarixml_config_get(d, problems);
    }
    if (c) {
        disks = kemarixml_replicated_disks(d, c, problems);
    }
    for (i = 0; i < problems->len; i++) {
        vm_log_warnx(vm->name, "<kemari>: %s",
                     (const char *)g_ptr_array_index(problems, i));
    }
    kd_vm_set_opts_problem(vm, problems->len ? g_ptr_array_index(problems, 0)
                               : err ? err->message : NULL);
    if (!c) {
        return;
    }
    vm->opts.ckpt_mode = c->ckpt_mode == KEMARIXML_CKPT_PERIODIC
                         ? CONF_CKPT_PERIODIC
                         : c->ckpt_mode == KEMARIXML_CKPT_EVENT
                         ? CONF_CKPT_EVENT : -1;
    vm->opts.min_interval_ms = c->min_interval_ms;
    vm->opts.max_interval_ms = c->max_interval_ms;
    vm->opts.ack_timeout_ms = c->ack_timeout_ms;
    kd_vm_set_replicated(vm, disks);
    g_strfreev(vm->opts.peers);
    vm->opts.peers = g_strdupv(c->peers);
    if (c->failover != KEMARIXML_FAILOVER_UNSET) {
        vm->fsm->policy.pacemaker = c->failover == KEMARIXML_FAILOVER_PACEMAKER;
    }
}

/*
 * The pid of the QEMU of domain NAME, from libvirt's pid file; 0 if it
 * cannot be read.  kemarid gives that process's user the directory
 * where QEMU keeps the state of replicated disks.
 */
static pid_t
qemu_pid(const char *name)
{
    g_autofree char *path = g_strdup_printf(LV_PID_DIR "/%s.pid", name);
    g_autofree char *text = NULL;
    gint64 pid;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !g_ascii_string_to_signed(g_strstrip(text), 10, 1, G_MAXINT, &pid,
                                  NULL)) {
        return 0;
    }
    return (pid_t)pid;
}

static void
scan_main(struct lv_job *j)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer v;
    guint i;

    lv.scanning = false;
    if (j->error) {
        if (!lv.warned) {
            log_warnx("libvirt: %s", j->error->message);
            lv.warned = true;
        }
        return;
    }
    lv.warned = false;
    for (i = 0; i < j->found->len; i++) {
        struct lv_found *f = g_ptr_array_index(j->found, i);
        struct kd_vm *vm;
        struct lv_vm *l;
        bool was;

        if (!pairproto_name_valid(f->name)) {
            continue;
        }
        g_hash_table_add(seen, f->name);
        vm = kd_vm_ensure(lv.kd, f->name);
        l = lvm(vm);
        if (l->stopped > j->stops) {
            /*
             * The domain stopped after this scan was submitted: what it
             * saw running is gone (a domain started since is found by the
             * next scan).
             */
            continue;
        }
        if (g_strcmp0(l->live, f->live) != 0) {
            apply_metadata(vm, f->live ? f->live : "");
        }
        g_free(l->live);
        l->live = g_strdup(f->live);
        g_free(l->xml);
        l->xml = g_strdup(f->xml);
        was = l->active;
        l->active = true;
        if (!was && vm->fsm->state == VMFSM_STOPPED) {
            vm_log_info(vm->name, "libvirt domain with <kemari> runs here");
            vm->pid = qemu_pid(vm->name);
            kd_vm_qemu_connected(vm);
        }
    }
    /* a domain we knew that is no longer running: its QEMU is gone */
    g_hash_table_iter_init(&it, lv.kd->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct kd_vm *vm = v;
        struct lv_vm *l = vm->be;

        if (l && l->active && !l->ours &&
            !g_hash_table_contains(seen, vm->name)) {
            l->active = false;
            kd_vm_qemu_exited(vm, "libvirt: the domain is no longer running");
        }
    }
}

static gboolean
job_main(gpointer data)
{
    struct lv_job *j = data;

    switch (j->kind) {
    case LV_SCAN:
        scan_main(j);
        break;
    case LV_COMMAND:
        command_main(j);
        break;
    case LV_CREATE:
        if (j->error) {
            lvm(j->vm)->active = false;
            kd_vm_error(j->vm, "%s", j->error->message);
            kd_vm_qemu_exited(j->vm, j->error->message);
        } else {
            vm_log_info(j->vm->name, "incoming domain started through "
                        "libvirt (paused)");
            j->vm->pid = qemu_pid(j->vm->name);
            kd_vm_qemu_connected(j->vm);
        }
        break;
    case LV_DESTROY:
    case LV_PERSIST:
        if (j->error) {
            vm_log_warnx(j->vm->name, "%s", j->error->message);
        } else if (j->kind == LV_PERSIST) {
            vm_log_info(j->vm->name, "libvirt: the domain is defined here "
                        "now (persistent)");
        }
        break;
    }
    job_free(j);
    return G_SOURCE_REMOVE;
}

static void
lv_init(struct kd *kd)
{
    if (lv.pool) {
        return;
    }
    lv.kd = kd;
    if (virEventRegisterDefaultImpl() < 0) {
        fatalx("libvirt: cannot set up its event loop");
    }
    lv.events = g_thread_new("libvirt-events", event_thread, NULL);
    lv.pool = g_thread_pool_new(worker, NULL, 1, TRUE, NULL);
}

static void
lv_scan(struct kd *kd)
{
    struct lv_job *j;

    lv_init(kd);
    if (lv.scanning) {
        return;
    }
    lv.scanning = true;
    j = g_new0(struct lv_job, 1);
    j->kind = LV_SCAN;
    j->stops = lv.stops;
    submit(j);
}

static bool
lv_ready(struct kd_vm *vm)
{
    return vm->be && ((struct lv_vm *)vm->be)->active;
}

static bool
lv_command(struct kd_vm *vm, const char *command, JsonObject *args,
           kd_reply_fn cb, void *opaque, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    struct lv_job *j;

    if (!lv_ready(vm)) {
        g_set_error(error, QMPC_ERROR, QMPC_ERROR_NOT_CONNECTED,
                    "the domain does not run");
        return false;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args) {
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(n, args);
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, n);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    j = g_new0(struct lv_job, 1);
    j->kind = LV_COMMAND;
    j->vm = vm;
    j->name = g_strdup(vm->name);
    j->text = json_generator_to_data(gen, NULL);
    j->cb = cb;
    j->opaque = opaque;
    submit(j);
    return true;
}

static bool
lv_load_config(struct kd_vm *vm, GError **error)
{
    struct lv_vm *l = vm->be;

    if (!l || !l->xml) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "the domain XML of %s is not known yet", vm->name);
        return false;
    }
    if (vm->config) {
        g_bytes_unref(vm->config);
    }
    vm->config = g_bytes_new(l->xml, strlen(l->xml));
    return true;
}

/* The primary's XML plus <qemu:commandline> -incoming defer. */
static char *
incoming_xml(GBytes *config, GError **error)
{
    gsize len = 0;
    const char *x = g_bytes_get_data(config, &len);
    g_autofree char *xml = g_strndup(x, len);
    const char *root, *close, *gt;
    GString *out;

    if (strstr(xml, "<qemu:arg value='-incoming'/>")) {
        return g_steal_pointer(&xml);  /* a failed-over secondary's */
    }
    root = strstr(xml, "<domain");
    close = g_strrstr(xml, "</domain>");
    gt = root ? strchr(root, '>') : NULL;
    if (!root || !close || !gt || gt > close) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "the primary's domain XML has no <domain> element");
        return NULL;
    }
    out = g_string_new_len(xml, gt - xml);
    if (!strstr(xml, QEMU_NS)) {
        g_string_append(out, " xmlns:qemu='" QEMU_NS "'");
    }
    g_string_append_len(out, gt, close - gt);
    g_string_append(out, "  <qemu:commandline>\n"
                         "    <qemu:arg value='-incoming'/>\n"
                         "    <qemu:arg value='defer'/>\n"
                         "  </qemu:commandline>\n");
    g_string_append(out, close);
    return g_string_free(out, FALSE);
}

/*
 * Each replicated disk needs an image of its own on this node, at the
 * primary's path.  A missing one is made here, empty, when it is a raw
 * file: the engine grows an empty image to the primary's size when the
 * copy declares the disk.  Another format cannot be made without its
 * size: the start is refused, saying what to do.  (libvirt itself
 * refuses a missing block device.)
 */
static bool
make_replicated_images(struct kd_vm *vm, GError **error)
{
    gsize len = 0;
    const char *xml = g_bytes_get_data(vm->config, &len);
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, len, NULL);
    g_autoptr(kemarixml_config) c = d ? kemarixml_config_get(d, problems)
                                      : NULL;
    g_autoptr(GPtrArray) images = c ? kemarixml_replicated_images(d, c)
                                    : NULL;
    unsigned i;

    for (i = 0; images && i < images->len; i++) {
        const struct kemarixml_image *im = g_ptr_array_index(images, i);
        int fd;

        if (!im->file || g_file_test(im->file, G_FILE_TEST_EXISTS)) {
            continue;
        }
        if (im->format && strcmp(im->format, "raw") != 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                        "replicated disk %s: %s is missing on this node; "
                        "make a %s image of the primary's size there "
                        "(qemu-img create -f %s %s SIZE)", im->target,
                        im->file, im->format, im->format, im->file);
            return false;
        }
        fd = open(im->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        "replicated disk %s: cannot make an image at %s: "
                        "%s", im->target, im->file, g_strerror(errno));
            return false;
        }
        if (fd >= 0) {
            close(fd);
            vm_log_info(vm->name, "replicated disk %s: made an empty image "
                        "at %s (the copy grows it to the primary's size)",
                        im->target, im->file);
        }
    }
    return true;
}

static bool
lv_start_incoming(struct kd_vm *vm, GError **error)
{
    struct lv_job *j;
    char *xml;

    lv_init(vm->kd);
    if (!vm->config) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "no configuration from the primary");
        return false;
    }
    if (!make_replicated_images(vm, error)) {
        return false;
    }
    xml = incoming_xml(vm->config, error);
    if (!xml) {
        return false;
    }
    lvm(vm)->active = true;
    lvm(vm)->ours = true;
    j = g_new0(struct lv_job, 1);
    j->kind = LV_CREATE;
    j->vm = vm;
    j->name = g_strdup(vm->name);
    j->text = xml;
    submit(j);
    return true;
}

static void
lv_quit(struct kd_vm *vm)
{
    struct lv_job *j = g_new0(struct lv_job, 1);

    j->kind = LV_DESTROY;
    j->vm = vm;
    j->name = g_strdup(vm->name);
    submit(j);
}

static void
lv_took_over(struct kd_vm *vm)
{
    struct lv_job *j = g_new0(struct lv_job, 1);

    if (vm->be) {
        ((struct lv_vm *)vm->be)->ours = false;  /* an ordinary domain now */
    }
    j->kind = LV_PERSIST;
    j->vm = vm;
    j->name = g_strdup(vm->name);
    submit(j);
}

static void
lv_release(struct kd_vm *vm)
{
    struct lv_vm *l = vm->be;

    vm->pid = 0;
    if (l) {
        g_free(l->xml);
        g_free(l->live);
        g_free(l);
        vm->be = NULL;
    }
}

const struct kd_backend kd_backend_libvirt = {
    .name = "libvirt",
    .own_settings = true,
    .config_kind = PAIRPROTO_CONFIG_LIBVIRT_XML,
    .scan = lv_scan,
    .ready = lv_ready,
    .command = lv_command,
    .load_config = lv_load_config,
    .start_incoming = lv_start_incoming,
    .quit = lv_quit,
    .release = lv_release,
    .took_over = lv_took_over,
};
