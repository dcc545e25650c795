/*
 * membership.c - cluster membership, quorum and messaging over corosync
 * (see membership.h)
 *
 * Connection states:
 *
 *   IDLE --start--> WAIT_RETRY (0 ms) --connect ok--> JOINING
 *   JOINING --join accepted, own join seen, first quorum view--> UP
 *
 * and from JOINING or UP, on any error (a failed dispatch, a hang-up on
 * either fd, a refused message, a join that never completes), LOST: the
 * fds are no longer watched and, from the main loop, the handles are
 * finalized, down() is called (once per loss) and WAIT_RETRY follows with
 * exponential back-off.  A failed connection attempt goes straight back
 * to WAIT_RETRY (down() only if not yet reported).
 *
 * The teardown of a loss is deferred to the main loop because a loss can
 * be found inside cpg_dispatch() (a message() callback whose
 * membership_send() is refused) or inside membership_send(), where no
 * callback may run and the handle must not be finalized.
 *
 * Views: nodes come from the quorum API (a consistent snapshot of the
 * partition with its quorate flag), daemons from the CPG member list.
 * Both arrive on their own connection, a few milliseconds apart, and
 * the views are kept consistent across that gap:
 *   - daemons are reported only when their node is in nodes: a kemarid
 *     in the group whose node is not in this partition cannot exist, and
 *     while CPG has already seen a node arrive but the quorum API has
 *     not, it would look like one;
 *   - a CPG change that says a node went down (reason NODEDOWN) is held
 *     back until the quorum view of the new membership arrives (at most
 *     MEMB_HOLD_MS): shown alone it would look like a kemarid that exited
 *     on a node that is still there (PROCDOWN), which means the opposite
 *     to a caller.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <glib-unix.h>

#include "log.h"
#include "membership.h"

G_DEFINE_QUARK(membership-error-quark, membership_error)

/* Above control clients (HACKING.md), like the QMP sources. */
#define MEMB_PRIORITY G_PRIORITY_DEFAULT
/* Retry delays after CS_ERR_TRY_AGAIN (join, send): first, cap. */
#define MEMB_RETRY_MIN_MS 20
#define MEMB_RETRY_MAX_MS 1000
/* A join that has not completed by then is a failed connection. */
#define MEMB_JOIN_TIMEOUT_MS 30000
/* Longest wait for the quorum view that follows a CPG NODEDOWN. */
#define MEMB_HOLD_MS 1000

enum memb_state {
    MEMB_ST_IDLE,           /* not started */
    MEMB_ST_WAIT_RETRY,     /* no connection; timer to the next attempt */
    MEMB_ST_JOINING,        /* connected, join in progress */
    MEMB_ST_UP,             /* in the group, views and messages flow */
    MEMB_ST_LOST,           /* failed; teardown scheduled on the loop */
};

/* A message delivered after our join but before up(). */
struct memb_early {
    uint32_t from;
    GBytes *data;           /* owned */
};

struct membership {
    struct membership_callbacks cb;
    void *opaque;
    char *group;                /* owned: CPG group name */
    unsigned backoff_initial_ms;
    unsigned backoff_max_ms;
    unsigned backoff_ms;        /* next reconnect delay */
    enum memb_state state;
    bool down_reported;         /* down() called since the last up() */
    bool warned;                /* a failed attempt logged at warn level */

    bool have_cpg;              /* cpg is a live handle */
    cpg_handle_t cpg;
    bool have_quorum;           /* quorum is a live handle */
    quorum_handle_t quorum;
    guint cpg_watch;            /* fd sources, 0 = none */
    guint quorum_watch;
    guint timer;                /* reconnect, join timeout, or teardown */
    guint retry;                /* join or send retry after TRY_AGAIN */
    guint hold;                 /* views held after NODEDOWN, 0 = none */
    unsigned retry_ms;          /* its next delay */
    size_t max_msg;             /* largest message sent in one piece */
    GError *lost_why;           /* owned: reason of a pending teardown */

