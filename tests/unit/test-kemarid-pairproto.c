/*
 * test-kemarid-pairproto.c - the kemarid <-> kemarid pair protocol codec
 *
 * Round trip of every message type; the exact bytes of one message (the
 * layout PROTOCOL.md documents) and of the version-2 field
 * REPLICATED_DISKS; truncation at every byte offset of every message;
 * and a table of malformed messages, built byte by byte here
 * (independently of the encoder), each with its exact error code and
 * message.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fsm.h"
#include "pairproto.h"

/* ------------------------------------------------------------------ */
/* Sample messages, one per type (and per config kind) */

static const uint8_t sample_uuid[16] = {
    0x6b, 0x65, 0x6d, 0x61, 0x72, 0x69, 0x2d, 0x75,
    0x75, 0x69, 0x64, 0x2d, 0x30, 0x30, 0x30, 0x31,
};

static void
sample(struct pairproto_msg *m, enum pairproto_type type, int variant)
{
    static const char argv[] = "-machine\0q35\0-m\0512";   /* + final NUL */
    static const char xml[] = "<domain type='kvm'><name>web1</name></domain>";

    memset(m, 0, sizeof(*m));
    m->type = type;
    m->target = 2;
    g_strlcpy(m->vm, "web1", sizeof(m->vm));
    m->epoch = 0x0102030405060708ull;
    switch (type) {
    case PAIRPROTO_HELLO:
        m->target = 0;
        m->vm[0] = '\0';
        m->epoch = 0;
        g_strlcpy(m->node_name, "node-a", sizeof(m->node_name));
        m->proto_min = 1;
        m->proto_max = 1;
        g_strlcpy(m->sw_version, "kemari 0.1.0", sizeof(m->sw_version));
        m->caps = PAIRPROTO_CAP_PRIMARY | PAIRPROTO_CAP_SECONDARY |
                  0x80000000u;
        m->kvm_check = PAIRPROTO_KVM_PASS;
        break;
    case PAIRPROTO_PAIR_REQUEST:
        memcpy(m->uuid, sample_uuid, sizeof(m->uuid));
        m->node_id = 0xfeedbeef;
        if (variant == 0 || variant == 3) {
            m->config_kind = PAIRPROTO_CONFIG_ARGV;
            m->config = g_bytes_new(argv, sizeof(argv));
        } else if (variant == 1) {
            m->config_kind = PAIRPROTO_CONFIG_LIBVIRT_XML;
            m->config = g_bytes_new(xml, strlen(xml));
        } else {
            m->config_kind = PAIRPROTO_CONFIG_REFERENCE;
            m->config = g_bytes_new("web1", 4);
        }
        if (variant == 3) {
            /* version 2 */
            g_strlcpy(m->replicated[0], "virtio-disk0",
                      sizeof(m->replicated[0]));
            g_strlcpy(m->replicated[1], "scsi0-0-0-0",
                      sizeof(m->replicated[1]));
            m->n_replicated = 2;
        }
        break;
    case PAIRPROTO_PAIR_ACCEPT:
        g_strlcpy(m->host, variant ? "fe80::1" : "node-b.example",
                  sizeof(m->host));
        m->port = 49152;
        break;
    case PAIRPROTO_PAIR_REFUSE:
        m->reason_code = PAIRPROTO_REASON_NOT_ELIGIBLE;
        if (variant) {
            g_strlcpy(m->reason, "kvm-check: fail (µ-test)",
                      sizeof(m->reason));
        }
        break;
    case PAIRPROTO_STATE_REPORT:
        m->role = VMFSM_ROLE_SECONDARY;
        m->state = VMFSM_STANDBY;
        m->ckpt_seq = 123456789012ull;
        break;
    case PAIRPROTO_RELEASE:
    case PAIRPROTO_STOP:
        if (variant) {
            g_strlcpy(m->reason, "the guest shut down", sizeof(m->reason));
        }
        break;
    default:
        fail_msg("no sample for type %d", type);
    }
}

static void
assert_msg_equal(const struct pairproto_msg *a, const struct pairproto_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->target, b->target);
    assert_string_equal(a->vm, b->vm);
    assert_memory_equal(a->uuid, b->uuid, sizeof(a->uuid));
    assert_true(a->epoch == b->epoch);
    assert_int_equal(a->node_id, b->node_id);
    assert_int_equal(a->config_kind, b->config_kind);
    assert_true((a->config == NULL) == (b->config == NULL));
    if (a->config) {
        assert_true(g_bytes_equal(a->config, b->config));
    }
    assert_string_equal(a->host, b->host);
    assert_int_equal(a->port, b->port);
    assert_int_equal(a->reason_code, b->reason_code);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->role, b->role);
    assert_int_equal(a->state, b->state);
    assert_true(a->ckpt_seq == b->ckpt_seq);
    assert_int_equal(a->caps, b->caps);
    assert_int_equal(a->proto_min, b->proto_min);
    assert_int_equal(a->proto_max, b->proto_max);
    assert_string_equal(a->sw_version, b->sw_version);
    assert_int_equal(a->kvm_check, b->kvm_check);
    assert_string_equal(a->node_name, b->node_name);
    assert_int_equal(a->n_replicated, b->n_replicated);
    assert_memory_equal(a->replicated, b->replicated,
                        sizeof(a->replicated));
}

