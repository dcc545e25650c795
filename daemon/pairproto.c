/*
 * pairproto.c - the pair protocol codec (see pairproto.h, PROTOCOL.md)
 *
 * Decoding is table-driven: field_descs[] gives each field's name and
 * length bounds, type_descs[] the fields each message type requires and
 * allows.  decode_value() turns one bounds-checked TLV value into the
 * struct; check_message() applies the rules that span fields.
 */
#include "config.h"

#include <string.h>

#include "fsm.h"
#include "pairproto.h"

G_DEFINE_QUARK(pairproto-error-quark, pairproto_error)

/* Field ids (TLV type).  Bit 15 set marks a field a receiver that does
 * not know it may skip; every field below is mandatory-if-unknown. */
enum pairproto_field {
    F_VM_NAME = 0x0001,
    F_VM_UUID = 0x0002,
    F_EPOCH = 0x0003,
    F_NODE_ID = 0x0004,
    F_CONFIG_KIND = 0x0005,
    F_CONFIG = 0x0006,
    F_HOST = 0x0007,
    F_PORT = 0x0008,
    F_REASON_CODE = 0x0009,
    F_REASON_TEXT = 0x000a,
    F_ROLE = 0x000b,
    F_STATE = 0x000c,
    F_CKPT_SEQ = 0x000d,
    F_CAPS = 0x000e,
    F_PROTO_MIN = 0x000f,
    F_PROTO_MAX = 0x0010,
    F_SW_VERSION = 0x0011,
    F_KVM_CHECK = 0x0012,
    F_NODE_NAME = 0x0013,
    F_REPLICATED_DISKS = 0x0014,    /* version 2 */
    F_COUNT
};

#define FIELD_SKIPPABLE 0x8000u     /* unknown + this bit: skip, not fail */
#define TLV_HEADER 4                /* u16 type + u16 length */

struct field_desc {
    const char *name;
    uint16_t min_len;               /* value length bounds, bytes */
    uint16_t max_len;
    uint8_t since;                  /* header version that added it (0 for
                                     * version 1's fields) */
};

/* REPLICATED_DISKS at its longest: each id of 64 bytes and its NUL. */
#define REPLICATED_MAX_LEN \
    (PAIRPROTO_MAX_REPLICATED * (PAIRPROTO_NAME_MAX + 1))

static const struct field_desc field_descs[F_COUNT] = {
    [F_VM_NAME] = { "VM_NAME", 1, PAIRPROTO_NAME_MAX },
    [F_VM_UUID] = { "VM_UUID", PAIRPROTO_UUID_SIZE, PAIRPROTO_UUID_SIZE },
    [F_EPOCH] = { "EPOCH", 8, 8 },
    [F_NODE_ID] = { "NODE_ID", 4, 4 },
    [F_CONFIG_KIND] = { "CONFIG_KIND", 1, 1 },
    [F_CONFIG] = { "CONFIG", 1, PAIRPROTO_CONFIG_MAX },
    [F_HOST] = { "HOST", 1, PAIRPROTO_HOST_MAX },
    [F_PORT] = { "PORT", 2, 2 },
    [F_REASON_CODE] = { "REASON_CODE", 2, 2 },
    [F_REASON_TEXT] = { "REASON_TEXT", 0, PAIRPROTO_REASON_TEXT_MAX },
    [F_ROLE] = { "ROLE", 1, 1 },
    [F_STATE] = { "STATE", 1, 1 },
    [F_CKPT_SEQ] = { "CKPT_SEQ", 8, 8 },
    [F_CAPS] = { "CAPS", 4, 4 },
    [F_PROTO_MIN] = { "PROTO_MIN", 1, 1 },
    [F_PROTO_MAX] = { "PROTO_MAX", 1, 1 },
    [F_SW_VERSION] = { "SW_VERSION", 1, PAIRPROTO_VERSION_STR_MAX },
    [F_KVM_CHECK] = { "KVM_CHECK", 1, 1 },
    [F_NODE_NAME] = { "NODE_NAME", 1, PAIRPROTO_NAME_MAX },
    [F_REPLICATED_DISKS] = { "REPLICATED_DISKS", 2, REPLICATED_MAX_LEN,
                             PAIRPROTO_VERSION_REPLICATED },
};

#define B(f) (1u << (f))

struct type_desc {
    const char *name;
    uint32_t required;              /* B(field) set: must be present */
    uint32_t optional;              /* B(field) set: may be present */
};

