#!/usr/bin/python3
"""What one SADD into a large set costs each peer: deltas yes against no.

Two crdtd daemons on loopback, each the other's peer, started by this
script and stopped by PID.  The first takes an N-element OR-Set (default
1,000,000: SADD of 1,000 members at a time, pipelined) and replicates it
with deltas (interval_ms = 600000: no rounds but the first; a CRDT.SYNC if
a lost delta keeps the second short); once the second holds every member,
both stop and start again on the same data directories with
interval_ms = 600000 (no round during the measurement; the round each
runs at start finds their digests equal) and [gossip] deltas = yes, then
again with no.  In each mode one SADD of a new member goes to the first;
the figures are the first daemon's INFO gossip datagrams_out and bytes_out
from before the SADD until its push has run and its counters have been
still for a second (its one peer: per peer), and
the second's (the ACK back).  Prints a
markdown table.

    bench/delta_cost.py [--elements 1000000] [--crdtd PATH]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402


def settle(cl, keys=("datagrams_out", "bytes_out"), quiet=1.0, timeout=120):
    """The first daemon's counters once they have not moved for @quiet s."""
    last, since = None, time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        g = cl.info("gossip")
        now = tuple(g[k] for k in keys)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return g
        time.sleep(0.05)
    raise AssertionError("gossip counters never settled")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elements", type=int, default=1000000)
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    # no rounds while loading: a digest round between a replica and one a
    # few deltas behind sends the whole (growing) set, which is the
    # catch-up cost, not the one measured here
    conf = {"gossip": {"interval_ms": "600000", "push_delay_ms": "2", "deltas": "yes"},
            "storage": {"durability": "batch"}, "log": {"level": "warn"}}
    c = harness.Cluster(2, conf=conf)
    rows = []
    try:
        c.start()
        a_cl, b_cl = (n.client() for n in c.nodes)
        for cl in (a_cl, b_cl):
            cl.connection_pool.connection_kwargs["socket_timeout"] = 300
        t0 = time.monotonic()
        p = a_cl.pipeline(transaction=False)
        for i in range(0, a.elements, 1000):
            p.sadd("big", *("member-%07d" % k for k in range(i, min(i + 1000, a.elements))))
            if i % 100000 == 99000:
                p.execute()
        p.execute()
        try:
            harness.wait_until(lambda: b_cl.scard("big") == a.elements, timeout=60, step=0.5,
                               what="the second daemon to hold the whole set")
        except AssertionError:
            a_cl.execute_command("CRDT.SYNC")
            harness.wait_until(lambda: b_cl.scard("big") == a.elements, timeout=600, step=0.5,
                               what="the second daemon to hold the whole set")
        load_s = time.monotonic() - t0
        for mode in ("yes", "no"):
            c.stop()
            for n in c.nodes:
                n.extra["gossip"].update({"interval_ms": "600000", "deltas": mode})
            c.start()
            a_cl, b_cl = (n.client() for n in c.nodes)
            want = a.elements + len(rows)  # and the member each mode before added
            harness.wait_until(lambda: a_cl.scard("big") == want and b_cl.scard("big") == want,
                               timeout=120, what="both daemons to load the set")
            before = settle(a_cl)
            back0 = settle(b_cl)
            member = "new-%s" % mode
            a_cl.sadd("big", member)
            # what the first sends for it: its push, however much that is
            harness.wait_until(lambda: a_cl.info("gossip")["gossip_pushes"] > before["gossip_pushes"],
                               timeout=120, what="the push")
            after = settle(a_cl)
            got = bool(b_cl.sismember("big", member))
            back = settle(b_cl)
            rows.append((mode, after["datagrams_out"] - before["datagrams_out"],
                         after["bytes_out"] - before["bytes_out"],
                         after.get("delta_datagrams_out", 0) - before.get("delta_datagrams_out", 0),
                         back["datagrams_out"] - back0["datagrams_out"],
                         back["bytes_out"] - back0["bytes_out"],
                         after["gossip_rounds"] - before["gossip_rounds"],
                         "yes" if got else "no (lost on the way)"))
    finally:
        c.cleanup()
    print("Set of %d elements, loaded and replicated with deltas in %.1f s." % (a.elements, load_s))
    print()
    print("| `[gossip] deltas` | datagrams to the peer | bytes to the peer | of which DELTA | datagrams back (ACK) | bytes back | rounds meanwhile | the peer has it |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print("| `%s` | %d | %d | %d | %d | %d | %d | %s |" % r)


if __name__ == "__main__":
    main()
