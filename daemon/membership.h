/*
 * membership.h - cluster membership, quorum and messaging over corosync
 *
 * The only module of kemarid that talks to corosync.  It joins the CPG
 * (closed process group) "kemari" for totally ordered messages between
 * kemarids, and tracks quorum and the node membership through the quorum
 * API.  Both libraries' file descriptors are watched on the GLib main
 * loop; no call blocks for long (corosync IPC calls are local and
 * bounded; CS_ERR_TRY_AGAIN is retried from the main loop, never in a
 * busy loop).
 *
 * Two memberships, on purpose:
 *   - nodes: the corosync (totem) membership of this partition, from the
 *     quorum API's view list.  A node that is not in it is gone from
 *     this partition: this is what "the peer's node left" means for
 *     failover and for releasing held outputs.
 *   - daemons: the nodes whose kemarid is in the CPG group.  A kemarid
 *     that exits while its corosync stays up (CPG reason PROCDOWN)
 *     leaves the group but its node, and maybe its QEMU, is still
 *     there: never a reason to fail over.
 *
 * corosync not running, or going away: the connection is torn down,
 * down() is called once, and reconnection is tried with exponential
 * back-off (params) until it works; then up() and a fresh view().  Until
 * up() nothing about the cluster is known and callers must not guess.
 *
 * Ownership: struct membership is owned by its creator; callbacks run
 * from the main loop, never from inside membership_send(), and may call
 * membership_send() and membership_free() (the latter only as the last
 * thing they do).
 */
#ifndef KEMARI_DAEMON_MEMBERSHIP_H
#define KEMARI_DAEMON_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#define MEMBERSHIP_GROUP_DEFAULT "kemari"
#define MEMBERSHIP_MAX_NODES 64

/* A snapshot of what corosync says, passed to view(). */
struct membership_view {
    uint32_t local_node;        /* this node's corosync node id */
    bool quorate;               /* this partition has quorum */
    uint64_t ring_seq;          /* quorum ring sequence (0 if unknown) */
    size_t n_nodes;             /* corosync members of this partition */
    uint32_t nodes[MEMBERSHIP_MAX_NODES];   /* sorted ascending */
    size_t n_daemons;           /* nodes whose kemarid is in the group */
    uint32_t daemons[MEMBERSHIP_MAX_NODES]; /* sorted ascending */
};

struct membership;

struct membership_callbacks {
    /* Connected to corosync and joined the group; a view() follows at
     * once.  May be NULL. */
    void (*up)(struct membership *m, uint32_t local_node, void *opaque);
    /* corosync unreachable (never reached, or lost); WHY is borrowed.
     * Called once per loss; reconnection is scheduled.  May be NULL. */
    void (*down)(struct membership *m, const GError *why, void *opaque);
    /* The nodes, the daemons or the quorum changed (VIEW borrowed).
     * Called after up() and after every change while up. */
    void (*view)(struct membership *m, const struct membership_view *view,
                 void *opaque);
    /* A group message (BUF borrowed), in the group's total order, from
     * the kemarid on node FROM (this node's own messages included). */
    void (*message)(struct membership *m, uint32_t from, const void *buf,
                    size_t len, void *opaque);
};

/* Tunables; zero fields take the defaults in brackets. */
struct membership_params {
    const char *group;              /* CPG group name ["kemari"] */
    unsigned backoff_initial_ms;    /* first reconnect delay [200] */
    unsigned backoff_max_ms;        /* reconnect delay cap [5000] */
};

/* CB is copied; PARAMS may be NULL (and its group string is copied).
 * Nothing happens before membership_start().  Never returns NULL. */
struct membership *membership_new(const struct membership_callbacks *cb,
                                  void *opaque,
                                  const struct membership_params *params);

/* Starts connecting (now, from the main loop). */
void membership_start(struct membership *m);

/* Leaves the group, disconnects, frees.  No callback runs afterwards. */
void membership_free(struct membership *m);

/* Whether connected and in the group. */
bool membership_is_up(const struct membership *m);

/* The last view; NULL while down. */
const struct membership_view *membership_current(const struct membership *m);

/*
 * Sends LEN bytes to the group (every kemarid, this one included, gets
 * it through message()), CPG_TYPE_AGREED.  Returns false with a
 * MEMBERSHIP_ERROR when down, or when corosync refused the message (the
 * connection is then torn down and re-established).  TRY_AGAIN from
 * corosync (flow control) is absorbed: the message is queued and sent
 * from the main loop, in order.
 */
bool membership_send(struct membership *m, const void *buf, size_t len,
                     GError **error);

/* Whether NODE is in VIEW's nodes / daemons. */
bool membership_view_has_node(const struct membership_view *v, uint32_t node);
bool membership_view_has_daemon(const struct membership_view *v,
                                uint32_t node);

#define MEMBERSHIP_ERROR (membership_error_quark())
GQuark membership_error_quark(void);
enum membership_error_code {
    MEMBERSHIP_ERROR_DOWN,          /* not connected to corosync */
    MEMBERSHIP_ERROR_COROSYNC,      /* a corosync call failed */
    MEMBERSHIP_ERROR_TOO_LARGE,     /* message above what CPG takes */
};

#endif /* KEMARI_DAEMON_MEMBERSHIP_H */
