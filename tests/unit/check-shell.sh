#!/bin/sh
# check-shell.sh - every shell script of the tree passes the shellcheck
# linter at warning level (POSIX sh, sourced files followed).  Skips (77)
# when the linter is not installed.
srcdir=${top_srcdir:-.}
command -v shellcheck >/dev/null || { echo "no shellcheck: skipped"; exit 77; }
cd "$srcdir" || exit 1
files=$(find . -path ./build -prune -o -path ./_build -prune -o \
    -path './kemari-*' -prune -o \
    -type f -name '*.sh' -print | sort)
files="$files ./tests/guest/init ./.ci/run ./tests/tools/fence_kemari_test"
[ -d ocf-agents ] && files="$files $(find ocf-agents -type f ! -name '*.*')"
# shellcheck disable=SC2086  # a list of file names without spaces
if shellcheck -x -s sh -S warning $files; then
    echo "shellcheck: $(echo $files | wc -w) files clean"
else
    exit 1
fi
