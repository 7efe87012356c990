#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The record-suite offer in the end-to-end HELLO, with real linkrelay and
linkagent processes (docs/protocol.md §7.1, §7.2, D37).

Side a (the listen side: the stream's initiator, which writes KK message 1
right behind its ticket) dials the relay through a man in the middle: a TCP
proxy on loopback that forwards control sessions unchanged and, on a stream
leg, reads a's first handshake frame and either forwards it ("pass") or
strips AES-256-GCM from the offer in it ("strip"): the HELLO it carries is
known plaintext under a stream cipher ({1, 1, 15, ack_every u32, 1, 1, 1,
2, 0, 3, 0, 4, 0, 5, 0}: resumption is on by default, D32, and with it the
stream_ack item, D43; the link's first stream asks for a link session, D46;
the keep_leg item, D48; the share_leg item, D58), so the
proxy flips the field's length from 15 to 12 and cuts the 3-byte suites
item, which would leave a well-formed ChaCha-only HELLO if nothing
authenticated it. Each case is the first stream of its link (a KK: later
streams are keyed by the link session, protocol.md §7.4).

  1. both agents `--cipher aes-256-gcm`, pass: message 1 carries the
     18-byte HELLO (frame body 32 + 18 + 16), bytes echo back;
  2. the same, strip: b's handshake fails (its
     linkagent_link_e2e_handshake_failures_total goes to 1), a's application
     connection is reset and nothing is echoed: no fallback to ChaCha;
  3. a `--cipher chacha20-poly1305`, pass: message 1 carries the 15-byte
     HELLO (that of agents before D37, the stream_ack, link_session,
     keep_leg and share_leg items), bytes echo back;
  4. `--cipher` on the command line: printed by --check, a bad value exits 2.
"""
import socket
import sys
import threading

import agentharness as ah
import lrharness as h
import promharness as ph


def rst_close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class Mitm:
    """A proxy side a dials as its relay; `mode` says what happens to the
    first handshake frame of each stream leg; its body lengths are kept."""

    def __init__(self, upstream, mode):
        self.up = upstream
        self.mode = mode
        self.lens = []
        self.socks = []
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    @staticmethod
    def _recv_n(s, n):
        data = b""
        while len(data) < n:
            d = s.recv(n - len(data))
            if not d:
                raise EOFError
            data += d
        return data

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(d)
        except OSError:
            rst_close(dst)
            rst_close(src)

    def _conn(self, c):
        try:
            pre = self._recv_n(c, 8)
            u = socket.create_connection(self.up, timeout=10)
            u.settimeout(None)
            with self.lock:
                self.socks += [c, u]
            head = pre
            if pre[5] == 2:  # a stream leg: its ticket, then KK message 1
                head += self._recv_n(c, 32)
                hdr = self._recv_n(c, 2)
                n = hdr[0] << 8 | hdr[1]
                body = bytearray(self._recv_n(c, n))
                with self.lock:
                    self.lens.append(n)
                if self.mode == "strip" and n == 32 + 18 + 16:
                    body[32 + 2] ^= 15 ^ 12                # field length 15 -> 12
                    body = body[:32 + 7] + body[32 + 10:]  # the suites item cut
                head += bytes([len(body) >> 8, len(body) & 0xFF]) + bytes(body)
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
            u.sendall(head)
            self._pipe(c, u)
        except (OSError, EOFError):
            rst_close(c)

    def close(self):
        self.ls.close()
        with self.lock:
            for s in self.socks:
                rst_close(s)


def run_case(c, rig, name, mode, a_cipher, expect_ok):
    r = rig.relay
    px = Mitm((r.host, r.port), mode)
    try:
        out = rig.link(name)
        srv = rig.server("echo")
        lport = ah.free_port()
        m = ("--metrics-listen", "127.0.0.1:0")
        b = rig.agent(name + "-b", out["tokens"]["b"], "--connect", "127.0.0.1:%d" % srv.port,
                      "--cipher", "aes-256-gcm", *m)
        a = rig.agent(name + "-a", out["tokens"]["a"], "--relay", px.addr(), "--listen",
                      "127.0.0.1:%d" % lport, "--cipher", a_cipher, *m, relay=False)
        c.check(name + ": agents online", a.wait_log("online via relay")
                and b.wait_log("online via relay")
                and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=10))
        mb = ah.metrics_port(b)
        data = bytes(range(256)) * 400
        got, end = ah.roundtrip(lport, data, timeout=30)
        want_len = 32 + (18 if a_cipher == "aes-256-gcm" else 15) + 16
        c.check(name + ": message 1 carried a's HELLO (%d-byte frame body)" % want_len,
                px.lens[:1] == [want_len], px.lens)
        fails = ph.value(ph.scrape(mb), "linkagent_link_e2e_handshake_failures_total", link=name)
        if expect_ok:
            c.check(name + ": the bytes echo back", got == data and end == "eof",
                    (len(got), end))
            c.check(name + ": b counts no handshake failure", fails == 0, fails)
        else:
            c.check(name + ": a's connection is reset, nothing echoed",
                    got == b"" and end == "reset", (len(got), end))
            ok = h.wait_for(lambda: ph.value(ph.scrape(mb),
                                             "linkagent_link_e2e_handshake_failures_total",
                                             link=name) == 1, timeout=20)
            c.check(name + ": b's handshake failed (no fallback to ChaCha20-Poly1305)", ok)
    finally:
        px.close()


def check_cli(c, token):
    def run(*args):
        return ah.check_run(token, *args)
    r = run()
    c.check("--check: cipher = auto by default", r.returncode == 0
            and "cipher = auto\n" in r.stdout, r.stdout + r.stderr)
    r = run("--cipher", "chacha20-poly1305")
    c.check("--cipher sets it", r.returncode == 0
            and "cipher = chacha20-poly1305\n" in r.stdout, r.stdout + r.stderr)
    r = run("--cipher", "aes-128-gcm")
    c.check("a bad --cipher exits 2 with the values", r.returncode == 2
            and "not auto, chacha20-poly1305 or aes-256-gcm" in r.stderr, r.stderr)


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        rig.start_relay()
        run_case(c, rig, "cpass", "pass", "aes-256-gcm", True)
        run_case(c, rig, "cstrip", "strip", "aes-256-gcm", False)
        run_case(c, rig, "cold", "pass", "chacha20-poly1305", True)
        check_cli(c, rig.link("ccli")["tokens"]["a"])
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
