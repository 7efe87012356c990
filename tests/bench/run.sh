#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the linkrelay benchmarks (docs/performance.md): installs what is
# missing (scripts/deps.sh bench), builds with -DLR_BENCH=ON into build-bench/
# (or $LR_BUILD_DIR), then runs tests/bench/run.py, which prints the report.
# Arguments go to run.py (--quick for a short run, --out FILE, --json FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh bench
build="${LR_BUILD_DIR:-build-bench}"
cmake -S . -B "$build" -DLR_BENCH=ON -DLR_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
exec /usr/bin/python3 tests/bench/run.py --build "$build" "$@"
