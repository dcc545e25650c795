/*
 * qmpc.h - QMP client on the GLib main loop
 *
 * The only module of kemarid that speaks the QMP wire format.  It
 * connects to QEMU's QMP UNIX socket, reads the greeting, negotiates
 * capabilities, sends commands with unique integer ids and matches the
 * replies by id, hands asynchronous events to a callback, and when the
 * socket closes (or QEMU says something malformed) it fails the pending
 * commands and reconnects with exponential back-off.  No call blocks.
 *
 * Two layers:
 *   - pure wire parsing, fuzzed by tests/fuzz/fuzz-qmp-line.c:
 *     struct qmpc_splitter cuts a byte stream into lines (partial lines,
 *     several lines per read, a cap on the line length), and
 *     qmpc_parse_line() turns one line into a struct qmpc_msg;
 *   - struct qmpc, the connection, tested against a scripted fake QEMU
 *     (tests/unit/test-kemarid-fakeqemu.c).
 *
 * Ownership: struct qmpc is reference-counted; every callback runs with
 * a reference held, so a callback may drop the caller's last reference.
 * qmpc_close() stops everything; pending replies are then delivered
 * with QMPC_ERROR_CANCELLED.
 */
#ifndef KEMARI_DAEMON_QMPC_H
#define KEMARI_DAEMON_QMPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#define QMPC_MAX_LINE (1024 * 1024)     /* default cap, bytes */
#define QMPC_PRIORITY G_PRIORITY_DEFAULT /* above control clients' */

/* ------------------------------------------------------------------ */
/* Wire parsing (pure) */

enum qmpc_msg_kind {
    QMPC_MSG_GREETING,      /* {"QMP": {"version":..., "capabilities":...}} */
    QMPC_MSG_RETURN,        /* {"return": ..., "id": N} */
    QMPC_MSG_ERROR,         /* {"error": {"class","desc"}, "id": N} */
    QMPC_MSG_EVENT,         /* {"event": NAME, "data": {...}, "timestamp"} */
};

struct qmpc_msg {
    enum qmpc_msg_kind kind;
    int64_t id;             /* RETURN/ERROR: the id echoed; -1 if none */
    JsonNode *value;        /* owned, never NULL once parsed: GREETING the
                             * "QMP" object, RETURN the return value,
                             * EVENT the data object ({} when absent),
                             * ERROR the error object */
    char *error_class;      /* owned, ERROR only: e.g. "GenericError" */
    char *error_desc;       /* owned, ERROR only */
    char *event;            /* owned, EVENT only: e.g. "STOP" */
    int64_t ts_sec;         /* EVENT: timestamp seconds, -1 if absent */
    int64_t ts_usec;        /* EVENT: timestamp microseconds, -1 too */
};

/*
 * Parses one QMP line (LEN bytes, without the newline).  Returns false
 * with QMPC_ERROR_PROTOCOL when it is not strict JSON (jsonstrict.h),
 * not an object, holds none or several of QMP/return/error/event, or
 * has members of the wrong type.  Unknown extra members are ignored,
 * as the QMP specification asks of clients.  Call qmpc_msg_clear().
 */
bool qmpc_parse_line(const char *line, size_t len, struct qmpc_msg *out,
                     GError **error);
void qmpc_msg_clear(struct qmpc_msg *m);

/* Cuts a byte stream into lines. */
struct qmpc_splitter {
    GString *pending;       /* owned: bytes of the unfinished line */
    size_t max_line;        /* longest line accepted, without '\n' */
};

/*
 * Receives one line without its '\n' (and without a '\r' before it).
 * Returns false to stop feeding (the rest of the chunk is dropped).
 */
typedef bool (*qmpc_line_fn)(const char *line, size_t len, void *opaque);

void qmpc_splitter_init(struct qmpc_splitter *s, size_t max_line);
void qmpc_splitter_reset(struct qmpc_splitter *s);  /* drop pending */
void qmpc_splitter_clear(struct qmpc_splitter *s);  /* free */

/*
 * Appends LEN bytes and calls FN for every complete line.  Returns false
 * with QMPC_ERROR_PROTOCOL when a line exceeds max_line (the splitter
 * is reset), or false without error when FN asked to stop.
 */
bool qmpc_splitter_feed(struct qmpc_splitter *s, const char *data,
                        size_t len, qmpc_line_fn fn, void *opaque,
                        GError **error);

