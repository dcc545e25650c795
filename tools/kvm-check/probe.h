/*
 * probe.h - run the KVM experiments of kemari-kvm-check
 *
 * kvmc_probe() opens the KVM device, runs the guest of guest.h through
 * its exits in one VM, saves that VM's vCPU state, restores it into a
 * second VM and runs both to the end, filling a struct kvmc_obs.  It
 * never judges (verdict.c does) and never hangs in KVM_RUN for longer
 * than the timeout: a periodic SIGALRM without SA_RESTART makes a stuck
 * KVM_RUN return EINTR, and the step is recorded as timed out.  A
 * backend that ignores signals is caught by the caller's supervisor
 * (main.c runs the probe in a child process and kills it).
 */
#ifndef KEMARI_KVM_CHECK_PROBE_H
#define KEMARI_KVM_CHECK_PROBE_H

#include "verdict.h"

/* Called when a step starts and when it ends (obs is consistent). */
typedef void (*kvmc_progress_fn)(const struct kvmc_obs *obs, void *opaque);

struct kvmc_probe_opts {
    const char *device;         /* KVM device node, e.g. "/dev/kvm" */
    unsigned run_timeout_ms;    /* longest wait for one KVM_RUN */
    kvmc_progress_fn progress;  /* may be NULL */
    void *opaque;               /* passed to progress */
};

/*
 * Probe the host.  obs must be zeroed by the caller; on return every
 * step has an outcome (NOT_RUN for those after the first failure).
 * Installs a SIGALRM handler and uses ITIMER_REAL while running; call
 * it from a single-threaded process.
 */
void kvmc_probe(const struct kvmc_probe_opts *opts, struct kvmc_obs *obs);

#endif /* KEMARI_KVM_CHECK_PROBE_H */
