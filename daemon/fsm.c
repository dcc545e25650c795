/*
 * fsm.c - the per-VM protection state machine (see fsm.h)
 *
 * Layout: small helpers, the handlers (grouped by the situation they
 * decide), the table, then vmfsm_handle() which updates the facts,
 * filters stale peer events, runs the cell and checks the result.
 */
#include "config.h"

#include <string.h>

#include "fsm.h"
#include "log.h"

G_DEFINE_QUARK(vmfsm-error-quark, vmfsm_error)

/* Handler results other than a state. */
#define NEXT_REFUSE (-1)    /* refused; *reason set */
#define NEXT_IGNORE (-2)    /* nothing to do after all */

typedef int (*vmfsm_handler_fn)(struct vmfsm *fsm,
                                const struct vmfsm_event_data *d,
                                struct vmfsm_effects *fx,
                                const char **reason);

struct vmfsm_cell {
    enum vmfsm_cell_kind kind;
    vmfsm_handler_fn handler;   /* HANDLER only */
    uint32_t next_mask;         /* HANDLER only: states it may enter */
    const char *reason;         /* REFUSE only */
};

/* ------------------------------------------------------------------ */
/* Names */

static const char *const state_names[VMFSM_STATE_COUNT] = {
    [VMFSM_STOPPED] = "STOPPED",
    [VMFSM_UNPROTECTED] = "UNPROTECTED",
    [VMFSM_PAIRING] = "PAIRING",
    [VMFSM_SYNCING] = "SYNCING",
    [VMFSM_PROTECTED] = "PROTECTED",
    [VMFSM_DEGRADED] = "DEGRADED",
    [VMFSM_INCOMING] = "INCOMING",
    [VMFSM_RECEIVING] = "RECEIVING",
    [VMFSM_STANDBY] = "STANDBY",
    [VMFSM_PRIMARY_LOST] = "PRIMARY_LOST",
    [VMFSM_FAILING_OVER] = "FAILING_OVER",
    [VMFSM_PEER_UNKNOWN] = "PEER_UNKNOWN",
};

static const char *const event_names[VMFSM_EVENT_COUNT] = {
    [VMFSM_EV_VM_RUNNING] = "vm-running",
    [VMFSM_EV_START] = "start",
    [VMFSM_EV_PAIR_REQUEST] = "pair-request",
    [VMFSM_EV_INCOMING_READY] = "incoming-ready",
    [VMFSM_EV_INCOMING_FAILED] = "incoming-failed",
    [VMFSM_EV_PEER_ACCEPTED] = "peer-accepted",
    [VMFSM_EV_PEER_REFUSED] = "peer-refused",
    [VMFSM_EV_PEER_TIMEOUT] = "peer-timeout",
    [VMFSM_EV_SYNC_DONE] = "sync-done",
    [VMFSM_EV_STREAM_BROKEN] = "stream-broken",
    [VMFSM_EV_PEER_JOINED] = "peer-joined",
    [VMFSM_EV_PEER_LEFT] = "peer-left",
    [VMFSM_EV_PEER_RELEASED] = "peer-released",
    [VMFSM_EV_PEER_STOP] = "peer-stop",
    [VMFSM_EV_PEER_DEGRADED] = "peer-degraded",
    [VMFSM_EV_MEMBERSHIP_LOST] = "membership-lost",
    [VMFSM_EV_MEMBERSHIP_REGAINED] = "membership-regained",
    [VMFSM_EV_QUORUM_LOST] = "quorum-lost",
    [VMFSM_EV_QUORUM_REGAINED] = "quorum-regained",
    [VMFSM_EV_ELIGIBLE_NODE] = "eligible-node",
    [VMFSM_EV_FAILOVER_REQUESTED] = "failover-requested",
    [VMFSM_EV_FAILOVER_DONE] = "failover-done",
    [VMFSM_EV_FAILOVER_FAILED] = "failover-failed",
    [VMFSM_EV_STOP_REQUESTED] = "stop-requested",
    [VMFSM_EV_QEMU_EXITED] = "qemu-exited",
    [VMFSM_EV_PEER_FENCED] = "peer-fenced",
};

static const char *const fx_names[VMFSM_FX_COUNT] = {
    [VMFSM_FX_SEND_PAIR_REQUEST] = "send-pair-request",
    [VMFSM_FX_SEND_PAIR_ACCEPT] = "send-pair-accept",
    [VMFSM_FX_SEND_PAIR_REFUSE] = "send-pair-refuse",
    [VMFSM_FX_SEND_RELEASE] = "send-release",
    [VMFSM_FX_SEND_STOP] = "send-stop",
    [VMFSM_FX_SEND_STATE_REPORT] = "send-state-report",
    [VMFSM_FX_ARM_PAIR_TIMER] = "arm-pair-timer",
    [VMFSM_FX_DISARM_PAIR_TIMER] = "disarm-pair-timer",
    [VMFSM_FX_QEMU_START_INCOMING] = "qemu-start-incoming",
    [VMFSM_FX_QEMU_START_PROTECTION] = "qemu-start-protection",
    [VMFSM_FX_QEMU_STOP_PROTECTION] = "qemu-stop-protection",
    [VMFSM_FX_QEMU_CONTINUE_UNPROTECTED] = "qemu-continue-unprotected",
    [VMFSM_FX_QEMU_FAILOVER] = "qemu-failover",
    [VMFSM_FX_QEMU_QUIT] = "qemu-quit",
    [VMFSM_FX_REPROTECT] = "reprotect",
};

static const char *const role_names[VMFSM_ROLE_COUNT] = {
    [VMFSM_ROLE_NONE] = "none",
    [VMFSM_ROLE_PRIMARY] = "primary",
    [VMFSM_ROLE_SECONDARY] = "secondary",
};

const char *
vmfsm_state_name(enum vmfsm_state s)
{
    return (unsigned)s < VMFSM_STATE_COUNT ? state_names[s] : "?";
}

