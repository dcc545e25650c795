/*
 * backend.h - how kemarid reaches the QEMU of a VM
 *
 * vm.c speaks QMP commands and reacts to QMP events; a backend carries
 * them.  The direct backend (backend-direct.c) speaks QMP over a UNIX
 * socket of its own and starts secondaries as child processes; the
 * libvirt backend will go through libvirtd.  A backend reports back
 * through the kd_vm_qemu_*() functions of vm.c, always from the main
 * loop, never from inside one of its own calls.
 */
#ifndef KEMARI_DAEMON_BACKEND_H
#define KEMARI_DAEMON_BACKEND_H

#include <stdbool.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pairproto.h"
#include "qmpc.h"

struct kd;
struct kd_vm;

/*
 * A command's outcome, as qmpc_reply_fn: REPLY is NULL without a reply
 * (ERROR says why); both are borrowed.  Not called when the command was
 * cancelled because the VM is being freed.
 */
typedef void (*kd_reply_fn)(struct kd_vm *vm, const struct qmpc_msg *reply,
                            const GError *error, void *opaque);

struct kd_backend {
    const char *name;
    /* The VMs carry their own protection settings (the libvirt domain's
     * <kemari>): those of `kemari start` do not apply. */
    bool own_settings;
    /* What load_config() produces and start_incoming() takes: the
     * CONFIG_KIND of PAIR_REQUEST (peers must use the same backend). */
    enum pairproto_config_kind config_kind;
    /* Looks for VMs running here that kemarid does not know yet. */
    void (*scan)(struct kd *kd);
    /* Whether QMP commands can be sent to the VM's QEMU now. */
    bool (*ready)(struct kd_vm *vm);
    /* Sends COMMAND (ARGS may be NULL, not taken); false with an error
     * when not ready (CB is then never called). */
    bool (*command)(struct kd_vm *vm, const char *command, JsonObject *args,
                    kd_reply_fn cb, void *opaque, GError **error);
    /* Fills vm->config: what the secondary needs to start the same VM
     * (QEMU's argv, or the libvirt domain XML). */
    bool (*load_config)(struct kd_vm *vm, GError **error);
    /* Starts the secondary's QEMU from vm->config, waiting for an
     * incoming migration; kd_vm_qemu_connected() follows when QMP is
     * ready, kd_vm_qemu_exited() if it dies. */
    bool (*start_incoming)(struct kd_vm *vm, GError **error);
    /* Ends the VM's QEMU: quit, then kill after a grace period. */
    void (*quit)(struct kd_vm *vm);
    /* Forgets the VM's QEMU connection and frees backend state (the VM is
     * being freed, or its QEMU is gone). */
    void (*release)(struct kd_vm *vm);
    /* The secondary we started took over: it is the VM from now on (the
     * libvirt backend makes the domain persistent).  May be NULL. */
    void (*took_over)(struct kd_vm *vm);
};

extern const struct kd_backend kd_backend_direct;
extern const struct kd_backend kd_backend_libvirt;

/* ---- reports from a backend (vm.c) ---- */

/* QMP is ready (a new QEMU found, or the secondary we started). */
void kd_vm_qemu_connected(struct kd_vm *vm);
/* An asynchronous QMP event; DATA may be NULL. */
void kd_vm_qemu_event(struct kd_vm *vm, const char *event, JsonObject *data);
/* The QEMU is gone; WHY for the log. */
void kd_vm_qemu_exited(struct kd_vm *vm, const char *why);

#endif /* KEMARI_DAEMON_BACKEND_H */
