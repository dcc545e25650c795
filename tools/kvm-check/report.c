/*
 * report.c - text and JSON output of kemari-kvm-check (see report.h)
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "report.h"

int
kvmc_exit_code(const struct kvmc_result *res)
{
    return res->pass ? 0 : 1;
}

/* ---- JSON ---------------------------------------------------------- */

/* Print s as a JSON string, escaping what RFC 8259 requires. */
static void
kvmc_json_str(FILE *f, const char *s)
{
    const unsigned char *p;

    fputc('"', f);
    for (p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            } else {
                fputc(*p, f);
            }
            break;
        }
    }
    fputc('"', f);
}

static const char *
kvmc_bool(int v)
{
    return v ? "true" : "false";
}

/* Print a page bitmap as a JSON array of page numbers. */
static void
kvmc_json_pages(FILE *f, uint32_t bits)
{
    int i, first = 1;

    fputc('[', f);
    for (i = 0; i < 32; i++) {
        if (bits & (1u << i)) {
            fprintf(f, "%s%d", first ? "" : ", ", i);
            first = 0;
        }
    }
    fputc(']', f);
}

static void
kvmc_json_io(FILE *f, const char *key, const struct kvmc_io_obs *io,
             int last)
{
    fprintf(f, "    \"%s\": {\"seen\": %s, \"exit_reason\": %u, "
            "\"insn_rip\": %llu, \"next_rip\": %llu, "
            "\"rip_at_exit\": %llu, \"rip_at_exit_position\": \"%s\", "
            "\"rip_after_reentry\": %llu, \"completed\": %s, "
            "\"value_ok\": %s}%s\n",
            key, kvmc_bool(io->seen), io->exit_reason,
            (unsigned long long)io->insn_rip,
            (unsigned long long)io->next_rip,
            (unsigned long long)io->rip_at_exit,
            kvmc_rip_pos_name(kvmc_rip_position(io)),
            (unsigned long long)io->rip_after, kvmc_bool(io->completed),
            kvmc_bool(io->value_ok), last ? "" : ",");
}

