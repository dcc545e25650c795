#!/bin/sh
# build-guest.sh - build the Kemari test guest from Debian packages only.
#
# usage: tests/guest/build-guest.sh [--print-key]
#
# The guest is Debian's kernel (linux-image-*-amd64, unpacked, never
# installed), its virtio and e1000 modules, busybox-static and the
# project's own static workload program kseq (tests/workload), put
# together as an initramfs with tests/guest/init as /init.  The result,
# vmlinuz and initrd.gz, is cached in $KEMARI_CACHE/guest/KEY/ where KEY
# hashes the kernel and busybox package versions and every input file, so
# a second run returns at once.  The last line printed is the directory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${KEMARI_CACHE:-/var/cache/kemari}
# Drivers the guest loads; their dependencies are found with modinfo and
# loaded first (the order goes into /lib/modules/order).
# button and evdev: the ACPI power button (virsh shutdown, system_powerdown)
modules="virtio_pci virtio_net virtio_blk e1000 button evdev"
inputs="$here/init $here/build-guest.sh $top/tests/workload/kseq.c
    $top/tests/workload/kseq-proto.c $top/tests/workload/kseq-proto.h"

pkgver() {
    apt-cache show --no-all-versions "$1" 2>/dev/null |
        sed -n 's/^Version: //p' | head -n 1
}
# linux-image-amd64 is a meta package: resolve the versioned name.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' |
       head -n 1)
[ -n "$kpkg" ] || { echo "build-guest.sh: cannot resolve linux-image-amd64" \
                         "(apt-get update?)" >&2; exit 1; }
kver=$(pkgver "$kpkg")
bver=$(pkgver busybox-static)
[ -n "$kver" ] && [ -n "$bver" ] ||
    { echo "build-guest.sh: package versions unknown" >&2; exit 1; }

# shellcheck disable=SC2086  # the input list is split on purpose
key=$( { echo "$kpkg $kver busybox-static $bver $modules"
         cat $inputs; } | sha256sum | cut -c1-16)
[ "${1:-}" = --print-key ] && { echo "$key"; exit 0; }

out=$cache/guest/$key
if [ -f "$out/.complete" ]; then
    echo "test guest $key is cached"
    echo "$out"
    exit 0
fi
mkdir -p "$out"
exec 9> "$out/.lock"
flock 9
if [ -f "$out/.complete" ]; then
    echo "$out"
    exit 0
fi

debs=$cache/guest/debs
mkdir -p "$debs"
chown _apt "$debs" 2>/dev/null || true
for p in "$kpkg" busybox-static; do
    if ! ls "$debs/${p}_"*.deb >/dev/null 2>&1; then
        echo "downloading $p"
        (cd "$debs" && apt-get download -q "$p" >/dev/null 2>&1) ||
            { echo "build-guest.sh: apt-get download $p failed" >&2; exit 1; }
    fi
done

work=$out/work
rm -rf "$work"
mkdir -p "$work/kernel" "$work/bb" "$work/root/bin" "$work/root/lib/modules"
echo "unpacking $kpkg $kver"
dpkg-deb -x "$(ls "$debs/${kpkg}_"*.deb | head -n 1)" "$work/kernel"
dpkg-deb -x "$(ls "$debs/busybox-static_"*.deb | head -n 1)" "$work/bb"

root=$work/root
cp "$work/bb/bin/busybox" "$root/bin/busybox"
# add_module NAME: copy NAME.ko after its dependencies (depth first).
# dash and bash both have local, which the recursion needs.
# shellcheck disable=SC3043
add_module() {
    local _f _d
    grep -qx "$1" "$root/lib/modules/order" 2>/dev/null && return 0
    _f=$(find "$work/kernel/lib/modules" -name "$1.ko" | head -n 1)
    [ -n "$_f" ] || { echo "build-guest.sh: module $1 not in $kpkg" >&2
                      exit 1; }
    for _d in $(/sbin/modinfo -F depends "$_f" | tr ',' ' '); do
        add_module "$_d"
    done
    cp "$_f" "$root/lib/modules/$1.ko"
    echo "$1" >> "$root/lib/modules/order"
}
for m in $modules; do
    add_module "$m"
done
echo "compiling kseq (static)"
gcc -static -O2 -Wall -Wextra -D_GNU_SOURCE \
    -I"$top/tests/workload" -o "$root/bin/kseq" \
    "$top/tests/workload/kseq.c" "$top/tests/workload/kseq-proto.c"
strip "$root/bin/kseq"
install -m 0755 "$here/init" "$root/init"

(cd "$root" && find . | sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -9 > "$out/initrd.gz"
cp "$work/kernel/boot/vmlinuz-"* "$out/vmlinuz"
echo "$kpkg $kver busybox-static $bver" > "$out/VERSION"
rm -rf "$work"
touch "$out/.complete"
echo "built test guest $key ($kpkg $kver)"
echo "$out"