static const struct type_desc type_descs[PAIRPROTO_TYPE_MAX + 1] = {
    [PAIRPROTO_HELLO] = {
        "HELLO",
        B(F_NODE_NAME) | B(F_PROTO_MIN) | B(F_PROTO_MAX) |
        B(F_SW_VERSION) | B(F_CAPS) | B(F_KVM_CHECK), 0 },
    [PAIRPROTO_PAIR_REQUEST] = {
        "PAIR_REQUEST",
        B(F_VM_NAME) | B(F_VM_UUID) | B(F_EPOCH) | B(F_NODE_ID) |
        B(F_CONFIG_KIND) | B(F_CONFIG), B(F_REPLICATED_DISKS) },
    [PAIRPROTO_PAIR_ACCEPT] = {
        "PAIR_ACCEPT",
        B(F_VM_NAME) | B(F_EPOCH) | B(F_HOST) | B(F_PORT), 0 },
    [PAIRPROTO_PAIR_REFUSE] = {
        "PAIR_REFUSE",
        B(F_VM_NAME) | B(F_EPOCH) | B(F_REASON_CODE), B(F_REASON_TEXT) },
    [PAIRPROTO_STATE_REPORT] = {
        "STATE_REPORT",
        B(F_VM_NAME) | B(F_EPOCH) | B(F_ROLE) | B(F_STATE) | B(F_CKPT_SEQ),
        0 },
    [PAIRPROTO_RELEASE] = {
        "RELEASE", B(F_VM_NAME) | B(F_EPOCH), B(F_REASON_TEXT) },
    [PAIRPROTO_STOP] = {
        "STOP", B(F_VM_NAME) | B(F_EPOCH), B(F_REASON_TEXT) },
};

static const char *const reason_names[PAIRPROTO_REASON_MAX + 1] = {
    [PAIRPROTO_REASON_BUSY] = "busy",
    [PAIRPROTO_REASON_NOT_ELIGIBLE] = "not-eligible",
    [PAIRPROTO_REASON_NO_RESOURCES] = "no-resources",
    [PAIRPROTO_REASON_INCOMPATIBLE] = "incompatible",
    [PAIRPROTO_REASON_START_FAILED] = "start-failed",
    [PAIRPROTO_REASON_STALE_EPOCH] = "stale-epoch",
    [PAIRPROTO_REASON_OTHER] = "other",
};

const char *
pairproto_type_name(unsigned type)
{
    if (type == 0 || type > PAIRPROTO_TYPE_MAX) {
        return "?";
    }
    return type_descs[type].name;
}

const char *
pairproto_reason_name(unsigned code)
{
    if (code == 0 || code > PAIRPROTO_REASON_MAX) {
        return "?";
    }
    return reason_names[code];
}

/* ------------------------------------------------------------------ */
/* Byte helpers (unaligned, big-endian) */

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
    return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

static void
put_be16(GByteArray *out, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    g_byte_array_append(out, b, sizeof(b));
}

static void
put_be32(GByteArray *out, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v };

    g_byte_array_append(out, b, sizeof(b));
}

/* ------------------------------------------------------------------ */
/* Text validation (on length-delimited bytes, no NUL needed) */

static bool
name_char(uint8_t c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

static bool
name_valid_n(const uint8_t *s, size_t len)
{
    size_t i;

    if (len < 1 || len > PAIRPROTO_NAME_MAX || s[0] == '.' || s[0] == '-') {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (!name_char(s[i])) {
            return false;
        }
    }
    return true;
}

bool
pairproto_name_valid(const char *s)
{
    return s && name_valid_n((const uint8_t *)s, strnlen(s,
                             PAIRPROTO_NAME_MAX + 1));
}

/* Host names, IPv4 and IPv6 literals (no brackets). */
static bool
host_valid_n(const uint8_t *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!g_ascii_isalnum(s[i]) && s[i] != '.' && s[i] != '-' &&
            s[i] != ':' && s[i] != '_') {
            return false;
        }
    }
    return len > 0 && s[0] != '-';
}

