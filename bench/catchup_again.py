#!/usr/bin/python3
"""A second catch-up of a large set to a peer that already holds it: what
the receiver pays for pieces that bring nothing (docs/protocol.md,
"Catch-up", the summary).

Daemon A holds one OR-Set of N elements (default 1,000,000), loaded through
its client port; B starts empty and catches up by A's paced catch-up until
A's CRDT.PEERS says B is in sync.  Then A isolates itself (CRDT.SIM
ISOLATE) until B is down for it (three unanswered rounds at interval_ms
200), and heals: B is back from down, so A sends it the full state again,
every piece, to a B that already holds every element.  The clock runs from
the heal until A's catch-up to B is over and B is in sync again; B's CPU
over the same span, and B's INFO gossip merges and pieces_no_news.

With --crdtd-ref PATH, the same runs alternate with a reference build
(main's binary) in one command, so load on the machine hits both alike.

    bench/catchup_again.py [--elements 1000000] [--runs 3] [--crdtd PATH] [--crdtd-ref PATH]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from gossip_rate import cpu_s, gossip, start_loaded  # noqa: E402


def peer(ca):
    for p in ca.execute_command("CRDT.PEERS"):
        return dict(zip(p[::2], p[1::2]))
    return {}


def one(path, n):
    harness.CRDTD = path
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"}, "gossip": {"interval_ms": "200"},
            "simulation": {"enabled": "yes"}}
    c = harness.Cluster(2, conf=conf)
    try:
        A, B = c[0], c[1]
        ca = start_loaded(A, n)
        t0 = time.monotonic()
        B.start()
        cb = B.client()
        harness.wait_until(lambda: cb.scard("s") == n, timeout=600, step=0.01, what="B to hold the set")
        harness.wait_until(lambda: peer(ca).get(b"in_sync") == 1 and peer(ca).get(b"catching_up") == 0,
                           timeout=300, step=0.05, what="A to find B in sync")
        first = time.monotonic() - t0
        # B down for A, then back: the full state again
        ca.execute_command("CRDT.SIM", "ISOLATE")
        time.sleep(1.5)
        g0, gb0 = gossip(ca), gossip(cb)
        ub0 = cpu_s(B.proc.pid)
        t1 = time.monotonic()
        ca.execute_command("CRDT.SIM", "HEAL")
        harness.wait_until(lambda: gossip(ca).get("catchup_datagrams_out", 0) >
                           g0.get("catchup_datagrams_out", 0), timeout=60, step=0.005,
                           what="A to send B the full state again")
        harness.wait_until(lambda: peer(ca).get(b"catching_up") == 0 and peer(ca).get(b"in_sync") == 1,
                           timeout=300, step=0.005, what="the second catch-up to end")
        t2 = time.monotonic()
        ub1 = cpu_s(B.proc.pid)
        g1, gb1 = gossip(ca), gossip(cb)
        assert cb.scard("s") == n
    finally:
        c.cleanup()
    d = lambda a, b, k: b.get(k, 0) - a.get(k, 0)
    return {"first_s": first, "s": t2 - t1, "cpu_b": ub1 - ub0,
            "dgrams": d(g0, g1, "catchup_datagrams_out"), "merges": d(gb0, gb1, "merges"),
            "no_news": d(gb0, gb1, "pieces_no_news")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crdtd", default=harness.CRDTD)
    ap.add_argument("--crdtd-ref")
    a = ap.parse_args()
    builds = {"this build": os.path.abspath(a.crdtd)}
    if a.crdtd_ref:
        builds = {"reference": os.path.abspath(a.crdtd_ref), **builds}
    rows = {k: [] for k in builds}
    for _ in range(a.runs):  # alternated
        for k, path in builds.items():
            rows[k].append(one(path, a.elements))
            print(k, rows[k][-1], file=sys.stderr)
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print("Second catch-up of an OR-Set of %d elements from A to a B that holds it (medians of %d runs):" %
          (a.elements, a.runs))
    print()
    print("| build | first catch-up | second: time to in sync | CPU at B | pieces sent | B merges | B pieces_no_news |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, rs in rows.items():
        print("| %s | %.2f s | %.2f s | %.3f s | %d | %d | %d |" %
              (k, med(rs, "first_s"), med(rs, "s"), med(rs, "cpu_b"), med(rs, "dgrams"), med(rs, "merges"),
               med(rs, "no_news")))
    if a.crdtd_ref:
        print()
        print("Ratios this build / reference (medians): time %.2f, CPU at B %.2f" %
              (med(rows["this build"], "s") / med(rows["reference"], "s"),
               med(rows["this build"], "cpu_b") / med(rows["reference"], "cpu_b")))


if __name__ == "__main__":
    main()
