/*
 * kemari.c - kemari(1), the command line front of kemarid
 *
 *   kemari [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]
 *
 * Each command is one or more requests of the control protocol
 * (PROTOCOL.md section 2) on one connection, with ids 1, 2, ...
 * start, stop and failover then follow the VM by polling status until
 * the work is done, refused or timed out.  The exit status is the
 * table of ctlproto.h (PROTOCOL.md 2.4), documented in kemari(1).
 *
 * Output: aligned tables by default; with --json, the result object of
 * the reply (one line per event for stats) and nothing else on stdout.
 * Messages go to stderr as "kemari: ...".
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli-conn.h"
#include "cli-table.h"
#include "conf.h"
#include "ctlproto.h"
#include "jsonstrict.h"
#include "log.h"
#include "pairproto.h"

#define WAIT_POLL_MS 200            /* status polls while following a VM */
#define WAIT_TIMEOUT_DEFAULT_S 300.0
#define WAIT_TIMEOUT_MAX_S 1e6
#define NAME_RULE "1 to 64 of A-Z a-z 0-9 _ . -, not starting with . or -"

/* Command options, for checking which command accepts which. */
enum cli_opt {
    OPT_PEER = 1 << 0,
    OPT_NO_WAIT = 1 << 1,
    OPT_TIMEOUT = 1 << 2,
    OPT_INTERVAL = 1 << 3,
    OPT_COUNT = 1 << 4,
    OPT_REPLICATE = 1 << 5,
};
#define N_CMD_OPTS 6

static const char *const opt_names[N_CMD_OPTS] = {
    "--peer", "--no-wait", "--timeout", "--interval", "--count",
    "--replicate",
};

/* The command line, parsed. */
struct cli {
    const char *socket;         /* --socket, or NULL */
    const char *config;         /* --config, or NULL */
    char *socket_path;          /* owned: the socket to use, resolved */
    bool json;
    const char *peer;           /* --peer, or NULL */
    /* --replicate, in the order given, distinct */
    const char *replicate[CTLPROTO_MAX_REPLICATE];
    unsigned n_replicate;
    bool no_wait;
    double timeout_s;           /* --timeout, seconds */
    unsigned interval_ms;       /* --interval */
    unsigned count;             /* --count; 0: forever */
    unsigned given;             /* enum cli_opt bits seen */
    char **args;                /* operands after the command (argv's) */
    unsigned nargs;
};

struct command {
    const char *name;
    int (*run)(struct cli *cli);
    unsigned min_args, max_args;
    unsigned opts;              /* enum cli_opt bits accepted */
};

static const char usage_text[] =
"Usage: kemari [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"  status [VM]            this node, the cluster and the VMs here\n"
"  start VM [--peer NODE] [--replicate DEVICE]... [--no-wait]\n"
"           [--timeout SECS]\n"
"                         protect VM with a secondary on NODE (default:\n"
"                         an eligible node kemarid picks); the disk of\n"
"                         each QEMU device DEVICE is replicated, the\n"
"                         others are shared\n"
"  stop VM [--no-wait] [--timeout SECS]\n"
"                         end the protection of VM (it keeps running)\n"
"  failover VM [--no-wait] [--timeout SECS]\n"
"                         make the secondary of VM on this node take over\n"
"  nodes                  the cluster's nodes as this node sees them\n"
"  fenced NODE            NODE was fenced (powered off or cut off for\n"
"                         good): primaries here whose secondary was there\n"
"                         continue unprotected.  Pacemaker's agent says it\n"
"                         after fencing; say it by hand only when sure\n"
"  stats [VM] [--interval MS] [--count N]\n"
"                         live checkpoint statistics\n"
"  help                   this text\n"
"\n"
"Options:\n"
"  --socket PATH    kemarid's control socket (default: $KEMARI_SOCKET,\n"
"                   else control-socket in " CONF_DEFAULT_PATH ")\n"
"  --config FILE    read control-socket from FILE ($KEMARI_CONFIG)\n"
"  --json           print the daemon's result as JSON\n"
"  --replicate DEVICE\n"
"                   start: replicate the disk of QEMU device DEVICE (each\n"
"                   node has its own image); repeatable, up to 16 times\n"
"  --no-wait        return once the request is accepted\n"
"  --timeout SECS   how long to wait for start, stop, failover (300)\n"
"  --interval MS    stats period, 100 to 60000 ms (1000)\n"
"  --count N        stats: exit after N updates\n"
"  --version        print the version and exit\n"
"  -h, --help       print this help and exit\n"
"\n"
"Exit status: 0 done, 1 failure or timeout, 2 bad usage, 3 no such VM or\n"
"node, 4 refused, 5 permission denied, 6 kemarid or the cluster\n"
"unreachable, 7 protocol error.  See kemari(1).\n";

/* ------------------------------------------------------------------ */
/* Messages */

static int G_GNUC_PRINTF(1, 2)
usage_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "kemari: %s\n%s", msg, usage_text);
    return CTLPROTO_EXIT_USAGE;
}