/* Printable ASCII, spaces allowed (SW_VERSION, CONFIG references). */
static bool
ascii_printable_n(const uint8_t *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* UTF-8 without control characters (REASON_TEXT). */
static bool
text_valid_n(const uint8_t *s, size_t len)
{
    size_t i;

    if (!g_utf8_validate_len((const char *)s, len, NULL)) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Decoding */

/* Context for error messages. */
struct dctx {
    const char *type_name;          /* "HELLO", or NULL before the type */
    GError **error;
    unsigned version;               /* the header's, once checked */
};

static bool G_GNUC_PRINTF(3, 4)
fail(struct dctx *c, enum pairproto_error_code code, const char *fmt, ...)
{
    g_autofree char *detail = NULL;
    va_list ap;

    va_start(ap, fmt);
    detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(c->error, PAIRPROTO_ERROR, code, "pair message%s%s: %s",
                c->type_name ? " " : "", c->type_name ? c->type_name : "",
                detail);
    return false;
}

static bool
bad_value(struct dctx *c, unsigned id, const char *what)
{
    return fail(c, PAIRPROTO_ERROR_FIELD_VALUE, "field %s (0x%04x): %s",
                field_descs[id].name, id, what);
}

/* Copies a validated string value into a NUL-terminated buffer. */
static void
copy_str(char *dst, const uint8_t *v, uint16_t len)
{
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/*
 * Splits REPLICATED_DISKS, "id\0id\0" (LEN >= 2), into M: 1 to
 * PAIRPROTO_MAX_REPLICATED valid, distinct device ids.
 */
static bool
decode_replicated(struct dctx *c, const uint8_t *v, uint16_t len,
                  struct pairproto_msg *m)
{
    size_t off = 0;
    unsigned i;

    if (v[len - 1] != '\0') {
        return bad_value(c, F_REPLICATED_DISKS, "device ids must be "
                         "NUL-terminated");
    }
    while (off < len) {
        const uint8_t *id = v + off;
        size_t n = (size_t)((const uint8_t *)memchr(id, '\0', len - off) -
                            id);
        g_autofree char *what = NULL;

        if (n == 0) {
            what = g_strdup_printf("empty device id at value offset %zu",
                                   off);
        } else if (!name_valid_n(id, n)) {
            what = g_strdup_printf("invalid device id at value offset %zu "
                                   "(1 to 64 of A-Z a-z 0-9 _ . -, not "
                                   "starting with . or -)", off);
        } else if (m->n_replicated == PAIRPROTO_MAX_REPLICATED) {
            what = g_strdup_printf("more than %u device ids (id %u at "
                                   "value offset %zu)",
                                   PAIRPROTO_MAX_REPLICATED,
                                   PAIRPROTO_MAX_REPLICATED + 1, off);
        }
        for (i = 0; !what && i < m->n_replicated; i++) {
            if (strlen(m->replicated[i]) == n &&
                memcmp(m->replicated[i], id, n) == 0) {
                what = g_strdup_printf("device id '%s' at value offset %zu "
                                       "appears twice", m->replicated[i],
                                       off);
            }
        }
        if (what) {
            return bad_value(c, F_REPLICATED_DISKS, what);
        }
        copy_str(m->replicated[m->n_replicated++], id, (uint16_t)n);
        off += n + 1;
    }
    return true;
}

/* Decodes one known field whose length is within its bounds. */
static bool
decode_value(struct dctx *c, unsigned id, const uint8_t *v, uint16_t len,
             struct pairproto_msg *m)
{
    static const uint8_t nil_uuid[PAIRPROTO_UUID_SIZE];

    switch ((enum pairproto_field)id) {
    case F_VM_NAME:
    case F_NODE_NAME:
        if (!name_valid_n(v, len)) {
            return bad_value(c, id, "invalid name (1 to 64 of A-Z a-z 0-9 "
                             "_ . -, not starting with . or -)");
        }
        copy_str(id == F_VM_NAME ? m->vm : m->node_name, v, len);
        return true;
    case F_VM_UUID:
        if (memcmp(v, nil_uuid, sizeof(nil_uuid)) == 0) {
            return bad_value(c, id, "nil UUID");
        }
        memcpy(m->uuid, v, PAIRPROTO_UUID_SIZE);
        return true;
    case F_EPOCH:
        m->epoch = get_be64(v);
        return m->epoch != 0 || bad_value(c, id, "epoch 0");
    case F_NODE_ID:
        m->node_id = get_be32(v);
        return m->node_id != 0 || bad_value(c, id, "node id 0");
    case F_CONFIG_KIND:
        if (v[0] < PAIRPROTO_CONFIG_ARGV ||
            v[0] > PAIRPROTO_CONFIG_REFERENCE) {
            return bad_value(c, id, "unknown configuration kind");
        }
        m->config_kind = (enum pairproto_config_kind)v[0];
        return true;
    case F_CONFIG:
        m->config = g_bytes_new(v, len);
        return true;
    case F_HOST:
        if (!host_valid_n(v, len)) {
            return bad_value(c, id, "invalid host (a name or an address)");
        }
        copy_str(m->host, v, len);
        return true;
    case F_PORT:
        m->port = get_be16(v);
        return m->port != 0 || bad_value(c, id, "port 0");
    case F_REASON_CODE:
        if (get_be16(v) == 0 || get_be16(v) > PAIRPROTO_REASON_MAX) {
            return bad_value(c, id, "unknown reason code");
        }
        m->reason_code = (enum pairproto_reason)get_be16(v);
        return true;
    case F_REASON_TEXT:
        if (!text_valid_n(v, len)) {
            return bad_value(c, id, "not UTF-8 text without control "
                             "characters");
        }
        copy_str(m->reason, v, len);
        return true;
    case F_ROLE:
        m->role = v[0];
        return v[0] < VMFSM_ROLE_COUNT || bad_value(c, id, "unknown role");
    case F_STATE:
        m->state = v[0];
        return v[0] < VMFSM_STATE_COUNT || bad_value(c, id, "unknown state");
    case F_CKPT_SEQ:
        m->ckpt_seq = get_be64(v);
        return true;
    case F_CAPS:
        m->caps = get_be32(v);
        return true;
    case F_PROTO_MIN:
    case F_PROTO_MAX:
        if (v[0] == 0) {
            return bad_value(c, id, "protocol version 0");
        }
        *(id == F_PROTO_MIN ? &m->proto_min : &m->proto_max) = v[0];
        return true;
    case F_SW_VERSION:
        if (!ascii_printable_n(v, len)) {
            return bad_value(c, id, "not printable ASCII");
        }
        copy_str(m->sw_version, v, len);
        return true;
    case F_KVM_CHECK:
        if (v[0] > PAIRPROTO_KVM_MAX) {
            return bad_value(c, id, "unknown kvm-check verdict");
        }
        m->kvm_check = (enum pairproto_kvm_check)v[0];
        return true;
    case F_REPLICATED_DISKS:
        return decode_replicated(c, v, len, m);
    case F_COUNT:
        break;
    }
    g_assert_not_reached();
}

/* Validates CONFIG against CONFIG_KIND. */
static bool
check_config(struct dctx *c, const struct pairproto_msg *m)
{
    gsize len;
    const uint8_t *p = g_bytes_get_data(m->config, &len);
    gsize i;

    switch (m->config_kind) {
    case PAIRPROTO_CONFIG_ARGV:
        /* "arg\0arg\0": NUL-terminated, no empty argument */
        if (p[len - 1] != '\0' || p[0] == '\0') {
            return bad_value(c, F_CONFIG, "argv must be non-empty "
                             "NUL-terminated arguments");
        }
        for (i = 1; i < len; i++) {
            if (p[i] == '\0' && p[i - 1] == '\0') {
                return bad_value(c, F_CONFIG, "empty argument in argv");
            }
        }
        return true;
    case PAIRPROTO_CONFIG_LIBVIRT_XML:
        if (memchr(p, '\0', len) ||
            !g_utf8_validate_len((const char *)p, len, NULL)) {
            return bad_value(c, F_CONFIG, "domain XML is not UTF-8 text");
        }
        return true;
    case PAIRPROTO_CONFIG_REFERENCE:
        if (len > 255 || !ascii_printable_n(p, len)) {
            return bad_value(c, F_CONFIG, "reference must be 1 to 255 "
                             "printable ASCII characters");
        }
        return true;
    }
    g_assert_not_reached();
}

/* Rules that span fields, once all are in. */
static bool
check_message(struct dctx *c, const struct type_desc *td, uint32_t seen,
              const struct pairproto_msg *m)
{
    unsigned id;

    for (id = 1; id < F_COUNT; id++) {
        if ((td->required & B(id)) && !(seen & B(id))) {
            return fail(c, PAIRPROTO_ERROR_FIELD_MISSING,
                        "required field %s (0x%04x) missing",
                        field_descs[id].name, id);
        }
    }
    if (m->type == PAIRPROTO_PAIR_REQUEST && !check_config(c, m)) {
        return false;
    }
    if (m->type == PAIRPROTO_HELLO && m->proto_min > m->proto_max) {
        return fail(c, PAIRPROTO_ERROR_FIELD_VALUE,
                    "PROTO_MIN %u above PROTO_MAX %u", m->proto_min,
                    m->proto_max);
    }
    return true;
}

/* Walks the TLVs of BODY (BLEN bytes, already bounds-checked). */
static bool
decode_body(struct dctx *c, const struct type_desc *td, const uint8_t *body,
            size_t blen, struct pairproto_msg *m)
{
    uint32_t seen = 0;
    size_t off = 0;

    while (off < blen) {
        unsigned id;
        uint16_t len;

        if (blen - off < TLV_HEADER) {
            return fail(c, PAIRPROTO_ERROR_FIELD_TRUNCATED,
                        "field header at body offset %zu truncated "
                        "(%zu bytes left)", off, blen - off);
        }
        id = get_be16(body + off);
        len = get_be16(body + off + 2);
        if (blen - off - TLV_HEADER < len) {
            return fail(c, PAIRPROTO_ERROR_FIELD_TRUNCATED,
                        "field 0x%04x at body offset %zu announces %u "
                        "bytes, %zu left", id, off, len,
                        blen - off - TLV_HEADER);
        }
        if (id == 0 || id >= F_COUNT) {
            if (id & FIELD_SKIPPABLE) {
                off += TLV_HEADER + len;
                continue;
            }
            return fail(c, PAIRPROTO_ERROR_FIELD_UNKNOWN,
                        "unknown field 0x%04x at body offset %zu", id, off);
        }
        if (field_descs[id].since > c->version) {
            return fail(c, PAIRPROTO_ERROR_FIELD_UNKNOWN,
                        "field %s (0x%04x) at body offset %zu is not in "
                        "protocol version %u", field_descs[id].name, id, off,
                        c->version);
        }
        if (!((td->required | td->optional) & B(id))) {
            return fail(c, PAIRPROTO_ERROR_FIELD_UNEXPECTED,
                        "field %s (0x%04x) at body offset %zu is not "
                        "allowed in %s", field_descs[id].name, id, off,
                        td->name);
        }
        if (seen & B(id)) {
            return fail(c, PAIRPROTO_ERROR_FIELD_DUPLICATE,
                        "field %s (0x%04x) at body offset %zu appears "
                        "twice", field_descs[id].name, id, off);
        }
        if (len < field_descs[id].min_len || len > field_descs[id].max_len) {
            if (field_descs[id].min_len == field_descs[id].max_len) {
                return fail(c, PAIRPROTO_ERROR_FIELD_SIZE,
                            "field %s (0x%04x) has %u bytes (expected %u)",
                            field_descs[id].name, id, len,
                            field_descs[id].min_len);
            }
            return fail(c, PAIRPROTO_ERROR_FIELD_SIZE,
                        "field %s (0x%04x) has %u bytes (expected %u to %u)",
                        field_descs[id].name, id, len,
                        field_descs[id].min_len, field_descs[id].max_len);
        }
        seen |= B(id);
        if (!decode_value(c, id, body + off + TLV_HEADER, len, m)) {
            return false;
        }
        off += TLV_HEADER + len;
    }
    return check_message(c, td, seen, m);
}

void
pairproto_msg_clear(struct pairproto_msg *m)
{
    g_clear_pointer(&m->config, g_bytes_unref);
    memset(m, 0, sizeof(*m));
}

bool
pairproto_decode(const void *buf, size_t len, struct pairproto_msg *out,
                 GError **error)
{
    const uint8_t *p = buf;
    struct dctx c = { NULL, error, 0 };
    uint32_t blen;
    uint16_t flags;
    uint8_t type;

    memset(out, 0, sizeof(*out));
    if (len > PAIRPROTO_MAX_MSG) {
        return fail(&c, PAIRPROTO_ERROR_TOO_LARGE,
                    "%zu bytes, above the %u-byte limit", len,
                    PAIRPROTO_MAX_MSG);
    }
    if (len < PAIRPROTO_HEADER_SIZE) {
        return fail(&c, PAIRPROTO_ERROR_TRUNCATED,
                    "%zu bytes, shorter than the %u-byte header", len,
                    PAIRPROTO_HEADER_SIZE);
    }
    if (memcmp(p, PAIRPROTO_MAGIC, 4) != 0) {
        return fail(&c, PAIRPROTO_ERROR_MAGIC,
                    "bad magic 0x%08x (expected \"%s\")", get_be32(p),
                    PAIRPROTO_MAGIC);
    }
    if (p[4] < PAIRPROTO_VERSION_MIN || p[4] > PAIRPROTO_VERSION) {
        return fail(&c, PAIRPROTO_ERROR_VERSION,
                    "protocol version %u not supported (this node speaks "
                    "%u to %u)", p[4], PAIRPROTO_VERSION_MIN,
                    PAIRPROTO_VERSION);
    }
    c.version = p[4];
    type = p[5];
    if (type == 0 || type > PAIRPROTO_TYPE_MAX) {
        return fail(&c, PAIRPROTO_ERROR_TYPE, "unknown message type %u",
                    type);
    }
    c.type_name = type_descs[type].name;
    flags = get_be16(p + 6);
    if (flags != 0) {
        return fail(&c, PAIRPROTO_ERROR_RESERVED,
                    "reserved header flags 0x%04x set", flags);
    }
    blen = get_be32(p + 12);
    if (blen > len - PAIRPROTO_HEADER_SIZE) {
        return fail(&c, PAIRPROTO_ERROR_TRUNCATED,
                    "header announces %u body bytes, %zu present", blen,
                    len - PAIRPROTO_HEADER_SIZE);
    }
    if (blen < len - PAIRPROTO_HEADER_SIZE) {
        return fail(&c, PAIRPROTO_ERROR_TRAILING,
                    "%zu bytes after the %u-byte body",
                    len - PAIRPROTO_HEADER_SIZE - blen, blen);
    }
    out->type = (enum pairproto_type)type;
    out->target = get_be32(p + 8);
    if (!decode_body(&c, &type_descs[type], p + PAIRPROTO_HEADER_SIZE, blen,
                     out)) {
        pairproto_msg_clear(out);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Encoding */

static void
put_tlv(GByteArray *out, unsigned id, const void *v, size_t len)
{
    g_assert(len <= 0xffff);    /* callers bound every length */
    put_be16(out, (uint16_t)id);
    put_be16(out, (uint16_t)len);
    g_byte_array_append(out, v, (guint)len);
}

/* An integer field of SIZE bytes (1, 2, 4 or 8), big-endian. */
static void
put_uint(GByteArray *out, unsigned id, uint64_t v, unsigned size)
{
    uint8_t b[8];
    unsigned i;

    for (i = 0; i < size; i++) {
        b[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
    }
    put_tlv(out, id, b, size);
}

static void
put_str(GByteArray *out, unsigned id, const char *s, size_t max)
{
    put_tlv(out, id, s, strnlen(s, max + 1));
}

GBytes *
pairproto_encode(const struct pairproto_msg *m, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct pairproto_msg check;
    const struct type_desc *td;
    uint32_t fields;
    unsigned id, version = PAIRPROTO_VERSION_MIN;
    size_t body;

    if ((unsigned)m->type == 0 || (unsigned)m->type > PAIRPROTO_TYPE_MAX) {
        g_set_error(error, PAIRPROTO_ERROR, PAIRPROTO_ERROR_TYPE,
                    "pair message: unknown message type %u",
                    (unsigned)m->type);
        return NULL;
    }
    td = &type_descs[m->type];
    fields = td->required;
    if ((td->optional & B(F_REASON_TEXT)) && m->reason[0] != '\0') {
        fields |= B(F_REASON_TEXT);
    }
    if ((td->optional & B(F_REPLICATED_DISKS)) && m->n_replicated > 0) {
        if (m->n_replicated > PAIRPROTO_MAX_REPLICATED) {
            g_set_error(error, PAIRPROTO_ERROR, PAIRPROTO_ERROR_FIELD_VALUE,
                        "pair message %s: field REPLICATED_DISKS (0x%04x): "
                        "%u device ids (at most %u)", td->name,
                        F_REPLICATED_DISKS, m->n_replicated,
                        PAIRPROTO_MAX_REPLICATED);
            return NULL;
        }
        fields |= B(F_REPLICATED_DISKS);
    }
    /* the oldest version that has every field */
    for (id = 1; id < F_COUNT; id++) {
        if ((fields & B(id)) && field_descs[id].since > version) {
            version = field_descs[id].since;
        }
    }

    g_byte_array_append(out, (const guint8 *)PAIRPROTO_MAGIC, 4);
    put_be16(out, (uint16_t)((version << 8) | m->type));
    put_be16(out, 0);
    put_be32(out, m->target);
    put_be32(out, 0);                   /* body length, patched below */

    if (fields & B(F_VM_NAME)) {
        put_str(out, F_VM_NAME, m->vm, PAIRPROTO_NAME_MAX);
    }
    if (fields & B(F_VM_UUID)) {
        put_tlv(out, F_VM_UUID, m->uuid, PAIRPROTO_UUID_SIZE);
    }
    if (fields & B(F_EPOCH)) {
        put_uint(out, F_EPOCH, m->epoch, 8);
    }
    if (fields & B(F_NODE_ID)) {
        put_uint(out, F_NODE_ID, m->node_id, 4);
    }
    if (fields & B(F_CONFIG_KIND)) {
        put_uint(out, F_CONFIG_KIND, m->config_kind, 1);
    }
    if (fields & B(F_CONFIG)) {
        gsize clen = 0;
        const void *cdata = m->config ? g_bytes_get_data(m->config, &clen)
                                      : NULL;

        if (clen > PAIRPROTO_CONFIG_MAX) {
            g_set_error(error, PAIRPROTO_ERROR, PAIRPROTO_ERROR_FIELD_SIZE,
                        "pair message %s: field CONFIG (0x%04x) has %zu "
                        "bytes (expected 1 to %u)", td->name, F_CONFIG,
                        (size_t)clen, PAIRPROTO_CONFIG_MAX);
            return NULL;
        }
        put_tlv(out, F_CONFIG, cdata, clen);
    }
    if (fields & B(F_HOST)) {
        put_str(out, F_HOST, m->host, PAIRPROTO_HOST_MAX);
    }
    if (fields & B(F_PORT)) {
        put_uint(out, F_PORT, m->port, 2);
    }
    if (fields & B(F_REASON_CODE)) {
        put_uint(out, F_REASON_CODE, m->reason_code, 2);
    }
    if (fields & B(F_REASON_TEXT)) {
        put_str(out, F_REASON_TEXT, m->reason, PAIRPROTO_REASON_TEXT_MAX);
    }
    if (fields & B(F_ROLE)) {
        put_uint(out, F_ROLE, m->role, 1);
    }
    if (fields & B(F_STATE)) {
        put_uint(out, F_STATE, m->state, 1);
    }
    if (fields & B(F_CKPT_SEQ)) {
        put_uint(out, F_CKPT_SEQ, m->ckpt_seq, 8);
    }
    if (fields & B(F_NODE_NAME)) {
        put_str(out, F_NODE_NAME, m->node_name, PAIRPROTO_NAME_MAX);
    }
    if (fields & B(F_PROTO_MIN)) {
        put_uint(out, F_PROTO_MIN, m->proto_min, 1);
    }
    if (fields & B(F_PROTO_MAX)) {
        put_uint(out, F_PROTO_MAX, m->proto_max, 1);
    }
    if (fields & B(F_SW_VERSION)) {
        put_str(out, F_SW_VERSION, m->sw_version, PAIRPROTO_VERSION_STR_MAX);
    }
    if (fields & B(F_CAPS)) {
        put_uint(out, F_CAPS, m->caps, 4);
    }
    if (fields & B(F_KVM_CHECK)) {
        put_uint(out, F_KVM_CHECK, m->kvm_check, 1);
    }
    if (fields & B(F_REPLICATED_DISKS)) {
        g_autoptr(GByteArray) ids = g_byte_array_new();
        unsigned i;

        for (i = 0; i < m->n_replicated; i++) {
            /* NUL-terminated; one without a NUL fails the check below */
            g_byte_array_append(ids, (const guint8 *)m->replicated[i],
                                (guint)strnlen(m->replicated[i],
                                               PAIRPROTO_NAME_MAX + 1));
            g_byte_array_append(ids, (const guint8 *)"", 1);
        }
        put_tlv(out, F_REPLICATED_DISKS, ids->data, ids->len);
    }

    body = out->len - PAIRPROTO_HEADER_SIZE;
    out->data[12] = (uint8_t)(body >> 24);
    out->data[13] = (uint8_t)(body >> 16);
    out->data[14] = (uint8_t)(body >> 8);
    out->data[15] = (uint8_t)body;

    /* what we send is exactly what a peer accepts */
    if (!pairproto_decode(out->data, out->len, &check, error)) {
        return NULL;
    }
    pairproto_msg_clear(&check);
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}
