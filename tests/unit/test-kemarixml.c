/*
 * test-kemarixml.c - the <kemari> metadata and the device table
 *
 * Golden file tests/unit/golden/kemarixml-errors.out: one line per
 * problem of each malformed <kemari> of bad_kemaris[], "NAME: MESSAGE".
 * When xmllint is installed, each of them is also checked against
 * libvirt-driver/kemari.rng (the schema must refuse it too, unless the
 * table says the schema cannot express the rule), and so is every valid
 * one.  The device table must be exercised row by row: every row decides
 * at least one element of the domains in tests/unit/hook-domains/ or of
 * extra_domains[] here, refused rows only in domains that are refused,
 * allowed rows in domains that pass.  README.md must show the table as
 * kemarixml_rules_markdown() renders it.  KEMARI_REGENERATE=1 rewrites
 * the golden file and the README section instead of comparing.  Storage
 * modes: which rows vet a disk in each mode, kemarixml_disk_storage(),
 * and kemarixml_replicated_disks() over a running domain's disks;
 * kemarixml_replicated_images() over the same disks without aliases.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "golden-file.h"
#include "kemarixml.h"

#define EMULATOR "/usr/libexec/kemari/qemu-system-x86_64"

/* A valid domain whose <metadata> holds METADATA. */
static char *
domain_with(const char *metadata, const char *devices)
{
    return g_strdup_printf(
        "<domain type='kvm'>\n"
        "  <name>web1</name>\n"
        "  <metadata>\n%s\n  </metadata>\n"
        "  <memory unit='MiB'>1024</memory>\n"
        "  <os><type arch='x86_64'>hvm</type></os>\n"
        "  <devices>\n"
        "    <emulator>" EMULATOR "</emulator>\n%s"
        "  </devices>\n"
        "</domain>\n", metadata, devices ? devices : "");
}

#define NS "xmlns:kemari=\"" KEMARIXML_NS "\""
#define K(body) "<kemari:kemari " NS ">" body "</kemari:kemari>"
#define PEER "<kemari:peer node=\"node-b\"/>"

/* ------------------------------------------------------------------ */
/* Schema agreement (when xmllint is installed) */

static bool
have_xmllint(void)
{
    g_autofree char *p = g_find_program_in_path("xmllint");

    return p != NULL;
}

/* Whether kemari.rng accepts FRAGMENT (a single <kemari> element). */
static bool
rng_accepts(const char *fragment)
{
    g_autofree char *rng = golden_srcpath("libvirt-driver/kemari.rng");
    g_autofree char *tmp = NULL;
    g_autoptr(GError) err = NULL;
    int fd, status;

    fd = g_file_open_tmp("kemarixml-XXXXXX.xml", &tmp, &err);
    assert_true(fd >= 0);
    close(fd);
    assert_true(g_file_set_contents(tmp, fragment, -1, &err));
    {
        const char *argv[] = { "xmllint", "--noout", "--relaxng", rng, tmp,
                               NULL };

        assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                                 G_SPAWN_SEARCH_PATH |
                                 G_SPAWN_STDOUT_TO_DEV_NULL |
                                 G_SPAWN_STDERR_TO_DEV_NULL,
                                 NULL, NULL, NULL, NULL, &status, &err));
    }
    unlink(tmp);
    return g_spawn_check_wait_status(status, NULL);
}

/* ------------------------------------------------------------------ */
/* Malformed <kemari> elements */

enum rng_rule {
    RNG_REFUSES,                /* the schema refuses it too */
    RNG_CANNOT,                 /* a rule the schema cannot express */
    RNG_NA,                     /* not a single element: not checked */
};

struct bad_kemari {
    const char *name;
    const char *metadata;       /* what <metadata> holds */
    enum rng_rule rng;
};

#define LONG70 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define TARGET32 "vdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* <kemari:storage> holding BODY */
#define S(body) "<kemari:storage>" body "</kemari:storage>"