    /* What corosync said last on this connection. */
    uint32_t local_node;
    pid_t pid;                  /* our pid as CPG sees it */
    bool joined;                /* cpg_join accepted */
    bool self_seen;             /* our own join seen in a confchg */
    bool quorum_seen;           /* first quorum notification arrived */
    bool quorate;
    uint64_t ring_seq;
    size_t n_nodes;
    uint32_t nodes[MEMBERSHIP_MAX_NODES];   /* sorted, unique */
    size_t n_members;
    uint32_t members[MEMBERSHIP_MAX_NODES]; /* CPG nodes: sorted, unique */

    bool have_view;             /* view is the last one given to view() */
    struct membership_view view;
    GQueue sendq;               /* GBytes waiting after TRY_AGAIN */
    GQueue early;               /* struct memb_early before up() */

    int depth;                  /* our source handlers on the stack */
    bool freeing;               /* membership_free() called from one */
};

static void attempt_connect(struct membership *m);

/* ------------------------------------------------------------------ */
/* Helpers */

static void
remove_source(guint *id)
{
    if (*id) {
        g_source_remove(*id);
        *id = 0;
    }
}

static void
early_free(gpointer p)
{
    struct memb_early *e = p;

    g_bytes_unref(e->data);
    g_free(e);
}

/* libcpg and libquorum do not export cs_strerror(). */
static const char *
memb_strerror(cs_error_t rc)
{
    switch (rc) {
    case CS_OK:
        return "ok";
    case CS_ERR_LIBRARY:
        return "cannot reach corosync (library error)";
    case CS_ERR_TIMEOUT:
        return "timeout";
    case CS_ERR_TRY_AGAIN:
        return "try again";
    case CS_ERR_INVALID_PARAM:
        return "invalid parameter";
    case CS_ERR_NO_MEMORY:
        return "out of memory";
    case CS_ERR_BAD_HANDLE:
        return "bad handle";
    case CS_ERR_ACCESS:
        return "access denied";
    case CS_ERR_NOT_EXIST:
        return "does not exist";
    case CS_ERR_EXIST:
        return "already exists";
    case CS_ERR_NOT_SUPPORTED:
        return "not supported";
    case CS_ERR_MESSAGE_ERROR:
        return "message error";
    case CS_ERR_TOO_BIG:
        return "too big";
    case CS_ERR_NO_SECTIONS:
        return "no sections";
    default:
        return "corosync error";
    }
}

