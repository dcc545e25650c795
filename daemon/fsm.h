/*
 * fsm.h - the per-VM protection state machine of kemarid
 *
 * One struct vmfsm per VM this node runs a copy of (primary or
 * secondary).  The machine is a table of (state, event) cells, in the
 * shape of corosync's exec/fsm.h: each cell is either a handler together
 * with the set of states that handler may enter, an explicit "ignored"
 * or an explicit "refused, because ...".  The table is total: no cell is
 * left undefined, and vmfsm_table_check() (run by the unit test and at
 * daemon start) proves it.
 *
 * The machine is pure: it never calls QEMU, corosync or a socket.  A
 * handler appends effects (send this pair message, tell QEMU to fail
 * over, ...) to a list that the caller executes in order.  That is what
 * makes every safety rule unit-testable:
 *
 *   - a partition without quorum never fails over and never releases
 *     held outputs;
 *   - a primary that lost its secondary keeps outputs held until the
 *     secondary is confirmed unable to take over, then continues
 *     unprotected.  Confirmed: the secondary released its copy, or its
 *     node was fenced (`kemari fenced`), or, under the standalone policy
 *     only, its node is gone from a quorate membership.  Under the
 *     pacemaker policy membership is not enough: with two_node both
 *     halves of a partition are quorate, and Pacemaker may yet promote
 *     the secondary after fencing this node;
 *   - a secondary fails over on its own only under the standalone
 *     policy and only while quorate; under the pacemaker policy only
 *     an explicit failover request (from Pacemaker's agent) makes it
 *     fail over, and then also only while quorate;
 *   - while corosync is unreachable every VM is PEER_UNKNOWN and
 *     nothing is decided: no failover, no release, no re-protection;
 *   - after a failover or a secondary loss the VM is protected again
 *     (automatic re-protection policy) as soon as an eligible node is
 *     in the membership, or waits for an operator (manual).
 *
 * Every transition is logged at info level as
 * "vm=NAME: STATE --event--> STATE".  Ignored events are logged at
 * debug level, refused ones at info level with their reason.
 *
 * Ownership: struct vmfsm is allocated by vmfsm_new() and owns a copy of
 * the VM name; the event data and effects hold borrowed or static
 * strings only (documented per field).
 */
#ifndef KEMARI_DAEMON_FSM_H
#define KEMARI_DAEMON_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/*
 * States.  The numeric values are also the wire values of the pair
 * protocol's STATE field (PROTOCOL.md): append, never renumber.
 */
enum vmfsm_state {
    VMFSM_STOPPED = 0,      /* no copy of the VM runs here */
    /* primary side */
    VMFSM_UNPROTECTED = 1,  /* the VM runs here alone, outputs flow */
    VMFSM_PAIRING = 2,      /* asked a peer to become secondary */
    VMFSM_SYNCING = 3,      /* initial state transfer to the secondary */
    VMFSM_PROTECTED = 4,    /* checkpoints acknowledged by the secondary */
    VMFSM_DEGRADED = 5,     /* secondary lost; outputs held until it is
                             * confirmed gone */
    /* secondary side */
    VMFSM_INCOMING = 6,     /* starting the incoming QEMU */
    VMFSM_RECEIVING = 7,    /* receiving the initial state */
    VMFSM_STANDBY = 8,      /* up to date, ready to take over */
    VMFSM_PRIMARY_LOST = 9, /* primary unreachable; waiting for quorum,
                             * a release or a failover request */
    VMFSM_FAILING_OVER = 10, /* QEMU told to take over */
    /* either side */
    VMFSM_PEER_UNKNOWN = 11, /* corosync unreachable: nothing decided */
    VMFSM_STATE_COUNT
};

/* Which copy of the VM a state belongs to. Wire values, as above. */
enum vmfsm_role {
    VMFSM_ROLE_NONE = 0,        /* STOPPED */
    VMFSM_ROLE_PRIMARY = 1,
    VMFSM_ROLE_SECONDARY = 2,
    VMFSM_ROLE_COUNT
};

/*
 * Events.  Where an event comes from is noted; "peer" events carry the
 * sender's node id and the pairing epoch and are ignored when either
 * does not match this VM's current pairing (stale or foreign messages).
 */
