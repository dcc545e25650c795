# lib.sh - shared by demo.sh, check.sh and .ci/run (sourced).
# phase NAME COMMAND...: runs COMMAND, records how long it took in
# $KEMARI_PHASES (a file), and fails like COMMAND does.

: "${KEMARI_PHASES:=$(mktemp /tmp/kemari-phases.XXXXXX)}"
export KEMARI_PHASES

phase() {
    _name=$1
    shift
    printf '==> %s\n' "$_name"
    _t0=$(date +%s.%N)
    _rc=0
    "$@" || _rc=$?
    _t1=$(date +%s.%N)
    awk -v n="$_name" -v a="$_t0" -v b="$_t1" -v rc="$_rc" 'BEGIN {
        printf "%-28s %8.1f s%s\n", n, b - a,
               rc == 0 ? "" : "  (failed: exit " rc ")" }' >> "$KEMARI_PHASES"
    return $_rc
}

print_phases() {
    echo "---- time per phase ----"
    cat "$KEMARI_PHASES"
    # the seconds are the field before the first lone "s" (a failed
    # phase has more fields after it)
    awk '{ for (i = 2; i <= NF; i++) if ($i == "s") { t += $(i - 1); break } }
        END { printf "%-28s %8.1f s\n", "total", t }' "$KEMARI_PHASES"
}

# The build directory inside the clone.
KEMARI_BUILD=${KEMARI_BUILD:-$(pwd)/build}

# configure_and_make: autogen/configure only when needed, then make.
configure_and_make() {
    if [ ! -x configure ] ||
       [ -n "$(find configure.ac Makefile.am -newer configure)" ]; then
        ./autogen.sh
    fi
    mkdir -p "$KEMARI_BUILD"
    if [ ! -f "$KEMARI_BUILD/Makefile" ]; then
        # KEMARI_CACHE in the environment moves the QEMU/guest cache.
        (cd "$KEMARI_BUILD" && ../configure --enable-werror \
            ${KEMARI_CACHE:+--with-kemari-cache="$KEMARI_CACHE"})
    fi
    make -C "$KEMARI_BUILD" -j"$(nproc)"
}
