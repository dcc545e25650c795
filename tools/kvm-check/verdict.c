/*
 * verdict.c - judge what kemari-kvm-check observed (see verdict.h)
 *
 * Nothing here touches the host: every function reads a struct kvmc_obs
 * and writes strings or verdicts, so the unit tests can feed it any
 * combination of facts, including ones no real host produces.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "verdict.h"

/* Exit reasons we name in messages (values from <linux/kvm.h>). */
#define KVMC_EXIT_IO 2
#define KVMC_EXIT_MMIO 6

/* Static facts about each requirement. */
struct kvmc_req_info {
    const char *key;        /* stable JSON key */
    const char *title;      /* what it means, for humans */
    int required;           /* the engine depends on it */
};

static const struct kvmc_req_info kvmc_reqs[KVMC_REQ_COUNT] = {
    [KVMC_REQ_KVM_DEVICE] = {
        "kvm_device", "/dev/kvm opens and creates VMs and vCPUs", 1 },
    [KVMC_REQ_GUEST_EXECUTION] = {
        "guest_execution", "an ordinary 64-bit guest runs at hardware speed",
        1 },
    [KVMC_REQ_PIO_COMPLETION] = {
        "pio_exit_completion",
        "port I/O exits complete on re-entry, no further guest code", 1 },
    [KVMC_REQ_MMIO_COMPLETION] = {
        "mmio_exit_completion",
        "MMIO exits complete on re-entry, no further guest code", 1 },
    [KVMC_REQ_DIRTY_LOG] = {
        "dirty_log", "KVM_GET_DIRTY_LOG reports every page the guest wrote",
        1 },
    [KVMC_REQ_DIRTY_INTERFACES] = {
        "dirty_tracking_interfaces",
        "dirty-tracking interfaces offered (information)", 0 },
    [KVMC_REQ_VCPU_STATE] = {
        "vcpu_state_restore",
        "complete vCPU state restores into a new VM and runs on identically",
        1 },
    [KVMC_REQ_TSC] = {
        "tsc", "guest TSC is saved and restored without going back", 1 },
    [KVMC_REQ_KVMCLOCK] = {
        "kvmclock", "KVM_GET_CLOCK/KVM_SET_CLOCK carry kvmclock across", 1 },
    [KVMC_REQ_PENDING_EVENTS] = {
        "pending_events",
        "a pending NMI survives save/restore and is delivered", 1 },
};

static const char *const kvmc_step_keys[KVMC_STEP_COUNT] = {
    [KVMC_STEP_OPEN] = "open",
    [KVMC_STEP_NATIVE] = "native",
    [KVMC_STEP_SETUP] = "setup",
    [KVMC_STEP_PIO_OUT] = "pio_out",
    [KVMC_STEP_MMIO_WRITE] = "mmio_write",
    [KVMC_STEP_MMIO_READ] = "mmio_read",
    [KVMC_STEP_PIO_IN] = "pio_in",
    [KVMC_STEP_DIRTY_LOG] = "dirty_log",
    [KVMC_STEP_SAVE] = "save",
    [KVMC_STEP_RESTORE] = "restore",
    [KVMC_STEP_CONTINUE] = "continue",
};

const char *
kvmc_req_key(enum kvmc_req_id id)
{
    if ((unsigned)id >= KVMC_REQ_COUNT) {
        return "unknown";
    }
    return kvmc_reqs[id].key;
}

const char *
kvmc_req_title(enum kvmc_req_id id)
{
    if ((unsigned)id >= KVMC_REQ_COUNT) {
        return "unknown";
    }
    return kvmc_reqs[id].title;
}

int
kvmc_req_required(enum kvmc_req_id id)
{
    if ((unsigned)id >= KVMC_REQ_COUNT) {
        return 0;
    }
    return kvmc_reqs[id].required;
}