struct variant {
    enum pairproto_type type;
    int variant;
};

static const struct variant variants[] = {
    { PAIRPROTO_HELLO, 0 },
    { PAIRPROTO_PAIR_REQUEST, 0 },
    { PAIRPROTO_PAIR_REQUEST, 1 },
    { PAIRPROTO_PAIR_REQUEST, 2 },
    { PAIRPROTO_PAIR_REQUEST, 3 },
    { PAIRPROTO_PAIR_ACCEPT, 0 },
    { PAIRPROTO_PAIR_ACCEPT, 1 },
    { PAIRPROTO_PAIR_REFUSE, 0 },
    { PAIRPROTO_PAIR_REFUSE, 1 },
    { PAIRPROTO_STATE_REPORT, 0 },
    { PAIRPROTO_RELEASE, 0 },
    { PAIRPROTO_RELEASE, 1 },
    { PAIRPROTO_STOP, 0 },
    { PAIRPROTO_STOP, 1 },
};

static void
test_round_trip_every_type(void **state)
{
    unsigned i, types_seen = 0;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(variants); i++) {
        struct pairproto_msg in, out;
        g_autoptr(GError) err = NULL;
        g_autoptr(GBytes) wire = NULL;
        gsize len;
        const uint8_t *p;

        sample(&in, variants[i].type, variants[i].variant);
        wire = pairproto_encode(&in, &err);
        if (!wire) {
            fail_msg("encode %s: %s", pairproto_type_name(in.type),
                     err->message);
        }
        p = g_bytes_get_data(wire, &len);
        assert_memory_equal(p, "KMRP", 4);
        /* the oldest version with every field of the message */
        assert_int_equal(p[4], in.n_replicated
                               ? PAIRPROTO_VERSION_REPLICATED
                               : PAIRPROTO_VERSION_MIN);
        assert_int_equal(p[5], in.type);
        assert_true(pairproto_decode(p, len, &out, &err));
        assert_null(err);
        assert_msg_equal(&in, &out);
        pairproto_msg_clear(&out);
        pairproto_msg_clear(&in);
        types_seen |= 1u << variants[i].type;
    }
    /* every type 1..PAIRPROTO_TYPE_MAX was covered */
    assert_int_equal(types_seen, ((1u << (PAIRPROTO_TYPE_MAX + 1)) - 2));
}

/* The documented layout, byte for byte. */
static void
test_exact_layout(void **state)
{
    static const uint8_t want[] = {
        'K', 'M', 'R', 'P', 0x01, 0x06, 0x00, 0x00,     /* RELEASE */
        0x00, 0x00, 0x00, 0x02,                         /* target 2 */
        0x00, 0x00, 0x00, 0x14,                         /* body 20 */
        0x00, 0x01, 0x00, 0x04, 'w', 'e', 'b', '1',     /* VM_NAME */
        0x00, 0x03, 0x00, 0x08,                         /* EPOCH */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    };
    struct pairproto_msg m;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) wire = NULL;
    gsize len;
    const uint8_t *p;

    (void)state;
    sample(&m, PAIRPROTO_RELEASE, 0);
    wire = pairproto_encode(&m, &err);
    assert_non_null(wire);
    p = g_bytes_get_data(wire, &len);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(p, want, sizeof(want));
}

/*
 * REPLICATED_DISKS makes a PAIR_REQUEST version 2 and adds exactly its
 * field, after the others; without it the message is version 1.
 */
