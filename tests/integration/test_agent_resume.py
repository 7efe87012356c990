#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream resumption with the real programs (docs/protocol.md §7.3, D24).

- A bulk transfer both ways (SHA-256 checked at both ends) while linkrelay
  is killed with SIGKILL and started again, twice, in the middle of it: both
  applications' connections stay open, every byte arrives once and in
  order, nothing is reset; both agents log the resumption twice and the
  relay never learns more than it pairs. 512 MiB each way (1 GiB through
  the link) in the plain pass of scripts/test.sh (LR_PASS=plain), 24 MiB
  each way under ASan (the sanitized agents move about a tenth of it per
  second) or when run alone; LR_RESUME_MIB sets it. The kills are in the
  middle by construction: each comes once both ends have received a
  quarter (a half) of the stream, and until it has come neither sender
  writes past seven eighths (fifteen sixteenths), so the stream is
  unfinished at each kill and, as a rule, still carrying data.
- With --resume-timeout 2s and the relay down for longer: both applications
  see a reset (never a clean end), and the agents say why.
- With --resume-timeout 0 (resumption off) the relay's death resets the
  stream at once, as before resumption.
- A stalled reader while resuming: the device application reads nothing
  while the host application writes (until told to stop) and the relay is
  killed and restarted; the host agent's bytes held for replay (its metric
  linkagent_resume_buffer_bytes) reach resume_buffer (128 KiB here) and
  never pass it, and the stream resumes; a second such stream takes the
  sum to resume_buffer_total (192 KiB, less than two buffers) and never
  past it; a reload then lowers resume_buffer_total to 128 KiB, below what
  is held, and a third stream opened after it holds nothing more (a cap
  below the total once let a stream's first read through, D51's review);
  the agent's RSS grows by less than that + 8 MiB (plain build only); once
  the readers read, every byte of all three arrives.
"""
import errno
import hashlib
import os
import re
import signal
import socket
import sys
import threading
import time

import agentharness as ah
import lrharness as h
import promharness as ph

MIB = 1024 * 1024
# resume_buffer 128 KiB (the least, below what the legs, the relay and the
# kernels between them hold), for the stalled reader.
SMALL = "resume_buffer = 128KiB\nresume_buffer_total = 192KiB\n"

def total_bytes():
    """Bytes each way of the kill -9 transfer (module docstring)."""
    if os.environ.get("LR_RESUME_MIB"):
        return int(os.environ["LR_RESUME_MIB"]) * MIB
    if os.environ.get("LR_PASS") == "plain" and not h.sanitized(ah.AGENT):
        return 512 * MIB
    return 24 * MIB


TOTAL = total_bytes()
BOUND = 128 * 1024  # resume_buffer of the stalled-reader part
TOTAL_BOUND = 192 * 1024  # and its resume_buffer_total
CHUNK = 65536


def stream_of(seed, n):
    """n bytes of a repeatable pseudo-random stream, chunk by chunk."""
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    done = i = 0
    while done < n:
        b = hashlib.sha256(seed + i.to_bytes(8, "big")).digest() + block[32:]
        b = b[:min(CHUNK, n - done)]
        yield b
        done += len(b)
        i += 1


class End:
    """One application end: sends its stream, reads the peer's, hashes both."""

    def __init__(self, sock, send_seed, total, gates=()):
        self.s = sock
        self.gates = list(gates)  # (offset, Event): send no byte past offset before Event
        self.chunks = stream_of(send_seed, total)
        self.total = total
        self.got = 0
        self.h = hashlib.sha256()
        self.end = None  # "ok", "reset", "eof", "error: ..."
        self.sent_done = False
        self.send_err = None
        self.sent = 0
        self.sent_h = hashlib.sha256()  # of what was sent, for the peer's check

    def run(self):
        def sender():
            try:
                for c in self.chunks:
                    while self.gates and self.sent + len(c) > self.gates[0][0]:
                        self.gates.pop(0)[1].wait(300)
                    self.sent_h.update(c)
                    self.s.sendall(c)
                    self.sent += len(c)
                self.s.shutdown(socket.SHUT_WR)
                self.sent_done = True
            except OSError as e:
                self.send_err = e.errno
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        try:
            while True:
                b = self.s.recv(1 << 20)
                if not b:
                    self.end = "ok" if self.got == self.total else "eof"
                    break
                self.h.update(b)
                self.got += len(b)
        except ConnectionResetError:
            self.end = "reset"
        except OSError as e:
            self.end = "error: %s" % e
        t.join(5)
        # Linux reports a received RST once, to the first call that meets
        # it: when that was the sender's, recv then reads a plain EOF.
        if self.end == "eof" and self.send_err in (errno.ECONNRESET, errno.EPIPE):
            self.end = "reset"