const char *
kvmc_verdict_name(enum kvmc_verdict v)
{
    switch (v) {
    case KVMC_V_PASS:
        return "pass";
    case KVMC_V_FAIL:
        return "fail";
    case KVMC_V_TIMEOUT:
        return "timeout";
    case KVMC_V_UNSUPPORTED:
        return "unsupported";
    case KVMC_V_NOT_RUN:
        return "not_run";
    }
    return "fail";
}

const char *
kvmc_step_key(enum kvmc_step_id id)
{
    if ((unsigned)id >= KVMC_STEP_COUNT) {
        return "unknown";
    }
    return kvmc_step_keys[id];
}

const char *
kvmc_outcome_name(enum kvmc_outcome o)
{
    switch (o) {
    case KVMC_OUT_NOT_RUN:
        return "not_run";
    case KVMC_OUT_OK:
        return "ok";
    case KVMC_OUT_TIMEOUT:
        return "timeout";
    case KVMC_OUT_UNSUPPORTED:
        return "unsupported";
    case KVMC_OUT_ERROR:
        return "error";
    }
    return "error";
}

enum kvmc_rip_pos
kvmc_rip_position(const struct kvmc_io_obs *io)
{
    if (!io->seen) {
        return KVMC_RIP_UNKNOWN;
    }
    if (io->rip_at_exit == io->insn_rip) {
        return KVMC_RIP_AT_INSN;
    }
    if (io->rip_at_exit == io->next_rip) {
        return KVMC_RIP_PAST_INSN;
    }
    return KVMC_RIP_OTHER;
}

const char *
kvmc_rip_pos_name(enum kvmc_rip_pos pos)
{
    switch (pos) {
    case KVMC_RIP_UNKNOWN:
        return "unknown";
    case KVMC_RIP_AT_INSN:
        return "at_instruction";
    case KVMC_RIP_PAST_INSN:
        return "past_instruction";
    case KVMC_RIP_OTHER:
        return "other";
    }
    return "unknown";
}

