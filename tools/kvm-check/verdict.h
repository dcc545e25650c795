/*
 * verdict.h - what kemari-kvm-check observed, and what that means
 *
 * The check is split in two so that kemarid can reuse the judgement:
 *
 *   probe.c    talks to /dev/kvm and fills a struct kvmc_obs with raw
 *              facts (RIPs, exit payloads, dirty bitmaps, saved state);
 *   verdict.c  turns a struct kvmc_obs into one verdict per requirement
 *              and an overall pass/fail, without touching the host.
 *
 * struct kvmc_obs holds no pointers, so a forked prober can send it to
 * its parent through a pipe and a unit test can build one by hand.
 * report.c renders observations plus verdicts as text or JSON; the JSON
 * keys are a stable interface documented in kvm-patches/README.md.
 */
#ifndef KEMARI_KVM_CHECK_VERDICT_H
#define KEMARI_KVM_CHECK_VERDICT_H

#include <stdint.h>

/* Version of the JSON document; bump when a key changes meaning. */
#define KVMC_SCHEMA "kemari-kvm-check/1"

/* How one probe step ended. */
enum kvmc_outcome {
    KVMC_OUT_NOT_RUN = 0,   /* never reached (an earlier step failed) */
    KVMC_OUT_OK,            /* ran to its end; its observations are valid */
    KVMC_OUT_TIMEOUT,       /* KVM_RUN (or the whole step) ran out of time */
    KVMC_OUT_UNSUPPORTED,   /* the kernel lacks the interface (ENOTTY...) */
    KVMC_OUT_ERROR,         /* a call failed or the guest misbehaved */
};

/* The probe steps, in the order probe.c runs them. */
enum kvmc_step_id {
    KVMC_STEP_OPEN = 0,     /* open /dev/kvm, API version, capabilities */
    KVMC_STEP_NATIVE,       /* 64-bit guest: 2^24-iteration loop, timed */
    KVMC_STEP_SETUP,        /* VM, memory slot, vCPU, initial state */
    KVMC_STEP_PIO_OUT,      /* first KVM_RUN: OUT to port 0x500 */
    KVMC_STEP_MMIO_WRITE,   /* byte write to unbacked GPA 0xd000 */
    KVMC_STEP_MMIO_READ,    /* byte read from unbacked GPA 0xd001 */
    KVMC_STEP_PIO_IN,       /* IN from port 0x501 */
    KVMC_STEP_DIRTY_LOG,    /* guest dirties 3 pages, then OUT (checkpoint) */
    KVMC_STEP_SAVE,         /* queue an NMI, save the complete vCPU state */
    KVMC_STEP_RESTORE,      /* second VM, restore everything into it */
    KVMC_STEP_CONTINUE,     /* run both VMs to HLT and compare */
    KVMC_STEP_COUNT
};

/* Result of one step. */
struct kvmc_step {
    enum kvmc_outcome outcome;
    int err;                /* errno of the failing call, 0 if none */
    char msg[160];          /* what failed, for a human; "" when OK */
};

/*
 * One I/O exit provoked by the guest.  RIP values are guest linear
 * addresses (real mode, CS base 0, so equal to IP).
 */
struct kvmc_io_obs {
    int seen;               /* the exit arrived with the expected payload */
    uint32_t exit_reason;   /* KVM_EXIT_* actually returned */
    uint64_t insn_rip;      /* address of the I/O instruction */
    uint64_t next_rip;      /* address of the instruction after it */
    uint64_t rip_at_exit;   /* KVM_GET_REGS right after the exit */
    uint64_t rip_after;     /* KVM_GET_REGS after re-entry with
                             * kvm_run->immediate_exit = 1 */
    int completed;          /* that re-entry returned -EINTR as documented */
    int value_ok;           /* writes: payload matched; reads: the value
                             * supplied by userspace reached the guest */
};

