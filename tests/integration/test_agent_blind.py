#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The relay is blind: while a marker string moves through two agents and the
relay, a packet capture of the relay's port on loopback never contains it,
while a capture of the local (client) side does (so the capture itself
works). Needs tcpdump and root (CAP_NET_RAW); skips with a message otherwise.
"""
import os
import shutil
import signal
import subprocess
import sys

import agentharness as ah
import lrharness as h

MARKER = b"LINKRELAY-BLINDNESS-MARKER-7f3a9c"


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def capture(port, path):
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-n", "-s", "0", "-w", path,
                          "tcp port %d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # tcpdump says "listening on lo" once the capture is live.
    line = p.stderr.readline()
    if b"listening" not in line:
        p.kill()
        p.wait()
        raise RuntimeError("tcpdump did not start: %r" % line)
    return p


def main():
    if shutil.which("tcpdump") is None or os.geteuid() != 0:
        print("SKIP: needs tcpdump (scripts/deps.sh) and root for packet capture")
        return 0
    c = h.Checks()
    rig = ah.Rig()
    caps = []
    try:
        r = rig.start_relay()
        lport, srv = rig.pair("echo")
        relay_pcap = os.path.join(rig.tmp, "relay.pcap")
        local_pcap = os.path.join(rig.tmp, "local.pcap")
        caps.append(capture(r.port, relay_pcap))
        caps.append(capture(lport, local_pcap))
        data = (MARKER + b" ") * 20000
        got, end = ah.roundtrip(lport, data)
        c.check("marker data echoed intact", got == data and end == "eof", len(got))
        # tcpdump writes each packet as it reads it (-U), but reads them when
        # it is scheduled: wait until both captures hold the transfer (the
        # positive controls below) instead of a fixed sleep, then stop them.
        h.wait_for(lambda: len(file_bytes(relay_pcap)) > len(data)
                   and MARKER in file_bytes(local_pcap), timeout=20, step=0.1)
        for p in caps:
            p.send_signal(signal.SIGINT)
            p.wait(10)
        caps = []
        with open(relay_pcap, "rb") as f:
            relay_bytes = f.read()
        with open(local_pcap, "rb") as f:
            local_bytes = f.read()
        c.check("relay capture saw the transfer", len(relay_bytes) > len(data),
                len(relay_bytes))
        c.check("local capture contains the marker (capture works)", MARKER in local_bytes)
        c.check("relay-port capture never contains the marker", MARKER not in relay_bytes)
        c.check("nor a piece of it", MARKER[:12] not in relay_bytes)
    finally:
        for p in caps:
            p.kill()
            p.wait()
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
