#!/bin/sh
# check-ocf-metadata.sh - the meta-data of ocf-agents/KemariDomain
# validates against the OCF 1.0 DTD (resource-agents' ra-api-1.dtd, the
# way ocf-tester checks it: xmllint --valid through the DOCTYPE) and the
# OCF 1.1 RELAX NG schema (pcs's ocf-1.1.rng), and says what
# doc/pacemaker.md promises: OCF 1.1, both role names, the recommended
# timeouts and intervals, the parameters.  A schema that is not installed
# is skipped; with neither, the test skips (77).  Needs ocf-shellfuncs
# (resource-agents) and xmllint.
srcdir=${top_srcdir:-.}
agent=$srcdir/ocf-agents/KemariDomain
: "${OCF_ROOT:=/usr/lib/ocf}"
: "${OCF_DTD:=/usr/share/resource-agents/ra-api-1.dtd}"
: "${OCF_RNG:=/usr/share/pcs/data/ocf-1.1.rng}"
[ -r "$OCF_ROOT/lib/heartbeat/ocf-shellfuncs" ] ||
    { echo "no $OCF_ROOT/lib/heartbeat/ocf-shellfuncs (resource-agents): skipped"; exit 77; }
command -v xmllint > /dev/null || { echo "no xmllint: skipped"; exit 77; }
[ -r "$OCF_DTD" ] || [ -r "$OCF_RNG" ] ||
    { echo "neither $OCF_DTD nor $OCF_RNG: skipped"; exit 77; }

dir=$(mktemp -d /tmp/kemari-ocf-metadata.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }

OCF_ROOT=$OCF_ROOT sh "$agent" meta-data > "$dir/md.xml" 2> "$dir/err"
rc=$?
[ "$rc" = 0 ] && [ ! -s "$dir/err" ] && ok "meta-data exits 0, silently" ||
    nok "meta-data: exit $rc, stderr: $(cat "$dir/err")"
# as non-root users run it, e.g. crm_resource --show-metadata
OCF_ROOT=$OCF_ROOT OCF_RESOURCE_INSTANCE='' sh "$agent" meta-data |
    cmp -s - "$dir/md.xml" && ok "meta-data does not depend on the instance" ||
    nok "meta-data differs without OCF_RESOURCE_INSTANCE"

if [ -r "$OCF_DTD" ]; then
    # with the DTD of the DOCTYPE beside it, as ocf-tester does
    cp "$OCF_DTD" "$dir/ra-api-1.dtd"
    if (cd "$dir" && xmllint --noout --valid md.xml) 2> "$dir/err"; then
        ok "valid against the OCF 1.0 DTD (ocf-tester's check)"
    else
        nok "OCF 1.0 DTD: $(cat "$dir/err")"
    fi
    if xmllint --noout --dtdvalid "$OCF_DTD" "$dir/md.xml" 2> "$dir/err"; then
        ok "valid against $OCF_DTD"
    else
        nok "--dtdvalid $OCF_DTD: $(cat "$dir/err")"
    fi
else
    echo "# no $OCF_DTD: OCF 1.0 check skipped"
fi
if [ -r "$OCF_RNG" ]; then
    # without the DOCTYPE (no DTD lookup): the schema alone decides
    sed '/<!DOCTYPE/d' "$dir/md.xml" > "$dir/md-nodtd.xml"
    if xmllint --noout --relaxng "$OCF_RNG" "$dir/md-nodtd.xml" 2> "$dir/err"; then
        ok "valid against the OCF 1.1 schema"
    else
        nok "OCF 1.1 schema: $(cat "$dir/err")"
    fi
else
    echo "# no $OCF_RNG: OCF 1.1 check skipped"
fi

# xp XPATH: the string value of an XPath expression over the meta-data
xp() { xmllint --xpath "$1" "$dir/md.xml" 2> /dev/null; }
want() {
    _got=$(xp "$2")
    [ "$_got" = "$3" ] && ok "$1" || nok "$1: '$_got', want '$3'"
}
want "OCF version 1.1" "string(/resource-agent/version)" 1.1
want "agent name" "string(/resource-agent/@name)" KemariDomain
want "domain is required" \
    "string(//parameter[@name='domain']/@required)" 1
want "domain is unique" "string(//parameter[@name='domain']/@unique)" 1
for p in config hypervisor kemari_socket kemari_bin virsh_bin; do
    want "parameter $p, optional" \
        "string(//parameter[@name='$p']/@required)" 0
done
want "hypervisor default" \
    "string(//parameter[@name='hypervisor']/content/@default)" qemu:///system
for a in start:60s stop:120s promote:120s demote:120s notify:20s \
         validate-all:20s meta-data:5s; do
    want "action ${a%%:*}, timeout ${a#*:}" \
        "string(//action[@name='${a%%:*}']/@timeout)" "${a#*:}"
done
want "monitor Promoted every 10s, timeout 30s" \
    "concat(//action[@name='monitor'][@role='Promoted']/@interval, ' ', //action[@name='monitor'][@role='Promoted']/@timeout)" \
    "10s 30s"
want "monitor Unpromoted every 11s, timeout 30s" \
    "concat(//action[@name='monitor'][@role='Unpromoted']/@interval, ' ', //action[@name='monitor'][@role='Unpromoted']/@timeout)" \
    "11s 30s"
want "no legacy role names" \
    "count(//action[@role='Master' or @role='Slave'])" 0

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