static const char *
reason_str(uint32_t reason)
{
    switch (reason) {
    case CPG_REASON_JOIN:
        return "join";
    case CPG_REASON_LEAVE:
        return "leave";
    case CPG_REASON_NODEDOWN:
        return "nodedown";
    case CPG_REASON_NODEUP:
        return "nodeup";
    case CPG_REASON_PROCDOWN:
        return "procdown";
    default:
        return "undefined";
    }
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Sorts the N ids in V and removes duplicates; returns the new count. */
static size_t
sort_unique(uint32_t *v, size_t n)
{
    size_t i, out = 0;

    qsort(v, n, sizeof(*v), cmp_u32);
    for (i = 0; i < n; i++) {
        if (out == 0 || v[out - 1] != v[i]) {
            v[out++] = v[i];
        }
    }
    return out;
}

/* Copies up to MEMBERSHIP_MAX_NODES distinct ids of SRC into DST. */
static size_t
set_ids(uint32_t *dst, const uint32_t *src, size_t n, const char *what)
{
    size_t i, count = 0;

    for (i = 0; i < n; i++) {
        size_t j;

        for (j = 0; j < count && dst[j] != src[i]; j++) {
        }
        if (j < count) {
            continue;
        }
        if (count == MEMBERSHIP_MAX_NODES) {
            log_warnx("membership: more than %d %s; ignoring node %" PRIu32,
                      MEMBERSHIP_MAX_NODES, what, src[i]);
            continue;
        }
        dst[count++] = src[i];
    }
    return sort_unique(dst, count);
}

static bool
has_id(const uint32_t *v, size_t n, uint32_t id)
{
    return bsearch(&id, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* "1,2,3" for logs. */
static char *
ids_str(const uint32_t *v, size_t n)
{
    GString *s = g_string_new(NULL);
    size_t i;

    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s%" PRIu32, i ? "," : "", v[i]);
    }
    return g_string_free(s, FALSE);
}

static bool
view_equal(const struct membership_view *a, const struct membership_view *b)
{
    return a->local_node == b->local_node && a->quorate == b->quorate &&
           a->ring_seq == b->ring_seq && a->n_nodes == b->n_nodes &&
           a->n_daemons == b->n_daemons &&
           memcmp(a->nodes, b->nodes, a->n_nodes * sizeof(a->nodes[0])) == 0 &&
           memcmp(a->daemons, b->daemons,
                  a->n_daemons * sizeof(a->daemons[0])) == 0;
}

/*
 * Our source handlers bracket their work with enter()/leave() so that a
 * callback may call membership_free(): it is then carried out by the
 * outermost leave(), which returns false (M is gone).
 */
static void destroy(struct membership *m);

static void
enter(struct membership *m)
{
    m->depth++;
}

static bool
leave(struct membership *m)
{
    if (--m->depth == 0 && m->freeing) {
        destroy(m);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Connection teardown and retry */

/* Closes both handles and forgets what they said; no callback. */
static void
drop_connection(struct membership *m, bool leave_group)
{
    cs_error_t rc;

    remove_source(&m->cpg_watch);
    remove_source(&m->quorum_watch);
    remove_source(&m->timer);
    remove_source(&m->retry);
    remove_source(&m->hold);
    if (m->have_cpg) {
        if (leave_group && m->joined) {
            struct cpg_name name;

            name.length = (uint32_t)strlen(m->group);
            memcpy(name.value, m->group, name.length);
            rc = cpg_leave(m->cpg, &name);
            if (rc != CS_OK) {
                log_debug("membership: cpg_leave: %s", memb_strerror(rc));
            }
        }
        cpg_finalize(m->cpg);
        m->have_cpg = false;
    }
    if (m->have_quorum) {
        quorum_finalize(m->quorum);
        m->have_quorum = false;
    }
    g_queue_clear_full(&m->sendq, (GDestroyNotify)g_bytes_unref);
    g_queue_clear_full(&m->early, early_free);
    g_clear_error(&m->lost_why);
    m->joined = m->self_seen = m->quorum_seen = false;
    m->quorate = false;
    m->ring_seq = 0;
    m->n_nodes = m->n_members = 0;
    m->have_view = false;
    m->retry_ms = MEMB_RETRY_MIN_MS;
}

static gboolean
on_reconnect(gpointer data)
{
    struct membership *m = data;

    m->timer = 0;
    enter(m);
    attempt_connect(m);
    leave(m);
    return G_SOURCE_REMOVE;
}

/*
 * The connection (or the attempt) is gone: tear down, report down() once
 * per loss, and schedule the next attempt.  Runs from the main loop only.
 */
static void
fail_now(struct membership *m, const GError *why, bool was_session)
{
    unsigned delay = m->backoff_ms;

    if (was_session) {
        /* and the first failed attempt to reconnect too */
        log_warnx("membership: %s", why->message);
        m->warned = false;
    } else if (!m->warned) {
        log_warnx("membership: %s", why->message);
        m->warned = true;
    } else {
        log_debug("membership: %s", why->message);
    }
    drop_connection(m, false);
    m->state = MEMB_ST_WAIT_RETRY;
    m->backoff_ms = MIN(m->backoff_ms * 2, m->backoff_max_ms);
    m->timer = g_timeout_add_full(MEMB_PRIORITY, delay, on_reconnect, m, NULL);
    log_debug("membership: reconnecting in %u ms", delay);
    if (!m->down_reported && !m->freeing) {
        m->down_reported = true;
        log_info("membership: down");
        if (m->cb.down) {
            m->cb.down(m, why, m->opaque);
        }
    }
}

static gboolean
on_lost(gpointer data)
{
    struct membership *m = data;
    GError *why = g_steal_pointer(&m->lost_why);

    m->timer = 0;
    enter(m);
    fail_now(m, why, true);
    g_error_free(why);
    leave(m);
    return G_SOURCE_REMOVE;
}

/*
 * The session failed (WHY is taken).  Stops watching the fds at once and
 * leaves the rest to the main loop: safe inside cpg_dispatch() and
 * membership_send().  Only the first reason of a loss is kept.
 */
static void
lost(struct membership *m, GError *why)
{
    if (m->state != MEMB_ST_JOINING && m->state != MEMB_ST_UP) {
        g_error_free(why);
        return;
    }
    m->state = MEMB_ST_LOST;
    remove_source(&m->cpg_watch);
    remove_source(&m->quorum_watch);
    remove_source(&m->timer);
    remove_source(&m->retry);
    remove_source(&m->hold);
    m->lost_why = why;
    m->timer = g_timeout_add_full(MEMB_PRIORITY, 0, on_lost, m, NULL);
}

static void G_GNUC_PRINTF(3, 4)
lostf(struct membership *m, enum membership_error_code code,
      const char *fmt, ...)
{
    va_list ap;
    GError *why;

    va_start(ap, fmt);
    why = g_error_new_valist(MEMBERSHIP_ERROR, code, fmt, ap);
    va_end(ap);
    lost(m, why);
}

/* ------------------------------------------------------------------ */
/* Views and callbacks */

static void
build_view(const struct membership *m, struct membership_view *v)
{
    size_t i;

    memset(v, 0, sizeof(*v));
    v->local_node = m->local_node;
    v->quorate = m->quorate;
    v->ring_seq = m->ring_seq;
    v->n_nodes = m->n_nodes;
    memcpy(v->nodes, m->nodes, m->n_nodes * sizeof(m->nodes[0]));
    for (i = 0; i < m->n_members; i++) {
        if (has_id(m->nodes, m->n_nodes, m->members[i])) {
            v->daemons[v->n_daemons++] = m->members[i];
        }
    }
}

/* Gives view() the current view if it differs from the last (or FORCE). */
static void
emit_view(struct membership *m, bool force)
{
    struct membership_view v;
    g_autofree char *nodes = NULL;
    g_autofree char *daemons = NULL;

    if (m->state != MEMB_ST_UP || m->freeing || m->hold) {
        return;
    }
    build_view(m, &v);
    if (!force && m->have_view && view_equal(&v, &m->view)) {
        return;
    }
    m->view = v;
    m->have_view = true;
    nodes = ids_str(v.nodes, v.n_nodes);
    daemons = ids_str(v.daemons, v.n_daemons);
    log_info("membership: view ring %" PRIu64 ": nodes [%s] daemons [%s]%s",
             v.ring_seq, nodes, daemons, v.quorate ? " quorate" : "");
    if (m->cb.view) {
        m->cb.view(m, &m->view, m->opaque);
    }
}

/* JOINING: up once the join is complete and both memberships are known. */
static void
maybe_up(struct membership *m)
{
    if (m->state != MEMB_ST_JOINING || !m->joined || !m->self_seen ||
        !m->quorum_seen || m->freeing) {
        return;
    }
    remove_source(&m->timer);           /* the join timeout */
    m->state = MEMB_ST_UP;
    m->backoff_ms = m->backoff_initial_ms;
    m->down_reported = false;
    m->warned = false;
    log_info("membership: up: node %" PRIu32 " in group %s", m->local_node,
             m->group);
    if (m->cb.up) {
        m->cb.up(m, m->local_node, m->opaque);
    }
    emit_view(m, true);
    while (m->state == MEMB_ST_UP && !m->freeing &&
           !g_queue_is_empty(&m->early)) {
        struct memb_early *e = g_queue_pop_head(&m->early);
        gsize len;
        const void *buf = g_bytes_get_data(e->data, &len);

        if (m->cb.message) {
            m->cb.message(m, e->from, buf, len, m->opaque);
        }
        early_free(e);
    }
}

/* ------------------------------------------------------------------ */
/* corosync callbacks (inside cpg_dispatch / quorum_dispatch) */

static struct membership *
cpg_owner(cpg_handle_t handle)
{
    void *ctx = NULL;

    if (cpg_context_get(handle, &ctx) != CS_OK) {
        return NULL;
    }
    return ctx;
}

static void
on_deliver(cpg_handle_t handle, const struct cpg_name *group_name,
           uint32_t nodeid, uint32_t pid, void *msg, size_t msg_len)
{
    struct membership *m = cpg_owner(handle);

    if (!m || m->freeing) {
        return;
    }
    if (m->state == MEMB_ST_JOINING) {
        struct memb_early *e = g_new0(struct memb_early, 1);

        e->from = nodeid;
        e->data = g_bytes_new(msg, msg_len);
        g_queue_push_tail(&m->early, e);
    } else if (m->state == MEMB_ST_UP && m->cb.message) {
        m->cb.message(m, nodeid, msg, msg_len, m->opaque);
    }
}

static void
log_changes(const char *what, const struct cpg_address *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        log_info("membership: group %s: node %" PRIu32 " pid %" PRIu32
                 " (%s)", what, list[i].nodeid, list[i].pid,
                 reason_str(list[i].reason));
    }
}

static gboolean
on_hold_timeout(gpointer data)
{
    struct membership *m = data;

    m->hold = 0;
    log_warnx("membership: no quorum view %d ms after a node went down",
              MEMB_HOLD_MS);
    enter(m);
    emit_view(m, false);
    leave(m);
    return G_SOURCE_REMOVE;
}

/* Whether LEFT says that a node of the current nodes went down. */
static bool
node_went_down(const struct membership *m, const struct cpg_address *left,
               size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (left[i].reason == CPG_REASON_NODEDOWN &&
            has_id(m->nodes, m->n_nodes, left[i].nodeid)) {
            return true;
        }
    }
    return false;
}

static void
on_confchg(cpg_handle_t handle, const struct cpg_name *group_name,
           const struct cpg_address *member_list, size_t member_list_entries,
           const struct cpg_address *left_list, size_t left_list_entries,
           const struct cpg_address *joined_list, size_t joined_list_entries)
{
    struct membership *m = cpg_owner(handle);
    uint32_t ids[CPG_MEMBERS_MAX] = { 0 };
    size_t i, n = 0;
    bool self = false;

    if (!m || m->freeing ||
        (m->state != MEMB_ST_JOINING && m->state != MEMB_ST_UP)) {
        return;
    }
    log_changes("left", left_list, left_list_entries);
    log_changes("joined", joined_list, joined_list_entries);
    for (i = 0; i < member_list_entries && n < G_N_ELEMENTS(ids); i++) {
        ids[n++] = member_list[i].nodeid;
        if (member_list[i].nodeid == m->local_node &&
            member_list[i].pid == (uint32_t)m->pid) {
            self = true;
        }
    }
    m->n_members = set_ids(m->members, ids, n, "group members");
    if (m->state == MEMB_ST_JOINING) {
        m->self_seen = m->self_seen || self;
        maybe_up(m);
    } else if (!self) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC,
              "this process is no longer in group %s", m->group);
    } else if (node_went_down(m, left_list, left_list_entries)) {
        if (!m->hold) {
            m->hold = g_timeout_add_full(MEMB_PRIORITY, MEMB_HOLD_MS,
                                         on_hold_timeout, m, NULL);
        }
    } else {
        emit_view(m, false);
    }
}