static void
test_exact_replicated(void **state)
{
    static const uint8_t field[] = {
        0x00, 0x14, 0x00, 0x19,                         /* 25 bytes */
        'v', 'i', 'r', 't', 'i', 'o', '-', 'd', 'i', 's', 'k', '0', 0x00,
        's', 'c', 's', 'i', '0', '-', '0', '-', '0', '-', '0', 0x00,
    };
    struct pairproto_msg m1, m2;
    g_autoptr(GBytes) w1 = NULL;
    g_autoptr(GBytes) w2 = NULL;
    gsize l1, l2;
    const uint8_t *p1, *p2;

    (void)state;
    sample(&m1, PAIRPROTO_PAIR_REQUEST, 0);
    sample(&m2, PAIRPROTO_PAIR_REQUEST, 3);
    w1 = pairproto_encode(&m1, NULL);
    w2 = pairproto_encode(&m2, NULL);
    assert_non_null(w1);
    assert_non_null(w2);
    p1 = g_bytes_get_data(w1, &l1);
    p2 = g_bytes_get_data(w2, &l2);
    assert_int_equal(p1[4], 1);
    assert_int_equal(p2[4], 2);
    assert_int_equal(l2, l1 + sizeof(field));
    assert_memory_equal(p2 + l1, field, sizeof(field));
    /* the same header but for version and length, the same fields */
    assert_memory_equal(p2, p1, 4);
    assert_memory_equal(p2 + 5, p1 + 5, 7);
    assert_int_equal(p2[15], p1[15] + sizeof(field));
    assert_memory_equal(p2 + PAIRPROTO_HEADER_SIZE,
                        p1 + PAIRPROTO_HEADER_SIZE,
                        l1 - PAIRPROTO_HEADER_SIZE);
    pairproto_msg_clear(&m1);
    pairproto_msg_clear(&m2);
}

/* Cutting a message anywhere is rejected, and never read past. */
static void
test_truncation_every_offset(void **state)
{
    unsigned i;
    size_t k;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(variants); i++) {
        struct pairproto_msg in, out;
        g_autoptr(GBytes) wire = NULL;
        gsize len;
        const uint8_t *p;

        sample(&in, variants[i].type, variants[i].variant);
        wire = pairproto_encode(&in, NULL);
        assert_non_null(wire);
        p = g_bytes_get_data(wire, &len);
        for (k = 0; k < len; k++) {
            /* a copy of exactly k bytes, so ASan sees any over-read */
            g_autofree uint8_t *cut = g_memdup2(p, k ? k : 1);
            g_autoptr(GError) err = NULL;

            assert_false(pairproto_decode(cut, k, &out, &err));
            assert_true(g_error_matches(err, PAIRPROTO_ERROR,
                                        PAIRPROTO_ERROR_TRUNCATED));
            assert_null(out.config);

            /* the same with the header's length patched to match: the
             * damage is then inside the body */
            if (k >= PAIRPROTO_HEADER_SIZE) {
                size_t b = k - PAIRPROTO_HEADER_SIZE;
                bool ok;

                g_clear_error(&err);
                cut[12] = (uint8_t)(b >> 24);
                cut[13] = (uint8_t)(b >> 16);
                cut[14] = (uint8_t)(b >> 8);
                cut[15] = (uint8_t)b;
                ok = pairproto_decode(cut, k, &out, &err);
                if (ok) {
                    /* only dropping the optional trailing text or
                     * device ids can leave a valid message */
                    assert_true(in.reason[0] != '\0' ||
                                in.n_replicated > 0);
                    assert_string_equal(out.reason, "");
                    assert_int_equal(out.n_replicated, 0);
                    pairproto_msg_clear(&out);
                } else {
                    assert_true(err->code == PAIRPROTO_ERROR_FIELD_TRUNCATED ||
                                err->code == PAIRPROTO_ERROR_FIELD_MISSING);
                }
            }
        }
        pairproto_msg_clear(&in);
    }
}

/* ------------------------------------------------------------------ */
/* Malformed messages, built by hand */

struct builder {
    uint8_t buf[PAIRPROTO_MAX_MSG + 64];
    size_t len;
};

static void
b_bytes(struct builder *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof(b->buf));
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void
b_be(struct builder *b, uint64_t v, unsigned size)
{
    unsigned i;

    for (i = 0; i < size; i++) {
        b->buf[b->len++] = (uint8_t)(v >> (8 * (size - 1 - i)));
    }
}

static void
b_header(struct builder *b, const char *magic, unsigned version,
         unsigned type, unsigned flags)
{
    b->len = 0;
    b_bytes(b, magic, 4);
    b_be(b, version, 1);
    b_be(b, type, 1);
    b_be(b, flags, 2);
    b_be(b, 2, 4);              /* target */
    b_be(b, 0, 4);              /* length: b_end() */
}

static void
b_end(struct builder *b)
{
    size_t body = b->len - PAIRPROTO_HEADER_SIZE;

    b->buf[12] = (uint8_t)(body >> 24);
    b->buf[13] = (uint8_t)(body >> 16);
    b->buf[14] = (uint8_t)(body >> 8);
    b->buf[15] = (uint8_t)body;
}

static void
b_tlv(struct builder *b, unsigned id, const void *v, size_t n)
{
    b_be(b, id, 2);
    b_be(b, n, 2);
    b_bytes(b, v, n);
}

static void
b_str(struct builder *b, unsigned id, const char *s)
{
    b_tlv(b, id, s, strlen(s));
}

static void
b_uint(struct builder *b, unsigned id, uint64_t v, unsigned size)
{
    b_be(b, id, 2);
    b_be(b, size, 2);
    b_be(b, v, size);
}

