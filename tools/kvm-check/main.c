/*
 * main.c - kemari-kvm-check: can this host run Kemari-protected guests
 * with KVM acceleration?
 *
 * Wires the modules: options, a supervised probe (probe.c) in a child
 * process, the judgement (verdict.c) and the output (report.c).  The
 * child sends a snapshot of its observations through a pipe whenever a
 * step starts or ends; if it has not finished by the deadline (a KVM
 * backend that ignores even signals inside KVM_RUN), it is killed and
 * the step it was in is reported as timed out.
 *
 * Exit status: 0 pass, 1 fail (including "no /dev/kvm"), 2 usage or
 * internal error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"
#include "report.h"
#include "verdict.h"

#define KVMC_EXIT_USAGE 2
#define KVMC_DEFAULT_TIMEOUT_S 5        /* one KVM_RUN */
#define KVMC_DEFAULT_DEADLINE_S 40      /* the whole probe */

/* Command-line options. */
struct kvmc_opts {
    const char *device;                 /* --device, default /dev/kvm */
    unsigned timeout_s;                 /* --timeout */
    unsigned deadline_s;                /* --deadline */
    int json;                           /* --json */
    int fork;                           /* 0 with --no-fork */
};

static void
kvmc_usage(FILE *f)
{
    fprintf(f,
"Usage: kemari-kvm-check [OPTIONS]\n"
"Check whether this host can run Kemari-protected guests with KVM\n"
"acceleration: runs a tiny guest through /dev/kvm (port I/O and MMIO\n"
"exits, dirty logging, vCPU state save/restore into a second VM, TSC,\n"
"kvmclock, pending events) and prints one verdict per requirement.\n"
"\n"
"  -j, --json            print one JSON object (keys: kvm-patches/README.md)\n"
"  -d, --device PATH     KVM device node (default /dev/kvm)\n"
"  -t, --timeout SECS    longest wait for one KVM_RUN (default %d)\n"
"  -D, --deadline SECS   longest run of the whole check (default %d)\n"
"      --no-fork         probe in this process (no deadline supervisor)\n"
"  -v, --verbose         log each step on stderr\n"
"  -h, --help            this text\n"
"  -V, --version         program version\n"
"\n"
"Exit status: 0 the host passes, 1 it does not (or has no KVM device),\n"
"2 usage or internal error.\n",
            KVMC_DEFAULT_TIMEOUT_S, KVMC_DEFAULT_DEADLINE_S);
}

/* Parse a positive number of seconds; returns 0 on error. */
static unsigned
kvmc_parse_secs(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v <= 0 || v > 3600) {
        return 0;
    }
    return (unsigned)v;
}

/* Log each step as it ends (verbose mode, in the prober). */
static void
kvmc_log_progress(const struct kvmc_obs *obs)
{
    const struct kvmc_step *st = &obs->steps[obs->current_step];

    if (st->outcome == KVMC_OUT_NOT_RUN) {
        log_debug("step %s: started", kvmc_step_key(obs->current_step));
    } else {
        log_debug("step %s: %s%s%s", kvmc_step_key(obs->current_step),
                  kvmc_outcome_name(st->outcome), st->msg[0] ? ": " : "",
                  st->msg);
    }
}

static void
kvmc_progress_local(const struct kvmc_obs *obs, void *opaque)
{
    (void)opaque;
    kvmc_log_progress(obs);
}

/* In the child: send a snapshot to the parent, whole or not at all. */
static void
kvmc_progress_pipe(const struct kvmc_obs *obs, void *opaque)
{
    int fd = *(int *)opaque;
    const char *p = (const char *)obs;
    size_t left = sizeof(*obs);
    ssize_t n;

    kvmc_log_progress(obs);
    while (left > 0) {
        n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            _exit(3);       /* parent gone: nothing left to do */
        }
        p += n;
        left -= (size_t)n;
    }
}

static uint64_t
kvmc_ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Mark the step the prober was in as ended, unless it already is. */
static void
kvmc_mark_current(struct kvmc_obs *obs, enum kvmc_outcome o, const char *msg)
{
    struct kvmc_step *st = &obs->steps[obs->current_step];
    int i;

    if (st->outcome == KVMC_OUT_NOT_RUN || st->outcome == KVMC_OUT_OK) {
        /* An OK step may be followed by work that belongs to it. */
        if (st->outcome == KVMC_OUT_OK) {
            for (i = obs->current_step + 1; i < KVMC_STEP_COUNT; i++) {
                if (obs->steps[i].outcome == KVMC_OUT_NOT_RUN) {
                    st = &obs->steps[i];
                    obs->current_step = (enum kvmc_step_id)i;
                    break;
                }
            }
        }
        st->outcome = o;
        snprintf(st->msg, sizeof(st->msg), "%s", msg);
    }
}

/*
 * Run the probe in a child and collect its last snapshot into obs.
 * Returns 0, or -1 if the child could not be started.
 */
