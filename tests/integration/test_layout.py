#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The tree keeps its shape (docs/design.md "Module map"): scripts/layout.py
finds no include across folder rules, no call circle between files, no call
up into a program's owner module, no file over 800 lines and no path outside
the repository. First the checker is shown
to catch each kind in a small tree made for it, so a checker that went blind
cannot pass."""
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("LR_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUT = os.path.join(SRC, "scripts", "layout.py")


def run(repo):
    r = subprocess.run([sys.executable, LAYOUT, repo], capture_output=True, text=True,
                       timeout=120)
    return r.returncode, r.stdout + r.stderr


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def bad_tree(root):
    """A tree with one break of each rule (not a git checkout: every file
    counts)."""
    # relay/a.c and relay/b.c call each other: a circle.
    write(root, "relay/a.h", "int a_run(void);\n")
    write(root, "relay/b.h", "int b_run(void);\n")
    write(root, "relay/a.c", '#include "a.h"\n#include "b.h"\nint a_run(void) { return b_run(); }\n')
    write(root, "relay/b.c", '#include "b.h"\n#include "a.h"\nint b_run(void) { return a_run(); }\n')
    # common/ may not use the event loop; the agent may not use relay/ headers.
    write(root, "common/c.c", "#include <uv.h>\n")
    write(root, "agent/d.c", '#include "a.h"\n')
    # A file too long, and a path of the build machine.
    write(root, "agent/long.c", "int x;\n" * 801)
    write(root, "docs/x.md", "see /" + "work/notes.md\n")
    # One header for two files that call each other (linkctl's ctl.h style).
    write(root, "linkctl/ctl.h", "int ctl_one(void);\nint ctl_two(void);\n")
    write(root, "linkctl/ctl.c", '#include "ctl.h"\nint ctl_one(void)\n{\n    return ctl_two();\n}\n')
    write(root, "linkctl/ctl_b.c", '#include "ctl.h"\nint ctl_two(void)\n{\n    return ctl_one();\n}\n')
    write(root, "docs/y.md", "see ." + "./shared/notes.md\n")
    # A module below the owner calls up into it.
    write(root, "relay/relay.h", "int relay_now(void);\n")
    write(root, "relay/relay.c", '#include "relay.h"\nint relay_now(void) { return 0; }\n')
    write(root, "relay/conn.c", '#include "relay.h"\nint c(void) { return relay_now(); }\n')


def main():
    tmp = tempfile.mkdtemp(prefix="lr_layout.")
    try:
        bad_tree(tmp)
        rc, out = run(tmp)
        want = ["circles: relay/a.c -> relay/b.c -> relay/a.c",
                "folders: common/c.c includes <uv.h>",
                'folders: agent/d.c includes "a.h" of relay/',
                "size: agent/long.c has 801 lines",
                "outside: docs/x.md:1",
                "outside: docs/y.md:1",
                "circles: linkctl/ctl.c -> linkctl/ctl_b.c -> linkctl/ctl.c",
                "owners: relay/conn.c calls up into relay/relay.c (relay_now)"]
        missing = [w for w in want if w not in out]
        if rc != 1 or missing:
            print(f"FAIL: the checker missed {missing} (exit {rc}):\n{out}")
            return 1
        # The limit itself is allowed: 800 lines, no circle once b.c stops calling.
        write(tmp, "agent/long.c", "int x;\n" * 800)
        write(tmp, "relay/b.c", '#include "b.h"\nint b_run(void) { return 0; }\n')
        os.remove(os.path.join(tmp, "common/c.c"))
        os.remove(os.path.join(tmp, "agent/d.c"))
        os.remove(os.path.join(tmp, "docs/x.md"))
        os.remove(os.path.join(tmp, "relay/conn.c"))
        os.remove(os.path.join(tmp, "docs/y.md"))
        os.remove(os.path.join(tmp, "linkctl/ctl_b.c"))
        rc, out = run(tmp)
        if rc != 0:
            print(f"FAIL: a tree within the rules was refused (exit {rc}):\n{out}")
            return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rc, out = run(SRC)
    print(out, end="")
    if rc != 0:
        print("FAIL: the tree breaks its layout rules (scripts/layout.py --graph shows the calls)")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
