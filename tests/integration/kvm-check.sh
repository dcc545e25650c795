#!/bin/sh
# kvm-check.sh - run kemari-kvm-check for real on this host
#
# Asserts what must hold on any host, without presuming the answer:
# the check terminates within a hard outer timeout, its --json output
# parses, every requirement has a verdict, the exit status matches the
# JSON verdict, and the verdict follows from the required requirements.
# A missing device node is tried everywhere; the real /dev/kvm run is
# skipped (exit 77, with a message) where there is none.
#
# Environment: top_builddir (set by `make check`).
set -u

builddir=${top_builddir:-.}
check=$builddir/tools/kvm-check/kemari-kvm-check
outer=60            # seconds: the check must end well before this
pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-check.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

ok() {
    pass=$((pass + 1))
    echo "ok: $*"
}

not_ok() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}

finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ] || exit 1
    exit "${1:-0}"
}

if [ ! -x "$check" ]; then
    echo "FAIL: $check not built"
    exit 99
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is needed to validate the JSON output"
    exit 77
fi

# Validate one JSON document against the exit status the run returned.
# Prints one line per requirement; exits non-zero with a reason.
validate() {
    python3 - "$1" "$2" <<'EOF'
import json, sys

path, rc = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    doc = json.load(f)

keys = ["kvm_device", "guest_execution", "pio_exit_completion",
        "mmio_exit_completion", "dirty_log", "dirty_tracking_interfaces",
        "vcpu_state_restore", "tsc", "kvmclock", "pending_events"]
verdicts = {"pass", "fail", "timeout", "unsupported", "not_run"}
steps = ["open", "native", "setup", "pio_out", "mmio_write", "mmio_read",
         "pio_in", "dirty_log", "save", "restore", "continue"]

def bad(msg):
    print("invalid: " + msg)
    sys.exit(1)

if doc.get("schema") != "kemari-kvm-check/1":
    bad("schema is %r" % doc.get("schema"))
if doc.get("verdict") not in ("pass", "fail"):
    bad("verdict is %r" % doc.get("verdict"))
if doc.get("exit_code") != rc:
    bad("exit_code %r but the program exited %d" % (doc.get("exit_code"), rc))
if (doc["verdict"] == "pass") != (rc == 0):
    bad("verdict %s with exit status %d" % (doc["verdict"], rc))
reqs = doc.get("requirements", {})
for k in keys:
    r = reqs.get(k)
    if r is None:
        bad("requirement %s missing" % k)
    if r.get("verdict") not in verdicts:
        bad("requirement %s has verdict %r" % (k, r.get("verdict")))
    if not r.get("detail"):
        bad("requirement %s has no detail" % k)
    print("  %-26s %-11s %s" % (k, r["verdict"], r["detail"]))
required_ok = all(r["verdict"] == "pass" for r in reqs.values()
                  if r["required"])
if required_ok != (doc["verdict"] == "pass"):
    bad("overall verdict %s disagrees with the requirements" % doc["verdict"])
if doc["verdict"] == "fail":
    first = [k for k in keys if reqs[k]["required"]
             and reqs[k]["verdict"] != "pass"][0]
    if first not in doc.get("summary", ""):
        bad("summary does not name %s" % first)
for s in steps:
    if doc.get("steps", {}).get(s, {}).get("outcome") not in \
            ("ok", "timeout", "unsupported", "error", "not_run"):
        bad("step %s has no outcome" % s)
for io in ("pio_out", "mmio_write", "mmio_read", "pio_in",
           "pio_out_checkpoint"):
    if io not in doc.get("io_exits", {}):
        bad("io_exits.%s missing" % io)
print("  verdict %s: %s" % (doc["verdict"], doc["summary"]))
EOF
}

# Run the check with a hard outer timeout; sets rc and elapsed.
run_check() {
    out=$1
    shift
    start=$(date +%s)
    timeout -k 5 "$outer" "$check" "$@" >"$out" 2>"$out.err"
    rc=$?
    elapsed=$(( $(date +%s) - start ))
}

# 1. A device node that does not exist: a fast, clean "fail".
run_check "$tmp/none.json" --json --device "$tmp/no-such-kvm"
if [ "$rc" -eq 1 ] && [ "$elapsed" -lt 10 ]; then
    ok "missing device: exit status 1 in ${elapsed}s"
else
    not_ok "missing device: exit status $rc after ${elapsed}s (want 1)"
fi
if validate "$tmp/none.json" "$rc" >"$tmp/none.txt"; then
    ok "missing device: JSON valid and consistent"
else
    not_ok "missing device: $(tail -n 1 "$tmp/none.txt")"
fi
if grep -q '"kvm_device": {"required": true, "verdict": "fail"' \
        "$tmp/none.json"; then
    ok "missing device: kvm_device fails"
else
    not_ok "missing device: kvm_device verdict is not fail"
fi

# 2. Usage errors are not verdicts.
timeout -k 5 10 "$check" --timeout 0 >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 2 ]; then
    ok "bad --timeout: exit status 2"
else
    not_ok "bad --timeout: exit status $rc (want 2)"
fi

if [ ! -c /dev/kvm ]; then
    echo "SKIP: no /dev/kvm on this host: the real check was not run"
    finish 77
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "SKIP: /dev/kvm is not read-writable for $(id -un)"
    finish 77
fi

# 3. The real check, JSON.
run_check "$tmp/kvm.json" --json
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    not_ok "check did not terminate within ${outer}s"
    finish
fi
echo "kemari-kvm-check --json: exit status $rc after ${elapsed}s"
if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
    ok "check terminated in ${elapsed}s with a verdict (status $rc)"
else
    not_ok "check exited $rc: $(cat "$tmp/kvm.json.err")"
fi
if validate "$tmp/kvm.json" "$rc" >"$tmp/kvm.txt"; then
    cat "$tmp/kvm.txt"
    ok "JSON valid, every requirement judged, verdict matches exit status"
else
    cat "$tmp/kvm.txt"
    not_ok "JSON output inconsistent"
fi
json_rc=$rc

# 4. The real check, text: same verdict.
run_check "$tmp/kvm.text"
last=$(tail -n 1 "$tmp/kvm.text")
case $rc:$last in
0:"verdict: PASS"*|1:"verdict: FAIL"*)
    ok "text output: '$last'" ;;
*)
    not_ok "text output ends '$last' with exit status $rc" ;;
esac
if [ "$rc" -eq "$json_rc" ]; then
    ok "text and JSON runs agree (status $rc)"
else
    not_ok "text run exited $rc, JSON run $json_rc"
fi

# 5. The supervisor: a 1 s deadline must end the check on time with a
# consistent report, whatever the backend is doing at that moment.
run_check "$tmp/short.json" --json --deadline 1
if [ "$elapsed" -le 10 ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; }; then
    ok "1 s deadline: ended after ${elapsed}s with status $rc"
else
    not_ok "1 s deadline: status $rc after ${elapsed}s"
fi
if validate "$tmp/short.json" "$rc" >"$tmp/short.txt"; then
    ok "1 s deadline: JSON valid and consistent"
else
    not_ok "1 s deadline: $(tail -n 1 "$tmp/short.txt")"
fi

finish
