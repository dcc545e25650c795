/*
 * ctlproto.h - the control-socket protocol between kemari(1) and kemarid
 *
 * One JSON object per line (UTF-8, '\n'-terminated, at most
 * CTLPROTO_MAX_LINE bytes), versioned by a "version" member in every
 * message.  The client sends requests, the daemon answers each with one
 * reply carrying the same "id"; after a stats-subscribe the daemon also
 * sends events with the subscription's id until the client disconnects.
 * PROTOCOL.md documents every member and the versioning rules.
 *
 *   request: {"version":1,"id":7,"command":"start",
 *             "args":{"vm":"web1","peer":"node-b"}}
 *   reply:   {"version":1,"id":7,"ok":true,"result":{...}}
 *            {"version":1,"id":7,"ok":false,
 *             "error":{"code":"refused","message":"..."}}
 *   event:   {"version":1,"id":7,"event":"stats","data":{...}}
 *
 * This module is the codec (pure, fuzzed by tests/fuzz/fuzz-ctlproto.c)
 * plus the peer-credential policy of the socket: root, or a member of
 * the configured control group; anyone else is refused with a clear
 * message.  The socket server itself lives elsewhere.
 */
#ifndef KEMARI_DAEMON_CTLPROTO_H
#define KEMARI_DAEMON_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#define CTLPROTO_VERSION 1
#define CTLPROTO_MAX_LINE 65536         /* bytes, without the '\n' */
#define CTLPROTO_ID_MAX ((INT64_C(1) << 53) - 1) /* exact in a double */
#define CTLPROTO_NAME_MAX 64            /* vm, node names and device ids */
#define CTLPROTO_INTERVAL_MIN 100       /* stats-subscribe interval, ms */
#define CTLPROTO_INTERVAL_MAX 60000
#define CTLPROTO_INTERVAL_DEFAULT 1000
#define CTLPROTO_OP_MAX 16              /* hook-event op, e.g. "started" */
#define CTLPROTO_MAX_REPLICATE 16       /* start: replicated device ids */

enum ctlproto_command {
    CTLPROTO_CMD_STATUS = 0,    /* args: vm (optional) */
    CTLPROTO_CMD_START,         /* args: vm, [peer], [replicate] */
    CTLPROTO_CMD_STOP,          /* args: vm */
    CTLPROTO_CMD_FAILOVER,      /* args: vm */
    CTLPROTO_CMD_NODES,         /* no args */
    CTLPROTO_CMD_STATS_SUBSCRIBE, /* args: vm (optional), interval-ms
                                   * (optional) */
    CTLPROTO_CMD_HOOK_EVENT,    /* args: vm, op: the libvirt hook says the
                                 * domain's QEMU changed (started, stopped,
                                 * release) */
    CTLPROTO_CMD_FENCED,        /* args: node: it was fenced (down for
                                 * good); appended, like every command */
    CTLPROTO_CMD_COUNT
};

/* A parsed request.  Strings are "" when absent. */
struct ctlproto_request {
    int64_t id;                 /* 0..CTLPROTO_ID_MAX; -1 if unknown */
    enum ctlproto_command command;
    char vm[CTLPROTO_NAME_MAX + 1];
    char peer[CTLPROTO_NAME_MAX + 1];   /* start: "peer"; fenced: "node" */
    char op[CTLPROTO_OP_MAX + 1];       /* hook-event only */
    unsigned interval_ms;       /* stats-subscribe only */
    /* start: the QEMU device ids whose disks are replicated, distinct;
     * n_replicate 0: every disk is shared */
    char replicate[CTLPROTO_MAX_REPLICATE][CTLPROTO_NAME_MAX + 1]; /* start */
    unsigned n_replicate;
};

/*
 * Error codes: the "code" strings of error replies, and the GError codes
 * of the CTLPROTO_ERROR domain.  Append only.
 */
enum ctlproto_error_code {
    CTLPROTO_ERROR_BAD_REQUEST = 0, /* "bad-request": malformed request */
    CTLPROTO_ERROR_VERSION,         /* "unsupported-version" */
    CTLPROTO_ERROR_UNKNOWN_COMMAND, /* "unknown-command" */
    CTLPROTO_ERROR_PERMISSION,      /* "permission-denied" */
    CTLPROTO_ERROR_NOT_FOUND,       /* "not-found": no such VM or node */
    CTLPROTO_ERROR_REFUSED,         /* "refused": not allowed now */
    CTLPROTO_ERROR_UNAVAILABLE,     /* "unavailable": cluster unknown */
    CTLPROTO_ERROR_INTERNAL,        /* "internal" (and unknown codes) */
    CTLPROTO_ERROR_BAD_REPLY,       /* client side: malformed reply */
    CTLPROTO_ERROR_COUNT
};

