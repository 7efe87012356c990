#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Man pages: each renders with groff -man -ww without a warning, and every
# option a program's --help lists is documented in its man page (so the pages
# follow the programs).
set -euo pipefail
src=${LR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${LR_BUILD_DIR:-$src/build}
if ! command -v groff >/dev/null; then
    echo "SKIP: groff not installed"
    exit 77
fi
fail=0
for page in "$src"/man/*.[58]; do
    warn=$(groff -man -Tutf8 -ww "$page" 2>&1 >/dev/null || echo "groff failed")
    if [ -n "$warn" ]; then
        echo "FAIL $(basename "$page"): $warn"
        fail=1
    else
        echo "ok   $(basename "$page") renders without warnings"
    fi
done
for prog in relay/linkrelay linkctl/linkctl agent/linkagent; do
    name=$(basename "$prog")
    page="$src/man/$name.8"
    if [ ! -x "$build/$prog" ]; then
        echo "FAIL $name is not built"
        fail=1
        continue
    fi
    text=$(groff -man -Tutf8 "$page" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g')
    opts=$("$build/$prog" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
    for o in $opts; do
        if ! grep -qF -- "$o" <<<"$text"; then
            echo "FAIL $name: $o (in --help) is not in man/$name.8"
            fail=1
        fi
    done
    echo "ok   $name: $(echo "$opts" | wc -w) options of --help checked against man/$name.8"
done
for conf in linkrelay linkagent; do
    # Every key the config reference documents appears in the man page.
    keys=$(grep -oE '^\| `[a-z_]+`' "$src/docs/$conf.conf.md" | tr -d '|` ' | sort -u)
    text=$(groff -man -Tutf8 "$src/man/$conf.conf.5" 2>/dev/null | sed 's/.\x08//g')
    for k in $keys; do
        if ! grep -qw -- "$k" <<<"$text"; then
            echo "FAIL $conf.conf.5 lacks key $k (docs/$conf.conf.md)"
            fail=1
        fi
    done
    echo "ok   $conf.conf.5: $(echo "$keys" | wc -w) keys of docs/$conf.conf.md present"
done
[ "$fail" = 0 ] && echo "all checks passed"
exit "$fail"
