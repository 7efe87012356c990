#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages linkrelay needs that are not installed yet.
# Usage: scripts/deps.sh [build|test|bench|all]   (default: all; bench is not in all)
set -euo pipefail

# libmicrohttpd-dev: the HTTP server of the metrics listener (httpd/metrics.c,
# docs/design.md D22). libpq-dev: the registry on PostgreSQL (registry/db_pg.c,
# docs/design.md D33).
build_pkgs=(build-essential cmake pkg-config libuv1-dev libsodium-dev libssl-dev
            libsqlite3-dev libinih-dev libjansson-dev libsystemd-dev libmicrohttpd-dev sqlite3 python3
            libpq-dev)
# iperf3 .. openssh-client: tests/integration/test_real_programs.py (real
# programs through a link; it starts its own redis-server and sshd);
# apache2-utils: ApacheBench in tests/integration/test_agent_ab.py.
# pandoc: scripts/gen-man.sh and tests/integration/test_docs_generated.sh (the
# man pages are generated from docs/ and committed, so the build needs none);
# groff-base: groff, with which tests/integration/test_manpages.sh renders them.
# prometheus: promtool and the server that tests/integration/test_relay_metrics.py
# checks and scrapes /metrics with.
# chromium: headless, loads the relay's status page in
# tests/integration/test_status_page.py (DOM and a screenshot).
# systemd: systemd-analyze, with which tests/integration/test_unit_security.py
# scores the units' sandbox (offline: no running systemd needed).
# postgresql: initdb, pg_ctl and the server that tests/pgfix.sh starts for the
# registry's tests on PostgreSQL (its own cluster in a temporary directory).
test_pkgs=(postgresql check python3-dissononce clang libclang-rt-14-dev iproute2 procps tcpdump
           nftables conntrack iperf3 redis-server redis-tools curl openssh-server
           openssh-client apache2-utils pandoc groff-base systemd prometheus chromium)
# tests/bench/run.sh: the tools linkrelay is compared with, and the profilers.
bench_pkgs=(haproxy openssh-server openssh-client linux-perf valgrind procps)
# debhelper, mmdebstrap, lintian: scripts/package.sh builds the Debian packages
# (dpkg-dev comes with build-essential) and tests/integration/test_package.py
# installs them into a fresh bookworm root and checks them.
test_pkgs+=(debhelper mmdebstrap lintian)

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

# redis-server's package starts a system redis on port 6379 on install. The
# tests never use it (they start their own on a free port); do not leave a
# service running that nobody asked for. openssh-server's sshd is left alone:
# a machine that had none may want it, and the tests start their own.
# prometheus's package does the same with a server on port 9090; the metrics
# test starts its own on a free port.
# postgresql's package creates and starts a cluster "main" on port 5432 the
# same way; the tests start their own server (tests/pgfix.sh).
for p in "${missing[@]}"; do
    [ "$p" = redis-server ] || [ "$p" = prometheus ] || [ "$p" = postgresql ] || continue
    if [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now "$p" >/dev/null 2>&1 || true
    else
        $sudo service "$p" stop >/dev/null 2>&1 || true
        $sudo update-rc.d "$p" disable >/dev/null 2>&1 || true
    fi
done
