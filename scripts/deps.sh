#!/bin/sh
# deps.sh - install what Kemari needs on a Debian 12 machine, and nothing twice.
#
# usage: scripts/deps.sh [GROUP...]     (default: all groups)
#
# Groups:
#   build     compiler, autotools, libraries the C code links against,
#             corosync (kemarid's membership; its tests start their own)
#   qemu      what building the patched QEMU needs, plus a deb-src entry
#   guest     what building and booting the test guest needs
#   cluster   corosync, pacemaker, libvirt (later issues' integration tests)
#
# Each group is a list of Debian packages.  Only the packages that are not
# yet installed are passed to apt-get, and `apt-get update` runs only when
# something is missing (or the deb-src entry was just added), so a second
# run costs one dpkg-query and returns.
set -eu

# The lists are read through eval below.
# shellcheck disable=SC2034
pkgs_build="autoconf automake libtool pkg-config make gcc libc6-dev
    libglib2.0-dev libjson-glib-dev libcmocka-dev libxml2-dev clang
    libclang-rt-14-dev shellcheck libcpg-dev libquorum-dev corosync
    libxml2-utils libvirt-clients libvirt-dev"
# shellcheck disable=SC2034
pkgs_qemu="dpkg-dev meson ninja-build python3 python3-venv libglib2.0-dev
    libpixman-1-dev libfdt-dev libslirp-dev zlib1g-dev flex bison ccache patch
    qemu-system-data seabios ipxe-qemu"
# shellcheck disable=SC2034
pkgs_guest="cpio gzip iproute2 kmod procps util-linux python3"
# shellcheck disable=SC2034
pkgs_cluster="pacemaker pacemaker-cli-utils pcs resource-agents jq
    libcorosync-common-dev libcfg-dev
    libvirt-daemon-system"

groups=${*:-build qemu guest}
want=""
for g in $groups; do
    eval "want=\"\$want \$pkgs_$g\"" 2>/dev/null ||
        { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
done

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: must run as root to install packages" >&2
    exit 1
fi

need_update=0
# Debian's QEMU source comes from a deb-src entry; a fresh machine has none.
srcfile=/etc/apt/sources.list.d/kemari-deb-src.sources
case " $groups " in *" qemu "*)
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
       ! grep -qs '^deb-src' /etc/apt/sources.list; then
        cat > "$srcfile" <<'SRC'
# Added by Kemari's scripts/deps.sh: the patched QEMU is built from
# Debian's own QEMU source package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        echo "deps.sh: added deb-src entry $srcfile"
        need_update=1
    fi
    ;;
esac

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ] && [ $need_update = 0 ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ] || [ $need_update = 1 ]; then
    apt-get update -q >/dev/null
fi
if [ -n "$missing" ]; then
    echo "deps.sh: installing:$missing"
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
