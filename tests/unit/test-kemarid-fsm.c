/*
 * test-kemarid-fsm.c - the per-VM state machine of kemarid
 *
 * Three kinds of test:
 *   - the table is total: every (state, event) cell is a handler, an
 *     explicit ignore or an explicit refusal;
 *   - an exhaustive walk feeds every event in every state under every
 *     combination of policy and membership facts, and checks the result
 *     against the cell and against the safety rules (no failover and no
 *     release of held outputs without a quorate membership that confirms
 *     the other copy gone, nothing sent while corosync is away, pacemaker
 *     policy never fails over on its own);
 *   - scenarios, one per rule of the issue, checking the exact effects
 *     and the transition log lines.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fsm.h"
#include "log.h"

#define PEER 7u
#define OTHER 9u

/* ------------------------------------------------------------------ */
/* Log capture */

static char last_info[512];
static unsigned info_count;

static void
capture(enum log_level level, const char *msg, void *opaque)
{
    (void)opaque;
    if (level == LOG_LEVEL_INFO) {
        snprintf(last_info, sizeof(last_info), "%s", msg);
        info_count++;
    }
}

static int
setup(void **state)
{
    (void)state;
    log_init("test-kemarid-fsm", 1, LOG_LEVEL_INFO);
    log_set_sink(capture, NULL);
    last_info[0] = '\0';
    info_count = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers */

static const struct vmfsm_policy standalone_auto = { false, true };
static const struct vmfsm_policy standalone_manual = { false, false };
static const struct vmfsm_policy pacemaker_auto = { true, true };

/* A machine with a known, quorate membership. */
static struct vmfsm *
machine(const struct vmfsm_policy *policy)
{
    struct vmfsm *fsm = vmfsm_new("web1", policy);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .quorate = true };

    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_MEMBERSHIP_REGAINED, &d, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    assert_true(fsm->membership_up);
    assert_true(fsm->quorate);
    return fsm;
}

/* Feeds an event expected to be a transition into EXPECT. */
static void
step(struct vmfsm *fsm, enum vmfsm_event ev,
     const struct vmfsm_event_data *d, enum vmfsm_state expect,
     struct vmfsm_effects *fx)
{
    const char *why = "unset";
    enum vmfsm_result r = vmfsm_handle(fsm, ev, d, fx, &why);

    if (r != VMFSM_RESULT_TRANSITION) {
        fail_msg("%s in %s: result %d (%s), expected a transition",
                 vmfsm_event_name(ev), vmfsm_state_name(fsm->state), r,
                 why ? why : "");
    }
    assert_null(why);
    assert_string_equal(vmfsm_state_name(fsm->state),
                        vmfsm_state_name(expect));
}

/* Asserts the exact list of effect kinds, terminated by -1. */
static void
expect_fx(const struct vmfsm_effects *fx, ...)
{
    va_list ap;
    unsigned i = 0;
    int kind;

    va_start(ap, fx);
    while ((kind = va_arg(ap, int)) != -1) {
        if (i >= fx->n) {
            fail_msg("missing effect %s at %u",
                     vmfsm_fx_name((enum vmfsm_fx)kind), i);
        }
        assert_string_equal(vmfsm_fx_name(fx->fx[i].kind),
                            vmfsm_fx_name((enum vmfsm_fx)kind));
        i++;
    }
    va_end(ap);
    if (i != fx->n) {
        fail_msg("unexpected extra effect %s at %u",
                 vmfsm_fx_name(fx->fx[i].kind), i);
    }
}

static bool
has_fx(const struct vmfsm_effects *fx, enum vmfsm_fx kind)
{
    unsigned i;

    for (i = 0; i < fx->n; i++) {
        if (fx->fx[i].kind == kind) {
            return true;
        }
    }
    return false;
}

/* Primary in PROTECTED with peer PEER, epoch 1. */
static struct vmfsm *
protected_primary(const struct vmfsm_policy *policy)
{
    struct vmfsm *fsm = machine(policy);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER };

    step(fsm, VMFSM_EV_VM_RUNNING, NULL, VMFSM_UNPROTECTED, &fx);
    step(fsm, VMFSM_EV_START, &d, VMFSM_PAIRING, &fx);
    assert_int_equal(fsm->epoch, 1);
    d.epoch = 1;
    step(fsm, VMFSM_EV_PEER_ACCEPTED, &d, VMFSM_SYNCING, &fx);
    step(fsm, VMFSM_EV_SYNC_DONE, NULL, VMFSM_PROTECTED, &fx);
    return fsm;
}

/* Secondary in STANDBY for primary PEER, epoch 5. */
static struct vmfsm *
standby_secondary(const struct vmfsm_policy *policy)
{
    struct vmfsm *fsm = machine(policy);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 5 };

    step(fsm, VMFSM_EV_PAIR_REQUEST, &d, VMFSM_INCOMING, &fx);
    step(fsm, VMFSM_EV_INCOMING_READY, NULL, VMFSM_RECEIVING, &fx);
    step(fsm, VMFSM_EV_SYNC_DONE, NULL, VMFSM_STANDBY, &fx);
    return fsm;
}

