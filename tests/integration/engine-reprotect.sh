#!/bin/sh
# engine-reprotect.sh - protecting again at once after a lost secondary.
#
# The secondary QEMU is SIGKILLed; once the primary declares it lost,
# x-kemari-continue-unprotected and then `migrate` to a new secondary are
# sent back to back on one QMP connection, as a daemon re-protecting a
# VM does.  The engine's ended session may not be cleaned up yet at that
# moment: `migrate` must then be refused with a clear error (retried
# here until accepted), never start over state still in use.  QEMU must
# stay up, the guest must end protected by the new secondary, and the
# observer must see no gap and no number with two payloads.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-rp-$$
kt_pair_netns "$ns"
append="kemari.udp=9000 kemari.udp_gap_us=1000"
kt_bg "$ns" "$KT_DIR/udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
    --status "$KT_DIR/udp.status"
udp_pid=$KT_BG_PID
kt_pair_tap "$ns" kt0
kt_pair_tap "$ns" kt1
kt_pair_tap "$ns" kt2
KT_TAP=kt0 kt_qemu "$ns" pri "$append"
pri_pid=$KT_QEMU_PID
kt_wait_console pri KEMARI-GUEST-READY 180 || kt_die "guest did not boot"
KT_TAP=kt1 kt_qemu "$ns" sec1 "$append" -incoming defer
sec1_pid=$KT_QEMU_PID
kt_check "protected by sec1" \
    kt_protect pri sec1 4421 '{"x-kemari-ack-timeout": 1000}'
sleep 1
kill -9 "$sec1_pid"
wait "$sec1_pid" 2>/dev/null
kt_check "primary declares sec1 lost" kt_wait_kemari pri secondary-lost 15

KT_TAP=kt2 kt_qemu "$ns" sec2 "$append" -incoming defer
caps='{"capabilities":[{"capability":"x-kemari","state":true}]}'
kt_qmp sec2 migrate-set-capabilities "$caps" >/dev/null &&
    kt_qmp sec2 migrate-incoming '{"uri":"tcp:127.0.0.1:4422"}' >/dev/null ||
    kt_fail "sec2 does not listen"

# continue-unprotected, then migrate at once, on one connection
out=$(python3 - "$KT_DIR/pri.qmp" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def cmd(name, args=None):
    msg = {"execute": name}
    if args is not None:
        msg["arguments"] = args
    f.write(json.dumps(msg) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
json.loads(f.readline())                       # greeting
cmd("qmp_capabilities")
print("continue:", json.dumps(cmd("x-kemari-continue-unprotected")))
refused = 0
for _ in range(500):
    r = cmd("migrate", {"uri": "tcp:127.0.0.1:4422"})
    if "return" in r:
        print("migrate: accepted after %d refusals" % refused)
        break
    print("migrate refused:", r["error"]["desc"])
    refused += 1
    time.sleep(0.01)
PY
)
echo "$out" | sort | uniq -c
kt_check "QEMU survived migrate right after continue-unprotected" \
    kill -0 "$pri_pid"
# only "not yet" refusals, and in the end accepted
refusals_ok() {
    echo "$out" | grep -q 'migrate: accepted' &&
        ! echo "$out" | grep 'migrate refused' |
            grep -qv 'still being cleaned up\|in progress'
}
kt_check "migrate accepted (refused only while the old session ends)" \
    refusals_ok
kt_check "primary protected by sec2" kt_wait_kemari pri protected 120
kt_check "sec2 holds the copy" kt_wait_kemari sec2 protected 30
h0=$(kt_status_field "$KT_DIR/udp.status" highest)
kt_check "the guest's outputs flow again" \
    kt_wait_above "$KT_DIR/udp.status" highest "${h0:-0}" 20
kill -9 "$pri_pid" 2>/dev/null
wait "$pri_pid" 2>/dev/null
kt_stop "$udp_pid"
kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
    grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
kt_finish
