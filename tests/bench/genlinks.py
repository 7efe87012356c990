# SPDX-License-Identifier: MIT
"""Fills a registry with many links fast (docs/design.md D42, issue 15 "Scale"):
one transaction of inserts on SQLite, one COPY on PostgreSQL, never a linkctl
call per link.

Usage: /usr/bin/python3 tests/bench/genlinks.py --linkctl BIN --state DIR
           [--database URL] --n N [--real K] [--keys FILE]

The registry is made first by linkctl (a link added and removed, so the
schema is the build's), then N links named gNNNNNNN with random ids and keys are added. The
first K of them (default 0) get the public keys of two key pairs made by
`linkagent keygen` (side a and side b of every such link share them), and
FILE gets one line "HEX lrkey_a lrkey_b" per such link: lr_bench sessions
reads it, and lr_testpeer can use them. Prints "links=N seconds=S".
Also importable: fill(...) does the same for the tests.
"""
import argparse
import base64
import os
import sqlite3
import subprocess
import sys
import time

CHUNK = 50000


def pub_raw(text):
    """The 32 key bytes of an lrpub1... text (its checksum is not checked)."""
    body = text[len("lrpub1"):].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))[:32]


def keypair(agent_bin):
    out = subprocess.run([agent_bin, "keygen"], capture_output=True, text=True,
                         check=True).stdout
    d = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("private", "public"):
            d[parts[0]] = parts[1]
    return d["private"], d["public"]


def rows(n, real, pubs, now_ms):
    """(id, name, a_key, b_key) for every link, in id order; the real ones
    (the first real of the random ids drawn) use pubs."""
    ids = [os.urandom(16) for _ in range(n)]
    first = set(ids[:real])
    ids.sort()
    for i, lid in enumerate(ids):
        a, b = pubs if lid in first else (os.urandom(32), os.urandom(32))
        yield lid, "g%08d" % i, a, b


def fill_sqlite(path, it, now_ms):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 10000")
    # One transaction; the rows in id order (the table's key), so the b-tree
    # is appended to, not split page by page.
    db.execute("PRAGMA cache_size = -262144")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN IMMEDIATE")
    batch = []
    for lid, name, a, b in it:
        batch.append((lid, name, now_ms, now_ms, a, b))
        if len(batch) == CHUNK:
            db.executemany("INSERT INTO links (id, name, enabled, created_ms, updated_ms, a_key, "
                           "b_key) VALUES (?, ?, 1, ?, ?, ?, ?)", batch)
            batch = []
    if batch:
        db.executemany("INSERT INTO links (id, name, enabled, created_ms, updated_ms, a_key, "
                       "b_key) VALUES (?, ?, 1, ?, ?, ?, ?)", batch)
    db.execute("COMMIT")
    db.close()


def fill_pg(url, it, now_ms):
    """One COPY through psql (bytea in hex)."""
    p = subprocess.Popen(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                          "COPY links (id, name, enabled, created_ms, updated_ms, a_key, b_key) "
                          "FROM STDIN"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    buf = []
    for lid, name, a, b in it:
        buf.append("\\\\x%s\t%s\t1\t%d\t%d\t\\\\x%s\t\\\\x%s\n" % (lid.hex(), name, now_ms, now_ms,
                                                               a.hex(), b.hex()))
        if len(buf) == CHUNK:
            p.stdin.write("".join(buf).encode())
            buf = []
    p.stdin.write("".join(buf).encode())
    p.stdin.close()
    if p.wait() != 0:
        raise RuntimeError("psql COPY failed")
    # PostgreSQL plans by its statistics; right after a bulk load, before
    # autovacuum analyzes the table, it may read the whole table where an
    # index serves (D42). What autovacuum would do, at once:
    subprocess.run(["psql", "-q", url, "-c", "ANALYZE links"], check=True,
                   stdout=subprocess.DEVNULL)


def fill(linkctl, state, n, real=0, keys=None, database=None, agent=None):
    """Makes the registry of state (or database) and adds n links; returns
    (seconds, [(hex id, private a, private b)] of the first real ones)."""
    env = dict(os.environ)
    args = [linkctl, "--state-dir", state]
    if database:
        args += ["--database", database]
    # A link added and removed: the registry exists, migrated by this build.
    subprocess.run(args + ["--relay-addr", "127.0.0.1:7700", "link", "add", "genlinks-seed"],
                   check=True, capture_output=True,
                   env=env)
    subprocess.run(args + ["link", "rm", "genlinks-seed"], check=True, capture_output=True,
                   env=env)
    pubs, privs = None, None
    if real > 0:
        ka, kb = keypair(agent), keypair(agent)
        pubs = (pub_raw(ka[1]), pub_raw(kb[1]))
        privs = (ka[0], kb[0])
    now_ms = int(time.time() * 1000)
    got = []

    def collect():
        for row in rows(n, real, pubs, now_ms):
            if pubs is not None and row[2] == pubs[0]:
                got.append((row[0].hex(), privs[0], privs[1]))
            yield row
    t0 = time.monotonic()
    if database:
        fill_pg(database, collect(), now_ms)
    else:
        fill_sqlite(os.path.join(state, "linkrelay.db"), collect(), now_ms)
    secs = time.monotonic() - t0
    if keys:
        with open(keys, "w") as f:
            for lid, a, b in got:
                f.write("%s %s %s\n" % (lid, a, b))
    return secs, got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--linkctl", required=True)
    ap.add_argument("--agent", help="linkagent (for --real); default beside linkctl")
    ap.add_argument("--state", required=True)
    ap.add_argument("--database", help="a PostgreSQL URL (default: STATE/linkrelay.db)")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--real", type=int, default=0)
    ap.add_argument("--keys")
    a = ap.parse_args()
    agent = a.agent or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.linkctl))),
                                    "agent", "linkagent")
    os.makedirs(a.state, mode=0o700, exist_ok=True)
    secs, _ = fill(a.linkctl, a.state, a.n, a.real, a.keys, a.database, agent)
    print("links=%d seconds=%.1f" % (a.n, secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
