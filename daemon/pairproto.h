/*
 * pairproto.h - the kemarid <-> kemarid pair protocol codec
 *
 * Messages travel between kemarids as corosync CPG messages (totally
 * ordered, delivered to every member of the group).  Each one is a
 * 16-byte header followed by TLV fields, all integers big-endian; the
 * exact layout, every field and the versioning rules are in
 * daemon/PROTOCOL.md.  No struct is ever put on the wire as it is.
 *
 * pairproto_decode() is the only way bytes from a peer become a struct
 * pairproto_msg: it checks every length against the buffer before
 * reading, so it never reads out of bounds, and it rejects anything
 * malformed with a specific PAIRPROTO_ERROR code and a message naming
 * the field and offset.  pairproto_encode() builds the bytes and then
 * decodes them, so it cannot produce a message a peer would reject.
 *
 * The codec is pure (no I/O, no logging); it is fuzzed by
 * tests/fuzz/fuzz-pairproto.c.
 */
#ifndef KEMARI_DAEMON_PAIRPROTO_H
#define KEMARI_DAEMON_PAIRPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#define PAIRPROTO_MAGIC "KMRP"          /* 4 bytes, no NUL on the wire */
/*
 * Header versions spoken: PAIRPROTO_VERSION_MIN to PAIRPROTO_VERSION.  A
 * message goes out in the oldest version that has all its fields, so
 * that nodes which speak only version 1 read everything but what they
 * could not honour (PROTOCOL.md 1.5).
 */
#define PAIRPROTO_VERSION 2             /* newest header version */
#define PAIRPROTO_VERSION_MIN 1         /* oldest header version */
#define PAIRPROTO_VERSION_REPLICATED 2  /* first with REPLICATED_DISKS */
#define PAIRPROTO_HEADER_SIZE 16
#define PAIRPROTO_MAX_MSG 65536         /* header + body, bytes */
#define PAIRPROTO_NAME_MAX 64           /* VM_NAME, NODE_NAME */
#define PAIRPROTO_HOST_MAX 255          /* HOST */
#define PAIRPROTO_REASON_TEXT_MAX 256   /* REASON_TEXT */
#define PAIRPROTO_VERSION_STR_MAX 64    /* SW_VERSION */
#define PAIRPROTO_CONFIG_MAX 60000      /* CONFIG */
#define PAIRPROTO_UUID_SIZE 16
#define PAIRPROTO_MAX_REPLICATED 16     /* REPLICATED_DISKS: device ids */

/* Message types (header byte 5). */
enum pairproto_type {
    PAIRPROTO_HELLO = 1,        /* node announces itself to the group */
    PAIRPROTO_PAIR_REQUEST = 2, /* primary: be the secondary of this VM */
    PAIRPROTO_PAIR_ACCEPT = 3,  /* secondary: yes, connect here */
    PAIRPROTO_PAIR_REFUSE = 4,  /* secondary: no, because */
    PAIRPROTO_STATE_REPORT = 5, /* either copy: my state changed */
    PAIRPROTO_RELEASE = 6,      /* either copy: my copy is gone for good */
    PAIRPROTO_STOP = 7,         /* primary: protection ends, stop yours */
    PAIRPROTO_TYPE_MAX = 7
};

/* CONFIG_KIND: how the secondary learns the VM's configuration. */
enum pairproto_config_kind {
    PAIRPROTO_CONFIG_ARGV = 1,      /* QEMU arguments, each NUL-terminated */
    PAIRPROTO_CONFIG_LIBVIRT_XML = 2, /* libvirt domain XML (UTF-8) */
    PAIRPROTO_CONFIG_REFERENCE = 3, /* a name both nodes' configs know */
};

/* REASON_CODE of PAIR_REFUSE. */
enum pairproto_reason {
    PAIRPROTO_REASON_BUSY = 1,          /* the VM already runs there */
    PAIRPROTO_REASON_NOT_ELIGIBLE = 2,  /* kvm-check failed, draining... */
    PAIRPROTO_REASON_NO_RESOURCES = 3,  /* memory, disk */
    PAIRPROTO_REASON_INCOMPATIBLE = 4,  /* QEMU or config mismatch */
    PAIRPROTO_REASON_START_FAILED = 5,  /* incoming QEMU did not start */
    PAIRPROTO_REASON_STALE_EPOCH = 6,   /* epoch not above the last seen */
    PAIRPROTO_REASON_OTHER = 7,         /* see REASON_TEXT */
    PAIRPROTO_REASON_MAX = 7
};

/* KVM_CHECK of HELLO: verdict of kemari-kvm-check on the sender. */
enum pairproto_kvm_check {
    PAIRPROTO_KVM_NOT_RUN = 0,
    PAIRPROTO_KVM_PASS = 1,
    PAIRPROTO_KVM_FAIL = 2,
    PAIRPROTO_KVM_MAX = 2
};

/* CAPS bits of HELLO; unknown bits are kept and ignored. */
#define PAIRPROTO_CAP_PRIMARY   (1u << 0)   /* may run primaries */
#define PAIRPROTO_CAP_SECONDARY (1u << 1)   /* may run secondaries */
#define PAIRPROTO_CAP_LIBVIRT   (1u << 2)   /* libvirt backend */

