#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: installs what is missing, builds, and runs a
# whole link on this machine:
#   - linkrelay on 127.0.0.1:7700 with its embedded SQLite registry in
#     ./demo-state,
#   - a link "demo" made with linkctl (re-made on every run, so running the
#     demo twice works; the relay key in ./demo-state is kept),
#   - a small echo service on 127.0.0.1:7701 standing in for the device,
#   - linkagent side b beside the "device" (--connect 127.0.0.1:7701),
#   - linkagent side a beside the "host" (--listen 127.0.0.1:7702),
# then prints what to type to see bytes flow through the link. Ctrl-C stops
# everything it started (by PID).
#
# Environment: LR_DEMO_PORT (relay, 7700), LR_DEMO_ECHO_PORT (7701),
# LR_DEMO_LISTEN_PORT (7702), LR_DEMO_STATE (./demo-state),
# LR_DEMO_BUILD=DIR uses the programs already built in DIR (no package
# install, no build), LR_DEMO_CHECK=1 sends bytes through the link, checks
# they come back, stops everything and exits 0 or 1 (the test suite uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

relay_port=${LR_DEMO_PORT:-7700}
echo_port=${LR_DEMO_ECHO_PORT:-7701}
listen_port=${LR_DEMO_LISTEN_PORT:-7702}
state=${LR_DEMO_STATE:-$src/demo-state}
check=${LR_DEMO_CHECK:-0}

if [ -n "${LR_DEMO_BUILD:-}" ]; then
    build=$LR_DEMO_BUILD
else
    scripts/deps.sh build
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc)"
    build=$src/build
fi
relay_bin=$build/relay/linkrelay
ctl_bin=$build/linkctl/linkctl
agent_bin=$build/agent/linkagent
for b in "$relay_bin" "$ctl_bin" "$agent_bin"; do
    if [ ! -x "$b" ]; then
        echo "demo: $b is not built" >&2
        exit 1
    fi
done

mkdir -p "$state"
chmod 0700 "$state"
ctl() { "$ctl_bin" --state-dir "$state" "$@"; }

pids=()
cleanup() {
    trap - EXIT INT TERM
    if [ ${#pids[@]} -gt 0 ]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 50); do
            alive=0
            for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    rm -f "$state/token-a" "$state/token-b" "$state/ready"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

# The relay's config: the listen address is also what linkctl writes into the
# tokens, so the agents need no --relay.
cat >"$state/linkrelay.conf" <<EOF
[relay]
listen = 127.0.0.1:$relay_port
EOF

rm -f "$state/ready"
"$relay_bin" --state-dir "$state" --ready-file "$state/ready" >"$state/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$state/ready" ] && break
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "demo: linkrelay did not start (port $relay_port busy? another demo running?):" >&2
        cat "$state/relay.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -s "$state/ready" ] || { echo "demo: linkrelay not ready" >&2; exit 1; }

# One link, re-made on every run (tokens are printed only once).
ctl link rm demo >/dev/null 2>&1 || true
ctl --json link add demo >"$state/link.json"
(
    umask 077
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["tokens"]["a"]); open(sys.argv[3],"w").write(d["tokens"]["b"])' \
        "$state/link.json" "$state/token-a" "$state/token-b"
)
rm -f "$state/link.json"

# The "device": a small echo service.
python3 -c '
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                return
            self.request.sendall(d)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
' "$echo_port" >"$state/echo.log" 2>&1 &
pids+=($!)

"$agent_bin" --token-file "$state/token-b" --connect "127.0.0.1:$echo_port" \
    >"$state/agent-device.log" 2>&1 &
pids+=($!)
"$agent_bin" --token-file "$state/token-a" --listen "127.0.0.1:$listen_port" \
    >"$state/agent-host.log" 2>&1 &
pids+=($!)

# Wait until the echo service listens: the device agent connects to it for
# each stream, and python3 may take a while to start on a busy machine (a
# stream opened before it listens is reset).
listening=0
for _ in $(seq 100); do
    if python3 -c '
import socket, sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), timeout=1).close()' \
        "$echo_port" 2>/dev/null; then
        listening=1
        break
    fi
    sleep 0.1
done
if [ "$listening" != 1 ]; then
    echo "demo: the echo service does not listen; logs in $state" >&2
    exit 1
fi

# Wait until the relay sees both sides online.
online=0
for _ in $(seq 100); do
    if ctl --json link show demo 2>/dev/null | python3 -c '
import json, sys
live = json.load(sys.stdin).get("live") or {}
sys.exit(0 if (live.get("a") or {}).get("online") and (live.get("b") or {}).get("online") else 1)'; then
        online=1
        break
    fi
    sleep 0.1
done
if [ "$online" != 1 ]; then
    echo "demo: the agents did not come online; logs in $state" >&2
    tail -n 5 "$state"/agent-*.log "$state/relay.log" >&2
    exit 1
fi

send_py='import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=10); s.sendall(sys.argv[2].encode()); s.shutdown(1); d=b"".join(iter(lambda: s.recv(65536), b"")); print(d.decode(), end="")'

if [ "$check" = 1 ]; then
    msg="hello through the link $$ $RANDOM"
    got=$(python3 -c "$send_py" "$listen_port" "$msg") || got=""
    if [ "$got" = "$msg" ]; then
        echo "demo: OK: bytes went host -> relay -> device echo and back"
        exit 0
    fi
    echo "demo: FAILED: sent '$msg', got '$got'; logs in $state" >&2
    tail -n 5 "$state"/agent-*.log "$state/relay.log" >&2
    exit 1
fi

cat <<EOF

demo: a link is up.
  relay    linkrelay on 127.0.0.1:$relay_port, state in $state (PID ${pids[0]})
  device   echo service on 127.0.0.1:$echo_port, linkagent side b --connect (PID ${pids[2]})
  host     linkagent side a --listen 127.0.0.1:$listen_port (PID ${pids[3]})

Bytes sent to 127.0.0.1:$listen_port travel encrypted through the relay to the
echo service and back. In another terminal, type:

EOF
echo "  echo hello | python3 -c 'import socket,sys; s=socket.create_connection((\"127.0.0.1\",$listen_port)); s.sendall(sys.stdin.buffer.read()); s.shutdown(1); print(s.recv(65536).decode(), end=\"\")'"
if command -v nc >/dev/null 2>&1; then
    echo
    echo "or interactively (type lines, they come back; Ctrl-C ends):"
    echo
    echo "  nc 127.0.0.1 $listen_port"
fi
cat <<EOF

  $ctl_bin --state-dir $state link show demo     (the link as the relay sees it)
  $ctl_bin --state-dir $state status

Logs: $state/relay.log, $state/agent-device.log, $state/agent-host.log.
Ctrl-C stops everything.
EOF
wait "${pids[@]}"
