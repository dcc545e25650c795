/*
 * log.c - see log.h
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_ident = "kemari";
static int log_to_stderr = 1;
static enum log_level log_verbosity = LOG_LEVEL_INFO;
static log_sink_fn log_sink;
static void *log_sink_opaque;

void
log_init(const char *ident, int to_stderr, enum log_level verbosity)
{
    log_ident = ident;
    log_to_stderr = to_stderr;
    log_verbosity = verbosity;
    if (!to_stderr) {
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

void
log_set_verbosity(enum log_level verbosity)
{
    log_verbosity = verbosity;
}

void
log_set_sink(log_sink_fn sink, void *opaque)
{
    log_sink = sink;
    log_sink_opaque = opaque;
}

void
log_vmsg(enum log_level level, int errnum, const char *vm, const char *fmt,
         va_list ap)
{
    char body[1024];
    char msg[1200];
    static const int prio[] = {
        [LOG_LEVEL_ERR] = LOG_ERR,
        [LOG_LEVEL_INFO] = LOG_INFO,
        [LOG_LEVEL_DEBUG] = LOG_DEBUG,
    };

    if (level > log_verbosity) {
        return;
    }
    vsnprintf(body, sizeof(body), fmt, ap);
    snprintf(msg, sizeof(msg), "%s%s%s%s%s",
             vm ? "vm=" : "", vm ? vm : "", vm ? ": " : "", body,
             errnum ? ": " : "");
    if (errnum) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, "%s", strerror(errnum));
    }

    if (log_sink) {
        log_sink(level, msg, log_sink_opaque);
    } else if (log_to_stderr) {
        fprintf(stderr, "%s: %s\n", log_ident, msg);
    } else {
        syslog(prio[level], "%s", msg);
    }
}

#define LOG_WRAPPER(name, level, errnum_expr)                   \
    void                                                        \
    name(const char *fmt, ...)                                  \
    {                                                           \
        int saved = errno;                                      \
        va_list ap;                                             \
        va_start(ap, fmt);                                      \
        log_vmsg(level, (errnum_expr), NULL, fmt, ap);          \
        va_end(ap);                                             \
        errno = saved;                                          \
    }

LOG_WRAPPER(log_warn, LOG_LEVEL_ERR, saved)
LOG_WRAPPER(log_warnx, LOG_LEVEL_ERR, 0)
LOG_WRAPPER(log_info, LOG_LEVEL_INFO, 0)
LOG_WRAPPER(log_debug, LOG_LEVEL_DEBUG, 0)

#define VM_LOG_WRAPPER(name, level)                             \
    void                                                        \
    name(const char *vm, const char *fmt, ...)                  \
    {                                                           \
        int saved = errno;                                      \
        va_list ap;                                             \
        va_start(ap, fmt);                                      \
        log_vmsg(level, 0, vm, fmt, ap);                        \
        va_end(ap);                                             \
        errno = saved;                                          \
    }

VM_LOG_WRAPPER(vm_log_warnx, LOG_LEVEL_ERR)
VM_LOG_WRAPPER(vm_log_info, LOG_LEVEL_INFO)
VM_LOG_WRAPPER(vm_log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERR, saved, NULL, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERR, 0, NULL, fmt, ap);
    va_end(ap);
    exit(1);
}
