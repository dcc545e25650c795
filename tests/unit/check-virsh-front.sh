#!/bin/sh
# check-virsh-front.sh - libvirt-driver/virsh-kemari, the virsh front,
# against a stub virsh and a stub kemari that record their arguments:
# every command and option that is not ours reaches virsh unchanged
# (also words with spaces, and no command at all: the shell); the four
# kemari-* commands become kemari(1) calls; the peer comes from --peer or
# the domain's <kemari> metadata (this node skipped); failures say
# "error: ..." and exit 1.
front=${top_srcdir:-.}/libvirt-driver/virsh-kemari
dir=$(mktemp -d /tmp/kemari-virsh-front.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }

cat > "$dir/virsh" <<'STUB'
#!/bin/sh
for a in "$@"; do printf '[%s]' "$a"; done > "$STUB_DIR/virsh.args"
echo >> "$STUB_DIR/virsh.args"
if [ "$1 $2" = "-c test:///x" ]; then shift 2; fi
if [ "$1" = metadata ]; then
    case $2 in
    web1) echo "<kemari:kemari xmlns:kemari='x'><kemari:peer node='node-b'/></kemari:kemari>" ;;
    nopeer) echo "<kemari:kemari xmlns:kemari='x'/>" ;;
    both) echo "<kemari:kemari xmlns:kemari='x'><kemari:peer node='node-a'/><kemari:peer node='node-c'/></kemari:kemari>" ;;
    self) printf '%s\n' "<kemari:kemari xmlns:kemari='x'>" \
        "  <kemari:peer node='node-a'/>" "</kemari:kemari>" ;;
    *) echo "error: failed to get domain '$2'" >&2; exit 1 ;;
    esac
fi
exit 0
STUB
cat > "$dir/kemari" <<'STUB'
#!/bin/sh
for a in "$@"; do printf '[%s]' "$a"; done > "$STUB_DIR/kemari.args"
echo >> "$STUB_DIR/kemari.args"
case $2 in
refused) echo "kemari: refused: the VM does not run on this node" >&2; exit 4 ;;
esac
# this node is node-a
[ "$1" = status ] && printf '%s\n' \
    "node node-a (id 1)  membership joined  quorum yes" " VM    ROLE     STATE"
exit 0
STUB
chmod +x "$dir/virsh" "$dir/kemari"
export STUB_DIR="$dir" KEMARI_VIRSH="$dir/virsh" KEMARI_CLI="$dir/kemari"

# expect DESCRIPTION FILE WANT COMMAND...
expect() {
    _d=$1 _f=$2 _w=$3
    shift 3
    rm -f "$dir/virsh.args" "$dir/kemari.args"
    "$@" > "$dir/out" 2> "$dir/err"
    _rc=$?
    _got=$(cat "$dir/$_f.args" 2>/dev/null)
    if [ "$_got" = "$_w" ]; then
        ok "$_d"
    else
        nok "$_d: $_f got '$_got', want '$_w' (rc $_rc: $(cat "$dir/err"))"
    fi
}

expect "other commands pass through" virsh "[list][--all]" sh "$front" list --all
expect "global options pass through" virsh "[-c][test:///x][-q][start][vm 1]" \
    sh "$front" -c test:///x -q start "vm 1"
expect "no command: virsh's shell" virsh "" sh "$front"
expect "--connect=URI then a command" virsh "[--connect=qemu:///system][dominfo][a]" \
    sh "$front" --connect=qemu:///system dominfo a
expect "help of virsh's own command" virsh "[help][list]" sh "$front" help list
expect "kemari-start with --peer" kemari "[start][web1][--peer][node-c]" \
    sh "$front" kemari-start web1 --peer node-c
expect "kemari-start, peer from metadata" kemari "[start][web1][--peer][node-b]" \
    sh "$front" kemari-start web1
expect "kemari-start skips this node among the metadata's peers" kemari \
    "[start][both][--peer][node-c]" sh "$front" kemari-start both
expect "kemari-start passes --no-wait and --timeout" kemari \
    "[start][web1][--peer][node-b][--no-wait][--timeout][30]" \
    sh "$front" kemari-start web1 --no-wait --timeout 30
expect "metadata is read through the same connection" virsh \
    "[-c][test:///x][metadata][web1][--uri][https://kemari.dev/xmlns/libvirt/1.0]" \
    sh "$front" -c test:///x kemari-start web1
expect "kemari-stop" kemari "[stop][web1]" sh "$front" kemari-stop web1
expect "kemari-failover" kemari "[failover][web1]" sh "$front" kemari-failover web1
expect "kemari-status" kemari "[status]" sh "$front" kemari-status
expect "kemari-status DOMAIN" kemari "[status][web1]" sh "$front" kemari-status web1

# messages and exit codes
out=$(sh "$front" kemari-start web1 2>&1)
[ $? = 0 ] && [ "$(echo "$out" | head -n 1)" = "Domain 'web1' protected, secondary on node 'node-b'" ] &&
    ok "success message like virsh's" || nok "success message: $out"
out=$(sh "$front" kemari-stop refused 2>&1)
[ $? = 1 ] && [ "$out" = "error: refused: the VM does not run on this node" ] &&
    ok "kemari's refusal as a virsh error" || nok "refusal: $out"
out=$(sh "$front" kemari-start nopeer 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "^error: domain 'nopeer' names no peer" &&
    ok "no peer anywhere: error" || nok "no peer: $out"
out=$(sh "$front" kemari-start self 2>&1)
[ $? = 1 ] && [ "$out" = "error: domain 'self' names no peer but this node ('node-a') in its <kemari> metadata: use --peer" ] &&
    ok "only this node as peer: error" || nok "only this node: $out"
out=$(sh "$front" kemari-start missing 2>&1)
[ $? = 1 ] && echo "$out" | grep -q "^error: error: failed to get domain\|^error: failed to get domain" &&
    ok "unknown domain: virsh's error" || nok "unknown domain: $out"
out=$(sh "$front" kemari-stop 2>&1)
[ $? = 1 ] && [ "$out" = "error: command 'kemari-stop' requires <domain> option" ] &&
    ok "missing domain: error" || nok "missing domain: $out"
out=$(sh "$front" kemari-stop web1 --bogus 2>&1)
[ $? = 1 ] && [ "$out" = "error: command 'kemari-stop' doesn't support option --bogus" ] &&
    ok "unknown option: error" || nok "unknown option: $out"
out=$(sh "$front" help kemari-start 2>&1)
echo "$out" | grep -q "kemari-start DOMAIN" && ok "help kemari-start" ||
    nok "help kemari-start: $out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
