/*
 * test-kvm-check.c - unit tests for kemari-kvm-check's judgement
 *
 * verdict.c and report.c never touch the host, so each test builds a
 * struct kvmc_obs by hand: a host on which everything works, then one
 * fact changed, and checks the verdict that fact must produce.  The
 * guest blob's named addresses are checked against its bytes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/kvm-check/guest.h"
#include "../../tools/kvm-check/report.h"
#include "../../tools/kvm-check/verdict.h"

#define EXIT_IO 2
#define EXIT_MMIO 6

static void
fill_io(struct kvmc_io_obs *io, uint32_t reason, uint64_t insn,
        uint64_t next, int past)
{
    io->seen = 1;
    io->exit_reason = reason;
    io->insn_rip = insn;
    io->next_rip = next;
    io->rip_at_exit = past ? next : insn;
    io->rip_after = next;
    io->completed = 1;
    io->value_ok = 1;
}

/* Observations of a host on which every requirement holds. */
static void
good_obs(struct kvmc_obs *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->device_present = 1;
    o->api_version = 12;
    o->immediate_exit = 1;
    snprintf(o->backend, sizeof(o->backend), "kvm_intel");
    snprintf(o->kernel, sizeof(o->kernel), "6.1.0-test");
    for (i = 0; i < KVMC_STEP_COUNT; i++) {
        o->steps[i].outcome = KVMC_OUT_OK;
    }
    o->current_step = KVMC_STEP_CONTINUE;
    o->native_done = 1;
    o->native_ms = 9;
    o->native_budget_ms = 2000;
    o->first_exit_seen = 1;
    o->first_exit_reason = EXIT_IO;
    fill_io(&o->pio_out, EXIT_IO, KVMC_RIP_PIO_OUT, KVMC_RIP_PIO_OUT_NEXT, 0);
    fill_io(&o->mmio_write, EXIT_MMIO, KVMC_RIP_MMIO_WRITE,
            KVMC_RIP_MMIO_WRITE_NEXT, 1);
    fill_io(&o->mmio_read, EXIT_MMIO, KVMC_RIP_MMIO_READ,
            KVMC_RIP_MMIO_READ_NEXT, 0);
    fill_io(&o->pio_in, EXIT_IO, KVMC_RIP_PIO_IN, KVMC_RIP_PIO_IN_NEXT, 0);
    fill_io(&o->pio_out2, EXIT_IO, KVMC_RIP_CKPT, KVMC_RIP_CKPT_NEXT, 0);
    o->dirty.get_dirty_log = 1;
    o->dirty.manual_protect2 = 3;
    o->dirty.ring_max_bytes = 65536;
    o->dirty.round1_done = 1;
    o->dirty.expected1 = KVMC_DIRTY_ROUND1;
    o->dirty.reported1 = KVMC_DIRTY_ROUND1;
    o->dirty.round2_done = 1;
    o->dirty.expected2 = KVMC_DIRTY_ROUND2;
    o->dirty.reported2 = KVMC_DIRTY_ROUND2;
    o->state.have_xsave = 1;
    o->state.have_xcrs = 1;
    o->state.have_debugregs = 1;
    o->state.have_events = 1;
    o->state.have_user_nmi = 1;
    o->state.adjust_clock = 7;
    o->state.nmsrs = 10;
    o->state.nmsrs_restored = 10;
    o->state.tsc_khz = 2000000;
    o->state.tsc_preset_ok = 1;
    o->state.tsc_preset_read = (1ULL << 40) + 100;
    o->state.clock_preset_read = 1000000000000010ULL;
    o->state.tsc_saved = 1ULL << 40;
    o->state.tsc_vm1 = (1ULL << 40) + 5000;
    o->state.tsc_vm2 = (1ULL << 40) + 7000;
    o->state.tsc_bound = 1000000;
    o->state.clock_preset_ok = 1;
    o->state.clock_done = 1;
    o->state.clock_saved = 1000000000000000ULL;
    o->state.clock_vm2 = 1000000000000500ULL;
    o->state.clock_bound = 100000000;
    o->state.nmi_pending_saved = 1;
    o->state.nmi_pending_vm2 = 1;
    o->state.vm1_nmi_seen = 1;
    o->state.vm2_nmi_seen = 1;
    o->state.nexits_vm1 = 5;
    o->state.nexits_vm2 = 5;
    o->state.seq_equal = 1;
    o->state.regs_equal = 1;
    o->state.mem_equal = 1;
}