/* ------------------------------------------------------------------ */
/* The table */

static void
test_table_total(void **state)
{
    g_autoptr(GError) err = NULL;
    unsigned s, ev, handlers = 0, ignores = 0, refusals = 0;

    (void)state;
    assert_true(vmfsm_table_check(&err));
    assert_null(err);
    for (s = 0; s < VMFSM_STATE_COUNT; s++) {
        assert_string_not_equal(vmfsm_state_name(s), "?");
        for (ev = 0; ev < VMFSM_EVENT_COUNT; ev++) {
            struct vmfsm_cell_info ci;

            vmfsm_cell_info(s, ev, &ci);
            switch (ci.kind) {
            case VMFSM_CELL_HANDLER:
                assert_int_not_equal(ci.next_mask, 0);
                handlers++;
                break;
            case VMFSM_CELL_IGNORE:
                ignores++;
                break;
            case VMFSM_CELL_REFUSE:
                assert_non_null(ci.reason);
                refusals++;
                break;
            default:
                fail_msg("cell (%s, %s) undefined", vmfsm_state_name(s),
                         vmfsm_event_name(ev));
            }
        }
    }
    assert_int_equal(handlers + ignores + refusals,
                     VMFSM_STATE_COUNT * VMFSM_EVENT_COUNT);
    /* names exist for everything and out-of-range is "?" */
    for (ev = 0; ev < VMFSM_EVENT_COUNT; ev++) {
        assert_string_not_equal(vmfsm_event_name(ev), "?");
    }
    for (ev = 0; ev < VMFSM_FX_COUNT; ev++) {
        assert_string_not_equal(vmfsm_fx_name(ev), "?");
    }
    assert_string_equal(vmfsm_state_name(VMFSM_STATE_COUNT), "?");
    assert_string_equal(vmfsm_event_name(VMFSM_EVENT_COUNT), "?");
}

/* The whole table as text, compared with a golden file so that every
 * change to it shows in review (KEMARI_REGENERATE=1 rewrites it). */
static void
test_table_golden(void **state)
{
    GString *out = g_string_new(NULL);
    const char *top = g_getenv("top_srcdir");
    g_autofree char *path = g_build_filename(top && *top ? top
                                             : KEMARI_TOP_SRCDIR,
                                             "tests", "unit", "golden",
                                             "kemarid-fsm-table.out", NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) err = NULL;
    unsigned s, ev, t;

    (void)state;
    for (s = 0; s < VMFSM_STATE_COUNT; s++) {
        for (ev = 0; ev < VMFSM_EVENT_COUNT; ev++) {
            struct vmfsm_cell_info ci;

            vmfsm_cell_info(s, ev, &ci);
            g_string_append_printf(out, "%-13s %-20s ", vmfsm_state_name(s),
                                   vmfsm_event_name(ev));
            if (ci.kind == VMFSM_CELL_IGNORE) {
                g_string_append(out, "ignored\n");
                continue;
            }
            if (ci.kind == VMFSM_CELL_REFUSE) {
                g_string_append_printf(out, "refused: %s\n", ci.reason);
                continue;
            }
            g_string_append(out, "->");
            for (t = 0; t < VMFSM_STATE_COUNT; t++) {
                if (ci.next_mask & (1u << t)) {
                    g_string_append_printf(out, " %s", vmfsm_state_name(t));
                }
            }
            g_string_append_c(out, '\n');
        }
    }
    if (g_strcmp0(g_getenv("KEMARI_REGENERATE"), "1") == 0) {
        assert_true(g_file_set_contents(path, out->str, -1, &err));
    } else {
        if (!g_file_get_contents(path, &expected, NULL, &err)) {
            fail_msg("%s (KEMARI_REGENERATE=1 creates it)", err->message);
        }
        assert_string_equal(expected, out->str);
    }
    g_string_free(out, TRUE);
}

/* ------------------------------------------------------------------ */
/* The exhaustive walk */

/* Prepares FSM as if it had reached state S with the given facts. */
static void
force_state(struct vmfsm *fsm, enum vmfsm_state s, enum vmfsm_state resume,
            unsigned facts)
{
    bool paired;

    fsm->state = s;
    fsm->resume_state = resume;
    paired = s != VMFSM_STOPPED && s != VMFSM_UNPROTECTED &&
             !(s == VMFSM_PEER_UNKNOWN && (resume == VMFSM_UNPROTECTED ||
                                           resume == VMFSM_STOPPED));
    fsm->peer_node = paired ? PEER : 0;
    fsm->epoch = 3;
    /* corosync is known to be up in every state but these three: the
     * others move to PEER_UNKNOWN when it goes away */
    if (s == VMFSM_PEER_UNKNOWN) {
        fsm->membership_up = false;
    } else if (s == VMFSM_STOPPED || s == VMFSM_FAILING_OVER) {
        fsm->membership_up = (facts & 1) != 0;
    } else {
        fsm->membership_up = true;
    }
    fsm->quorate = fsm->membership_up && (facts & 2);
    fsm->peer_present = paired && (facts & 4);
    fsm->stream_broken = paired && (facts & 8);
    fsm->peer_released = paired && (facts & 16);
    fsm->protect_wanted = (facts & 32) != 0;
    fsm->peer_fenced = paired && (facts & 64);
}

