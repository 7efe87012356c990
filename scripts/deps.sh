#!/usr/bin/env bash
# Installs the Debian 12 packages linkrelay needs that are not installed yet.
# Usage: scripts/deps.sh [build|test|bench|all]   (default: all; bench is not in all)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libuv1-dev libsodium-dev libsqlite3-dev
            libinih-dev sqlite3 python3)
test_pkgs=(check python3-dissononce clang libclang-rt-14-dev iproute2 procps tcpdump
           nftables conntrack)
# tests/bench/run.sh: the tools linkrelay is compared with, and the profilers.
bench_pkgs=(haproxy openssh-server openssh-client linux-perf valgrind procps)

case "${1:-all}" in
build) want=("${build_pkgs[@]}") ;;
test | all) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