const char *
vmfsm_event_name(enum vmfsm_event ev)
{
    return (unsigned)ev < VMFSM_EVENT_COUNT ? event_names[ev] : "?";
}

const char *
vmfsm_fx_name(enum vmfsm_fx fx)
{
    return (unsigned)fx < VMFSM_FX_COUNT ? fx_names[fx] : "?";
}

const char *
vmfsm_role_name(enum vmfsm_role role)
{
    return (unsigned)role < VMFSM_ROLE_COUNT ? role_names[role] : "?";
}

enum vmfsm_role
vmfsm_state_role(enum vmfsm_state s)
{
    switch (s) {
    case VMFSM_UNPROTECTED:
    case VMFSM_PAIRING:
    case VMFSM_SYNCING:
    case VMFSM_PROTECTED:
    case VMFSM_DEGRADED:
        return VMFSM_ROLE_PRIMARY;
    case VMFSM_INCOMING:
    case VMFSM_RECEIVING:
    case VMFSM_STANDBY:
    case VMFSM_PRIMARY_LOST:
    case VMFSM_FAILING_OVER:
        return VMFSM_ROLE_SECONDARY;
    case VMFSM_STOPPED:
    case VMFSM_PEER_UNKNOWN:
    case VMFSM_STATE_COUNT:
        break;
    }
    return VMFSM_ROLE_NONE;
}

enum vmfsm_role
vmfsm_role(const struct vmfsm *fsm)
{
    if (fsm->state == VMFSM_PEER_UNKNOWN) {
        return vmfsm_state_role(fsm->resume_state);
    }
    return vmfsm_state_role(fsm->state);
}

/* ------------------------------------------------------------------ */
/* Effect helpers */

static void
fx_add(struct vmfsm_effects *fx, enum vmfsm_fx kind, uint32_t node,
       uint64_t epoch, const char *reason)
{
    if (fx->n >= VMFSM_MAX_EFFECTS) {
        /* the handlers below emit at most five: a bug */
        g_error("vmfsm: effect list overflow adding %s", vmfsm_fx_name(kind));
    }
    fx->fx[fx->n].kind = kind;
    fx->fx[fx->n].node = node;
    fx->fx[fx->n].epoch = epoch;
    fx->fx[fx->n].reason = reason;
    fx->n++;
}

/* An effect without a target (QEMU, timers, re-protection). */
static void
fx_local(struct vmfsm_effects *fx, enum vmfsm_fx kind)
{
    fx_add(fx, kind, 0, 0, NULL);
}

/* A pair message to the current peer. */
static void
fx_send(struct vmfsm *fsm, struct vmfsm_effects *fx, enum vmfsm_fx kind,
        const char *reason)
{
    fx_add(fx, kind, fsm->peer_node, fsm->epoch, reason);
}

/* Forgets the pairing (the epoch stays: it only grows). */
static void
unpair(struct vmfsm *fsm)
{
    fsm->peer_node = 0;
    fsm->peer_present = false;
    fsm->peer_released = false;
    fsm->peer_fenced = false;
    fsm->stream_broken = false;
}

/* Starts a new pairing with NODE as the other copy. */
static void
pair_with(struct vmfsm *fsm, uint32_t node, uint64_t epoch)
{
    fsm->peer_node = node;
    fsm->epoch = epoch;
    fsm->peer_present = true;
    fsm->peer_released = false;
    fsm->peer_fenced = false;
    fsm->stream_broken = false;
    fsm->protect_wanted = true;
}

/*
 * The VM runs here alone from now on.  With automatic re-protection
 * and a known, quorate membership, ask the caller for a new secondary.
 */
static int
go_unprotected(struct vmfsm *fsm, struct vmfsm_effects *fx)
{
    unpair(fsm);
    if (fsm->protect_wanted && fsm->policy.reprotect_auto &&
        fsm->membership_up && fsm->quorate) {
        fx_local(fx, VMFSM_FX_REPROTECT);
    }
    return VMFSM_UNPROTECTED;
}

/* ------------------------------------------------------------------ */
/* Handlers: primary side */

/* STOPPED --vm-running-->: our QEMU runs as an unprotected primary. */
static int
h_vm_running(struct vmfsm *fsm, const struct vmfsm_event_data *d,
             struct vmfsm_effects *fx, const char **reason)
{
    unpair(fsm);
    fsm->protect_wanted = false;
    if (!fsm->membership_up) {
        fsm->resume_state = VMFSM_UNPROTECTED;
        return VMFSM_PEER_UNKNOWN;
    }
    return VMFSM_UNPROTECTED;
}

/* Sends a PAIR_REQUEST to NODE with a fresh epoch. */
static int
begin_pairing(struct vmfsm *fsm, uint32_t node, uint64_t seen_epoch,
              struct vmfsm_effects *fx)
{
    pair_with(fsm, node, MAX(fsm->epoch, seen_epoch) + 1);
    fx_send(fsm, fx, VMFSM_FX_SEND_PAIR_REQUEST, NULL);
    fx_local(fx, VMFSM_FX_ARM_PAIR_TIMER);
    return VMFSM_PAIRING;
}

/* UNPROTECTED --start-->: an operator asks for protection by d->node. */
static int
h_start(struct vmfsm *fsm, const struct vmfsm_event_data *d,
        struct vmfsm_effects *fx, const char **reason)
{
    if (d->node == 0) {
        *reason = "no peer node given";
        return NEXT_REFUSE;
    }
    if (!fsm->quorate) {
        *reason = "this node's partition has no quorum";
        return NEXT_REFUSE;
    }
    return begin_pairing(fsm, d->node, d->epoch, fx);
}

/* UNPROTECTED --eligible-node-->: re-protection, if wanted and allowed. */
static int
h_eligible(struct vmfsm *fsm, const struct vmfsm_event_data *d,
           struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->protect_wanted || !fsm->policy.reprotect_auto ||
        !fsm->quorate || !fsm->membership_up || d->node == 0) {
        return NEXT_IGNORE;
    }
    return begin_pairing(fsm, d->node, d->epoch, fx);
}

