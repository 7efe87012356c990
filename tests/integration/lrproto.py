# SPDX-License-Identifier: MIT
"""The agent side of docs/protocol.md §3–§6 in Python, on dissononce (an
independent Noise implementation), for tests that must send exactly the bytes
they choose: bit flips, truncations, wrong keys, replays. Not a test itself.
"""
import os
import socket
import struct
import time

from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.handshakepatterns.interactive.XK import XKHandshakePattern
from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.dh.x25519.private import PrivateKey
from dissononce.dh.x25519.public import PublicKey
from dissononce.hash.sha256 import SHA256Hash

import lrharness as h

MAGIC = b"LRLY"


def preamble(kind, key_id=0, version=1, reserved=0):
    return MAGIC + bytes([version, kind, key_id, reserved])


def frame(body):
    return struct.pack(">H", len(body)) + bytes(body)


def auth(side, link_id, flags=0, resume=b"", version=1, agent=b"pytest", verifier=b""):
    """AUTH (§4.1); verifier: the 32 bytes that follow with flags bit 3."""
    return (bytes([version, side]) + link_id + bytes([flags]) + bytes([len(resume)]) + resume +
            bytes([len(agent)]) + agent + verifier)


def keypair_from_priv(priv):
    return X25519DH().generate_keypair(PrivateKey(priv))


def connect(r, timeout=5.0):
    s = socket.create_connection((r.host, r.port), timeout=timeout)  # v4 or v6
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, timeout=5.0):
    """Everything the relay sends until it closes: (bytes, 'eof'|'reset'|'timeout')."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except socket.timeout:
        return data, "timeout"


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_frame(s, timeout=5.0):
    (n,) = struct.unpack(">H", recv_exact(s, 2, timeout))
    return recv_exact(s, n, timeout)


class Handshake:
    """One XK initiator; messages can be tampered with between the steps."""

    def __init__(self, relay_pub_raw, priv_raw, key_id=1, pre=None):
        self.pre = pre if pre is not None else preamble(1, key_id)
        self.hs = HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()),
                                 X25519DH())
        self.hs.initialize(XKHandshakePattern(), True, b"linkrelay/1 control" + self.pre,
                           s=keypair_from_priv(priv_raw), rs=PublicKey(relay_pub_raw))

    def msg1(self):
        buf = bytearray()
        self.hs.write_message(b"", buf)
        return bytes(buf)

    def read_msg2(self, m):
        self.hs.read_message(bytes(m), bytearray())

    def msg3(self, payload):
        buf = bytearray()
        self.cs = self.hs.write_message(payload, buf)
        return bytes(buf)


class Session:
    """An authenticated control session (the happy path)."""

    def __init__(self, r, link, side, priv=None, key_id=None, flags=0, relay_pub=None):
        self.s = connect(r)
        hk = Handshake(h.pub_raw(relay_pub or r.relay_pub), h.priv_raw(priv or link["ab"[side]]),
                       r.key_id if key_id is None else key_id)
        self.s.sendall(hk.pre + frame(hk.msg1()))
        hk.read_msg2(recv_frame(self.s))
        self.s.sendall(frame(hk.msg3(auth(side, bytes.fromhex(link["id"]), flags))))
        self.tx, self.rx = hk.cs[0], hk.cs[1]
        self.welcome = self.recv()

    def send(self, pt):
        self.s.sendall(frame(self.tx.encrypt_with_ad(b"", pt)))

    def recv(self, timeout=5.0):
        return bytes(self.rx.decrypt_with_ad(b"", recv_frame(self.s, timeout)))

    def expect(self, mtype, timeout=5.0):
        """Next message of type mtype (PINGs answered, others skipped)."""
        deadline = time.time() + timeout
        while True:
            m = self.recv(max(0.05, deadline - time.time()))
            if m[0] == 0x10:
                self.send(b"\x11" + m[1:])
                continue
            if m[0] == mtype:
                return m
            if time.time() > deadline:
                raise TimeoutError("no message 0x%02x" % mtype)

    def drain(self, timeout=5.0):
        """Every message up to the answer to a PING sent now (PEER_KEY and
        the like, which have no answer of their own): a list of bodies."""
        nonce = os.urandom(8)
        self.send(b"\x10" + nonce)
        got = []
        deadline = time.time() + timeout
        while True:
            m = self.recv(max(0.05, deadline - time.time()))
            if m == b"\x11" + nonce:
                return got
            if m[0] == 0x10:
                self.send(b"\x11" + m[1:])
                continue
            got.append(m)

    def open(self, req_id):
        self.send(b"\x20" + struct.pack(">I", req_id))

    def close(self):
        self.s.close()


def parse_stream(m):
    assert m[0] == 0x03 and len(m) == 1 + 4 + 8 + 1 + 4 + 32, m.hex()
    req, sid, role, exp = struct.unpack(">IQBI", m[1:18])
    return {"req": req, "stream_id": sid, "role": role, "expires_ms": exp, "ticket": m[18:50]}


def open_stream(sa, sb, req_id):
    """OPEN on sa; returns the STREAM of each side."""
    sa.open(req_id)
    return parse_stream(sa.expect(0x03)), parse_stream(sb.expect(0x03))


def leg(r, ticket, early=b""):
    s = connect(r)
    s.sendall(preamble(2) + ticket + early)
    return s


def parse_redirect(m):
    """REDIRECT (§5, design.md D34): (reason, [host:port, ...]); raises
    ValueError on anything §5 rejects."""
    if len(m) < 3 or m[0] != 0x07:
        raise ValueError("not a REDIRECT: %s" % m.hex())
    reason, n = m[1], m[2]
    if reason not in (1, 2) or not 1 <= n <= 16:
        raise ValueError("REDIRECT reason %d, %d addresses" % (reason, n))
    off, addrs = 3, []
    for _ in range(n):
        if off >= len(m) or m[off] == 0 or off + 1 + m[off] > len(m):
            raise ValueError("REDIRECT address truncated or empty")
        a = m[off + 1:off + 1 + m[off]]
        if b"\0" in a:
            raise ValueError("NUL in a REDIRECT address")
        addrs.append(a.decode())
        off += 1 + m[off]
    if off != len(m):
        raise ValueError("bytes after the last REDIRECT address")
    return reason, addrs
