/*
 * probe.c - the KVM experiments of kemari-kvm-check (see probe.h)
 *
 * Sequence (guest.h has the guest's side):
 *
 *   open      /dev/kvm, API version, capabilities, backend module
 *   setup     VM 1: RAM slot with dirty logging, vCPU in real mode,
 *             TSC preset to 2^40 and kvmclock to 1e15 ns so that a
 *             restore that forgets them is visible
 *   pio_out .. pio_in
 *             one exit each; at every exit: RIP from KVM_GET_REGS, then
 *             re-entry with immediate_exit = 1 (how QEMU completes a
 *             pending exit before stopping a vCPU), then RIP again
 *   dirty_log the guest writes pages 3, 5, 9 and exits (the checkpoint);
 *             KVM_GET_DIRTY_LOG must report them
 *   save      KVM_NMI, then everything QEMU saves for a vCPU
 *   restore   VM 2 gets a copy of RAM and all that state
 *   continue  both VMs run to HLT; their exits, registers and RAM are
 *             compared; VM 1's second dirty-log round is read
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "guest.h"
#include "probe.h"

/* Capabilities newer than the oldest headers we build against. */
#ifndef KVM_CAP_DIRTY_LOG_RING
#define KVM_CAP_DIRTY_LOG_RING 192
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif
#ifndef KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
#define KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 168
#endif
#ifndef KVM_VCPU_TSC_CTRL
#define KVM_VCPU_TSC_CTRL 0
#define KVM_VCPU_TSC_OFFSET 0
#endif

#define KVMC_MSR_IA32_TSC 0x10
#define KVMC_TSC_PRESET (1ULL << 40)        /* far from a new VM's 0 */
#define KVMC_CLOCK_PRESET 1000000000000000ULL /* 1e15 ns, about 11 days */
#define KVMC_TSS_ADDR 0xfffbd000UL          /* as QEMU/kvmtool: real mode
                                             * on VMX without unrestricted
                                             * guest needs a TSS */
#define KVMC_MAX_EXITS 8                    /* per VM after the checkpoint */
#define KVMC_SLACK_NS 200000000ULL          /* 200 ms of scheduling slack */

/*
 * MSRs saved with the vCPU, the architectural ones QEMU saves for every
 * x86 guest.  Those KVM_GET_MSRS refuses are skipped; IA32_TSC is
 * mandatory.
 */
static const uint32_t kvmc_msr_list[] = {
    KVMC_MSR_IA32_TSC,
    0x174, 0x175, 0x176,                    /* SYSENTER_CS/ESP/EIP */
    0x277,                                  /* PAT */
    0xc0000081, 0xc0000082, 0xc0000083,     /* STAR, LSTAR, CSTAR */
    0xc0000084, 0xc0000102,                 /* FMASK, KERNEL_GS_BASE */
};
#define KVMC_NMSR (sizeof(kvmc_msr_list) / sizeof(kvmc_msr_list[0]))

/* One VM with one vCPU and one RAM slot. */
struct kvmc_vm {
    int vm_fd;                  /* -1 when not created */
    int vcpu_fd;                /* -1 when not created */
    struct kvm_run *run;        /* mmap of the vCPU, NULL when none */
    size_t run_size;            /* its length */
    uint8_t *ram;               /* KVMC_RAM_SIZE bytes, NULL when none */
};

/* A vCPU's complete state as the checkpoint saves it. */
struct kvmc_saved {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;                     /* when no KVM_CAP_XSAVE */
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_debugregs dregs;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_clock_data clock;
    uint32_t msr_index[KVMC_NMSR];          /* saved MSRs ... */
    uint64_t msr_data[KVMC_NMSR];           /* ... and their values */
    int nmsrs;
    uint8_t ram[KVMC_RAM_SIZE];
    uint64_t t_save;                        /* CLOCK_MONOTONIC ns */
};

/* One exit after the checkpoint. */
struct kvmc_exit_rec {
    uint32_t reason;            /* KVM_EXIT_* */
    uint16_t port;              /* for KVM_EXIT_IO */
    uint8_t size;               /* for KVM_EXIT_IO */
    uint32_t data;              /* OUT data (up to 4 bytes) */
    uint64_t t;                 /* CLOCK_MONOTONIC ns when seen */
};

/* Everything a probe run carries around. */
struct kvmc_ctx {
    const struct kvmc_probe_opts *opts;
    struct kvmc_obs *obs;
    int kvm_fd;
    int run_size;               /* KVM_GET_VCPU_MMAP_SIZE */
    struct kvmc_vm vm1, vm2;
    struct kvmc_saved *saved;
};

/* Set by SIGALRM; cleared before each KVM_RUN. */
static volatile sig_atomic_t kvmc_alarm_fired;

static void
kvmc_on_alarm(int sig)
{
    (void)sig;
    kvmc_alarm_fired = 1;
}

static uint64_t
kvmc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
kvmc_progress(struct kvmc_ctx *c)
{
    if (c->opts->progress) {
        c->opts->progress(c->obs, c->opts->opaque);
    }
}

/* Enter a step (records it as the current one and reports progress). */
static void
kvmc_step_begin(struct kvmc_ctx *c, enum kvmc_step_id id)
{
    c->obs->current_step = id;
    kvmc_progress(c);
}