static const struct bad_kemari bad_kemaris[] = {
    { "no-peer", K(""), RNG_REFUSES },
    { "no-peer-self-closed", "<kemari:kemari " NS "/>", RNG_REFUSES },
    { "peer-missing-node", K("<kemari:peer/>"), RNG_REFUSES },
    { "peer-empty-node", K("<kemari:peer node=\"\"/>"), RNG_REFUSES },
    { "peer-blank", K("<kemari:peer node=\"node b\"/>"), RNG_REFUSES },
    { "peer-leading-dot", K("<kemari:peer node=\".b\"/>"), RNG_REFUSES },
    { "peer-leading-dash", K("<kemari:peer node=\"-b\"/>"), RNG_REFUSES },
    { "peer-too-long", K("<kemari:peer node=\"" LONG70 "\"/>"),
      RNG_REFUSES },
    { "peer-newline", K("<kemari:peer node=\"a&#10;b\"/>"), RNG_REFUSES },
    { "peer-utf8", K("<kemari:peer node=\"n\xc3\xb6" "de\"/>"), RNG_REFUSES },
    { "peer-twice", K(PEER PEER), RNG_CANNOT },
    { "nine-peers", K("<kemari:peer node=\"n1\"/><kemari:peer node=\"n2\"/>"
                      "<kemari:peer node=\"n3\"/><kemari:peer node=\"n4\"/>"
                      "<kemari:peer node=\"n5\"/><kemari:peer node=\"n6\"/>"
                      "<kemari:peer node=\"n7\"/><kemari:peer node=\"n8\"/>"
                      "<kemari:peer node=\"n9\"/>"), RNG_REFUSES },
    { "peer-unknown-attribute", K("<kemari:peer node=\"b\" port=\"1\"/>"),
      RNG_REFUSES },
    { "peer-namespaced-attribute",
      K("<kemari:peer node=\"b\" kemari:node=\"c\"/>"), RNG_REFUSES },
    { "peer-content", K("<kemari:peer node=\"b\">node-c</kemari:peer>"),
      RNG_REFUSES },
    { "peer-child", K("<kemari:peer node=\"b\"><kemari:peer node=\"c\"/>"
                      "</kemari:peer>"), RNG_REFUSES },
    { "checkpoint-mode", K(PEER "<kemari:checkpoint mode=\"eager\"/>"),
      RNG_REFUSES },
    { "checkpoint-mode-case", K(PEER "<kemari:checkpoint mode=\"Event\"/>"),
      RNG_REFUSES },
    { "min-interval-high",
      K(PEER "<kemari:checkpoint min-interval-ms=\"60001\"/>"),
      RNG_REFUSES },
    { "max-interval-zero",
      K(PEER "<kemari:checkpoint max-interval-ms=\"0\"/>"), RNG_REFUSES },
    { "max-interval-high",
      K(PEER "<kemari:checkpoint max-interval-ms=\"600001\"/>"),
      RNG_REFUSES },
    { "ack-timeout-low",
      K(PEER "<kemari:checkpoint ack-timeout-ms=\"99\"/>"), RNG_REFUSES },
    { "interval-negative",
      K(PEER "<kemari:checkpoint max-interval-ms=\"-1\"/>"), RNG_REFUSES },
    { "interval-plus",
      K(PEER "<kemari:checkpoint max-interval-ms=\"+5\"/>"), RNG_REFUSES },
    { "interval-hex",
      K(PEER "<kemari:checkpoint max-interval-ms=\"0x10\"/>"), RNG_REFUSES },
    { "interval-fraction",
      K(PEER "<kemari:checkpoint max-interval-ms=\"1.5\"/>"), RNG_REFUSES },
    { "interval-blank",
      K(PEER "<kemari:checkpoint max-interval-ms=\" 5\"/>"), RNG_REFUSES },
    { "interval-huge",
      K(PEER "<kemari:checkpoint ack-timeout-ms=\"99999999999999999999\"/>"),
      RNG_REFUSES },
    { "min-above-max",
      K(PEER "<kemari:checkpoint min-interval-ms=\"200\" "
        "max-interval-ms=\"100\"/>"), RNG_CANNOT },
    { "checkpoint-unknown-attribute",
      K(PEER "<kemari:checkpoint interval=\"5\"/>"), RNG_REFUSES },
    { "checkpoint-twice",
      K(PEER "<kemari:checkpoint/><kemari:checkpoint mode=\"event\"/>"),
      RNG_REFUSES },
    { "storage-mode", K(PEER "<kemari:storage mode=\"local\"/>"),
      RNG_REFUSES },
    { "storage-twice", K(PEER "<kemari:storage mode=\"shared\"/>"
                         "<kemari:storage mode=\"shared\"/>"), RNG_REFUSES },
    { "storage-text", K(PEER "<kemari:storage>vdb</kemari:storage>"),
      RNG_REFUSES },
    { "storage-unknown-child",
      K(PEER S("<kemari:peer node=\"node-c\"/>")), RNG_REFUSES },
    { "storage-child-without-namespace",
      K(PEER S("<disk target=\"vdb\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-outside-storage",
      K(PEER "<kemari:disk target=\"vdb\" mode=\"replicated\"/>"),
      RNG_REFUSES },
    { "disk-missing-target", K(PEER S("<kemari:disk mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-missing-mode", K(PEER S("<kemari:disk target=\"vdb\"/>")),
      RNG_REFUSES },
    { "disk-mode",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"local\"/>")),
      RNG_REFUSES },
    { "disk-mode-case",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"Replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-empty",
      K(PEER S("<kemari:disk target=\"\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-short",
      K(PEER S("<kemari:disk target=\"v\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-long",
      K(PEER S("<kemari:disk target=\"" TARGET32 "a\" "
               "mode=\"replicated\"/>")), RNG_REFUSES },
    { "disk-target-path",
      K(PEER S("<kemari:disk target=\"/dev/vdb\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-uppercase",
      K(PEER S("<kemari:disk target=\"VDB\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-digit",
      K(PEER S("<kemari:disk target=\"1vd\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-punctuation",
      K(PEER S("<kemari:disk target=\"vd_b\" mode=\"replicated\"/>")),
      RNG_REFUSES },
    { "disk-target-twice",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"replicated\"/>"
               "<kemari:disk target=\"vdb\" mode=\"shared\"/>")),
      RNG_CANNOT },
    { "disk-unknown-attribute",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"replicated\" "
               "bus=\"virtio\"/>")), RNG_REFUSES },
    { "disk-content",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"replicated\">x"
               "</kemari:disk>")), RNG_REFUSES },
    { "disk-child",
      K(PEER S("<kemari:disk target=\"vdb\" mode=\"replicated\">"
               "<kemari:disk target=\"vdc\" mode=\"replicated\"/>"
               "</kemari:disk>")), RNG_REFUSES },
    { "failover-missing-policy", K(PEER "<kemari:failover/>"),
      RNG_REFUSES },
    { "failover-policy", K(PEER "<kemari:failover policy=\"auto\"/>"),
      RNG_REFUSES },
    { "unknown-element", K(PEER "<kemari:fencing agent=\"ipmi\"/>"),
      RNG_REFUSES },
    { "child-without-namespace", K("<peer node=\"node-b\"/>"),
      RNG_REFUSES },
    { "child-foreign-namespace",
      K(PEER "<x:failover xmlns:x=\"urn:example\" policy=\"auto\"/>"),
      RNG_REFUSES },
    { "text", K("hello" PEER), RNG_REFUSES },
    { "cdata", K(PEER "<![CDATA[x]]>"), RNG_REFUSES },
    { "kemari-attribute", "<kemari:kemari " NS " version=\"1\">" PEER
      "</kemari:kemari>", RNG_REFUSES },
    { "misspelled-namespace",
      "<kemari:kemari xmlns:kemari=\"http://kemari.dev/xmlns/libvirt/1.0\">"
      PEER "</kemari:kemari>", RNG_REFUSES },
    { "no-namespace", "<kemari><peer node=\"node-b\"/></kemari>",
      RNG_REFUSES },
    { "kemari-twice", K(PEER) K(PEER), RNG_NA },
    { "unknown-metadata-element", K(PEER) "<kemari:protection " NS "/>",
      RNG_NA },
    { "many-problems",
      K("<kemari:peer node=\"a b\"/><kemari:checkpoint mode=\"x\" "
        "max-interval-ms=\"0\" foo=\"1\"/><kemari:storage>"
        "<kemari:disk target=\"vdb\"/></kemari:storage>"
        "<kemari:failover policy=\"\"/><kemari:bar/>"), RNG_REFUSES },
};

static void
test_malformed_golden(void **state)
{
    GString *out = g_string_new(NULL);
    bool lint = have_xmllint();
    unsigned i, j;

    (void)state;
    for (i = 0; i < G_N_ELEMENTS(bad_kemaris); i++) {
        const struct bad_kemari *b = &bad_kemaris[i];
        g_autofree char *xml = domain_with(b->metadata, NULL);
        g_autoptr(GPtrArray) problems =
            g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) err = NULL;
        g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), &err);
        g_autoptr(kemarixml_config) c = NULL;

        if (!d) {
            fail_msg("%s: %s", b->name, err->message);
        }
        assert_true(kemarixml_doc_has_kemari(d));
        c = kemarixml_config_get(d, problems);
        if (c || problems->len == 0) {
            fail_msg("%s: accepted", b->name);
        }
        for (j = 0; j < problems->len; j++) {
            const char *p = g_ptr_array_index(problems, j);

            /* each names the element it is about */
            assert_true(p[0] == '<');
            assert_non_null(strstr(p, "(allowed"));
            g_string_append_printf(out, "%s: %s\n", b->name, p);
        }
        if (lint && b->rng != RNG_NA) {
            bool accepted = rng_accepts(b->metadata);

            if (b->rng == RNG_REFUSES && accepted) {
                fail_msg("%s: kemari.rng accepts it", b->name);
            }
            if (b->rng == RNG_CANNOT && !accepted) {
                fail_msg("%s: kemari.rng refuses it: mark it RNG_REFUSES",
                         b->name);
            }
        }
    }
    golden("kemarixml-errors.out", out->str);
    g_string_free(out, TRUE);
}

/* ------------------------------------------------------------------ */
/* Valid <kemari> elements */

static struct kemarixml_config *
config_of(const char *metadata)
{
    g_autofree char *xml = domain_with(metadata, NULL);
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), &err);
    struct kemarixml_config *c;

    if (!d) {
        fail_msg("%s", err->message);
    }
    c = kemarixml_config_get(d, problems);
    if (problems->len) {
        fail_msg("%s: %s", metadata,
                 (const char *)g_ptr_array_index(problems, 0));
    }
    if (have_xmllint() && !rng_accepts(metadata)) {
        fail_msg("kemari.rng refuses %s", metadata);
    }
    return c;
}

static void
test_valid(void **state)
{
    struct kemarixml_config *c;

    (void)state;
    /* the least: one peer; everything else left to kemari.conf */
    c = config_of(K(PEER));
    assert_non_null(c);
    assert_string_equal(c->peers[0], "node-b");
    assert_null(c->peers[1]);
    assert_int_equal(c->ckpt_mode, KEMARIXML_CKPT_UNSET);
    assert_int_equal(c->min_interval_ms, -1);
    assert_int_equal(c->max_interval_ms, -1);
    assert_int_equal(c->ack_timeout_ms, -1);
    assert_int_equal(c->storage, KEMARIXML_STORAGE_SHARED);
    assert_int_equal(c->n_disks, 0);
    assert_null(c->disks);
    assert_int_equal(c->failover, KEMARIXML_FAILOVER_UNSET);
    kemarixml_config_free(c);

    /* <kemari:storage> without mode: shared */
    c = config_of(K(PEER "<kemari:storage/>"));
    assert_non_null(c);
    assert_int_equal(c->storage, KEMARIXML_STORAGE_SHARED);
    assert_int_equal(c->n_disks, 0);
    kemarixml_config_free(c);

    /* everything, at the bounds, in any order, with comments and blanks */
    c = config_of(K("\n  <!-- the secondary -->\n"
                    "  <kemari:failover policy=\"pacemaker\"/>\n"
                    "  <kemari:checkpoint mode=\"periodic\" "
                    "min-interval-ms=\"60000\" max-interval-ms=\"600000\" "
                    "ack-timeout-ms=\"100\"></kemari:checkpoint>\n"
                    "  <kemari:peer node=\"node-b\"/>\n"
                    "  <kemari:storage mode=\"replicated\">\n"
                    "    <!-- the system disk -->\n"
                    "    <kemari:disk target=\"vda\" mode=\"shared\"/>\n"
                    "    <kemari:disk mode=\"replicated\" target=\"vdaa\">"
                    "</kemari:disk>\n"
                    "    <kemari:disk target=\"" TARGET32 "\" "
                    "mode=\"replicated\"/>\n"
                    "    <kemari:disk target=\"xvdB2\" mode=\"shared\"/>\n"
                    "  </kemari:storage>\n"
                    "  <kemari:peer node=\"N_2.rack-3\"/>\n"));
    assert_non_null(c);
    assert_string_equal(c->peers[0], "node-b");
    assert_string_equal(c->peers[1], "N_2.rack-3");
    assert_null(c->peers[2]);
    assert_int_equal(c->ckpt_mode, KEMARIXML_CKPT_PERIODIC);
    assert_int_equal(c->min_interval_ms, 60000);
    assert_int_equal(c->max_interval_ms, 600000);
    assert_int_equal(c->ack_timeout_ms, 100);
    assert_int_equal(c->storage, KEMARIXML_STORAGE_REPLICATED);
    assert_int_equal(c->n_disks, 4);
    assert_string_equal(c->disks[0].target, "vda");
    assert_int_equal(c->disks[0].mode, KEMARIXML_STORAGE_SHARED);
    assert_string_equal(c->disks[1].target, "vdaa");
    assert_int_equal(c->disks[1].mode, KEMARIXML_STORAGE_REPLICATED);
    assert_string_equal(c->disks[2].target, TARGET32);
    assert_int_equal(c->disks[2].mode, KEMARIXML_STORAGE_REPLICATED);
    assert_string_equal(c->disks[3].target, "xvdB2");
    assert_int_equal(c->disks[3].mode, KEMARIXML_STORAGE_SHARED);
    assert_int_equal(c->failover, KEMARIXML_FAILOVER_PACEMAKER);
    kemarixml_config_free(c);

    /* lower bounds, a default namespace, 8 peers, a 64-character name */
    c = config_of("<kemari xmlns=\"" KEMARIXML_NS "\">"
                  "<checkpoint mode=\"event\" min-interval-ms=\"0\" "
                  "max-interval-ms=\"1\" ack-timeout-ms=\"600000\"/>"
                  "<storage><disk target=\"hdc\" mode=\"replicated\"/>"
                  "</storage>"
                  "<failover policy=\"standalone\"/>"
                  "<peer node=\"n1\"/><peer node=\"n2\"/><peer node=\"n3\"/>"
                  "<peer node=\"n4\"/><peer node=\"n5\"/><peer node=\"n6\"/>"
                  "<peer node=\"n7\"/><peer node=\"0123456789012345678901234"
                  "567890123456789012345678901234567890123\"/>"
                  "</kemari>");
    assert_non_null(c);
    assert_int_equal(g_strv_length(c->peers), 8);
    assert_int_equal(strlen(c->peers[7]), 64);
    assert_int_equal(c->ckpt_mode, KEMARIXML_CKPT_EVENT);
    assert_int_equal(c->min_interval_ms, 0);
    assert_int_equal(c->max_interval_ms, 1);
    assert_int_equal(c->ack_timeout_ms, 600000);
    assert_int_equal(c->storage, KEMARIXML_STORAGE_SHARED);
    assert_int_equal(c->n_disks, 1);
    assert_string_equal(c->disks[0].target, "hdc");
    assert_int_equal(c->disks[0].mode, KEMARIXML_STORAGE_REPLICATED);
    assert_int_equal(c->failover, KEMARIXML_FAILOVER_STANDALONE);
    kemarixml_config_free(c);
}

/* KEMARIXML_MAX_DISKS <kemari:disk>, then one more (the schema cannot
 * count them). */
static void
test_disk_count(void **state)
{
    GString *body = g_string_new(NULL);
    g_autofree char *k = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = NULL;
    g_autoptr(kemarixml_config) c = NULL;
    unsigned i;

    (void)state;
    for (i = 0; i <= KEMARIXML_MAX_DISKS; i++) {
        g_string_append_printf(body, "<kemari:disk target=\"vd%c%c\" "
                               "mode=\"replicated\"/>", 'a' + i / 26,
                               'a' + i % 26);
        if (i == KEMARIXML_MAX_DISKS - 1) {
            k = g_strdup_printf(K(PEER S("%s")), body->str);
            c = config_of(k);
            assert_non_null(c);
            assert_int_equal(c->n_disks, KEMARIXML_MAX_DISKS);
            kemarixml_config_free(g_steal_pointer(&c));
            g_free(g_steal_pointer(&k));
        }
    }
    k = g_strdup_printf(K(PEER S("%s")), body->str);
    g_string_free(body, TRUE);
    xml = domain_with(k, NULL);
    d = kemarixml_parse(xml, strlen(xml), NULL);
    assert_non_null(d);
    assert_null(kemarixml_config_get(d, problems));
    assert_int_equal(problems->len, 1);
    assert_string_equal(g_ptr_array_index(problems, 0),
                        "<kemari:storage>: more than 256 <kemari:disk> "
                        "(allowed: at most 256)");
}

/* kemarixml_disk_storage(): override, else <kemari:storage>, else shared */
static void
test_disk_storage(void **state)
{
    struct kemarixml_config *c;

    (void)state;
    assert_int_equal(kemarixml_disk_storage(NULL, "vda"),
                     KEMARIXML_STORAGE_SHARED);
    c = config_of(K(PEER));
    assert_int_equal(kemarixml_disk_storage(c, "vda"),
                     KEMARIXML_STORAGE_SHARED);
    kemarixml_config_free(c);

    c = config_of(K(PEER "<kemari:storage mode=\"replicated\"/>"));
    assert_int_equal(kemarixml_disk_storage(c, "vda"),
                     KEMARIXML_STORAGE_REPLICATED);
    assert_int_equal(kemarixml_disk_storage(c, ""),
                     KEMARIXML_STORAGE_REPLICATED);
    kemarixml_config_free(c);

    c = config_of(K(PEER S("<kemari:disk target=\"vdb\" "
                           "mode=\"replicated\"/>")));
    assert_int_equal(kemarixml_disk_storage(c, "vda"),
                     KEMARIXML_STORAGE_SHARED);
    assert_int_equal(kemarixml_disk_storage(c, "vdb"),
                     KEMARIXML_STORAGE_REPLICATED);
    /* targets are compared exactly */
    assert_int_equal(kemarixml_disk_storage(c, "vdbb"),
                     KEMARIXML_STORAGE_SHARED);
    assert_int_equal(kemarixml_disk_storage(c, "VDB"),
                     KEMARIXML_STORAGE_SHARED);
    kemarixml_config_free(c);

    c = config_of(K(PEER "<kemari:storage mode=\"replicated\">"
                    "<kemari:disk target=\"vda\" mode=\"shared\"/>"
                    "<kemari:disk target=\"vdc\" mode=\"replicated\"/>"
                    "</kemari:storage>"));
    assert_int_equal(kemarixml_disk_storage(c, "vda"),
                     KEMARIXML_STORAGE_SHARED);
    assert_int_equal(kemarixml_disk_storage(c, "vdb"),
                     KEMARIXML_STORAGE_REPLICATED);
    assert_int_equal(kemarixml_disk_storage(c, "vdc"),
                     KEMARIXML_STORAGE_REPLICATED);
    kemarixml_config_free(c);
}

/* A running domain's disks, with the aliases libvirt gives them. */
static const char running_disks[] =
    "<disk type='file' device='disk'>"
    "<source file='/var/lib/libvirt/images/a.qcow2'/>"
    "<target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>\n"
    "<disk type='block' device='disk'><source dev='/dev/vg0/b'/>"
    "<target dev='vdb' bus='virtio'/><alias name='virtio-disk1'/></disk>\n"
    "<disk type='file' device='disk'>"
    "<source file='/var/lib/libvirt/images/c.img'/>"
    "<target dev='vdc' bus='virtio'/><readonly/>"
    "<alias name='virtio-disk2'/></disk>\n"
    "<disk type='file' device='cdrom'>"
    "<source file='/var/lib/libvirt/images/d.iso'/>"
    "<target dev='sda' bus='sata'/><readonly/><alias name='sata0-0-0'/>"
    "</disk>\n"
    "<disk type='block' device='lun'><source dev='/dev/sdz'/>"
    "<target dev='sdb' bus='scsi'/><alias name='scsi0-0-0-1'/></disk>\n"
    "<disk type='file'><source file='/var/lib/libvirt/images/e.img'/>"
    "<target dev='vde' bus='virtio'/><alias name='ua-data'/></disk>\n";

/* kemarixml_replicated_disks() of DEVICES under METADATA, as one string
 * "ALIAS ALIAS" (problems appended to PROBLEMS, if not NULL). */
static char *
replicated_of(const char *metadata, const char *devices, bool with_config,
              GPtrArray *problems)
{
    g_autofree char *xml = domain_with(metadata, devices);
    g_autoptr(GPtrArray) p = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), NULL);
    g_autoptr(kemarixml_config) c = NULL;
    g_auto(GStrv) ids = NULL;

    assert_non_null(d);
    if (with_config) {
        c = kemarixml_config_get(d, p);
        assert_non_null(c);
    }
    ids = kemarixml_replicated_disks(d, c, problems);
    assert_non_null(ids);
    return g_strjoinv(" ", ids);
}