/* Resume states a PEER_UNKNOWN machine can have. */
static const enum vmfsm_state resumable[] = {
    VMFSM_UNPROTECTED, VMFSM_PAIRING, VMFSM_SYNCING, VMFSM_PROTECTED,
    VMFSM_DEGRADED, VMFSM_INCOMING, VMFSM_RECEIVING, VMFSM_STANDBY,
    VMFSM_PRIMARY_LOST,
};

/* Checks one fed event against its cell and the safety rules. */
static void
check_one(const struct vmfsm_policy *policy, enum vmfsm_state s,
          enum vmfsm_state resume, unsigned facts, enum vmfsm_event ev,
          const struct vmfsm_event_data *d, unsigned *transitions)
{
    g_autoptr(vmfsm) fsm = vmfsm_new("walk", policy);
    struct vmfsm_effects fx;
    struct vmfsm_cell_info ci;
    const char *why = NULL;
    enum vmfsm_result r;
    bool peer_released_before, peer_fenced_before, peer_present_after;
    unsigned i, before = info_count;

    force_state(fsm, s, resume, facts);
    peer_released_before = fsm->peer_released;
    peer_fenced_before = fsm->peer_fenced;
    /* what the membership says about the peer once the event is in */
    peer_present_after = fsm->peer_present;
    if (ev == VMFSM_EV_MEMBERSHIP_REGAINED) {
        peer_present_after = fsm->peer_node != 0 && d->peer_present;
    } else if (ev == VMFSM_EV_PEER_LEFT && d->node == fsm->peer_node) {
        peer_present_after = false;
    } else if (ev == VMFSM_EV_PEER_JOINED && d->node == fsm->peer_node &&
               fsm->peer_node != 0) {
        peer_present_after = true;
    }
    vmfsm_cell_info(s, ev, &ci);
    r = vmfsm_handle(fsm, ev, d, &fx, &why);

    switch (r) {
    case VMFSM_RESULT_TRANSITION:
        assert_int_equal(ci.kind, VMFSM_CELL_HANDLER);
        assert_true(ci.next_mask & (1u << fsm->state));
        assert_null(why);
        /* every transition is logged, in the documented form */
        assert_int_equal(info_count, before + 1);
        {
            g_autofree char *want = g_strdup_printf(
                "vm=walk: %s --%s--> %s", vmfsm_state_name(s),
                vmfsm_event_name(ev), vmfsm_state_name(fsm->state));
            assert_true(g_str_has_prefix(last_info, want));
        }
        (*transitions)++;
        break;
    case VMFSM_RESULT_IGNORED:
        assert_true(ci.kind == VMFSM_CELL_IGNORE ||
                    ci.kind == VMFSM_CELL_HANDLER);
        assert_int_equal(fsm->state, s);
        assert_int_equal(fx.n, 0);
        assert_null(why);
        break;
    case VMFSM_RESULT_REFUSED:
        assert_true(ci.kind == VMFSM_CELL_REFUSE ||
                    ci.kind == VMFSM_CELL_HANDLER);
        assert_int_equal(fsm->state, s);
        assert_int_equal(fx.n, 0);
        assert_non_null(why);
        break;
    default:
        fail_msg("bad result %d", r);
    }

    for (i = 0; i < fx.n; i++) {
        const struct vmfsm_effect *e = &fx.fx[i];

        switch (e->kind) {
        case VMFSM_FX_SEND_PAIR_REQUEST:
        case VMFSM_FX_SEND_PAIR_ACCEPT:
        case VMFSM_FX_SEND_PAIR_REFUSE:
        case VMFSM_FX_SEND_RELEASE:
        case VMFSM_FX_SEND_STOP:
        case VMFSM_FX_SEND_STATE_REPORT:
            /* messages go to a real node, and never while corosync is
             * away (they could not be delivered in order) */
            assert_int_not_equal(e->node, 0);
            if (!fsm->membership_up) {
                fail_msg("%s sent in (%s/%s, %s)", vmfsm_fx_name(e->kind),
                         vmfsm_state_name(s), vmfsm_state_name(resume),
                         vmfsm_event_name(ev));
            }
            break;
        case VMFSM_FX_QEMU_FAILOVER:
            /* never without quorum; pacemaker only on request */
            assert_true(fsm->membership_up && fsm->quorate);
            assert_int_equal(fsm->state, VMFSM_FAILING_OVER);
            if (policy->pacemaker) {
                assert_int_equal(ev, VMFSM_EV_FAILOVER_REQUESTED);
            }
            break;
        case VMFSM_FX_QEMU_CONTINUE_UNPROTECTED:
            /* held outputs released only with the secondary released by
             * it, its node fenced, or (standalone policy only) its node
             * gone from a quorate membership */
            assert_true(peer_released_before || peer_fenced_before ||
                        (ev == VMFSM_EV_PEER_RELEASED && d->node == PEER &&
                         d->epoch == 3) ||
                        (ev == VMFSM_EV_PEER_FENCED && d->node == PEER) ||
                        (!policy->pacemaker && fsm->membership_up &&
                         fsm->quorate && !peer_present_after));
            break;
        case VMFSM_FX_REPROTECT:
            assert_true(fsm->protect_wanted);
            assert_true(policy->reprotect_auto);
            assert_true(fsm->quorate);
            break;
        default:
            break;
        }
    }
    /* a partition without quorum never fails over */
    if (fsm->state == VMFSM_FAILING_OVER && s != VMFSM_FAILING_OVER) {
        assert_true(fsm->quorate);
        assert_true(has_fx(&fx, VMFSM_FX_QEMU_FAILOVER));
    }
    /* no decision at all while corosync is away */
    if (s == VMFSM_PEER_UNKNOWN && ev != VMFSM_EV_MEMBERSHIP_REGAINED) {
        assert_false(has_fx(&fx, VMFSM_FX_QEMU_FAILOVER));
        assert_false(has_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED));
        assert_false(has_fx(&fx, VMFSM_FX_REPROTECT));
    }
}