/* End the current step with an outcome; returns 1 if it is OK. */
static int kvmc_step_end(struct kvmc_ctx *c, enum kvmc_outcome o, int err,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
kvmc_step_end(struct kvmc_ctx *c, enum kvmc_outcome o, int err,
              const char *fmt, ...)
{
    struct kvmc_step *st = &c->obs->steps[c->obs->current_step];
    va_list ap;

    st->outcome = o;
    st->err = err;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
    va_end(ap);
    kvmc_progress(c);
    return o == KVMC_OUT_OK;
}

/* End the current step after a failed ioctl, classifying errno. */
static int
kvmc_step_fail(struct kvmc_ctx *c, const char *what, int err)
{
    enum kvmc_outcome o = KVMC_OUT_ERROR;

    if (err == ENOTTY || err == ENOSYS || err == EOPNOTSUPP) {
        o = KVMC_OUT_UNSUPPORTED;
    }
    return kvmc_step_end(c, o, err, "%s: %s", what, strerror(err));
}

/*
 * Arm (ms > 0) or disarm (ms == 0) the watchdog: SIGALRM after ms, then
 * every 100 ms, so a signal that lands just before the ioctl is entered
 * is followed by another one inside it.
 */
static void
kvmc_watchdog(unsigned ms)
{
    struct itimerval it;

    memset(&it, 0, sizeof(it));
    if (ms) {
        it.it_value.tv_sec = ms / 1000;
        it.it_value.tv_usec = (long)(ms % 1000) * 1000;
        it.it_interval.tv_usec = 100000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * KVM_RUN once under a watchdog of ms.  Returns 0 on a guest exit
 * (vm->run->exit_reason is valid), -ETIMEDOUT when the watchdog fired,
 * -EINTR when KVM returned early (immediate_exit), other -errno on error.
 */
static int
kvmc_run_ms(struct kvmc_vm *vm, unsigned ms)
{
    int r, err;

    kvmc_alarm_fired = 0;
    kvmc_watchdog(ms);
    r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
    err = errno;
    kvmc_watchdog(0);
    if (r < 0) {
        if (err == EINTR && kvmc_alarm_fired) {
            return -ETIMEDOUT;
        }
        return -err;
    }
    return 0;
}

/* KVM_RUN under the configured per-run timeout. */
static int
kvmc_run(struct kvmc_ctx *c, struct kvmc_vm *vm)
{
    return kvmc_run_ms(vm, c->opts->run_timeout_ms);
}

/* Describe the exit in vm->run for a message. */
static void
kvmc_describe_exit(const struct kvm_run *run, char *buf, size_t len)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        snprintf(buf, len, "KVM_EXIT_IO %s port 0x%x size %u",
                 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
                 run->io.port, run->io.size);
        break;
    case KVM_EXIT_MMIO:
        snprintf(buf, len, "KVM_EXIT_MMIO %s 0x%llx len %u",
                 run->mmio.is_write ? "write" : "read",
                 (unsigned long long)run->mmio.phys_addr, run->mmio.len);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(buf, len, "KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx)",
                 (unsigned long long)
                 run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        snprintf(buf, len, "KVM_EXIT_INTERNAL_ERROR (suberror %u)",
                 run->internal.suberror);
        break;
    case KVM_EXIT_SHUTDOWN:
        snprintf(buf, len, "KVM_EXIT_SHUTDOWN (triple fault)");
        break;
    case KVM_EXIT_HLT:
        snprintf(buf, len, "KVM_EXIT_HLT");
        break;
    default:
        snprintf(buf, len, "exit reason %u", run->exit_reason);
        break;
    }
}

/* Ticks that may pass in ns nanoseconds (10 GHz if the rate is unknown). */
static uint64_t
kvmc_ticks(uint32_t khz, uint64_t ns)
{
    uint64_t rate = khz ? khz : 10000000u;

    return ns / 1000 * rate / 1000 + rate;  /* + 1 ms of rounding */
}

static int
kvmc_check_ext(struct kvmc_ctx *c, long cap)
{
    int r = ioctl(c->kvm_fd, KVM_CHECK_EXTENSION, cap);

    return r < 0 ? 0 : r;
}

/* Name the vendor module behind /dev/kvm (kvm_intel, kvm_amd, ...). */
static void
kvmc_find_backend(char *buf, size_t len)
{
    DIR *d = opendir("/sys/module");
    struct dirent *e;

    buf[0] = '\0';
    if (!d) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "kvm_", 4) == 0 && len > 0) {
            size_t n = strnlen(e->d_name, len - 1);

            memcpy(buf, e->d_name, n);
            buf[n] = '\0';
            break;
        }
    }
    closedir(d);
}

static void
kvmc_vm_destroy(struct kvmc_vm *vm)
{
    if (vm->run) {
        munmap(vm->run, vm->run_size);
        vm->run = NULL;
    }
    if (vm->vcpu_fd >= 0) {
        close(vm->vcpu_fd);
        vm->vcpu_fd = -1;
    }
    if (vm->vm_fd >= 0) {
        close(vm->vm_fd);
        vm->vm_fd = -1;
    }
    if (vm->ram) {
        munmap(vm->ram, KVMC_RAM_SIZE);
        vm->ram = NULL;
    }
}

/*
 * Create a VM with one vCPU and the RAM slot (dirty logging on), RAM
 * filled from image.  Ends the current step on failure; returns 1 on
 * success.
 */
static int
kvmc_vm_create(struct kvmc_ctx *c, struct kvmc_vm *vm, const uint8_t *image)
{
    struct kvm_userspace_memory_region region;
    void *p;

    vm->vm_fd = ioctl(c->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        return kvmc_step_fail(c, "KVM_CREATE_VM", errno);
    }
    p = mmap(NULL, KVMC_RAM_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return kvmc_step_fail(c, "mmap guest RAM", errno);
    }
    vm->ram = p;
    memcpy(vm->ram, image, KVMC_RAM_SIZE);
    /* Only needed on VMX without unrestricted guest; harmless elsewhere. */
    (void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVMC_TSS_ADDR);

    memset(&region, 0, sizeof(region));
    region.slot = 0;
    region.flags = KVM_MEM_LOG_DIRTY_PAGES;
    region.guest_phys_addr = 0;
    region.memory_size = KVMC_RAM_SIZE;
    region.userspace_addr = (uint64_t)(uintptr_t)vm->ram;
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        return kvmc_step_fail(c, "KVM_SET_USER_MEMORY_REGION", errno);
    }
    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0) {
        return kvmc_step_fail(c, "KVM_CREATE_VCPU", errno);
    }
    vm->run_size = (size_t)c->run_size;
    p = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
             vm->vcpu_fd, 0);
    if (p == MAP_FAILED) {
        return kvmc_step_fail(c, "mmap kvm_run", errno);
    }
    vm->run = p;
    return 1;
}