/* Mark step id and every later step as not run, id itself as o. */
static void
fail_from(struct kvmc_obs *obs, enum kvmc_step_id id, enum kvmc_outcome o,
          const char *msg)
{
    int i;

    obs->steps[id].outcome = o;
    snprintf(obs->steps[id].msg, sizeof(obs->steps[id].msg), "%s", msg);
    for (i = id + 1; i < KVMC_STEP_COUNT; i++) {
        obs->steps[i].outcome = KVMC_OUT_NOT_RUN;
    }
}

static enum kvmc_verdict
verdict_of(const struct kvmc_result *res, enum kvmc_req_id id)
{
    return res->req[id].verdict;
}

static void
test_all_good_passes(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;
    int i;

    (void)state;
    good_obs(&obs);
    assert_int_equal(kvmc_evaluate(&obs, &res), 1);
    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        assert_int_equal(res.req[i].verdict, KVMC_V_PASS);
        assert_true(res.req[i].detail[0] != '\0');
    }
    assert_int_equal(kvmc_exit_code(&res), 0);
    assert_non_null(strstr(res.summary, "can run"));
}

/* The pattern of this project's machines: everything works, slowly. */
static void
test_emulating_backend_fails_with_timeout(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    snprintf(obs.backend, sizeof(obs.backend), "kvm_pvm");
    obs.steps[KVMC_STEP_NATIVE].outcome = KVMC_OUT_TIMEOUT;
    obs.native_done = 0;
    obs.native_ms = 2000;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_GUEST_EXECUTION),
                     KVMC_V_TIMEOUT);
    assert_non_null(strstr(res.req[KVMC_REQ_GUEST_EXECUTION].detail,
                           "kvm_pvm"));
    /* The functional requirements are still judged on their own. */
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION), KVMC_V_PASS);
    assert_int_equal(verdict_of(&res, KVMC_REQ_VCPU_STATE), KVMC_V_PASS);
    assert_non_null(strstr(res.summary, "guest_execution"));
    assert_non_null(strstr(res.summary, "1 requirement "));
    assert_int_equal(kvmc_exit_code(&res), 1);
}

static void
test_no_device(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;
    int i;

    (void)state;
    memset(&obs, 0, sizeof(obs));
    obs.api_version = -1;
    obs.steps[KVMC_STEP_OPEN].outcome = KVMC_OUT_ERROR;
    snprintf(obs.steps[KVMC_STEP_OPEN].msg, sizeof(obs.steps[0].msg),
             "open /dev/kvm: No such file or directory");
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_KVM_DEVICE), KVMC_V_FAIL);
    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        assert_int_not_equal(res.req[i].verdict, KVMC_V_PASS);
    }
    assert_int_equal(verdict_of(&res, KVMC_REQ_VCPU_STATE), KVMC_V_NOT_RUN);
    assert_non_null(strstr(res.req[KVMC_REQ_VCPU_STATE].detail, "open"));
}

static void
test_rip_position(void **state)
{
    struct kvmc_io_obs io;

    (void)state;
    memset(&io, 0, sizeof(io));
    assert_int_equal(kvmc_rip_position(&io), KVMC_RIP_UNKNOWN);
    fill_io(&io, EXIT_IO, 0x1005, 0x1006, 0);
    assert_int_equal(kvmc_rip_position(&io), KVMC_RIP_AT_INSN);
    assert_string_equal(kvmc_rip_pos_name(KVMC_RIP_AT_INSN),
                        "at_instruction");
    io.rip_at_exit = 0x1006;
    assert_int_equal(kvmc_rip_position(&io), KVMC_RIP_PAST_INSN);
    io.rip_at_exit = 0x1007;
    assert_int_equal(kvmc_rip_position(&io), KVMC_RIP_OTHER);
}