/*
 * A decoded (or to-be-encoded) message.  Which fields are meaningful
 * depends on type (PROTOCOL.md has the table); the others are zero.
 * Strings are NUL-terminated copies, "" when absent.
 */
struct pairproto_msg {
    enum pairproto_type type;
    uint32_t target;            /* node the message is for, 0 = every node */
    char vm[PAIRPROTO_NAME_MAX + 1];        /* VM_NAME */
    uint8_t uuid[PAIRPROTO_UUID_SIZE];      /* VM_UUID */
    uint64_t epoch;             /* EPOCH, >= 1 */
    uint32_t node_id;           /* NODE_ID: requester (PAIR_REQUEST) */
    enum pairproto_config_kind config_kind; /* CONFIG_KIND */
    GBytes *config;             /* CONFIG, owned; NULL when absent */
    char host[PAIRPROTO_HOST_MAX + 1];      /* HOST of PAIR_ACCEPT */
    uint16_t port;              /* PORT of PAIR_ACCEPT, >= 1 */
    enum pairproto_reason reason_code;      /* REASON_CODE */
    char reason[PAIRPROTO_REASON_TEXT_MAX + 1];  /* REASON_TEXT, optional */
    uint8_t role;               /* ROLE: enum vmfsm_role */
    uint8_t state;              /* STATE: enum vmfsm_state */
    uint64_t ckpt_seq;          /* CKPT_SEQ: last acknowledged checkpoint */
    uint32_t caps;              /* CAPS: PAIRPROTO_CAP_* bits */
    uint8_t proto_min;          /* PROTO_MIN: oldest version spoken */
    uint8_t proto_max;          /* PROTO_MAX: newest version spoken */
    char sw_version[PAIRPROTO_VERSION_STR_MAX + 1]; /* SW_VERSION */
    enum pairproto_kvm_check kvm_check;     /* KVM_CHECK */
    char node_name[PAIRPROTO_NAME_MAX + 1]; /* NODE_NAME */
    /* REPLICATED_DISKS, optional: the QEMU device ids whose disks the
     * primary replicates (distinct); n_replicated 0: all disks shared */
    char replicated[PAIRPROTO_MAX_REPLICATED][PAIRPROTO_NAME_MAX + 1];
    unsigned n_replicated;
};

/* Frees what M owns (config) and zeroes it; M itself is not freed. */
void pairproto_msg_clear(struct pairproto_msg *m);

/*
 * Decodes LEN bytes at BUF into *OUT (which is cleared first and owns
 * its config afterwards; call pairproto_msg_clear()).  Returns false
 * with a PAIRPROTO_ERROR on any malformed input; *OUT is then cleared.
 */
bool pairproto_decode(const void *buf, size_t len, struct pairproto_msg *out,
                      GError **error);

/*
 * Encodes M, in the oldest header version that has all its fields.
 * Returns a new GBytes (caller owns it), or NULL with a PAIRPROTO_ERROR
 * when M is not a valid message (the same checks as the decoder: names,
 * ranges, lengths, required fields).
 */
GBytes *pairproto_encode(const struct pairproto_msg *m, GError **error);

/* "PAIR_REQUEST", ...; "?" when unknown. */
const char *pairproto_type_name(unsigned type);
/* "busy", "not-eligible", ...; "?" when unknown. */
const char *pairproto_reason_name(unsigned code);

/*
 * Whether S (NUL-terminated) is a valid VM or node name: 1..64 bytes of
 * [A-Za-z0-9_.-], not starting with '.' or '-'.  Shared with the
 * control protocol and the configuration, which accept the same names.
 */
bool pairproto_name_valid(const char *s);

#define PAIRPROTO_ERROR (pairproto_error_quark())
GQuark pairproto_error_quark(void);

enum pairproto_error_code {
    PAIRPROTO_ERROR_TRUNCATED,      /* shorter than header or header length */
    PAIRPROTO_ERROR_TOO_LARGE,      /* above PAIRPROTO_MAX_MSG */
    PAIRPROTO_ERROR_MAGIC,          /* not "KMRP" */
    PAIRPROTO_ERROR_VERSION,        /* header version not spoken */
    PAIRPROTO_ERROR_TYPE,           /* unknown message type */
    PAIRPROTO_ERROR_RESERVED,       /* reserved header bits set */
    PAIRPROTO_ERROR_TRAILING,       /* bytes after the declared body */
    PAIRPROTO_ERROR_FIELD_TRUNCATED, /* TLV runs past the body */
    PAIRPROTO_ERROR_FIELD_UNKNOWN,  /* unknown mandatory field, or one of
                                     * a later version than the header's */
    PAIRPROTO_ERROR_FIELD_DUPLICATE, /* field present twice */
    PAIRPROTO_ERROR_FIELD_UNEXPECTED, /* known field not allowed here */
    PAIRPROTO_ERROR_FIELD_MISSING,  /* required field absent */
    PAIRPROTO_ERROR_FIELD_SIZE,     /* wrong length for the field */
    PAIRPROTO_ERROR_FIELD_VALUE,    /* value out of range or bad text */
};

#endif /* KEMARI_DAEMON_PAIRPROTO_H */