/* Set a requirement's verdict and printf-formatted detail. */
static void kvmc_set(struct kvmc_req_result *r, enum kvmc_verdict v,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
kvmc_set(struct kvmc_req_result *r, enum kvmc_verdict v,
         const char *fmt, ...)
{
    va_list ap;

    r->verdict = v;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

/* The first step, in probe order, that did not end OK; COUNT if none. */
static enum kvmc_step_id
kvmc_first_bad_step(const struct kvmc_obs *obs)
{
    int i;

    for (i = 0; i < KVMC_STEP_COUNT; i++) {
        if (obs->steps[i].outcome != KVMC_OUT_OK) {
            return (enum kvmc_step_id)i;
        }
    }
    return KVMC_STEP_COUNT;
}

/*
 * If any of the steps a requirement needs (a list ending in
 * KVMC_STEP_COUNT) did not end OK, give the requirement the matching
 * verdict and return 1; return 0 if they all ran and the caller should
 * judge their observations.
 */
static int
kvmc_steps_blocked(const struct kvmc_obs *obs, struct kvmc_req_result *r,
                   const enum kvmc_step_id *needed)
{
    const struct kvmc_step *st;
    enum kvmc_step_id bad;
    int i;

    for (i = 0; needed[i] != KVMC_STEP_COUNT; i++) {
        st = &obs->steps[needed[i]];
        switch (st->outcome) {
        case KVMC_OUT_OK:
            continue;
        case KVMC_OUT_TIMEOUT:
            kvmc_set(r, KVMC_V_TIMEOUT, "step %s timed out: %s",
                     kvmc_step_key(needed[i]), st->msg);
            return 1;
        case KVMC_OUT_UNSUPPORTED:
            kvmc_set(r, KVMC_V_UNSUPPORTED, "step %s: %s",
                     kvmc_step_key(needed[i]), st->msg);
            return 1;
        case KVMC_OUT_ERROR:
            kvmc_set(r, KVMC_V_FAIL, "step %s failed: %s",
                     kvmc_step_key(needed[i]), st->msg);
            return 1;
        case KVMC_OUT_NOT_RUN:
            bad = kvmc_first_bad_step(obs);
            if (bad < KVMC_STEP_COUNT) {
                kvmc_set(r, KVMC_V_NOT_RUN,
                         "not tested: step %s ended %s",
                         kvmc_step_key(bad),
                         kvmc_outcome_name(obs->steps[bad].outcome));
            } else {
                kvmc_set(r, KVMC_V_NOT_RUN, "not tested");
            }
            return 1;
        }
    }
    return 0;
}

/*
 * Judge one I/O exit.  Kemari checkpoints only with every vCPU outside
 * KVM_RUN after QEMU re-entered once with immediate_exit (that is how
 * QEMU completes a pending exit before vm_stop returns), so what must
 * hold is: the exit carried the right payload, re-entry completed the
 * instruction (RIP on the next one, read data in the register) and ran
 * nothing more.  Where RIP stood at the exit itself differs between
 * KVM's fast and emulated paths and is only reported.  Returns 1 if the
 * exit is acceptable, else 0 with *why filled in.
 */
static int
kvmc_io_ok(const struct kvmc_io_obs *io, const char *name, char *why,
           size_t whylen)
{
    if (!io->seen) {
        snprintf(why, whylen, "%s: expected exit not seen (got exit %u)",
                 name, io->exit_reason);
        return 0;
    }
    if (kvmc_rip_position(io) == KVMC_RIP_OTHER) {
        snprintf(why, whylen,
                 "%s: RIP 0x%llx at the exit is neither the instruction "
                 "(0x%llx) nor the next one (0x%llx)", name,
                 (unsigned long long)io->rip_at_exit,
                 (unsigned long long)io->insn_rip,
                 (unsigned long long)io->next_rip);
        return 0;
    }
    if (!io->completed) {
        snprintf(why, whylen,
                 "%s: re-entry with immediate_exit did not return EINTR",
                 name);
        return 0;
    }
    if (io->rip_after != io->next_rip) {
        snprintf(why, whylen,
                 "%s: after completing re-entry RIP is 0x%llx, expected "
                 "0x%llx (the next instruction)", name,
                 (unsigned long long)io->rip_after,
                 (unsigned long long)io->next_rip);
        return 0;
    }
    if (!io->value_ok) {
        snprintf(why, whylen, "%s: data did not reach its destination",
                 name);
        return 0;
    }
    return 1;
}

/* Judge a list of I/O exits for one requirement. */
static void
kvmc_judge_io(struct kvmc_req_result *r, const struct kvmc_io_obs *const *ios,
              const char *const *names, int n)
{
    char why[200];
    char where[200];
    size_t len = 0;
    int i;

    where[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!kvmc_io_ok(ios[i], names[i], why, sizeof(why))) {
            kvmc_set(r, KVMC_V_FAIL, "%s", why);
            return;
        }
        if (len < sizeof(where)) {
            len += (size_t)snprintf(where + len, sizeof(where) - len,
                                    "%s%s RIP %s", i ? ", " : "", names[i],
                                    kvmc_rip_pos_name(
                                        kvmc_rip_position(ios[i])));
        }
    }
    kvmc_set(r, KVMC_V_PASS,
             "completed on re-entry with immediate_exit; at the exit: %s",
             where);
}

/* List the pages set in a bitmap as "3,5,9" (or "none"). */
static void
kvmc_pages(uint32_t bits, char *buf, size_t len)
{
    size_t off = 0;
    int i;

    buf[0] = '\0';
    if (!bits) {
        snprintf(buf, len, "none");
        return;
    }
    for (i = 0; i < 32 && off < len; i++) {
        if (bits & (1u << i)) {
            off += (size_t)snprintf(buf + off, len - off, "%s%d",
                                    off ? "," : "", i);
        }
    }
}

static void
kvmc_judge_dirty(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_OPEN, KVMC_STEP_SETUP, KVMC_STEP_DIRTY_LOG, KVMC_STEP_COUNT
    };
    const struct kvmc_dirty_obs *d = &obs->dirty;
    uint32_t missing, extra;
    char a[64], b[64];

    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (!d->round1_done) {
        kvmc_set(r, KVMC_V_FAIL, "dirty log was not read");
        return;
    }
    missing = d->expected1 & ~d->reported1;
    if (missing) {
        kvmc_pages(missing, a, sizeof(a));
        kvmc_pages(d->reported1, b, sizeof(b));
        kvmc_set(r, KVMC_V_FAIL, "pages written but not reported: %s "
                 "(reported: %s)", a, b);
        return;
    }
    if (!d->round2_done) {
        static const enum kvmc_step_id later[] = {
            KVMC_STEP_CONTINUE, KVMC_STEP_COUNT
        };
        if (kvmc_steps_blocked(obs, r, later)) {
            return;
        }
        kvmc_set(r, KVMC_V_FAIL, "second dirty-log round was not read");
        return;
    }
    missing = d->expected2 & ~d->reported2;
    if (missing) {
        kvmc_pages(missing, a, sizeof(a));
        kvmc_set(r, KVMC_V_FAIL, "pages written again after a read were "
                 "not reported again: %s (write protection not re-armed)",
                 a);
        return;
    }
    extra = (d->reported1 & ~d->expected1) | (d->reported2 & ~d->expected2);
    kvmc_pages(d->reported1, a, sizeof(a));
    kvmc_pages(d->reported2, b, sizeof(b));
    if (extra) {
        kvmc_set(r, KVMC_V_PASS, "every written page reported (rounds: "
                 "%s / %s), plus pages the guest did not write: harmless, "
                 "they are only sent again", a, b);
    } else {
        kvmc_set(r, KVMC_V_PASS, "exactly the written pages reported "
                 "(rounds: %s / %s)", a, b);
    }
}