/* Either RIP at the exit is fine: only the completed state matters. */
static void
test_pio_rip_past_instruction_accepted(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.pio_out.rip_at_exit = obs.pio_out.next_rip;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION), KVMC_V_PASS);
    assert_non_null(strstr(res.req[KVMC_REQ_PIO_COMPLETION].detail,
                           "OUT RIP past_instruction"));
}

static void
test_pio_not_advanced_after_reentry(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.pio_in.rip_after = obs.pio_in.insn_rip;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_PIO_COMPLETION].detail, "IN:"));
    assert_non_null(strstr(res.req[KVMC_REQ_PIO_COMPLETION].detail,
                           "after completing"));
}

static void
test_rip_elsewhere_fails(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.mmio_read.rip_at_exit = 0x2000;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_MMIO_COMPLETION), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_MMIO_COMPLETION].detail,
                           "neither"));
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION), KVMC_V_PASS);
}

static void
test_not_completed_or_value_lost(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.mmio_write.completed = 0;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_MMIO_COMPLETION), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_MMIO_COMPLETION].detail,
                           "EINTR"));

    good_obs(&obs);
    obs.mmio_read.value_ok = 0;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_MMIO_COMPLETION), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_MMIO_COMPLETION].detail,
                           "MMIO read"));
}

static void
test_no_immediate_exit_is_unsupported(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.immediate_exit = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION),
                     KVMC_V_UNSUPPORTED);
    assert_int_equal(verdict_of(&res, KVMC_REQ_MMIO_COMPLETION),
                     KVMC_V_UNSUPPORTED);
}

static void
test_timeout_mid_probe(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    fail_from(&obs, KVMC_STEP_PIO_IN, KVMC_OUT_TIMEOUT,
              "KVM_RUN made no exit within 5000 ms");
    obs.dirty.round1_done = 0;
    obs.dirty.round2_done = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PIO_COMPLETION),
                     KVMC_V_TIMEOUT);
    assert_non_null(strstr(res.req[KVMC_REQ_PIO_COMPLETION].detail,
                           "pio_in timed out"));
    /* MMIO ran before the hang and is judged on what it showed. */
    assert_int_equal(verdict_of(&res, KVMC_REQ_MMIO_COMPLETION), KVMC_V_PASS);
    assert_int_equal(verdict_of(&res, KVMC_REQ_DIRTY_LOG), KVMC_V_NOT_RUN);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_LOG].detail,
                           "pio_in ended timeout"));
    assert_int_equal(verdict_of(&res, KVMC_REQ_PENDING_EVENTS),
                     KVMC_V_NOT_RUN);
}

static void
test_dirty_missing_page_fails(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.dirty.reported1 = (1u << 3) | (1u << 9);
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_DIRTY_LOG), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_LOG].detail,
                           "not reported: 5"));
}

static void
test_dirty_extra_page_passes_with_note(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.dirty.reported1 |= 1u << 1;
    assert_int_equal(kvmc_evaluate(&obs, &res), 1);
    assert_int_equal(verdict_of(&res, KVMC_REQ_DIRTY_LOG), KVMC_V_PASS);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_LOG].detail, "harmless"));

    good_obs(&obs);
    kvmc_evaluate(&obs, &res);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_LOG].detail, "exactly"));
}

static void
test_dirty_not_rearmed_fails(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.dirty.reported2 = 1u << 10;     /* page 3, written again, missing */
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_DIRTY_LOG), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_LOG].detail, "re-armed"));
}