static void
on_quorum(quorum_handle_t handle, uint32_t quorate,
          struct quorum_ring_id ring_id, uint32_t member_list_entries,
          const uint32_t *member_list)
{
    const void *ctx = NULL;
    struct membership *m;

    if (quorum_context_get(handle, &ctx) != CS_OK) {
        return;
    }
    m = (struct membership *)ctx;
    if (!m || m->freeing ||
        (m->state != MEMB_ST_JOINING && m->state != MEMB_ST_UP)) {
        return;
    }
    m->quorate = quorate != 0;
    m->ring_seq = ring_id.seq;
    m->n_nodes = set_ids(m->nodes, member_list, member_list_entries,
                         "nodes");
    if (!m->quorum_seen) {
        g_autofree char *nodes = ids_str(m->nodes, m->n_nodes);

        log_debug("membership: first quorum view: nodes [%s]%s", nodes,
                  m->quorate ? " quorate" : "");
    }
    m->quorum_seen = true;
    remove_source(&m->hold);
    if (m->state == MEMB_ST_JOINING) {
        maybe_up(m);
    } else {
        emit_view(m, false);
    }
}

/* ------------------------------------------------------------------ */
/* The main loop side */

static gboolean
on_cpg_fd(gint fd, GIOCondition cond, gpointer data)
{
    struct membership *m = data;
    cs_error_t rc;

    enter(m);
    rc = cpg_dispatch(m->cpg, CS_DISPATCH_ALL);
    if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC, "cpg_dispatch: %s",
              memb_strerror(rc));
    } else if (cond & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC,
              "corosync closed the CPG connection");
    }
    leave(m);
    /* lost() or membership_free() removed this source if they ran */
    return G_SOURCE_CONTINUE;
}

