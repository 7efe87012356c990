#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a
# relay on 127.0.0.1 with its embedded SQLite registry in ./demo-state.
# Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

state=$PWD/demo-state
mkdir -p "$state"
port=${LR_DEMO_PORT:-7700}
echo "demo: relay state in $state, listening on 127.0.0.1:$port (Ctrl-C stops it)"
exec build/relay/linkrelay --listen "127.0.0.1:$port" --state-dir "$state"
