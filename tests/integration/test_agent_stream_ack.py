#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""STREAM_ACK with the real programs (docs/protocol.md §5, §7.3,
docs/design.md D43): a resumable stream's acknowledgments also go on the
control sessions, so a peer that does not read cannot hold up the other
direction.

The device application (behind agent b, with a 4 KiB receive buffer) never
reads. The host application first writes until agent a's replay buffer is
full (linkagent_resume_buffer_bytes = resume_buffer, 4 MiB): none of it is
acknowledged, because b cannot deliver it, so b has stopped reading its
leg, and everything a sends after that, in-band ACKs included, waits
behind that data. Only then does the device application write 32 MiB
(8 MiB under ASan) and shut its side down. Agent a delivers them to the
host application, which reads everything. With in-band ACKs only, b's
replay buffer fills with bytes a has delivered and b stops reading its
application after about resume_buffer: the transfer stalls for good (no
timer ends it: write_stall_timeout is 10 min here). With STREAM_ACK every
byte arrives, intact, followed by the device's end. Nothing was resumed,
a sent STREAM_ACKs that b took, the relay passed them on, and a's replay
buffer stayed at its bound throughout.
"""
import hashlib
import os
import socket
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import promharness as ph

KIB = 1024
MIB = 1024 * KIB
TOTAL = (8 if h.sanitized(ah.AGENT) else 32) * MIB
CAP = 4 * MIB  # linkagent's default resume_buffer


def metric(port, name, **labels):
    return ph.value(ph.scrape(port), name, **labels)


def metric_after(port, name, **labels):
    """As metric, from a scrape that sees everything done before the call."""
    return ph.value(ph.scrape_after(port), name, **labels)


def main():
    c = h.Checks()
    relay = h.Relay(limits={"write_stall_timeout": "10m"},
                    extra_relay={"metrics_listen": "127.0.0.1:0"})
    rig = ah.Rig(relay=relay)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accept
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(30)
    cli = dev = None
    stop = threading.Event()
    try:
        r = rig.start_relay()
        out = rig.link("lnk")
        lport = ah.free_port()
        b = rig.conf_agent("sa-b", out["tokens"]["b"],
                       "connect = 127.0.0.1:%d" % ls.getsockname()[1])
        a = rig.conf_agent("sa-a", out["tokens"]["a"], "listen = 127.0.0.1:%d" % lport)
        c.check("agents online", a.wait_log("online via relay") and b.wait_log("online via relay")
                and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=5))
        pa, pb = ah.metrics_port(a), ah.metrics_port(b)
        rport = ah.metrics_port(r)
        cli = socket.create_connection(("127.0.0.1", lport), timeout=60)
        dev, _ = ls.accept()

        # 1. The host writes until a holds resume_buffer unacknowledged.
        wrote = [0]

        def host_writer():
            cli.setblocking(False)
            chunk = os.urandom(64 * KIB)
            while not stop.is_set():
                try:
                    wrote[0] += cli.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                except OSError:
                    return
        tw = threading.Thread(target=host_writer, daemon=True)
        tw.start()
        full = h.wait_for(lambda: metric(pa, "linkagent_resume_buffer_bytes") == CAP, timeout=60,
                          step=0.05)
        c.check("a's replay buffer is full of what b cannot deliver", full,
                (metric(pa, "linkagent_resume_buffer_bytes"), wrote[0]))

        # 2. The device writes TOTAL and ends; the host reads all of it.
        data = os.urandom(TOTAL)
        got = bytearray()

        def host_reader():
            cli.settimeout(None)
            while True:
                try:
                    d = cli.recv(1 << 20)
                except BlockingIOError:
                    time.sleep(0.005)
                    continue
                except OSError:
                    return
                if not d:
                    got.extend(b"<EOF>")
                    return
                got.extend(d)
        tr = threading.Thread(target=host_reader, daemon=True)
        tr.start()
        t0 = time.time()
        dev.settimeout(None)
        td = threading.Thread(target=lambda: (dev.sendall(data), dev.shutdown(socket.SHUT_WR)),
                              daemon=True)
        td.start()
        done = h.wait_for(lambda: len(got) >= TOTAL + 5, timeout=180, step=0.05)
        secs = time.time() - t0
        c.check("every byte the device wrote reached the host, then its end", done,
                "%d of %d bytes" % (len(got), TOTAL))
        c.check("intact", hashlib.sha256(bytes(got[:TOTAL])).digest()
                == hashlib.sha256(data).digest() and bytes(got[TOTAL:]) == b"<EOF>")
        print("%d MiB device→host while the device read nothing: %.2f s" % (TOTAL // MIB, secs))
        c.check("a's replay buffer stayed at its bound",
                metric(pa, "linkagent_resume_buffer_bytes") <= CAP)
        sent = metric_after(pa, "linkagent_stream_acks_total", event="sent") or 0
        taken = metric_after(pb, "linkagent_stream_acks_total", event="taken") or 0
        passed = metric_after(rport, "linkrelay_stream_acks_passed_total") or 0
        print("STREAM_ACKs: a sent %d, relay passed %d, b took %d" % (sent, passed, taken))
        # b's replay buffer (CAP) let it send all but TOTAL - CAP bytes only
        # as STREAM_ACKs released them, each releasing at most CAP: at least
        # (TOTAL - CAP) / CAP of them (one a MiB delivered is the cadence, but
        # deliveries come in pieces, so a count near TOTAL / MiB is not a bound).
        need = (TOTAL - CAP) // CAP
        c.check("a sent STREAM_ACKs (at least %d), the relay passed them on, b took them" % need,
                sent >= need and passed >= sent and need <= taken <= passed,
                (sent, passed, taken))
        c.check("no STREAM_ACK refused", metric(pb, "linkagent_stream_acks_total",
                                                 event="refused") == 0)
        for port in (pa, pb):
            c.check("nothing resumed", metric(port, "linkagent_streams_resumed_total") == 0)
    finally:
        stop.set()
        if c.failed:
            rig.dump()
        for s in (cli, dev, ls):
            if s is not None:
                s.close()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
