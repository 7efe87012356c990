#!/usr/bin/env bash
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

step "test suite"
(cd build && ctest --output-on-failure -j "$jobs")

if [ "${LR_SKIP_SANITIZE:-0}" != 1 ]; then
    step "test suite under ASan+UBSan"
    cmake -S "$src" -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLR_WERROR=ON -DLR_SANITIZE=ON >/dev/null
    cmake --build build-asan -j "$jobs"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j "$jobs")
fi

if [ "$fuzz_seconds" -gt 0 ]; then
    step "fuzz targets, ${fuzz_seconds}s each"
    CC=clang cmake -S "$src" -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLR_FUZZ=ON \
        -DLR_TESTS=OFF -DLR_SANITIZE=ON >/dev/null
    cmake --build build-fuzz -j "$jobs"
    tests/fuzz/run.sh build-fuzz "$fuzz_seconds"
fi
step "all tests passed"
