#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""linkrelay backpressure (docs/protocol.md §6.2, docs/design.md D12): a reader
taking 1 KiB/s against a writer going as fast as it can, with the default
splice_buffer (256 KiB). The relay stops reading the writer once splice_buffer
is queued for the reader, so its memory stays bounded: RSS grows by at most
the queue (splice_buffer), the relay's shared read buffer (256 KiB, touched by
the first read) and 1 MiB of slack for the allocator and the stream's state.
A relay that kept reading would queue what the writer sends (hundreds of MiB
per second here). When the reader's direction cannot be written for
write_stall_timeout both legs are reset.
"""
import re
import subprocess
import sys
import time

import lrharness as h

DEFAULT_SPLICE_BUFFER_KIB = 256  # common/relaycfg.c, docs/linkrelay.conf.md
READ_BUFFER_KIB = 256  # RELAY_SPLICE_RBUF, relay/relay.h


def effective_splice_buffer_kib(r):
    out = subprocess.run([h.RELAY, "--state-dir", r.dir, "--check"], capture_output=True,
                         text=True, timeout=10).stdout
    m = re.search(r"^splice_buffer = (\d+)([KMG]?)$", out, re.M)
    if not m:
        return None
    return int(m.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024 * 1024}[m.group(2)]


def main():
    c = h.Checks()
    r = h.Relay(limits={"write_stall_timeout": "2s"})
    try:
        sb = effective_splice_buffer_kib(r)
        c.check("runs with the default splice_buffer (256K)", sb == DEFAULT_SPLICE_BUFFER_KIB, sb)
        bound = (sb or DEFAULT_SPLICE_BUFFER_KIB) + READ_BUFFER_KIB + 1024
        r.start()
        link = r.add_link("slow")
        h.wait_for(lambda: r.admin("links")["links"])
        rss0 = r.rss_kib()
        p = r.peer_bg(link, "pair", "--mode", "slowread", "--read-rate", "1024",
                      "--hold-ms", "20000")
        peak = rss0
        while p.poll() is None:
            peak = max(peak, r.rss_kib())
            time.sleep(0.05)
        out = p.stdout.read()
        kv = h.parse_kv(out)
        print(out)
        print("relay RSS before %d KiB, peak %d KiB (bound %d KiB)" % (rss0, peak, bound))
        c.check("RSS growth bounded (< splice_buffer + read buffer + 1 MiB)",
                peak - rss0 < bound, "%d KiB" % (peak - rss0))
        c.check("stall timeout reset both legs (ECONNRESET on each)", p.returncode == 0
                and kv.get("a.err") == "104" and kv.get("b.err") == "104", out)
        el = int(kv.get("a.err_ms", "0"))
        c.check("reset came after the stall timeout, not before", 2000 <= el < 15000, el)
        c.check("writer was throttled (sent far less than it could)",
                int(kv.get("a.sent", "0")) < 64 * 1024 * 1024, kv.get("a.sent"))
        c.check("stall logged", "write stalled" in r.log())
        st = r.status()
        c.check("stream closed", st["streams_open"] == 0)
        c.check("clean shutdown", r.stop() == 0)
        show = r.ctl_json("link", "show", "slow")
        c.check("accounted with cause timeout", show["totals"]["last_cause"] == "timeout",
                show["totals"])
    finally:
        if c.failed:
            print(r.log()[-4000:])
        r.close()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())