def check_transfer(c, ea, eb, ta, tb, agents=()):
    """Waits for a start_transfer's two ends and checks that each got every
    byte the other sent (SHA-256) and a clean end; with agents (a, b), that
    the stream resumed at both and neither reset it."""
    ta.join(300)
    tb.join(300)
    c.check("host end: every byte, clean end", ea.end == "ok", (ea.end, ea.got))
    c.check("device end: every byte, clean end", eb.end == "ok", (eb.end, eb.got))
    c.check("host end: SHA-256 of what arrived is what the device sent",
            ea.h.hexdigest() == eb.sent_h.hexdigest())
    c.check("device end: SHA-256 of what arrived is what the host sent",
            eb.h.hexdigest() == ea.sent_h.hexdigest())
    if agents:
        a, b = agents
        c.check("the stream resumed at both agents",
                "stream resumed on a new leg" in a.log()
                and "stream resumed on a new leg" in b.log(), (a.log()[-3000:], b.log()[-3000:]))
        c.check("no reset in either agent", "resetting" not in a.log() + b.log())


def start_transfer(lport, srv_sock_box, total, gates=()):
    cli = socket.create_connection(("127.0.0.1", lport), timeout=120)
    srv = srv_sock_box.accept()
    a = End(cli, b"host", total, gates)
    b = End(srv, b"device", total, gates)
    ta = threading.Thread(target=a.run, daemon=True)
    tb = threading.Thread(target=b.run, daemon=True)
    ta.start()
    tb.start()
    return a, b, ta, tb


class Target:
    """The device's service: a listening socket, accepted by the test."""

    def __init__(self, rcvbuf=None):
        self.ls = socket.socket()
        if rcvbuf:  # a small window: a reader that does not read stalls soon
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.ls.settimeout(30)
        self.port = self.ls.getsockname()[1]

    def accept(self):
        s, _ = self.ls.accept()
        s.settimeout(120)
        return s

    def close(self):
        self.ls.close()


def agents(rig, tgt, extra):
    out = rig.link("res%d" % len(rig.agents))
    lport = ah.free_port()
    b = rig.agent("b%d" % len(rig.agents), out["tokens"]["b"], "--connect",
                  "127.0.0.1:%d" % tgt.port, *extra)
    a = rig.agent("a%d" % len(rig.agents), out["tokens"]["a"], "--listen",
                  "127.0.0.1:%d" % lport, *extra)
    ok = a.wait_log("online via relay") and b.wait_log("online via relay") and \
        h.wait_for(lambda: "peer online" in a.log() or "peer online" in b.log(), timeout=5)
    if not ok:
        raise RuntimeError("agents did not come online")
    time.sleep(0.3)
    return a, b, lport