static void
test_dirty_interfaces_are_information_only(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.dirty.ring_max_bytes = 0;
    obs.dirty.manual_protect2 = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 1);
    assert_non_null(strstr(res.req[KVMC_REQ_DIRTY_INTERFACES].detail,
                           "dirty ring no"));
    assert_int_equal(kvmc_req_required(KVMC_REQ_DIRTY_INTERFACES), 0);

    obs.dirty.get_dirty_log = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 1);
    assert_int_equal(verdict_of(&res, KVMC_REQ_DIRTY_INTERFACES),
                     KVMC_V_UNSUPPORTED);
}

static void
test_state_divergence_fails(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.state.seq_equal = 0;
    snprintf(obs.state.mismatch, sizeof(obs.state.mismatch),
             "exit 2 differs");
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_VCPU_STATE), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_VCPU_STATE].detail,
                           "exit 2 differs"));

    good_obs(&obs);
    obs.state.nmsrs_restored = 9;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_VCPU_STATE), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_VCPU_STATE].detail, "9 of 10"));
}

static void
test_tsc_back_or_ahead_fails(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.state.tsc_vm2 = 12345;          /* a fresh VM's TSC */
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_TSC), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_TSC].detail, "went back"));

    good_obs(&obs);
    obs.state.tsc_vm2 = obs.state.tsc_saved + obs.state.tsc_bound + 1;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_TSC), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_TSC].detail, "ahead"));

    good_obs(&obs);
    obs.state.tsc_vm2 = obs.state.tsc_saved + obs.state.tsc_bound;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_TSC), KVMC_V_PASS);

    /* A backend that says yes to KVM_SET_MSRS and keeps its own TSC. */
    good_obs(&obs);
    obs.state.tsc_preset_ok = 0;
    obs.state.tsc_preset_read = 3811936703756ULL;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_TSC), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_TSC].detail,
                           "not honoured: wrote 1099511627776, read back "
                           "3811936703756"));
}

static void
test_kvmclock(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.state.adjust_clock = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_KVMCLOCK), KVMC_V_UNSUPPORTED);

    good_obs(&obs);
    obs.state.clock_preset_ok = 0;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_KVMCLOCK), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_KVMCLOCK].detail,
                           "not honoured"));

    good_obs(&obs);
    obs.state.clock_vm2 = 42;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_KVMCLOCK), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_KVMCLOCK].detail,
                           "not carried over"));
}

static void
test_pending_nmi_lost(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;

    (void)state;
    good_obs(&obs);
    obs.state.vm2_nmi_seen = 0;
    assert_int_equal(kvmc_evaluate(&obs, &res), 0);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PENDING_EVENTS), KVMC_V_FAIL);
    assert_non_null(strstr(res.req[KVMC_REQ_PENDING_EVENTS].detail,
                           "restored VM"));

    good_obs(&obs);
    obs.state.nmi_pending_vm2 = 0;
    kvmc_evaluate(&obs, &res);
    assert_non_null(strstr(res.req[KVMC_REQ_PENDING_EVENTS].detail,
                           "KVM_SET_VCPU_EVENTS"));

    good_obs(&obs);
    obs.state.have_events = 0;
    kvmc_evaluate(&obs, &res);
    assert_int_equal(verdict_of(&res, KVMC_REQ_PENDING_EVENTS),
                     KVMC_V_UNSUPPORTED);
}

static void
test_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(kvmc_req_key(KVMC_REQ_KVM_DEVICE), "kvm_device");
    assert_string_equal(kvmc_req_key(KVMC_REQ_PIO_COMPLETION),
                        "pio_exit_completion");
    assert_string_equal(kvmc_req_key(KVMC_REQ_MMIO_COMPLETION),
                        "mmio_exit_completion");
    assert_string_equal(kvmc_req_key(KVMC_REQ_VCPU_STATE),
                        "vcpu_state_restore");
    assert_string_equal(kvmc_req_key(KVMC_REQ_PENDING_EVENTS),
                        "pending_events");
    assert_string_equal(kvmc_req_key(KVMC_REQ_COUNT), "unknown");
    assert_string_equal(kvmc_verdict_name(KVMC_V_NOT_RUN), "not_run");
    assert_string_equal(kvmc_verdict_name(KVMC_V_TIMEOUT), "timeout");
    assert_string_equal(kvmc_step_key(KVMC_STEP_NATIVE), "native");
    assert_string_equal(kvmc_outcome_name(KVMC_OUT_UNSUPPORTED),
                        "unsupported");
}