/* A valid RELEASE body (VM_NAME, EPOCH). */
static void
b_release(struct builder *b)
{
    b_header(b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(b, 0x0001, "web1");
    b_uint(b, 0x0003, 9, 8);
}

/* A valid HELLO body, with one field replaced by the caller's hook. */
static void
b_hello(struct builder *b, unsigned skip_field)
{
    b_header(b, "KMRP", 1, PAIRPROTO_HELLO, 0);
    if (skip_field != 0x0013) {
        b_str(b, 0x0013, "node-a");
    }
    if (skip_field != 0x000f) {
        b_uint(b, 0x000f, 1, 1);
    }
    if (skip_field != 0x0010) {
        b_uint(b, 0x0010, 1, 1);
    }
    if (skip_field != 0x0011) {
        b_str(b, 0x0011, "kemari 0.1.0");
    }
    if (skip_field != 0x000e) {
        b_uint(b, 0x000e, 3, 4);
    }
    if (skip_field != 0x0012) {
        b_uint(b, 0x0012, 1, 1);
    }
}

/* A PAIR_REQUEST with the given config kind and config bytes. */
static void
b_request(struct builder *b, unsigned kind, const void *cfg, size_t n)
{
    b_header(b, "KMRP", 1, PAIRPROTO_PAIR_REQUEST, 0);
    b_str(b, 0x0001, "web1");
    b_tlv(b, 0x0002, sample_uuid, 16);
    b_uint(b, 0x0003, 1, 8);
    b_uint(b, 0x0004, 1, 4);
    b_uint(b, 0x0005, kind, 1);
    b_tlv(b, 0x0006, cfg, n);
}

/* A valid version-2 PAIR_REQUEST (argv), for REPLICATED_DISKS to follow. */
static void
b_request_v2(struct builder *b)
{
    b_request(b, PAIRPROTO_CONFIG_ARGV, "-m\0" "512", 7);
    b->buf[4] = 2;
}

static void
expect_error(struct builder *b, enum pairproto_error_code code,
             const char *message)
{
    struct pairproto_msg m;
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *copy = g_memdup2(b->buf, b->len ? b->len : 1);

    if (pairproto_decode(copy, b->len, &m, &err)) {
        pairproto_msg_clear(&m);
        fail_msg("accepted; expected: %s", message);
    }
    assert_non_null(err);
    if (err->code != (int)code || strcmp(err->message, message) != 0) {
        fail_msg("got %d \"%s\", expected %d \"%s\"", err->code,
                 err->message, code, message);
    }
    assert_null(m.config);
}

static void
test_malformed_header(void **state)
{
    static struct builder b;

    (void)state;
    b.len = 0;
    expect_error(&b, PAIRPROTO_ERROR_TRUNCATED,
                 "pair message: 0 bytes, shorter than the 16-byte header");
    b_release(&b);
    b.len = 15;
    expect_error(&b, PAIRPROTO_ERROR_TRUNCATED,
                 "pair message: 15 bytes, shorter than the 16-byte header");

    b_header(&b, "KMRQ", 1, PAIRPROTO_RELEASE, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_MAGIC, "pair message: bad magic "
                 "0x4b4d5251 (expected \"KMRP\")");
    b_header(&b, "KMRP", 3, PAIRPROTO_RELEASE, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_VERSION, "pair message: protocol "
                 "version 3 not supported (this node speaks 1 to 2)");
    b_header(&b, "KMRP", 0, PAIRPROTO_RELEASE, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_VERSION, "pair message: protocol "
                 "version 0 not supported (this node speaks 1 to 2)");
    b_header(&b, "KMRP", 1, 0, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_TYPE,
                 "pair message: unknown message type 0");
    b_header(&b, "KMRP", 1, 8, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_TYPE,
                 "pair message: unknown message type 8");
    b_header(&b, "KMRP", 1, 255, 0);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_TYPE,
                 "pair message: unknown message type 255");
    b_header(&b, "KMRP", 1, PAIRPROTO_STOP, 0x8000);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_RESERVED,
                 "pair message STOP: reserved header flags 0x8000 set");

    b_release(&b);
    b_end(&b);
    b.buf[15]++;                /* announces one byte more than present */
    expect_error(&b, PAIRPROTO_ERROR_TRUNCATED, "pair message RELEASE: "
                 "header announces 21 body bytes, 20 present");
    b.buf[12] = 0xff;           /* announces 4 GiB */
    expect_error(&b, PAIRPROTO_ERROR_TRUNCATED, "pair message RELEASE: "
                 "header announces 4278190101 body bytes, 20 present");
    b_release(&b);
    b_end(&b);
    b_bytes(&b, "xyz", 3);
    expect_error(&b, PAIRPROTO_ERROR_TRAILING,
                 "pair message RELEASE: 3 bytes after the 20-byte body");

    b_release(&b);
    while (b.len < PAIRPROTO_MAX_MSG + 1) {
        b.buf[b.len++] = 0;
    }
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_TOO_LARGE,
                 "pair message: 65537 bytes, above the 65536-byte limit");
}