/* UNPROTECTED --quorum-regained-->: time to look for a secondary again. */
static int
h_unprotected_quorum(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                     struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->protect_wanted || !fsm->policy.reprotect_auto) {
        return NEXT_IGNORE;
    }
    fx_local(fx, VMFSM_FX_REPROTECT);
    return VMFSM_UNPROTECTED;
}

/* UNPROTECTED --stop-requested-->: give up a pending re-protection. */
static int
h_stop_unprotected(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                   struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->protect_wanted) {
        *reason = "the VM is not protected";
        return NEXT_REFUSE;
    }
    fsm->protect_wanted = false;
    return VMFSM_UNPROTECTED;
}

/* Our QEMU exited while no secondary exists. */
static int
h_exited_alone(struct vmfsm *fsm, const struct vmfsm_event_data *d,
               struct vmfsm_effects *fx, const char **reason)
{
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/* PAIRING --peer-accepted-->: start the checkpoint stream. */
static int
h_accepted(struct vmfsm *fsm, const struct vmfsm_event_data *d,
           struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_DISARM_PAIR_TIMER);
    fx_local(fx, VMFSM_FX_QEMU_START_PROTECTION);
    return VMFSM_SYNCING;
}

/* PAIRING --peer-refused/left/released-->: nothing started in QEMU. */
static int
h_pairing_failed(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_DISARM_PAIR_TIMER);
    return go_unprotected(fsm, fx);
}

/* PAIRING --peer-timeout-->: the peer may have started a QEMU: stop it. */
static int
h_pairing_timeout(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                  struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_STOP, "pairing timed out");
    return go_unprotected(fsm, fx);
}

/* PAIRING --stop-requested-->: the operator cancels. */
static int
h_pairing_cancel(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_DISARM_PAIR_TIMER);
    fx_send(fsm, fx, VMFSM_FX_SEND_STOP, "protection stopped");
    fsm->protect_wanted = false;
    unpair(fsm);
    return VMFSM_UNPROTECTED;
}

/* PAIRING --qemu-exited-->: the VM is gone; so is the pairing. */
static int
h_pairing_exited(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_DISARM_PAIR_TIMER);
    fx_send(fsm, fx, VMFSM_FX_SEND_STOP, "the VM exited");
    return h_exited_alone(fsm, d, fx, reason);
}

/* SYNCING --sync-done--> PROTECTED */
static int
h_sync_done(struct vmfsm *fsm, const struct vmfsm_event_data *d,
            struct vmfsm_effects *fx, const char **reason)
{
    return VMFSM_PROTECTED;
}

/*
 * Outputs held so far may be released: the secondary can no longer
 * fail over (see secondary_confirmed_gone()).
 */
static int
release_outputs(struct vmfsm *fsm, struct vmfsm_effects *fx)
{
    fx_local(fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED);
    return go_unprotected(fsm, fx);
}

/*
 * Whether the secondary is confirmed unable to take over: it released
 * its copy, or its node was fenced, or (standalone policy) its node is
 * gone from our quorate membership.  Under the pacemaker policy the
 * membership proves nothing: in a two_node cluster the secondary's half
 * of a partition is quorate too, and its Pacemaker may fence this node
 * and promote the secondary.  Pacemaker's fencing decides, reported by
 * the agent (kemari fenced).
 */
static bool
secondary_confirmed_gone(const struct vmfsm *fsm)
{
    if (fsm->peer_released || fsm->peer_fenced) {
        return true;
    }
    if (fsm->policy.pacemaker) {
        return false;
    }
    return fsm->membership_up && fsm->quorate && !fsm->peer_present;
}

/*
 * SYNCING/PROTECTED --stream-broken/peer-left/peer-released-->: the
 * secondary is lost.  Release at once if confirmed, else hold.
 */
static int
h_secondary_lost(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    if (secondary_confirmed_gone(fsm)) {
        return release_outputs(fsm, fx);
    }
    return VMFSM_DEGRADED;
}

/* DEGRADED --peer-left/peer-released/quorum-regained-->: re-check. */
static int
h_degraded_check(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    if (secondary_confirmed_gone(fsm)) {
        return release_outputs(fsm, fx);
    }
    /* still held; log it as a transition so the wait is visible */
    return VMFSM_DEGRADED;
}

/* DEGRADED --peer-joined-->: tell the returning secondary we lost it. */
static int
h_degraded_rejoined(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                    struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_STATE_REPORT, NULL);
    return VMFSM_DEGRADED;
}

/*
 * SYNCING/PROTECTED --stop-requested-->: end protection cleanly.  STOP
 * goes out first so that the secondary quits before the stream ends and
 * can never mistake the end of the stream for a failure of ours.
 */
static int
h_stop_protection(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                  struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_STOP, "protection stopped");
    fx_local(fx, VMFSM_FX_QEMU_STOP_PROTECTION);
    fsm->protect_wanted = false;
    unpair(fsm);
    return VMFSM_UNPROTECTED;
}

/*
 * SYNCING/PROTECTED/DEGRADED --qemu-exited-->.  A guest that shut down
 * ends protection (STOP).  A crash leaves the secondary as the only
 * copy: RELEASE tells it our copy is gone for good, so it may take over
 * (SYNCING: it has no complete state, so it is stopped instead).
 */
static int
h_primary_exited(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    if (d->clean || fsm->state == VMFSM_SYNCING) {
        fx_send(fsm, fx, VMFSM_FX_SEND_STOP,
                d->clean ? "the guest shut down" : "the VM exited");
        fsm->protect_wanted = false;
    } else {
        fx_send(fsm, fx, VMFSM_FX_SEND_RELEASE, "the primary QEMU exited");
    }
    unpair(fsm);
    return VMFSM_STOPPED;
}