/* The running disks as a secondary gets them: migratable XML, without
 * the aliases libvirt gave them, and with their formats. */
static const char migratable_disks[] =
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/var/lib/libvirt/images/a.qcow2'/>"
    "<target dev='vda' bus='virtio'/></disk>\n"
    "<disk type='block' device='disk'><source dev='/dev/vg0/b'/>"
    "<target dev='vdb' bus='virtio'/></disk>\n"
    "<disk type='file' device='disk'>"
    "<source file='/var/lib/libvirt/images/c.img'/>"
    "<target dev='vdc' bus='virtio'/><readonly/></disk>\n"
    "<disk type='file' device='cdrom'>"
    "<source file='/var/lib/libvirt/images/d.iso'/>"
    "<target dev='sda' bus='sata'/><readonly/></disk>\n"
    "<disk type='file'><driver name='qemu' type='raw'/>"
    "<source file='/var/lib/libvirt/images/e.img'/>"
    "<target dev='vde' bus='virtio'/><alias name='ua-data'/></disk>\n";

/* kemarixml_replicated_images() of the migratable disks under METADATA,
 * as "TARGET:FILE:FORMAT ..." ("-" for what is not given). */
static char *
images_of(const char *metadata)
{
    g_autofree char *xml = domain_with(metadata, migratable_disks);
    g_autoptr(GPtrArray) p = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), NULL);
    g_autoptr(kemarixml_config) c = NULL;
    g_autoptr(GPtrArray) images = NULL;
    GString *out = g_string_new(NULL);
    unsigned i;

    assert_non_null(d);
    c = kemarixml_config_get(d, p);
    assert_non_null(c);
    images = kemarixml_replicated_images(d, c);
    for (i = 0; i < images->len; i++) {
        const struct kemarixml_image *im = g_ptr_array_index(images, i);

        g_string_append_printf(out, "%s%s:%s:%s", i ? " " : "",
                               im->target ? im->target : "-",
                               im->file ? im->file : "-",
                               im->format ? im->format : "-");
    }
    return g_string_free(out, FALSE);
}

