#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay's metrics listener (metrics_listen; docs/guide.md "Monitoring"):
  - /metrics answers the Prometheus text format (promtool check metrics
    accepts it), HEAD too; /healthz and /readyz answer 200; other paths
    404 (but the status page's, test_status_page.py), other methods 405
    with Allow;
  - the figures are the relay's own: after a transfer, the bytes each way
    are exactly what was sent and equal the admin socket's status; streams
    opened, spliced and closed by cause; an auth failure by reason;
  - per-link ph.series (metrics_per_link = on) for at most metrics_max_links
    links: at the cap minus one, the rest counted as omitted; at the cap
    (raised by SIGHUP), all of them, with the link's exact bytes;
  - hostile input: random bytes, a 64 KiB header, a 64 KiB path, half
    requests up to the per-address limit (4) and the global limit (16), one
    more refused at each, an idle half request closed after the connection
    timeout (5 s); the relay then still moves streams and serves /metrics;
  - a real Prometheus server (its own config and storage in a temporary
    directory, a free port on 127.0.0.1, scraping every second) scrapes the
    relay, and its HTTP API returns exactly the bytes the transfers moved;
  - --metrics-listen on the command line and its errors; an address in use
    fails the start with a clear message; 0.0.0.0 is warned about; [::1]
    works.
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import lrharness as h
import promharness as ph

def raw(port, data, src="127.0.0.1", wait=3.0):
    """Sends data on a fresh connection from src; returns what came back
    until the server closed or wait passed."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(wait)
    s.connect(("127.0.0.1", port))
    got = b""
    try:
        s.sendall(data)
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return got


def half(port, src):
    """A connection from src with half a request on it (slowloris)."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    return s


def refused(port, src):
    """True when a new connection from src gets no HTTP answer: closed at
    once, or left unserved for 2 s."""
    return not raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", src, 2.0).startswith(b"HTTP/")


def check_endpoints(c, port):
    st, hd, body = ph.get(port, "/metrics")
    c.check("/metrics 200, Prometheus text 0.0.4",
            st == 200 and hd.get("Content-Type", "").startswith("text/plain; version=0.0.4"), hd)
    if ph.PROMTOOL:
        r = subprocess.run([ph.PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        c.check("promtool check metrics accepts it", r.returncode == 0 and not r.stdout.strip()
                and not r.stderr.strip(), r.stdout[-2000:] + r.stderr[-2000:])
    else:
        c.check("promtool is installed (scripts/deps.sh test)", False)
    ms = ph.parse(body.decode())
    c.check("build info", ph.value(ms, "linkrelay_build_info", version="0.1.0") == 1.0
            or any(k[0] == "linkrelay_build_info" for k in ms), ph.series(ms, "linkrelay_build_info"))
    for name in ("process_open_fds", "process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_start_time_seconds", "linkrelay_registry_sync_age_seconds",
                 "linkrelay_accounting_backlog"):
        c.check("has " + name, ph.value(ms, name) is not None)
    c.check("registry read within the last 2 s",
            ph.value(ms, "linkrelay_registry_sync_age_seconds") < 2.0)
    st, hd, body = ph.get(port, "/metrics", "HEAD")
    c.check("HEAD /metrics: 200, no body", st == 200 and body == b"", (st, len(body)))
    c.check("/healthz 200 ok", ph.get(port, "/healthz")[::2] == (200, b"ok\n"))
    c.check("/readyz 200 ready", ph.get(port, "/readyz")[::2] == (200, b"ready\n"))
    st, hd, _ = ph.get(port, "/metrics", "POST")
    c.check("POST: 405, Allow: GET, HEAD", st == 405 and hd.get("Allow") == "GET, HEAD", (st, hd))
    c.check("DELETE: 405", ph.get(port, "/healthz", "DELETE")[0] == 405)
    c.check("other path: 404", ph.get(port, "/index.html")[0] == 404 and
            ph.get(port, "/metricsx")[0] == 404)
    c.check("a query string is ignored", ph.get(port, "/metrics?x=1")[0] == 200)


def check_process(c, r, t0, port):
    ms = ph.scrape(port)
    start = ph.value(ms, "process_start_time_seconds")
    # The kernel's boot time (btime) is whole seconds, cut off: the figure
    # can be up to 1 s early, never late.
    c.check("process start time: when the test started the relay",
            start is not None and t0 - 1.0 <= start <= time.time(), (start, t0))
    fds = len(os.listdir("/proc/%d/fd" % r.proc.pid))
    c.check("process open fds: what /proc lists (give or take the scrape's socket)",
            abs(ph.value(ms, "process_open_fds") - fds) <= 2, (ph.value(ms, "process_open_fds"), fds))
    with open("/proc/%d/statm" % r.proc.pid) as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    c.check("process resident memory: within 10% of /proc's",
            abs(ph.value(ms, "process_resident_memory_bytes") - rss) <= rss / 10,
            (ph.value(ms, "process_resident_memory_bytes"), rss))


def check_counts(c, r, port, links, sent):
    ms = ph.scrape_after(port)
    st = r.status()
    c.check("bytes a->b exactly what was sent, equal to status",
            ph.value(ms, "linkrelay_stream_bytes_total", direction="a_to_b") == sent[0]
            == st["bytes_a_to_b"], (ph.series(ms, "linkrelay_stream_bytes_total"), sent))
    c.check("bytes b->a exactly what was sent, equal to status",
            ph.value(ms, "linkrelay_stream_bytes_total", direction="b_to_a") == sent[1]
            == st["bytes_b_to_a"])
    opened = ph.series(ms, "linkrelay_streams_opened_total")
    c.check("one stream opened (by side a or b)", sum(opened.values()) == 1
            and set(dict(k)["side"] for k in opened) == {"a", "b"}, opened)
    c.check("one spliced, equal to status streams_total",
            ph.value(ms, "linkrelay_streams_spliced_total") == 1 == st["streams_total"])
    closed = ph.series(ms, "linkrelay_streams_closed_total")
    c.check("closed by cause: one fin, seven causes listed (quota among them)",
            ph.value(ms, "linkrelay_streams_closed_total", cause="fin") == 1
            and sum(closed.values()) == 1 and len(closed) == 7
            and ph.value(ms, "linkrelay_streams_closed_total", cause="quota") == 0, closed)
    c.check("no stream open now", ph.value(ms, "linkrelay_streams_open") == 0)
    c.check("links in the index: 3", ph.value(ms, "linkrelay_links") == 3)
    # Per-link ph.series at metrics_max_links = 2 with 3 links.
    per = ph.series(ms, "linkrelay_link_streams_spliced_total")
    names = {dict(k)["link"] for k in per}
    c.check("per-link ph.series for metrics_max_links (2) links", len(names) == 2
            and names <= {l["name"] for l in links}, names)
    c.check("per-link side ph.series for the same 2 links",
            {dict(k)["link"] for k in ph.series(ms, "linkrelay_link_session_up")} == names)
    c.check("links over the cap counted as omitted",
            ph.value(ms, "linkrelay_metrics_links_omitted") == 1)


def check_cap_reload(c, r, port, links, sent):
    n = r.log().count("configuration reloaded")
    r.write_config("info", {"metrics_listen": "127.0.0.1:0", "metrics_per_link": "on",
                            "metrics_max_links": "3"})
    r.proc.send_signal(signal.SIGHUP)
    c.check("SIGHUP reloads", h.wait_for(lambda: r.log().count("configuration reloaded") > n, 10))
    c.check("metrics_listen unchanged in effect (port 0 again is the same setting)",
            "listen addresses and paths change only on restart" not in r.log())
    ms = ph.scrape_after(port)
    per = ph.series(ms, "linkrelay_link_stream_bytes_total")
    c.check("at the cap (3 links, metrics_max_links 3): all 3, none omitted",
            {dict(k)["link"] for k in per} == {l["name"] for l in links}
            and ph.value(ms, "linkrelay_metrics_links_omitted") == 0, per)
    c.check("per-link bytes of the link that moved them, exactly",
            ph.value(ms, "linkrelay_link_stream_bytes_total", link="m1", direction="a_to_b") == sent[0]
            and ph.value(ms, "linkrelay_link_stream_bytes_total", link="m1",
                      direction="b_to_a") == sent[1]
            and ph.value(ms, "linkrelay_link_stream_bytes_total", link="m2", direction="a_to_b") == 0)
    c.check("per-link session gauges 0 (no agent online)",
            set(ph.series(ms, "linkrelay_link_session_up").values()) == {0.0})


def check_auth_failure(c, r, port):
    s = socket.create_connection((r.host, r.port), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(64))
    h.closed_now(s)
    ok = h.wait_for(lambda: ph.value(ph.scrape(port), "linkrelay_auth_failures_total",
                                  reason="preamble") == 1, 10)
    ms = ph.scrape(port)
    c.check("a bad preamble counted once, by reason", ok and sum(
        ph.series(ms, "linkrelay_auth_failures_total").values()) == 1 == r.status()["auth_failures"],
        ph.series(ms, "linkrelay_auth_failures_total"))


def check_hostile(c, r, port):
    slow = half(port, "127.0.0.7")
    t0 = time.time()
    rnd = random.Random(16)
    answers = [raw(port, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 8192))))
               for _ in range(20)]
    c.check("random bytes: answered 4xx or closed, never 200",
            all(not a.startswith(b"HTTP/1.1 200") for a in answers),
            [a[:20] for a in answers if a.startswith(b"HTTP/1.1 200")])
    big = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    c.check("a 64 KiB header: refused (4xx or closed), not served",
            not big.startswith(b"HTTP/1.1 200") and (big == b"" or big.startswith(b"HTTP/1.1 4")),
            big[:40])
    longurl = raw(port, b"GET /" + b"m" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    c.check("a 64 KiB path: refused (4xx or closed)",
            longurl == b"" or longurl.startswith(b"HTTP/1.1 4"), longurl[:40])
    # Per address: 4 half requests from 127.0.0.2, the 5th is not served;
    # another address is.
    held = [half(port, "127.0.0.2") for _ in range(4)]
    c.check("5th connection from one address (limit 4) not served", refused(port, "127.0.0.2"))
    c.check("another address is served meanwhile", ph.get(port, "/healthz")[0] == 200)
    # Globally: 16 (4 from each of 4 addresses; the slow one from .7 makes
    # 16 with 3 from .5).
    for src in ("127.0.0.3", "127.0.0.4"):
        held += [half(port, src) for _ in range(4)]
    held += [half(port, "127.0.0.5") for _ in range(3)]
    c.check("17th connection (global limit 16) not served", refused(port, "127.0.0.6")
            and refused(port, "127.0.0.1"))
    for s in held:
        s.close()
    c.check("served again once the half requests are gone",
            h.wait_for(lambda: ph.get(port, "/healthz")[0] == 200, 5))
    # The idle half request is closed by the connection timeout (5 s).
    slow.settimeout(12)
    try:
        end = slow.recv(100)
    except (socket.timeout, ConnectionResetError):
        end = None
    took = time.time() - t0
    slow.close()
    c.check("an idle half request is closed after the timeout (5 s)",
            end is not None and not end.startswith(b"HTTP/1.1 200") and 4.0 <= took <= 9.0,
            (end, round(took, 1)))


def run_prometheus(c, port, want, tmp):
    """Prometheus scrapes the relay; its API returns want bytes (a_to_b,
    b_to_a) for linkrelay_stream_bytes_total."""
    prom = ph.Prometheus(tmp, [port])
    try:
        c.check("prometheus ready", prom.ready(), prom.log())
        want_sum = str(want[0] + want[1])
        got = h.wait_for(lambda: prom.query("sum(linkrelay_stream_bytes_total)") == {(): want_sum},
                         30)
        c.check("prometheus: sum(linkrelay_stream_bytes_total) = the bytes moved", got,
                (prom.query("sum(linkrelay_stream_bytes_total)"), want_sum))
        res = prom.query('linkrelay_stream_bytes_total{direction="a_to_b"}') or {}
        c.check("prometheus: a_to_b exactly", list(res.values()) == [str(want[0])], res)
        up = prom.query('up{job="lr"}') or {}
        c.check("prometheus: the target is up", list(up.values()) == ["1"], up)
    finally:
        prom.close()


def check_guide_rules(c, tmp, port):
    """The example alert rules of docs/guide.md are valid rules over names
    the relay exports."""
    src = os.environ.get("LR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(src, "docs", "guide.md")) as f:
        guide = f.read()
    m = re.search(r"### Example alert rules\n\n```yaml\n(.*?)```", guide, re.S)
    exported = {k[0] for k in ph.scrape(port)}
    c.check("docs/guide.md lists every metric the relay exports",
            all(n in guide for n in exported), [n for n in exported if n not in guide])
    if not c.check("docs/guide.md has the example alert rules", m is not None):
        return None
    path = os.path.join(tmp, "rules.yml")
    with open(path, "w") as f:
        f.write(m.group(1))
    if ph.PROMTOOL:
        r = subprocess.run([ph.PROMTOOL, "check", "rules", path], capture_output=True, text=True,
                           timeout=30)
        c.check("promtool check rules accepts them", r.returncode == 0, r.stdout + r.stderr)
    return set(re.findall(r"\b(linkrelay_[a-z_]+)", m.group(1)))


def check_wildcard_warning(c):
    """metrics_listen on every address is allowed, with a warning."""
    r = h.Relay(extra_relay={"metrics_listen": "0.0.0.0:0"})
    try:
        r.start()
        warned = "answers on every address, without authentication" in r.log()
        c.check("metrics_listen 0.0.0.0: a warning to bind a private address", warned,
                "" if warned else r.log()[-600:])
    finally:
        r.close()


def check_ipv6(c):
    """metrics_listen on [::1] (skipped where the host has no IPv6 loopback)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        print("skip: no IPv6 loopback")
        return
    r = h.Relay(extra_relay={"metrics_listen": "[::1]:0"})
    try:
        r.start()
        m = re.search(r"metrics on http://\[::1\]:(\d+)/metrics", r.log())
        c.check("metrics_listen [::1]:0: the log names the port", m is not None,
                "" if m else r.log()[-500:])
        if m is not None:
            st, _, body = ph.get(int(m.group(1)), "/readyz", host="::1")
            c.check("metrics_listen [::1]:0: /readyz over IPv6", (st, body) == (200, b"ready\n"))
    finally:
        r.close()


def check_cli(c, tmp):
    def check(*args):
        return subprocess.run([h.RELAY, "--state-dir", tmp] + list(args) + ["--check"],
                              capture_output=True, text=True, timeout=10)
    r = check()
    c.check("off by default", r.returncode == 0 and "metrics_listen = off\n" in r.stdout)
    r = check("--metrics-listen", "127.0.0.1:9477")
    c.check("--metrics-listen sets it", r.returncode == 0
            and "metrics_listen = 127.0.0.1:9477\n" in r.stdout, r.stdout + r.stderr)
    r = check("--metrics-listen", "monitor.example:9477")
    c.check("--metrics-listen with a host name: clear error", r.returncode == 1
            and "--metrics-listen 'monitor.example:9477': a numeric IP address is required"
            in r.stderr, r.stderr)


def main():
    c = h.Checks()
    tmp = tempfile.mkdtemp(prefix="lrmetrics.")
    r = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:0", "metrics_per_link": "on",
                             "metrics_max_links": "2", "link_linger": "1h"})
    r2 = None
    try:
        check_cli(c, tmp)
        t0 = time.time()
        r.start()
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", r.log())
        c.check("the log says where metrics are served", m is not None)
        port = int(m.group(1))
        check_endpoints(c, port)
        check_process(c, r, t0, port)
        names = check_guide_rules(c, tmp, port) or set()
        exported = {k[0] for k in ph.scrape(port)}
        c.check("the rules use metrics the relay exports", names and names <= exported,
                names - exported)
        links = [r.add_link("m%d" % i) for i in (1, 2, 3)]
        # The relay holds a link once an AUTH named it (D42), for link_linger.
        for l in links[1:]:
            rc, kv, out = r.peer(l, "session", "--side", "a", "--hold-ms", "100")
            c.check("a session of %s" % l["name"], rc == 0, out[-300:])
        sent = [123457, 65432]
        rc, kv, out = r.peer(links[0], "pair", "--bytes", str(sent[0]), "--bytes-back",
                             str(sent[1]))
        c.check("transfer through the link", rc == 0, out[-500:])
        check_counts(c, r, port, links, sent)
        check_cap_reload(c, r, port, links, sent)
        check_auth_failure(c, r, port)
        check_hostile(c, r, port)
        rc, kv, out = r.peer(links[1], "pair", "--bytes", "1000000", "--bytes-back", "7")
        c.check("after the hostile input: streams still move", rc == 0, out[-500:])
        sent = [sent[0] + 1000000, sent[1] + 7]
        ms = ph.scrape_after(port)
        c.check("after the hostile input: /metrics counts them",
                ph.value(ms, "linkrelay_stream_bytes_total", direction="a_to_b") == sent[0])
        run_prometheus(c, port, sent, tmp)
        # A second relay on the same metrics port does not start, and says why.
        r2 = h.Relay(extra_relay={"metrics_listen": "127.0.0.1:%d" % port})
        try:
            r2.start()
            c.check("a metrics port in use fails the start", False)
        except RuntimeError as e:
            c.check("a metrics port in use fails the start, with the reason",
                    "metrics_listen 127.0.0.1:%d: cannot listen there" % port in str(e), str(e)[-600:])
        r2.close()
        r2 = None
        check_ipv6(c)
        check_wildcard_warning(c)
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
        if r2 is not None:
            r2.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
