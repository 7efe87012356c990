#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every built fuzz target for N seconds, starting from a scratch copy of
# its committed seed corpus (the committed corpus is never modified). Runs
# LR_JOBS targets at once (default: the number of CPUs; each target is one
# process on one CPU), then prints each target's result in name order.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
secs=$2
jobs=${LR_JOBS:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# One target: its log in $work/NAME.log, its exit status in $work/NAME.rc.
run_one() {
    local bin=$1 name=$2 rc=0
    "$bin" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$work/$name-" \
        "$work/$name" >"$work/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$name.rc"
}

names=()
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    mkdir -p "$work/$name"
    [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/$name/"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    echo "fuzz $name: ${secs}s"
    run_one "$bin" "$name" &
    pids+=($!)
    names+=("$name")
done
wait || true

fail=0
for name in "${names[@]}"; do
    if [ "$(cat "$work/$name.rc" 2>/dev/null || echo 1)" != 0 ]; then
        echo "fuzz $name FAILED; last lines:"
        tail -n 40 "$work/$name.log"
        mkdir -p "$build/fuzz-artifacts" &&
            cp "$work/$name"-crash-* "$work/$name"-leak-* "$work/$name"-timeout-* \
                "$build/fuzz-artifacts/" 2>/dev/null || true
        fail=1
    else
        echo "fuzz $name: $(grep -E '^#[0-9]+.*DONE' "$work/$name.log" | tail -n 1 || true)"
    fi
done
exit $fail