static void
test_replicated_images(void **state)
{
    char *s;

    (void)state;
    s = images_of(K(PEER "<kemari:storage mode=\"shared\"/>"));
    assert_string_equal(s, "");
    g_free(s);
    /* the writable disks, aliases or not; a block device has no file */
    s = images_of(K(PEER "<kemari:storage mode=\"replicated\"/>"));
    assert_string_equal(s, "vda:/var/lib/libvirt/images/a.qcow2:qcow2 "
                        "vdb:-:- vde:/var/lib/libvirt/images/e.img:raw");
    g_free(s);
    s = images_of(K(PEER S("<kemari:disk target=\"vde\" "
                           "mode=\"replicated\"/>")));
    assert_string_equal(s, "vde:/var/lib/libvirt/images/e.img:raw");
    g_free(s);
}

static void
test_replicated_disks(void **state)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    char *s;

    (void)state;
    /* no <kemari:storage>, or no config at all: nothing */
    s = replicated_of(K(PEER), running_disks, true, problems);
    assert_string_equal(s, "");
    g_free(s);
    s = replicated_of(K(PEER), running_disks, false, problems);
    assert_string_equal(s, "");
    g_free(s);
    s = replicated_of(K(PEER "<kemari:storage mode=\"shared\"/>"),
                      running_disks, true, problems);
    assert_string_equal(s, "");
    g_free(s);

    /* every disk: the writable ones (not the read-only disk, the CD-ROM
     * or the LUN), in document order */
    s = replicated_of(K(PEER "<kemari:storage mode=\"replicated\"/>"),
                      running_disks, true, problems);
    assert_string_equal(s, "virtio-disk0 virtio-disk1 ua-data");
    g_free(s);

    /* overrides both ways; one on a read-only disk changes nothing */
    s = replicated_of(K(PEER "<kemari:storage mode=\"replicated\">"
                        "<kemari:disk target=\"vda\" mode=\"shared\"/>"
                        "<kemari:disk target=\"vdc\" mode=\"replicated\"/>"
                        "</kemari:storage>"), running_disks, true, problems);
    assert_string_equal(s, "virtio-disk1 ua-data");
    g_free(s);
    s = replicated_of(K(PEER S("<kemari:disk target=\"vdb\" "
                               "mode=\"replicated\"/>"
                               "<kemari:disk target=\"sda\" "
                               "mode=\"replicated\"/>")),
                      running_disks, true, problems);
    assert_string_equal(s, "virtio-disk1");
    g_free(s);
    assert_int_equal(problems->len, 0);

    /* an inactive domain's XML: no aliases */
    s = replicated_of(K(PEER "<kemari:storage mode=\"replicated\"/>"),
                      "<disk type='file' device='disk'>"
                      "<source file='/var/lib/libvirt/images/a.qcow2'/>"
                      "<target dev='vda' bus='virtio'/></disk>\n"
                      "<disk type='file' device='disk'>"
                      "<source file='/var/lib/libvirt/images/b.qcow2'/>"
                      "<target dev='vdb' bus='virtio'/>"
                      "<alias name='virtio-disk1'/></disk>\n"
                      "<disk type='file' device='disk'>"
                      "<source file='/var/lib/libvirt/images/c.qcow2'/>"
                      "<target dev='vdc' bus='virtio'/><alias name=''/>"
                      "</disk>\n", true, problems);
    assert_string_equal(s, "virtio-disk1");
    g_free(s);
    assert_int_equal(problems->len, 2);
    assert_string_equal(g_ptr_array_index(problems, 0),
                        "<disk type='file' device='disk'> (target vda): "
                        "replicated disk without <alias name>, the id QEMU "
                        "knows it by (allowed: the XML of a running domain, "
                        "where libvirt names every device)");
    assert_true(g_str_has_prefix(g_ptr_array_index(problems, 1),
                                 "<disk type='file' device='disk'> "
                                 "(target vdc): replicated disk without "));

    /* PROBLEMS may be NULL */
    s = replicated_of(K(PEER "<kemari:storage mode=\"replicated\"/>"),
                      "<disk type='file' device='disk'>"
                      "<source file='/var/lib/libvirt/images/a.qcow2'/>"
                      "<target dev='vda' bus='virtio'/></disk>\n", true,
                      NULL);
    assert_string_equal(s, "");
    g_free(s);
}

