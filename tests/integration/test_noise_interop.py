#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Interop: common/noise (via tests/tools/noise_peer) against dissononce, an
independent Python implementation of Noise, for XK and KK in both roles, with
transport messages after the handshake (empty and 65519-byte payloads
included). Mirrors the payload formulas of noise_peer.c.

Fails (does not skip) when dissononce is missing: CI installs python3-dissononce.
"""
import os
import struct
import subprocess
import sys
import threading

try:
    from dissononce.processing.impl.handshakestate import HandshakeState
    from dissononce.processing.impl.symmetricstate import SymmetricState
    from dissononce.processing.impl.cipherstate import CipherState
    from dissononce.processing.handshakepatterns.interactive.XK import XKHandshakePattern
    from dissononce.processing.handshakepatterns.interactive.KK import KKHandshakePattern
    from dissononce.cipher.chachapoly import ChaChaPolyCipher
    from dissononce.dh.x25519.x25519 import X25519DH
    from dissononce.dh.x25519.private import PrivateKey
    from dissononce.dh.x25519.public import PublicKey
    from dissononce.hash.sha256 import SHA256Hash
except ImportError as exc:
    print("FAIL: python3-dissononce is not importable (%s); install it "
          "(apt-get install python3-dissononce) and run with /usr/bin/python3" % exc)
    sys.exit(1)

MAX_PAYLOAD = 65535 - 16
SIZES = [0, 1, MAX_PAYLOAD, 0, 17, MAX_PAYLOAD, 4096, 5]
TIMEOUT_S = 60


def hs_payload(k):
    return bytes((k * 31 + i) & 0xFF for i in range(k * 5 + 3))


def pattern(j, size):
    return bytes((j * 131 + i * 7) & 0xFF for i in range(size))


class Peer:
    """The C peer as a child process; always killed and reaped in close()."""

    def __init__(self, args):
        exe = os.path.join(os.environ["LR_BUILD_DIR"], "tests", "noise_peer")
        if not os.access(exe, os.X_OK):
            raise AssertionError("noise_peer not built at %s" % exe)
        self.proc = subprocess.Popen([exe] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # A hung peer would block a read forever; the watchdog kills it.
        self.timer = threading.Timer(TIMEOUT_S, self.proc.kill)
        self.timer.start()
        self.result = None

    def send(self, data):
        self.proc.stdin.write(struct.pack(">H", len(data)) + bytes(data))
        self.proc.stdin.flush()

    def recv(self):
        hdr = self.proc.stdout.read(2)
        if len(hdr) != 2:
            raise AssertionError("peer closed early")
        (n,) = struct.unpack(">H", hdr)
        data = self.proc.stdout.read(n)
        if len(data) != n:
            raise AssertionError("peer closed mid-message")
        return data

    def close(self):
        """Waits for the child (killing it if needed); returns (status, stderr)."""
        if self.result is not None:
            return self.result
        self.timer.cancel()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        self.result = (self.proc.returncode, err)
        return self.result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def keypair():
    return X25519DH().generate_keypair(PrivateKey(os.urandom(32)))


def new_hs():
    return HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()),
                          X25519DH())


def run(pattern_name, c_initiator, wrong_key=False):
    py_initiator = not c_initiator
    init_kp, resp_kp = keypair(), keypair()
    if pattern_name == "XK":
        prologue = b"linkrelay/1 control" + os.urandom(8)
        hp = XKHandshakePattern()
        nmsgs = 3
    else:
        prologue = b"linkrelay/1 e2e" + os.urandom(24)
        hp = KKHandshakePattern()
        nmsgs = 2
    my_kp, c_kp = (init_kp, resp_kp) if py_initiator else (resp_kp, init_kp)

    # What each side knows of the other before the handshake.
    py_rs = None
    c_rs = "-"
    if pattern_name == "KK" or py_initiator:
        pinned = c_kp.public.data
        if wrong_key:
            pinned = keypair().public.data
        py_rs = PublicKey(pinned)
    if pattern_name == "KK" or c_initiator:
        c_rs = my_kp.public.data.hex()

    hs = new_hs()
    hs.initialize(hp, py_initiator, prologue, s=my_kp, rs=py_rs)
    peer = Peer([pattern_name, "initiator" if c_initiator else "responder",
                 prologue.hex(), c_kp.private.data.hex(), c_rs])
    ok = False
    try:
        cs = None
        for k in range(nmsgs):
            py_turn = (k % 2 == 0) == py_initiator
            if py_turn:
                buf = bytearray()
                cs = hs.write_message(hs_payload(k), buf)
                peer.send(buf)
                if wrong_key:
                    break
            else:
                out = bytearray()
                cs = hs.read_message(peer.recv(), out)
                assert bytes(out) == hs_payload(k), "handshake payload %d differs" % k
        if wrong_key:
            code, err = peer.close()
            assert code != 0, "C responder accepted a handshake for a wrong static key"
            assert "authentication failed" in err, err
            print("ok %s C responder rejects wrong pinned key: %s" % (pattern_name, err.strip()))
            ok = True
            return
        assert cs is not None, "handshake did not complete"
        my_hash = hs.symmetricstate.get_handshake_hash()
        tx, rx = (cs[0], cs[1]) if py_initiator else (cs[1], cs[0])
        for j, size in enumerate(SIZES):
            if (j % 2 == 0) == py_initiator:
                peer.send(tx.encrypt_with_ad(b"", pattern(j, size)))
            else:
                got = rx.decrypt_with_ad(b"", peer.recv())
                assert bytes(got) == pattern(j, size), "transport %d differs" % j
        report = bytes(rx.decrypt_with_ad(b"", peer.recv()))
        assert report[:32] == bytes(my_hash), "handshake hashes differ"
        assert report[32:] == my_kp.public.data, "C peer saw another remote static"
        code, err = peer.close()
        assert code == 0, "noise_peer exited %d: %s" % (code, err)
        print("ok %s C %s <-> dissononce %s, hash %s" % (
            pattern_name, "initiator" if c_initiator else "responder",
            "responder" if c_initiator else "initiator", report[:8].hex()))
        ok = True
    finally:
        if not ok:
            peer.kill()
            code, err = peer.close()
            sys.stderr.write("noise_peer exit %s, stderr: %s\n" % (code, err))


def main():
    failures = 0
    cases = [(p, c) for p in ("XK", "KK") for c in (True, False)]
    for p, c in cases:
        try:
            run(p, c)
        except Exception as exc:  # report every case, then fail
            failures += 1
            print("FAIL %s C %s: %r" % (p, "initiator" if c else "responder", exc))
    for p in ("XK", "KK"):
        try:
            run(p, c_initiator=False, wrong_key=True)
        except Exception as exc:
            failures += 1
            print("FAIL %s wrong key: %r" % (p, exc))
    print("%d interop cases, %d failed" % (len(cases) + 2, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
