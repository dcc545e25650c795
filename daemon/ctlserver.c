/*
 * ctlserver.c - kemarid's control socket (PROTOCOL.md section 2)
 *
 * A UNIX stream socket; each client is checked with SO_PEERCRED when it
 * connects (root or the control group), then sends request lines and gets
 * one reply line each.  Client sources run at a lower priority than QMP
 * and corosync, and a client that does not read its replies is dropped
 * rather than buffered without bound.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "backend.h"
#include "ctlproto.h"
#include "kemarid.h"
#include "log.h"

#define CTL_PRIORITY (G_PRIORITY_DEFAULT + 10)
#define CTL_MAX_OUT (4 * 1024 * 1024)   /* unread reply bytes per client */
#define CTL_MAX_CLIENTS 64

struct ctlclient;

struct ctlserver {
    struct kd *kd;
    int fd;
    guint watch;
    char *path;
    bool have_group;
    gid_t group;
    GList *clients;             /* struct ctlclient */
};

struct ctlclient {
    struct ctlserver *srv;
    int fd;
    guint in_watch, out_watch;
    struct qmpc_splitter split;
    GString *out;
    bool closing;               /* close once out is flushed */
    bool dead;                  /* dropped; freed from an idle callback */
    /* stats subscription */
    guint stats_timer;
    int64_t stats_id;
    char stats_vm[CTLPROTO_NAME_MAX + 1];
};

static void
client_unwatch(struct ctlclient *c)
{
    if (c->in_watch) {
        g_source_remove(c->in_watch);
        c->in_watch = 0;
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
        c->out_watch = 0;
    }
    if (c->stats_timer) {
        g_source_remove(c->stats_timer);
        c->stats_timer = 0;
    }
}

static void
client_free(struct ctlclient *c)
{
    client_unwatch(c);
    qmpc_splitter_clear(&c->split);
    g_string_free(c->out, TRUE);
    close(c->fd);
    g_free(c);
}

static gboolean
client_free_idle(gpointer data)
{
    client_free(data);
    return G_SOURCE_REMOVE;
}

/*
 * Forgets a client.  It is freed from an idle callback, because this may
 * run deep inside its own callbacks (the line splitter, a timer).
 */
static void
client_drop(struct ctlclient *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    c->srv->clients = g_list_remove(c->srv->clients, c);
    client_unwatch(c);
    g_idle_add(client_free_idle, c);
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data);

/* Writes what it can; false when the client was dropped. */
static bool
flush_out(struct ctlclient *c)
{
    while (c->out->len > 0) {
        ssize_t n = send(c->fd, c->out->str, c->out->len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            if (!c->out_watch) {
                GSource *s = g_unix_fd_source_new(c->fd, G_IO_OUT);

                g_source_set_priority(s, CTL_PRIORITY);
                g_source_set_callback(s, G_SOURCE_FUNC(on_writable), c, NULL);
                c->out_watch = g_source_attach(s, NULL);
                g_source_unref(s);
            }
            return true;
        }
        if (n <= 0) {
            client_drop(c);
            return false;
        }
        g_string_erase(c->out, 0, n);
    }
    if (c->closing) {
        client_drop(c);
        return false;
    }
    return true;
}

static gboolean
on_writable(gint fd, GIOCondition cond, gpointer data)
{
    struct ctlclient *c = data;

    (void)fd;
    (void)cond;
    g_source_remove(c->out_watch);
    c->out_watch = 0;
    flush_out(c);
    return G_SOURCE_REMOVE;
}

/* Queues LINE (taken); false when the client was dropped. */
static bool
client_send(struct ctlclient *c, char *line)
{
    if (c->out->len + strlen(line) > CTL_MAX_OUT) {
        log_warnx("control client fd %d does not read its replies: dropped",
                  c->fd);
        g_free(line);
        client_drop(c);
        return false;
    }
    g_string_append(c->out, line);
    g_free(line);
    return c->out_watch ? true : flush_out(c);
}

static bool
reply_error(struct ctlclient *c, int64_t id, const GError *err)
{
    enum ctlproto_error_code code = err->domain == CTLPROTO_ERROR
                                    ? (enum ctlproto_error_code)err->code
                                    : CTLPROTO_ERROR_INTERNAL;

    return client_send(c, ctlproto_reply_error(id, code, err->message));
}

/* ------------------------------------------------------------------ */
/* Results */