/* config_of() fails the test on problems: this one expects them. */
static void
test_valid_long_name_refused(void **state)
{
    g_autofree char *xml = domain_with(K("<kemari:peer node=\"" LONG70
                                         "\"/>"), NULL);
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), NULL);

    (void)state;
    assert_null(kemarixml_config_get(d, problems));
    assert_int_equal(problems->len, 1);
    /* the value is cut in the message */
    assert_non_null(strstr(g_ptr_array_index(problems, 0), "aaa...'"));
}

/* ------------------------------------------------------------------ */
/* Parsing */

static void
expect_parse_error(const char *xml, size_t len, int code, const char *msg)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, len, &err);

    assert_null(d);
    assert_true(err->domain == KEMARIXML_ERROR);
    assert_int_equal(err->code, code);
    assert_null(strchr(err->message, '\n'));
    if (!strstr(err->message, msg)) {
        fail_msg("'%s' does not contain '%s'", err->message, msg);
    }
}

static void
test_parse_errors(void **state)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE domain [\n"
        "  <!ENTITY a \"kemari kemari kemari kemari kemari kemari\">\n"
        "  <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
        "  <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
        "]>\n<domain><name>&c;</name></domain>\n";
    static const char external[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE domain SYSTEM \"http://192.0.2.1/domain.dtd\">\n"
        "<domain><name>x</name></domain>\n";
    static const char pe[] =
        "<domain><name>x</name><!ENTITY a \"b\"></domain>";
    g_autofree char *big = g_malloc(KEMARIXML_MAX_SIZE + 1);

    (void)state;
    expect_parse_error("", 0, KEMARIXML_ERROR_SYNTAX,
                       "domain XML: empty (allowed: a <domain> element)");
    expect_parse_error("<domain>", 8, KEMARIXML_ERROR_SYNTAX,
                       "domain XML: line 1: ");
    expect_parse_error("<domain><a:b/></domain>", 23,
                       KEMARIXML_ERROR_SYNTAX, "domain XML: line 1: ");
    expect_parse_error("<domain>\xff  </domain>", 20,
                       KEMARIXML_ERROR_SYNTAX, "domain XML: line 1: Input "
                       "is not proper UTF-8, indicate encoding ! Bytes: "
                       "0xFF 0x20 0x20 0x3C");
    expect_parse_error("<domain>&undefined;</domain>", 28,
                       KEMARIXML_ERROR_SYNTAX, "domain XML: line 1: ");
    expect_parse_error(laughs, strlen(laughs), KEMARIXML_ERROR_SYNTAX,
                       "domain XML: a DOCTYPE is not allowed");
    expect_parse_error(external, strlen(external), KEMARIXML_ERROR_SYNTAX,
                       "domain XML: a DOCTYPE is not allowed");
    expect_parse_error(pe, strlen(pe), KEMARIXML_ERROR_SYNTAX,
                       "domain XML: line 1: ");
    expect_parse_error("<network/>", 10, KEMARIXML_ERROR_NOT_DOMAIN,
                       "domain XML: the root element is <network> "
                       "(allowed: <domain>)");
    expect_parse_error("<x:domain xmlns:x='urn:x'/>", 27,
                       KEMARIXML_ERROR_NOT_DOMAIN, "(allowed: <domain>)");
    memset(big, ' ', KEMARIXML_MAX_SIZE + 1);
    expect_parse_error(big, KEMARIXML_MAX_SIZE + 1,
                       KEMARIXML_ERROR_TOO_LARGE,
                       "domain XML: 16777217 bytes (allowed: at most "
                       "16777216)");
}

static void
test_parse_ok(void **state)
{
    g_autofree char *xml = domain_with(K(PEER), NULL);
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, strlen(xml), NULL);
    g_autoptr(kemarixml_doc) plain = NULL;
    static const char no_name[] = "<domain type='kvm'/>";

    (void)state;
    assert_non_null(d);
    assert_string_equal(kemarixml_doc_name(d), "web1");
    assert_true(kemarixml_doc_has_kemari(d));
    plain = kemarixml_parse(no_name, strlen(no_name), NULL);
    assert_non_null(plain);
    assert_string_equal(kemarixml_doc_name(plain), "");
    assert_false(kemarixml_doc_has_kemari(plain));
}

