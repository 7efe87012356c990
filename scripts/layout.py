#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks the shape of the tree (docs/design.md "Module map", docs/hacking.md).

Usage: scripts/layout.py [--graph] [REPO]

Rules, each a line of output when broken (exit 1; 0 when all hold):
  folders   a file includes only headers of its own folder and of the folders
            its folder builds on (FOLDER_DEPS); common/ includes no I/O header
  circles   no two source files call each other, directly or around a loop:
            file A calls file B when A.c uses a function that B.c defines
            (not static) and that a header A includes (directly or through
            headers it includes) declares
  size      no .c or .h file of a program folder is longer than MAX_LINES
  owners    a program's owner module (relay.c, agent.c) is called by its
            main.c alone: the modules below it reach it through callbacks
  outside   no tracked text file names a path of the machine it was written
            on (the workspace root, OUTSIDE)

--graph prints the file -> file call edges (what each file takes from which)
before the verdict. Reads the files as text; builds and runs nothing.
"""
import os
import re
import subprocess
import sys

# Which folders a folder may include from (its own is implied).
FOLDER_DEPS = {
    "common": [],
    "registry": ["common"],
    "service": ["common"],
    "httpd": ["common"],
    "relay": ["common", "registry", "service", "httpd"],
    "linkctl": ["common", "registry", "service"],
    "agent": ["common", "service", "httpd"],
}
# common/ is sans-I/O: no event loop, database, sockets or files of its own.
COMMON_FORBIDDEN = {"uv.h", "sqlite3.h", "unistd.h", "fcntl.h", "poll.h", "netdb.h",
                    "sys/epoll.h", "pthread.h", "sys/stat.h"}
# The owner of each program: only the entry point may call it.
OWNERS = {"relay/relay.c": {"relay/main.c"}, "agent/agent.c": {"agent/main.c"}}
MAX_LINES = 800
# The workspace root and the folder beside the checkout; spelled in pieces so
# that this file passes its own rule.
OUTSIDE = re.compile("/" + "work/|" + re.escape("../" + "shared/"))

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
# A prototype at file scope in a header: "type name(" at the start of a line
# (possibly after qualifiers), not a macro or a typedef of a function pointer.
PROTO = re.compile(r"^(?!\s|#|typedef|struct\s+\w+\s*\{|/?\*)[^;{}()=]*?\b([a-z_][a-z0-9_]*)\s*\(",
                   re.M)
# A function definition at file scope: "type name(...)" at the start of a
# line, then its body's "{" (no ";" between), and no "static" before the name.
DEFN = re.compile(r"^(?!static\b)(?![ \t#/*])[^;{}()=\n]*?\b([a-z_][a-z0-9_]*)\s*\([^;{}]*?\)\s*"
                  r"(?:__attribute__\s*\(\(.*?\)\)\s*)?\{", re.M | re.S)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')
IDENT = re.compile(r"\b[a-z_][a-z0-9_]*\b")


def tracked(repo):
    out = subprocess.run(["git", "-C", repo, "ls-files"], capture_output=True, text=True)
    if out.returncode == 0:
        return [f for f in out.stdout.splitlines() if os.path.isfile(os.path.join(repo, f))]
    files = []
    for root, _, names in os.walk(repo):
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), repo))
    return files


def read(repo, f):
    with open(os.path.join(repo, f), encoding="utf-8", errors="replace") as fh:
        return fh.read()


def strip(text):
    return STRING.sub('""', COMMENT.sub(" ", text))


def resolve(name, folder, headers):
    """The tracked header a quoted include names: own folder first (as the
    compiler does), then the folders this one builds on."""
    if "/" in name:
        return name if name in headers else None
    for d in [folder] + FOLDER_DEPS.get(folder, []):
        cand = f"{d}/{name}"
        if cand in headers:
            return cand
    return None


def check(repo, show_graph=False):
    files = tracked(repo)
    src = [f for f in files if f.split("/")[0] in FOLDER_DEPS and f.endswith((".c", ".h"))]
    headers = {f for f in src if f.endswith(".h")}
    everywhere = {}  # header name -> folders that have it, to name a wrong include
    for h in headers:
        everywhere.setdefault(os.path.basename(h), []).append(h.split("/")[0])
    problems = []
    texts = {f: read(repo, f) for f in src}
    incs = {}
    for f in src:
        folder = f.split("/")[0]
        incs[f] = []
        for kind, name in INCLUDE.findall(texts[f]):
            if kind == "<":
                # log.c is the process's log sink, the one I/O common/ has.
                if folder == "common" and name in COMMON_FORBIDDEN and f != "common/log.c":
                    problems.append(f"folders: {f} includes <{name}>; common/ is sans-I/O")
                continue
            target = resolve(name, folder, headers)
            if target is None:
                others = everywhere.get(os.path.basename(name), [])
                if others:
                    problems.append(f"folders: {f} includes \"{name}\" of {'/'.join(others)}/, "
                                    f"which {folder}/ may not use")
                continue
            incs[f].append(target)

    def closure(f):
        seen, queue = set(), list(incs.get(f, []))
        while queue:
            h = queue.pop()
            if h not in seen:
                seen.add(h)
                queue.extend(incs.get(h, []))
        return seen

    # Functions each header declares, and the file that defines each name
    # (a name two programs both define, like main, is told apart by folder).
    declared = {}
    for h in headers:
        names = set(PROTO.findall(strip(texts[h])))
        declared[h] = {n for n in names if not n.startswith("__")}
    defined = {}
    for f in src:
        if f.endswith(".c"):
            for n in DEFN.findall(strip(texts[f])):
                defined.setdefault(n, []).append(f)

    def definer(name, user):
        """The file defining name that user can reach: its own folder first,
        then the folders its folder builds on."""
        folder = user.split("/")[0]
        for d in [folder] + FOLDER_DEPS.get(folder, []):
            for g in defined.get(name, []):
                if g.split("/")[0] == d:
                    return g
        return None

    edges = {}
    for f in src:
        if not f.endswith(".c"):
            continue
        used = set(IDENT.findall(strip(texts[f])))
        for h in closure(f):
            for n in declared[h] & used:
                target = definer(n, f)
                if target is not None and target != f:
                    edges.setdefault(f, {}).setdefault(target, []).append(n)
    for f in edges:
        for t in edges[f]:
            edges[f][t] = sorted(set(edges[f][t]))
    if show_graph:
        for a in sorted(edges):
            for b, names in sorted(edges[a].items()):
                more = f", and {len(names) - 4} more" if len(names) > 4 else ""
                print(f"{a} -> {b}: {', '.join(names[:4])}{more}")
    for cyc in cycles(edges):
        problems.append("circles: " + " -> ".join(cyc + [cyc[0]]))
    for owner, callers in OWNERS.items():
        for f in sorted(edges):
            if owner in edges[f] and f not in callers:
                problems.append(f"owners: {f} calls up into {owner} "
                                f"({', '.join(edges[f][owner][:4])})")

    for f in src:
        n = texts[f].count("\n")
        if n > MAX_LINES:
            problems.append(f"size: {f} has {n} lines (at most {MAX_LINES})")

    for f in files:
        if f.startswith(("tests/vectors/", "tests/fuzz/corpus/")) or f.endswith(".png"):
            continue
        try:
            text = read(repo, f)
        except OSError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"outside: {f}:{i} names a path outside the repository")
    return problems


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan), each
    as one loop through it, for the message."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {b for a in edges for b in edges[a]}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(loop_in(sorted(comp), edges))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def loop_in(comp, edges):
    """A path from comp[0] back to itself inside the component."""
    members, start = set(comp), comp[0]
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, {})):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path))
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def main(argv):
    show = "--graph" in argv
    args = [a for a in argv if a != "--graph"]
    if any(a.startswith("-") for a in args) or len(args) > 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    repo = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(repo, show)
    for p in problems:
        print(p)
    if not problems:
        print("layout: folders, circles, owners, size, outside: all hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