enum vmfsm_event {
    VMFSM_EV_VM_RUNNING = 0,     /* backend: our QEMU runs as primary */
    VMFSM_EV_START,              /* operator or re-protection: protect
                                  * with data.node */
    VMFSM_EV_PAIR_REQUEST,       /* peer: asks us to be its secondary */
    VMFSM_EV_INCOMING_READY,     /* backend: incoming QEMU listens */
    VMFSM_EV_INCOMING_FAILED,    /* backend: it could not start */
    VMFSM_EV_PEER_ACCEPTED,      /* peer: PAIR_ACCEPT */
    VMFSM_EV_PEER_REFUSED,       /* peer: PAIR_REFUSE */
    VMFSM_EV_PEER_TIMEOUT,       /* timer: the peer did not answer */
    VMFSM_EV_SYNC_DONE,          /* engine: first checkpoint complete */
    VMFSM_EV_STREAM_BROKEN,      /* engine: the checkpoint stream broke */
    VMFSM_EV_PEER_JOINED,        /* membership: peer's node is (back) in */
    VMFSM_EV_PEER_LEFT,          /* membership: peer's node left;
                                  * data.quorate = new membership quorate.
                                  * On the secondary this is "primary
                                  * lost" */
    VMFSM_EV_PEER_RELEASED,      /* peer: RELEASE, its copy is gone for
                                  * good */
    VMFSM_EV_PEER_STOP,          /* peer: STOP, the VM is being stopped */
    VMFSM_EV_PEER_DEGRADED,      /* peer: the primary reports DEGRADED
                                  * (it is alive and lost us) */
    VMFSM_EV_MEMBERSHIP_LOST,    /* membership: corosync unreachable */
    VMFSM_EV_MEMBERSHIP_REGAINED, /* membership: corosync back;
                                   * data.quorate, data.peer_present */
    VMFSM_EV_QUORUM_LOST,        /* membership: partition not quorate */
    VMFSM_EV_QUORUM_REGAINED,    /* membership: quorate again */
    VMFSM_EV_ELIGIBLE_NODE,      /* membership: data.node could be our
                                  * secondary */
    VMFSM_EV_FAILOVER_REQUESTED, /* operator or Pacemaker */
    VMFSM_EV_FAILOVER_DONE,      /* engine: we are the primary now */
    VMFSM_EV_FAILOVER_FAILED,    /* engine: the take-over failed */
    VMFSM_EV_STOP_REQUESTED,     /* operator */
    VMFSM_EV_QEMU_EXITED,        /* backend: our QEMU is gone;
                                  * data.clean = guest shut down */
    VMFSM_EV_PEER_FENCED,        /* operator or Pacemaker's agent:
                                  * data.node is down for good (fenced):
                                  * a copy there can no longer run */
    VMFSM_EVENT_COUNT
};

/* What the caller must do, in list order, after a transition. */
enum vmfsm_fx {
    VMFSM_FX_SEND_PAIR_REQUEST = 0, /* PAIR_REQUEST to fx.node, fx.epoch */
    VMFSM_FX_SEND_PAIR_ACCEPT,  /* PAIR_ACCEPT with our incoming address */
    VMFSM_FX_SEND_PAIR_REFUSE,  /* PAIR_REFUSE with fx.reason */
    VMFSM_FX_SEND_RELEASE,      /* RELEASE: our copy is gone for good */
    VMFSM_FX_SEND_STOP,         /* STOP: the peer must stop its copy */
    VMFSM_FX_SEND_STATE_REPORT, /* STATE_REPORT with our new state */
    VMFSM_FX_ARM_PAIR_TIMER,    /* start the pairing timeout */
    VMFSM_FX_DISARM_PAIR_TIMER, /* cancel it */
    VMFSM_FX_QEMU_START_INCOMING, /* start the secondary QEMU, incoming */
    VMFSM_FX_QEMU_START_PROTECTION, /* migrate with x-kemari to the
                                     * address of PAIR_ACCEPT */
    VMFSM_FX_QEMU_STOP_PROTECTION,  /* x-kemari-stop: clean end */
    VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, /* x-kemari-continue-unprotected */
    VMFSM_FX_QEMU_FAILOVER,     /* x-kemari-failover */
    VMFSM_FX_QEMU_QUIT,         /* terminate our QEMU of this VM */
    VMFSM_FX_REPROTECT,         /* pick an eligible node; feed it back as
                                 * VMFSM_EV_ELIGIBLE_NODE */
    VMFSM_FX_COUNT
};

/* Policies, from kemari.conf [daemon]. */
struct vmfsm_policy {
    bool pacemaker;         /* failover-policy=pacemaker: the secondary
                             * never fails over on its own */
    bool reprotect_auto;    /* reprotect=automatic */
};

/*
 * Input of one event; fields not listed for an event are ignored.
 * Zero-initialise and fill what the event needs.
 */
struct vmfsm_event_data {
    uint32_t node;          /* peer events, START, PAIR_REQUEST,
                             * ELIGIBLE_NODE, PEER_JOINED/LEFT: the node */
    uint64_t epoch;         /* peer events and PAIR_REQUEST: pairing
                             * epoch of the message.  START and
                             * ELIGIBLE_NODE: the highest epoch seen for
                             * this VM in the cluster (0: none); the new
                             * pairing's epoch is above it and above the
                             * machine's own */
    bool quorate;           /* PEER_LEFT, MEMBERSHIP_REGAINED: whether
                             * the (new) membership is quorate */
    bool peer_present;      /* MEMBERSHIP_REGAINED: peer's node is in it */
    bool clean;             /* QEMU_EXITED: guest shut down on purpose */
    const char *reason;     /* borrowed, may be NULL: human detail for
                             * logs (refusal text, engine reason) */
};

