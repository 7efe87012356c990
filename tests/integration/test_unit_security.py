#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The systemd units keep their hardening: `systemd-analyze security
--offline=true` (systemd 252, Debian 12's `systemd` package) scores
dist/linkrelay.service and dist/linkagent@.service, and neither may score
above the exposure recorded for it in docs/guide.md §3.2 (the table row
"| `dist/UNIT` | N.N | ..."). The check is made twice: by parsing the
"Overall exposure level" line and by systemd-analyze's own --threshold=
(which takes the score times ten). First the test shows that it can fail: a
copy of each unit without four of its sandboxing lines scores above the
recorded value and --threshold refuses it.

systemd parses each unit without a line ignored ("Unknown key", "Failed to
parse …, ignoring": a copy with a bad WatchdogSec= shows the check sees
them), and both are Type=notify with a WatchdogSec= (docs/design.md D20)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import lrharness as h

SRC = os.environ.get("LR_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = ("linkrelay.service", "linkagent@.service")
ROW = re.compile(r"^\| `dist/([\w@.-]+)` \| (\d+\.\d) \|", re.M)
OVERALL = re.compile(r"Overall exposure level for \S+: (\d+\.\d)")
IGNORED = re.compile(r"^.*:\d+: .*ignoring.*$", re.M)
# Taken out of the copy that must score worse.
WEAKEN = ("PrivateDevices=", "NoNewPrivileges=", "ProtectSystem=", "CapabilityBoundingSet=")


def analyze(unit, threshold=None):
    """(exit status, score or None, output) of systemd-analyze security."""
    args = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    if threshold is not None:
        args.append("--threshold=%d" % threshold)
    r = subprocess.run(args + [unit], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    m = OVERALL.search(out)
    return r.returncode, float(m.group(1)) if m else None, out


def recorded():
    with open(os.path.join(SRC, "docs", "guide.md")) as f:
        return {u: float(v) for u, v in ROW.findall(f.read())}


def main():
    c = h.Checks()
    if shutil.which("systemd-analyze") is None:
        c.check("systemd-analyze is installed (Debian package systemd: scripts/deps.sh test)",
                False)
        return c.done()
    rec = recorded()
    c.check("docs/guide.md records a score for both units", set(UNITS) <= set(rec), rec)
    tmp = tempfile.mkdtemp(prefix="lr_unitsec.")
    try:
        for unit in UNITS:
            if unit not in rec:
                continue
            limit = rec[unit]
            path = os.path.join(SRC, "dist", unit)
            # The test can fail: the same unit with less sandbox scores worse.
            with open(path) as f:
                lines = f.read().splitlines(True)
            weak = os.path.join(tmp, unit)
            with open(weak, "w") as f:
                f.writelines(l for l in lines if not l.startswith(WEAKEN))
            rc, score, out = analyze(weak, threshold=round(limit * 10))
            c.check("%s without %s scores above %.1f (%s) and --threshold refuses it"
                    % (unit, ", ".join(WEAKEN), limit, score),
                    score is not None and score > limit and rc != 0, "" if score else out[-800:])
            bad = os.path.join(tmp, "bad", unit)
            os.makedirs(os.path.dirname(bad), exist_ok=True)
            with open(bad, "w") as f:
                f.writelines("WatchdogSec=soon\n" if l.startswith("WatchdogSec=") else l
                             for l in lines)
            _, _, out = analyze(bad)
            seen = IGNORED.search(out) is not None
            c.check("%s with WatchdogSec=soon: systemd says it ignored the line" % unit, seen,
                    "" if seen else out[-800:])
            # The unit as committed.
            text = "".join(lines)
            c.check("%s: Type=notify and a WatchdogSec=" % unit,
                    re.search(r"^Type=notify$", text, re.M) is not None and
                    re.search(r"^WatchdogSec=[1-9]", text, re.M) is not None)
            if unit.startswith("linkagent"):
                # The admin socket where `linkagent status` (root) looks
                # first (agent/rundir.c), outside the unit's private /tmp.
                c.check("%s: admin sockets in /run/linkagent" % unit,
                        re.search(r"^RuntimeDirectory=linkagent$", text, re.M) is not None and
                        re.search(r"^RuntimeDirectoryPreserve=yes$", text, re.M) is not None and
                        re.search(r"^Environment=LINKAGENT_RUNTIME_DIR=/run/linkagent$", text,
                                  re.M) is not None)
            rc, score, out = analyze(path)
            c.check("%s: systemd-analyze gives a score (%s)" % (unit, score), score is not None,
                    "" if score is not None else out[-800:])
            c.check("%s: systemd ignores no line of it" % unit, IGNORED.search(out) is None,
                    IGNORED.findall(out))
            c.check("%s: exposure %s is not above the %.1f recorded in docs/guide.md"
                    % (unit, score, limit), score is not None and score <= limit)
            rc, _, out = analyze(path, threshold=round(limit * 10))
            c.check("%s: systemd-analyze --threshold=%d accepts it" % (unit, round(limit * 10)),
                    rc == 0, "" if rc == 0 else out[-800:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