void
kvmc_report_json(FILE *f, const char *device, const struct kvmc_obs *obs,
                 const struct kvmc_result *res)
{
    const struct kvmc_dirty_obs *d = &obs->dirty;
    const struct kvmc_state_obs *s = &obs->state;
    int i;

    fprintf(f, "{\n  \"schema\": \"%s\",\n", KVMC_SCHEMA);
    fprintf(f, "  \"program\": \"kemari-kvm-check\",\n");
    fprintf(f, "  \"version\": \"%s\",\n", PACKAGE_VERSION);
    fprintf(f, "  \"device\": ");
    kvmc_json_str(f, device);
    fprintf(f, ",\n  \"verdict\": \"%s\",\n", res->pass ? "pass" : "fail");
    fprintf(f, "  \"exit_code\": %d,\n", kvmc_exit_code(res));
    fprintf(f, "  \"summary\": ");
    kvmc_json_str(f, res->summary);
    fprintf(f, ",\n  \"host\": {\"kernel\": ");
    kvmc_json_str(f, obs->kernel);
    fprintf(f, ", \"backend\": ");
    kvmc_json_str(f, obs->backend);
    fprintf(f, ", \"device_present\": %s, \"api_version\": %d},\n",
            kvmc_bool(obs->device_present), obs->api_version);

    fprintf(f, "  \"requirements\": {\n");
    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        fprintf(f, "    \"%s\": {\"required\": %s, \"verdict\": \"%s\", "
                "\"title\": ", kvmc_req_key((enum kvmc_req_id)i),
                kvmc_bool(kvmc_req_required((enum kvmc_req_id)i)),
                kvmc_verdict_name(res->req[i].verdict));
        kvmc_json_str(f, kvmc_req_title((enum kvmc_req_id)i));
        fprintf(f, ", \"detail\": ");
        kvmc_json_str(f, res->req[i].detail);
        fprintf(f, "}%s\n", i + 1 < KVMC_REQ_COUNT ? "," : "");
    }
    fprintf(f, "  },\n");

    fprintf(f, "  \"steps\": {\n");
    for (i = 0; i < KVMC_STEP_COUNT; i++) {
        fprintf(f, "    \"%s\": {\"outcome\": \"%s\", \"errno\": %d, "
                "\"message\": ", kvmc_step_key((enum kvmc_step_id)i),
                kvmc_outcome_name(obs->steps[i].outcome),
                obs->steps[i].err);
        kvmc_json_str(f, obs->steps[i].msg);
        fprintf(f, "}%s\n", i + 1 < KVMC_STEP_COUNT ? "," : "");
    }
    fprintf(f, "  },\n");

    fprintf(f, "  \"io_exits\": {\n");
    kvmc_json_io(f, "pio_out", &obs->pio_out, 0);
    kvmc_json_io(f, "mmio_write", &obs->mmio_write, 0);
    kvmc_json_io(f, "mmio_read", &obs->mmio_read, 0);
    kvmc_json_io(f, "pio_in", &obs->pio_in, 0);
    kvmc_json_io(f, "pio_out_checkpoint", &obs->pio_out2, 1);
    fprintf(f, "  },\n");

    fprintf(f, "  \"dirty_tracking\": {\"get_dirty_log\": %s, "
            "\"clear_dirty_log_flags\": %d, \"dirty_ring_max_bytes\": %d, "
            "\"dirty_ring_acq_rel\": %s, \"dirty_ring_with_bitmap\": %s,\n",
            kvmc_bool(d->get_dirty_log), d->manual_protect2,
            d->ring_max_bytes, kvmc_bool(d->ring_acq_rel),
            kvmc_bool(d->ring_with_bitmap));
    fprintf(f, "    \"round1\": {\"read\": %s, \"expected\": ",
            kvmc_bool(d->round1_done));
    kvmc_json_pages(f, d->expected1);
    fprintf(f, ", \"reported\": ");
    kvmc_json_pages(f, d->reported1);
    fprintf(f, "},\n    \"round2\": {\"read\": %s, \"expected\": ",
            kvmc_bool(d->round2_done));
    kvmc_json_pages(f, d->expected2);
    fprintf(f, ", \"reported\": ");
    kvmc_json_pages(f, d->reported2);
    fprintf(f, "}\n  },\n");

    fprintf(f, "  \"state\": {\"xsave\": %s, \"xcrs\": %s, "
            "\"debugregs\": %s, \"vcpu_events\": %s, \"user_nmi\": %s, "
            "\"nested_state\": %s, \"tsc_control\": %s, "
            "\"tsc_offset_attr\": %s, \"adjust_clock_flags\": %d,\n",
            kvmc_bool(s->have_xsave), kvmc_bool(s->have_xcrs),
            kvmc_bool(s->have_debugregs), kvmc_bool(s->have_events),
            kvmc_bool(s->have_user_nmi), kvmc_bool(s->have_nested_state),
            kvmc_bool(s->have_tsc_control), kvmc_bool(s->have_tsc_attr),
            s->adjust_clock);
    fprintf(f, "    \"msrs_saved\": %d, \"msrs_restored\": %d, "
            "\"tsc_khz\": %u, \"tsc_preset_ok\": %s, "
            "\"tsc_preset_read\": %llu, "
            "\"tsc_saved\": %llu, "
            "\"tsc_original_guest\": %llu, \"tsc_restored_guest\": %llu, "
            "\"tsc_bound\": %llu,\n",
            s->nmsrs, s->nmsrs_restored, (unsigned)s->tsc_khz,
            kvmc_bool(s->tsc_preset_ok),
            (unsigned long long)s->tsc_preset_read,
            (unsigned long long)s->tsc_saved,
            (unsigned long long)s->tsc_vm1, (unsigned long long)s->tsc_vm2,
            (unsigned long long)s->tsc_bound);
    fprintf(f, "    \"clock_preset_ok\": %s, \"clock_preset_read_ns\": %llu, "
            "\"clock_saved_ns\": %llu, "
            "\"clock_restored_ns\": %llu, \"clock_bound_ns\": %llu,\n",
            kvmc_bool(s->clock_preset_ok),
            (unsigned long long)s->clock_preset_read,
            (unsigned long long)s->clock_saved,
            (unsigned long long)s->clock_vm2,
            (unsigned long long)s->clock_bound);
    fprintf(f, "    \"nmi_pending_saved\": %s, \"nmi_pending_restored\": %s, "
            "\"nmi_delivered_original\": %s, "
            "\"nmi_delivered_restored\": %s,\n",
            kvmc_bool(s->nmi_pending_saved), kvmc_bool(s->nmi_pending_vm2),
            kvmc_bool(s->vm1_nmi_seen), kvmc_bool(s->vm2_nmi_seen));
    fprintf(f, "    \"exits_original\": %d, \"exits_restored\": %d, "
            "\"same_exits\": %s, \"same_registers\": %s, "
            "\"same_memory\": %s, \"mismatch\": ",
            s->nexits_vm1, s->nexits_vm2, kvmc_bool(s->seq_equal),
            kvmc_bool(s->regs_equal), kvmc_bool(s->mem_equal));
    kvmc_json_str(f, s->mismatch);
    fprintf(f, "}\n}\n");
}