static gboolean
on_quorum_fd(gint fd, GIOCondition cond, gpointer data)
{
    struct membership *m = data;
    cs_error_t rc;

    enter(m);
    rc = quorum_dispatch(m->quorum, CS_DISPATCH_ALL);
    if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC, "quorum_dispatch: %s",
              memb_strerror(rc));
    } else if (cond & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC,
              "corosync closed the quorum connection");
    }
    leave(m);
    return G_SOURCE_CONTINUE;
}

static gboolean on_retry(gpointer data);

static void
arm_retry(struct membership *m)
{
    if (m->retry) {
        return;
    }
    m->retry = g_timeout_add_full(MEMB_PRIORITY, m->retry_ms, on_retry, m,
                                  NULL);
    m->retry_ms = MIN(m->retry_ms * 2, MEMB_RETRY_MAX_MS);
}

/* cpg_join; TRY_AGAIN arms the retry timer.  False: the session is lost. */
static bool
try_join(struct membership *m)
{
    struct cpg_name name;
    cs_error_t rc;

    name.length = (uint32_t)strlen(m->group);
    memcpy(name.value, m->group, name.length);
    rc = cpg_join(m->cpg, &name);
    if (rc == CS_ERR_TRY_AGAIN) {
        log_debug("membership: cpg_join: try again");
        arm_retry(m);
        return true;
    }
    if (rc != CS_OK) {
        lostf(m, MEMBERSHIP_ERROR_COROSYNC, "cpg_join %s: %s", m->group,
              memb_strerror(rc));
        return false;
    }
    m->joined = true;
    m->retry_ms = MEMB_RETRY_MIN_MS;
    log_debug("membership: join of group %s accepted", m->group);
    return true;
}