#define CTLPROTO_ERROR (ctlproto_error_quark())
GQuark ctlproto_error_quark(void);

/* Exit codes of kemari(1), documented in kemari(1): stable. */
enum ctlproto_exit {
    CTLPROTO_EXIT_OK = 0,
    CTLPROTO_EXIT_FAILURE = 1,      /* internal or unknown errors */
    CTLPROTO_EXIT_USAGE = 2,        /* bad command line or request */
    CTLPROTO_EXIT_NOT_FOUND = 3,    /* no such VM or node */
    CTLPROTO_EXIT_REFUSED = 4,      /* the state machine refused */
    CTLPROTO_EXIT_PERMISSION = 5,   /* not root nor in the control group */
    CTLPROTO_EXIT_UNAVAILABLE = 6,  /* daemon unreachable, cluster unknown */
    CTLPROTO_EXIT_PROTOCOL = 7,     /* version mismatch, malformed reply */
};

/* A parsed reply or event (client side). */
enum ctlproto_reply_kind {
    CTLPROTO_REPLY_OK,
    CTLPROTO_REPLY_ERROR,
    CTLPROTO_REPLY_EVENT,
};

struct ctlproto_reply {
    enum ctlproto_reply_kind kind;
    int64_t id;                 /* -1 when the reply's id is null */
    JsonNode *body;             /* owned: OK result or EVENT data */
    enum ctlproto_error_code code; /* ERROR only */
    char *code_name;            /* owned, ERROR only: as received */
    char *message;              /* owned, ERROR only */
    char *event;                /* owned, EVENT only: event name */
};

/* Stable names: "status", "start", ...; "?" when out of range. */
const char *ctlproto_command_name(enum ctlproto_command cmd);
/* "bad-request", ...; "internal" when out of range. */
const char *ctlproto_error_name(enum ctlproto_error_code code);
/* The exit code kemari(1) returns for an error reply with CODE. */
enum ctlproto_exit ctlproto_exit_code(enum ctlproto_error_code code);

/*
 * Parses one request line (LEN bytes, no '\n' needed).  On failure
 * returns false with a CTLPROTO_ERROR whose code is the error reply to
 * send; out->id is then the request's id if it could be read, else -1,
 * so that the reply can carry it.
 */
bool ctlproto_request_parse(const char *line, size_t len,
                            struct ctlproto_request *out, GError **error);

/* Formats REQ as one '\n'-terminated line.  Caller frees. */
char *ctlproto_request_format(const struct ctlproto_request *req);

/*
 * Formats replies and events as '\n'-terminated lines; caller frees.
 * ID -1 writes "id":null (request unreadable).  RESULT/DATA are not
 * taken (NULL: {}); MESSAGE must be UTF-8.
 */
char *ctlproto_reply_ok(int64_t id, JsonNode *result);
char *ctlproto_reply_error(int64_t id, enum ctlproto_error_code code,
                           const char *message);
char *ctlproto_reply_event(int64_t id, const char *event, JsonNode *data);

/*
 * Parses one reply or event line.  Returns false with
 * CTLPROTO_ERROR_BAD_REPLY (or _VERSION) when malformed; *OUT is then
 * cleared.  Unknown error codes are accepted as CTLPROTO_ERROR_INTERNAL
 * with code_name kept.  Call ctlproto_reply_clear() afterwards.
 */
bool ctlproto_reply_parse(const char *line, size_t len,
                          struct ctlproto_reply *out, GError **error);
void ctlproto_reply_clear(struct ctlproto_reply *r);

/* ------------------------------------------------------------------ */
/* Peer credentials */

struct ctlproto_cred {
    pid_t pid;
    uid_t uid;
    gid_t gid;                  /* primary group */
    gid_t *groups;              /* owned: supplementary groups */
    unsigned n_groups;
};

/*
 * Reads the credentials of the peer of the connected UNIX socket FD
 * (SO_PEERCRED, and SO_PEERGROUPS for the supplementary groups).
 * Returns false with a G_IO_ERROR on failure.  Call ctlproto_cred_clear().
 */
bool ctlproto_peer_cred(int fd, struct ctlproto_cred *out, GError **error);
void ctlproto_cred_clear(struct ctlproto_cred *cred);

/*
 * The policy: root is always allowed; with HAVE_GROUP, so is a peer
 * whose primary or supplementary groups include GROUP.  GROUP_NAME
 * (may be NULL) is only used in the message.  Returns false with
 * CTLPROTO_ERROR_PERMISSION and a message that says who may connect.
 */
bool ctlproto_cred_allowed(const struct ctlproto_cred *cred, bool have_group,
                           gid_t group, const char *group_name,
                           GError **error);

#endif /* KEMARI_DAEMON_CTLPROTO_H */