/* kemarixml_check(): what is ours and what is not */
static void
test_check(void **state)
{
    struct kemarixml_host host = { .emulator = EMULATOR };
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *ok = domain_with(K(PEER), NULL);
    g_autofree char *other = domain_with("<x:x xmlns:x='urn:x'/>", NULL);
    static const char broken_plain[] = "<domain><name>a</domain>";
    static const char broken_ours[] = "<domain><name>kemari</domain>";

    (void)state;
    assert_true(kemarixml_check(ok, strlen(ok), &host, problems));
    assert_int_equal(problems->len, 0);
    assert_false(kemarixml_check(other, strlen(other), &host, problems));
    assert_false(kemarixml_check(broken_plain, strlen(broken_plain), &host,
                                 problems));
    assert_int_equal(problems->len, 0);
    assert_true(kemarixml_check(broken_ours, strlen(broken_ours), &host,
                                problems));
    assert_int_equal(problems->len, 1);
    assert_true(g_str_has_prefix(g_ptr_array_index(problems, 0),
                                 "domain XML: line 1: "));
}

/* ------------------------------------------------------------------ */
/* The device table */

static char *
fake_shared(const char *path, void *opaque)
{
    unsigned *calls = opaque;

    (*calls)++;
    return g_str_has_prefix(path, "/shared/")
        ? NULL : g_strdup_printf("%s is not shared (fake)", path);
}

static void
test_rules_well_formed(void **state)
{
    size_t n, i, j;
    const struct kemarixml_rule *r = kemarixml_rules(&n);

    (void)state;
    assert_true(n > 20);
    for (i = 0; i < n; i++) {
        assert_non_null(r[i].kind);
        assert_non_null(r[i].xpath);
        assert_true(strlen(r[i].reason) > 10);
        assert_true((r[i].verdict == KEMARIXML_CHECKED) ==
                    (r[i].check != NULL && r[i].check_value != NULL));
        for (j = 0; j < i; j++) {
            if (strcmp(r[i].xpath, r[j].xpath) == 0) {
                fail_msg("rows %zu and %zu have the same XPath", j + 1,
                         i + 1);
            }
        }
    }
}