static cs_error_t
mcast(struct membership *m, GBytes *data)
{
    struct iovec iov;
    gsize len;

    iov.iov_base = (void *)g_bytes_get_data(data, &len);
    iov.iov_len = len;
    return cpg_mcast_joined(m->cpg, CPG_TYPE_AGREED, &iov, 1);
}

/* Sends queued messages in order until corosync says TRY_AGAIN. */
static void
flush_queue(struct membership *m)
{
    while (m->state == MEMB_ST_UP && !g_queue_is_empty(&m->sendq)) {
        cs_error_t rc = mcast(m, g_queue_peek_head(&m->sendq));

        if (rc == CS_ERR_TRY_AGAIN) {
            arm_retry(m);
            return;
        }
        if (rc != CS_OK) {
            lostf(m, MEMBERSHIP_ERROR_COROSYNC, "cpg_mcast_joined: %s",
                  memb_strerror(rc));
            return;
        }
        g_bytes_unref(g_queue_pop_head(&m->sendq));
    }
    m->retry_ms = MEMB_RETRY_MIN_MS;
}

static gboolean
on_retry(gpointer data)
{
    struct membership *m = data;

    m->retry = 0;
    enter(m);
    if (m->state == MEMB_ST_JOINING && !m->joined) {
        try_join(m);
        maybe_up(m);
    } else if (m->state == MEMB_ST_UP) {
        flush_queue(m);
    }
    leave(m);
    return G_SOURCE_REMOVE;
}