static JsonNode *
status_result(struct kd *kd, struct kd_vm *only)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GList) names = NULL;
    GList *l;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "node");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, kd->node_name);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, kd->up ? kd->view.local_node : 0);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "cluster");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "membership");
    json_builder_add_string_value(b, kd->up ? "up" : "down");
    json_builder_set_member_name(b, "quorate");
    json_builder_add_boolean_value(b, kd->up && kd->view.quorate);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "policy");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "failover");
    json_builder_add_string_value(
        b, kd->conf->failover_policy == CONF_FAILOVER_PACEMAKER
           ? "pacemaker" : "standalone");
    json_builder_set_member_name(b, "reprotect");
    json_builder_add_string_value(
        b, kd->conf->reprotect == CONF_REPROTECT_AUTOMATIC ? "automatic"
                                                           : "manual");
    json_builder_end_object(b);

    json_builder_set_member_name(b, "kvm-check");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "verdict");
    json_builder_add_string_value(
        b, kd->kvm_verdict == PAIRPROTO_KVM_PASS ? "pass"
           : kd->kvm_verdict == PAIRPROTO_KVM_FAIL ? "fail" : "not-run");
    json_builder_set_member_name(b, "detail");
    if (kd->kvm_detail) {
        json_builder_add_string_value(b, kd->kvm_detail);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);

    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    if (only) {
        json_builder_add_value(b, kd_vm_status_json(only));
    } else {
        names = g_list_sort(g_hash_table_get_keys(kd->vms),
                            (GCompareFunc)strcmp);
        for (l = names; l; l = l->next) {
            json_builder_add_value(b, kd_vm_status_json(
                                          kd_vm_get(kd, l->data)));
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
    guint x = GPOINTER_TO_UINT(a), y = GPOINTER_TO_UINT(b);

    return x < y ? -1 : x > y;
}

static JsonNode *
nodes_result(struct kd *kd)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GHashTable) ids = g_hash_table_new(g_direct_hash,
                                                 g_direct_equal);
    g_autoptr(GList) list = NULL;
    GHashTableIter it;
    gpointer k;
    GList *l;
    size_t i;

    g_hash_table_iter_init(&it, kd->nodes);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        g_hash_table_add(ids, k);
    }
    if (kd->up) {
        for (i = 0; i < kd->view.n_nodes; i++) {
            g_hash_table_add(ids, GUINT_TO_POINTER(kd->view.nodes[i]));
        }
        g_hash_table_add(ids, GUINT_TO_POINTER(kd->view.local_node));
    }
    list = g_list_sort(g_hash_table_get_keys(ids), cmp_u32);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "local-id");
    json_builder_add_int_value(b, kd->up ? kd->view.local_node : 0);
    json_builder_set_member_name(b, "membership");
    json_builder_add_string_value(b, kd->up ? "up" : "down");
    json_builder_set_member_name(b, "quorate");
    json_builder_add_boolean_value(b, kd->up && kd->view.quorate);
    json_builder_set_member_name(b, "nodes");
    json_builder_begin_array(b);
    for (l = list; l; l = l->next) {
        uint32_t id = GPOINTER_TO_UINT(l->data);
        bool local = kd->up && id == kd->view.local_node;
        struct kd_node *n = kd_node_get(kd, id);
        enum pairproto_kvm_check kvm = local ? kd->kvm_verdict
                                       : n && n->hello ? n->kvm_check
                                       : PAIRPROTO_KVM_NOT_RUN;

        if (id == 0) {
            continue;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, id);
        json_builder_set_member_name(b, "name");
        if (local) {
            json_builder_add_string_value(b, kd->node_name);
        } else if (n && n->hello) {
            json_builder_add_string_value(b, n->name);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "local");
        json_builder_add_boolean_value(b, local);
        json_builder_set_member_name(b, "member");
        json_builder_add_boolean_value(
            b, kd->up && membership_view_has_node(&kd->view, id));
        json_builder_set_member_name(b, "daemon");
        json_builder_add_boolean_value(
            b, kd->up && membership_view_has_daemon(&kd->view, id));
        json_builder_set_member_name(b, "kvm-check");
        json_builder_add_string_value(b, kvm == PAIRPROTO_KVM_PASS ? "pass"
                                      : kvm == PAIRPROTO_KVM_FAIL ? "fail"
                                                                  : "not-run");
        json_builder_set_member_name(b, "sw-version");
        if (local) {
            json_builder_add_string_value(b, KD_SW_VERSION);
        } else if (n && n->hello) {
            json_builder_add_string_value(b, n->sw_version);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "proto-min");
        json_builder_add_int_value(b, local ? PAIRPROTO_VERSION_MIN
                                   : n && n->hello ? n->proto_min : 0);
        json_builder_set_member_name(b, "proto-max");
        json_builder_add_int_value(b, local ? PAIRPROTO_VERSION
                                   : n && n->hello ? n->proto_max : 0);
        json_builder_set_member_name(b, "roles");
        json_builder_begin_array(b);
        if (local || (n && n->hello && (n->caps & PAIRPROTO_CAP_PRIMARY))) {
            json_builder_add_string_value(b, "primary");
        }
        if (local || (n && n->hello && (n->caps & PAIRPROTO_CAP_SECONDARY))) {
            json_builder_add_string_value(b, "secondary");
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "eligible");
        json_builder_add_boolean_value(b, !local &&
                                       kd_node_eligible(kd, id, NULL, NULL));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *
stats_data(struct kd *kd, const char *only)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GList) names = g_list_sort(g_hash_table_get_keys(kd->vms),
                                         (GCompareFunc)strcmp);
    GList *l;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "time");
    json_builder_add_double_value(b, (double)g_get_real_time() /
                                     G_USEC_PER_SEC);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    for (l = names; l; l = l->next) {
        JsonNode *n;

        if (only[0] && strcmp(only, l->data) != 0) {
            continue;
        }
        n = kd_vm_stats_json(kd_vm_get(kd, l->data));
        if (n) {
            json_builder_add_value(b, n);
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static gboolean
stats_tick(gpointer data)
{
    struct ctlclient *c = data;
    JsonNode *d = stats_data(c->srv->kd, c->stats_vm);
    char *line = ctlproto_reply_event(c->stats_id, "stats", d);

    json_node_unref(d);
    if (!client_send(c, line)) {
        return G_SOURCE_REMOVE;     /* dropped; its timer is gone too */
    }
    return G_SOURCE_CONTINUE;
}

static JsonNode *
vm_state_result(struct kd_vm *vm)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, vm->name);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vmfsm_state_name(vm->fsm->state));
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ------------------------------------------------------------------ */
/* Requests */