static void
kvmc_judge_dirty_ifaces(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_OPEN, KVMC_STEP_COUNT
    };
    const struct kvmc_dirty_obs *d = &obs->dirty;
    char ring[80];

    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (d->ring_max_bytes > 0) {
        snprintf(ring, sizeof(ring), "up to %d bytes%s%s", d->ring_max_bytes,
                 d->ring_acq_rel ? ", acq_rel" : "",
                 d->ring_with_bitmap ? ", with_bitmap" : "");
    } else {
        snprintf(ring, sizeof(ring), "no");
    }
    if (!d->get_dirty_log && d->ring_max_bytes <= 0) {
        kvmc_set(r, KVMC_V_UNSUPPORTED, "no dirty-tracking interface");
        return;
    }
    kvmc_set(r, KVMC_V_PASS, "KVM_GET_DIRTY_LOG %s, KVM_CLEAR_DIRTY_LOG %s "
             "(flags 0x%x), dirty ring %s",
             d->get_dirty_log ? "yes" : "not shown",
             d->manual_protect2 ? "yes" : "no",
             (unsigned)d->manual_protect2, ring);
}

static void
kvmc_judge_state(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_SAVE, KVMC_STEP_RESTORE, KVMC_STEP_CONTINUE, KVMC_STEP_COUNT
    };
    const struct kvmc_state_obs *s = &obs->state;

    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (s->nmsrs_restored != s->nmsrs) {
        kvmc_set(r, KVMC_V_FAIL, "only %d of %d saved MSRs restored",
                 s->nmsrs_restored, s->nmsrs);
        return;
    }
    if (!s->seq_equal || !s->regs_equal || !s->mem_equal) {
        kvmc_set(r, KVMC_V_FAIL, "restored VM diverged: %s",
                 s->mismatch[0] ? s->mismatch : "(no detail)");
        return;
    }
    kvmc_set(r, KVMC_V_PASS, "regs, sregs, %s%s%s, %d MSRs, events, "
             "mp_state restored; %d identical exits to HLT",
             s->have_xsave ? "xsave" : "fpu",
             s->have_xcrs ? ", xcrs" : "",
             s->have_debugregs ? ", debugregs" : "",
             s->nmsrs, s->nexits_vm2);
}

