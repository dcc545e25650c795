/*
 * kemarid.h - what kemarid's parts share
 *
 * kemarid is one GLib main loop.  struct kd (one per process) holds the
 * configuration, the corosync membership, the table of nodes (from
 * their HELLOs) and the table of VMs.  Each VM (struct kd_vm, vm.c) owns
 * its state machine (fsm.c) and its QEMU access (the direct backend in
 * vm.c: QMP through qmpc.c).  The control socket (ctlserver.c) reads
 * these tables and feeds requests into the VMs' state machines.
 *
 * Nothing here blocks: every input is a GSource, every QEMU command
 * completes through a callback.
 */
#ifndef KEMARI_DAEMON_KEMARID_H
#define KEMARI_DAEMON_KEMARID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "conf.h"
#include "fsm.h"
#include "membership.h"
#include "pairproto.h"
#include "qmpc.h"

#define KD_SW_VERSION "kemari " PACKAGE_VERSION
#define KD_PAIR_TIMEOUT_MS 60000     /* PAIRING: no answer from the peer */
#define KD_REFUSED_BACKOFF_S 30      /* a node that refused is not picked
                                      * again for this long */
#define KD_POLL_MS 1000              /* query-kemari, run-dir scan */
#define KD_QUIT_GRACE_MS 5000        /* quit, then SIGKILL */

/* What a node said in its HELLO. */
struct kd_node {
    uint32_t id;
    bool hello;                 /* a HELLO arrived */
    char name[PAIRPROTO_NAME_MAX + 1];
    char sw_version[PAIRPROTO_VERSION_STR_MAX + 1];
    uint8_t proto_min, proto_max;
    uint32_t caps;
    enum pairproto_kvm_check kvm_check;
};

struct kd_vm;
struct ctlserver;
struct kd_backend;

struct kd {
    struct conf *conf;
    const struct kd_backend *backend;
    char *config_path;
    char *node_name;            /* conf node-name or the host name */
    char *migration_address;    /* resolved at start */
    GMainLoop *loop;
    struct membership *mb;
    bool up;                    /* membership up */
    struct membership_view view; /* valid while up */
    GHashTable *nodes;          /* uint32 id -> struct kd_node */
    GHashTable *vms;            /* name -> struct kd_vm */
    struct ctlserver *ctl;
    guint scan_timer;
    /* kemari-kvm-check */
    enum pairproto_kvm_check kvm_verdict;
    char *kvm_detail;           /* may be NULL */
    bool kvm_check_done;
};

/* ---- kemarid.c ---- */

/* Sends a pair message to the group; logs failures.  Fills the header
 * fields the caller leaves zero (nothing today). */
bool kd_send(struct kd *kd, const struct pairproto_msg *m);

/* The node with ID, or NULL; by name, or NULL. */
struct kd_node *kd_node_get(struct kd *kd, uint32_t id);
struct kd_node *kd_node_by_name(struct kd *kd, const char *name);
/* Node name for logs and status: the HELLO name or "node<ID>". */
const char *kd_node_label(struct kd *kd, uint32_t id, char *buf, size_t len);

/* Whether NODE could become a secondary now for VM (its KVM use, its
 * replicated disks), or for any VM when VM is NULL; *WHY gets a static
 * reason if not. */
bool kd_node_eligible(struct kd *kd, uint32_t node, const struct kd_vm *vm,
                      const char **why);

/* ---- vm.c ---- */

/*
 * A VM's own protection settings, over kemari.conf's: the libvirt backend
 * takes them from the domain's <kemari> element, the direct backend from
 * `kemari start` (and a secondary from the PAIR_REQUEST).
 */
struct kd_vm_opts {
    int ckpt_mode;              /* enum conf_ckpt_mode; -1: kemari.conf's */
    int min_interval_ms;        /* -1: kemari.conf's */
    int max_interval_ms;        /* -1: kemari.conf's */
    int ack_timeout_ms;         /* -1: kemari.conf's */
    char **replicated;          /* ids of devices whose disks are
                                 * replicated, NULL-terminated; NULL:
                                 * every disk is shared */
    char **peers;               /* the nodes that may hold the secondary,
                                 * in order of preference; NULL: any */
};

/* Progress of one replicated disk's copy, from query-kemari samples. */
struct kd_disk_rate {
    char *device;
    uint64_t done;              /* size - remaining at the last sample */
    double time;                /* when */
    double rate;                /* bytes of the disk covered per second */
};