static struct kd_vm *
find_vm(struct kd *kd, const char *name, GError **error)
{
    struct kd_vm *vm = kd_vm_get(kd, name);

    if (!vm || vm->fsm->state == VMFSM_STOPPED) {
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_NOT_FOUND,
                    "no VM named %s runs on this node (%s)", name,
                    kd->node_name);
        return NULL;
    }
    return vm;
}

/*
 * fenced NODE: NODE is down for good, so a copy of a VM there can no
 * longer run.  Refused for this node and for a node in this node's
 * membership (a fenced node has left it).  The result names the VMs
 * whose other copy was on NODE: {"node": NAME, "vms": [NAME...]}.
 */
static JsonNode *
fenced_result(struct kd *kd, const char *name, GError **error)
{
    g_autoptr(JsonBuilder) b = NULL;
    struct kd_node *node;
    GHashTableIter it;
    gpointer value;

    if (strcmp(name, kd->node_name) == 0) {
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_REFUSED,
                    "%s is this node", name);
        return NULL;
    }
    node = kd_node_by_name(kd, name);
    if (!node) {
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_NOT_FOUND,
                    "no node named %s has announced itself in the "
                    "cluster (see kemari nodes)", name);
        return NULL;
    }
    if (kd->up && membership_view_has_node(&kd->view, node->id)) {
        g_set_error(error, CTLPROTO_ERROR, CTLPROTO_ERROR_REFUSED,
                    "%s is in this node's membership: it was not fenced",
                    name);
        return NULL;
    }
    log_info("node %s (%u) reported fenced", name, node->id);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "node");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    g_hash_table_iter_init(&it, kd->vms);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct kd_vm *vm = value;

        if (kd_vm_peer_fenced(vm, node->id)) {
            json_builder_add_string_value(b, vm->name);
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Handles one request; false when the client was dropped. */
static bool
handle(struct ctlclient *c, const struct ctlproto_request *req)
{
    struct kd *kd = c->srv->kd;
    g_autoptr(GError) err = NULL;
    JsonNode *result = NULL;
    struct kd_vm *vm = NULL;
    struct kd_node *peer;
    uint32_t peer_id = 0;
    char *line;

    switch (req->command) {
    case CTLPROTO_CMD_STATUS:
        if (req->vm[0] && !(vm = kd_vm_get(kd, req->vm))) {
            g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_NOT_FOUND,
                        "kemarid on %s knows no VM named %s", kd->node_name,
                        req->vm);
            break;
        }
        result = status_result(kd, vm);
        break;
    case CTLPROTO_CMD_NODES:
        result = nodes_result(kd);
        break;
    case CTLPROTO_CMD_START:
        if (!(vm = find_vm(kd, req->vm, &err))) {
            break;
        }
        if (!kd->up) {
            g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_UNAVAILABLE,
                        "corosync is unreachable: membership and quorum "
                        "unknown");
            break;
        }
        if (!kd->backend->own_settings && req->n_replicate > 0 &&
            vm->fsm->state == VMFSM_UNPROTECTED) {
            /* the direct backend: the disks `kemari start --replicate`
             * names are replicated from now on, the others shared (without
             * --replicate the VM keeps what it had) */
            char *ids[CTLPROTO_MAX_REPLICATE + 1] = { NULL };
            unsigned i;

            for (i = 0; i < req->n_replicate; i++) {
                ids[i] = (char *)req->replicate[i];
            }
            kd_vm_set_replicated(vm, ids);
        }
        if (!req->peer[0]) {
            /* no peer named: the node re-protection would pick */
            if (!(peer_id = kd_vm_pick_peer(vm))) {
                g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_REFUSED,
                            "no node is eligible to run the secondary of "
                            "%s (see kemari nodes)", req->vm);
                break;
            }
        } else if ((peer = kd_node_by_name(kd, req->peer)) != NULL) {
            peer_id = peer->id;
        } else {
            g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_NOT_FOUND,
                        "no node named %s has announced itself in the "
                        "cluster (see kemari nodes)", req->peer);
            break;
        }
        if (kd_vm_start(vm, peer_id, &err)) {
            result = vm_state_result(vm);
        }
        break;
    case CTLPROTO_CMD_STOP:
        if ((vm = find_vm(kd, req->vm, &err)) && kd_vm_stop(vm, &err)) {
            result = vm_state_result(vm);
        }
        break;
    case CTLPROTO_CMD_FAILOVER:
        if ((vm = find_vm(kd, req->vm, &err)) && kd_vm_failover(vm, &err)) {
            result = vm_state_result(vm);
        }
        break;
    case CTLPROTO_CMD_STATS_SUBSCRIBE:
        if (req->vm[0] && !kd_vm_get(kd, req->vm)) {
            g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_NOT_FOUND,
                        "kemarid on %s knows no VM named %s", kd->node_name,
                        req->vm);
            break;
        }
        if (c->stats_timer) {
            g_source_remove(c->stats_timer);
        }
        c->stats_id = req->id;
        g_strlcpy(c->stats_vm, req->vm, sizeof(c->stats_vm));
        c->stats_timer = g_timeout_add_full(CTL_PRIORITY, req->interval_ms,
                                            stats_tick, c, NULL);
        result = json_node_init_object(json_node_alloc(), json_object_new());
        break;
    case CTLPROTO_CMD_HOOK_EVENT:
        /* the domain's QEMU started or went away: look now rather than
         * at the next periodic scan */
        log_info("libvirt hook: domain %s %s", req->vm, req->op);
        kd->backend->scan(kd);
        result = json_node_init_object(json_node_alloc(), json_object_new());
        break;
    case CTLPROTO_CMD_FENCED:
        result = fenced_result(kd, req->peer, &err);
        break;
    case CTLPROTO_CMD_COUNT:
        break;
    }
    if (!result) {
        if (!err) {
            g_set_error_literal(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_INTERNAL,
                                "no result");
        }
        return reply_error(c, req->id, err);
    }
    line = ctlproto_reply_ok(req->id, result);
    json_node_unref(result);
    return client_send(c, line);
}