static void
kvmc_judge_tsc(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_SETUP, KVMC_STEP_SAVE, KVMC_STEP_RESTORE,
        KVMC_STEP_CONTINUE, KVMC_STEP_COUNT
    };
    const struct kvmc_state_obs *s = &obs->state;

    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (!s->tsc_preset_ok) {
        kvmc_set(r, KVMC_V_FAIL, "KVM_SET_MSRS(IA32_TSC) was not honoured: "
                 "wrote %llu, read back %llu",
                 (unsigned long long)(1ULL << 40),
                 (unsigned long long)s->tsc_preset_read);
        return;
    }
    if (s->tsc_vm2 < s->tsc_saved) {
        kvmc_set(r, KVMC_V_FAIL, "restored guest's TSC went back: saved "
                 "%llu, guest read %llu", (unsigned long long)s->tsc_saved,
                 (unsigned long long)s->tsc_vm2);
        return;
    }
    if (s->tsc_vm2 - s->tsc_saved > s->tsc_bound) {
        kvmc_set(r, KVMC_V_FAIL, "restored guest's TSC jumped ahead by "
                 "%llu ticks (at most %llu expected)",
                 (unsigned long long)(s->tsc_vm2 - s->tsc_saved),
                 (unsigned long long)s->tsc_bound);
        return;
    }
    kvmc_set(r, KVMC_V_PASS, "TSC carried over (+%llu ticks, bound %llu); "
             "tsc_khz %u; KVM_SET_TSC_KHZ %s; KVM_VCPU_TSC_OFFSET %s",
             (unsigned long long)(s->tsc_vm2 - s->tsc_saved),
             (unsigned long long)s->tsc_bound, (unsigned)s->tsc_khz,
             s->have_tsc_control ? "yes" : "no",
             s->have_tsc_attr ? "yes" : "no");
}

static void
kvmc_judge_clock(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_SETUP, KVMC_STEP_SAVE, KVMC_STEP_RESTORE, KVMC_STEP_COUNT
    };
    const struct kvmc_state_obs *s = &obs->state;

    if (obs->steps[KVMC_STEP_OPEN].outcome == KVMC_OUT_OK &&
        !s->adjust_clock) {
        kvmc_set(r, KVMC_V_UNSUPPORTED, "KVM_CAP_ADJUST_CLOCK missing");
        return;
    }
    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (!s->clock_preset_ok) {
        kvmc_set(r, KVMC_V_FAIL, "KVM_SET_CLOCK was not honoured: set "
                 "1000000000000000 ns, read back %llu",
                 (unsigned long long)s->clock_preset_read);
        return;
    }
    if (!s->clock_done) {
        kvmc_set(r, KVMC_V_FAIL, "kvmclock was not restored");
        return;
    }
    if (s->clock_vm2 < s->clock_saved ||
        s->clock_vm2 - s->clock_saved > s->clock_bound) {
        kvmc_set(r, KVMC_V_FAIL, "kvmclock not carried over: saved %llu ns, "
                 "new VM reads %llu ns (bound +%llu)",
                 (unsigned long long)s->clock_saved,
                 (unsigned long long)s->clock_vm2,
                 (unsigned long long)s->clock_bound);
        return;
    }
    kvmc_set(r, KVMC_V_PASS, "kvmclock carried over (+%llu ns); flags "
             "0x%x%s", (unsigned long long)(s->clock_vm2 - s->clock_saved),
             (unsigned)s->adjust_clock,
             (s->adjust_clock & 0x4) ? " (KVM_CLOCK_REALTIME)" : "");
}

