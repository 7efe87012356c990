#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Enrollment codes (docs/design.md D30, protocol §2.2, §4.1) with the real
programs: `linkctl link add --enroll`, `linkagent enroll`, linkrelay.

- happy path: the code enrolls side a; the key file is new, mode 0600; then
  a key-file agent on side a and a token agent on side b carry bytes end to
  end (b takes a's new key only through the anchor's endorsement); the
  registry holds neither the code, nor its secret, nor a prefix of either;
- refusals, each with its reason and no key file left behind: a changed
  character (checksum, found locally), a code with a valid checksum that the
  relay does not know, the code used again (spent), an expired code, the
  anchor key used for a plain session, and --uses N at the limit (N
  enrollments, the next one spent); a good code from a source the side's
  allowlist refuses is not spent;
- on the wire, from the Python peer: AUTH bit 3 with a short verifier is a
  silent close, a wrong verifier gets CLOSE enroll_unknown;
- events, log lines and linkrelay_enrollments_total{result} for all of it.
"""
import base64
import hashlib
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time

import agentharness as ah
import lrharness as h
import lrproto as lp
import promharness as ph

AGENT = ah.AGENT


def code_text(secret):
    check = hashlib.sha256(b"lrenr1" + secret).digest()[:4]
    return "lrenr1" + base64.b32encode(secret + check).decode().lower().rstrip("=")


def code_secret(code):
    return h.b32dec(code[6:])[:16]


def anchor_priv(secret, link_id, side):
    m = hashlib.blake2b(key=secret, digest_size=32)
    m.update(b"linkrelay/1 enroll anchor" + bytes.fromhex(link_id) + bytes([side]))
    return m.digest()


def priv_text(raw):
    check = hashlib.sha256(b"lrkey1" + raw).digest()[:4]
    return "lrkey1" + h.b32(raw + check)


def write_conf(path, name, token, key_file=None, key=None, extra=""):
    with open(path, "w") as f:
        f.write("[link %s]\ntoken = %s\n" % (name, token))
        if key_file:
            f.write("key_file = %s\n" % key_file)
        if key:
            f.write("key = %s\n" % key)
        f.write(extra)
    os.chmod(path, 0o600)


def enroll(conf, name, code):
    r = subprocess.run([AGENT, "enroll", "--config", conf, "--link", name, code],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def db_bytes(relay):
    """Everything of the registry on disk: the database and its WAL."""
    out = b""
    for f in ("linkrelay.db", "linkrelay.db-wal"):
        p = os.path.join(relay.dir, f)
        if os.path.exists(p):
            with open(p, "rb") as fh:
                out += fh.read()
    return out


def db_text(relay):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(relay.dir, "linkrelay.db"), uri=True)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def raw_enroll(relay, link_id, side, verifier):
    """AUTH with flags bit 3 from the Python peer (an implementation of its
    own): (the first message after the handshake or None, how it ended)."""
    s = lp.connect(relay)
    try:
        hk = lp.Handshake(h.pub_raw(relay.relay_pub), os.urandom(32), relay.key_id)
        s.sendall(hk.pre + lp.frame(hk.msg1()))
        hk.read_msg2(lp.recv_frame(s))
        s.sendall(lp.frame(hk.msg3(lp.auth(side, bytes.fromhex(link_id), 0x08,
                                           verifier=verifier))))
        data, end = lp.read_until_close(s)
        if len(data) < 2:
            return None, end
        return bytes(hk.cs[1].decrypt_with_ad(b"", data[2:2 + int.from_bytes(data[:2], "big")])), end
    finally:
        s.close()


def main():
    c = h.Checks()
    rig = ah.Rig(relay=h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0"}))
    tmp = rig.tmp
    try:
        relay = rig.start_relay()
        out = rig.link("cam", "--enroll", "a", "--expires", "1h")
        code, tok_a, tok_b = out["enroll"]["code"], out["tokens"]["a"], out["tokens"]["b"]
        c.check("link add --enroll: one code for side a, 38 characters",
                out["enroll"]["side"] == "a" and len(code) == 38 and code.startswith("lrenr1"),
                str(out.get("enroll")))
        c.check("link add --enroll: side a's token has no private key",
                (h.b32dec(tok_a[6:])[1] & 1) == 0 and (h.b32dec(tok_b[6:])[1] & 1) == 1)
        keyf = os.path.join(tmp, "cam-a.key")
        conf = os.path.join(tmp, "a.conf")
        lport = ah.free_port()
        write_conf(conf, "cam", tok_a, key_file=keyf,
                   extra="listen = 127.0.0.1:%d\n" % lport)

        # On the wire: a 31-byte verifier is a bad AUTH (silent close); a
        # wrong 32-byte one gets CLOSE enroll_unknown (9) after the handshake.
        msg, end = raw_enroll(relay, out["id"], 0, os.urandom(31))
        c.check("wire: AUTH bit 3 with a short verifier: closed without a word",
                msg is None and end == "eof", "%r %s" % (msg, end))
        msg, end = raw_enroll(relay, out["id"], 0, os.urandom(32))
        c.check("wire: a wrong verifier: CLOSE enroll_unknown (type 5, reason 9)",
                msg is not None and msg[:2] == b"\x05\x09", "%r %s" % (msg, end))

        # A changed character: the checksum catches it before any connection.
        i = 20
        bad = code[:i] + ("a" if code[i] != "a" else "b") + code[i + 1:]
        rc, text = enroll(conf, "cam", bad)
        c.check("tampered code: refused locally (checksum)",
                rc == 1 and "checksum mismatch" in text and not os.path.exists(keyf), text)
        # A well-formed code the relay does not know.
        rc, text = enroll(conf, "cam", code_text(os.urandom(16)))
        c.check("unknown code with a valid checksum: refused by the relay",
                rc == 1 and "knows no such code" in text and not os.path.exists(keyf)
                and not os.path.exists(keyf + ".tmp"), text)
        # The anchor key (derivable from the code) opens no session.
        secret = code_secret(code)
        aconf = os.path.join(tmp, "anchor.conf")
        write_conf(aconf, "cam", tok_a, key=priv_text(anchor_priv(secret, out["id"], 0)),
                   extra="listen = 127.0.0.1:%d\n" % ah.free_port())
        anchor = rig.agent_args("anchor", ["--config", aconf])
        c.check("the anchor key is refused for a plain session",
                anchor.wait_log("authentication refused", timeout=15), anchor.log()[-800:])
        anchor.stop()

        # Happy path.
        rc, text = enroll(conf, "cam", code)
        mode = stat.S_IMODE(os.stat(keyf).st_mode) if os.path.exists(keyf) else None
        c.check("enroll: exit 0, key file mode 0600", rc == 0 and mode == 0o600,
                "rc=%s mode=%s %s" % (rc, mode, text))
        with open(keyf) as f:
            c.check("the key file holds a private key", f.read().startswith("lrkey1"))
        blob, dump = db_bytes(relay), db_text(relay)
        low, up = code.lower(), code.upper()
        leaks = [x for x in (low, up, low[6:], up[6:], low[6:16], up[6:16], secret.hex())
                 if x in dump or x.encode() in blob]
        c.check("the registry holds no code, secret or prefix of them",
                not leaks and secret not in blob and secret[:8] not in blob, str(leaks))
        show = relay.ctl_json("link", "show", "cam")
        c.check("link show: enroll a spent, 0 of 1 left",
                show["enroll_a"]["state"] == "spent" and show["enroll_a"]["uses_left"] == 0
                and show["enroll_b"] is None, str(show.get("enroll_a")))

        # Used again (another key file, the same code).
        conf2 = os.path.join(tmp, "a2.conf")
        keyf2 = os.path.join(tmp, "cam-a2.key")
        write_conf(conf2, "cam", tok_a, key_file=keyf2, extra="listen = 127.0.0.1:1\n")
        rc, text = enroll(conf2, "cam", code)
        c.check("reused code: refused (already used)",
                rc == 1 and "already used" in text and not os.path.exists(keyf2), text)
        rc, text = enroll(conf, "cam", code)
        c.check("enroll again over an existing key file: refused before dialling",
                rc == 1 and "exists already" in text, text)

        # End to end with the enrolled key.
        srv = rig.server("echo")
        b = rig.agent("b", tok_b, "--connect", "127.0.0.1:%d" % srv.port)
        a = rig.agent_args("a", ["--config", conf])
        ok = a.wait_log("online via relay") and b.wait_log("online via relay")
        c.check("enrolled agent and token agent online", ok, a.log()[-800:] + b.log()[-800:])
        c.check("bytes end to end through the enrolled side",
                h.wait_for(lambda: ah.works(lport), timeout=15), a.log()[-800:] + b.log()[-800:])
        c.check("side b took side a's key through the anchor's endorsement",
                "the peer's key is now" in b.log() and "ignored, the peer's key stays"
                not in b.log(), b.log()[-800:])

        # Expired: a 1 s code used after its deadline (the deadline is known).
        out2 = rig.link("cam2", "--enroll", "b", "--expires", "1s")
        deadline = out2["enroll"]["expires_ms"] / 1000.0
        while time.time() < deadline + 0.05:
            time.sleep(0.05)
        conf3 = os.path.join(tmp, "b2.conf")
        keyf3 = os.path.join(tmp, "cam2-b.key")
        write_conf(conf3, "cam2", out2["tokens"]["b"], key_file=keyf3,
                   extra="connect = 127.0.0.1:1\n")
        rc, text = enroll(conf3, "cam2", out2["enroll"]["code"])
        c.check("expired code: refused (expired)",
                rc == 1 and "has expired" in text and not os.path.exists(keyf3), text)

        # A good code from a source the side's allowlist refuses (D27): not
        # spent, and the agent hears source_not_allowed.
        out4 = rig.link("cam4", "--enroll", "a", "--allow-a", "198.18.0.0/15")
        cf = os.path.join(tmp, "src.conf")
        write_conf(cf, "cam4", out4["tokens"]["a"], key_file=os.path.join(tmp, "src.key"),
                   extra="listen = 127.0.0.1:1\n")
        rc, text = enroll(cf, "cam4", out4["enroll"]["code"])
        left = relay.ctl_json("link", "show", "cam4")["enroll_a"]["uses_left"]
        c.check("source not allowed: refused as such, the code not spent",
                rc == 1 and "source_not_allowed" in text and left == 1
                and not os.path.exists(os.path.join(tmp, "src.key")), "%s left=%s" % (text, left))

        # --uses 2: two enrollments, the third is refused.
        out3 = rig.link("cam3", "--enroll", "a", "--uses", "2")
        results = []
        for k in range(3):
            cf = os.path.join(tmp, "u%d.conf" % k)
            write_conf(cf, "cam3", out3["tokens"]["a"], key_file=os.path.join(tmp, "u%d.key" % k),
                       extra="listen = 127.0.0.1:1\n")
            results.append(enroll(cf, "cam3", out3["enroll"]["code"]))
        c.check("--uses 2: two enrollments succeed", results[0][0] == 0 and results[1][0] == 0,
                str(results[:2]))
        c.check("--uses 2: the third is refused (already used)",
                results[2][0] == 1 and "already used" in results[2][1], results[2][1])
        keys = relay.ctl_json("link", "show", "cam3")
        c.check("--uses 2: the registry shows 0 of 2 left",
                keys["enroll_a"]["uses_left"] == 0 and keys["enroll_a"]["uses"] == 2,
                str(keys["enroll_a"]))
        ev = relay.ctl("events", "-n", "0").stdout
        c.check("events: enroll_issued, enrolled and enroll_refused are recorded",
                "enroll_issued" in ev and "enrolled" in ev and "enroll_refused" in ev, ev[-1500:])
        rlog = relay.log()
        c.check("relay log: enrollment and refusals logged",
                "enrolled (" in rlog and "enrollment refused" in rlog, rlog[-1500:])
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", rlog)
        ms = ph.scrape(int(m.group(1))) if m else {}
        got = {r: ph.value(ms, "linkrelay_enrollments_total", result=r)
               for r in ("ok", "unknown", "expired", "spent")}
        c.check("metrics: linkrelay_enrollments_total counts each result",
                got == {"ok": 3, "unknown": 2, "expired": 1, "spent": 2}, str(got))
    except Exception:
        rig.dump()
        raise
    finally:
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
