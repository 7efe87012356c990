#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_e2e (tests/fuzz/corpus/e2e/). Deterministic.

Mode byte odd = operation program on a pair of sessions (bit 1: the initiator
offers AES-256-GCM, bit 2: the responder does; both: the stream uses it, D37;
bit 3: both offer resumption and STREAM_ACK, D43; bit 4: link sessions,
D46: the program runs on a stream keyed by a session an honest first
stream made):
each op is two bytes,
(op << 1 | side, arg), ops as in fuzz_e2e.c: 0 send, 1 wire part, 2 wire all,
3 deliver, 4 shutdown, 5 reset, 6 tamper, 7 drop, 8 eof, 9 rekey interval,
10 STREAM_ACK handed over, 11 STREAM_ACK forged.
Mode byte even = raw bytes for a session fed by a hostile relay (bit 1: both
sessions hold a link session of id 16 x 0x5a, so session-keyed frames reach
the lookup and the AEAD).
"""
import os

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "e2e")
os.makedirs(here, exist_ok=True)

A, B = 0, 1


def op(o, side, arg=0):
    return bytes([(o << 1) | side, arg & 0xFF])


HS = op(2, A) + op(2, B) + op(2, A)  # msg1, msg2 + header, header
seeds = {
    "handshake": HS,
    "roundtrip": HS + op(0, A, 200) + op(2, A) + op(3, B) + op(0, B, 50) + op(2, B) + op(3, A),
    "half_close": HS + op(0, A, 10) + op(4, A) + op(2, A) + op(3, B) + op(0, B, 9) + op(4, B)
    + op(2, B) + op(3, A),
    "reset": HS + op(0, A, 30) + op(5, A, 0) + op(2, A) + op(3, B),
    "reset_early": op(5, B, 1) + HS + op(3, A),
    "tamper": HS + op(0, A, 100) + op(6, A, 3) + op(2, A) + op(3, B),
    "drop": HS + op(0, A, 100) + op(7, A) + op(2, A) + op(3, B),
    "truncate": HS + op(0, A, 255) + op(1, A, 40) + op(8, A) + op(3, B),
    "rekey": op(9, A, 0) + op(9, B, 0) + HS + op(0, A, 255) + op(2, A) + op(3, B) + op(0, A, 255)
    + op(2, A) + op(3, B) + op(4, A) + op(2, A) + op(3, B),
    "backpressure": HS + (op(0, A, 255) + op(2, A)) * 6 + op(3, B) + op(2, A) + op(3, B),
}
for name, body in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(b"\x01" + body)
# The same programs on AES-256-GCM (both offer), and with one side offering.
for name in ("roundtrip", "half_close", "tamper", "drop", "rekey", "backpressure"):
    with open(os.path.join(here, "aes_" + name), "wb") as f:
        f.write(b"\x07" + seeds[name])
# Resumable with STREAM_ACK (D43): a bulk round trip whose ACKs are handed
# over out of band, and forged ones in between.
sa = HS + (op(0, A, 255) + op(2, A) + op(3, B) + op(10, B) + op(11, B, 7)) * 4 + op(2, B) \
    + op(3, A) + op(11, A, 0)
with open(os.path.join(here, "stream_ack"), "wb") as f:
    f.write(b"\x09" + sa)
with open(os.path.join(here, "aes_stream_ack"), "wb") as f:
    f.write(b"\x0f" + sa)
for mode, name in ((0x03, "aes_a_only"), (0x05, "aes_b_only")):
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes([mode]) + seeds["roundtrip"])
# Raw mode: a well-framed but unauthenticated handshake message, garbage, a
# zero-length frame, an oversized length.
raw = {
    "raw_hs": b"\x00" + b"\x00\x33" + bytes(range(0x33)),
    "raw_zero": b"\x00" + b"\x00\x00",
    "raw_big": b"\x00" + b"\xff\xff" + b"x" * 10,
    "raw_garbage": b"\x00" + bytes((i * 37) & 0xFF for i in range(300)),
}
# Session-keyed frames (D46): the known id and garbage; an unknown id; a
# length over the bound; the answer frame for the keyed initiator.
ls_id = b"\x5a" * 16
raw_ls = {
    "ls_raw_known": b"\x02" + bytes([0x80, 16 + 16 + 16 + 9]) + ls_id + bytes(range(16 + 16 + 9)),
    "ls_raw_unknown": b"\x02" + bytes([0x80, 48]) + b"\x11" * 48,
    "ls_raw_big": b"\x02" + b"\x81\x01" + ls_id * 17,
    "ls_raw_answer": b"\x02" + bytes([0x80, 16 + 16 + 9]) + bytes(range(41)),
    "ls_raw_short": b"\x02" + bytes([0x80, 20]) + ls_id + b"\x00" * 4,
}
raw.update(raw_ls)
for name, body in raw.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(body)
# Link sessions (D46): the programs on a session-keyed stream.
for name in ("handshake", "roundtrip", "half_close", "tamper", "drop", "truncate", "reset_early"):
    with open(os.path.join(here, "ls_" + name), "wb") as f:
        f.write(b"\x11" + seeds[name])
for mode, name in ((0x17, "ls_aes_roundtrip"), (0x13, "ls_aes_a_only")):
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes([mode]) + seeds["roundtrip"])
with open(os.path.join(here, "ls_stream_ack"), "wb") as f:
    f.write(b"\x19" + sa)
