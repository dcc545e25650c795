/*
 * kemarixml.h - the <kemari> domain metadata and the vetting of a libvirt
 * domain against what the engine can protect
 *
 * A protected domain carries, in its <metadata>, one element in Kemari's
 * namespace (libvirt keeps namespaced elements there, and `virsh
 * metadata` reads and writes them):
 *
 *   <metadata>
 *     <kemari:kemari xmlns:kemari="https://kemari.dev/xmlns/libvirt/1.0">
 *       <kemari:peer node="node-b"/>
 *       <kemari:checkpoint mode="event" min-interval-ms="0"
 *                          max-interval-ms="100" ack-timeout-ms="3000"/>
 *       <kemari:storage mode="shared">
 *         <kemari:disk target="vdb" mode="replicated"/>
 *       </kemari:storage>
 *       <kemari:failover policy="standalone"/>
 *     </kemari:kemari>
 *   </metadata>
 *
 * libvirt-driver/kemari.rng is its RELAX NG schema, libvirt-driver/
 * README.md documents it, the device table and every message.
 *
 * This module parses a whole domain XML document (libxml2, no network,
 * no DTD, no entity declarations, at most KEMARIXML_MAX_SIZE bytes),
 * extracts and validates <kemari>, and vets the domain's devices against
 * one table (kemarixml_rules()): each row recognizes a kind of device by
 * an XPath and allows or refuses it, with the reason.  It is the only
 * module that includes libxml2.  Problems are collected, not stopped at:
 * each is one line of text that names the element or attribute, the
 * value and what is allowed, so that the hook can print them all.
 */
#ifndef KEMARI_LIBVIRT_KEMARIXML_H
#define KEMARI_LIBVIRT_KEMARIXML_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

#define KEMARIXML_NS "https://kemari.dev/xmlns/libvirt/1.0"
#define KEMARIXML_MAX_SIZE (16 * 1024 * 1024) /* bytes of domain XML */
#define KEMARIXML_MAX_PEERS 8
#define KEMARIXML_MAX_DISKS 256         /* <kemari:disk> elements */
#define KEMARIXML_TARGET_MAX 32         /* bytes of a <kemari:disk target> */

/* Bounds of <kemari:checkpoint>, the [checkpoint] keys of kemari.conf. */
#define KEMARIXML_MIN_INTERVAL_MAX 60000
#define KEMARIXML_MAX_INTERVAL_MIN 1
#define KEMARIXML_MAX_INTERVAL_MAX 600000
#define KEMARIXML_ACK_TIMEOUT_MIN 100
#define KEMARIXML_ACK_TIMEOUT_MAX 600000

enum kemarixml_ckpt_mode {
    KEMARIXML_CKPT_UNSET = 0,       /* kemari.conf's [checkpoint] mode */
    KEMARIXML_CKPT_EVENT,
    KEMARIXML_CKPT_PERIODIC,
};

enum kemarixml_storage {
    KEMARIXML_STORAGE_SHARED = 0,   /* the default: both hosts open it */
    KEMARIXML_STORAGE_REPLICATED,   /* each host opens an image of its
                                     * own; the engine copies the writes */
};

enum kemarixml_failover {
    KEMARIXML_FAILOVER_UNSET = 0,   /* kemari.conf's failover-policy */
    KEMARIXML_FAILOVER_STANDALONE,
    KEMARIXML_FAILOVER_PACEMAKER,
};

/* A <kemari:disk>: the storage mode of one disk of the domain. */
struct kemarixml_disk {
    char *target;               /* owned: the disk's <target dev>, a
                                 * lowercase letter, then letters and
                                 * digits, 2 to KEMARIXML_TARGET_MAX */
    enum kemarixml_storage mode;
};