/* Dirty-page logging and the dirty-tracking interfaces the kernel has. */
struct kvmc_dirty_obs {
    int get_dirty_log;      /* KVM_GET_DIRTY_LOG worked on our slot */
    int manual_protect2;    /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (flags) */
    int ring_max_bytes;     /* KVM_CAP_DIRTY_LOG_RING: max ring size, 0 none */
    int ring_acq_rel;       /* KVM_CAP_DIRTY_LOG_RING_ACQ_REL */
    int ring_with_bitmap;   /* KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP */
    int round1_done;        /* round 1 was read */
    uint32_t expected1;     /* round 1: bitmap of pages the guest wrote */
    uint32_t reported1;     /* round 1: bitmap KVM_GET_DIRTY_LOG returned */
    int round2_done;        /* round 2 (after the restore test) was read */
    uint32_t expected2;     /* round 2: pages written again after round 1 */
    uint32_t reported2;     /* round 2: what KVM reported */
};

/* The checkpoint: complete vCPU state saved in VM 1, restored in VM 2. */
struct kvmc_state_obs {
    int have_xsave;         /* KVM_CAP_XSAVE: saved with KVM_GET_XSAVE */
    int have_xcrs;          /* KVM_CAP_XCRS */
    int have_debugregs;     /* KVM_CAP_DEBUGREGS */
    int have_events;        /* KVM_CAP_VCPU_EVENTS */
    int have_user_nmi;      /* KVM_CAP_USER_NMI (KVM_NMI without irqchip) */
    int have_nested_state;  /* KVM_CAP_NESTED_STATE (reported only) */
    int have_tsc_control;   /* KVM_CAP_TSC_CONTROL: KVM_SET_TSC_KHZ */
    int have_tsc_attr;      /* KVM_VCPU_TSC_CTRL attribute (5.16+) */
    int adjust_clock;       /* KVM_CAP_ADJUST_CLOCK: 0 or the flag mask */
    int nmsrs;              /* MSRs saved */
    int nmsrs_restored;     /* of which KVM_SET_MSRS accepted in VM 2 */
    uint32_t tsc_khz;       /* KVM_GET_TSC_KHZ of VM 1's vCPU, 0 unknown */
    int tsc_preset_ok;      /* VM 1 honoured a preset TSC of 2^40 */
    uint64_t tsc_preset_read; /* IA32_TSC read right after presetting it */
    uint64_t tsc_saved;     /* IA32_TSC read at the checkpoint */
    uint64_t tsc_vm1;       /* guest RDTSC in VM 1 after resuming */
    uint64_t tsc_vm2;       /* guest RDTSC in VM 2 after restoring */
    uint64_t tsc_bound;     /* most ticks that may have passed in between */
    int clock_preset_ok;    /* VM 1 honoured KVM_SET_CLOCK(1e15 ns) */
    uint64_t clock_preset_read; /* KVM_GET_CLOCK right after that */
    uint64_t clock_saved;   /* KVM_GET_CLOCK of VM 1 at the checkpoint, ns */
    uint64_t clock_vm2;     /* KVM_GET_CLOCK of VM 2 after KVM_SET_CLOCK */
    uint64_t clock_bound;   /* most ns that may have passed in between */
    int clock_done;         /* the clock part ran */
    int nmi_pending_saved;  /* KVM_GET_VCPU_EVENTS nmi.pending at save */
    int nmi_pending_vm2;    /* the same read back from VM 2 */
    int vm1_nmi_seen;       /* VM 1's NMI handler ran (its OUT was seen) */
    int vm2_nmi_seen;       /* VM 2's NMI handler ran */
    int nexits_vm1;         /* exits VM 1 made after the checkpoint */
    int nexits_vm2;         /* exits VM 2 made after the restore */
    int seq_equal;          /* both made the same exits (TSC data aside) */
    int regs_equal;         /* general registers equal at HLT */
    int mem_equal;          /* guest RAM equal at HLT */
    char mismatch[160];     /* first difference found, "" if none */
};