/* Render into a string (the caller frees it). */
static char *
render(int json, const struct kvmc_obs *obs, const struct kvmc_result *res)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    if (json) {
        kvmc_report_json(f, "/dev/kvm", obs, res);
    } else {
        kvmc_report_text(f, "/dev/kvm", obs, res);
    }
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
test_json_report(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;
    char needle[64];
    char *out, *p;
    int depth = 0, i;

    (void)state;
    good_obs(&obs);
    obs.steps[KVMC_STEP_NATIVE].outcome = KVMC_OUT_TIMEOUT;
    snprintf(obs.steps[KVMC_STEP_NATIVE].msg, sizeof(obs.steps[0].msg),
             "say \"hi\"\\\n\x01");
    kvmc_evaluate(&obs, &res);
    out = render(1, &obs, &res);
    assert_non_null(strstr(out, "\"schema\": \"kemari-kvm-check/1\""));
    assert_non_null(strstr(out, "\"verdict\": \"fail\""));
    assert_non_null(strstr(out, "\"exit_code\": 1"));
    for (i = 0; i < KVMC_REQ_COUNT; i++) {
        snprintf(needle, sizeof(needle), "\"%s\": {\"required\": ",
                 kvmc_req_key((enum kvmc_req_id)i));
        assert_non_null(strstr(out, needle));
    }
    assert_non_null(strstr(out, "\"guest_execution\": {\"required\": true, "
                           "\"verdict\": \"timeout\""));
    assert_non_null(strstr(out, "\"dirty_tracking_interfaces\": "
                           "{\"required\": false"));
    /* Escaping: quote, backslash, newline, control character. */
    assert_non_null(strstr(out, "say \\\"hi\\\"\\\\\\n\\u0001"));
    assert_non_null(strstr(out, "\"round1\": {\"read\": true, "
                           "\"expected\": [3, 5, 9]"));
    /* Braces balance outside strings, and the document ends the line. */
    for (p = out; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\') {
                    p++;
                }
            }
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            depth--;
            assert_true(depth >= 0);
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(out[strlen(out) - 1], '\n');
    free(out);
}

static void
test_text_report(void **state)
{
    struct kvmc_result res;
    struct kvmc_obs obs;
    char *out;

    (void)state;
    good_obs(&obs);
    kvmc_evaluate(&obs, &res);
    out = render(0, &obs, &res);
    assert_non_null(strstr(out, "PASS        pio_exit_completion"));
    assert_non_null(strstr(out, "[information only]"));
    assert_non_null(strstr(out, "insn 0x1005: at exit 0x1005 "
                           "(at_instruction), after re-entry 0x1006"));
    assert_non_null(strstr(out, "verdict: PASS"));
    free(out);

    obs.state.tsc_vm2 = 0;
    kvmc_evaluate(&obs, &res);
    out = render(0, &obs, &res);
    assert_non_null(strstr(out, "FAIL        tsc"));
    assert_non_null(strstr(out, "verdict: FAIL"));
    free(out);
}