static void
test_walk_every_pair(void **state)
{
    static const struct vmfsm_policy *policies[] = {
        &standalone_auto, &standalone_manual, &pacemaker_auto,
    };
    unsigned p, s, ev, facts, r, nd, transitions = 0, runs = 0;

    (void)state;
    for (p = 0; p < G_N_ELEMENTS(policies); p++) {
        for (s = 0; s < VMFSM_STATE_COUNT; s++) {
            unsigned nresume = s == VMFSM_PEER_UNKNOWN ?
                               G_N_ELEMENTS(resumable) : 1;

            for (r = 0; r < nresume; r++) {
                enum vmfsm_state resume = s == VMFSM_PEER_UNKNOWN ?
                                          resumable[r] : VMFSM_STOPPED;

                for (facts = 0; facts < 128; facts++) {
                    for (ev = 0; ev < VMFSM_EVENT_COUNT; ev++) {
                        /* data about our peer and pairing, then about
                         * another node with a stale epoch */
                        for (nd = 0; nd < 4; nd++) {
                            struct vmfsm_event_data d = {
                                .node = nd & 1 ? OTHER : PEER,
                                .epoch = nd & 1 ? 2 : 3,
                                .quorate = (nd & 2) != 0,
                                .peer_present = (nd & 2) != 0,
                                .clean = (nd & 2) != 0,
                            };
                            check_one(policies[p], s, resume, facts, ev, &d,
                                      &transitions);
                            runs++;
                        }
                    }
                }
            }
        }
    }
    /* the walk exercised handlers, not just ignores */
    print_message("walk: %u runs, %u transitions\n", runs, transitions);
    assert_true(transitions > runs / 10);
}

/* ------------------------------------------------------------------ */
/* Scenarios */

static void
test_primary_happy_path(void **state)
{
    g_autoptr(vmfsm) fsm = machine(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER };

    (void)state;
    step(fsm, VMFSM_EV_VM_RUNNING, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, -1);
    assert_string_equal(last_info, "vm=web1: STOPPED --vm-running--> "
                        "UNPROTECTED");
    step(fsm, VMFSM_EV_START, &d, VMFSM_PAIRING, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_PAIR_REQUEST, VMFSM_FX_ARM_PAIR_TIMER,
              VMFSM_FX_SEND_STATE_REPORT, -1);
    assert_int_equal(fx.fx[0].node, PEER);
    assert_int_equal(fx.fx[0].epoch, 1);
    assert_int_equal(fsm->epoch, 1);
    d.epoch = 1;
    step(fsm, VMFSM_EV_PEER_ACCEPTED, &d, VMFSM_SYNCING, &fx);
    expect_fx(&fx, VMFSM_FX_DISARM_PAIR_TIMER,
              VMFSM_FX_QEMU_START_PROTECTION, VMFSM_FX_SEND_STATE_REPORT, -1);
    step(fsm, VMFSM_EV_SYNC_DONE, NULL, VMFSM_PROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
    assert_string_equal(last_info, "vm=web1: SYNCING --sync-done--> "
                        "PROTECTED");
    assert_int_equal(vmfsm_role(fsm), VMFSM_ROLE_PRIMARY);
}

static void
test_secondary_happy_path(void **state)
{
    g_autoptr(vmfsm) fsm = machine(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 4 };

    (void)state;
    step(fsm, VMFSM_EV_PAIR_REQUEST, &d, VMFSM_INCOMING, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_START_INCOMING, VMFSM_FX_SEND_STATE_REPORT,
              -1);
    assert_int_equal(fsm->epoch, 4);
    step(fsm, VMFSM_EV_INCOMING_READY, NULL, VMFSM_RECEIVING, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_PAIR_ACCEPT, VMFSM_FX_SEND_STATE_REPORT,
              -1);
    assert_int_equal(fx.fx[0].node, PEER);
    assert_int_equal(fx.fx[0].epoch, 4);
    step(fsm, VMFSM_EV_SYNC_DONE, NULL, VMFSM_STANDBY, &fx);
    assert_int_equal(vmfsm_role(fsm), VMFSM_ROLE_SECONDARY);
}

static void
test_pair_request_stale_epoch_refused(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 5 };
    const char *why = NULL;

    (void)state;
    /* our standby copy quits: the VM's epoch on this node stays 5 */
    step(fsm, VMFSM_EV_PEER_STOP, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_QUIT, -1);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_PAIR_REQUEST, &d, &fx, &why),
                     VMFSM_RESULT_REFUSED);
    assert_string_equal(why, "stale pairing epoch");
    assert_int_equal(fsm->state, VMFSM_STOPPED);
    d.epoch = 6;
    step(fsm, VMFSM_EV_PAIR_REQUEST, &d, VMFSM_INCOMING, &fx);
}