static void
test_malformed_fields(void **state)
{
    static struct builder b;
    struct pairproto_msg m;
    char long_name[66];

    (void)state;
    /* TLV framing */
    b_release(&b);
    b_bytes(&b, "\x00\x01\x00", 3);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_TRUNCATED, "pair message RELEASE:"
                 " field header at body offset 20 truncated (3 bytes left)");
    b_release(&b);
    b_bytes(&b, "\x00\x0a\x00\x05" "ab", 6);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_TRUNCATED, "pair message RELEASE:"
                 " field 0x000a at body offset 20 announces 5 bytes, 2 left");
    b_release(&b);
    b_str(&b, 0x0042, "x");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_UNKNOWN, "pair message RELEASE: "
                 "unknown field 0x0042 at body offset 20");
    b_release(&b);
    b_str(&b, 0x0000, "");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_UNKNOWN, "pair message RELEASE: "
                 "unknown field 0x0000 at body offset 20");
    b_release(&b);
    b_str(&b, 0x0001, "web2");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_DUPLICATE, "pair message RELEASE:"
                 " field VM_NAME (0x0001) at body offset 20 appears twice");
    b_release(&b);
    b_uint(&b, 0x0008, 80, 2);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_UNEXPECTED, "pair message "
                 "RELEASE: field PORT (0x0008) at body offset 20 is not "
                 "allowed in RELEASE");
    b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(&b, 0x0001, "web1");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_MISSING, "pair message RELEASE: "
                 "required field EPOCH (0x0003) missing");
    b_hello(&b, 0x000e);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_MISSING, "pair message HELLO: "
                 "required field CAPS (0x000e) missing");

    /* sizes */
    b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(&b, 0x0001, "web1");
    b_uint(&b, 0x0003, 9, 4);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_SIZE, "pair message RELEASE: "
                 "field EPOCH (0x0003) has 4 bytes (expected 8)");
    b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(&b, 0x0001, "");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_SIZE, "pair message RELEASE: "
                 "field VM_NAME (0x0001) has 0 bytes (expected 1 to 64)");
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(&b, 0x0001, long_name);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_SIZE, "pair message RELEASE: "
                 "field VM_NAME (0x0001) has 65 bytes (expected 1 to 64)");

    /* an unknown field marked skippable is skipped */
    b_release(&b);
    b_str(&b, 0x8042, "from the future");
    b_end(&b);
    assert_true(pairproto_decode(b.buf, b.len, &m, NULL));
    assert_string_equal(m.vm, "web1");
    pairproto_msg_clear(&m);

    /* REPLICATED_DISKS: version 2, PAIR_REQUEST only */
    b_request(&b, PAIRPROTO_CONFIG_ARGV, "-m\0" "512", 7);
    b_tlv(&b, 0x0014, "disk0", 6);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_UNKNOWN, "pair message "
                 "PAIR_REQUEST: field REPLICATED_DISKS (0x0014) at body "
                 "offset 64 is not in protocol version 1");
    b_release(&b);
    b.buf[4] = 2;
    b_tlv(&b, 0x0014, "disk0", 6);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_UNEXPECTED, "pair message "
                 "RELEASE: field REPLICATED_DISKS (0x0014) at body offset 20 "
                 "is not allowed in RELEASE");
    b_request_v2(&b);
    b_tlv(&b, 0x0014, "disk0", 6);
    b_tlv(&b, 0x0014, "disk1", 6);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_DUPLICATE, "pair message "
                 "PAIR_REQUEST: field REPLICATED_DISKS (0x0014) at body "
                 "offset 74 appears twice");
    b_request_v2(&b);
    b_tlv(&b, 0x0014, "", 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_SIZE, "pair message PAIR_REQUEST:"
                 " field REPLICATED_DISKS (0x0014) has 1 bytes (expected 2 "
                 "to 1040)");
    {
        static uint8_t big[1041];

        memset(big, 'a', sizeof(big));
        b_request_v2(&b);
        b_tlv(&b, 0x0014, big, sizeof(big));
        b_end(&b);
        expect_error(&b, PAIRPROTO_ERROR_FIELD_SIZE, "pair message "
                     "PAIR_REQUEST: field REPLICATED_DISKS (0x0014) has "
                     "1041 bytes (expected 2 to 1040)");
    }

    /* a version-2 message without version-2 fields is fine, and goes
     * back out as version 1 */
    b_release(&b);
    b.buf[4] = 2;
    b_end(&b);
    assert_true(pairproto_decode(b.buf, b.len, &m, NULL));
    {
        g_autoptr(GBytes) again = pairproto_encode(&m, NULL);

        assert_non_null(again);
        assert_int_equal(((const uint8_t *)g_bytes_get_data(again,
                                                            NULL))[4], 1);
    }
    pairproto_msg_clear(&m);
}