/* The named addresses in guest.h must point at the right opcodes. */
static void
test_guest_layout(void **state)
{
    const uint8_t *c = kvmc_guest_code;
    uint8_t *ram;

    (void)state;
    assert_int_equal(c[KVMC_RIP_PIO_OUT - KVMC_CODE_GPA], 0xee);
    assert_int_equal(c[KVMC_RIP_MMIO_WRITE - KVMC_CODE_GPA], 0xc6);
    assert_int_equal(c[KVMC_RIP_MMIO_READ - KVMC_CODE_GPA], 0xa0);
    assert_int_equal(c[KVMC_RIP_PIO_IN - KVMC_CODE_GPA], 0xec);
    assert_int_equal(c[KVMC_RIP_CKPT - KVMC_CODE_GPA], 0xef);
    assert_int_equal(c[KVMC_RIP_HLT - KVMC_CODE_GPA], 0xf4);
    assert_int_equal(kvmc_guest_code_len, KVMC_RIP_HLT + 1 - KVMC_CODE_GPA);
    /* Operands: MMIO addresses and the first OUT's value. */
    assert_int_equal(c[KVMC_RIP_MMIO_WRITE - KVMC_CODE_GPA + 3],
                     KVMC_MMIO_WRITE_GPA >> 8);
    assert_int_equal(c[KVMC_RIP_MMIO_WRITE - KVMC_CODE_GPA + 4],
                     KVMC_MMIO_WRITE_BYTE);
    assert_int_equal(c[KVMC_RIP_MMIO_READ - KVMC_CODE_GPA + 1],
                     KVMC_MMIO_READ_GPA & 0xff);
    assert_int_equal(c[KVMC_RIP_PIO_OUT - KVMC_CODE_GPA - 1], KVMC_OUT_BYTE);
    assert_int_equal(kvmc_guest_lm[KVMC_RIP_LM_OUT - KVMC_LM_CODE_GPA], 0xee);
    assert_true(KVMC_CODE_GPA + kvmc_guest_code_len <= KVMC_NMI_GPA);
    assert_true(KVMC_MMIO_WRITE_GPA >= KVMC_RAM_SIZE);

    ram = calloc(1, KVMC_RAM_SIZE);
    assert_non_null(ram);
    kvmc_guest_load(ram);
    assert_int_equal(ram[8] | (ram[9] << 8), KVMC_NMI_GPA);  /* IVT[2] */
    assert_int_equal(ram[KVMC_NMI_GPA + kvmc_guest_nmi_len - 1], 0xcf);
    assert_memory_equal(ram + KVMC_CODE_GPA, c, kvmc_guest_code_len);
    memset(ram, 0, KVMC_RAM_SIZE);
    kvmc_guest_lm_load(ram);
    assert_int_equal(ram[KVMC_LM_PML4_GPA], (KVMC_LM_PDPT_GPA | 3) & 0xff);
    assert_int_equal(ram[KVMC_LM_PML4_GPA + 1], KVMC_LM_PDPT_GPA >> 8);
    assert_int_equal(ram[KVMC_LM_PD_GPA], 0x83);
    free(ram);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_good_passes),
        cmocka_unit_test(test_emulating_backend_fails_with_timeout),
        cmocka_unit_test(test_no_device),
        cmocka_unit_test(test_rip_position),
        cmocka_unit_test(test_pio_rip_past_instruction_accepted),
        cmocka_unit_test(test_pio_not_advanced_after_reentry),
        cmocka_unit_test(test_rip_elsewhere_fails),
        cmocka_unit_test(test_not_completed_or_value_lost),
        cmocka_unit_test(test_no_immediate_exit_is_unsupported),
        cmocka_unit_test(test_timeout_mid_probe),
        cmocka_unit_test(test_dirty_missing_page_fails),
        cmocka_unit_test(test_dirty_extra_page_passes_with_note),
        cmocka_unit_test(test_dirty_not_rearmed_fails),
        cmocka_unit_test(test_dirty_interfaces_are_information_only),
        cmocka_unit_test(test_state_divergence_fails),
        cmocka_unit_test(test_tsc_back_or_ahead_fails),
        cmocka_unit_test(test_kvmclock),
        cmocka_unit_test(test_pending_nmi_lost),
        cmocka_unit_test(test_names_are_stable),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_text_report),
        cmocka_unit_test(test_guest_layout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