/* Item 5: secondary gone from a quorate membership: continue at once. */
static void
test_secondary_left_quorate_releases(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, VMFSM_FX_REPROTECT,
              -1);
    assert_int_equal(fsm->peer_node, 0);
}

/* Item 5: a partition without quorum never releases held outputs. */
static void
test_secondary_left_without_quorum_holds(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = false };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_DEGRADED, &fx);
    /* nothing to QEMU (the engine keeps holding), nothing to the
     * departed secondary */
    expect_fx(&fx, -1);
    assert_string_equal(last_info, "vm=web1: PROTECTED --peer-left--> "
                        "DEGRADED");
    /* stopping protection would release: refused */
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_STOP_REQUESTED, NULL, &fx,
                                  NULL), VMFSM_RESULT_REFUSED);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_LOST, NULL, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    /* quorum back, secondary still gone: now confirmed */
    step(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, VMFSM_FX_REPROTECT,
              -1);
}

/* Item 5: stream broken but the secondary's node still a member: hold
 * until it is gone or releases; stale releases do not count. */
static void
test_stream_broken_holds_until_release(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_manual);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 0 };

    (void)state;
    step(fsm, VMFSM_EV_STREAM_BROKEN, NULL, VMFSM_DEGRADED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
    /* quorate, but the peer is present: still held */
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, &fx,
                                  NULL), VMFSM_RESULT_TRANSITION);
    assert_int_equal(fsm->state, VMFSM_DEGRADED);
    assert_false(has_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED));
    /* a RELEASE of an older pairing, or from another node: ignored */
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_PEER_RELEASED, &d, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    d.epoch = 1;
    d.node = OTHER;
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_PEER_RELEASED, &d, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    assert_int_equal(fsm->state, VMFSM_DEGRADED);
    /* the real one */
    d.node = PEER;
    step(fsm, VMFSM_EV_PEER_RELEASED, &d, VMFSM_UNPROTECTED, &fx);
    /* manual re-protection: no REPROTECT */
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, -1);
}

/*
 * Pacemaker policy: the secondary's node gone from a quorate membership
 * proves nothing (two_node: its half is quorate too and may fence us and
 * promote it).  Held until its node is fenced; a fencing report about
 * another node changes nothing.
 */
static void
test_secondary_left_pacemaker_waits_for_fencing(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&pacemaker_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_DEGRADED, &fx);
    expect_fx(&fx, -1);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, &fx,
                                  NULL), VMFSM_RESULT_TRANSITION);
    assert_int_equal(fsm->state, VMFSM_DEGRADED);
    assert_false(has_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED));
    d.node = OTHER;
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_PEER_FENCED, &d, &fx, NULL),
                     VMFSM_RESULT_IGNORED);
    assert_int_equal(fsm->state, VMFSM_DEGRADED);
    d.node = PEER;
    step(fsm, VMFSM_EV_PEER_FENCED, &d, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, VMFSM_FX_REPROTECT,
              -1);
    assert_string_equal(last_info, "vm=web1: DEGRADED --peer-fenced--> "
                        "UNPROTECTED");
}

/* Fenced is enough, also before the loss is seen and without quorum. */
static void
test_secondary_fenced_without_quorum_releases(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&pacemaker_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER };

    (void)state;
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_LOST, NULL, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    step(fsm, VMFSM_EV_PEER_FENCED, &d, VMFSM_UNPROTECTED, &fx);
    /* no re-protection without quorum */
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, -1);
}

