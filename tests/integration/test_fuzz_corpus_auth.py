#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The seed corpus of tests/fuzz/fuzz_auth.c is what this script generates:
valid AUTH payloads (both sides, flags, resume ticket, agent versions at the
length boundaries) and a few near misses. Regenerate with
`test_fuzz_corpus_auth.py --write` after changing the AUTH format.
"""
import os
import sys
import tempfile

SRC = os.environ.get("LR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus", "auth")


def auth(side=0, flags=0, resume=b"", agent=b"linkagent 0.1.0", version=1, verifier=b""):
    link = bytes(range(16))
    return (bytes([version, side]) + link + bytes([flags, len(resume)]) + resume +
            bytes([len(agent)]) + agent + verifier)


def seeds():
    return {
        "side_a": auth(0),
        "side_b": auth(1),
        "empty_version": auth(0, agent=b""),
        "version_32": auth(1, agent=b"v" * 32),
        "version_33": auth(1, agent=b"v" * 33),
        "resume_32": auth(0, flags=1, resume=bytes(32)),
        "resume_31": auth(0, resume=bytes(31)),
        "flag_bit1": auth(0, flags=2),
        "enroll": auth(1, flags=0x0e, verifier=bytes(range(0x40, 0x60))),
        "enroll_short": auth(0, flags=0x08, verifier=bytes(31)),
        "bad_version": auth(0, version=2),
        "trailing": auth(0) + b"\x00",
        "truncated": auth(0)[:-1],
    }


def write(d):
    os.makedirs(d, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    if "--write" in sys.argv:
        write(CORPUS)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp)
        want = sorted(os.listdir(tmp))
        have = sorted(os.listdir(CORPUS)) if os.path.isdir(CORPUS) else []
        if want != have:
            print("FAIL: corpus files differ: %s vs %s" % (want, have))
            return 1
        for name in want:
            with open(os.path.join(tmp, name), "rb") as a, open(os.path.join(CORPUS, name),
                                                                 "rb") as b:
                if a.read() != b.read():
                    print("FAIL: %s differs; regenerate with --write" % name)
                    return 1
    print("corpus up to date (%d seeds)" % len(want))
    return 0


if __name__ == "__main__":
    sys.exit(main())
