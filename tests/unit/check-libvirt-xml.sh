#!/bin/sh
# check-libvirt-xml.sh - the domain XML of the docs and of the hook's test
# table is what libvirt accepts, and its <kemari> what our schema accepts:
#   - libvirt-driver/examples/*.xml and every ```xml block of
#     libvirt-driver/README.md that holds a <domain> pass
#     `virt-xml-validate FILE domain`, and their <kemari> element passes
#     `xmllint --relaxng libvirt-driver/kemari.rng`;
#   - the blocks that hold only a <kemari:kemari> pass the schema;
#   - every tests/unit/hook-domains/*.xml passes virt-xml-validate, and
#     its <kemari>, if any, the schema (except bad-kemari-*, which must
#     fail it).
# Skips (77) when virt-xml-validate (libvirt-clients) or xmllint
# (libxml2-utils) is missing.  Ends with "N passed, N failed".
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v virt-xml-validate >/dev/null 2>&1 ||
    { echo "SKIP: no virt-xml-validate (libvirt-clients)"; exit 77; }
command -v xmllint >/dev/null 2>&1 ||
    { echo "SKIP: no xmllint (libxml2-utils)"; exit 77; }

rng=$top_srcdir/libvirt-driver/kemari.rng
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kemari-xml.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'not ok - %s\n' "$*"; }

# The <kemari> element of domain FILE, in OUT; false if there is none.
extract_kemari() {
    xmllint --xpath "/domain/metadata/*[local-name()='kemari']" "$1" \
        > "$2" 2>/dev/null
}

check_domain() { # FILE NAME [bad-kemari]
    if out=$(virt-xml-validate "$1" domain 2>&1); then
        pass "$2: virt-xml-validate"
    else
        fail "$2: virt-xml-validate: $out"
    fi
    extract_kemari "$1" "$tmp/kemari.xml" || return 0
    if out=$(xmllint --noout --relaxng "$rng" "$tmp/kemari.xml" 2>&1); then
        if [ "${3:-}" = bad-kemari ]; then
            fail "$2: its <kemari> passes kemari.rng but should not"
        else
            pass "$2: <kemari> passes kemari.rng"
        fi
    elif [ "${3:-}" = bad-kemari ]; then
        pass "$2: <kemari> fails kemari.rng, as it should"
    else
        fail "$2: kemari.rng: $out"
    fi
}

for f in "$top_srcdir"/libvirt-driver/examples/*.xml; do
    check_domain "$f" "examples/${f##*/}"
done

# ```xml blocks of the README, one file each
readme=$top_srcdir/libvirt-driver/README.md
awk -v dir="$tmp" '
    /^```xml$/ { n++; f = sprintf("%s/readme-%02d.xml", dir, n); on = 1; next }
    /^```$/ { on = 0; next }
    on { print > f }
' "$readme"
blocks=0
for f in "$tmp"/readme-*.xml; do
    [ -f "$f" ] || continue
    blocks=$((blocks + 1))
    name="README.md block ${f##*/readme-}"
    if grep -q '<domain' "$f"; then
        check_domain "$f" "$name"
    elif out=$(xmllint --noout --relaxng "$rng" "$f" 2>&1); then
        pass "$name: passes kemari.rng"
    else
        fail "$name: kemari.rng: $out"
    fi
done
[ "$blocks" -gt 0 ] || fail "README.md has no xml block"

for f in "$top_srcdir"/tests/unit/hook-domains/*.xml; do
    case ${f##*/} in
    bad-kemari-*) check_domain "$f" "hook-domains/${f##*/}" bad-kemari ;;
    *) check_domain "$f" "hook-domains/${f##*/}" ;;
    esac
done

printf '%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