static gboolean
on_join_timeout(gpointer data)
{
    struct membership *m = data;

    m->timer = 0;
    enter(m);
    lostf(m, MEMBERSHIP_ERROR_COROSYNC, "joining group %s: no complete "
          "membership within %d ms", m->group, MEMB_JOIN_TIMEOUT_MS);
    leave(m);
    return G_SOURCE_REMOVE;
}

/* One connection attempt: both handles, their fds, then the join. */
static void
attempt_connect(struct membership *m)
{
    cpg_model_v1_data_t cpg_model;
    quorum_model_v1_data_t q_model;
    g_autoptr(GError) why = NULL;
    uint32_t quorum_type = 0;
    unsigned int nodeid = 0;
    cs_error_t rc;
    int cpg_fd = -1, quorum_fd = -1;
    uint32_t max_msg = 0;
    const char *step;

    memset(&cpg_model, 0, sizeof(cpg_model));
    cpg_model.model = CPG_MODEL_V1;
    cpg_model.cpg_deliver_fn = on_deliver;
    cpg_model.cpg_confchg_fn = on_confchg;
    memset(&q_model, 0, sizeof(q_model));
    q_model.model = QUORUM_MODEL_V1;
    q_model.quorum_notify_fn = on_quorum;

    step = "cpg_model_initialize";
    rc = cpg_model_initialize(&m->cpg, CPG_MODEL_V1,
                              (cpg_model_data_t *)&cpg_model, m);
    if (rc != CS_OK) {
        goto fail;
    }
    m->have_cpg = true;
    step = "cpg_local_get";
    if ((rc = cpg_local_get(m->cpg, &nodeid)) != CS_OK) {
        goto fail;
    }
    step = "cpg_fd_get";
    if ((rc = cpg_fd_get(m->cpg, &cpg_fd)) != CS_OK) {
        goto fail;
    }
    step = "cpg_max_atomic_msgsize_get";
    if ((rc = cpg_max_atomic_msgsize_get(m->cpg, &max_msg)) !=
        CS_OK) {
        goto fail;
    }
    step = "quorum_model_initialize";
    rc = quorum_model_initialize(&m->quorum, QUORUM_MODEL_V1,
                                 (quorum_model_data_t *)&q_model,
                                 &quorum_type, m);
    if (rc != CS_OK) {
        goto fail;
    }
    m->have_quorum = true;
    step = "quorum_fd_get";
    if ((rc = quorum_fd_get(m->quorum, &quorum_fd)) != CS_OK) {
        goto fail;
    }
    step = "quorum_trackstart";
    /* CS_TRACK_CHANGES also sends the current state at once */
    if ((rc = quorum_trackstart(m->quorum, CS_TRACK_CHANGES)) != CS_OK) {
        goto fail;
    }
    if (quorum_type != QUORUM_SET) {
        log_warnx("membership: corosync has no quorum provider: every "
                  "partition counts as quorate (configure votequorum)");
    }

    m->local_node = nodeid;
    m->pid = getpid();
    m->max_msg = (size_t)max_msg;
    m->state = MEMB_ST_JOINING;
    m->cpg_watch = g_unix_fd_add_full(MEMB_PRIORITY, cpg_fd,
                                      G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      on_cpg_fd, m, NULL);
    m->quorum_watch = g_unix_fd_add_full(MEMB_PRIORITY, quorum_fd,
                                         G_IO_IN | G_IO_HUP | G_IO_ERR,
                                         on_quorum_fd, m, NULL);
    m->timer = g_timeout_add_full(MEMB_PRIORITY, MEMB_JOIN_TIMEOUT_MS,
                                  on_join_timeout, m, NULL);
    log_debug("membership: connected to corosync as node %" PRIu32
              " (largest message %zu bytes)", m->local_node, m->max_msg);
    try_join(m);
    return;

fail:
    why = g_error_new(MEMBERSHIP_ERROR, MEMBERSHIP_ERROR_DOWN,
                      "cannot connect to corosync: %s: %s", step,
                      memb_strerror(rc));
    fail_now(m, why, false);
}

/* ------------------------------------------------------------------ */
/* Public API */

