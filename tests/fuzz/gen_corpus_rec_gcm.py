#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_rec_gcm (tests/fuzz/corpus/rec_gcm/).
Deterministic; an argument names another directory to write to. Mode byte
odd: items (tag u8, len u16, record plaintext) that the harness seals with
AES-256-GCM itself (docs/protocol.md §7.2), so the fuzzer starts from streams
the record layer accepts; bits 2..4 set the rekey interval minus one, bit 1
opens in place. Mode byte even: raw frames from a hostile peer.
"""
import os
import struct
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "rec_gcm")
MESSAGE, REKEY, FINAL = 0, 2, 3


def item(tag, plain):
    return bytes([tag]) + struct.pack(">H", len(plain)) + plain


def data(offset, payload):
    return b"\x01" + struct.pack(">Q", offset) + payload


def ack(n):
    return b"\x02" + struct.pack(">Q", n)


def final(total):
    return b"\x03" + struct.pack(">Q", total)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else here
    os.makedirs(out, exist_ok=True)
    seeds = {
        # rekey interval 1 (every record REKEY, FINAL keeps FINAL)
        "sealed_stream": b"\x01" + item(REKEY, data(0, b"hello")) + item(REKEY, ack(0))
        + item(FINAL, final(5)),
        # interval 2, in place: MESSAGE, REKEY, then FINAL
        "sealed_inplace": b"\x07" + item(MESSAGE, data(0, bytes(100))) + item(REKEY, data(100, b"x"))
        + item(FINAL, final(101)),
        "sealed_reset": b"\x01" + item(FINAL, b"\x04\x01\x04oops"),
        "sealed_big": b"\x1d" + item(MESSAGE, data(0, bytes(16384))),
        "frames_garbage": b"\x00" + b"\x00\x20" + bytes(range(32)) + b"\x00\x11" + bytes(17),
        "frames_inplace": b"\x02" + b"\x00\x30" + bytes((i * 7) & 0xFF for i in range(48)),
    }
    for name, body in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