static void
kvmc_judge_events(const struct kvmc_obs *obs, struct kvmc_req_result *r)
{
    static const enum kvmc_step_id needed[] = {
        KVMC_STEP_SAVE, KVMC_STEP_RESTORE, KVMC_STEP_CONTINUE, KVMC_STEP_COUNT
    };
    const struct kvmc_state_obs *s = &obs->state;

    if (obs->steps[KVMC_STEP_OPEN].outcome == KVMC_OUT_OK) {
        if (!s->have_events) {
            kvmc_set(r, KVMC_V_UNSUPPORTED, "KVM_CAP_VCPU_EVENTS missing");
            return;
        }
        if (!s->have_user_nmi) {
            kvmc_set(r, KVMC_V_UNSUPPORTED, "KVM_CAP_USER_NMI missing");
            return;
        }
    }
    if (kvmc_steps_blocked(obs, r, needed)) {
        return;
    }
    if (!s->nmi_pending_saved) {
        kvmc_set(r, KVMC_V_FAIL, "queued NMI not shown as pending by "
                 "KVM_GET_VCPU_EVENTS");
        return;
    }
    if (!s->nmi_pending_vm2) {
        kvmc_set(r, KVMC_V_FAIL, "KVM_SET_VCPU_EVENTS dropped the pending "
                 "NMI");
        return;
    }
    if (!s->vm1_nmi_seen) {
        kvmc_set(r, KVMC_V_FAIL, "original VM never delivered the NMI");
        return;
    }
    if (!s->vm2_nmi_seen) {
        kvmc_set(r, KVMC_V_FAIL, "restored VM never delivered the pending "
                 "NMI");
        return;
    }
    kvmc_set(r, KVMC_V_PASS, "pending NMI saved, restored and delivered in "
             "both VMs");
}