/* ------------------------------------------------------------------ */
/* Handlers: secondary side */

/* STOPPED --pair-request-->: become the secondary of d->node. */
static int
h_pair_request(struct vmfsm *fsm, const struct vmfsm_event_data *d,
               struct vmfsm_effects *fx, const char **reason)
{
    if (d->node == 0) {
        *reason = "pair request without a requester node";
        return NEXT_REFUSE;
    }
    if (d->epoch <= fsm->epoch) {
        *reason = "stale pairing epoch";
        return NEXT_REFUSE;
    }
    pair_with(fsm, d->node, d->epoch);
    fx_local(fx, VMFSM_FX_QEMU_START_INCOMING);
    return VMFSM_INCOMING;
}

/* INCOMING --incoming-ready-->: tell the primary where to connect. */
static int
h_incoming_ready(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_PAIR_ACCEPT, NULL);
    return VMFSM_RECEIVING;
}

/* INCOMING --incoming-failed/qemu-exited-->: refuse the pairing. */
static int
h_incoming_failed(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                  struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_PAIR_REFUSE,
            "the incoming QEMU could not be started");
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/* RECEIVING --sync-done--> STANDBY */
static int
h_standby(struct vmfsm *fsm, const struct vmfsm_event_data *d,
          struct vmfsm_effects *fx, const char **reason)
{
    return VMFSM_STANDBY;
}

/*
 * Secondary, the pairing ends without a take-over: quit our copy.
 * Used for STOP from the primary and for a primary lost before our copy
 * was complete.
 */
static int
h_secondary_quit(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_QEMU_QUIT);
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/*
 * Secondary, the primary is alive and continues without us (it reported
 * DEGRADED, or our stream broke before our copy was complete): quit and
 * RELEASE, which lets it release its held outputs.
 */
static int
h_secondary_yield(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                  struct vmfsm_effects *fx, const char **reason)
{
    fx_local(fx, VMFSM_FX_QEMU_QUIT);
    fx_send(fsm, fx, VMFSM_FX_SEND_RELEASE, "the secondary yields");
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/* Secondary, our own QEMU died: the primary must stop waiting for us. */
static int
h_secondary_exited(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                   struct vmfsm_effects *fx, const char **reason)
{
    fx_send(fsm, fx, VMFSM_FX_SEND_RELEASE, "the secondary QEMU exited");
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/*
 * Whether the secondary may take over now: quorate, membership known,
 * and the primary confirmed unable to run (its node is gone from the
 * membership, or it released its copy).
 */
static bool
primary_confirmed_gone(const struct vmfsm *fsm)
{
    return fsm->membership_up && fsm->quorate &&
           (!fsm->peer_present || fsm->peer_released || fsm->peer_fenced);
}

static int
begin_failover(struct vmfsm *fsm, struct vmfsm_effects *fx)
{
    fx_local(fx, VMFSM_FX_QEMU_FAILOVER);
    return VMFSM_FAILING_OVER;
}

/*
 * STANDBY/PRIMARY_LOST --stream-broken/peer-left/peer-released/
 * quorum-regained-->: under the standalone policy fail over once the
 * primary is confirmed gone; otherwise wait in PRIMARY_LOST.
 */
static int
h_primary_lost(struct vmfsm *fsm, const struct vmfsm_event_data *d,
               struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->policy.pacemaker && primary_confirmed_gone(fsm)) {
        return begin_failover(fsm, fx);
    }
    return VMFSM_PRIMARY_LOST;
}

/* PRIMARY_LOST --quorum-regained-->: as above, but stay quietly. */
static int
h_primary_lost_recheck(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                       struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->policy.pacemaker && primary_confirmed_gone(fsm)) {
        return begin_failover(fsm, fx);
    }
    return NEXT_IGNORE;
}

/*
 * STANDBY/PRIMARY_LOST --failover-requested-->: an operator or
 * Pacemaker decided.  Still never without quorum, and never while the
 * primary's node is in the membership with its copy not released.
 */
static int
h_failover_request(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                   struct vmfsm_effects *fx, const char **reason)
{
    if (!fsm->membership_up) {
        *reason = "corosync is unreachable: membership and quorum unknown";
        return NEXT_REFUSE;
    }
    if (!fsm->quorate) {
        *reason = "this node's partition has no quorum";
        return NEXT_REFUSE;
    }
    if (fsm->peer_present && !fsm->peer_released && !fsm->peer_fenced) {
        *reason = "the primary's node is still in the membership";
        return NEXT_REFUSE;
    }
    return begin_failover(fsm, fx);
}

/* FAILING_OVER --failover-done-->: we are the primary now. */
static int
h_failover_done(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                struct vmfsm_effects *fx, const char **reason)
{
    /*
     * The take-over starts an epoch of its own: messages of the old
     * pairing are stale from now on, and a primary of the old pairing
     * that comes back learns from our announcements (a higher epoch with
     * role primary) that it was superseded.
     */
    fsm->epoch++;
    if (!fsm->membership_up) {
        unpair(fsm);
        fsm->resume_state = VMFSM_UNPROTECTED;
        return VMFSM_PEER_UNKNOWN;
    }
    return go_unprotected(fsm, fx);
}