/* S with control characters replaced, safe for a terminal.  Caller frees. */
static char *
printable(const char *s)
{
    char *out = g_strdup(s ? s : "");
    char *p;

    for (p = out; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    return out;
}

/* Reports a failure of ours (CLICONN_ERROR codes are exit statuses). */
static int
report_gerror(const GError *err)
{
    g_autofree char *msg = printable(err->message);

    log_warnx("%s", msg);
    return err->domain == CLICONN_ERROR ? err->code : CTLPROTO_EXIT_FAILURE;
}

/* Reports an error reply: "kemari: CODE: MESSAGE". */
static int
report_reply_error(const struct ctlproto_reply *r)
{
    g_autofree char *code = printable(r->code_name);
    g_autofree char *msg = printable(r->message);

    log_warnx("%s: %s", code, msg);
    return ctlproto_exit_code(r->code);
}

/* A malformed result: exit 7. */
static int G_GNUC_PRINTF(2, 3)
bad_result(const struct cliconn *c, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_warnx("bad reply from kemarid at %s: %s", cliconn_path(c), msg);
    return CTLPROTO_EXIT_PROTOCOL;
}

/* ------------------------------------------------------------------ */
/* Reading results (members of unexpected types count as absent) */

static JsonNode *
member(JsonObject *o, const char *name)
{
    return o ? json_object_get_member(o, name) : NULL;
}

static JsonObject *
obj_member(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *
array_member(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static GType
value_type(JsonNode *n)
{
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n)
                                         : G_TYPE_INVALID;
}

/* The string member NAME of O, or NULL. */
static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);

    return value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
}

static bool
int_member(JsonObject *o, const char *name, int64_t *v)
{
    JsonNode *n = member(o, name);

    if (value_type(n) != G_TYPE_INT64) {
        return false;
    }
    *v = json_node_get_int(n);
    return true;
}

/* An integer or a float. */
static bool
num_member(JsonObject *o, const char *name, double *v)
{
    JsonNode *n = member(o, name);

    switch (value_type(n)) {
    case G_TYPE_INT64:
        *v = (double)json_node_get_int(n);
        return true;
    case G_TYPE_DOUBLE:
        *v = json_node_get_double(n);
        return true;
    default:
        return false;
    }
}

/* 1 true, 0 false, -1 absent. */
static int
bool_member(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);

    if (value_type(n) != G_TYPE_BOOLEAN) {
        return -1;
    }
    return json_node_get_boolean(n) ? 1 : 0;
}

static const char *
yes_no(int b)
{
    return b < 0 ? "?" : b ? "yes" : "no";
}