/* Every malformed list of device ids, with its exact message. */
static void
test_malformed_replicated(void **state)
{
    static struct builder b;
    static const struct {
        const char *ids;        /* the value, NUL bytes included */
        size_t len;
        const char *what;       /* after "field REPLICATED_DISKS (0x0014): " */
    } cases[] = {
#define CASE(v, what) { v, sizeof(v) - 1, what }
        CASE("disk0", "device ids must be NUL-terminated"),
        CASE("disk0\0disk1", "device ids must be NUL-terminated"),
        CASE("\0disk0\0", "empty device id at value offset 0"),
        CASE("disk0\0\0", "empty device id at value offset 6"),
        CASE("-disk0\0", "invalid device id at value offset 0 (1 to 64 of "
             "A-Z a-z 0-9 _ . -, not starting with . or -)"),
        CASE("disk0\0.x\0", "invalid device id at value offset 6 (1 to 64 "
             "of A-Z a-z 0-9 _ . -, not starting with . or -)"),
        CASE("disk0\0disk 1\0", "invalid device id at value offset 6 (1 to "
             "64 of A-Z a-z 0-9 _ . -, not starting with . or -)"),
        CASE("disk\xc3\xa9\0", "invalid device id at value offset 0 (1 to "
             "64 of A-Z a-z 0-9 _ . -, not starting with . or -)"),
        CASE("d0\0d1\0d0\0", "device id 'd0' at value offset 6 appears "
             "twice"),
        CASE("d0\0d1\0d2\0d3\0d4\0d5\0d6\0d7\0d8\0d9\0da\0db\0dc\0dd\0"
             "de\0df\0dg\0", "more than 16 device ids (id 17 at value "
             "offset 48)"),
#undef CASE
    };
    char long_id[PAIRPROTO_NAME_MAX + 2];
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *msg = g_strdup_printf(
            "pair message PAIR_REQUEST: field REPLICATED_DISKS (0x0014): %s",
            cases[i].what);

        b_request_v2(&b);
        b_tlv(&b, 0x0014, cases[i].ids, cases[i].len);
        b_end(&b);
        expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, msg);
    }

    /* 65 bytes: too long; 64: fine */
    memset(long_id, 'a', sizeof(long_id));
    long_id[PAIRPROTO_NAME_MAX + 1] = '\0';
    b_request_v2(&b);
    b_tlv(&b, 0x0014, long_id, sizeof(long_id));
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field REPLICATED_DISKS (0x0014): invalid device id at "
                 "value offset 0 (1 to 64 of A-Z a-z 0-9 _ . -, not starting "
                 "with . or -)");
    long_id[PAIRPROTO_NAME_MAX] = '\0';
    b_request_v2(&b);
    b_tlv(&b, 0x0014, long_id, PAIRPROTO_NAME_MAX + 1);
    b_end(&b);
    {
        struct pairproto_msg m;
        g_autoptr(GError) err = NULL;

        if (!pairproto_decode(b.buf, b.len, &m, &err)) {
            fail_msg("%s", err->message);
        }
        assert_int_equal(m.n_replicated, 1);
        assert_string_equal(m.replicated[0], long_id);
        pairproto_msg_clear(&m);
    }
}

