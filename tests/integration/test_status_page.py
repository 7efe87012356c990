#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay's status page (GET / on metrics_listen; docs/guide.md
"Monitoring"), with a relay, two linkagents on link "web" and an echo server
behind side b:
  - /status.json while streams are open and quiet: its "status" is the admin
    socket's (`linkctl status --json`) figure for figure, its "links" the
    links with each side online, the address and since when; "history" holds
    at least the start-up sample, "events" the connects;
  - the page and its files: 200 with the right Content-Type and
    Content-Security-Policy: default-src 'self'; no inline script or handler;
  - headless Chromium (Debian's chromium) loads the page while bytes flow and
    again when quiet: the numbers it shows (links up, agents, streams open,
    bytes each way, each link's bytes) are `linkctl status --json`'s; a link
    whose name (written into the registry by hand) holds <script> shows that
    name as text and runs nothing; a screenshot is kept as
    tests/artifacts/status_page.png in the build directory;
  - Chromium runs with a temporary profile, under a time bound, and is killed
    by its process group (it was started in a session of its own) if it
    overruns; the profile is removed.
"""
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import agentharness as ah
import lrharness as h
import lrproto as p
import promharness as ph

CHROMIUM = shutil.which("chromium")
EVIL = '<script>document.title="pwned"</script>&"x'
CHROME_TIMEOUT = 200  # s, each run; a few seconds on an idle machine


class Dom(html.parser.HTMLParser):
    """Elements by id (text and attributes), the link rows' cells and every
    <script> element's attributes and text."""

    def __init__(self):
        super().__init__()
        self.ids = {}
        self.stack = []
        self.rows = []
        self.scripts = []
        self.title = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "text": ""}
        if tag == "script":
            self.scripts.append(el)
        if tag == "tr" and "data-id" in a:
            self.rows.append({"id": a["data-id"], "cells": []})
        if tag == "td" and self.rows and any(e["tag"] == "tr" and "data-id" in e["attrs"]
                                             for e in self.stack):
            self.rows[-1]["cells"].append(el)
        if "id" in a:
            self.ids[a["id"]] = el
        if tag not in ("meta", "link", "br", "img", "input"):
            self.stack.append(el)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data
        if self.stack and self.stack[-1]["tag"] == "title":
            self.title += data


def chromium(url, tmp, args):
    """Runs headless Chromium on url with its own profile in tmp; (rc, stdout,
    stderr), and how long it took is printed. Bounded by CHROME_TIMEOUT; on
    overrun its process group is killed."""
    t0 = time.time()
    profile = tempfile.mkdtemp(prefix="chrome.", dir=tmp)
    p = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--user-data-dir=" + profile, "--no-first-run",
                          "--disable-extensions", "--disable-background-networking",
                          "--window-size=1280,900", "--virtual-time-budget=6000"]
                         + args + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=CHROME_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise RuntimeError("chromium did not finish in %d s" % CHROME_TIMEOUT)
    finally:
        # Helpers it left behind (same session) go with it.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(profile, ignore_errors=True)
    print("chromium %s: %.1f s" % (" ".join(args), time.time() - t0))
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def dump_dom(url, tmp):
    rc, out, err = chromium(url, tmp, ["--dump-dom"])
    if rc != 0 or "<html" not in out:
        raise RuntimeError("chromium --dump-dom failed (%d): %s" % (rc, err[-2000:]))
    d = Dom()
    d.feed(out)
    return d, out


def num(d, el_id):
    el = d.ids.get(el_id)
    return None if el is None else int(el["attrs"].get("data-value", "-1"))