/* A validated <kemari> element.  Integers are -1 when not given. */
struct kemarixml_config {
    char **peers;               /* owned, NULL-terminated, 1 to
                                 * KEMARIXML_MAX_PEERS names, in order */
    enum kemarixml_ckpt_mode ckpt_mode;
    int min_interval_ms;        /* 0..60000, <= max_interval_ms if both */
    int max_interval_ms;        /* 1..600000 */
    int ack_timeout_ms;         /* 100..600000 */
    enum kemarixml_storage storage; /* of the disks without a
                                     * <kemari:disk> of their own */
    struct kemarixml_disk *disks;   /* owned: the <kemari:disk> elements,
                                     * in document order, each target
                                     * once; NULL when there are none */
    size_t n_disks;             /* 0..KEMARIXML_MAX_DISKS */
    enum kemarixml_failover failover;
};

void kemarixml_config_free(struct kemarixml_config *c);
typedef struct kemarixml_config kemarixml_config;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kemarixml_config, kemarixml_config_free)

/* ------------------------------------------------------------------ */
/* Documents */

/* A parsed domain XML document. */
struct kemarixml_doc;

/*
 * Parses LEN bytes of domain XML.  Returns NULL with a KEMARIXML_ERROR
 * when the text is larger than KEMARIXML_MAX_SIZE, not well-formed, has
 * a DOCTYPE or entity declarations, or its root is not <domain>.
 */
struct kemarixml_doc *kemarixml_parse(const char *xml, size_t len,
                                      GError **error);
void kemarixml_doc_free(struct kemarixml_doc *d);
typedef struct kemarixml_doc kemarixml_doc;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kemarixml_doc, kemarixml_doc_free)

/* The domain's <name>; "" when it has none.  Owned by D. */
const char *kemarixml_doc_name(const struct kemarixml_doc *d);

/*
 * Whether D asks for protection: its <metadata> holds an element in
 * Kemari's namespace, or an element named "kemari" in another namespace
 * (a misspelled namespace must not leave a domain silently unprotected).
 */
bool kemarixml_doc_has_kemari(const struct kemarixml_doc *d);

/*
 * Extracts and validates <kemari>.  Returns NULL when there is none
 * (PROBLEMS untouched) or when it is invalid (one string appended to
 * PROBLEMS per problem, each owned by the array, which must free its
 * elements with g_free).  Caller owns the result.
 */
struct kemarixml_config *kemarixml_config_get(const struct kemarixml_doc *d,
                                              GPtrArray *problems);

/*
 * The storage mode of the disk whose <target dev> is TARGET: its
 * <kemari:disk> override, else <kemari:storage mode>, else shared.  C may
 * be NULL (then every disk is shared).
 */
enum kemarixml_storage kemarixml_disk_storage(const struct kemarixml_config *c,
                                              const char *target);

/*
 * The QEMU device ids (libvirt <alias name>) of D's disks whose storage
 * mode is replicated, as a NULL-terminated array (g_strfreev; an empty
 * array when there are none), in document order: what kemarid gives the
 * engine as x-kemari-replicated-disks.  Only writable disks
 * (device='disk', no <readonly/>) count: a read-only disk or a CD-ROM is
 * never written, so there is nothing to replicate.  A replicated disk
 * without an <alias> (an inactive domain's XML) is left out and, when
 * PROBLEMS is not NULL, named in it (see kemarixml_config_get()).  C may
 * be NULL (then nothing is replicated).
 */
char **kemarixml_replicated_disks(const struct kemarixml_doc *d,
                                  const struct kemarixml_config *c,
                                  GPtrArray *problems);

/* The image of a replicated disk. */
struct kemarixml_image {
    char *target;               /* <target dev>, NULL if not given */
    char *file;                 /* <source file> of a file disk, else NULL */
    char *format;               /* <driver type>, NULL if not given */
};

/*
 * The images of D's replicated writable disks (as for
 * kemarixml_replicated_disks(), but with or without an <alias>: the
 * migratable XML a secondary gets has none), in document order, as
 * struct kemarixml_image (the array frees them).
 */
GPtrArray *kemarixml_replicated_images(const struct kemarixml_doc *d,
                                       const struct kemarixml_config *c);

/* ------------------------------------------------------------------ */
/* The device table */

enum kemarixml_verdict {
    KEMARIXML_ALLOWED,          /* matching elements pass */
    KEMARIXML_REFUSED,          /* matching elements are refused */
    KEMARIXML_CHECKED,          /* pass only if the row's check passes */
};