/* ------------------------------------------------------------------ */
/* The connection */

struct qmpc;

/*
 * A command's outcome.  On success ERROR is NULL and REPLY->value holds
 * the return value.  On a QMP error reply ERROR is QMPC_ERROR_COMMAND
 * ("COMMAND: CLASS: DESC") and REPLY has the class and description.
 * Without a reply (disconnected, cancelled) REPLY is NULL.  Both are
 * borrowed for the duration of the call.
 */
typedef void (*qmpc_reply_fn)(struct qmpc *q, const struct qmpc_msg *reply,
                              const GError *error, void *opaque);

struct qmpc_callbacks {
    /* Capabilities negotiated: commands may be sent.  GREETING is the
     * "QMP" object (borrowed).  May be NULL. */
    void (*connected)(struct qmpc *q, JsonNode *greeting, void *opaque);
    /* A negotiated session ended (pending commands already failed);
     * reconnection is scheduled.  WHY is borrowed.  May be NULL. */
    void (*disconnected)(struct qmpc *q, const GError *why, void *opaque);
    /* An asynchronous event (borrowed).  May be NULL. */
    void (*event)(struct qmpc *q, const struct qmpc_msg *event,
                  void *opaque);
};

/* Tunables; zero fields take the defaults in brackets. */
struct qmpc_params {
    unsigned backoff_initial_ms;    /* first retry delay [100] */
    unsigned backoff_max_ms;        /* retry delay cap [5000] */
    unsigned greeting_timeout_ms;   /* connect to negotiated [5000] */
    size_t max_line;                /* [QMPC_MAX_LINE] */
};

/*
 * A client for the QMP socket at PATH; LABEL (usually the VM name) is
 * used as the vm= prefix of log lines.  Both are copied; CB is copied;
 * PARAMS may be NULL.  Nothing happens before qmpc_start().  Returns
 * NULL with QMPC_ERROR_CONNECT if PATH does not fit a UNIX address.
 */
struct qmpc *qmpc_new(const char *path, const char *label,
                      const struct qmpc_callbacks *cb, void *opaque,
                      const struct qmpc_params *params, GError **error);
struct qmpc *qmpc_ref(struct qmpc *q);
void qmpc_unref(struct qmpc *q);    /* the last unref also closes */
typedef struct qmpc qmpc;           /* only for g_autoptr(qmpc) */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qmpc, qmpc_unref)

/* Starts connecting now (and reconnecting whenever needed). */
void qmpc_start(struct qmpc *q);

/*
 * Closes the connection for good: pending commands get
 * QMPC_ERROR_CANCELLED, no callback runs afterwards (but those
 * cancellations), no reconnection.
 */
void qmpc_close(struct qmpc *q);

/* Whether commands may be sent now. */
bool qmpc_is_ready(const struct qmpc *q);

/*
 * The process id of the QEMU at the other end of the connected socket
 * (SO_PEERCRED: the process that created the listening socket), or 0
 * when not connected.
 */
pid_t qmpc_peer_pid(const struct qmpc *q);

/*
 * Sends COMMAND with ARGS (may be NULL; copied) and calls CB (may be
 * NULL) once with the outcome.  Returns false with QMPC_ERROR_NOT_CONNECTED
 * when the session is not negotiated (CB is then never called), or
 * QMPC_ERROR_PROTOCOL for an invalid command name.
 */
bool qmpc_command(struct qmpc *q, const char *command, JsonObject *args,
                  qmpc_reply_fn cb, void *opaque, GError **error);

#define QMPC_ERROR (qmpc_error_quark())
GQuark qmpc_error_quark(void);
enum qmpc_error_code {
    QMPC_ERROR_PROTOCOL,        /* malformed or unexpected message */
    QMPC_ERROR_COMMAND,         /* QEMU answered with an error */
    QMPC_ERROR_CONNECT,         /* could not connect */
    QMPC_ERROR_DISCONNECTED,    /* connection lost before the reply */
    QMPC_ERROR_NOT_CONNECTED,   /* no negotiated session now */
    QMPC_ERROR_TIMEOUT,         /* no greeting/negotiation in time */
    QMPC_ERROR_CANCELLED,       /* qmpc_close() */
};

#endif /* KEMARI_DAEMON_QMPC_H */
