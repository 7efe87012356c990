#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo (scripts/demo.sh) against the programs of this build:
#  1. LR_DEMO_CHECK=1: relay, link, echo service, both agents; bytes go through
#     the link and come back; the script stops everything it started;
#  2. the same again on the same state directory (a second run works);
#  3. the interactive mode: once it prints that the link is up, bytes flow,
#     and SIGINT (Ctrl-C) stops it and every process it started.
# After each run nothing listens on the demo's ports any more.
set -euo pipefail
src=${LR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${LR_BUILD_DIR:-$src/build}
for b in relay/linkrelay linkctl/linkctl agent/linkagent; do
    if [ ! -x "$build/$b" ]; then
        echo "FAIL: $build/$b is not built"
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/lrdemo.XXXXXX)
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

read -r p1 p2 p3 < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
export LR_DEMO_BUILD=$build LR_DEMO_STATE=$tmp/state LR_DEMO_PORT=$p1 LR_DEMO_ECHO_PORT=$p2 \
    LR_DEMO_LISTEN_PORT=$p3

fail=0
check() { # name, condition-exit-status
    if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
ports_free() {
    ! ss -Hltn | awk '{print $4}' | grep -Eq ":($p1|$p2|$p3)\$"
}

for run in 1 2; do
    rc=0
    out=$(LR_DEMO_CHECK=1 timeout 60 bash "$src/scripts/demo.sh" 2>&1) || rc=$?
    echo "$out" | tail -n 3
    check "run $run: bytes flow through the demo link (exit $rc)" "$rc"
    rc=0; ports_free || rc=1
    check "run $run: everything stopped (no demo port listening)" "$rc"
    rc=0; [ ! -e "$tmp/state/token-a" ] && [ ! -e "$tmp/state/token-b" ] || rc=1
    check "run $run: token files (secrets) removed" "$rc"
done

# Interactive mode, stopped with SIGINT as Ctrl-C would. A background job of
# a script starts with SIGINT ignored (and bash cannot trap a signal ignored
# at entry), so start the demo through python with SIGINT back to default,
# in its own process group (as a terminal's foreground job would be).
LR_DEMO_CHECK=0 /usr/bin/python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("bash", ["bash", sys.argv[1]])' "$src/scripts/demo.sh" >"$tmp/out" 2>&1 &
demo_pid=$!
rc=1
for _ in $(seq 200); do
    grep -q "a link is up" "$tmp/out" && { rc=0; break; }
    kill -0 "$demo_pid" 2>/dev/null || break
    sleep 0.1
done
check "interactive: the demo says the link is up" "$rc"
cmd=$(grep -m1 '^  echo hello |' "$tmp/out" || true)
rc=0; [ -n "$cmd" ] && [[ "$cmd" == *"$p3"* ]] || rc=1
check "interactive: it prints the command to type" "$rc"
got=$(timeout 10 bash -c "$cmd" 2>&1 || true)
rc=0; [ "$got" = hello ] || rc=1
check "interactive: the printed command shows the bytes coming back (got '$got')" "$rc"
# Ctrl-C reaches the whole foreground process group.
kill -INT -- "-$demo_pid"
rc=1
for _ in $(seq 100); do
    kill -0 "$demo_pid" 2>/dev/null || { rc=0; break; }
    sleep 0.1
done
check "interactive: Ctrl-C stops the demo" "$rc"
if [ "$rc" = 0 ]; then
    wait "$demo_pid" 2>/dev/null || true
    demo_pid=""
fi
rc=1
for _ in $(seq 50); do ports_free && { rc=0; break; }; sleep 0.1; done
check "interactive: Ctrl-C stopped every process it started" "$rc"
[ "$fail" = 0 ] && echo "all checks passed"
exit "$fail"
