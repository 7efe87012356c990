#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One source per reference: every man page in man/ is generated from its
# Markdown in docs/ by scripts/gen-man.sh. This regenerates them into a
# temporary directory and fails when a committed page differs from what its
# source gives (someone edited one side only), naming the page and the fix.
# Does not skip: pandoc is in scripts/deps.sh test.
set -euo pipefail
src=${LR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v pandoc >/dev/null; then
    echo "FAIL pandoc is not installed (bash scripts/deps.sh test)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! bash "$src/scripts/gen-man.sh" "$tmp/man" 2>"$tmp/gen.err"; then
    echo "FAIL scripts/gen-man.sh failed:"
    sed 's/^/    /' "$tmp/gen.err"
    exit 1
fi
fail=0
n=0
for gen in "$tmp"/man/*; do
    page=$(basename "$gen")
    n=$((n + 1))
    md=$(sed -n 's|^\.\\" Generated from \(docs/[^ ]*\.md\) .*|\1|p' "$gen")
    if [ ! -f "$src/man/$page" ]; then
        echo "FAIL man/$page is missing: run scripts/gen-man.sh and commit it"
        fail=1
    elif ! diff -u "$src/man/$page" "$gen" >"$tmp/diff"; then
        echo "FAIL man/$page does not match its source $md:"
        head -n 40 "$tmp/diff" | sed 's/^/    /'
        echo "     fix: edit $md (not man/$page), run scripts/gen-man.sh, commit both"
        echo "     ($(pandoc --version | head -n 1); the committed pages come from Debian 12's)"
        fail=1
    else
        echo "ok   man/$page matches $md"
    fi
done
# A page in man/ that no source generates would be edited by hand again.
for page in "$src"/man/*.[58]; do
    if [ ! -f "$tmp/man/$(basename "$page")" ]; then
        echo "FAIL man/$(basename "$page") has no source in scripts/gen-man.sh"
        fail=1
    fi
done
[ "$n" -ge 5 ] || { echo "FAIL only $n pages generated"; fail=1; }
[ "$fail" = 0 ] && echo "all $n man pages match their Markdown sources"
exit "$fail"
