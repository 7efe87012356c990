#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite: installs what is missing, builds with warnings as
# errors, runs every test, runs the suite again under ASan+UBSan, then runs each
# libFuzzer target for LR_FUZZ_SECONDS (default 30) from its committed corpus.
#
# Environment: LR_JOBS (default: nproc), LR_FUZZ_SECONDS (0 skips fuzzing),
# LR_SKIP_SANITIZE=1 skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
jobs=${LR_JOBS:-$(nproc)}
fuzz_seconds=${LR_FUZZ_SECONDS:-30}

scripts/deps.sh test

step() { printf '\n=== %s\n' "$*"; }

step "build (warnings as errors)"
cmake -S "$src" -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLR_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

step "clang-format check"
if command -v clang-format >/dev/null; then
    git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror
else
    echo "clang-format not installed: skipped"
fi

# Each pass adds its ctest counts here; the last line sums them up.
passed=0
failed=0
run_ctest() {
    local dir=$1 log rc=0
    shift
    log=$(mktemp)
    (cd "$dir" && env "$@" ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log" || rc=$?
    local total fails
    total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    fails=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
    rm -f "$log"
    total=${total:-0}
    fails=${fails:-0}
    passed=$((passed + total - fails))
    failed=$((failed + fails))
    [ "$rc" -eq 0 ] && [ "$fails" -eq 0 ] && [ "$total" -gt 0 ]
}

step "test suite"
run_ctest build LR_PASS=plain

if [ "${LR_SKIP_SANITIZE:-0}" != 1 ]; then
    step "test suite under ASan+UBSan"
    cmake -S "$src" -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLR_WERROR=ON -DLR_SANITIZE=ON >/dev/null
    cmake --build build-asan -j "$jobs"
    run_ctest build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

if [ "$fuzz_seconds" -gt 0 ]; then
    step "fuzz targets, ${fuzz_seconds}s each"
    CC=clang cmake -S "$src" -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLR_FUZZ=ON \
        -DLR_TESTS=OFF -DLR_SANITIZE=ON >/dev/null
    cmake --build build-fuzz -j "$jobs"
    if tests/fuzz/run.sh build-fuzz "$fuzz_seconds"; then
        passed=$((passed + $(find build-fuzz/tests/fuzz -maxdepth 1 -name 'fuzz_*' -type f -perm -u+x | wc -l)))
    else
        failed=$((failed + 1))
        echo "tests: $passed passed, $failed failed"
        exit 1
    fi
fi
echo "tests: $passed passed, $failed failed"