/* FAILING_OVER --failover-failed/qemu-exited-->: the VM is lost. */
static int
h_failover_failed(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                  struct vmfsm_effects *fx, const char **reason)
{
    vm_log_warnx(fsm->name, "failover failed: %s",
                 d->reason ? d->reason : "no reason given");
    fx_local(fx, VMFSM_FX_QEMU_QUIT);
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/* ------------------------------------------------------------------ */
/* Handlers: corosync away (PEER_UNKNOWN) */

/* Any state --membership-lost--> PEER_UNKNOWN, remembering where. */
static int
h_to_unknown(struct vmfsm *fsm, const struct vmfsm_event_data *d,
             struct vmfsm_effects *fx, const char **reason)
{
    if (fsm->state == VMFSM_PAIRING) {
        /* restarted from scratch when corosync is back */
        fx_local(fx, VMFSM_FX_DISARM_PAIR_TIMER);
    }
    fsm->resume_state = fsm->state;
    return VMFSM_PEER_UNKNOWN;
}

/* PEER_UNKNOWN --sync-done-->: the engine progressed meanwhile. */
static int
h_unknown_sync_done(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                    struct vmfsm_effects *fx, const char **reason)
{
    if (fsm->resume_state == VMFSM_SYNCING) {
        fsm->resume_state = VMFSM_PROTECTED;
    } else if (fsm->resume_state == VMFSM_RECEIVING) {
        fsm->resume_state = VMFSM_STANDBY;
    } else {
        return NEXT_IGNORE;
    }
    return VMFSM_PEER_UNKNOWN;
}

/* PEER_UNKNOWN --stream-broken-->: recorded (fact), decided later. */
static int
h_unknown_stay(struct vmfsm *fsm, const struct vmfsm_event_data *d,
               struct vmfsm_effects *fx, const char **reason)
{
    return VMFSM_PEER_UNKNOWN;
}

/*
 * PEER_UNKNOWN --qemu-exited-->: our copy is gone.  Nothing can be sent;
 * our node is out of the others' membership anyway, which is what they
 * decide on.
 */
static int
h_unknown_exited(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                 struct vmfsm_effects *fx, const char **reason)
{
    unpair(fsm);
    fsm->protect_wanted = false;
    return VMFSM_STOPPED;
}

/*
 * PEER_UNKNOWN --membership-regained-->: decide from the state we left
 * and what the new membership says (facts already updated).
 */
static int
h_unknown_regained(struct vmfsm *fsm, const struct vmfsm_event_data *d,
                   struct vmfsm_effects *fx, const char **reason)
{
    enum vmfsm_state r = fsm->resume_state;

    switch (r) {
    case VMFSM_UNPROTECTED:
        return go_unprotected(fsm, fx);
    case VMFSM_PAIRING:
        /* the answer may have been lost: start over */
        if (fsm->peer_present) {
            fx_send(fsm, fx, VMFSM_FX_SEND_STOP, "pairing interrupted");
        }
        return go_unprotected(fsm, fx);
    case VMFSM_SYNCING:
    case VMFSM_PROTECTED:
        if (fsm->stream_broken || !fsm->peer_present) {
            return h_secondary_lost(fsm, d, fx, reason);
        }
        return r;
    case VMFSM_DEGRADED:
        return h_degraded_check(fsm, d, fx, reason);
    case VMFSM_INCOMING:
        /* our accept could not be sent: abandon */
        fx_local(fx, VMFSM_FX_QEMU_QUIT);
        if (fsm->peer_present) {
            fx_send(fsm, fx, VMFSM_FX_SEND_PAIR_REFUSE,
                    "membership was lost while pairing");
        }
        unpair(fsm);
        fsm->protect_wanted = false;
        return VMFSM_STOPPED;
    case VMFSM_RECEIVING:
        if (fsm->stream_broken || !fsm->peer_present) {
            if (fsm->peer_present) {
                return h_secondary_yield(fsm, d, fx, reason);
            }
            return h_secondary_quit(fsm, d, fx, reason);
        }
        return r;
    case VMFSM_STANDBY:
    case VMFSM_PRIMARY_LOST:
        if (fsm->stream_broken || !fsm->peer_present ||
            fsm->peer_released || r == VMFSM_PRIMARY_LOST) {
            return h_primary_lost(fsm, d, fx, reason);
        }
        return r;
    case VMFSM_STOPPED:
    case VMFSM_FAILING_OVER:
    case VMFSM_PEER_UNKNOWN:
    case VMFSM_STATE_COUNT:
        break;
    }
    g_error("vm=%s: PEER_UNKNOWN with resume state %s", fsm->name,
            vmfsm_state_name(r));
}

/* ------------------------------------------------------------------ */
/* The table */

#define S(st) (1u << VMFSM_##st)
#define H(fn, mask) { VMFSM_CELL_HANDLER, fn, (mask), NULL }
#define IGN { VMFSM_CELL_IGNORE, NULL, 0, NULL }
#define REF(why) { VMFSM_CELL_REFUSE, NULL, 0, why }

/* Reasons shared by several cells. */
#define R_NOT_HERE "the VM does not run on this node"
#define R_IS_PRIMARY "the VM already runs on this node as primary"
#define R_IS_SECONDARY "the VM runs on this node as secondary"
#define R_BUSY_PAIRING "protection is already being set up"
#define R_ALREADY "the VM is already protected"
#define R_NO_FAILOVER_PRIMARY \
    "the VM runs on this node as primary: fail over on the secondary"
#define R_STOP_ON_PRIMARY \
    "the VM runs on this node as secondary: stop protection on the primary"
#define R_INCOMPLETE "the secondary has no complete copy of the VM yet"
#define R_UNKNOWN \
    "corosync is unreachable: membership and quorum unknown"
#define R_HELD \
    "outputs are held until the secondary is confirmed gone; " \
    "ending protection now could let two copies run"
#define R_FAILING_OVER "a failover is in progress"

/* Masks shared by several cells. */
#define M_UNKNOWN S(PEER_UNKNOWN)
#define M_RELEASE (S(UNPROTECTED))
#define M_SEC_LOST (S(DEGRADED) | S(UNPROTECTED))
#define M_PRI_LOST (S(PRIMARY_LOST) | S(FAILING_OVER))
#define M_REGAINED                                                        \
    (S(UNPROTECTED) | S(SYNCING) | S(PROTECTED) | S(DEGRADED) |           \
     S(RECEIVING) | S(STANDBY) | S(PRIMARY_LOST) | S(FAILING_OVER) |      \
     S(STOPPED))

static const struct vmfsm_cell vmfsm_table[VMFSM_STATE_COUNT]
                                          [VMFSM_EVENT_COUNT] = {
    [VMFSM_STOPPED] = {
        [VMFSM_EV_VM_RUNNING] = H(h_vm_running,
                                  S(UNPROTECTED) | S(PEER_UNKNOWN)),
        [VMFSM_EV_START] = REF(R_NOT_HERE),
        [VMFSM_EV_PAIR_REQUEST] = H(h_pair_request, S(INCOMING)),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = IGN,
        [VMFSM_EV_PEER_RELEASED] = IGN,
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = IGN,
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NOT_HERE),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_NOT_HERE),
        [VMFSM_EV_QEMU_EXITED] = IGN,
        [VMFSM_EV_PEER_FENCED] = IGN,
    },
    [VMFSM_UNPROTECTED] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = H(h_start, S(PAIRING)),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_PRIMARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = IGN,
        [VMFSM_EV_PEER_RELEASED] = IGN,
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = H(h_unprotected_quorum,
                                       S(UNPROTECTED)),
        [VMFSM_EV_ELIGIBLE_NODE] = H(h_eligible, S(PAIRING)),
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NO_FAILOVER_PRIMARY),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = H(h_stop_unprotected, S(UNPROTECTED)),
        [VMFSM_EV_QEMU_EXITED] = H(h_exited_alone, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = IGN,
    },
    [VMFSM_PAIRING] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_BUSY_PAIRING),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_PRIMARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = H(h_accepted, S(SYNCING)),
        [VMFSM_EV_PEER_REFUSED] = H(h_pairing_failed, S(UNPROTECTED)),
        [VMFSM_EV_PEER_TIMEOUT] = H(h_pairing_timeout, S(UNPROTECTED)),
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_pairing_failed, S(UNPROTECTED)),
        [VMFSM_EV_PEER_RELEASED] = H(h_pairing_failed, S(UNPROTECTED)),
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NO_FAILOVER_PRIMARY),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = H(h_pairing_cancel, S(UNPROTECTED)),
        [VMFSM_EV_QEMU_EXITED] = H(h_pairing_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_pairing_failed, S(UNPROTECTED)),
    },
    [VMFSM_SYNCING] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_ALREADY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_PRIMARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = H(h_sync_done, S(PROTECTED)),
        [VMFSM_EV_STREAM_BROKEN] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_RELEASED] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NO_FAILOVER_PRIMARY),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = H(h_stop_protection, S(UNPROTECTED)),
        [VMFSM_EV_QEMU_EXITED] = H(h_primary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_secondary_lost, M_SEC_LOST),
    },
    [VMFSM_PROTECTED] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_ALREADY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_PRIMARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_RELEASED] = H(h_secondary_lost, M_SEC_LOST),
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NO_FAILOVER_PRIMARY),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = H(h_stop_protection, S(UNPROTECTED)),
        [VMFSM_EV_QEMU_EXITED] = H(h_primary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_secondary_lost, M_SEC_LOST),
    },
    [VMFSM_DEGRADED] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_HELD),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_PRIMARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = H(h_degraded_rejoined, S(DEGRADED)),
        [VMFSM_EV_PEER_LEFT] = H(h_degraded_check, M_SEC_LOST),
        [VMFSM_EV_PEER_RELEASED] = H(h_degraded_check, M_SEC_LOST),
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = H(h_degraded_check, M_SEC_LOST),
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_NO_FAILOVER_PRIMARY),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_HELD),
        [VMFSM_EV_QEMU_EXITED] = H(h_primary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_degraded_check, M_SEC_LOST),
    },
    [VMFSM_INCOMING] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_IS_SECONDARY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_SECONDARY),
        [VMFSM_EV_INCOMING_READY] = H(h_incoming_ready, S(RECEIVING)),
        [VMFSM_EV_INCOMING_FAILED] = H(h_incoming_failed, S(STOPPED)),
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_RELEASED] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_STOP] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_DEGRADED] = H(h_secondary_yield, S(STOPPED)),
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_INCOMPLETE),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_STOP_ON_PRIMARY),
        [VMFSM_EV_QEMU_EXITED] = H(h_incoming_failed, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_secondary_quit, S(STOPPED)),
    },
    [VMFSM_RECEIVING] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_IS_SECONDARY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_SECONDARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = H(h_standby, S(STANDBY)),
        [VMFSM_EV_STREAM_BROKEN] = H(h_secondary_yield, S(STOPPED)),
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_RELEASED] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_STOP] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_DEGRADED] = H(h_secondary_yield, S(STOPPED)),
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_INCOMPLETE),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_STOP_ON_PRIMARY),
        [VMFSM_EV_QEMU_EXITED] = H(h_secondary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_secondary_quit, S(STOPPED)),
    },
    [VMFSM_STANDBY] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_IS_SECONDARY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_SECONDARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = H(h_primary_lost, M_PRI_LOST),
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_primary_lost, M_PRI_LOST),
        [VMFSM_EV_PEER_RELEASED] = H(h_primary_lost, M_PRI_LOST),
        [VMFSM_EV_PEER_STOP] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_DEGRADED] = H(h_secondary_yield, S(STOPPED)),
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = H(h_failover_request,
                                          S(FAILING_OVER)),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_STOP_ON_PRIMARY),
        [VMFSM_EV_QEMU_EXITED] = H(h_secondary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_primary_lost, M_PRI_LOST),
    },
    [VMFSM_PRIMARY_LOST] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_IS_SECONDARY),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_IS_SECONDARY),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = H(h_primary_lost, M_PRI_LOST),
        [VMFSM_EV_PEER_RELEASED] = H(h_primary_lost, M_PRI_LOST),
        [VMFSM_EV_PEER_STOP] = H(h_secondary_quit, S(STOPPED)),
        [VMFSM_EV_PEER_DEGRADED] = H(h_secondary_yield, S(STOPPED)),
        [VMFSM_EV_MEMBERSHIP_LOST] = H(h_to_unknown, M_UNKNOWN),
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = H(h_primary_lost_recheck,
                                       S(FAILING_OVER)),
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = H(h_failover_request,
                                          S(FAILING_OVER)),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_STOP_ON_PRIMARY),
        [VMFSM_EV_QEMU_EXITED] = H(h_secondary_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = H(h_primary_lost, M_PRI_LOST),
    },
    [VMFSM_FAILING_OVER] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_FAILING_OVER),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_FAILING_OVER),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = IGN,
        [VMFSM_EV_STREAM_BROKEN] = IGN,
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = IGN,
        [VMFSM_EV_PEER_RELEASED] = IGN,
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        /* the decision was taken with quorum; let QEMU finish */
        [VMFSM_EV_MEMBERSHIP_LOST] = IGN,
        [VMFSM_EV_MEMBERSHIP_REGAINED] = IGN,
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_FAILING_OVER),
        [VMFSM_EV_FAILOVER_DONE] = H(h_failover_done,
                                     S(UNPROTECTED) | S(PEER_UNKNOWN)),
        [VMFSM_EV_FAILOVER_FAILED] = H(h_failover_failed, S(STOPPED)),
        [VMFSM_EV_STOP_REQUESTED] = REF(R_FAILING_OVER),
        [VMFSM_EV_QEMU_EXITED] = H(h_failover_failed, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = IGN,
    },
    [VMFSM_PEER_UNKNOWN] = {
        [VMFSM_EV_VM_RUNNING] = IGN,
        [VMFSM_EV_START] = REF(R_UNKNOWN),
        [VMFSM_EV_PAIR_REQUEST] = REF(R_UNKNOWN),
        [VMFSM_EV_INCOMING_READY] = IGN,
        [VMFSM_EV_INCOMING_FAILED] = IGN,
        [VMFSM_EV_PEER_ACCEPTED] = IGN,
        [VMFSM_EV_PEER_REFUSED] = IGN,
        [VMFSM_EV_PEER_TIMEOUT] = IGN,
        [VMFSM_EV_SYNC_DONE] = H(h_unknown_sync_done, S(PEER_UNKNOWN)),
        [VMFSM_EV_STREAM_BROKEN] = H(h_unknown_stay, S(PEER_UNKNOWN)),
        [VMFSM_EV_PEER_JOINED] = IGN,
        [VMFSM_EV_PEER_LEFT] = IGN,
        [VMFSM_EV_PEER_RELEASED] = IGN,
        [VMFSM_EV_PEER_STOP] = IGN,
        [VMFSM_EV_PEER_DEGRADED] = IGN,
        [VMFSM_EV_MEMBERSHIP_LOST] = IGN,
        [VMFSM_EV_MEMBERSHIP_REGAINED] = H(h_unknown_regained, M_REGAINED),
        [VMFSM_EV_QUORUM_LOST] = IGN,
        [VMFSM_EV_QUORUM_REGAINED] = IGN,
        [VMFSM_EV_ELIGIBLE_NODE] = IGN,
        [VMFSM_EV_FAILOVER_REQUESTED] = REF(R_UNKNOWN),
        [VMFSM_EV_FAILOVER_DONE] = IGN,
        [VMFSM_EV_FAILOVER_FAILED] = IGN,
        [VMFSM_EV_STOP_REQUESTED] = REF(R_UNKNOWN),
        [VMFSM_EV_QEMU_EXITED] = H(h_unknown_exited, S(STOPPED)),
        [VMFSM_EV_PEER_FENCED] = IGN,
    },
};