def stalled_reader(c, rig, r, tgt):
    out = rig.link("stall")
    lport = ah.free_port()
    b = rig.conf_agent("stall-b", out["tokens"]["b"], "connect = 127.0.0.1:%d" % tgt.port,
                       extra=SMALL)
    a = rig.conf_agent("stall-a", out["tokens"]["a"], "listen = 127.0.0.1:%d" % lport,
                       extra=SMALL)
    c.check("stall: agents online", a.wait_log("online via relay") and b.wait_log("online via relay")
            and h.wait_for(lambda: "peer online" in a.log() + b.log(), timeout=5))
    port = ah.metrics_port(a)
    rss0 = ah.rss_kib(a.proc.pid)
    # Two streams whose device application reads nothing. Each host
    # application writes until told to stop, so whatever the agents and the
    # kernel buffers absorb, there is always more to read into the replay
    # buffers: the bounds are reached by construction (a fixed 4 MiB could
    # all be absorbed, leaving a buffer short of it).
    stop = threading.Event()
    conns = []

    def send_until_stopped(k):
        cli, sent = conns[k]["cli"], conns[k]["sent"]
        for chunk in stream_of(b"stall%d" % k, 1 << 40):
            if stop.is_set():
                return
            cli.sendall(chunk)
            sent["n"] += len(chunk)
            sent["sha"].update(chunk)

    def open_stalled():
        k = len(conns)
        cli = socket.create_connection(("127.0.0.1", lport), timeout=60)
        conns.append({"cli": cli, "srv": tgt.accept(),
                      "sent": {"n": 0, "sha": hashlib.sha256()}})
        conns[k]["sender"] = threading.Thread(target=send_until_stopped, args=(k,), daemon=True)
        conns[k]["sender"].start()
    held = []

    def sample():
        v = ph.value(ph.scrape(port), "linkagent_resume_buffer_bytes")
        held.append(v if v is not None else -1)
        return v

    # One stream flowing, then the relay dies: while it is suspended the
    # agent keeps reading the application into the replay buffer, up to
    # resume_buffer and no further (with a leg, the leg's write queue stops
    # it earlier).
    open_stalled()
    h.wait_for(lambda: (sample() or 0) > 0, timeout=20, step=0.05)
    r.proc.kill()
    r.proc.wait()
    r.proc = None
    h.wait_for(lambda: (sample() or 0) >= BOUND, timeout=15, step=0.05)
    for _ in range(10):
        sample()
        time.sleep(0.05)
    c.check("stall: one stream's bytes held reached resume_buffer and never passed it",
            held and max(held) == BOUND, (max(held), len(held)))
    r.start()
    c.check("stall: resumed with the reader stalled",
            a.wait_log("stream resumed on a new leg", timeout=20))
    # A second stalled stream: the two together stop at resume_buffer_total,
    # less than two resume_buffers.
    open_stalled()
    h.wait_for(lambda: (sample() or 0) >= TOTAL_BOUND, timeout=20, step=0.05)
    for _ in range(10):
        sample()
        time.sleep(0.05)
    c.check("stall: two streams' bytes held reached resume_buffer_total and never passed it",
            held and max(held) == TOTAL_BOUND, (max(held), len(held)))
    # A reload lowers resume_buffer_total below what is held: a third
    # stalled stream, opened after it, reads nothing into its replay buffer
    # (the agent-wide room is 0, not the wrapped difference of a cap below
    # the total); it reads once the others' ACKs made room, at the end.
    path = os.path.join(rig.tmp, "stall-a.conf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("resume_buffer_total = 192KiB", "resume_buffer_total = 128KiB"))
    reloads = a.count("reloaded ")
    a.proc.send_signal(signal.SIGHUP)
    c.check("stall: a reloaded with resume_buffer_total 128 KiB, below what it holds",
            a.wait_log("reloaded ", n=reloads + 1))
    open_stalled()
    for _ in range(20):
        sample()
        time.sleep(0.05)
    c.check("stall: a stream opened after the reload held nothing more",
            max(held) == TOTAL_BOUND and held[-1] == TOTAL_BOUND, (max(held), held[-1]))
    if not h.sanitized(ah.AGENT):  # ASan's shadow and quarantine are not the agent's
        grew = ah.rss_kib(a.proc.pid) - rss0
        print("stall: host agent RSS grew %d KiB with %d KiB held" % (grew, TOTAL_BOUND // 1024))
        # Bounded, not a measure of it: besides the bytes held, each stream's
        # session and write queues (pump.h: about 0.4 MiB) and the
        # allocator's own; an agent that did not stop reading would have
        # taken in hundreds of MiB while the writers wrote.
        c.check("stall: the host agent's memory grew by less than resume_buffer_total + 8 MiB",
                grew < TOTAL_BOUND // 1024 + 8192, grew)
    # The readers read; the writers stop after their current chunk and
    # half-close (FINAL: its ACK frees the last bytes); every byte each sent
    # arrives, then the end.
    stop.set()

    def read_to_end(k):
        srv, got = conns[k]["srv"], conns[k]["got"]
        while True:
            chunk = srv.recv(1 << 20)
            if not chunk:
                return
            got["sha"].update(chunk)
            got["n"] += len(chunk)
    for k, x in enumerate(conns):
        x["got"] = {"n": 0, "sha": hashlib.sha256()}
        x["srv"].settimeout(60)
        x["reader"] = threading.Thread(target=read_to_end, args=(k,), daemon=True)
        x["reader"].start()
    for x in conns:
        x["sender"].join(60)
        x["cli"].shutdown(socket.SHUT_WR)
    for k, x in enumerate(conns):
        x["reader"].join(60)
        c.check("stall: stream %d: every byte once the reader reads" % k,
                not x["sender"].is_alive() and not x["reader"].is_alive()
                and x["got"]["n"] == x["sent"]["n"]
                and x["got"]["sha"].digest() == x["sent"]["sha"].digest(),
                (x["got"]["n"], x["sent"]["n"]))
    h.wait_for(lambda: sample() == 0, timeout=10)
    c.check("stall: nothing held once everything is acknowledged", held[-1] == 0, held[-1])
    for x in conns:
        x["cli"].close()
        x["srv"].close()
    for ag in (a, b):
        c.check("stall: agent %s stops with 0" % ag.name, ag.stop() == 0)


def resumptions(ag):
    """How many resumptions the agent logged, counting those a summary line
    stands for ("stream resumed on a new leg (N more streams like this ...")."""
    log = ag.log()
    more = [int(m) for m in re.findall(r"stream resumed on a new leg \((\d+) more streams", log)]
    return log.count("stream resumed on a new leg") - len(more) + sum(more)


def kill_restart(r, down_s=0.5):
    r.proc.kill()
    r.proc.wait()
    r.proc = None
    time.sleep(down_s)
    r.start()


def main():
    c = h.Checks()
    rig = ah.Rig(fixed_port=True)
    tgt = Target()
    try:
        r = rig.start_relay()

        # 1. kill -9 twice in the middle of a transfer: intact, no reset.
        a, b, lport = agents(rig, tgt, [])
        killed = [threading.Event(), threading.Event()]
        gates = [(TOTAL * 7 // 8, killed[0]), (TOTAL * 15 // 16, killed[1])]
        t0 = time.time()
        ea, eb, ta, tb = start_transfer(lport, tgt, TOTAL, gates)
        try:
            for k, frac in enumerate((4, 2)):
                # After the first kill: once resumed, and half way through.
                h.wait_for(lambda: a.count("stream resumed on a new leg") >= k
                           and b.count("stream resumed on a new leg") >= k
                           and ea.got >= TOTAL // frac and eb.got >= TOTAL // frac,
                           timeout=300, step=0.01)
                # The gates hold both senders short of the end until now.
                mid = ea.sent < TOTAL and eb.sent < TOTAL
                kill_restart(r)
                c.check("relay killed mid-transfer (%d)" % (k + 1), mid,
                        (ea.got, eb.got, ea.sent, eb.sent))
                killed[k].set()
        finally:
            for e in killed:  # a failed wait must not leave a sender held
                e.set()
        check_transfer(c, ea, eb, ta, tb)
        print("kill -9 transfer: %d MiB each way in %.1f s" % (TOTAL // MIB, time.time() - t0),
              flush=True)
        c.check("no reset in either agent", "resetting" not in a.log() + b.log())
        for x in (ea, eb):
            x.s.close()
        for ag in (a, b):
            c.check("agent %s stops with 0" % ag.name, ag.stop() == 0)
        # After the stop: a line repeated within seconds is held back and
        # summed up ("N more streams like this", agent/streamlog.c), and the
        # sum is written at the latest when the agent stops.
        c.check("both agents resumed the stream twice",
                resumptions(a) == 2 and resumptions(b) == 2, (resumptions(a), resumptions(b)))

        # 2. Down for longer than resume_timeout: both ends see a reset.
        a, b, lport = agents(rig, tgt, ["--resume-timeout", "2s"])
        ea, eb, ta, tb = start_transfer(lport, tgt, 1 << 40)
        h.wait_for(lambda: ea.got > 1 << 20 and eb.got > 1 << 20, timeout=30, step=0.01)
        kill_restart(r, down_s=5)  # the reset not before resume_timeout: test_resume_expire_netns
        ta.join(30)
        tb.join(30)
        c.check("resume_timeout: host application sees a reset", ea.end == "reset", ea.end)
        c.check("resume_timeout: device application sees a reset", eb.end == "reset", eb.end)
        c.check("resume_timeout: the agents say why",
                a.wait_log("not resumed within resume_timeout", timeout=5)
                and b.wait_log("not resumed within resume_timeout", timeout=5))
        for x in (ea, eb):
            x.s.close()
        for ag in (a, b):
            c.check("agent %s stops with 0" % ag.name, ag.stop() == 0)

        # 3. Resumption off: the relay's death resets the stream at once.
        a, b, lport = agents(rig, tgt, ["--resume-timeout", "0"])
        ea, eb, ta, tb = start_transfer(lport, tgt, 1 << 40)
        h.wait_for(lambda: ea.got > 1 << 20 and eb.got > 1 << 20, timeout=30, step=0.01)
        t0 = time.time()
        r.proc.kill()
        r.proc.wait()
        r.proc = None
        ta.join(20)
        tb.join(20)
        c.check("resume_timeout 0: host application sees a reset at once",
                ea.end == "reset" and time.time() - t0 < 10, (ea.end, time.time() - t0))
        c.check("resume_timeout 0: device application sees a reset", eb.end == "reset", eb.end)
        c.check("resume_timeout 0: no resumption tried", "suspended" not in a.log() + b.log())
        for x in (ea, eb):
            x.s.close()
        r.start()

        # 4. A stalled reader while resuming: the bound holds.
        small = Target(rcvbuf=32768)
        try:
            stalled_reader(c, rig, r, small)
        finally:
            small.close()
    finally:
        if c.failed:
            rig.dump()
        tgt.close()
        rig.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