/* The JSON of the result: one line on stdout. */
static void
print_json(JsonNode *node)
{
    g_autofree char *text = jstrict_to_string(node);

    printf("%s\n", text);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Formatting */

/* "-" when absent. */
static char *
fmt_int(JsonObject *o, const char *name)
{
    int64_t v;

    return int_member(o, name, &v) ? g_strdup_printf("%" G_GINT64_FORMAT, v)
                                   : g_strdup("-");
}

/* Bytes: 512, 1.5K, 80K, 2.0M, ... */
static char *
fmt_bytes(JsonObject *o, const char *name)
{
    static const char units[] = "KMGTP";
    double v;
    unsigned u;

    if (!num_member(o, name, &v)) {
        return g_strdup("-");
    }
    if (v < 1024) {
        return g_strdup_printf("%.0f", v);
    }
    for (u = 0; u + 1 < sizeof(units) - 1 && v >= 1024 * 1024; u++) {
        v /= 1024;
    }
    v /= 1024;
    return v < 10 ? g_strdup_printf("%.1f%c", v, units[u])
                  : g_strdup_printf("%.0f%c", v, units[u]);
}

/* Bytes per second: 512B/s, 1.5M/s, 120M/s. */
static char *
fmt_rate(double v)
{
    g_autoptr(JsonObject) o = json_object_new();
    g_autofree char *b = NULL;

    json_object_set_double_member(o, "v", v);
    b = fmt_bytes(o, "v");
    return g_strdup_printf("%s%s/s", b, v < 1024 ? "B" : "");
}

/* Microseconds: 310us, 1.9ms, 25ms, 1.20s. */
static char *
fmt_us(JsonObject *o, const char *name)
{
    double v;

    if (!num_member(o, name, &v)) {
        return g_strdup("-");
    }
    if (v < 1000) {
        return g_strdup_printf("%.0fus", v);
    }
    if (v < 10000) {
        return g_strdup_printf("%.1fms", v / 1000);
    }
    if (v < 1000000) {
        return g_strdup_printf("%.0fms", v / 1000);
    }
    return g_strdup_printf("%.2fs", v / 1000000);
}

/* A wall-clock time: HH:MM:SS within a day of now, else YYYY-MM-DD. */
static char *
fmt_time(double t, double now)
{
    time_t s = (time_t)t;
    struct tm tm;
    char buf[32];

    if (!localtime_r(&s, &tm)) {
        return g_strdup("?");
    }
    strftime(buf, sizeof(buf), fabs(now - t) < 86400 ? "%H:%M:%S"
                                                      : "%Y-%m-%d", &tm);
    return g_strdup(buf);
}

/* A duration: 45s, 5m07s, 3h05m, 2d04h. */
static char *
fmt_age(double secs)
{
    unsigned long s = secs > 0 ? (unsigned long)secs : 0;

    if (s < 60) {
        return g_strdup_printf("%lus", s);
    }
    if (s < 3600) {
        return g_strdup_printf("%lum%02lus", s / 60, s % 60);
    }
    if (s < 86400) {
        return g_strdup_printf("%luh%02lum", s / 3600, s % 3600 / 60);
    }
    return g_strdup_printf("%lud%02luh", s / 86400, s % 86400 / 3600);
}

static double
now_s(void)
{
    return (double)g_get_real_time() / G_USEC_PER_SEC;
}

/* ------------------------------------------------------------------ */
/* Connection */

static struct cliconn *
connect_daemon(struct cli *cli, int *rc)
{
    g_autoptr(GError) err = NULL;
    struct cliconn *c = cliconn_open(cli->socket_path, &err);

    if (!c) {
        *rc = report_gerror(err);
    }
    return c;
}

/*
 * One request and its reply.  Returns 0 with *OUT an OK reply, or the
 * exit status after reporting the error (OUT cleared).
 */
static int
call(struct cliconn *c, struct ctlproto_request *req,
     struct ctlproto_reply *out)
{
    g_autoptr(GError) err = NULL;
    int rc;

    if (!cliconn_call(c, req, out, -1, &err)) {
        return report_gerror(err);
    }
    if (out->kind == CTLPROTO_REPLY_ERROR) {
        rc = report_reply_error(out);
        ctlproto_reply_clear(out);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* status */

static void
print_status_header(JsonObject *res)
{
    JsonObject *node = obj_member(res, "node");
    JsonObject *cluster = obj_member(res, "cluster");
    JsonObject *policy = obj_member(res, "policy");
    JsonObject *kvm = obj_member(res, "kvm-check");
    const char *s;
    GString *h = g_string_new(NULL);
    g_autofree char *line = NULL;
    int64_t id = 0;

    int_member(node, "id", &id);
    s = str_member(node, "name");
    g_string_append_printf(h, "node %s (id %" G_GINT64_FORMAT ")",
                           s ? s : "?", id);
    s = str_member(cluster, "membership");
    g_string_append_printf(h, "  membership %s", s ? s : "?");
    g_string_append_printf(h, "  quorum %s",
                           yes_no(bool_member(cluster, "quorate")));
    s = str_member(kvm, "verdict");
    g_string_append_printf(h, "  kvm-check %s", s ? s : "?");
    if ((s = str_member(kvm, "detail")) != NULL) {
        g_string_append_printf(h, " (%s)", s);
    }
    if ((s = str_member(policy, "failover")) != NULL) {
        g_string_append_printf(h, "  failover %s", s);
    }
    if ((s = str_member(policy, "reprotect")) != NULL) {
        g_string_append_printf(h, "  reprotect %s", s);
    }
    line = printable(h->str);
    g_string_free(h, TRUE);
    printf("%s\n", line);
}


/* The I-th element of A if it is an object, else NULL. */
static JsonObject *
array_obj(JsonArray *a, unsigned i)
{
    JsonNode *n = json_array_get_element(a, i);

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/*
 * One line per replicated disk of VM: the initial copy's progress, or
 * that the copy is in sync.
 */
static void
print_disks(JsonObject *vm)
{
    JsonArray *disks = array_member(obj_member(vm, "engine"), "disks");
    const char *name = str_member(vm, "name");
    unsigned i, n = disks ? json_array_get_length(disks) : 0;

    for (i = 0; i < n; i++) {
        JsonObject *d = array_obj(disks, i);
        const char *dev = str_member(d, "device");
        g_autofree char *size = fmt_bytes(d, "size");
        g_autofree char *line = NULL, *shown = NULL;
        bool synced = bool_member(d, "synced");
        bool incremental = bool_member(d, "incremental");
        double pct = 0, rate = 0, left;

        if (synced) {
            g_autofree char *sent = fmt_bytes(d, "transferred");
            g_autofree char *copied = fmt_bytes(d, "copied");

            line = g_strdup_printf("%s: disk %s (%s): replicated, in sync "
                                   "(%s %s sent, %s in all)",
                                   name ? name : "?", dev ? dev : "?", size,
                                   incremental ? "resync" : "copy", copied,
                                   sent);
        } else {
            g_autofree char *remaining = fmt_bytes(d, "remaining");
            g_autofree char *speed = NULL, *eta = NULL;

            num_member(d, "percent", &pct);
            num_member(d, "rate", &rate);
            speed = rate > 0 ? fmt_rate(rate) : g_strdup("rate unknown");
            eta = num_member(d, "seconds-left", &left)
                  ? g_strdup_printf(", %.0f s left", left) : g_strdup("");
            line = g_strdup_printf("%s: disk %s (%s): %s, %.0f%% "
                                   "(%s to go), %s%s", name ? name : "?",
                                   dev ? dev : "?", size,
                                   incremental ? "resyncing" : "copying",
                                   pct, remaining, speed, eta);
        }
        shown = printable(line);
        printf("%s\n", shown);
    }
}

static void
print_status(JsonObject *res)
{
    static const char *const headers[] = {
        "VM", "ROLE", "STATE", "PEER", ">EPOCH", ">CHECKPOINTS", ">HELD",
        "SINCE", "AGE",
    };
    g_autoptr(clitab) t = clitab_new(headers, G_N_ELEMENTS(headers));
    JsonArray *vms = array_member(res, "vms");
    double now = now_s();
    unsigned i, n = vms ? json_array_get_length(vms) : 0;

    print_status_header(res);
    if (n == 0) {
        printf("no VMs on this node\n");
        return;
    }
    for (i = 0; i < n; i++) {
        JsonObject *vm = array_obj(vms, i);
        JsonObject *engine = obj_member(vm, "engine");
        const char *s;
        double since;

        clitab_cell(t, (s = str_member(vm, "name")) ? s : "?");
        clitab_cell(t, (s = str_member(vm, "role")) ? s : "?");
        clitab_cell(t, (s = str_member(vm, "state")) ? s : "?");
        clitab_cell(t, (s = str_member(vm, "peer")) ? s : "-");
        clitab_cell_take(t, fmt_int(vm, "epoch"));
        clitab_cell_take(t, fmt_int(engine, "checkpoints"));
        clitab_cell_take(t, fmt_bytes(engine, "held-bytes"));
        if (num_member(vm, "since", &since)) {
            clitab_cell_take(t, fmt_time(since, now));
            clitab_cell_take(t, fmt_age(now - since));
        } else {
            clitab_cell(t, "-");
            clitab_cell(t, "-");
        }
    }
    clitab_print(t, stdout, true);
    for (i = 0; i < n; i++) {
        JsonObject *vm = array_obj(vms, i);
        const char *err = str_member(vm, "last-error");
        const char *name = str_member(vm, "name");

        if (err) {
            g_autofree char *line = g_strdup_printf("%s: last error: %s",
                                                    name ? name : "?", err);
            g_autofree char *shown = printable(line);

            printf("%s\n", shown);
        }
        print_disks(vm);
    }
}

static int
cmd_status(struct cli *cli)
{
    struct ctlproto_request req = { .command = CTLPROTO_CMD_STATUS };
    struct ctlproto_reply r;
    g_autoptr(cliconn) c = NULL;
    int rc = 0;

    if (!(c = connect_daemon(cli, &rc))) {
        return rc;
    }
    if (cli->nargs > 0) {
        g_strlcpy(req.vm, cli->args[0], sizeof(req.vm));
    }
    if ((rc = call(c, &req, &r)) != 0) {
        return rc;
    }
    if (cli->json) {
        print_json(r.body);
    } else {
        print_status(json_node_get_object(r.body));
    }
    ctlproto_reply_clear(&r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* nodes */

static char *
fmt_roles(JsonObject *node)
{
    JsonArray *roles = array_member(node, "roles");
    GString *s = g_string_new(NULL);
    unsigned i, n = roles ? json_array_get_length(roles) : 0;

    for (i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(roles, i);

        if (value_type(e) == G_TYPE_STRING) {
            g_string_append_printf(s, "%s%s", s->len ? "," : "",
                                   json_node_get_string(e));
        }
    }
    if (s->len == 0) {
        g_string_append(s, "-");
    }
    return g_string_free(s, FALSE);
}

static void
print_nodes(JsonObject *res)
{
    static const char *const headers[] = {
        ">ID", "NAME", "MEMBER", "DAEMON", "KVM-CHECK", "ROLES", "ELIGIBLE",
        "VERSION",
    };
    g_autoptr(clitab) t = clitab_new(headers, G_N_ELEMENTS(headers));
    JsonArray *nodes = array_member(res, "nodes");
    unsigned i, n = nodes ? json_array_get_length(nodes) : 0;
    g_autofree char *membership = printable(str_member(res, "membership"));
    const char *s;
    int64_t local = 0;

    int_member(res, "local-id", &local);
    printf("local node id %" G_GINT64_FORMAT "  membership %s  quorum %s\n",
           local, membership[0] ? membership : "?",
           yes_no(bool_member(res, "quorate")));
    for (i = 0; i < n; i++) {
        JsonObject *node = array_obj(nodes, i);

        clitab_cell_take(t, fmt_int(node, "id"));
        clitab_cell(t, (s = str_member(node, "name")) ? s : "-");
        clitab_cell(t, yes_no(bool_member(node, "member")));
        clitab_cell(t, yes_no(bool_member(node, "daemon")));
        clitab_cell(t, (s = str_member(node, "kvm-check")) ? s : "?");
        clitab_cell_take(t, fmt_roles(node));
        clitab_cell(t, yes_no(bool_member(node, "eligible")));
        clitab_cell(t, (s = str_member(node, "sw-version")) ? s : "-");
    }
    clitab_print(t, stdout, true);
}

/* One request; its result printed by PRINT, or as JSON with --json. */
static int
call_and_print(struct cli *cli, struct ctlproto_request *req,
               void (*print)(struct cli *cli, JsonNode *body))
{
    struct ctlproto_reply r;
    g_autoptr(cliconn) c = NULL;
    int rc = 0;

    if (!(c = connect_daemon(cli, &rc))) {
        return rc;
    }
    if ((rc = call(c, req, &r)) != 0) {
        return rc;
    }
    if (cli->json) {
        print_json(r.body);
    } else {
        print(cli, r.body);
    }
    ctlproto_reply_clear(&r);
    return 0;
}

static void
print_nodes_reply(struct cli *cli, JsonNode *body)
{
    print_nodes(json_node_get_object(body));
}

static int
cmd_nodes(struct cli *cli)
{
    struct ctlproto_request req = { .command = CTLPROTO_CMD_NODES };

    return call_and_print(cli, &req, print_nodes_reply);
}

/* fenced NODE: one request; prints the VMs it concerned */
static void
print_fenced_reply(struct cli *cli, JsonNode *body)
{
    JsonArray *vms = JSON_NODE_HOLDS_OBJECT(body) ?
                     array_member(json_node_get_object(body), "vms") : NULL;
    guint i;

    printf("%s: fenced", cli->args[0]);
    if (vms && json_array_get_length(vms) > 0) {
        printf("; the other copy of");
        for (i = 0; i < json_array_get_length(vms); i++) {
            JsonNode *n = json_array_get_element(vms, i);

            printf(" %s", value_type(n) == G_TYPE_STRING ?
                          json_node_get_string(n) : "?");
        }
        printf(" was there");
    }
    putchar('\n');
}

static int
cmd_fenced(struct cli *cli)
{
    struct ctlproto_request req = { .command = CTLPROTO_CMD_FENCED };

    g_strlcpy(req.peer, cli->args[0], sizeof(req.peer));
    return call_and_print(cli, &req, print_fenced_reply);
}

/* ------------------------------------------------------------------ */
/* start, stop, failover: the request, then following the VM */

enum goal {
    GOAL_START,                 /* done: PROTECTED */
    GOAL_STOP,                  /* done: UNPROTECTED */
    GOAL_FAILOVER,              /* done: primary and running */
};

/* What status says about one VM. */
struct vm_view {
    char *role;                 /* owned, never NULL */
    char *state;                /* owned, never NULL */
    char *peer;                 /* owned, may be NULL */
    char *last_error;           /* owned, may be NULL */
};

static void
vm_view_clear(struct vm_view *v)
{
    g_clear_pointer(&v->role, g_free);
    g_clear_pointer(&v->state, g_free);
    g_clear_pointer(&v->peer, g_free);
    g_clear_pointer(&v->last_error, g_free);
}

/* Asks status about VM.  Returns 0 with *V filled, or the exit status. */
static int
query_vm(struct cliconn *c, const char *vm, struct vm_view *v)
{
    struct ctlproto_request req = { .command = CTLPROTO_CMD_STATUS };
    struct ctlproto_reply r;
    JsonArray *vms;
    JsonObject *o = NULL;
    unsigned i, n;
    int rc;

    memset(v, 0, sizeof(*v));
    g_strlcpy(req.vm, vm, sizeof(req.vm));
    if ((rc = call(c, &req, &r)) != 0) {
        return rc;
    }
    vms = array_member(json_node_get_object(r.body), "vms");
    n = vms ? json_array_get_length(vms) : 0;
    for (i = 0; i < n && !o; i++) {
        o = array_obj(vms, i);
        if (g_strcmp0(str_member(o, "name"), vm) != 0) {
            o = NULL;
        }
    }
    if (!o || !str_member(o, "state") || !str_member(o, "role")) {
        ctlproto_reply_clear(&r);
        return bad_result(c, "status of VM '%s' does not list it with a "
                          "role and a state", vm);
    }
    v->role = g_strdup(str_member(o, "role"));
    v->state = g_strdup(str_member(o, "state"));
    v->peer = g_strdup(str_member(o, "peer"));
    v->last_error = g_strdup(str_member(o, "last-error"));
    ctlproto_reply_clear(&r);
    return 0;
}

static bool
state_is(const struct vm_view *v, const char *state)
{
    return strcmp(v->state, state) == 0;
}

static bool
goal_reached(enum goal goal, const struct vm_view *v)
{
    switch (goal) {
    case GOAL_START:
        return state_is(v, "PROTECTED");
    case GOAL_STOP:
        return state_is(v, "UNPROTECTED");
    case GOAL_FAILOVER:
        return strcmp(v->role, "primary") == 0 &&
               (state_is(v, "UNPROTECTED") || state_is(v, "PAIRING") ||
                state_is(v, "SYNCING") || state_is(v, "PROTECTED"));
    }
    g_assert_not_reached();
}

/*
 * Whether V means the work failed.  ERROR_BEFORE is the VM's last-error
 * before the request; MOVED says the VM has been in a state other than
 * UNPROTECTED and STOPPED since the request.
 */
static bool
goal_failed(enum goal goal, const struct vm_view *v, const char *error_before,
            bool moved)
{
    switch (goal) {
    case GOAL_START:
        return (state_is(v, "UNPROTECTED") || state_is(v, "STOPPED")) &&
               (moved || g_strcmp0(v->last_error, error_before) != 0);
    case GOAL_STOP:
    case GOAL_FAILOVER:
        return state_is(v, "STOPPED");
    }
    g_assert_not_reached();
}

static const char *const goal_what[] = {
    [GOAL_START] = "protection",
    [GOAL_STOP] = "stop",
    [GOAL_FAILOVER] = "failover",
};

static const char *const goal_wanted[] = {
    [GOAL_START] = "PROTECTED",
    [GOAL_STOP] = "UNPROTECTED",
    [GOAL_FAILOVER] = "the VM to run as primary",
};

/* One progress line: to stdout, or to stderr with --json. */
static void G_GNUC_PRINTF(2, 3)
progress(const struct cli *cli, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *shown = NULL;
    FILE *out = cli->json ? stderr : stdout;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    shown = printable(msg);
    fprintf(out, "%s\n", shown);
    fflush(out);
}

/*
 * Follows VM with a status every WAIT_POLL_MS until GOAL is reached
 * (0), has failed (4) or the timeout passed (1).  STATE is the state
 * the request's reply gave (may be NULL).
 */
static int
follow_vm(struct cli *cli, struct cliconn *c, enum goal goal, const char *vm,
          const char *error_before, const char *state)
{
    gint64 start = g_get_monotonic_time();
    gint64 deadline = start + (gint64)(cli->timeout_s * G_USEC_PER_SEC);
    g_autofree char *shown_state = g_strdup(state);
    g_autofree char *shown_role = NULL;
    bool moved = state && strcmp(state, "UNPROTECTED") != 0 &&
                 strcmp(state, "STOPPED") != 0;
    int rc;

    if (state) {
        progress(cli, "%s: %s", vm, state);
    }
    for (;;) {
        struct vm_view v;
        gint64 now;

        if ((rc = query_vm(c, vm, &v)) != 0) {
            return rc;
        }
        if (g_strcmp0(v.state, shown_state) != 0 ||
            (goal == GOAL_FAILOVER && g_strcmp0(v.role, shown_role) != 0)) {
            if (goal == GOAL_FAILOVER) {
                progress(cli, "%s: %s (%s)", vm, v.state, v.role);
            } else {
                progress(cli, "%s: %s", vm, v.state);
            }
            g_free(shown_state);
            shown_state = g_strdup(v.state);
            g_free(shown_role);
            shown_role = g_strdup(v.role);
        }
        if (goal_reached(goal, &v)) {
            if (goal == GOAL_START) {
                progress(cli, "%s: protected, secondary on %s", vm,
                         v.peer ? v.peer : "?");
            } else if (goal == GOAL_STOP) {
                progress(cli, "%s: protection stopped, the VM runs "
                         "unprotected", vm);
            } else {
                progress(cli, "%s: failed over, primary on this node", vm);
            }
            vm_view_clear(&v);
            return CTLPROTO_EXIT_OK;
        }
        if (goal_failed(goal, &v, error_before, moved)) {
            g_autofree char *msg = printable(v.last_error);

            if (v.last_error) {
                log_warnx("%s: %s failed: %s", vm, goal_what[goal], msg);
            } else {
                log_warnx("%s: %s failed: the VM is %s", vm, goal_what[goal],
                          v.state);
            }
            vm_view_clear(&v);
            return CTLPROTO_EXIT_REFUSED;
        }
        if (!state_is(&v, "UNPROTECTED") && !state_is(&v, "STOPPED")) {
            moved = true;
        }
        now = g_get_monotonic_time();
        if (now >= deadline) {
            log_warnx("%s: timed out after %g s waiting for %s (the VM is "
                      "%s %s)", vm, cli->timeout_s, goal_wanted[goal],
                      v.role, v.state);
            vm_view_clear(&v);
            return CTLPROTO_EXIT_FAILURE;
        }
        vm_view_clear(&v);
        g_usleep((gulong)MIN((gint64)WAIT_POLL_MS * 1000, deadline - now));
    }
}

static int
run_action(struct cli *cli, enum ctlproto_command cmd, enum goal goal)
{
    struct ctlproto_request req = { .command = cmd };
    struct ctlproto_reply r;
    g_autoptr(cliconn) c = NULL;
    g_autofree char *error_before = NULL;
    g_autofree char *state = NULL;
    const char *vm = cli->args[0];
    unsigned i;
    int rc = 0;

    if (!(c = connect_daemon(cli, &rc))) {
        return rc;
    }
    if (!cli->no_wait) {
        struct vm_view v;

        /* the baseline: a failure shows as a new last-error */
        if ((rc = query_vm(c, vm, &v)) != 0) {
            return rc;
        }
        error_before = g_steal_pointer(&v.last_error);
        vm_view_clear(&v);
    }
    g_strlcpy(req.vm, vm, sizeof(req.vm));
    if (cli->peer) {
        g_strlcpy(req.peer, cli->peer, sizeof(req.peer));
    }
    /* start only: the other commands refuse --replicate */
    for (i = 0; i < cli->n_replicate; i++) {
        g_strlcpy(req.replicate[i], cli->replicate[i],
                  sizeof(req.replicate[i]));
    }
    req.n_replicate = cli->n_replicate;
    if ((rc = call(c, &req, &r)) != 0) {
        return rc;
    }
    state = g_strdup(str_member(json_node_get_object(r.body), "state"));
    if (cli->json) {
        print_json(r.body);
    }
    ctlproto_reply_clear(&r);
    if (cli->no_wait) {
        if (!cli->json) {
            progress(cli, "%s: %s accepted, the VM is %s", vm,
                     ctlproto_command_name(cmd), state ? state : "?");
        }
        return CTLPROTO_EXIT_OK;
    }
    return follow_vm(cli, c, goal, vm, error_before, state);
}

static int
cmd_start(struct cli *cli)
{
    return run_action(cli, CTLPROTO_CMD_START, GOAL_START);
}

static int
cmd_stop(struct cli *cli)
{
    return run_action(cli, CTLPROTO_CMD_STOP, GOAL_STOP);
}

static int
cmd_failover(struct cli *cli)
{
    return run_action(cli, CTLPROTO_CMD_FAILOVER, GOAL_FAILOVER);
}

/* ------------------------------------------------------------------ */
/* stats */

static const char *const stats_headers[] = {
    "TIME", "VM", "STATE", ">CHECKPOINTS", ">CKPT/S", ">STOP-MEAN",
    ">STOP-P99", ">STOP-MAX", ">RELEASE-P99", ">CKPT-BYTES", ">HELD",
};
#define STATS_COLS G_N_ELEMENTS(stats_headers)

/* Widths for the streamed (not redrawn) table, so rows line up. */
static const unsigned stats_min_widths[STATS_COLS] = {
    8, 12, 12, 11, 7, 9, 8, 8, 11, 10, 6,
};

static struct clitab *
stats_table(JsonObject *data, bool fixed)
{
    struct clitab *t = clitab_new(stats_headers, STATS_COLS);
    JsonArray *vms = array_member(data, "vms");
    unsigned i, n = vms ? json_array_get_length(vms) : 0;
    double now = now_s(), time;
    g_autofree char *when = NULL;

    if (!num_member(data, "time", &time)) {
        time = now;
    }
    when = fmt_time(time, time);
    for (i = 0; fixed && i < STATS_COLS; i++) {
        clitab_min_width(t, i, stats_min_widths[i]);
    }
    for (i = 0; i < n; i++) {
        JsonObject *vm = array_obj(vms, i);
        JsonObject *stop = obj_member(vm, "stop-time-us");
        JsonObject *release = obj_member(vm, "release-latency-us");
        const char *s;
        double rate;

        clitab_cell(t, when);
        clitab_cell(t, (s = str_member(vm, "name")) ? s : "?");
        clitab_cell(t, (s = str_member(vm, "state")) ? s : "?");
        clitab_cell_take(t, fmt_int(vm, "checkpoints"));
        if (num_member(vm, "checkpoints-per-s", &rate)) {
            clitab_cellf(t, "%.1f", rate);
        } else {
            clitab_cell(t, "-");
        }
        clitab_cell_take(t, fmt_us(stop, "mean"));
        clitab_cell_take(t, fmt_us(stop, "p99"));
        clitab_cell_take(t, fmt_us(stop, "max"));
        clitab_cell_take(t, fmt_us(release, "p99"));
        clitab_cell_take(t, fmt_bytes(vm, "checkpoint-bytes-last"));
        clitab_cell_take(t, fmt_bytes(vm, "held-bytes"));
    }
    return t;
}

/* Prints one stats event. */
static void
print_stats(const struct cli *cli, JsonNode *data, bool tty, bool *header)
{
    g_autoptr(clitab) t = NULL;

    if (cli->json) {
        print_json(data);
        return;
    }
    t = stats_table(json_node_get_object(data), !tty);
    if (tty) {
        /* home, clear the screen, redraw */
        printf("\033[H\033[2J");
        printf("kemari stats: every %u ms (^C to quit)\n\n", cli->interval_ms);
        if (clitab_rows(t) == 0) {
            printf("no VM with a running engine on this node\n");
        } else {
            clitab_print(t, stdout, true);
        }
    } else {
        clitab_print(t, stdout, !*header);
        *header = true;
    }
    fflush(stdout);
}

static int
cmd_stats(struct cli *cli)
{
    struct ctlproto_request req = { .command = CTLPROTO_CMD_STATS_SUBSCRIBE };
    struct ctlproto_reply r;
    g_autoptr(cliconn) c = NULL;
    bool tty = !cli->json && isatty(STDOUT_FILENO);
    bool header = false;
    unsigned events = 0;
    int rc = 0;

    if (!(c = connect_daemon(cli, &rc))) {
        return rc;
    }
    if (cli->nargs > 0) {
        g_strlcpy(req.vm, cli->args[0], sizeof(req.vm));
    }
    req.interval_ms = cli->interval_ms;
    if ((rc = call(c, &req, &r)) != 0) {
        return rc;
    }
    ctlproto_reply_clear(&r);
    while (cli->count == 0 || events < cli->count) {
        g_autoptr(GError) err = NULL;

        /* a silent daemon is noticed within a reply timeout */
        if (!cliconn_recv(c, &r, (int)cli->interval_ms +
                          CLICONN_REPLY_TIMEOUT_MS, &err)) {
            return report_gerror(err);
        }
        if (r.kind == CTLPROTO_REPLY_ERROR &&
            (r.id == req.id || r.id == -1)) {
            rc = report_reply_error(&r);
            ctlproto_reply_clear(&r);
            return rc;
        }
        if (r.kind != CTLPROTO_REPLY_EVENT || r.id != req.id) {
            int64_t id = r.id;

            ctlproto_reply_clear(&r);
            return bad_result(c, "unexpected message with id %" G_GINT64_FORMAT
                              " after stats-subscribe %" G_GINT64_FORMAT, id,
                              req.id);
        }
        if (strcmp(r.event, "stats") == 0) {
            print_stats(cli, r.body, tty, &header);
            events++;
        }
        /* other events are for newer clients: ignored */
        ctlproto_reply_clear(&r);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* help */

static int
cmd_help(struct cli *cli)
{
    fputs(usage_text, stdout);
    return 0;
}

static const struct command commands[] = {
    { "status", cmd_status, 0, 1, 0 },
    { "start", cmd_start, 1, 1,
      OPT_PEER | OPT_REPLICATE | OPT_NO_WAIT | OPT_TIMEOUT },
    { "stop", cmd_stop, 1, 1, OPT_NO_WAIT | OPT_TIMEOUT },
    { "failover", cmd_failover, 1, 1, OPT_NO_WAIT | OPT_TIMEOUT },
    { "nodes", cmd_nodes, 0, 0, 0 },
    { "fenced", cmd_fenced, 1, 1, 0 },
    { "stats", cmd_stats, 0, 1, OPT_INTERVAL | OPT_COUNT },
    { "help", cmd_help, 0, 1, 0 },
};

/* ------------------------------------------------------------------ */
/* Command line */

static bool
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    guint64 v;

    if (!g_ascii_isdigit(s[0]) ||
        !g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL)) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool
parse_seconds(const char *s, double *out)
{
    char *end = NULL;
    double v;

    if (!g_ascii_isdigit(s[0]) && s[0] != '.') {
        return false;
    }
    errno = 0;
    v = g_ascii_strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v) || v <= 0 ||
        v > WAIT_TIMEOUT_MAX_S) {
        return false;
    }
    *out = v;
    return true;
}

enum {
    LOPT_SOCKET = 256, LOPT_CONFIG, LOPT_JSON, LOPT_PEER, LOPT_NO_WAIT,
    LOPT_TIMEOUT, LOPT_INTERVAL, LOPT_COUNT, LOPT_VERSION, LOPT_REPLICATE,
};

static const struct option long_opts[] = {
    { "socket", required_argument, NULL, LOPT_SOCKET },
    { "config", required_argument, NULL, LOPT_CONFIG },
    { "json", no_argument, NULL, LOPT_JSON },
    { "peer", required_argument, NULL, LOPT_PEER },
    { "replicate", required_argument, NULL, LOPT_REPLICATE },
    { "no-wait", no_argument, NULL, LOPT_NO_WAIT },
    { "timeout", required_argument, NULL, LOPT_TIMEOUT },
    { "interval", required_argument, NULL, LOPT_INTERVAL },
    { "count", required_argument, NULL, LOPT_COUNT },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, LOPT_VERSION },
    { NULL, 0, NULL, 0 },
};

/*
 * Parses ARGV into CLI and *CMD.  Returns -1 to go on, else the exit
 * status (after --help, --version or a usage error).  Options may come
 * before or after the command.
 */
static int
parse_args(struct cli *cli, int argc, char **argv,
           const struct command **cmd)
{
    unsigned i;
    int o;

    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (o) {
        case LOPT_SOCKET:
            if (optarg[0] == '\0') {
                return usage_error("--socket needs a path");
            }
            cli->socket = optarg;
            break;
        case LOPT_CONFIG:
            if (optarg[0] == '\0') {
                return usage_error("--config needs a file name");
            }
            cli->config = optarg;
            break;
        case LOPT_JSON:
            cli->json = true;
            break;
        case LOPT_PEER:
            if (!pairproto_name_valid(optarg)) {
                return usage_error("--peer: invalid node name '%s' (%s)",
                                   optarg, NAME_RULE);
            }
            cli->peer = optarg;
            cli->given |= OPT_PEER;
            break;
        case LOPT_REPLICATE:
            if (!pairproto_name_valid(optarg)) {
                return usage_error("--replicate: invalid device id '%s' "
                                   "(%s)", optarg, NAME_RULE);
            }
            for (i = 0; i < cli->n_replicate; i++) {
                if (strcmp(cli->replicate[i], optarg) == 0) {
                    return usage_error("--replicate: device '%s' given "
                                       "twice", optarg);
                }
            }
            if (cli->n_replicate == CTLPROTO_MAX_REPLICATE) {
                return usage_error("--replicate: at most %d devices",
                                   CTLPROTO_MAX_REPLICATE);
            }
            cli->replicate[cli->n_replicate++] = optarg;
            cli->given |= OPT_REPLICATE;
            break;
        case LOPT_NO_WAIT:
            cli->no_wait = true;
            cli->given |= OPT_NO_WAIT;
            break;
        case LOPT_TIMEOUT:
            if (!parse_seconds(optarg, &cli->timeout_s)) {
                return usage_error("--timeout: '%s' is not a number of "
                                   "seconds above 0", optarg);
            }
            cli->given |= OPT_TIMEOUT;
            break;
        case LOPT_INTERVAL:
            if (!parse_uint(optarg, CTLPROTO_INTERVAL_MIN,
                            CTLPROTO_INTERVAL_MAX, &cli->interval_ms)) {
                return usage_error("--interval: '%s' is not a number of "
                                   "milliseconds from %d to %d", optarg,
                                   CTLPROTO_INTERVAL_MIN,
                                   CTLPROTO_INTERVAL_MAX);
            }
            cli->given |= OPT_INTERVAL;
            break;
        case LOPT_COUNT:
            if (!parse_uint(optarg, 1, G_MAXINT, &cli->count)) {
                return usage_error("--count: '%s' is not a positive integer",
                                   optarg);
            }
            cli->given |= OPT_COUNT;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CTLPROTO_EXIT_OK;
        case LOPT_VERSION:
            printf("kemari %s\n", PACKAGE_VERSION);
            return CTLPROTO_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs an argument",
                               argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        return usage_error("no command given");
    }
    *cmd = NULL;
    for (i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            *cmd = &commands[i];
        }
    }
    if (!*cmd) {
        return usage_error("unknown command '%s'", argv[optind]);
    }
    cli->args = argv + optind + 1;
    cli->nargs = (unsigned)(argc - optind - 1);
    if (cli->nargs < (*cmd)->min_args) {
        return usage_error("%s: missing %s name", (*cmd)->name,
                           (*cmd)->run == cmd_fenced ? "node" : "VM");
    }
    if (cli->nargs > (*cmd)->max_args) {
        return usage_error("%s: unexpected argument '%s'", (*cmd)->name,
                           cli->args[(*cmd)->max_args]);
    }
    for (i = 0; i < N_CMD_OPTS; i++) {
        if ((cli->given & (1u << i)) && !((*cmd)->opts & (1u << i))) {
            return usage_error("%s: option %s does not apply",
                               (*cmd)->name, opt_names[i]);
        }
    }
    if ((*cmd)->run != cmd_help && cli->nargs > 0 &&
        !pairproto_name_valid(cli->args[0])) {
        return usage_error("%s: invalid %s name '%s' (%s)", (*cmd)->name,
                           (*cmd)->run == cmd_fenced ? "node" : "VM",
                           cli->args[0], NAME_RULE);
    }
    return -1;
}

/*
 * The control socket: --socket, else $KEMARI_SOCKET, else control-socket
 * of the configuration (--config, $KEMARI_CONFIG, or CONF_DEFAULT_PATH,
 * whose absence means the built-in default).  Returns -1 to go on, else
 * the exit status.
 */
static int
resolve_socket(struct cli *cli)
{
    g_autoptr(conf) c = NULL;
    g_autoptr(GError) err = NULL;
    const char *env = g_getenv("KEMARI_SOCKET");
    const char *path = cli->config;
    struct stat st;

    if (cli->socket) {
        cli->socket_path = g_strdup(cli->socket);
        return -1;
    }
    if (env && env[0] != '\0') {
        cli->socket_path = g_strdup(env);
        return -1;
    }
    if (!path && (env = g_getenv("KEMARI_CONFIG")) && env[0] != '\0') {
        path = env;
    }
    if (!path && stat(CONF_DEFAULT_PATH, &st) < 0 && errno == ENOENT) {
        c = conf_new_defaults();
    } else {
        c = conf_load(path ? path : CONF_DEFAULT_PATH, &err);
    }
    if (!c) {
        g_autofree char *msg = printable(err->message);

        log_warnx("%s", msg);
        return CTLPROTO_EXIT_USAGE;
    }
    cli->socket_path = g_strdup(c->control_socket);
    return -1;
}

int
main(int argc, char **argv)
{
    const struct command *cmd = NULL;
    struct cli cli;
    int rc;

    log_init("kemari", 1, LOG_LEVEL_INFO);
    memset(&cli, 0, sizeof(cli));
    cli.timeout_s = WAIT_TIMEOUT_DEFAULT_S;
    cli.interval_ms = CTLPROTO_INTERVAL_DEFAULT;
    rc = parse_args(&cli, argc, argv, &cmd);
    if (rc < 0 && cmd->run != cmd_help) {
        rc = resolve_socket(&cli);
    }
    if (rc < 0) {
        rc = cmd->run(&cli);
    }
    g_free(cli.socket_path);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_warn("cannot write the output");
        if (rc == 0) {
            rc = CTLPROTO_EXIT_FAILURE;
        }
    }
    return rc;
}