void
vmfsm_cell_info(enum vmfsm_state s, enum vmfsm_event ev,
                struct vmfsm_cell_info *out)
{
    const struct vmfsm_cell *c;

    memset(out, 0, sizeof(*out));
    if ((unsigned)s >= VMFSM_STATE_COUNT ||
        (unsigned)ev >= VMFSM_EVENT_COUNT) {
        return;
    }
    c = &vmfsm_table[s][ev];
    out->kind = c->kind;
    out->next_mask = c->next_mask;
    out->reason = c->reason;
}

bool
vmfsm_table_check(GError **error)
{
    unsigned s, ev;

    for (s = 0; s < VMFSM_STATE_COUNT; s++) {
        for (ev = 0; ev < VMFSM_EVENT_COUNT; ev++) {
            const struct vmfsm_cell *c = &vmfsm_table[s][ev];
            const char *what = NULL;

            switch (c->kind) {
            case VMFSM_CELL_HANDLER:
                if (!c->handler || c->next_mask == 0 ||
                    c->next_mask >= (1u << VMFSM_STATE_COUNT)) {
                    what = "handler without a valid target set";
                }
                break;
            case VMFSM_CELL_REFUSE:
                if (!c->reason) {
                    what = "refusal without a reason";
                }
                break;
            case VMFSM_CELL_IGNORE:
                break;
            case VMFSM_CELL_UNDEFINED:
            default:
                what = "undefined";
                break;
            }
            if (what) {
                g_set_error(error, VMFSM_ERROR, VMFSM_ERROR_TABLE,
                            "state table cell (%s, %s): %s",
                            vmfsm_state_name(s), vmfsm_event_name(ev), what);
                return false;
            }
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Dispatch */

struct vmfsm *
vmfsm_new(const char *name, const struct vmfsm_policy *policy)
{
    struct vmfsm *fsm = g_new0(struct vmfsm, 1);

    fsm->name = g_strdup(name);
    fsm->state = VMFSM_STOPPED;
    fsm->resume_state = VMFSM_STOPPED;
    if (policy) {
        fsm->policy = *policy;
    }
    return fsm;
}

void
vmfsm_free(struct vmfsm *fsm)
{
    if (!fsm) {
        return;
    }
    g_free(fsm->name);
    g_free(fsm);
}

/* Events that come from the peer kemarid (checked: node and epoch). */
static bool
is_peer_message(enum vmfsm_event ev)
{
    return ev == VMFSM_EV_PEER_ACCEPTED || ev == VMFSM_EV_PEER_REFUSED ||
           ev == VMFSM_EV_PEER_RELEASED || ev == VMFSM_EV_PEER_STOP ||
           ev == VMFSM_EV_PEER_DEGRADED;
}

/*
 * Updates the facts an event carries, whatever the state.  Returns false
 * when the event is about another node or pairing and must be ignored.
 */
static bool
update_facts(struct vmfsm *fsm, enum vmfsm_event ev,
             const struct vmfsm_event_data *d)
{
    bool ours = fsm->peer_node != 0 && d->node == fsm->peer_node;

    switch (ev) {
    case VMFSM_EV_MEMBERSHIP_LOST:
        fsm->membership_up = false;
        fsm->quorate = false;
        return true;
    case VMFSM_EV_MEMBERSHIP_REGAINED:
        fsm->membership_up = true;
        fsm->quorate = d->quorate;
        fsm->peer_present = fsm->peer_node != 0 && d->peer_present;
        return true;
    case VMFSM_EV_QUORUM_LOST:
        fsm->quorate = false;
        return true;
    case VMFSM_EV_QUORUM_REGAINED:
        fsm->quorate = true;
        return true;
    case VMFSM_EV_PEER_LEFT:
        fsm->quorate = d->quorate;
        if (ours) {
            fsm->peer_present = false;
        }
        return ours;
    case VMFSM_EV_PEER_JOINED:
        if (ours) {
            fsm->peer_present = true;
        }
        return ours;
    case VMFSM_EV_STREAM_BROKEN:
        if (fsm->peer_node != 0) {
            fsm->stream_broken = true;
        }
        return true;
    case VMFSM_EV_PEER_FENCED:
        if (ours) {
            fsm->peer_fenced = true;
        }
        return ours;
    default:
        break;
    }
    if (is_peer_message(ev)) {
        if (!ours || d->epoch != fsm->epoch) {
            return false;
        }
        if (ev == VMFSM_EV_PEER_RELEASED) {
            fsm->peer_released = true;
        }
    }
    return true;
}

enum vmfsm_result
vmfsm_handle(struct vmfsm *fsm, enum vmfsm_event ev,
             const struct vmfsm_event_data *data, struct vmfsm_effects *fx,
             const char **reason)
{
    static const struct vmfsm_event_data none;
    const struct vmfsm_event_data *d = data ? data : &none;
    const struct vmfsm_cell *c;
    enum vmfsm_state from = fsm->state;
    const char *why = NULL;
    int next;

    fx->n = 0;
    if (reason) {
        *reason = NULL;
    }
    if ((unsigned)from >= VMFSM_STATE_COUNT ||
        (unsigned)ev >= VMFSM_EVENT_COUNT) {
        g_error("vm=%s: event %d in state %d out of range", fsm->name,
                (int)ev, (int)from);
    }
    if (!update_facts(fsm, ev, d)) {
        vm_log_debug(fsm->name, "%s: %s from node %u epoch %" G_GUINT64_FORMAT
                     " is not about the current pairing: ignored",
                     vmfsm_state_name(from), vmfsm_event_name(ev), d->node,
                     d->epoch);
        return VMFSM_RESULT_IGNORED;
    }

    c = &vmfsm_table[from][ev];
    switch (c->kind) {
    case VMFSM_CELL_IGNORE:
        vm_log_debug(fsm->name, "%s: %s ignored", vmfsm_state_name(from),
                     vmfsm_event_name(ev));
        return VMFSM_RESULT_IGNORED;
    case VMFSM_CELL_REFUSE:
        why = c->reason;
        goto refused;
    case VMFSM_CELL_HANDLER:
        break;
    case VMFSM_CELL_UNDEFINED:
    default:
        g_error("vm=%s: undefined state table cell (%s, %s)", fsm->name,
                vmfsm_state_name(from), vmfsm_event_name(ev));
    }

    next = c->handler(fsm, d, fx, &why);
    if (next == NEXT_IGNORE || next == NEXT_REFUSE) {
        if (fx->n != 0) {
            g_error("vm=%s: (%s, %s) emitted effects and then declined",
                    fsm->name, vmfsm_state_name(from), vmfsm_event_name(ev));
        }
        if (next == NEXT_REFUSE) {
            goto refused;
        }
        vm_log_debug(fsm->name, "%s: %s changes nothing",
                     vmfsm_state_name(from), vmfsm_event_name(ev));
        return VMFSM_RESULT_IGNORED;
    }
    if (next < 0 || next >= VMFSM_STATE_COUNT ||
        !(c->next_mask & (1u << next))) {
        g_error("vm=%s: (%s, %s) entered %s, which its cell does not allow",
                fsm->name, vmfsm_state_name(from), vmfsm_event_name(ev),
                vmfsm_state_name((enum vmfsm_state)next));
    }
    fsm->state = (enum vmfsm_state)next;

    /* Both copies report their state changes to each other (a peer
     * whose node is not in the membership would not get it). */
    if (fsm->state != from && fsm->peer_node != 0 && fsm->membership_up &&
        fsm->peer_present) {
        fx_send(fsm, fx, VMFSM_FX_SEND_STATE_REPORT, NULL);
    }
    vm_log_info(fsm->name, "%s --%s--> %s%s%s%s", vmfsm_state_name(from),
                vmfsm_event_name(ev), vmfsm_state_name(fsm->state),
                d->reason ? " (" : "", d->reason ? d->reason : "",
                d->reason ? ")" : "");
    return VMFSM_RESULT_TRANSITION;

refused:
    vm_log_info(fsm->name, "%s: %s refused: %s", vmfsm_state_name(from),
                vmfsm_event_name(ev), why);
    if (reason) {
        *reason = why;
    }
    return VMFSM_RESULT_REFUSED;
}