/* One bad value per field, with its exact message. */
static void
test_malformed_values(void **state)
{
    static struct builder b;
    static const struct {
        const char *name;
    } bad_names[] = { { "../x" }, { "-x" }, { ".x" }, { "a b" },
                      { "web\xc3\xa9" }, { "a/b" } };
    static const char name_err[] = "pair message RELEASE: field VM_NAME "
        "(0x0001): invalid name (1 to 64 of A-Z a-z 0-9 _ . -, not "
        "starting with . or -)";
    static const uint8_t nil[16];
    unsigned i;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
        b_str(&b, 0x0001, bad_names[i].name);
        b_uint(&b, 0x0003, 9, 8);
        b_end(&b);
        expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, name_err);
    }
    b_header(&b, "KMRP", 1, PAIRPROTO_RELEASE, 0);
    b_str(&b, 0x0001, "web1");
    b_uint(&b, 0x0003, 0, 8);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message RELEASE: "
                 "field EPOCH (0x0003): epoch 0");
    b_release(&b);
    b_str(&b, 0x000a, "line\nbreak");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message RELEASE: "
                 "field REASON_TEXT (0x000a): not UTF-8 text without control "
                 "characters");
    b_release(&b);
    b_str(&b, 0x000a, "bad \xff utf8");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message RELEASE: "
                 "field REASON_TEXT (0x000a): not UTF-8 text without control "
                 "characters");

    /* PAIR_REQUEST */
    b_header(&b, "KMRP", 1, PAIRPROTO_PAIR_REQUEST, 0);
    b_str(&b, 0x0001, "web1");
    b_tlv(&b, 0x0002, nil, 16);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field VM_UUID (0x0002): nil UUID");
    b_header(&b, "KMRP", 1, PAIRPROTO_PAIR_REQUEST, 0);
    b_uint(&b, 0x0004, 0, 4);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field NODE_ID (0x0004): node id 0");
    b_request(&b, 4, "x", 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG_KIND (0x0005): unknown configuration kind");
    b_request(&b, PAIRPROTO_CONFIG_ARGV, "-m\0" "512", 6);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG (0x0006): argv must be non-empty "
                 "NUL-terminated arguments");
    b_request(&b, PAIRPROTO_CONFIG_ARGV, "\0", 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG (0x0006): argv must be non-empty "
                 "NUL-terminated arguments");
    b_request(&b, PAIRPROTO_CONFIG_ARGV, "-m\0\0" "512", 8);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG (0x0006): empty argument in argv");
    b_request(&b, PAIRPROTO_CONFIG_LIBVIRT_XML, "<a>\0</a>", 8);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG (0x0006): domain XML is not UTF-8 text");
    b_request(&b, PAIRPROTO_CONFIG_REFERENCE, "web\t1", 5);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REQUEST:"
                 " field CONFIG (0x0006): reference must be 1 to 255 "
                 "printable ASCII characters");

    /* PAIR_ACCEPT, PAIR_REFUSE */
    b_header(&b, "KMRP", 1, PAIRPROTO_PAIR_ACCEPT, 0);
    b_str(&b, 0x0007, "host/evil");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_ACCEPT:"
                 " field HOST (0x0007): invalid host (a name or an address)");
    b_header(&b, "KMRP", 1, PAIRPROTO_PAIR_ACCEPT, 0);
    b_uint(&b, 0x0008, 0, 2);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_ACCEPT:"
                 " field PORT (0x0008): port 0");
    b_header(&b, "KMRP", 1, PAIRPROTO_PAIR_REFUSE, 0);
    b_uint(&b, 0x0009, 8, 2);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message PAIR_REFUSE:"
                 " field REASON_CODE (0x0009): unknown reason code");

    /* STATE_REPORT */
    b_header(&b, "KMRP", 1, PAIRPROTO_STATE_REPORT, 0);
    b_uint(&b, 0x000b, VMFSM_ROLE_COUNT, 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message STATE_REPORT:"
                 " field ROLE (0x000b): unknown role");
    b_header(&b, "KMRP", 1, PAIRPROTO_STATE_REPORT, 0);
    b_uint(&b, 0x000c, VMFSM_STATE_COUNT, 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message STATE_REPORT:"
                 " field STATE (0x000c): unknown state");

    /* HELLO */
    b_hello(&b, 0x000f);
    b_uint(&b, 0x000f, 0, 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message HELLO: "
                 "field PROTO_MIN (0x000f): protocol version 0");
    b_hello(&b, 0x000f);
    b_uint(&b, 0x000f, 2, 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message HELLO: "
                 "PROTO_MIN 2 above PROTO_MAX 1");
    b_hello(&b, 0x0011);
    b_str(&b, 0x0011, "v\x01");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message HELLO: "
                 "field SW_VERSION (0x0011): not printable ASCII");
    b_hello(&b, 0x0012);
    b_uint(&b, 0x0012, 3, 1);
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message HELLO: "
                 "field KVM_CHECK (0x0012): unknown kvm-check verdict");
    b_hello(&b, 0x0013);
    b_str(&b, 0x0013, "-node");
    b_end(&b);
    expect_error(&b, PAIRPROTO_ERROR_FIELD_VALUE, "pair message HELLO: "
                 "field NODE_NAME (0x0013): invalid name (1 to 64 of A-Z "
                 "a-z 0-9 _ . -, not starting with . or -)");
}