struct membership *
membership_new(const struct membership_callbacks *cb, void *opaque,
               const struct membership_params *params)
{
    struct membership *m = g_new0(struct membership, 1);
    const char *group = NULL;

    if (cb) {
        m->cb = *cb;
    }
    m->opaque = opaque;
    if (params) {
        group = params->group;
        m->backoff_initial_ms = params->backoff_initial_ms;
        m->backoff_max_ms = params->backoff_max_ms;
    }
    if (!group || !*group) {
        group = MEMBERSHIP_GROUP_DEFAULT;
    }
    /* a CPG name holds at most CPG_MAX_NAME_LENGTH bytes */
    m->group = g_strndup(group, CPG_MAX_NAME_LENGTH);
    if (strlen(group) > CPG_MAX_NAME_LENGTH) {
        log_warnx("membership: group name truncated to %d bytes: %s",
                  CPG_MAX_NAME_LENGTH, m->group);
    }
    if (!m->backoff_initial_ms) {
        m->backoff_initial_ms = 200;
    }
    if (!m->backoff_max_ms) {
        m->backoff_max_ms = 5000;
    }
    m->backoff_max_ms = MAX(m->backoff_max_ms, m->backoff_initial_ms);
    m->backoff_ms = m->backoff_initial_ms;
    m->retry_ms = MEMB_RETRY_MIN_MS;
    m->state = MEMB_ST_IDLE;
    g_queue_init(&m->sendq);
    g_queue_init(&m->early);
    return m;
}

void
membership_start(struct membership *m)
{
    if (m->state == MEMB_ST_IDLE) {
        m->state = MEMB_ST_WAIT_RETRY;
        m->timer = g_timeout_add_full(MEMB_PRIORITY, 0, on_reconnect, m,
                                      NULL);
    }
}

static void
destroy(struct membership *m)
{
    drop_connection(m, true);
    g_free(m->group);
    g_free(m);
}

void
membership_free(struct membership *m)
{
    if (!m) {
        return;
    }
    if (m->depth > 0) {
        /* inside a callback: no further callbacks, freed on return */
        m->freeing = true;
        return;
    }
    destroy(m);
}

bool
membership_is_up(const struct membership *m)
{
    return m->state == MEMB_ST_UP && !m->freeing;
}

const struct membership_view *
membership_current(const struct membership *m)
{
    return membership_is_up(m) && m->have_view ? &m->view : NULL;
}

bool
membership_send(struct membership *m, const void *buf, size_t len,
                GError **error)
{
    GBytes *data;
    cs_error_t rc;

    if (!membership_is_up(m)) {
        g_set_error(error, MEMBERSHIP_ERROR, MEMBERSHIP_ERROR_DOWN,
                    "not in corosync group %s", m->group);
        return false;
    }
    if (len > m->max_msg) {
        g_set_error(error, MEMBERSHIP_ERROR, MEMBERSHIP_ERROR_TOO_LARGE,
                    "message of %zu bytes, corosync takes at most %zu",
                    len, m->max_msg);
        return false;
    }
    data = g_bytes_new(buf, len);
    if (!g_queue_is_empty(&m->sendq)) {
        g_queue_push_tail(&m->sendq, data);       /* keep the order */
        return true;
    }
    rc = mcast(m, data);
    if (rc == CS_OK) {
        g_bytes_unref(data);
        return true;
    }
    if (rc == CS_ERR_TRY_AGAIN) {
        log_debug("membership: corosync flow control, message queued");
        g_queue_push_tail(&m->sendq, data);
        arm_retry(m);
        return true;
    }
    g_bytes_unref(data);
    g_set_error(error, MEMBERSHIP_ERROR, MEMBERSHIP_ERROR_COROSYNC,
                "cpg_mcast_joined: %s", memb_strerror(rc));
    lostf(m, MEMBERSHIP_ERROR_COROSYNC, "cpg_mcast_joined: %s",
          memb_strerror(rc));
    return false;
}

bool
membership_view_has_node(const struct membership_view *v, uint32_t node)
{
    return has_id(v->nodes, v->n_nodes, node);
}

bool
membership_view_has_daemon(const struct membership_view *v, uint32_t node)
{
    return has_id(v->daemons, v->n_daemons, node);
}