/* Vets XML; returns the number of problems, adds to HITS. */
static unsigned
vet_text(const char *name, const char *xml, size_t len, unsigned *hits,
         GPtrArray *problems)
{
    unsigned calls = 0;
    struct kemarixml_host host = {
        .emulator = EMULATOR, .path_shared = fake_shared, .opaque = &calls,
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(kemarixml_doc) d = kemarixml_parse(xml, len, &err);
    g_autoptr(kemarixml_config) c = NULL;
    unsigned before = problems->len;

    if (!d) {
        fail_msg("%s: %s", name, err->message);
    }
    if (kemarixml_doc_has_kemari(d)) {
        c = kemarixml_config_get(d, problems);
    }
    kemarixml_vet(d, c, &host, problems, hits);
    return problems->len - before;
}

/* Domains for the rows a domain libvirt accepts cannot reach. */
static const struct {
    const char *name;
    const char *devices;
    bool refused;
} extra_domains[] = {
    { "unknown-disk-type",
      "<disk type='tape'><source file='/x'/><target dev='vdb'/></disk>\n",
      true },
    { "shared-file-disk",
      "<disk type='file'><source file='/shared/a.img'/>"
      "<target dev='vdb'/></disk>\n"
      "<disk><source file='/shared/b.img'/><target dev='vdc'/></disk>\n",
      false },
};

static void
test_rules_row_by_row(void **state)
{
    size_t n, i;
    const struct kemarixml_rule *rules = kemarixml_rules(&n);
    g_autofree unsigned *hits_refused = g_new0(unsigned, n);
    g_autofree unsigned *hits_allowed = g_new0(unsigned, n);
    g_autofree char *dir = golden_srcpath("tests/unit/hook-domains");
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) gd = g_dir_open(dir, 0, &err);
    const char *name;
    unsigned files = 0;

    (void)state;
    assert_non_null(gd);
    while ((name = g_dir_read_name(gd)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *xml = NULL;
        g_autoptr(GPtrArray) problems =
            g_ptr_array_new_with_free_func(g_free);
        g_autofree unsigned *hits = g_new0(unsigned, n);
        size_t len;
        unsigned np;

        if (!g_str_has_suffix(name, ".xml")) {
            continue;
        }
        files++;
        assert_true(g_file_get_contents(path, &xml, &len, &err));
        np = vet_text(name, xml, len, hits, problems);
        if (g_str_has_prefix(name, "allow-") && np) {
            fail_msg("%s: refused: %s", name,
                     (const char *)g_ptr_array_index(problems, 0));
        }
        if ((g_str_has_prefix(name, "refuse-") ||
             g_str_has_prefix(name, "bad-kemari-")) && !np) {
            fail_msg("%s: accepted", name);
        }
        for (i = 0; i < n; i++) {
            if (g_str_has_prefix(name, "allow-")) {
                hits_allowed[i] += hits[i];
            } else if (g_str_has_prefix(name, "refuse-")) {
                hits_refused[i] += hits[i];
            }
        }
    }
    assert_true(files > 40);
    for (i = 0; i < G_N_ELEMENTS(extra_domains); i++) {
        g_autofree char *xml = domain_with(K(PEER), extra_domains[i].devices);
        g_autoptr(GPtrArray) problems =
            g_ptr_array_new_with_free_func(g_free);
        g_autofree unsigned *hits = g_new0(unsigned, n);
        unsigned np = vet_text(extra_domains[i].name, xml, strlen(xml), hits,
                               problems);
        size_t k;

        assert_int_equal(np > 0, extra_domains[i].refused);
        for (k = 0; k < n; k++) {
            (extra_domains[i].refused ? hits_refused : hits_allowed)[k] +=
                hits[k];
        }
    }
    for (i = 0; i < n; i++) {
        /* checked rows: passing in some domain, failing in another */
        if (rules[i].verdict != KEMARIXML_ALLOWED && !hits_refused[i]) {
            fail_msg("row %zu (%s): no refused domain exercises it", i + 1,
                     rules[i].kind);
        }
        if (rules[i].verdict != KEMARIXML_REFUSED && !hits_allowed[i]) {
            fail_msg("row %zu (%s): no accepted domain exercises it", i + 1,
                     rules[i].kind);
        }
    }
}

/* Each refused row, alone in an otherwise good domain, gives exactly
 * one problem that names its kind. */
static void
test_refused_files_name_their_row(void **state)
{
    static const struct {
        const char *file;
        const char *kind;
    } cases[] = {
        { "refuse-vhostuser-nic.xml", "vhost-user NIC" },
        { "refuse-hostdev-nic.xml", "SR-IOV NIC (interface type='hostdev')" },
        { "refuse-macvtap-passthrough.xml", "macvtap passthrough" },
        { "refuse-vhost-net.xml", "vhost-net" },
        { "refuse-hostdev-pci.xml", "PCI device assignment (VFIO)" },
        { "refuse-hostdev-usb.xml", "USB host device" },
        { "refuse-shmem.xml", "ivshmem" },
        { "refuse-emulator.xml", "emulator" },
        { "refuse-file-disk-missing.xml", "file disk" },
        { "refuse-replicated-network.xml",
          "replicated disk of another type" },
    };
    size_t n;
    unsigned i;

    (void)state;
    kemarixml_rules(&n);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *rel = g_strconcat("tests/unit/hook-domains/",
                                           cases[i].file, NULL);
        g_autofree char *path = golden_srcpath(rel);
        g_autofree char *xml = NULL;
        g_autofree char *want = g_strdup_printf(": refused: %s: ",
                                                cases[i].kind);
        g_autoptr(GPtrArray) problems =
            g_ptr_array_new_with_free_func(g_free);
        g_autofree unsigned *hits = g_new0(unsigned, n);
        size_t len;

        assert_true(g_file_get_contents(path, &xml, &len, NULL));
        assert_int_equal(vet_text(cases[i].file, xml, len, hits, problems),
                         1);
        if (!strstr(g_ptr_array_index(problems, 0), want)) {
            fail_msg("%s: %s", cases[i].file,
                     (const char *)g_ptr_array_index(problems, 0));
        }
    }
}

/* Pieces of the cases of test_vet_storage_modes() */
#define LOCAL_FILE "<disk type='file' device='disk'>" \
    "<source file='/local/a.img'/><target dev='vdb'/></disk>\n"
#define REPLICATED "<kemari:storage mode=\"replicated\"/>"
#define OVERRIDE(t, m) S("<kemari:disk target=\"" t "\" mode=\"" m "\"/>")
#define REFUSED_FILE "<disk type='file' device='disk'> (target vdb): " \
    "refused: file disk: /local/a.img is not shared (fake)"
#define REFUSED_TYPE(tag, t) tag " (target " t "): refused: replicated " \
    "disk of another type: replicated mode needs an image of its own on " \
    "each host that QEMU opens as a file or block device (allowed: " \
    "type='file' or 'block', or <kemari:disk mode='shared'> for this disk)"