/* ---- text ---------------------------------------------------------- */

static void
kvmc_text_io(FILE *f, const char *name, const struct kvmc_io_obs *io)
{
    if (!io->seen) {
        fprintf(f, "  %-18s not seen\n", name);
        return;
    }
    fprintf(f, "  %-18s insn 0x%llx: at exit 0x%llx (%s), after re-entry "
            "0x%llx%s\n", name, (unsigned long long)io->insn_rip,
            (unsigned long long)io->rip_at_exit,
            kvmc_rip_pos_name(kvmc_rip_position(io)),
            (unsigned long long)io->rip_after,
            io->completed ? "" : " (not completed)");
}

void
kvmc_report_text(FILE *f, const char *device, const struct kvmc_obs *obs,
                 const struct kvmc_result *res)
{
    char word[16];
    size_t j;
    int i;

    fprintf(f, "kemari-kvm-check: %s on Linux %s (backend %s, KVM API %d)\n",
            device, obs->kernel[0] ? obs->kernel : "?",
            obs->backend[0] ? obs->backend : "unknown", obs->api_version);
    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        snprintf(word, sizeof(word), "%s",
                 kvmc_verdict_name(res->req[i].verdict));
        for (j = 0; word[j]; j++) {
            if (word[j] >= 'a' && word[j] <= 'z') {
                word[j] = (char)(word[j] - 'a' + 'A');
            }
        }
        fprintf(f, "  %-11s %-26s %s%s\n", word,
                kvmc_req_key((enum kvmc_req_id)i), res->req[i].detail,
                kvmc_req_required((enum kvmc_req_id)i) ? "" :
                " [information only]");
    }
    if (obs->pio_out.seen) {
        fprintf(f, "I/O exits (RIP at the exit, and after re-entry with "
                "immediate_exit):\n");
        kvmc_text_io(f, "OUT 0x500", &obs->pio_out);
        kvmc_text_io(f, "MMIO write 0xd000", &obs->mmio_write);
        kvmc_text_io(f, "MMIO read 0xd001", &obs->mmio_read);
        kvmc_text_io(f, "IN 0x501", &obs->pio_in);
        kvmc_text_io(f, "OUT 0x502", &obs->pio_out2);
    }
    fprintf(f, "verdict: %s: %s\n", res->pass ? "PASS" : "FAIL",
            res->summary);
}
