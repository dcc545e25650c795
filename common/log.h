/*
 * log.h - logging for every Kemari program
 *
 * The API is the OpenBSD daemons' one: log_warn() appends strerror(errno),
 * log_warnx() does not, fatal()/fatalx() log and exit(1).  In the
 * foreground (and for command-line tools) messages go to stderr, prefixed
 * with the program name; a daemon logs to syslog (the journal picks it
 * up).  Messages about one VM carry its name first: use the vm_ variants,
 * which print "vm=NAME: ..." so that one VM's story can be grepped out.
 */
#ifndef KEMARI_LOG_H
#define KEMARI_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LEVEL_ERR = 0,      /* failures (fatal, warn) */
    LOG_LEVEL_INFO = 1,     /* state changes an operator wants to see */
    LOG_LEVEL_DEBUG = 2,    /* everything else */
};

/*
 * Receives every message that passes the verbosity filter, already
 * formatted, without a trailing newline.  Tests install one to capture
 * output; NULL restores the default (stderr or syslog).
 */
typedef void (*log_sink_fn)(enum log_level level, const char *msg,
                            void *opaque);

/*
 * ident: program name used as prefix/syslog ident (not copied: must live
 * as long as the program).  to_stderr: 1 for the foreground, 0 for
 * syslog.  verbosity: highest level printed (LOG_LEVEL_INFO by default).
 */
void log_init(const char *ident, int to_stderr, enum log_level verbosity);
void log_set_verbosity(enum log_level verbosity);
void log_set_sink(log_sink_fn sink, void *opaque);

void log_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* The same, prefixed with "vm=NAME: ". */
void vm_log_warnx(const char *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vm_log_info(const char *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vm_log_debug(const char *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The primitive the others are built on; errnum 0 means no strerror. */
void log_vmsg(enum log_level level, int errnum, const char *vm,
              const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif /* KEMARI_LOG_H */