/* One effect.  reason is a static string or NULL. */
struct vmfsm_effect {
    enum vmfsm_fx kind;
    uint32_t node;          /* target node of SEND_* effects */
    uint64_t epoch;         /* pairing epoch of SEND_* effects */
    const char *reason;     /* static; SEND_PAIR_REFUSE and logs */
};

#define VMFSM_MAX_EFFECTS 8

struct vmfsm_effects {
    unsigned n;                                 /* used entries */
    struct vmfsm_effect fx[VMFSM_MAX_EFFECTS];
};

/* Result of vmfsm_handle(). */
enum vmfsm_result {
    VMFSM_RESULT_TRANSITION = 0, /* a handler ran (state may be the same) */
    VMFSM_RESULT_IGNORED,        /* nothing to do in this state */
    VMFSM_RESULT_REFUSED,        /* not allowed now: the caller tells the
                                  * requester why (control reply, or
                                  * PAIR_REFUSE for a PAIR_REQUEST) */
};

/*
 * The per-VM machine.  Fields are readable by the daemon (status
 * output); only vmfsm_handle() writes them.
 */
struct vmfsm {
    char *name;                 /* owned: VM name, for logs */
    enum vmfsm_state state;
    struct vmfsm_policy policy;
    uint32_t peer_node;         /* 0: no peer; else the other copy's node */
    uint64_t epoch;             /* current pairing epoch (0: never paired) */
    bool protect_wanted;        /* this VM is meant to be protected:
                                 * re-protection applies */
    /* Facts, updated by every event that carries them, in any state. */
    bool membership_up;         /* corosync reachable */
    bool quorate;               /* our partition has quorum */
    bool peer_present;          /* peer's node is in the membership */
    bool stream_broken;         /* engine reported the stream broken
                                 * since the pairing started */
    bool peer_released;         /* the peer sent RELEASE for this epoch:
                                 * its copy is gone for good */
    bool peer_fenced;           /* the peer's node was fenced since the
                                 * pairing began */
    /* PEER_UNKNOWN only: the state to resume from when corosync is back */
    enum vmfsm_state resume_state;
};

/*
 * Creates a machine in STOPPED for VM NAME (copied).  membership_up and
 * quorate start false: the daemon feeds MEMBERSHIP_REGAINED once
 * corosync answered.  Never returns NULL.
 */
struct vmfsm *vmfsm_new(const char *name, const struct vmfsm_policy *policy);
void vmfsm_free(struct vmfsm *fsm);
/* Only so that g_autoptr(vmfsm) works; code says struct vmfsm. */
typedef struct vmfsm vmfsm;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmfsm, vmfsm_free)

/*
 * Feeds one event.  DATA may be NULL for events that carry nothing.
 * FX is cleared and then receives the effects to execute in order.
 * *REASON (if REASON is not NULL) receives a static explanation for
 * VMFSM_RESULT_REFUSED, NULL otherwise.  Aborts (g_error) if a handler
 * tries to enter a state its cell does not allow: that is a bug.
 */
enum vmfsm_result vmfsm_handle(struct vmfsm *fsm, enum vmfsm_event ev,
                               const struct vmfsm_event_data *data,
                               struct vmfsm_effects *fx,
                               const char **reason);

/* The kinds of table cells. */
enum vmfsm_cell_kind {
    VMFSM_CELL_UNDEFINED = 0,   /* must never appear: table check fails */
    VMFSM_CELL_HANDLER,
    VMFSM_CELL_IGNORE,
    VMFSM_CELL_REFUSE,
};

/* Read-only view of one cell, for tests and PROTOCOL.md generation. */
struct vmfsm_cell_info {
    enum vmfsm_cell_kind kind;
    uint32_t next_mask;         /* HANDLER: bit s set = may enter state s */
    const char *reason;         /* REFUSE: why; static */
};

void vmfsm_cell_info(enum vmfsm_state s, enum vmfsm_event ev,
                     struct vmfsm_cell_info *out);

/*
 * Verifies that every (state, event) cell is defined and that every
 * handler's allowed set is non-empty.  Returns false with an error
 * naming the first bad cell.
 */
bool vmfsm_table_check(GError **error);

/* Stable upper-case names ("PROTECTED"), lower-case event names
 * ("peer-left") and effect names; "?" for out-of-range values. */
const char *vmfsm_state_name(enum vmfsm_state s);
const char *vmfsm_event_name(enum vmfsm_event ev);
const char *vmfsm_fx_name(enum vmfsm_fx fx);
const char *vmfsm_role_name(enum vmfsm_role role);

/* Role of the copy in state S (NONE for STOPPED; PEER_UNKNOWN has none
 * of its own: use vmfsm_role()). */
enum vmfsm_role vmfsm_state_role(enum vmfsm_state s);

/* Role of this machine's copy, looking through PEER_UNKNOWN. */
enum vmfsm_role vmfsm_role(const struct vmfsm *fsm);

#define VMFSM_ERROR (vmfsm_error_quark())
GQuark vmfsm_error_quark(void);
enum vmfsm_error_code {
    VMFSM_ERROR_TABLE,          /* table check failed */
};

#endif /* KEMARI_DAEMON_FSM_H */