class Flow:
    """Bytes flowing both ways through the link until stop(): one echo
    connection, written and read in a thread."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stopping = False
        self.moved = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        chunk = b"x" * 65536
        try:
            while not self.stopping:
                self.s.sendall(chunk)
                got = 0
                while got < len(chunk):
                    d = self.s.recv(len(chunk) - got)
                    if not d:
                        return
                    got += len(d)
                self.moved += len(chunk)
                time.sleep(0.01)
        except OSError:
            pass

    def stop(self):
        self.stopping = True
        self.t.join(10)
        self.s.close()


def quiet_status(r, port):
    """The admin socket's status, then /status.json, with nothing moving (the
    flow stopped after its last echo came back; the streams are idle)."""
    st = r.ctl_json("status")
    code, hd, body = ph.get(port, "/status.json")
    return st, code, hd, json.loads(body)


def check_json(c, r, port):
    st, code, hd, doc = quiet_status(r, port)
    c.check("/status.json 200 application/json",
            code == 200 and hd.get("Content-Type") == "application/json", hd)
    c.check("/status.json: Content-Security-Policy default-src 'self'",
            hd.get("Content-Security-Policy") == "default-src 'self'", hd)
    s = doc["status"]
    skip = ("uptime_s",)
    diff = {k: (s.get(k), v) for k, v in st.items() if k not in skip and s.get(k) != v}
    c.check("/status.json status == linkctl status --json (but uptime)", not diff, diff)
    c.check("uptime within 2 s of linkctl's", abs(s["uptime_s"] - st["uptime_s"]) <= 2,
            (s["uptime_s"], st["uptime_s"]))
    links = {l["name"]: l for l in doc["links"]}
    web = links.get("web")
    c.check("link web: both sides online from 127.0.0.1, since a recent time",
            web is not None and all(web[x]["online"] and web[x]["addr"].startswith("127.0.0.1:")
                                    and 0 <= doc["now_ms"] - web[x]["since_ms"] < 600000
                                    for x in ("a", "b")), web)
    c.check("link web: 2 streams open, bytes as the relay's totals",
            web is not None and web["streams_open"] == 2 and
            (web["bytes_a_to_b"], web["bytes_b_to_a"]) == (st["bytes_a_to_b"], st["bytes_b_to_a"]),
            web)
    c.check("links_total 2, links_up 1, none omitted",
            (doc["links_total"], doc["links_up"], doc["links_omitted"]) == (2, 1, 0),
            (doc["links_total"], doc["links_up"], doc["links_omitted"]))
    c.check("the <script> link is listed, offline, its name as it is",
            EVIL in links and not links[EVIL]["a"]["online"], list(links))
    hist = doc["history"]
    c.check("history: 10 s samples, at most 360, at least the start-up one",
            hist["every_s"] == 10 and hist["max"] == 360 and 1 <= len(hist["t_ms"]) <= 360 and
            all(len(hist[k]) == len(hist["t_ms"]) for k in
                ("bytes_a_to_b", "bytes_b_to_a", "streams_open", "streams_total", "agents")), hist)
    kinds = [e["kind"] for e in doc["events"] if e["link_name"] == "web"]
    c.check("events: the two connects of web", kinds.count("connect") >= 2, doc["events"])
    return st, doc


def check_files(c, port):
    for path, ctype in (("/", "text/html; charset=utf-8"), ("/page.js",
                        "text/javascript; charset=utf-8"), ("/page.css", "text/css; charset=utf-8")):
        code, hd, body = ph.get(port, path)
        c.check("%s: 200 %s, CSP default-src 'self', nosniff" % (path, ctype),
                code == 200 and hd.get("Content-Type") == ctype and
                hd.get("Content-Security-Policy") == "default-src 'self'" and
                hd.get("X-Content-Type-Options") == "nosniff", (code, hd))
        if path == "/":
            text = body.decode()
            c.check("/: no inline script, style or event handler",
                    not re.search(r"<script(?![^>]*\bsrc=)|<style|\son[a-z]+=", text), text[:300])
        if path == "/page.js":
            c.check("page.js never uses innerHTML", b"innerHTML" not in body)
    code, hd, _ = ph.get(port, "/", "HEAD")
    c.check("HEAD /: 200", code == 200)
    c.check("POST /status.json: 405", ph.get(port, "/status.json", "POST")[0] == 405)


def check_dom(c, d, st, label):
    c.check(label + ": the page updated (state live)",
            "live" in d.ids.get("poll-state", {}).get("text", ""), d.ids.get("poll-state"))
    c.check(label + ": links up 1 of 2", (num(d, "links-up"), num(d, "links-total")) == (1, 2),
            (num(d, "links-up"), num(d, "links-total")))
    for el_id, key in (("agents", "agents"), ("streams-open", "streams_open"),
                       ("streams-total", "streams_total"), ("auth-failures", "auth_failures"),
                       ("pending", "pending")):
        c.check("%s: %s shown is linkctl status's %s" % (label, el_id, key),
                num(d, el_id) == st[key], (num(d, el_id), st[key]))
    return d


def main():
    if CHROMIUM is None:
        print("FAIL chromium is not installed (scripts/deps.sh test)")
        return 1
    c = h.Checks()
    # link_linger: the relay keeps the <script> link, whose agent came and
    # went, for the whole test (it holds only links in use, D42).
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0", "link_linger": "10m"})
    rig = ah.Rig(relay=r)
    art = os.path.join(h.BUILD, "tests", "artifacts")
    flow = None
    idle = []
    try:
        rig.start_relay()
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
        port = int(m.group(1))
        url = "http://127.0.0.1:%d/" % port
        # Agents without kept legs (D48): the page's stream counts follow
        # this test's connections one to one (a kept leg would stay open).
        lport, _ = rig.pair("echo", name="web", a_args=("--keep-legs", "0"),
                            b_args=("--keep-legs", "0"))
        # A link whose name came into the registry from elsewhere (linkctl
        # refuses such names): the page must show it as text.
        evil = r.add_link("evil")
        db = sqlite3.connect(os.path.join(r.dir, "linkrelay.db"))
        db.execute("UPDATE links SET name = ? WHERE name = 'evil'", (EVIL,))
        db.commit()
        db.close()
        r.admin("sync")
        # Its side a authenticates once and goes: the relay reads the link
        # (name included) at that AUTH and keeps it, offline, for link_linger.
        p.Session(r, evil, 0).close()
        h.wait_for(lambda: any(l["name"] == EVIL and not l["a"]["online"]
                               for l in r.admin("links")["links"]), timeout=10)
        # An auth failure, so the table has a row: a handshake of garbage.
        with socket.create_connection((r.host, r.port), timeout=5) as s:
            s.sendall(b"\x00" * 200)
            s.settimeout(5)
            try:
                s.recv(100)
            except OSError:
                pass

        check_files(c, port)
        # Bytes flowing while the page is loaded, over more than one 10 s
        # sample so the plots have a line.
        flow = Flow(lport)
        idle.append(socket.create_connection(("127.0.0.1", lport), timeout=10))
        h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 2, timeout=10)
        # A 10 s sample after the start-up one, taken while bytes flow.
        ok = h.wait_for(lambda: len(json.loads(ph.get(port, "/status.json")[2])
                                    ["history"]["t_ms"]) >= 2, timeout=30, step=0.5)
        c.check("a second history sample within 30 s", ok)
        d, _ = dump_dom(url, r.top)
        moving = r.ctl_json("status")
        c.check("while flowing: the page shows bytes moved (a→b > 0, at most the relay's now)",
                0 < num(d, "bytes-a-to-b") <= moving["bytes_a_to_b"],
                (num(d, "bytes-a-to-b"), moving["bytes_a_to_b"]))
        c.check("while flowing: streams open 2 shown", num(d, "streams-open") == 2)
        c.check("while flowing: the plots have lines",
                all(int(d.ids[x]["attrs"].get("data-points", "0")) >= 2
                    for x in ("chart-rate", "chart-streams")),
                [d.ids[x]["attrs"] for x in ("chart-rate", "chart-streams")])
        flow.stop()
        flow = None
        # Two streams open but quiet: the figures stand still.
        c.check("the flow's stream closed",
                h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 1, timeout=10))
        idle.append(socket.create_connection(("127.0.0.1", lport), timeout=10))
        c.check("two idle streams open",
                h.wait_for(lambda: r.ctl_json("status")["streams_open"] == 2, timeout=10))
        st, doc = check_json(c, r, port)

        d, raw = dump_dom(url, r.top)
        check_dom(c, d, st, "quiet")
        c.check("quiet: bytes a→b and b→a shown are linkctl status's",
                (num(d, "bytes-a-to-b"), num(d, "bytes-b-to-a")) ==
                (st["bytes_a_to_b"], st["bytes_b_to_a"]),
                ((num(d, "bytes-a-to-b"), num(d, "bytes-b-to-a")), st))
        rows = {row["cells"][0]["text"]: row for row in d.rows}
        c.check("quiet: both links have a row, by name", set(rows) == {"web", EVIL}, list(rows))
        web = rows.get("web")
        if web:
            vals = {cl["attrs"].get("class", ""): cl for cl in web["cells"]}
            c.check("quiet: web's row: both sides online, its bytes",
                    web["cells"][2]["attrs"].get("data-online") == "1" and
                    web["cells"][3]["attrs"].get("data-online") == "1" and
                    vals["num bytes-a-to-b"]["attrs"]["data-value"] == str(st["bytes_a_to_b"]),
                    web["cells"])
        c.check("the <script> name is text: no script element from it, title unchanged",
                len(d.scripts) == 1 and d.scripts[0]["attrs"].get("src") == "/page.js" and
                d.title == "linkrelay status" and "&lt;script&gt;" in raw,
                (d.title, d.scripts))
        c.check("auth failures table has the failure",
                num(d, "auth-failures") == st["auth_failures"] and st["auth_failures"] >= 1,
                (num(d, "auth-failures"), st["auth_failures"]))

        os.makedirs(art, exist_ok=True)
        shot = os.path.join(art, "status_page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        rc, _, err = chromium(url, r.top, ["--screenshot=" + shot, "--hide-scrollbars"])
        ok = rc == 0 and os.path.exists(shot) and os.path.getsize(shot) > 10000
        c.check("screenshot written", ok, "" if ok else err[-1000:])
        print("screenshot: " + shot)
    except Exception:
        rig.dump()
        raise
    finally:
        if flow is not None:
            flow.stop()
        for s in idle:
            s.close()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