/* Read one MSR; returns 1 and sets *val if KVM returned it. */
static int
kvmc_get_msr(int vcpu_fd, uint32_t index, uint64_t *val)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m;

    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 1;
    m.e.index = index;
    if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1) {
        return 0;
    }
    *val = m.e.data;
    return 1;
}

/* Write one MSR; returns 1 if KVM accepted it. */
static int
kvmc_set_msr(int vcpu_fd, uint32_t index, uint64_t val)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m;

    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 1;
    m.e.index = index;
    m.e.data = val;
    return ioctl(vcpu_fd, KVM_SET_MSRS, &m) == 1;
}

/* Read and clear the slot's dirty bitmap; returns 0 or -errno. */
static int
kvmc_dirty_log(struct kvmc_vm *vm, uint32_t *pages)
{
    uint64_t bitmap[1] = { 0 };    /* KVMC_RAM_PAGES <= 64 */
    struct kvm_dirty_log log;

    memset(&log, 0, sizeof(log));
    log.slot = 0;
    log.dirty_bitmap = bitmap;
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        return -errno;
    }
    *pages = (uint32_t)(bitmap[0] & ((1ULL << KVMC_RAM_PAGES) - 1));
    return 0;
}

/* OPEN: the device, its API version and what it offers. */
static int
kvmc_do_open(struct kvmc_ctx *c)
{
    struct kvmc_obs *obs = c->obs;
    struct utsname u;

    kvmc_step_begin(c, KVMC_STEP_OPEN);
    if (uname(&u) == 0) {
        snprintf(obs->kernel, sizeof(obs->kernel), "%s", u.release);
    }
    kvmc_find_backend(obs->backend, sizeof(obs->backend));
    obs->api_version = -1;
    if (access(c->opts->device, F_OK) == 0) {
        obs->device_present = 1;
    }
    c->kvm_fd = open(c->opts->device, O_RDWR | O_CLOEXEC);
    if (c->kvm_fd < 0) {
        return kvmc_step_end(c, KVMC_OUT_ERROR, errno, "open %s: %s",
                             c->opts->device, strerror(errno));
    }
    obs->api_version = ioctl(c->kvm_fd, KVM_GET_API_VERSION, 0);
    if (obs->api_version != KVM_API_VERSION) {
        return kvmc_step_end(c, KVMC_OUT_UNSUPPORTED, 0,
                             "KVM API version %d, expected %d",
                             obs->api_version, KVM_API_VERSION);
    }
    c->run_size = ioctl(c->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (c->run_size < (int)sizeof(struct kvm_run)) {
        return kvmc_step_fail(c, "KVM_GET_VCPU_MMAP_SIZE",
                              c->run_size < 0 ? errno : EINVAL);
    }
    obs->immediate_exit = kvmc_check_ext(c, KVM_CAP_IMMEDIATE_EXIT);
    obs->dirty.manual_protect2 =
        kvmc_check_ext(c, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    obs->dirty.ring_max_bytes = kvmc_check_ext(c, KVM_CAP_DIRTY_LOG_RING);
    obs->dirty.ring_acq_rel =
        kvmc_check_ext(c, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
    obs->dirty.ring_with_bitmap =
        kvmc_check_ext(c, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP);
    obs->state.have_xsave = kvmc_check_ext(c, KVM_CAP_XSAVE);
    obs->state.have_xcrs = kvmc_check_ext(c, KVM_CAP_XCRS);
    obs->state.have_debugregs = kvmc_check_ext(c, KVM_CAP_DEBUGREGS);
    obs->state.have_events = kvmc_check_ext(c, KVM_CAP_VCPU_EVENTS);
    obs->state.have_user_nmi = kvmc_check_ext(c, KVM_CAP_USER_NMI);
    obs->state.have_nested_state = kvmc_check_ext(c, KVM_CAP_NESTED_STATE);
    obs->state.have_tsc_control = kvmc_check_ext(c, KVM_CAP_TSC_CONTROL);
    obs->state.adjust_clock = kvmc_check_ext(c, KVM_CAP_ADJUST_CLOCK);
    if (!obs->immediate_exit) {
        return kvmc_step_end(c, KVMC_OUT_UNSUPPORTED, 0,
                             "KVM_CAP_IMMEDIATE_EXIT missing");
    }
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

/*
 * NATIVE: a 64-bit guest (the mode ordinary guest kernels run in) must
 * count 2^24 iterations well within KVMC_LM_BUDGET_MS.  Independent of
 * the other steps: whatever its outcome, the probe goes on.
 */
static void
kvmc_do_native(struct kvmc_ctx *c)
{
    struct kvmc_obs *obs = c->obs;
    struct kvmc_vm vm = { .vm_fd = -1, .vcpu_fd = -1 };
    struct kvm_segment seg;
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    uint64_t t0;
    uint8_t *image;
    char got[120];
    unsigned budget;
    int r;

    kvmc_step_begin(c, KVMC_STEP_NATIVE);
    budget = KVMC_LM_BUDGET_MS;
    if (budget > c->opts->run_timeout_ms) {
        budget = c->opts->run_timeout_ms;
    }
    obs->native_budget_ms = budget;
    image = calloc(1, KVMC_RAM_SIZE);
    if (!image) {
        kvmc_step_fail(c, "calloc", ENOMEM);
        return;
    }
    kvmc_guest_lm_load(image);
    r = kvmc_vm_create(c, &vm, image);
    free(image);
    if (!r) {
        goto out;
    }
    if (ioctl(vm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
        kvmc_step_fail(c, "KVM_GET_SREGS", errno);
        goto out;
    }
    /* Flat 64-bit code segment, flat data segments, a busy 64-bit TSS. */
    memset(&seg, 0, sizeof(seg));
    seg.limit = 0xffffffff;
    seg.present = 1;
    seg.s = 1;
    seg.g = 1;
    seg.selector = 0x8;
    seg.type = 11;                          /* code, execute/read, accessed */
    seg.l = 1;
    sregs.cs = seg;
    seg.selector = 0x10;
    seg.type = 3;                           /* data, read/write, accessed */
    seg.l = 0;
    seg.db = 1;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
    memset(&seg, 0, sizeof(seg));
    seg.selector = 0x18;
    seg.limit = 0x67;
    seg.type = 11;                          /* busy 64-bit TSS */
    seg.present = 1;
    sregs.tr = seg;
    sregs.cr0 = 0x80000011;                 /* PG | ET | PE */
    sregs.cr3 = KVMC_LM_PML4_GPA;
    sregs.cr4 = 0x20;                       /* PAE */
    sregs.efer = 0x500;                     /* LMA | LME */
    if (ioctl(vm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
        kvmc_step_fail(c, "KVM_SET_SREGS (long mode)", errno);
        goto out;
    }
    memset(&regs, 0, sizeof(regs));
    regs.rip = KVMC_LM_CODE_GPA;
    regs.rsp = KVMC_STACK_TOP;
    regs.rflags = 0x2;
    if (ioctl(vm.vcpu_fd, KVM_SET_REGS, &regs) < 0) {
        kvmc_step_fail(c, "KVM_SET_REGS", errno);
        goto out;
    }
    t0 = kvmc_now_ns();
    r = kvmc_run_ms(&vm, budget);
    obs->native_ms = (uint32_t)((kvmc_now_ns() - t0) / 1000000);
    if (r == -ETIMEDOUT) {
        kvmc_step_end(c, KVMC_OUT_TIMEOUT, ETIMEDOUT,
                      "64-bit loop unfinished after %u ms", budget);
        goto out;
    }
    if (r < 0) {
        kvmc_step_fail(c, "KVM_RUN", -r);
        goto out;
    }
    if (vm.run->exit_reason != KVM_EXIT_IO ||
        vm.run->io.port != KVMC_PORT_LM) {
        kvmc_describe_exit(vm.run, got, sizeof(got));
        kvmc_step_end(c, KVMC_OUT_ERROR, 0, "64-bit guest: unexpected %s",
                      got);
        goto out;
    }
    obs->native_done = 1;
    kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
out:
    kvmc_vm_destroy(&vm);
}

/* SETUP: VM 1 in real mode at 0000:1000 with TSC and kvmclock preset. */
static int
kvmc_do_setup(struct kvmc_ctx *c)
{
    struct kvmc_obs *obs = c->obs;
    struct kvm_device_attr attr;
    struct kvm_clock_data clock;
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    uint8_t *image;
    uint64_t tsc = 0;
    int ok;

    kvmc_step_begin(c, KVMC_STEP_SETUP);
    image = calloc(1, KVMC_RAM_SIZE);
    if (!image) {
        return kvmc_step_fail(c, "calloc", ENOMEM);
    }
    kvmc_guest_load(image);
    ok = kvmc_vm_create(c, &c->vm1, image);
    free(image);
    if (!ok) {
        return 0;
    }
    if (ioctl(c->vm1.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_SREGS", errno);
    }
    /* Real mode, every segment at 0 (reset leaves CS at 0xffff0000). */
    sregs.cs.selector = 0;
    sregs.cs.base = 0;
    sregs.ds.selector = 0;
    sregs.ds.base = 0;
    sregs.es.selector = 0;
    sregs.es.base = 0;
    sregs.ss.selector = 0;
    sregs.ss.base = 0;
    if (ioctl(c->vm1.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_SREGS", errno);
    }
    memset(&regs, 0, sizeof(regs));
    regs.rip = KVMC_RIP_START;
    regs.rsp = KVMC_STACK_TOP;
    regs.rflags = 0x2;
    if (ioctl(c->vm1.vcpu_fd, KVM_SET_REGS, &regs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_REGS", errno);
    }
    /*
     * A TSC far from a new VM's, so that a restore that forgets it shows.
     * Read it back at once: it must be the preset plus at most a second
     * (some backends return success and ignore the write).
     */
    if (kvmc_set_msr(c->vm1.vcpu_fd, KVMC_MSR_IA32_TSC, KVMC_TSC_PRESET) &&
        kvmc_get_msr(c->vm1.vcpu_fd, KVMC_MSR_IA32_TSC, &tsc)) {
        obs->state.tsc_preset_read = tsc;
        obs->state.tsc_preset_ok = tsc >= KVMC_TSC_PRESET &&
            tsc - KVMC_TSC_PRESET <= kvmc_ticks(0, 1000000000ULL);
    }
    if (obs->state.adjust_clock) {
        memset(&clock, 0, sizeof(clock));
        clock.clock = KVMC_CLOCK_PRESET;
        if (ioctl(c->vm1.vm_fd, KVM_SET_CLOCK, &clock) == 0) {
            memset(&clock, 0, sizeof(clock));
            if (ioctl(c->vm1.vm_fd, KVM_GET_CLOCK, &clock) == 0) {
                obs->state.clock_preset_read = clock.clock;
                obs->state.clock_preset_ok =
                    clock.clock >= KVMC_CLOCK_PRESET &&
                    clock.clock - KVMC_CLOCK_PRESET <= 1000000000ULL;
            }
        }
    }
    memset(&attr, 0, sizeof(attr));
    attr.group = KVM_VCPU_TSC_CTRL;
    attr.attr = KVM_VCPU_TSC_OFFSET;
    obs->state.have_tsc_attr =
        ioctl(c->vm1.vcpu_fd, KVM_HAS_DEVICE_ATTR, &attr) == 0;
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

/* What one I/O exit is expected to look like. */
struct kvmc_io_spec {
    enum kvmc_step_id step;
    uint32_t reason;            /* KVM_EXIT_IO or KVM_EXIT_MMIO */
    int is_write;               /* OUT / MMIO write */
    uint64_t where;             /* port or guest physical address */
    unsigned size;              /* bytes */
    uint32_t data;              /* writes: expected; reads: supplied */
    uint64_t insn, next;        /* RIP of the instruction and the next */
};

/* Does the exit in run match spec?  Checks payload for writes. */
static int
kvmc_exit_matches(const struct kvm_run *run, const struct kvmc_io_spec *s)
{
    uint32_t v = 0;

    if (run->exit_reason != s->reason) {
        return 0;
    }
    if (s->reason == KVM_EXIT_IO) {
        if (run->io.direction !=
            (s->is_write ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN) ||
            run->io.port != s->where || run->io.size != s->size ||
            run->io.count != 1) {
            return 0;
        }
        if (s->is_write) {
            memcpy(&v, (const uint8_t *)run + run->io.data_offset, s->size);
            return v == s->data;
        }
        return 1;
    }
    if (run->mmio.is_write != s->is_write ||
        run->mmio.phys_addr != s->where || run->mmio.len != s->size) {
        return 0;
    }
    if (s->is_write) {
        memcpy(&v, run->mmio.data, s->size);
        return v == s->data;
    }
    return 1;
}

/*
 * Run VM 1 to the exit described by s, record RIP there, complete it by
 * re-entering with immediate_exit, record RIP again.  Ends the step;
 * returns 1 if the probe can go on.
 */
static int
kvmc_do_io(struct kvmc_ctx *c, const struct kvmc_io_spec *s,
           struct kvmc_io_obs *io)
{
    struct kvmc_vm *vm = &c->vm1;
    struct kvm_run *run = vm->run;
    struct kvm_regs regs;
    char got[120];
    int r;

    kvmc_step_begin(c, s->step);
    io->insn_rip = s->insn;
    io->next_rip = s->next;
    r = kvmc_run(c, vm);
    if (r == -ETIMEDOUT) {
        return kvmc_step_end(c, KVMC_OUT_TIMEOUT, ETIMEDOUT,
                             "KVM_RUN made no exit within %u ms",
                             c->opts->run_timeout_ms);
    }
    if (r < 0) {
        return kvmc_step_fail(c, "KVM_RUN", -r);
    }
    io->exit_reason = run->exit_reason;
    if (!c->obs->first_exit_seen) {
        c->obs->first_exit_seen = 1;
        c->obs->first_exit_reason = run->exit_reason;
    }
    if (!kvmc_exit_matches(run, s)) {
        kvmc_describe_exit(run, got, sizeof(got));
        return kvmc_step_end(c, KVMC_OUT_ERROR, 0,
                             "unexpected exit: %s", got);
    }
    io->seen = 1;
    if (!s->is_write) {
        if (s->reason == KVM_EXIT_IO) {
            memcpy((uint8_t *)run + run->io.data_offset, &s->data, s->size);
        } else {
            memcpy(run->mmio.data, &s->data, s->size);
        }
    }
    if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_REGS", errno);
    }
    io->rip_at_exit = regs.rip;

    /* Complete the exit without letting the guest run on. */
    run->immediate_exit = 1;
    r = kvmc_run(c, vm);
    run->immediate_exit = 0;
    if (r == -ETIMEDOUT) {
        return kvmc_step_end(c, KVMC_OUT_TIMEOUT, ETIMEDOUT,
                             "re-entry with immediate_exit did not return "
                             "within %u ms", c->opts->run_timeout_ms);
    }
    if (r == 0) {
        kvmc_describe_exit(run, got, sizeof(got));
        return kvmc_step_end(c, KVMC_OUT_ERROR, 0,
                             "re-entry with immediate_exit ran the guest "
                             "on to %s", got);
    }
    if (r != -EINTR) {
        return kvmc_step_fail(c, "KVM_RUN (immediate_exit)", -r);
    }
    io->completed = 1;
    if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_REGS", errno);
    }
    io->rip_after = regs.rip;
    if (s->is_write) {
        io->value_ok = 1;   /* payload already matched */
    } else {
        io->value_ok = (regs.rax & ((1ULL << (8 * s->size)) - 1)) == s->data;
    }
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

/* Save VM 1's vCPU (after queueing an NMI), as QEMU would. */
static int
kvmc_do_save(struct kvmc_ctx *c)
{
    struct kvmc_saved *sv = c->saved;
    struct kvmc_state_obs *st = &c->obs->state;
    int fd = c->vm1.vcpu_fd;
    unsigned i;
    int r;

    kvmc_step_begin(c, KVMC_STEP_SAVE);
    if (st->have_user_nmi && ioctl(fd, KVM_NMI) < 0) {
        return kvmc_step_fail(c, "KVM_NMI", errno);
    }
    if (ioctl(fd, KVM_GET_REGS, &sv->regs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_REGS", errno);
    }
    if (ioctl(fd, KVM_GET_SREGS, &sv->sregs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_SREGS", errno);
    }
    if (st->have_xsave) {
        if (ioctl(fd, KVM_GET_XSAVE, &sv->xsave) < 0) {
            return kvmc_step_fail(c, "KVM_GET_XSAVE", errno);
        }
    } else if (ioctl(fd, KVM_GET_FPU, &sv->fpu) < 0) {
        return kvmc_step_fail(c, "KVM_GET_FPU", errno);
    }
    if (st->have_xcrs && ioctl(fd, KVM_GET_XCRS, &sv->xcrs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_XCRS", errno);
    }
    if (st->have_debugregs && ioctl(fd, KVM_GET_DEBUGREGS, &sv->dregs) < 0) {
        return kvmc_step_fail(c, "KVM_GET_DEBUGREGS", errno);
    }
    if (st->have_events) {
        if (ioctl(fd, KVM_GET_VCPU_EVENTS, &sv->events) < 0) {
            return kvmc_step_fail(c, "KVM_GET_VCPU_EVENTS", errno);
        }
        st->nmi_pending_saved = sv->events.nmi.pending;
    }
    if (ioctl(fd, KVM_GET_MP_STATE, &sv->mp) < 0) {
        return kvmc_step_fail(c, "KVM_GET_MP_STATE", errno);
    }
    sv->nmsrs = 0;
    for (i = 0; i < KVMC_NMSR; i++) {
        if (kvmc_get_msr(fd, kvmc_msr_list[i], &sv->msr_data[sv->nmsrs])) {
            sv->msr_index[sv->nmsrs++] = kvmc_msr_list[i];
        } else if (kvmc_msr_list[i] == KVMC_MSR_IA32_TSC) {
            return kvmc_step_end(c, KVMC_OUT_ERROR, 0,
                                 "KVM_GET_MSRS refused IA32_TSC");
        }
    }
    st->nmsrs = sv->nmsrs;
    st->tsc_saved = sv->msr_data[0];        /* IA32_TSC comes first */
    r = ioctl(fd, KVM_GET_TSC_KHZ, 0);
    st->tsc_khz = r > 0 ? (uint32_t)r : 0;
    if (st->adjust_clock) {
        memset(&sv->clock, 0, sizeof(sv->clock));
        if (ioctl(c->vm1.vm_fd, KVM_GET_CLOCK, &sv->clock) < 0) {
            return kvmc_step_fail(c, "KVM_GET_CLOCK", errno);
        }
        st->clock_saved = sv->clock.clock;
    }
    memcpy(sv->ram, c->vm1.ram, KVMC_RAM_SIZE);
    sv->t_save = kvmc_now_ns();
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

/* Restore the saved state into a new VM 2. */
static int
kvmc_do_restore(struct kvmc_ctx *c)
{
    struct kvmc_saved *sv = c->saved;
    struct kvmc_state_obs *st = &c->obs->state;
    struct kvm_vcpu_events ev;
    struct kvm_clock_data clock;
    int fd;
    int i;

    kvmc_step_begin(c, KVMC_STEP_RESTORE);
    if (!kvmc_vm_create(c, &c->vm2, sv->ram)) {
        return 0;
    }
    fd = c->vm2.vcpu_fd;
    /* The order of QEMU's kvm_arch_put_registers(). */
    if (ioctl(fd, KVM_SET_REGS, &sv->regs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_REGS", errno);
    }
    if (st->have_xsave) {
        if (ioctl(fd, KVM_SET_XSAVE, &sv->xsave) < 0) {
            return kvmc_step_fail(c, "KVM_SET_XSAVE", errno);
        }
    } else if (ioctl(fd, KVM_SET_FPU, &sv->fpu) < 0) {
        return kvmc_step_fail(c, "KVM_SET_FPU", errno);
    }
    if (st->have_xcrs && ioctl(fd, KVM_SET_XCRS, &sv->xcrs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_XCRS", errno);
    }
    if (ioctl(fd, KVM_SET_SREGS, &sv->sregs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_SREGS", errno);
    }
    st->nmsrs_restored = 0;
    for (i = 0; i < sv->nmsrs; i++) {
        if (kvmc_set_msr(fd, sv->msr_index[i], sv->msr_data[i])) {
            st->nmsrs_restored++;
        }
    }
    if (ioctl(fd, KVM_SET_MP_STATE, &sv->mp) < 0) {
        return kvmc_step_fail(c, "KVM_SET_MP_STATE", errno);
    }
    if (st->have_events) {
        ev = sv->events;
        ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING |
            KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            return kvmc_step_fail(c, "KVM_SET_VCPU_EVENTS", errno);
        }
        memset(&ev, 0, sizeof(ev));
        if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
            return kvmc_step_fail(c, "KVM_GET_VCPU_EVENTS", errno);
        }
        st->nmi_pending_vm2 = ev.nmi.pending;
    }
    if (st->have_debugregs && ioctl(fd, KVM_SET_DEBUGREGS, &sv->dregs) < 0) {
        return kvmc_step_fail(c, "KVM_SET_DEBUGREGS", errno);
    }
    if (st->adjust_clock) {
        memset(&clock, 0, sizeof(clock));
        clock.clock = sv->clock.clock;
        if (ioctl(c->vm2.vm_fd, KVM_SET_CLOCK, &clock) < 0) {
            return kvmc_step_fail(c, "KVM_SET_CLOCK", errno);
        }
        memset(&clock, 0, sizeof(clock));
        if (ioctl(c->vm2.vm_fd, KVM_GET_CLOCK, &clock) < 0) {
            return kvmc_step_fail(c, "KVM_GET_CLOCK", errno);
        }
        st->clock_vm2 = clock.clock;
        st->clock_bound = kvmc_now_ns() - sv->t_save + KVMC_SLACK_NS;
        st->clock_done = 1;
    }
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

/*
 * Run a VM from the checkpoint to HLT, recording its exits.  Returns the
 * number of exits (the HLT included), or -1 after ending the step.
 */
static int
kvmc_run_to_hlt(struct kvmc_ctx *c, struct kvmc_vm *vm, const char *name,
                struct kvmc_exit_rec *rec)
{
    struct kvm_run *run = vm->run;
    char got[120];
    int n, r;

    for (n = 0; n < KVMC_MAX_EXITS; n++) {
        r = kvmc_run(c, vm);
        if (r == -ETIMEDOUT) {
            kvmc_step_end(c, KVMC_OUT_TIMEOUT, ETIMEDOUT,
                          "%s: KVM_RUN made no exit within %u ms", name,
                          c->opts->run_timeout_ms);
            return -1;
        }
        if (r < 0) {
            kvmc_step_end(c, KVMC_OUT_ERROR, -r, "%s: KVM_RUN: %s", name,
                          strerror(-r));
            return -1;
        }
        memset(&rec[n], 0, sizeof(rec[n]));
        rec[n].reason = run->exit_reason;
        rec[n].t = kvmc_now_ns();
        if (run->exit_reason == KVM_EXIT_HLT) {
            return n + 1;
        }
        if (run->exit_reason != KVM_EXIT_IO ||
            run->io.direction != KVM_EXIT_IO_OUT || run->io.size > 4) {
            kvmc_describe_exit(run, got, sizeof(got));
            kvmc_step_end(c, KVMC_OUT_ERROR, 0, "%s: unexpected %s", name,
                          got);
            return -1;
        }
        rec[n].port = run->io.port;
        rec[n].size = run->io.size;
        memcpy(&rec[n].data, (uint8_t *)run + run->io.data_offset,
               run->io.size);
    }
    kvmc_step_end(c, KVMC_OUT_ERROR, 0, "%s: no HLT after %d exits", name,
                  KVMC_MAX_EXITS);
    return -1;
}

/*
 * From an exit list: drop the NMI handler's exit (setting *nmi) and pull
 * out the TSC the guest read (and when).  Returns the remaining count.
 */
static int
kvmc_filter_exits(const struct kvmc_exit_rec *in, int n,
                  struct kvmc_exit_rec *out, int *nmi, uint64_t *tsc,
                  uint64_t *t_tsc)
{
    int i, m = 0, ntsc = 0;

    *nmi = 0;
    *tsc = 0;
    *t_tsc = 0;
    for (i = 0; i < n; i++) {
        if (in[i].reason == KVM_EXIT_IO && in[i].port == KVMC_PORT_NMI &&
            in[i].data == KVMC_NMI_BYTE) {
            *nmi = 1;
            continue;
        }
        out[m] = in[i];
        if (in[i].reason == KVM_EXIT_IO && in[i].port == KVMC_PORT_TSC) {
            if (ntsc == 0) {
                *tsc |= in[i].data;
                *t_tsc = in[i].t;
            } else if (ntsc == 1) {
                *tsc |= (uint64_t)in[i].data << 32;
            }
            ntsc++;
            out[m].data = 0;        /* differs legitimately */
        }
        out[m].t = 0;
        m++;
    }
    return m;
}

/* Compare general registers, ignoring bits rdtsc left behind. */
static int
kvmc_regs_equal(const struct kvm_regs *a, const struct kvm_regs *b,
                char *why, size_t len)
{
    struct kvm_regs x = *a, y = *b;

    /* EAX bits 16-31 hold TSC bits; EDX/ESI upper halves the TSC high. */
    x.rax &= 0xffff;
    y.rax &= 0xffff;
    x.rdx &= 0xffff;
    y.rdx &= 0xffff;
    x.rsi &= 0xffff;
    y.rsi &= 0xffff;
    if (memcmp(&x, &y, sizeof(x)) == 0) {
        return 1;
    }
    snprintf(why, len, "registers differ at HLT: rip 0x%llx/0x%llx "
             "rax 0x%llx/0x%llx rbx 0x%llx/0x%llx rsp 0x%llx/0x%llx",
             (unsigned long long)x.rip, (unsigned long long)y.rip,
             (unsigned long long)x.rax, (unsigned long long)y.rax,
             (unsigned long long)x.rbx, (unsigned long long)y.rbx,
             (unsigned long long)x.rsp, (unsigned long long)y.rsp);
    return 0;
}

/* CONTINUE: both VMs from the checkpoint to HLT, then compare. */
static int
kvmc_do_continue(struct kvmc_ctx *c)
{
    struct kvmc_state_obs *st = &c->obs->state;
    struct kvmc_dirty_obs *d = &c->obs->dirty;
    struct kvmc_exit_rec e1[KVMC_MAX_EXITS], e2[KVMC_MAX_EXITS];
    struct kvmc_exit_rec f1[KVMC_MAX_EXITS], f2[KVMC_MAX_EXITS];
    struct kvm_regs r1, r2;
    char why[sizeof(st->mismatch)];
    uint64_t t1, t2;
    uint32_t pages;
    int n1, n2, m1, m2, i, r;
    size_t off;

    kvmc_step_begin(c, KVMC_STEP_CONTINUE);
    n1 = kvmc_run_to_hlt(c, &c->vm1, "original VM", e1);
    if (n1 < 0) {
        return 0;
    }
    r = kvmc_dirty_log(&c->vm1, &pages);
    n2 = kvmc_run_to_hlt(c, &c->vm2, "restored VM", e2);
    if (n2 < 0) {
        return 0;
    }
    st->nexits_vm1 = n1;
    st->nexits_vm2 = n2;
    m1 = kvmc_filter_exits(e1, n1, f1, &st->vm1_nmi_seen, &st->tsc_vm1, &t1);
    m2 = kvmc_filter_exits(e2, n2, f2, &st->vm2_nmi_seen, &st->tsc_vm2, &t2);
    if (r == 0) {
        /* Round 2: pages 3 and 10, and the stack if the NMI pushed. */
        d->round2_done = 1;
        d->expected2 = KVMC_DIRTY_ROUND2;
        if (st->vm1_nmi_seen) {
            d->expected2 |= 1u << KVMC_STACK_PAGE;
        }
        d->reported2 = pages;
    }
    st->tsc_bound = kvmc_ticks(st->tsc_khz,
                               (t2 > c->saved->t_save ?
                                t2 - c->saved->t_save : 0) + KVMC_SLACK_NS);

    st->seq_equal = m1 == m2 && memcmp(f1, f2, sizeof(f1[0]) * m1) == 0;
    if (!st->seq_equal) {
        for (i = 0; i < m1 && i < m2; i++) {
            if (memcmp(&f1[i], &f2[i], sizeof(f1[i])) != 0) {
                break;
            }
        }
        snprintf(st->mismatch, sizeof(st->mismatch),
                 "exit %d differs (of %d/%d): port 0x%x data 0x%x vs port "
                 "0x%x data 0x%x", i, m1, m2,
                 i < m1 ? f1[i].port : 0, i < m1 ? f1[i].data : 0,
                 i < m2 ? f2[i].port : 0, i < m2 ? f2[i].data : 0);
    }
    if (ioctl(c->vm1.vcpu_fd, KVM_GET_REGS, &r1) < 0 ||
        ioctl(c->vm2.vcpu_fd, KVM_GET_REGS, &r2) < 0) {
        return kvmc_step_fail(c, "KVM_GET_REGS", errno);
    }
    st->regs_equal = kvmc_regs_equal(&r1, &r2, why, sizeof(why));
    if (!st->regs_equal && st->seq_equal) {
        snprintf(st->mismatch, sizeof(st->mismatch), "%s", why);
    }
    /* RAM, but not the stack page: an NMI lost in VM 2 is judged apart. */
    st->mem_equal = 1;
    for (off = 0; off < KVMC_RAM_SIZE; off += KVMC_PAGE_SIZE) {
        if (off / KVMC_PAGE_SIZE == KVMC_STACK_PAGE) {
            continue;
        }
        if (memcmp(c->vm1.ram + off, c->vm2.ram + off, KVMC_PAGE_SIZE)) {
            st->mem_equal = 0;
            if (st->seq_equal && st->regs_equal) {
                snprintf(st->mismatch, sizeof(st->mismatch),
                         "guest RAM differs in page %zu",
                         off / KVMC_PAGE_SIZE);
            }
            break;
        }
    }
    return kvmc_step_end(c, KVMC_OUT_OK, 0, "%s", "");
}

void
kvmc_probe(const struct kvmc_probe_opts *opts, struct kvmc_obs *obs)
{
    struct kvmc_io_spec specs[] = {
        { KVMC_STEP_PIO_OUT, KVM_EXIT_IO, 1, KVMC_PORT_OUT, 1,
          KVMC_OUT_BYTE, KVMC_RIP_PIO_OUT, KVMC_RIP_PIO_OUT_NEXT },
        { KVMC_STEP_MMIO_WRITE, KVM_EXIT_MMIO, 1, KVMC_MMIO_WRITE_GPA, 1,
          KVMC_MMIO_WRITE_BYTE, KVMC_RIP_MMIO_WRITE,
          KVMC_RIP_MMIO_WRITE_NEXT },
        { KVMC_STEP_MMIO_READ, KVM_EXIT_MMIO, 0, KVMC_MMIO_READ_GPA, 1,
          KVMC_MMIO_READ_BYTE, KVMC_RIP_MMIO_READ, KVMC_RIP_MMIO_READ_NEXT },
        { KVMC_STEP_PIO_IN, KVM_EXIT_IO, 0, KVMC_PORT_IN, 1,
          KVMC_IN_BYTE, KVMC_RIP_PIO_IN, KVMC_RIP_PIO_IN_NEXT },
        { KVMC_STEP_DIRTY_LOG, KVM_EXIT_IO, 1, KVMC_PORT_CKPT, 2,
          (KVMC_IN_BYTE << 8) | KVMC_MMIO_READ_BYTE, KVMC_RIP_CKPT,
          KVMC_RIP_CKPT_NEXT },
    };
    struct kvmc_io_obs *ios[] = {
        &obs->pio_out, &obs->mmio_write, &obs->mmio_read, &obs->pio_in,
        &obs->pio_out2,
    };
    struct sigaction sa, old;
    struct kvmc_ctx c;
    uint32_t pages = 0;
    unsigned i;
    int r;

    memset(&c, 0, sizeof(c));
    c.opts = opts;
    c.obs = obs;
    c.kvm_fd = -1;
    c.vm1.vm_fd = c.vm1.vcpu_fd = -1;
    c.vm2.vm_fd = c.vm2.vcpu_fd = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kvmc_on_alarm;  /* no SA_RESTART: KVM_RUN -> EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);

    if (!kvmc_do_open(&c)) {
        goto out;
    }
    kvmc_do_native(&c);
    if (!kvmc_do_setup(&c)) {
        goto out;
    }
    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (specs[i].step == KVMC_STEP_DIRTY_LOG) {
            /* Empty the log: only what follows should be reported. */
            r = kvmc_dirty_log(&c.vm1, &pages);
            if (r < 0) {
                kvmc_step_begin(&c, KVMC_STEP_DIRTY_LOG);
                kvmc_step_fail(&c, "KVM_GET_DIRTY_LOG", -r);
                goto out;
            }
            obs->dirty.get_dirty_log = 1;
        }
        if (!kvmc_do_io(&c, &specs[i], ios[i])) {
            goto out;
        }
    }
    /* Round 1: the pages written between the two reads. */
    r = kvmc_dirty_log(&c.vm1, &pages);
    if (r < 0) {
        kvmc_step_fail(&c, "KVM_GET_DIRTY_LOG", -r);
        goto out;
    }
    obs->dirty.round1_done = 1;
    obs->dirty.expected1 = KVMC_DIRTY_ROUND1;
    obs->dirty.reported1 = pages;

    c.saved = calloc(1, sizeof(*c.saved));
    if (!c.saved) {
        kvmc_step_begin(&c, KVMC_STEP_SAVE);
        kvmc_step_fail(&c, "calloc", ENOMEM);
        goto out;
    }
    if (!kvmc_do_save(&c) || !kvmc_do_restore(&c)) {
        goto out;
    }
    kvmc_do_continue(&c);

out:
    kvmc_watchdog(0);
    sigaction(SIGALRM, &old, NULL);
    kvmc_vm_destroy(&c.vm2);
    kvmc_vm_destroy(&c.vm1);
    free(c.saved);
    if (c.kvm_fd >= 0) {
        close(c.kvm_fd);
    }
}