/* A disk's storage mode decides which rows vet it. */
static void
test_vet_storage_modes(void **state)
{
    static const struct {
        const char *storage;    /* what <kemari:kemari> holds besides PEER */
        const char *devices;
        const char *problem;    /* the only one, or NULL */
    } cases[] = {
        /* a file disk on a local file system: refused when shared only */
        { "", LOCAL_FILE, REFUSED_FILE },
        { "<kemari:storage mode=\"shared\"/>", LOCAL_FILE, REFUSED_FILE },
        { REPLICATED, LOCAL_FILE, NULL },
        { OVERRIDE("vdb", "replicated"), LOCAL_FILE, NULL },
        { "<kemari:storage mode=\"replicated\">"
          "<kemari:disk target=\"vdb\" mode=\"shared\"/>"
          "</kemari:storage>", LOCAL_FILE, REFUSED_FILE },
        /* another disk's override leaves this one shared */
        { OVERRIDE("vda", "replicated"),
          "<disk type='file'><source file='/local/x.img'/>"
          "<target dev='vda'/></disk>\n" LOCAL_FILE, REFUSED_FILE },
        /* replicated: a file or block device, read-only or not */
        { REPLICATED, "<disk type='block' device='disk'>"
          "<source dev='/dev/vg0/a'/><target dev='vdb'/></disk>\n", NULL },
        { REPLICATED, "<disk><source file='/local/a.img'/>"
          "<target dev='vdb'/></disk>\n", NULL },
        { REPLICATED, "<disk type='file' device='cdrom'>"
          "<source file='/local/a.iso'/><target dev='sda' bus='sata'/>"
          "<readonly/></disk>\n", NULL },
        { REPLICATED, "<disk type='file' device='disk'>"
          "<source file='/local/a.img'/><target dev='vdb'/><readonly/>"
          "</disk>\n", NULL },
        { REPLICATED, "<disk type='file' device='cdrom'>"
          "<target dev='sda' bus='sata'/><readonly/></disk>\n", NULL },
        /* ... and nothing else */
        { REPLICATED, "<disk type='network' device='disk'>"
          "<source protocol='rbd' name='vms/a'/><target dev='vdb'/>"
          "</disk>\n",
          REFUSED_TYPE("<disk type='network' device='disk'>", "vdb") },
        { OVERRIDE("vdc", "replicated"), "<disk type='volume' device='disk'>"
          "<source pool='p' volume='v'/><target dev='vdc'/></disk>\n",
          REFUSED_TYPE("<disk type='volume' device='disk'>", "vdc") },
        { REPLICATED, "<disk type='dir' device='disk'>"
          "<source dir='/local/d'/><target dev='vdb'/></disk>\n",
          REFUSED_TYPE("<disk type='dir' device='disk'>", "vdb") },
        { REPLICATED, "<disk type='network' device='cdrom'>"
          "<source protocol='http' name='a.iso'/><target dev='sda'/>"
          "<readonly/></disk>\n",
          REFUSED_TYPE("<disk type='network' device='cdrom'>", "sda") },
        /* a LUN bypasses the block layer in either mode */
        { REPLICATED, "<disk type='block' device='lun'>"
          "<source dev='/dev/sdz'/><target dev='sdb' bus='scsi'/></disk>\n",
          "<disk type='block' device='lun'> (target sdb): refused: SCSI LUN "
          "passthrough: SCSI commands (SG_IO) bypass the block layer where "
          "writes are held" },
        /* an override must name a disk */
        { OVERRIDE("vdz", "shared"),
          "<disk type='file'><source file='/shared/a.img'/>"
          "<target dev='vda'/></disk>\n"
          "<disk type='file' device='cdrom'><target dev='sda'/></disk>\n",
          "<kemari:disk> attribute 'target': no <disk> of the domain has "
          "target dev 'vdz' (allowed: vda, sda)" },
        { OVERRIDE("vda", "replicated"), "",
          "<kemari:disk> attribute 'target': no <disk> of the domain has "
          "target dev 'vda' (allowed: a disk's target dev; the domain has "
          "none)" },
    };
    size_t n;
    unsigned i;

    (void)state;
    kemarixml_rules(&n);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *metadata = g_strconcat("<kemari:kemari " NS ">"
                                                PEER, cases[i].storage,
                                                "</kemari:kemari>", NULL);
        g_autofree char *xml = domain_with(metadata, cases[i].devices);
        g_autoptr(GPtrArray) problems =
            g_ptr_array_new_with_free_func(g_free);
        g_autofree unsigned *hits = g_new0(unsigned, n);
        unsigned np = vet_text("case", xml, strlen(xml), hits, problems);

        if (!cases[i].problem && np) {
            fail_msg("case %u: refused: %s", i,
                     (const char *)g_ptr_array_index(problems, 0));
        }
        if (cases[i].problem &&
            (np != 1 || strcmp(g_ptr_array_index(problems, 0),
                               cases[i].problem) != 0)) {
            fail_msg("case %u: %u problems, the first: %s", i, np,
                     np ? (const char *)g_ptr_array_index(problems, 0)
                        : "none");
        }
    }
}

static void
test_statfs(void **state)
{
    g_autofree char *proc = kemarixml_path_shared_statfs("/proc/version",
                                                         NULL);
    g_autofree char *none = kemarixml_path_shared_statfs("/nonexistent/x",
                                                         NULL);

    (void)state;
    assert_string_equal(proc, "/proc/version is on a local proc file "
                        "system (allowed: a file on NFS, CIFS/SMB, GFS2, "
                        "OCFS2, CephFS, AFS or Lustre, mounted on both "
                        "hosts)");
    assert_true(g_str_has_prefix(none, "cannot check where /nonexistent/x "
                                 "is: No such file or directory"));
}

/* README.md shows the table between two markers, as rendered. */
static void
test_readme_table(void **state)
{
    static const char begin[] = "<!-- device-table: begin (generated by "
                                "tests/unit/test-kemarixml.c) -->\n";
    static const char end[] = "<!-- device-table: end -->\n";
    g_autofree char *path = golden_srcpath("libvirt-driver/README.md");
    g_autofree char *text = NULL;
    g_autofree char *table = kemarixml_rules_markdown();
    g_autoptr(GError) err = NULL;
    char *b, *e;

    (void)state;
    assert_true(g_file_get_contents(path, &text, NULL, &err));
    b = strstr(text, begin);
    e = b ? strstr(b, end) : NULL;
    if (!b || !e) {
        fail_msg("%s: no device table markers", path);
    }
    b += strlen(begin);
    if (golden_regenerate()) {
        g_autofree char *head = g_strndup(text, (size_t)(b - text));
        g_autofree char *out = g_strconcat(head, table, e, NULL);

        assert_true(g_file_set_contents(path, out, -1, &err));
        print_message("regenerated the table of %s\n", path);
        return;
    }
    if ((size_t)(e - b) != strlen(table) ||
        strncmp(b, table, strlen(table)) != 0) {
        fail_msg("%s: the device table differs from kemarixml_rules() "
                 "(run with KEMARI_REGENERATE=1)", path);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_golden),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_valid_long_name_refused),
        cmocka_unit_test(test_disk_count),
        cmocka_unit_test(test_disk_storage),
        cmocka_unit_test(test_replicated_disks),
        cmocka_unit_test(test_replicated_images),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_rules_well_formed),
        cmocka_unit_test(test_rules_row_by_row),
        cmocka_unit_test(test_refused_files_name_their_row),
        cmocka_unit_test(test_vet_storage_modes),
        cmocka_unit_test(test_statfs),
        cmocka_unit_test(test_readme_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