int
kvmc_evaluate(const struct kvmc_obs *obs, struct kvmc_result *res)
{
    static const enum kvmc_step_id dev_steps[] = {
        KVMC_STEP_OPEN, KVMC_STEP_SETUP, KVMC_STEP_COUNT
    };
    static const enum kvmc_step_id native_steps[] = {
        KVMC_STEP_OPEN, KVMC_STEP_NATIVE, KVMC_STEP_COUNT
    };
    static const enum kvmc_step_id pio_steps[] = {
        KVMC_STEP_PIO_OUT, KVMC_STEP_PIO_IN, KVMC_STEP_DIRTY_LOG,
        KVMC_STEP_COUNT
    };
    static const enum kvmc_step_id mmio_steps[] = {
        KVMC_STEP_MMIO_WRITE, KVMC_STEP_MMIO_READ, KVMC_STEP_COUNT
    };
    static const char *const pio_names[] = { "OUT", "IN", "OUT (2 bytes)" };
    static const char *const mmio_names[] = { "MMIO write", "MMIO read" };
    const struct kvmc_io_obs *pios[3];
    const struct kvmc_io_obs *mmios[2];
    struct kvmc_req_result *r;
    const char *first_bad = NULL;
    int nbad = 0;
    int i;

    memset(res, 0, sizeof(*res));

    /* kvm_device */
    r = &res->req[KVMC_REQ_KVM_DEVICE];
    if (!obs->device_present) {
        kvmc_set(r, KVMC_V_FAIL, "no KVM device node");
    } else if (!kvmc_steps_blocked(obs, r, dev_steps)) {
        kvmc_set(r, KVMC_V_PASS, "API version %d, backend %s, VM and vCPU "
                 "created", obs->api_version,
                 obs->backend[0] ? obs->backend : "unknown");
    }

    /*
     * guest_execution: a 64-bit guest must run natively.  A backend that
     * emulates every instruction passes the functional tests below but
     * cannot boot a real guest in any useful time.
     */
    r = &res->req[KVMC_REQ_GUEST_EXECUTION];
    if (obs->steps[KVMC_STEP_NATIVE].outcome == KVMC_OUT_TIMEOUT) {
        kvmc_set(r, KVMC_V_TIMEOUT, "a 64-bit guest did not finish %u loop "
                 "iterations within %u ms (hardware needs about 10 ms): "
                 "the %s backend emulates guest instructions instead of "
                 "running them", 1u << 24, obs->native_budget_ms,
                 obs->backend[0] ? obs->backend : "KVM");
    } else if (!kvmc_steps_blocked(obs, r, native_steps)) {
        if (!obs->native_done) {
            kvmc_set(r, KVMC_V_FAIL, "64-bit loop did not report back");
        } else if (obs->first_exit_seen &&
                   obs->first_exit_reason != KVMC_EXIT_IO) {
            kvmc_set(r, KVMC_V_FAIL, "real-mode guest did not run: first "
                     "exit was reason %u, expected KVM_EXIT_IO (%d)",
                     obs->first_exit_reason, KVMC_EXIT_IO);
        } else {
            kvmc_set(r, KVMC_V_PASS, "64-bit guest ran %u loop iterations "
                     "in %u ms", 1u << 24, obs->native_ms);
        }
    }

    /* pio_exit_completion */
    r = &res->req[KVMC_REQ_PIO_COMPLETION];
    if (obs->steps[KVMC_STEP_OPEN].outcome == KVMC_OUT_OK &&
        !obs->immediate_exit) {
        kvmc_set(r, KVMC_V_UNSUPPORTED, "KVM_CAP_IMMEDIATE_EXIT missing: "
                 "pending I/O cannot be completed without running the "
                 "guest");
    } else if (!kvmc_steps_blocked(obs, r, pio_steps)) {
        pios[0] = &obs->pio_out;
        pios[1] = &obs->pio_in;
        pios[2] = &obs->pio_out2;
        kvmc_judge_io(r, pios, pio_names, 3);
    }

    /* mmio_exit_completion */
    r = &res->req[KVMC_REQ_MMIO_COMPLETION];
    if (obs->steps[KVMC_STEP_OPEN].outcome == KVMC_OUT_OK &&
        !obs->immediate_exit) {
        kvmc_set(r, KVMC_V_UNSUPPORTED, "KVM_CAP_IMMEDIATE_EXIT missing");
    } else if (!kvmc_steps_blocked(obs, r, mmio_steps)) {
        mmios[0] = &obs->mmio_write;
        mmios[1] = &obs->mmio_read;
        kvmc_judge_io(r, mmios, mmio_names, 2);
    }

    kvmc_judge_dirty(obs, &res->req[KVMC_REQ_DIRTY_LOG]);
    kvmc_judge_dirty_ifaces(obs, &res->req[KVMC_REQ_DIRTY_INTERFACES]);
    kvmc_judge_state(obs, &res->req[KVMC_REQ_VCPU_STATE]);
    kvmc_judge_tsc(obs, &res->req[KVMC_REQ_TSC]);
    kvmc_judge_clock(obs, &res->req[KVMC_REQ_KVMCLOCK]);
    kvmc_judge_events(obs, &res->req[KVMC_REQ_PENDING_EVENTS]);

    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        if (kvmc_reqs[i].required && res->req[i].verdict != KVMC_V_PASS) {
            if (!first_bad) {
                first_bad = kvmc_reqs[i].key;
            }
            nbad++;
        }
    }
    res->pass = nbad == 0;
    if (res->pass) {
        snprintf(res->summary, sizeof(res->summary),
                 "this host can run Kemari-protected guests with KVM "
                 "acceleration");
    } else {
        snprintf(res->summary, sizeof(res->summary),
                 "this host cannot run Kemari-protected guests with KVM "
                 "acceleration: %d requirement%s not met (first: %s)",
                 nbad, nbad == 1 ? "" : "s", first_bad);
    }
    return res->pass;
}
