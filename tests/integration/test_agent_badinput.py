#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent input checking and failure causes (docs/protocol.md §8):
  - a wrong, truncated, mistyped or wrong-kind token gives a clear error that
    names what is wrong, exit status 1; bad options exit 2;
  - keygen writes a 0600 private key file and prints the public key;
  - --check prints the configuration with secrets redacted;
  - a wrong pinned relay key is reported as "relay key mismatch";
  - a key the relay does not know is reported as "authentication refused";
  - a revoked link's agent logs "link revoked" and retries with a long
    backoff, not in a hot loop (attempts counted over a window).
"""
import os
import stat
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h


def run(*args):
    r = subprocess.run([ah.AGENT] + list(args), capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout, r.stderr


def keygen(tmp, name):
    path = os.path.join(tmp, name + ".key")
    rc, out, err = run("keygen", "--out", path)
    assert rc == 0, err
    return path, out.strip()


def config(tmp, name, relay, relay_key, key_id, key_file, link_id, side, peer, listen):
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write("[agent]\nrelay = %s\nrelay_key = %s\nrelay_key_id = %d\n"
                "backoff_min = 200ms\nbackoff_max = 2s\nlog_level = debug\n\n"
                "[link %s]\nkey_file = %s\nlink_id = %s\nside = %s\npeer_key = %s\n"
                "listen = 127.0.0.1:%d\n" % (relay, relay_key, key_id, name, key_file,
                                             link_id, side, peer, listen))
    return path


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        out = rig.link("tok")
        tok = out["tokens"]["a"]
        lst = ["--listen", "127.0.0.1:%d" % ah.free_port()]

        cases = [
            ("garbage token", ["--token", "hello"] + lst, "not an enrollment token"),
            ("truncated token", ["--token", tok[:-9]] + lst, "invalid token:"),
            ("mistyped token", ["--token", tok[:40] + ("a" if tok[40] != "a" else "b")
                                + tok[41:]] + lst, "checksum mismatch"),
            ("public key as token", ["--token", r.relay_pub] + lst, "this is a public key"),
        ]
        for name, args, want in cases:
            rc, so, se = run(*args)
            c.check("%s: exit 1 with a clear error" % name, rc == 1 and want in se, (rc, se))
        rc, so, se = run("--token", tok[:-9] + "x" * 9, *lst)
        c.check("token error names the problem",
                rc == 1 and ("checksum mismatch" in se or "truncated" in se), se)
        rc, so, se = run("--token", tok, "--listen", "nonsense")
        c.check("bad --listen named", rc == 1 and "--listen 'nonsense'" in se, se)
        rc, so, se = run("--token", tok)
        c.check("no --listen/--connect refused", rc == 1 and "nothing to do" in se, se)
        rc, so, se = run("--token", tok, "--connect", "127.0.0.1:1", "--policy", "sometimes")
        c.check("bad --policy refused", rc == 1 and "--policy" in se, se)
        rc, so, se = run("--frobnicate", "1")
        c.check("unknown option: exit 2", rc == 2 and "unknown option" in se, se)
        rc, so, se = run("--help")
        c.check("--help", rc == 0 and "--token" in so and "keygen" in so)
        rc, so, se = run("--version")
        c.check("--version", rc == 0 and so.startswith("linkagent "))
        rc, so, se = run("--token", tok, *lst, "--check")
        c.check("--check prints the config, secrets redacted",
                rc == 0 and "[link" in so and "<secret>" in so and "lrkey1" not in so
                and tok not in so, so)

        # keygen
        kpath, kpub = keygen(rig.tmp, "k1")
        mode = stat.S_IMODE(os.stat(kpath).st_mode)
        with open(kpath) as f:
            ktext = f.read().strip()
        c.check("keygen: key file 0600 with an lrkey1 key", mode == 0o600
                and ktext.startswith("lrkey1"), oct(mode))
        c.check("keygen: prints the lrpub1 public key", kpub.startswith("lrpub1"), kpub)
        rc, so, se = run("keygen", "--out", kpath)
        c.check("keygen never overwrites a key file", rc == 1, se)
        rc, so, se = run("keygen")
        c.check("keygen to stdout prints both keys",
                rc == 0 and "private lrkey1" in so and "public lrpub1" in so, so)

        # A link made with our own keys, driven by config files.
        apath, apub = keygen(rig.tmp, "a")
        bpath, bpub = keygen(rig.tmp, "b")
        link = r.ctl_json("link", "add", "cfgl", "--a-key", apub, "--b-key", bpub)
        _, wrong_pub = keygen(rig.tmp, "wrongrelay")
        conf = config(rig.tmp, "mismatch", r.addr, wrong_pub, r.key_id, apath, link["id"],
                      "a", bpub, ah.free_port())
        ag = rig.agent_args("mismatch", ["--config", conf])
        c.check("wrong relay key: 'relay key mismatch'",
                ag.wait_log("relay key mismatch", timeout=10), ag.log()[-500:])
        ag.stop()
        stranger, _ = keygen(rig.tmp, "stranger")
        conf = config(rig.tmp, "stranger", r.addr, r.relay_pub, r.key_id, stranger, link["id"],
                      "a", bpub, ah.free_port())
        ag = rig.agent_args("stranger", ["--config", conf])
        c.check("unknown key: 'authentication refused'",
                ag.wait_log("authentication refused", timeout=10), ag.log()[-500:])
        ag.stop()

        # Revocation: the live session is closed, then every retry is refused.
        conf = config(rig.tmp, "good", r.addr, r.relay_pub, r.key_id, apath, link["id"], "a",
                      bpub, ah.free_port())
        ag = rig.agent_args("good", ["--config", conf])
        c.check("config-file agent comes online", ag.wait_log("online via relay"))
        r.ctl("link", "revoke", "cfgl")
        c.check("revocation logged as 'link revoked'",
                ag.wait_log("link revoked", timeout=10), ag.log()[-800:])
        # After a revocation every delay is backoff_long's, drawn from
        # [backoff_max / 2, backoff_max] = [1 s, 2 s]: so at least 2 retries
        # come (polled for, however slow the machine), and in any span of T
        # seconds at most T / 1 s + 1 do.
        t0 = time.monotonic()
        n0 = ag.count("dialling relay")
        came = h.wait_for(lambda: ag.count("dialling relay") - n0 >= 2, timeout=30, step=0.1)
        time.sleep(max(0.0, t0 + 8 - time.monotonic()))
        n = ag.count("dialling relay") - n0
        span = time.monotonic() - t0
        c.check("revoked: retries, but not in a hot loop (backoff_max 2s: 2 or more, at most "
                "one a second)", came and 2 <= n <= span / 1.0 + 1, "%d in %.1f s" % (n, span))
        c.check("every retry says why", ag.count("link revoked") >= n, ag.count("link revoked"))
        r.ctl("link", "enable", "cfgl")
        c.check("re-enabled link comes back online",
                ag.wait_log("online via relay", n=2, timeout=10))
        rc = ag.stop()
        c.check("config-file agent stops with 0", rc == 0, rc)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
