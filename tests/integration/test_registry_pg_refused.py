#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A PostgreSQL registry is refused, clearly, until the relay is ready for
it (docs/design.md D33): the store runs on PostgreSQL (its unit suites run
on a real server), but `database = postgresql://...` in the config file, or
--database with such a URL, on linkrelay (also --check) and on linkctl,
ends with exit 1 and one line naming what is missing; a password in the URL
is never printed; nothing is created (no file named after the URL, no
database file, no key) and no connection is tried (the URL's socket
directory stays empty).

Every temporary directory is removed, also on failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import lrharness as h

WANT = "PostgreSQL registries are not enabled yet"
MISSING = "the relay's bound on a slow or unreachable database is missing"


def run(argv, cwd):
    env = dict(os.environ)
    env.pop("LINKRELAY_STATE_DIR", None)
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=30)


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="test_registry_pg_refused.")
    try:
        state = os.path.join(tmp, "state")
        sockdir = os.path.join(tmp, "pgsock")
        os.makedirs(state)
        os.makedirs(sockdir)
        url = "postgresql://lr:s3cret@/reg?host=" + sockdir
        shown = "postgresql://lr:***@/reg?host=" + sockdir
        cases = [
            ("linkctl --database", [h.LINKCTL, "--state-dir", state, "--database", url, "link",
                                    "list"]),
            ("linkctl link add", [h.LINKCTL, "--state-dir", state, "--database", url, "link",
                                  "add", "x"]),
            ("linkrelay --database --check", [h.RELAY, "--state-dir", state, "--database", url,
                                              "--check"]),
            ("linkrelay --database", [h.RELAY, "--state-dir", state, "--database", url,
                                      "--listen", "127.0.0.1:0"]),
        ]
        for name, argv in cases:
            r = run(argv, tmp)
            err = r.stderr.strip()
            c.check(name + ": exit 1", r.returncode == 1, "rc=%d" % r.returncode)
            c.check(name + ": one line naming what is missing",
                    err.count("\n") == 0 and WANT in err and MISSING in err and shown in err,
                    repr(err))
            c.check(name + ": no password", "s3cret" not in r.stdout + r.stderr)
        # The config file's database key, read by both programs.
        with open(os.path.join(state, "linkrelay.conf"), "w") as f:
            f.write("[relay]\ndatabase = postgres://lr@localhost/reg\n")
        for name, argv in [("config: linkrelay --check", [h.RELAY, "--state-dir", state,
                                                          "--check"]),
                           ("config: linkrelay", [h.RELAY, "--state-dir", state, "--listen",
                                                  "127.0.0.1:0"]),
                           ("config: linkctl", [h.LINKCTL, "--state-dir", state, "link",
                                                "list"])]:
            r = run(argv, tmp)
            err = r.stderr.strip()
            c.check(name + ": exit 1", r.returncode == 1, "rc=%d" % r.returncode)
            c.check(name + ": names the URL and what is missing",
                    "database postgres://lr@localhost/reg: " + WANT in err and MISSING in err,
                    repr(err))
        c.check("nothing created", sorted(os.listdir(tmp)) == ["pgsock", "state"]
                and os.listdir(state) == ["linkrelay.conf"] and os.listdir(sockdir) == [],
                repr((os.listdir(tmp), os.listdir(state), os.listdir(sockdir))))
        # An SQLite path beside it still works (the check refuses URLs only).
        os.unlink(os.path.join(state, "linkrelay.conf"))
        db = os.path.join(tmp, "postgresql.db")
        r = run([h.LINKCTL, "--state-dir", state, "--database", db, "link", "add", "ok",
                 "--relay-addr", "127.0.0.1:9"], tmp)
        c.check("an SQLite path named postgresql.db is used", r.returncode == 0
                and os.path.exists(db), r.stderr.strip())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