/* A secondary whose node comes back is told again that we lost it. */
static void
test_degraded_peer_rejoins_gets_report(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = false };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_DEGRADED, &fx);
    step(fsm, VMFSM_EV_PEER_JOINED, &d, VMFSM_DEGRADED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
    assert_int_equal(fx.fx[0].node, PEER);
}

/* Item 5: primary lost, standalone, quorate: fail over on our own. */
static void
test_primary_lost_standalone_quorate(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_FAILING_OVER, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_FAILOVER, -1);
    assert_string_equal(last_info, "vm=web1: STANDBY --peer-left--> "
                        "FAILING_OVER");
    /* Item 6: automatic re-protection after the failover */
    step(fsm, VMFSM_EV_FAILOVER_DONE, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_REPROTECT, -1);
    assert_int_equal(vmfsm_role(fsm), VMFSM_ROLE_PRIMARY);
    /* the take-over has an epoch of its own, above the old pairing's */
    assert_int_equal(fsm->epoch, 6);
    d.node = OTHER;
    step(fsm, VMFSM_EV_ELIGIBLE_NODE, &d, VMFSM_PAIRING, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_PAIR_REQUEST, VMFSM_FX_ARM_PAIR_TIMER,
              VMFSM_FX_SEND_STATE_REPORT, -1);
    assert_int_equal(fx.fx[0].node, OTHER);
    /* the new pairing's epoch is above both */
    assert_int_equal(fx.fx[0].epoch, 7);
}

/* Item 5: no quorum, no failover; quorum back: failover. */
static void
test_primary_lost_without_quorum_waits(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = false };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_PRIMARY_LOST, &fx);
    expect_fx(&fx, -1);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_FAILOVER_REQUESTED, NULL,
                                  &fx, NULL), VMFSM_RESULT_REFUSED);
    step(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, VMFSM_FAILING_OVER, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_FAILOVER, -1);
}

/* Item 5: pacemaker policy never decides on its own. */
static void
test_primary_lost_pacemaker_waits_for_request(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&pacemaker_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };
    const char *why = NULL;

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_PRIMARY_LOST, &fx);
    expect_fx(&fx, -1);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    /* without quorum even Pacemaker's request is refused */
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_LOST, NULL, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_FAILOVER_REQUESTED, NULL,
                                  &fx, &why), VMFSM_RESULT_REFUSED);
    assert_string_equal(why, "this node's partition has no quorum");
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    step(fsm, VMFSM_EV_FAILOVER_REQUESTED, NULL, VMFSM_FAILING_OVER, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_FAILOVER, -1);
}

/* A failover request while the primary is a member is refused. */
static void
test_failover_refused_while_primary_member(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&pacemaker_auto);
    struct vmfsm_effects fx;
    const char *why = NULL;

    (void)state;
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_FAILOVER_REQUESTED, NULL,
                                  &fx, &why), VMFSM_RESULT_REFUSED);
    assert_string_equal(why, "the primary's node is still in the "
                        "membership");
    assert_int_equal(fsm->state, VMFSM_STANDBY);
    assert_string_equal(last_info, "vm=web1: STANDBY: failover-requested "
                        "refused: the primary's node is still in the "
                        "membership");
}

/* Stream broken, primary alive: wait; its DEGRADED report: yield. */
static void
test_secondary_yields_to_degraded_primary(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 5 };

    (void)state;
    step(fsm, VMFSM_EV_STREAM_BROKEN, NULL, VMFSM_PRIMARY_LOST, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
    step(fsm, VMFSM_EV_PEER_DEGRADED, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_QUIT, VMFSM_FX_SEND_RELEASE, -1);
    assert_int_equal(fx.fx[1].node, PEER);
    assert_int_equal(fx.fx[1].epoch, 5);
}

/* The primary's QEMU crashed: it releases; the secondary takes over. */
static void
test_primary_crash_release_failover(void **state)
{
    g_autoptr(vmfsm) pri = protected_primary(&standalone_auto);
    g_autoptr(vmfsm) sec = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .clean = false };

    (void)state;
    step(pri, VMFSM_EV_QEMU_EXITED, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_RELEASE, -1);
    d.node = PEER;
    d.epoch = 5;
    step(sec, VMFSM_EV_PEER_RELEASED, &d, VMFSM_FAILING_OVER, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_FAILOVER, VMFSM_FX_SEND_STATE_REPORT, -1);
}

/* Guest shut down on the primary: the secondary is stopped. */
static void
test_guest_shutdown_stops_pair(void **state)
{
    g_autoptr(vmfsm) pri = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .clean = true };

    (void)state;
    step(pri, VMFSM_EV_QEMU_EXITED, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STOP, -1);
    assert_false(pri->protect_wanted);
}

