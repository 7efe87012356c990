#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every built fuzz target for N seconds, starting from a scratch copy of
# its committed seed corpus (the committed corpus is never modified).
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    mkdir -p "$work/$name"
    [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/$name/"
    echo "fuzz $name: ${secs}s"
    if ! "$bin" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$work/" \
        "$work/$name" >"$work/$name.log" 2>&1; then
        echo "fuzz $name FAILED; last lines:"
        tail -n 40 "$work/$name.log"
        mkdir -p "$build/fuzz-artifacts" && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
            "$build/fuzz-artifacts/" 2>/dev/null || true
        fail=1
    else
        grep -E '^#[0-9]+.*DONE' "$work/$name.log" | tail -n 1 || true
    fi
done
exit $fail
