#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkagent refuses resume ids that are not its streams' (docs/protocol.md
§7.3): a RESUMED whose id no stream of the link matches — forged, replayed,
tampered, or meant for another link — is ignored, counted
(linkagent_resume_unknown_total) and logged, and the agent's session stays
up. A RESUME on another link never reaches this agent at all. (Legs spliced
to the wrong stream, tampered or replayed resume HELLOs and old-epoch
records are refused end to end: tests/unit/test_e2e_resume.c.)
The other side of the link is a Python test peer (lrproto) that sends
RESUME with ids of its choosing.
"""
import os
import re
import struct
import sys
import time

import agentharness as ah
import lrharness as h
import lrproto as p
import promharness as ph


def main():
    c = h.Checks()
    rig = ah.Rig()
    try:
        r = rig.start_relay()
        link = r.add_link_live("ids")
        other = r.add_link_live("other")
        srv = rig.server("echo")
        key = os.path.join(rig.tmp, "b.key")
        with open(key, "w") as f:
            f.write(link["b"] + "\n")
        os.chmod(key, 0o600)
        conf = os.path.join(rig.tmp, "b.conf")
        with open(conf, "w") as f:
            f.write("[agent]\nrelay = %s\nrelay_key = %s\nrelay_key_id = %d\n"
                    "metrics_listen = 127.0.0.1:0\n\n[link ids]\nkey_file = %s\nlink_id = %s\n"
                    "side = b\npeer_key = %s\nconnect = 127.0.0.1:%d\n"
                    % (r.addr, r.relay_pub, r.key_id, key, link["id"], link["a_pub"], srv.port))
        os.chmod(conf, 0o600)
        b = rig.agent_args("b", ["--config", conf])
        c.check("agent online", b.wait_log("online via relay"))
        h.wait_for(lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", b.log()), 10)
        port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", b.log()).group(1))

        def unknown():
            return ph.value(ph.scrape(port), "linkagent_resume_unknown_total")

        sa = p.Session(r, link, 0, flags=1)
        so = p.Session(r, other, 0, flags=1)
        try:
            c.check("the peer's session gets RESUMABLE", sa.expect(0x0B) == b"\x0b")
            so.expect(0x0B)
            # Another link's RESUME: its RESUMED goes to that link's side b
            # (offline: OPEN_FAIL peer_offline), never to this agent.
            so.send(b"\x0c" + struct.pack(">I", 1) + os.urandom(32))
            m = so.expect(0x04)
            c.check("a RESUME on another link does not reach this agent",
                    m == b"\x04\x00\x00\x00\x01\x01", m.hex())
            # Forged ids on this link: three RESUMEs, three RESUMED to the agent.
            for i in range(3):
                sa.send(b"\x0c" + struct.pack(">I", 10 + i) + os.urandom(32))
                sa.expect(0x0D)
            c.check("each unknown id counted",
                    h.wait_for(lambda: unknown() == 3, timeout=10), unknown())
            c.check("and logged", b.wait_log("RESUMED for no stream of this link", n=1))
            c.check("the agent stays online", "control connection lost" not in b.log())
        finally:
            sa.close()
            so.close()
        time.sleep(0.2)
        c.check("agent b stops with 0", b.stop() == 0)
    finally:
        if c.failed:
            rig.dump()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