/*
 * What a CHECKED row verifies on a matching element.  Returns NULL when
 * the element passes, else the problem (owned by the caller), e.g.
 * "/srv/a.img is on a local ext4 file system (allowed: ...)".
 */
struct kemarixml_host;
typedef char *(*kemarixml_check_fn)(const struct kemarixml_host *host,
                                    const char *value);

/*
 * One row.  XPATH is evaluated with the <domain> element as context
 * node; prefixes "kemari" and "qemu" (libvirt's QEMU namespace) are
 * known, and so is the function kemari:storage-mode(TARGET): 'shared' or
 * 'replicated', kemarixml_disk_storage() of the configuration being
 * vetted.  The first row that selects an element decides for it, so
 * specific rows come before general ones.
 */
struct kemarixml_rule {
    const char *kind;           /* what it is, e.g. "vhost-user NIC" */
    const char *xpath;          /* how it is recognized */
    enum kemarixml_verdict verdict;
    const char *reason;         /* why it is allowed or refused */
    kemarixml_check_fn check;   /* CHECKED rows only */
    const char *check_value;    /* CHECKED rows: XPath, relative to the
                                 * element, of the string checked */
};

/* The table; *N receives its length.  Static, never NULL. */
const struct kemarixml_rule *kemarixml_rules(size_t *n);

/* The table as a Markdown table (README.md).  Caller frees. */
char *kemarixml_rules_markdown(void);

/* ------------------------------------------------------------------ */
/* Vetting */

/*
 * What vetting needs to know about the host.  PATH_SHARED, when not
 * NULL, decides whether a file disk is on storage the other host can
 * open: it returns NULL if so, else the reason (caller frees).  NULL
 * means kemarixml_path_shared_statfs().
 */
struct kemarixml_host {
    const char *emulator;       /* absolute path of the Kemari QEMU */
    char *(*path_shared)(const char *path, void *opaque);
    void *opaque;               /* for path_shared */
};

/*
 * The real check: statfs(PATH) must report a network or cluster file
 * system (NFS, CIFS/SMB, GFS2, OCFS2, CephFS, AFS, Lustre).  Returns
 * NULL if so, else why not (caller frees).  OPAQUE is unused.
 */
char *kemarixml_path_shared_statfs(const char *path, void *opaque);

/*
 * Vets D, whose <kemari> is CONFIG (NULL: every disk is shared), against
 * what the engine can protect: the configuration itself (each
 * <kemari:disk> names a disk of D), the emulator and every row of the
 * device table.  Appends one string per problem to PROBLEMS (see
 * kemarixml_config_get()).  HITS, when not NULL, has one counter per
 * row of kemarixml_rules(), incremented for each element the row
 * decided (tests use it to show that every row is exercised).
 */
void kemarixml_vet(const struct kemarixml_doc *d,
                   const struct kemarixml_config *config,
                   const struct kemarixml_host *host, GPtrArray *problems,
                   unsigned *hits);

/*
 * Everything the hook does at prepare, on LEN bytes of XML: parse,
 * extract <kemari>, vet.  Returns false when the domain has no <kemari>
 * (nothing appended); true otherwise, with PROBLEMS empty when the
 * domain may start.  A document that cannot be parsed is a problem only
 * when its text mentions "kemari" (otherwise it is not ours).
 */
bool kemarixml_check(const char *xml, size_t len,
                     const struct kemarixml_host *host, GPtrArray *problems);

#define KEMARIXML_ERROR (kemarixml_error_quark())
GQuark kemarixml_error_quark(void);
enum kemarixml_error_code {
    KEMARIXML_ERROR_TOO_LARGE,  /* above KEMARIXML_MAX_SIZE */
    KEMARIXML_ERROR_SYNTAX,     /* not well-formed, DTD, entities */
    KEMARIXML_ERROR_NOT_DOMAIN, /* root element is not <domain> */
};

#endif /* KEMARI_LIBVIRT_KEMARIXML_H */
