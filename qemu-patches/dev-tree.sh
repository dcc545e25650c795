#!/bin/sh
# dev-tree.sh - make a git work tree of the Kemari QEMU for engine work.
#
# usage: qemu-patches/dev-tree.sh DIR       create DIR (must not exist)
#        qemu-patches/dev-tree.sh --export DIR
#
# DIR gets Debian's QEMU source at the BASE version, Debian's patches
# applied, committed as one "debian" commit tagged kemari-base, and then
# this directory's series applied on top with `git am`, one commit per
# patch.  Edit, commit, and `--export DIR` writes the commits after
# kemari-base back here as format-patch files and rewrites `series`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${KEMARI_CACHE:-/var/cache/kemari}
base=$(sed -n '1{s/[[:space:]]*$//;p;}' "$here/BASE")
upver=${base#*:}

series() {
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$here/series"
}

if [ "${1:-}" = --export ]; then
    dir=${2:?usage: $0 --export DIR}
    rm -f "$here"/[0-9][0-9][0-9][0-9]-*.patch
    git -C "$dir" format-patch -q --no-signature --zero-commit \
        -o "$here" kemari-base..HEAD
    {
        echo "# Kemari patch series for Debian qemu $base, in order."
        (cd "$here" && ls [0-9][0-9][0-9][0-9]-*.patch)
    } > "$here/series"
    echo "exported $(series | wc -l) patch(es) to $here"
    exit 0
fi

dir=${1:?usage: $0 DIR}
[ ! -e "$dir" ] || { echo "dev-tree.sh: $dir exists" >&2; exit 1; }
srcdir=$cache/qemu-src
mkdir -p "$srcdir"
# apt-get drops privileges to _apt for downloads when it can write here.
chown _apt "$srcdir" 2>/dev/null || true
[ -f "$srcdir/qemu_$upver.dsc" ] ||
    (cd "$srcdir" && apt-get source --download-only -q "qemu=$base" >/dev/null)
dpkg-source --no-check -q -x "$srcdir/qemu_$upver.dsc" "$dir" >/dev/null
cd "$dir"
git init -q
git config user.name "Kemari developers"
git config user.email kemari@localhost
git add -A -f .
git -c user.name=kemari -c user.email=kemari@localhost \
    commit -q -m "Debian qemu $base with Debian's patches"
git tag kemari-base
for p in $(series); do
    git -c user.name=kemari -c user.email=kemari@localhost am -q "$here/$p"
done
echo "$dir: kemari-base + $(series | wc -l) patch(es)"
