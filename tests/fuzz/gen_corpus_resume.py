#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_resume (tests/fuzz/corpus/resume/).
Deterministic; an argument names another directory to write to. The first byte selects what fuzz_resume.c decodes: sel % 3 ==
0 an e2e HELLO resume offer, 1 a resume HELLO of role (sel >> 2) & 1 for
epoch sel >> 3 under the harness's fixed resume key, 2 a record plaintext
(RESUME). The HELLO seeds carry a valid MAC (BLAKE2b-128 keyed with rk over
"linkrelay/1 resume hello" || role || epoch u32 || nonce, docs/protocol.md
§7.3), so the fuzzer starts from HELLOs the check accepts.
"""
import hashlib
import os
import struct
import sys

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "resume")
RK = bytes([7, 7, 7]) + bytes(29)  # fuzz_resume.c's rk


def sel_hello(role, epoch):
    """The selector byte for a HELLO of role and epoch (epoch < 32)."""
    for sel in range(256):
        if sel % 3 == 1 and (sel >> 2) & 1 == role and sel >> 3 == epoch:
            return sel
    raise ValueError((role, epoch))


def hello(role, epoch, nonce):
    body = struct.pack(">I", epoch) + nonce
    mac = hashlib.blake2b(b"linkrelay/1 resume hello" + bytes([role]) + body, key=RK,
                          digest_size=16).digest()
    return body + mac


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else here
    os.makedirs(out, exist_ok=True)
    nonce = bytes(range(32))
    seeds = {
        "offer-off": b"\x00\x01\x00\x00",
        # D37: an ext with the suites item (AES-256-GCM), and with an unknown item.
        "offer-aes": b"\x00\x01\x01\x07\x00\x04\x00\x00\x01\x01\x01",
        "offer-aes-noresume": b"\x00\x01\x00\x03\x01\x01\x01",
        "offer-ext-unknown": b"\x00\x01\x00\x07\x09\x02\xaa\xbb\x01\x01\x01",
        # D43: the stream_ack item, with and without the suites item
        "offer-stream-ack": b"\x00\x01\x01\x06\x00\x10\x00\x00\x02\x00",
        "offer-aes-stream-ack": b"\x00\x01\x01\x09\x00\x10\x00\x00\x01\x01\x01\x02\x00",
        # D46: the link_session item, with resumption and every other item,
        # and alone; one with a value (a crash of the harness before D46's
        # update, which knew no such offer bit)
        "offer-link-session": b"\x00\x01\x01\x0b\x00\x10\x00\x00\x01\x01\x01\x02\x00\x03\x00",
        "offer-link-session-noresume": b"\x00\x01\x00\x02\x03\x00",
        "offer-link-session-value": b"\x00\x01\x00\x03\x03\x01\x01",
        "offer-on": b"\x00\x01\x01\x00",
        # the ACK interval a resume buffer asks for (D32): 64 KiB, 1 MiB, and
        # out of bounds (taken as 64 KiB)
        "offer-on-ack-min": b"\x00\x01\x01\x04" + struct.pack(">I", 65536),
        "offer-on-ack-max": b"\x00\x01\x01\x04" + struct.pack(">I", 1 << 20),
        "offer-on-ack-over": b"\x00\x01\x01\x04" + struct.pack(">I", (1 << 20) + 1),
        "resume-record": b"\x02\x05" + struct.pack(">Q", 65536) + b"\x01",
        "hello-role0-epoch1": bytes([sel_hello(0, 1)]) + hello(0, 1, nonce),
        "hello-role1-epoch1": bytes([sel_hello(1, 1)]) + hello(1, 1, nonce),
        "hello-role1-epoch20": bytes([sel_hello(1, 20)]) + hello(1, 20, nonce[::-1]),
        # the other role's HELLO for the same epoch: refused
        "hello-role-swapped": bytes([sel_hello(1, 1)]) + hello(0, 1, nonce),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