/* Clean end of protection: STOP first, then x-kemari-stop. */
static void
test_stop_protection_order(void **state)
{
    g_autoptr(vmfsm) pri = protected_primary(&standalone_auto);
    g_autoptr(vmfsm) sec = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .epoch = 5 };
    const char *why = NULL;

    (void)state;
    step(pri, VMFSM_EV_STOP_REQUESTED, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STOP, VMFSM_FX_QEMU_STOP_PROTECTION, -1);
    assert_false(pri->protect_wanted);
    /* no automatic re-protection of a VM whose protection was stopped */
    d.node = OTHER;
    assert_int_equal(vmfsm_handle(pri, VMFSM_EV_ELIGIBLE_NODE, &d, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    assert_int_equal(vmfsm_handle(pri, VMFSM_EV_STOP_REQUESTED, NULL, &fx,
                                  &why), VMFSM_RESULT_REFUSED);
    assert_string_equal(why, "the VM is not protected");
    /* secondary side */
    assert_int_equal(vmfsm_handle(sec, VMFSM_EV_STOP_REQUESTED, NULL, &fx,
                                  NULL), VMFSM_RESULT_REFUSED);
    d.node = PEER;
    step(sec, VMFSM_EV_PEER_STOP, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_QUIT, -1);
}

/* Item 6, manual policy: no automatic pairing, the operator starts it. */
static void
test_reprotect_manual(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_manual);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_FAILING_OVER, &fx);
    step(fsm, VMFSM_EV_FAILOVER_DONE, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, -1);
    d.node = OTHER;
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_ELIGIBLE_NODE, &d, &fx,
                                  NULL), VMFSM_RESULT_IGNORED);
    step(fsm, VMFSM_EV_START, &d, VMFSM_PAIRING, &fx);
    assert_int_equal(fx.fx[0].node, OTHER);
}

/* Pairing times out: the peer is told to stop, another is looked for. */
static void
test_pairing_timeout(void **state)
{
    g_autoptr(vmfsm) fsm = machine(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER };

    (void)state;
    step(fsm, VMFSM_EV_VM_RUNNING, NULL, VMFSM_UNPROTECTED, &fx);
    step(fsm, VMFSM_EV_START, &d, VMFSM_PAIRING, &fx);
    step(fsm, VMFSM_EV_PEER_TIMEOUT, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STOP, VMFSM_FX_REPROTECT, -1);
    assert_int_equal(fx.fx[0].node, PEER);
    assert_int_equal(fsm->peer_node, 0);
}

/* Item 1: corosync away: PEER_UNKNOWN, nothing decided, then resolved. */
static void
test_membership_lost_primary(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .quorate = true, .peer_present = true };
    const char *why = NULL;

    (void)state;
    step(fsm, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    expect_fx(&fx, -1);
    assert_int_equal(vmfsm_role(fsm), VMFSM_ROLE_PRIMARY);
    assert_int_equal(vmfsm_handle(fsm, VMFSM_EV_START, &d, &fx, &why),
                     VMFSM_RESULT_REFUSED);
    assert_string_equal(why, "corosync is unreachable: membership and "
                        "quorum unknown");
    step(fsm, VMFSM_EV_STREAM_BROKEN, NULL, VMFSM_PEER_UNKNOWN, &fx);
    expect_fx(&fx, -1);
    /* back, peer present, stream broken: degraded (held), reported */
    step(fsm, VMFSM_EV_MEMBERSHIP_REGAINED, &d, VMFSM_DEGRADED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
}

static void
test_membership_lost_primary_peer_gone(void **state)
{
    g_autoptr(vmfsm) fsm = protected_primary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .quorate = false, .peer_present = false };

    (void)state;
    step(fsm, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    /* back without quorum: the secondary's absence proves nothing */
    step(fsm, VMFSM_EV_MEMBERSHIP_REGAINED, &d, VMFSM_DEGRADED, &fx);
    assert_false(has_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED));
    step(fsm, VMFSM_EV_QUORUM_REGAINED, NULL, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_CONTINUE_UNPROTECTED, VMFSM_FX_REPROTECT,
              -1);
}

