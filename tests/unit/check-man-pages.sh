#!/bin/sh
# check-man-pages.sh - the man pages format without a warning, with
# man(1) as users read them and with groff's strictest warnings.
# Skips (77) when man or groff is missing.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v groff >/dev/null 2>&1 || { echo "SKIP: no groff"; exit 77; }
command -v man >/dev/null 2>&1 || { echo "SKIP: no man"; exit 77; }
failed=0
for page in kemari.1 kemari.conf.5 kemarid.8; do
    f=$top_srcdir/doc/$page
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings -l -Tutf8 "$f" \
          2>&1 >/dev/null)
    if [ -n "$out" ]; then
        echo "FAIL: man --warnings $page:"; echo "$out"; failed=1
    fi
    out=$(groff -man -ww -z "$f" 2>&1)
    if [ -n "$out" ]; then
        echo "FAIL: groff -ww $page:"; echo "$out"; failed=1
    fi
    [ $failed -eq 0 ] && echo "ok: $page"
done
exit $failed
