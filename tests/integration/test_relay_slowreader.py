#!/usr/bin/python3
"""linkrelay backpressure (docs/protocol.md §6.2): a reader taking 1 KiB/s
against a writer going as fast as it can. The relay stops reading the writer
once splice_buffer is queued for the reader, so its memory stays bounded (RSS
grows by less than 2 MiB while the writer pushes), and when the reader's
direction cannot be written for write_stall_timeout both legs are reset.
"""
import sys
import time

import lrharness as h


def main():
    c = h.Checks()
    r = h.Relay(limits={"write_stall_timeout": "2s", "splice_buffer": "64K"})
    try:
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
        print("relay RSS before %d KiB, peak %d KiB" % (rss0, peak))
        c.check("RSS growth bounded (< 2 MiB)", peak - rss0 < 2048, "%d KiB" % (peak - rss0))
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