static bool
on_line(const char *line, size_t len, void *opaque)
{
    struct ctlclient *c = opaque;
    g_autoptr(GError) err = NULL;
    struct ctlproto_request req;

    if (!ctlproto_request_parse(line, len, &req, &err)) {
        return reply_error(c, req.id, err);
    }
    log_debug("control: %s%s%s", ctlproto_command_name(req.command),
              req.vm[0] ? " " : "", req.vm);
    return handle(c, &req);
}

static gboolean
on_readable(gint fd, GIOCondition cond, gpointer data)
{
    struct ctlclient *c = data;
    g_autoptr(GError) err = NULL;
    char buf[8192];
    ssize_t n;

    (void)cond;
    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        client_drop(c);
        return G_SOURCE_REMOVE;
    }
    if (!qmpc_splitter_feed(&c->split, buf, (size_t)n, on_line, c, &err)) {
        if (err) {
            /* a line above the limit: say so, then hang up */
            g_autoptr(GError) e2 = g_error_new(
                CTLPROTO_ERROR, CTLPROTO_ERROR_BAD_REQUEST,
                "request longer than %d bytes", CTLPROTO_MAX_LINE);

            g_source_remove(c->in_watch);
            c->in_watch = 0;
            c->closing = true;
            reply_error(c, -1, e2);
            return G_SOURCE_REMOVE;
        }
        /* the client was dropped inside on_line */
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct ctlserver *srv = data;
    g_autoptr(GError) err = NULL;
    struct ctlproto_cred cred = { 0 };
    struct ctlclient *c;
    GSource *s;
    int cfd;

    (void)cond;
    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            log_warn("control socket accept");
        }
        return G_SOURCE_CONTINUE;
    }
    c = g_new0(struct ctlclient, 1);
    c->srv = srv;
    c->fd = cfd;
    c->out = g_string_new(NULL);
    qmpc_splitter_init(&c->split, CTLPROTO_MAX_LINE);
    srv->clients = g_list_prepend(srv->clients, c);
    if (g_list_length(srv->clients) > CTL_MAX_CLIENTS) {
        g_set_error(&err, CTLPROTO_ERROR, CTLPROTO_ERROR_UNAVAILABLE,
                    "too many control clients (%d)", CTL_MAX_CLIENTS);
    } else if (ctlproto_peer_cred(cfd, &cred, &err)) {
        struct group *g = srv->have_group ? getgrgid(srv->group) : NULL;

        if (!ctlproto_cred_allowed(&cred, srv->have_group, srv->group,
                                   g ? g->gr_name : NULL, &err)) {
            log_info("control: refused uid %u (pid %d): %s",
                     (unsigned)cred.uid, (int)cred.pid, err->message);
        }
        ctlproto_cred_clear(&cred);
    }
    if (err) {
        c->closing = true;
        reply_error(c, -1, err);
        return G_SOURCE_CONTINUE;
    }
    s = g_unix_fd_source_new(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_priority(s, CTL_PRIORITY);
    g_source_set_callback(s, G_SOURCE_FUNC(on_readable), c, NULL);
    c->in_watch = g_source_attach(s, NULL);
    g_source_unref(s);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ */

struct ctlserver *
ctlserver_new(struct kd *kd, GError **error)
{
    const char *path = kd->conf->control_socket;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct ctlserver *srv;
    g_autofree char *dir = g_path_get_dirname(path);
    GSource *s;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "%s: path too long for a UNIX socket", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "%s: %s", dir, g_strerror(errno));
        return NULL;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "socket: %s", g_strerror(errno));
        return NULL;
    }
    /* a socket file left behind: reuse the path unless someone listens */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                    "%s: another kemarid listens there", path);
        close(fd);
        return NULL;
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "%s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    srv = g_new0(struct ctlserver, 1);
    srv->kd = kd;
    srv->fd = fd;
    srv->path = g_strdup(path);
    if (kd->conf->control_group) {
        struct group *g = getgrnam(kd->conf->control_group);

        if (!g) {
            log_warnx("control-group %s does not exist: only root may use "
                      "%s", kd->conf->control_group, path);
        } else {
            srv->have_group = true;
            srv->group = g->gr_gid;
            if (chown(path, (uid_t)-1, g->gr_gid) < 0) {
                log_warn("chown %s", path);
            }
        }
    }
    if (chmod(path, srv->have_group ? 0660 : 0600) < 0) {
        log_warn("chmod %s", path);
    }
    s = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_priority(s, CTL_PRIORITY);
    g_source_set_callback(s, G_SOURCE_FUNC(on_accept), srv, NULL);
    srv->watch = g_source_attach(s, NULL);
    g_source_unref(s);
    log_info("control socket %s", path);
    return srv;
}

void
ctlserver_free(struct ctlserver *srv)
{
    if (!srv) {
        return;
    }
    g_list_free_full(srv->clients, (GDestroyNotify)client_free);
    g_source_remove(srv->watch);
    close(srv->fd);
    unlink(srv->path);
    g_free(srv->path);
    g_free(srv);
}