/* The encoder refuses what the decoder would refuse. */
static void
test_encode_rejects_invalid(void **state)
{
    struct pairproto_msg m, out;
    g_autoptr(GError) err = NULL;
    g_autofree char *big = g_malloc0(PAIRPROTO_CONFIG_MAX + 1);
    GBytes *wire;
    unsigned i;

    (void)state;
    sample(&m, PAIRPROTO_RELEASE, 0);
    m.vm[0] = '\0';
    assert_null(pairproto_encode(&m, &err));
    assert_true(g_error_matches(err, PAIRPROTO_ERROR,
                                PAIRPROTO_ERROR_FIELD_SIZE));
    g_clear_error(&err);

    m.type = 0;
    assert_null(pairproto_encode(&m, &err));
    assert_true(g_error_matches(err, PAIRPROTO_ERROR, PAIRPROTO_ERROR_TYPE));
    g_clear_error(&err);

    sample(&m, PAIRPROTO_PAIR_REQUEST, 2);
    g_bytes_unref(m.config);
    memset(big, 'a', PAIRPROTO_CONFIG_MAX + 1);
    m.config = g_bytes_new(big, PAIRPROTO_CONFIG_MAX + 1);
    assert_null(pairproto_encode(&m, &err));
    assert_string_equal(err->message, "pair message PAIR_REQUEST: field "
                        "CONFIG (0x0006) has 60001 bytes (expected 1 to "
                        "60000)");
    g_clear_error(&err);
    g_bytes_unref(m.config);

    /* the largest config fits in a message */
    big[PAIRPROTO_CONFIG_MAX - 1] = '\0';
    m.config_kind = PAIRPROTO_CONFIG_ARGV;
    m.config = g_bytes_new(big, PAIRPROTO_CONFIG_MAX);
    wire = pairproto_encode(&m, &err);
    assert_non_null(wire);
    assert_true(g_bytes_get_size(wire) <= PAIRPROTO_MAX_MSG);
    g_bytes_unref(wire);
    pairproto_msg_clear(&m);

    /* device ids: the most, the longest, beside the largest config */
    sample(&m, PAIRPROTO_PAIR_REQUEST, 3);
    g_bytes_unref(m.config);
    m.config = g_bytes_new(big, PAIRPROTO_CONFIG_MAX);
    for (i = 0; i < PAIRPROTO_MAX_REPLICATED; i++) {
        g_autofree char *id = g_strdup_printf("%062d%02u", 0, i);

        g_strlcpy(m.replicated[i], id, sizeof(m.replicated[i]));
    }
    m.n_replicated = PAIRPROTO_MAX_REPLICATED;
    wire = pairproto_encode(&m, &err);
    assert_non_null(wire);
    assert_true(pairproto_decode(g_bytes_get_data(wire, NULL),
                                 g_bytes_get_size(wire), &out, &err));
    assert_msg_equal(&m, &out);
    pairproto_msg_clear(&out);
    g_bytes_unref(wire);

    m.n_replicated = PAIRPROTO_MAX_REPLICATED + 1;
    assert_null(pairproto_encode(&m, &err));
    assert_string_equal(err->message, "pair message PAIR_REQUEST: field "
                        "REPLICATED_DISKS (0x0014): 17 device ids (at most "
                        "16)");
    g_clear_error(&err);
    m.n_replicated = 2;
    g_strlcpy(m.replicated[1], m.replicated[0], sizeof(m.replicated[1]));
    assert_null(pairproto_encode(&m, &err));
    assert_true(g_error_matches(err, PAIRPROTO_ERROR,
                                PAIRPROTO_ERROR_FIELD_VALUE));
    g_clear_error(&err);
    m.replicated[1][0] = '\0';
    assert_null(pairproto_encode(&m, &err));
    assert_string_equal(err->message, "pair message PAIR_REQUEST: field "
                        "REPLICATED_DISKS (0x0014): empty device id at value "
                        "offset 65");
    g_clear_error(&err);
    /* 65 bytes without a NUL in its slot */
    memset(m.replicated[1], 'b', sizeof(m.replicated[1]));
    assert_null(pairproto_encode(&m, &err));
    assert_true(g_error_matches(err, PAIRPROTO_ERROR,
                                PAIRPROTO_ERROR_FIELD_VALUE));
    g_clear_error(&err);
    /* other types do not carry it */
    pairproto_msg_clear(&m);
    sample(&m, PAIRPROTO_RELEASE, 0);
    g_strlcpy(m.replicated[0], "disk0", sizeof(m.replicated[0]));
    m.n_replicated = 1;
    wire = pairproto_encode(&m, &err);
    assert_non_null(wire);
    assert_int_equal(g_bytes_get_size(wire), 36);
    g_bytes_unref(wire);

    assert_string_equal(pairproto_type_name(0), "?");
    assert_string_equal(pairproto_type_name(PAIRPROTO_STOP), "STOP");
    assert_string_equal(pairproto_reason_name(PAIRPROTO_REASON_BUSY), "busy");
    assert_string_equal(pairproto_reason_name(99), "?");
    assert_true(pairproto_name_valid("web-1.prod_a"));
    assert_false(pairproto_name_valid(""));
    assert_false(pairproto_name_valid(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_exact_layout),
        cmocka_unit_test(test_exact_replicated),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_malformed_header),
        cmocka_unit_test(test_malformed_fields),
        cmocka_unit_test(test_malformed_values),
        cmocka_unit_test(test_malformed_replicated),
        cmocka_unit_test(test_encode_rejects_invalid),
    };

    return cmocka_run_group_tests_name("kemarid-pairproto", tests, NULL,
                                       NULL);
}