/* Everything the check observed; zero-initialise before probing. */
struct kvmc_obs {
    int device_present;     /* the device node exists */
    int api_version;        /* KVM_GET_API_VERSION, -1 if not read */
    int immediate_exit;     /* KVM_CAP_IMMEDIATE_EXIT */
    char backend[32];       /* kvm_intel, kvm_amd, kvm_pvm, ... or "" */
    char kernel[65];        /* uname -r */
    enum kvmc_step_id current_step;  /* step running (or last run) */
    struct kvmc_step steps[KVMC_STEP_COUNT];
    int native_done;        /* the 64-bit loop reached its OUT */
    uint32_t native_ms;     /* how long it took (ms) */
    uint32_t native_budget_ms; /* how long it was allowed */
    int first_exit_seen;    /* the guest reached its first exit */
    uint32_t first_exit_reason; /* KVM_EXIT_* of that first exit */
    struct kvmc_io_obs pio_out;     /* OUT dx, al to 0x500 */
    struct kvmc_io_obs mmio_write;  /* mov byte [0xd000], 0xa5 */
    struct kvmc_io_obs mmio_read;   /* mov al, [0xd001] */
    struct kvmc_io_obs pio_in;      /* IN al, dx from 0x501 */
    struct kvmc_io_obs pio_out2;    /* OUT dx, ax to 0x502 (checkpoint) */
    struct kvmc_dirty_obs dirty;
    struct kvmc_state_obs state;
};

/* The requirements, in report order.  Keys are stable (JSON). */
enum kvmc_req_id {
    KVMC_REQ_KVM_DEVICE = 0,
    KVMC_REQ_GUEST_EXECUTION,
    KVMC_REQ_PIO_COMPLETION,
    KVMC_REQ_MMIO_COMPLETION,
    KVMC_REQ_DIRTY_LOG,
    KVMC_REQ_DIRTY_INTERFACES,
    KVMC_REQ_VCPU_STATE,
    KVMC_REQ_TSC,
    KVMC_REQ_KVMCLOCK,
    KVMC_REQ_PENDING_EVENTS,
    KVMC_REQ_COUNT
};

/* The verdict on one requirement. */
enum kvmc_verdict {
    KVMC_V_PASS = 0,        /* shown to work */
    KVMC_V_FAIL,            /* shown not to work */
    KVMC_V_TIMEOUT,         /* the backend did not answer in time */
    KVMC_V_UNSUPPORTED,     /* the kernel lacks the interface */
    KVMC_V_NOT_RUN,         /* could not be tested: an earlier step failed */
};

/* One judged requirement. */
struct kvmc_req_result {
    enum kvmc_verdict verdict;
    char detail[256];       /* one line saying why */
};

/* All verdicts plus the overall answer. */
struct kvmc_result {
    struct kvmc_req_result req[KVMC_REQ_COUNT];
    int pass;               /* 1 iff every required requirement passed */
    char summary[256];      /* one line for `kemari status` */
};

/* Where RIP stood at an I/O exit, relative to the instruction. */
enum kvmc_rip_pos {
    KVMC_RIP_UNKNOWN = 0,   /* no exit seen */
    KVMC_RIP_AT_INSN,       /* on the instruction (completed on re-entry) */
    KVMC_RIP_PAST_INSN,     /* already past it */
    KVMC_RIP_OTHER,         /* somewhere else: KVM or backend bug */
};

/*
 * Judge observations.  Pure: reads obs, writes res, no I/O.  Returns
 * res->pass (1 if the host can run Kemari-protected KVM guests).
 */
int kvmc_evaluate(const struct kvmc_obs *obs, struct kvmc_result *res);

/* Stable key of a requirement ("pio_exit_completion"), never NULL. */
const char *kvmc_req_key(enum kvmc_req_id id);
/* One-line description of a requirement, for humans. */
const char *kvmc_req_title(enum kvmc_req_id id);
/* 1 if the engine depends on the requirement (it decides pass/fail). */
int kvmc_req_required(enum kvmc_req_id id);
/* Stable verdict word: "pass", "fail", "timeout", "unsupported", "not_run". */
const char *kvmc_verdict_name(enum kvmc_verdict v);
/* Stable step key ("pio_out") and outcome word ("ok", "timeout", ...). */
const char *kvmc_step_key(enum kvmc_step_id id);
const char *kvmc_outcome_name(enum kvmc_outcome o);
/* Classify where RIP stood at an exit; stable words via kvmc_rip_pos_name. */
enum kvmc_rip_pos kvmc_rip_position(const struct kvmc_io_obs *io);
const char *kvmc_rip_pos_name(enum kvmc_rip_pos pos);

#endif /* KEMARI_KVM_CHECK_VERDICT_H */