static void
test_membership_lost_secondary(void **state)
{
    g_autoptr(vmfsm) sa = standby_secondary(&standalone_auto);
    g_autoptr(vmfsm) pm = standby_secondary(&pacemaker_auto);
    g_autoptr(vmfsm) sb = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data gone = { .quorate = true };
    struct vmfsm_event_data back = { .quorate = true, .peer_present = true };

    (void)state;
    step(sa, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    assert_int_equal(vmfsm_handle(sa, VMFSM_EV_FAILOVER_REQUESTED, NULL, &fx,
                                  NULL), VMFSM_RESULT_REFUSED);
    step(sa, VMFSM_EV_MEMBERSHIP_REGAINED, &gone, VMFSM_FAILING_OVER, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_FAILOVER, -1);

    step(pm, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    step(pm, VMFSM_EV_MEMBERSHIP_REGAINED, &gone, VMFSM_PRIMARY_LOST, &fx);
    expect_fx(&fx, -1);

    step(sb, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    step(sb, VMFSM_EV_MEMBERSHIP_REGAINED, &back, VMFSM_STANDBY, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STATE_REPORT, -1);
}

/* A pairing interrupted by corosync is restarted when it is back. */
static void
test_membership_lost_while_pairing(void **state)
{
    g_autoptr(vmfsm) fsm = machine(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER };
    struct vmfsm_event_data back = { .quorate = true, .peer_present = true };

    (void)state;
    step(fsm, VMFSM_EV_VM_RUNNING, NULL, VMFSM_UNPROTECTED, &fx);
    step(fsm, VMFSM_EV_START, &d, VMFSM_PAIRING, &fx);
    step(fsm, VMFSM_EV_MEMBERSHIP_LOST, NULL, VMFSM_PEER_UNKNOWN, &fx);
    expect_fx(&fx, VMFSM_FX_DISARM_PAIR_TIMER, -1);
    step(fsm, VMFSM_EV_MEMBERSHIP_REGAINED, &back, VMFSM_UNPROTECTED, &fx);
    expect_fx(&fx, VMFSM_FX_SEND_STOP, VMFSM_FX_REPROTECT, -1);
}

/* A VM that starts while corosync is away is PEER_UNKNOWN too. */
static void
test_vm_running_without_membership(void **state)
{
    g_autoptr(vmfsm) fsm = vmfsm_new("web1", &standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data back = { .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_VM_RUNNING, NULL, VMFSM_PEER_UNKNOWN, &fx);
    step(fsm, VMFSM_EV_MEMBERSHIP_REGAINED, &back, VMFSM_UNPROTECTED, &fx);
    /* never protected: nothing to re-protect */
    expect_fx(&fx, -1);
}

/* The failed take-over leaves the VM stopped, loudly. */
static void
test_failover_failed(void **state)
{
    g_autoptr(vmfsm) fsm = standby_secondary(&standalone_auto);
    struct vmfsm_effects fx;
    struct vmfsm_event_data d = { .node = PEER, .quorate = true };

    (void)state;
    step(fsm, VMFSM_EV_PEER_LEFT, &d, VMFSM_FAILING_OVER, &fx);
    d.reason = "engine: no complete checkpoint";
    step(fsm, VMFSM_EV_FAILOVER_FAILED, &d, VMFSM_STOPPED, &fx);
    expect_fx(&fx, VMFSM_FX_QEMU_QUIT, -1);
    assert_string_equal(last_info, "vm=web1: FAILING_OVER "
                        "--failover-failed--> STOPPED "
                        "(engine: no complete checkpoint)");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_table_total, setup),
        cmocka_unit_test_setup(test_table_golden, setup),
        cmocka_unit_test_setup(test_walk_every_pair, setup),
        cmocka_unit_test_setup(test_primary_happy_path, setup),
        cmocka_unit_test_setup(test_secondary_happy_path, setup),
        cmocka_unit_test_setup(test_pair_request_stale_epoch_refused, setup),
        cmocka_unit_test_setup(test_secondary_left_quorate_releases, setup),
        cmocka_unit_test_setup(test_secondary_left_without_quorum_holds,
                               setup),
        cmocka_unit_test_setup(test_stream_broken_holds_until_release,
                               setup),
        cmocka_unit_test_setup(test_secondary_left_pacemaker_waits_for_fencing,
                               setup),
        cmocka_unit_test_setup(test_secondary_fenced_without_quorum_releases,
                               setup),
        cmocka_unit_test_setup(test_degraded_peer_rejoins_gets_report,
                               setup),
        cmocka_unit_test_setup(test_primary_lost_standalone_quorate, setup),
        cmocka_unit_test_setup(test_primary_lost_without_quorum_waits,
                               setup),
        cmocka_unit_test_setup(test_primary_lost_pacemaker_waits_for_request,
                               setup),
        cmocka_unit_test_setup(test_failover_refused_while_primary_member,
                               setup),
        cmocka_unit_test_setup(test_secondary_yields_to_degraded_primary,
                               setup),
        cmocka_unit_test_setup(test_primary_crash_release_failover, setup),
        cmocka_unit_test_setup(test_guest_shutdown_stops_pair, setup),
        cmocka_unit_test_setup(test_stop_protection_order, setup),
        cmocka_unit_test_setup(test_reprotect_manual, setup),
        cmocka_unit_test_setup(test_pairing_timeout, setup),
        cmocka_unit_test_setup(test_membership_lost_primary, setup),
        cmocka_unit_test_setup(test_membership_lost_primary_peer_gone,
                               setup),
        cmocka_unit_test_setup(test_membership_lost_secondary, setup),
        cmocka_unit_test_setup(test_membership_lost_while_pairing, setup),
        cmocka_unit_test_setup(test_vm_running_without_membership, setup),
        cmocka_unit_test_setup(test_failover_failed, setup),
    };

    return cmocka_run_group_tests_name("kemarid-fsm", tests, NULL, NULL);
}
