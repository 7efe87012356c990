# SPDX-License-Identifier: MIT
"""Shared fixture for the metrics tests (not a test itself): HTTP GET to a
metrics listener, a parser for the Prometheus text format of our own output,
and a real Prometheus server (Debian's prometheus) in a temporary directory,
scraping given ports every second, stopped by PID in close()."""
import http.client
import json
import os
import re
import shutil
import socket
import time
import urllib.parse

import lrharness as h

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def get(port, path, method="GET", host="127.0.0.1", timeout=10):
    """(status, headers dict, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def parse(text):
    """{(name, frozenset of (label, value)): float} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise ValueError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())))


def series(ms, name):
    return {k[1]: v for k, v in ms.items() if k[0] == name}


def scrape(port):
    st, _, body = get(port, "/metrics")
    if st != 200:
        raise RuntimeError("/metrics answered %d" % st)
    return parse(body.decode())


def scrape_after(port):
    """A scrape that sees everything done before the call: the relay reuses
    a snapshot for at most METRICS_FRESH_MS (100 ms), so one made 150 ms
    ago is never served (httpd/metrics.h)."""
    time.sleep(0.15)
    return scrape(port)


class Prometheus:
    """A Prometheus server on a free 127.0.0.1 port, its config and storage
    under tmp/prom, scraping 127.0.0.1:PORT for each of ports (job "lr")
    every second."""

    def __init__(self, tmp, ports):
        self.dir = os.path.join(tmp, "prom")
        os.mkdir(self.dir)
        self.proc = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        targets = ", ".join("'127.0.0.1:%d'" % p for p in ports)
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: lr\n    static_configs:\n"
                    "      - targets: [%s]\n" % targets)
        if PROMETHEUS is None:
            return
        self.proc = h.LogProc([PROMETHEUS, "--config.file=" + os.path.join(self.dir, "prometheus.yml"),
                               "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                               "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
                              os.path.join(self.dir, "prometheus.log")).start()

    def log(self):
        return self.proc.log()[-2000:] if self.proc else "prometheus is not installed"

    def _up(self):
        try:
            return get(self.port, "/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def ready(self, timeout=30):
        return self.proc is not None and h.wait_for(lambda: self.proc.alive() and self._up(),
                                                    timeout)

    def query(self, q):
        """{sorted label tuple (without __name__ for aggregates): value text}, or None."""
        try:
            st, _, body = get(self.port, "/api/v1/query?query=" + urllib.parse.quote(q), timeout=5)
        except OSError:
            return None
        if st != 200:
            return None
        res = json.loads(body)["data"]["result"]
        return {tuple(sorted(x["metric"].items())): x["value"][1] for x in res}

    def close(self):
        if self.proc is not None:
            rc = self.proc.stop(timeout=15)
            if rc not in (0, None):
                print(self.log())
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
