/*
 * fuzz-kemarixml.c - libFuzzer harness for the domain XML parser of the
 * libvirt hook (libvirt-driver/kemarixml.c)
 *
 * The input is a domain XML document: parsed, its <kemari> extracted and
 * the domain vetted against the device table, as the hook does at
 * prepare.  Checks: an accepted <kemari> has 1 to 8 distinct valid peers
 * and values within their bounds; every problem is one non-empty line
 * of UTF-8; vetting never runs the real statfs() on fuzzer paths.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kemarixml.h"
#include "pairproto.h"

static char *
fake_shared(const char *path, void *opaque)
{
    (void)opaque;
    return path[0] == '/' && path[1] == 's'
        ? NULL : g_strdup("not shared (fuzz)");
}

static void
check_config(const struct kemarixml_config *c)
{
    unsigned i, j, n = g_strv_length(c->peers);

    if (n < 1 || n > KEMARIXML_MAX_PEERS) {
        abort();
    }
    for (i = 0; i < n; i++) {
        if (!pairproto_name_valid(c->peers[i])) {
            abort();
        }
        for (j = 0; j < i; j++) {
            if (strcmp(c->peers[i], c->peers[j]) == 0) {
                abort();
            }
        }
    }
    if (c->min_interval_ms > KEMARIXML_MIN_INTERVAL_MAX ||
        c->max_interval_ms > KEMARIXML_MAX_INTERVAL_MAX ||
        (c->max_interval_ms >= 0 &&
         c->max_interval_ms < KEMARIXML_MAX_INTERVAL_MIN) ||
        c->ack_timeout_ms > KEMARIXML_ACK_TIMEOUT_MAX ||
        (c->ack_timeout_ms >= 0 &&
         c->ack_timeout_ms < KEMARIXML_ACK_TIMEOUT_MIN) ||
        (c->min_interval_ms >= 0 && c->max_interval_ms >= 0 &&
         c->min_interval_ms > c->max_interval_ms)) {
        abort();
    }
    if (c->n_disks > KEMARIXML_MAX_DISKS || (c->n_disks && !c->disks)) {
        abort();
    }
    for (i = 0; i < c->n_disks; i++) {
        size_t len = strlen(c->disks[i].target);

        if (len < 2 || len > KEMARIXML_TARGET_MAX ||
            kemarixml_disk_storage(c, c->disks[i].target) !=
            c->disks[i].mode) {
            abort();
        }
        for (j = 0; j < i; j++) {
            if (strcmp(c->disks[i].target, c->disks[j].target) == 0) {
                abort();
            }
        }
    }
}

/* The replicated disks kemarid would ask the engine for: aliases; and
 * their images. */
static void
check_replicated(const struct kemarixml_doc *d,
                 const struct kemarixml_config *c, GPtrArray *problems)
{
    char **ids = kemarixml_replicated_disks(d, c, problems);
    unsigned i;

    if (!ids) {
        abort();
    }
    for (i = 0; ids[i]; i++) {
        if (!*ids[i] || (!c && i == 0)) {
            abort();
        }
    }
    /* the images a secondary makes when missing: at least those disks */
    if (c) {
        GPtrArray *images = kemarixml_replicated_images(d, c);

        if (images->len < i) {
            abort();
        }
        g_ptr_array_free(images, TRUE);
    }
    g_strfreev(ids);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kemarixml_host host = {
        .emulator = "/usr/libexec/kemari/qemu-system-x86_64",
        .path_shared = fake_shared,
    };
    GPtrArray *problems = g_ptr_array_new_with_free_func(g_free);
    struct kemarixml_doc *d;
    struct kemarixml_config *c = NULL;
    size_t n;
    unsigned *hits;
    unsigned i;

    kemarixml_rules(&n);
    hits = g_new0(unsigned, n);
    d = kemarixml_parse((const char *)data, size, NULL);
    if (d) {
        if (kemarixml_doc_has_kemari(d)) {
            c = kemarixml_config_get(d, problems);
            if (c) {
                check_config(c);
            }
        }
        check_replicated(d, c, problems);
        kemarixml_vet(d, c, &host, problems, hits);
        kemarixml_doc_free(d);
    }
    kemarixml_check((const char *)data, size, &host, problems);
    for (i = 0; i < problems->len; i++) {
        const char *p = g_ptr_array_index(problems, i);

        if (!*p || strchr(p, '\n') || !g_utf8_validate(p, -1, NULL)) {
            abort();
        }
    }
    kemarixml_config_free(c);
    g_ptr_array_unref(problems);
    g_free(hits);
    return 0;
}
