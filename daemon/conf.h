/*
 * conf.h - /etc/kemari/kemari.conf: parse, validate, print
 *
 * The file is in key-file format (the GKeyFile / desktop-entry syntax):
 * [group] headers, "key = value" lines, '#' comments, escapes \s \n \t
 * \r \\ in values.  Unlike GKeyFile, every problem is reported with the
 * file, the line and the key: "FILE:LINE: key 'x' in [group]: bad value
 * 'y' (allowed: ...)".  Unknown groups or keys, keys set twice and
 * groups opened twice are errors too, so a typo never goes unnoticed.
 *
 * conf_print() writes the canonical form of a configuration (every key,
 * in a fixed order); conf_parse(conf_print(c)) gives c back.  The unit
 * test parses daemon/kemari.conf.example and compares the printout with
 * a golden file.  The keys and their meaning are in kemari.conf(5) and
 * in the example file.
 */
#ifndef KEMARI_DAEMON_CONF_H
#define KEMARI_DAEMON_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

#include "log.h"

#define CONF_DEFAULT_PATH "/etc/kemari/kemari.conf"
#define CONF_MAX_SIZE (1024 * 1024)     /* larger files are refused */

enum conf_failover_policy {
    CONF_FAILOVER_STANDALONE = 0,   /* kemarid decides (with quorum) */
    CONF_FAILOVER_PACEMAKER = 1,    /* only Pacemaker decides */
};

enum conf_reprotect {
    CONF_REPROTECT_AUTOMATIC = 0,   /* pick a new secondary on its own */
    CONF_REPROTECT_MANUAL = 1,      /* wait for kemari start */
};

enum conf_backend {
    CONF_BACKEND_DIRECT = 0,        /* QMP over a UNIX socket */
    CONF_BACKEND_LIBVIRT = 1,       /* through libvirt */
};

enum conf_ckpt_mode {
    CONF_CKPT_EVENT = 0,            /* checkpoint when outputs are pending */
    CONF_CKPT_PERIODIC = 1,         /* checkpoint every max-interval-ms */
};

enum conf_page_encoding {
    CONF_PAGES_DELTA = 0,           /* XBZRLE deltas against the last copy */
    CONF_PAGES_FULL = 1,            /* whole pages */
};

/*
 * A configuration.  Strings are owned; the ones marked "may be NULL"
 * are optional keys that were not set.
 */
struct conf {
    char *path;                 /* file read, for messages ("" defaults) */
    /* [daemon] */
    char *node_name;            /* may be NULL: the host name is used */
    char *control_socket;       /* absolute path of the control socket */
    char *control_group;        /* may be NULL: only root may connect */
    enum log_level log_level;
    enum conf_failover_policy failover_policy;
    enum conf_reprotect reprotect;
    char *kvm_check;            /* absolute path of kemari-kvm-check */
    char *migration_address;    /* may be NULL: where secondaries listen */
    unsigned migration_port_min; /* 1..65535: ports secondaries listen */
    unsigned migration_port_max; /* on, migration_port_min..max */
    /* [qemu] */
    enum conf_backend backend;
    char *qemu_binary;          /* absolute path of the Kemari QEMU */
    char *run_dir;              /* absolute path: QMP sockets, pid files */
    char *state_dir;            /* absolute path: kept across reboots */
    /* [checkpoint] */
    enum conf_ckpt_mode ckpt_mode;
    unsigned min_interval_ms;   /* 0..60000, <= max_interval_ms */
    unsigned max_interval_ms;   /* 1..600000 */
    unsigned ack_timeout_ms;    /* 100..600000 */
    enum conf_page_encoding page_encoding;
};

/* The built-in defaults.  Never NULL. */
struct conf *conf_new_defaults(void);

/*
 * Parses LEN bytes of DATA; NAME is the file name used in messages.
 * Keys not in the file keep their defaults.  Returns NULL with a
 * CONF_ERROR on the first problem.
 */
struct conf *conf_parse(const char *name, const char *data, size_t len,
                        GError **error);

/* Reads and parses PATH.  Returns NULL with a CONF_ERROR on failure. */
struct conf *conf_load(const char *path, GError **error);

/* The canonical text of C, one "key = value" per line.  Caller frees. */
char *conf_print(const struct conf *c);

void conf_free(struct conf *c);
/* Only so that g_autoptr(conf) works; code says struct conf. */
typedef struct conf conf;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(conf, conf_free)

#define CONF_ERROR (conf_error_quark())
GQuark conf_error_quark(void);
enum conf_error_code {
    CONF_ERROR_IO,          /* cannot read the file */
    CONF_ERROR_SYNTAX,      /* malformed line, not UTF-8, too large */
    CONF_ERROR_UNKNOWN,     /* unknown group or key */
    CONF_ERROR_DUPLICATE,   /* group or key twice */
    CONF_ERROR_VALUE,       /* bad value, or inconsistent values */
};

#endif /* KEMARI_DAEMON_CONF_H */