struct kd_vm {
    struct kd *kd;
    char *name;
    struct vmfsm *fsm;
    double since;               /* when the state was entered */
    char *last_error;           /* may be NULL */
    uint64_t max_epoch_seen;    /* highest pairing epoch seen for the VM */
    bool uses_kvm;              /* our QEMU runs with KVM acceleration */
    /* QEMU (the direct backend's; other backends keep their own in be) */
    void *be;
    char *qmp_path;
    struct qmpc *qmp;
    pid_t pid;                  /* QEMU's pid, 0 if unknown */
    GPid child;                 /* we started it (secondary): its pid */
    guint child_watch;
    guint kill_timer;
    bool shutdown_seen;         /* SHUTDOWN with guest=true */
    bool running_fed;           /* VM_RUNNING fed for this QEMU */
    char *engine_state;         /* last KEMARI_STATE_CHANGE / query state */
    JsonNode *engine;           /* last query-kemari return */
    uint64_t rate_ckpts;        /* checkpoints at the last rate sample */
    double rate_time;
    double ckpt_rate;           /* checkpoints per second */
    bool continue_wanted;       /* continue-unprotected as soon as the
                                 * engine says secondary-lost */
    bool protect_deferred;      /* start protection once the engine's
                                 * previous session has ended */
    unsigned protect_retries;   /* migrate refused during its cleanup */
    guint poll_timer;
    /* pairing */
    guint pair_timer;
    char peer_host[PAIRPROTO_HOST_MAX + 1]; /* primary: where to migrate */
    uint16_t peer_port;
    uint16_t incoming_port;     /* secondary: where we listen */
    GBytes *config;             /* secondary: argv from PAIR_REQUEST */
    uint8_t uuid[PAIRPROTO_UUID_SIZE];
    GHashTable *refused;        /* node id -> monotonic second refused */
    bool reprotect_pending;     /* REPROTECT found no node yet */
    struct kd_vm_opts opts;
    char *opts_problem;         /* why the VM's own settings cannot be
                                 * used (protection is refused), or NULL */
    GArray *disk_rates;         /* struct kd_disk_rate */
};

/* Replaces VM's replicated disks with a copy of IDS (may be NULL). */
void kd_vm_set_replicated(struct kd_vm *vm, char *const *ids);
/* Protection is refused while PROBLEM (copied; NULL clears it) stands. */
void kd_vm_set_opts_problem(struct kd_vm *vm, const char *problem);

struct kd_vm *kd_vm_get(struct kd *kd, const char *name);
/* Creates the VM (state STOPPED) if needed. */
struct kd_vm *kd_vm_ensure(struct kd *kd, const char *name);
void kd_vm_free(struct kd_vm *vm);

/*
 * Feeds EV to the VM's machine and executes the effects.  Returns the
 * machine's result; *REASON as vmfsm_handle().
 */
enum vmfsm_result kd_vm_feed(struct kd_vm *vm, enum vmfsm_event ev,
                             const struct vmfsm_event_data *d,
                             const char **reason);

/* A pair message about this VM from node FROM. */
void kd_vm_pair_message(struct kd_vm *vm, uint32_t from,
                        const struct pairproto_msg *m);

/* The membership changed (OLD is the previous view or NULL). */
void kd_vm_membership(struct kd_vm *vm, const struct membership_view *old,
                      const struct membership_view *now);
void kd_vm_membership_lost(struct kd_vm *vm);

/*
 * Tells every node (target 0) that this node runs the VM as primary, with
 * its epoch; sent when kemarids join, so that a primary superseded by a
 * take-over while it was cut off learns it and destroys its copy.
 * Nothing for VMs that are not primaries here.
 */
void kd_vm_announce(struct kd_vm *vm);

/*
 * Control requests.  False with a CTLPROTO_ERROR whose code is the
 * reply's (refused, unavailable, internal) and a message saying why.
 */
bool kd_vm_start(struct kd_vm *vm, uint32_t peer, GError **error);
bool kd_vm_stop(struct kd_vm *vm, GError **error);
bool kd_vm_failover(struct kd_vm *vm, GError **error);
/*
 * NODE was fenced: tells the VM if its other copy is there.  True if it
 * was (the VM's machine then saw the event), false otherwise.
 */
bool kd_vm_peer_fenced(struct kd_vm *vm, uint32_t node);

/* Re-protection may find a node now (HELLO or view changed). */
void kd_vm_retry_reprotect(struct kd_vm *vm);
/*
 * The node re-protection would pick for VM's secondary: the first
 * eligible kemarid other than this one, skipping nodes that refused the
 * VM lately.  0 when there is none.
 */
uint32_t kd_vm_pick_peer(struct kd_vm *vm);

/* The VM's status / stats object for the control protocol. */
JsonNode *kd_vm_status_json(struct kd_vm *vm);
JsonNode *kd_vm_stats_json(struct kd_vm *vm);

/* Records a failure of the VM (shown by status). */
void kd_vm_error(struct kd_vm *vm, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* ---- ctlserver.c ---- */

struct ctlserver *ctlserver_new(struct kd *kd, GError **error);
void ctlserver_free(struct ctlserver *s);

#endif /* KEMARI_DAEMON_KEMARID_H */