static int
kvmc_supervise(const struct kvmc_opts *o, struct kvmc_obs *obs)
{
    struct kvmc_probe_opts popts;
    struct kvmc_obs snap;
    size_t have = 0;
    uint64_t end;
    char msg[160];
    int fds[2];
    pid_t pid;
    int status, timed_out = 0, i;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        log_warn("pipe");
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        log_warn("fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        signal(SIGPIPE, SIG_IGN);
        memset(&popts, 0, sizeof(popts));
        popts.device = o->device;
        popts.run_timeout_ms = o->timeout_s * 1000;
        popts.progress = kvmc_progress_pipe;
        popts.opaque = &fds[1];
        memset(&snap, 0, sizeof(snap));
        kvmc_probe(&popts, &snap);
        _exit(0);
    }
    close(fds[1]);

    end = kvmc_ms_now() + (uint64_t)o->deadline_s * 1000;
    for (;;) {
        struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
        uint64_t now = kvmc_ms_now();
        int r;

        if (now >= end) {
            timed_out = 1;
            break;
        }
        r = poll(&pfd, 1, (int)(end - now));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            continue;       /* loop re-checks the deadline */
        }
        n = read(fds[0], (char *)&snap + have, sizeof(snap) - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;          /* EOF: the prober finished or died */
        }
        have += (size_t)n;
        if (have == sizeof(snap)) {
            memcpy(obs, &snap, sizeof(*obs));
            have = 0;
        }
    }
    close(fds[0]);

    if (timed_out) {
        kill(pid, SIGKILL);
        snprintf(msg, sizeof(msg), "no progress within the %u s deadline; "
                 "probe process killed", o->deadline_s);
        kvmc_mark_current(obs, KVMC_OUT_TIMEOUT, msg);
        /* A task stuck in the kernel may not die at once: do not wait. */
        for (i = 0; i < 10; i++) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                break;
            }
            usleep(100000);
        }
        return 0;
    }
    if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status)) {
        snprintf(msg, sizeof(msg), "probe process died (signal %d)",
                 WTERMSIG(status));
        kvmc_mark_current(obs, KVMC_OUT_ERROR, msg);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { "device", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, 't' },
        { "deadline", required_argument, NULL, 'D' },
        { "no-fork", no_argument, NULL, 'F' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct kvmc_probe_opts popts;
    struct kvmc_result res;
    struct kvmc_obs obs;
    struct kvmc_opts o;
    int c;

    log_init("kemari-kvm-check", 1, LOG_LEVEL_INFO);
    memset(&o, 0, sizeof(o));
    o.device = "/dev/kvm";
    o.timeout_s = KVMC_DEFAULT_TIMEOUT_S;
    o.deadline_s = KVMC_DEFAULT_DEADLINE_S;
    o.fork = 1;

    while ((c = getopt_long(argc, argv, "jd:t:D:vhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.json = 1;
            break;
        case 'd':
            o.device = optarg;
            break;
        case 't':
            o.timeout_s = kvmc_parse_secs(optarg);
            if (!o.timeout_s) {
                log_warnx("--timeout: expected 1..3600 seconds, got '%s'",
                          optarg);
                return KVMC_EXIT_USAGE;
            }
            break;
        case 'D':
            o.deadline_s = kvmc_parse_secs(optarg);
            if (!o.deadline_s) {
                log_warnx("--deadline: expected 1..3600 seconds, got '%s'",
                          optarg);
                return KVMC_EXIT_USAGE;
            }
            break;
        case 'F':
            o.fork = 0;
            break;
        case 'v':
            log_set_verbosity(LOG_LEVEL_DEBUG);
            break;
        case 'h':
            kvmc_usage(stdout);
            return 0;
        case 'V':
            printf("kemari-kvm-check %s\n", PACKAGE_VERSION);
            return 0;
        default:
            kvmc_usage(stderr);
            return KVMC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        log_warnx("unexpected argument '%s'", argv[optind]);
        kvmc_usage(stderr);
        return KVMC_EXIT_USAGE;
    }

    memset(&obs, 0, sizeof(obs));
    if (o.fork) {
        if (kvmc_supervise(&o, &obs) < 0) {
            return KVMC_EXIT_USAGE;
        }
    } else {
        memset(&popts, 0, sizeof(popts));
        popts.device = o.device;
        popts.run_timeout_ms = o.timeout_s * 1000;
        popts.progress = kvmc_progress_local;
        kvmc_probe(&popts, &obs);
    }

    kvmc_evaluate(&obs, &res);
    if (o.json) {
        kvmc_report_json(stdout, o.device, &obs, &res);
    } else {
        kvmc_report_text(stdout, o.device, &obs, &res);
    }
    if (fflush(stdout) != 0) {
        log_warn("stdout");
        return KVMC_EXIT_USAGE;
    }
    return kvmc_exit_code(&res);
}
