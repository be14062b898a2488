#!/usr/bin/python3
"""A second catch-up of a large set to another empty peer: what the sender
pays when it has cut the set once already (docs/protocol.md, "The piece
cache").

Daemon A holds one OR-Set of N elements (default 1,000,000), loaded through
its client port with no peer up.  B starts empty and catches up by A's paced
catch-up until A's CRDT.PEERS says B is in sync; B then stops (so that only
A sends).  C, another empty peer, then starts: the clock runs from C's start
until C's SCARD is N and A finds C in sync, and A's CPU (user + system) over
the same span is the sender's cost of the second catch-up; A's INFO gossip
piece_cache_hits and piece_cache_misses over it say what was sent from the
cache and what was cut.

With --writes K, A takes K SREMs of members spread over the set and K
SADDs of new members between the two catch-ups (C still ends with N): the
cache then cuts again only the pieces those writes reached.

Two settings of A alternate in one command, so load on the machine hits
both alike: [gossip] piece_cache_bytes = 0 (no cache: every catch-up cuts
the set again, as before the cache) and the default (64 MiB).  With
--crdtd-ref PATH the first row is that binary instead (main's build).

    bench/catchup_second.py [--elements 1000000] [--writes 0] [--runs 3] [--crdtd PATH] [--crdtd-ref PATH]
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


def peer(ca, name):
    for p in ca.execute_command("CRDT.PEERS"):
        d = dict(zip(p[::2], p[1::2]))
        if d.get(b"name", b"").decode() == name:
            return d
    raise KeyError(name)


def synced(ca, name):
    p = peer(ca, name)
    return p.get(b"in_sync") == 1 and p.get(b"catching_up") == 0


def one(path, n, cache, writes):
    harness.CRDTD = path
    gsect = {"interval_ms": "200"}
    if cache is not None:
        gsect["piece_cache_bytes"] = cache
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"}, "gossip": gsect}
    c = harness.Cluster(3, conf=conf)
    try:
        A, B, C = c[0], c[1], c[2]
        ca = start_loaded(A, n)
        t0 = time.monotonic()
        B.start()
        cb = B.client()
        harness.wait_until(lambda: cb.scard("s") == n, timeout=600, step=0.01, what="B to hold the set")
        harness.wait_until(lambda: synced(ca, B.name), timeout=300, step=0.02, what="A to find B in sync")
        first = time.monotonic() - t0
        B.stop()
        for i in range(writes):
            assert ca.srem("s", "e%07d" % ((i * 7919 + 13) % n)) == 1
            assert ca.sadd("s", "new%07d" % i) == 1
        g0 = gossip(ca)
        ua0 = cpu_s(A.proc.pid)
        t1 = time.monotonic()
        C.start()
        cc = C.client()
        harness.wait_until(lambda: cc.scard("s") == n, timeout=600, step=0.005, what="C to hold the set")
        harness.wait_until(lambda: synced(ca, C.name), timeout=300, step=0.005, what="A to find C in sync")
        t2 = time.monotonic()
        ua1 = cpu_s(A.proc.pid)
        g1 = gossip(ca)
    finally:
        c.cleanup()
    d = lambda k: g1.get(k, 0) - g0.get(k, 0)
    return {"first_s": first, "s": t2 - t1, "cpu_a": ua1 - ua0, "dgrams": d("catchup_datagrams_out"),
            "hits": d("piece_cache_hits"), "misses": d("piece_cache_misses"),
            "drops": g1.get("piece_cache_drops", 0),
            "bytes": g1.get("piece_cache_bytes", 0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=1000000)
    ap.add_argument("--writes", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crdtd", default=harness.CRDTD)
    ap.add_argument("--crdtd-ref")
    a = ap.parse_args()
    path = os.path.abspath(a.crdtd)
    if a.crdtd_ref:
        builds = {"reference build": (os.path.abspath(a.crdtd_ref), None)}
    else:
        builds = {"piece_cache_bytes = 0": (path, "0")}
    builds["piece cache (default)"] = (path, None)
    rows = {k: [] for k in builds}
    for _ in range(a.runs):  # alternated
        for k, (p, cache) in builds.items():
            rows[k].append(one(p, a.elements, cache, a.writes))
            print(k, rows[k][-1], file=sys.stderr)
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print("Second catch-up of an OR-Set of %d elements from A to another empty peer C, %d SREM + %d SADD "
          "between (medians of %d runs):" % (a.elements, a.writes, a.writes, a.runs))
    print()
    print("| A | first catch-up (to B) | second (to C): time to in sync | CPU at A | pieces sent | "
          "from the cache | cut | dropped by the writes | cache bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, rs in rows.items():
        print("| %s | %.2f s | %.2f s | %.2f s | %d | %d | %d | %d | %d |" %
              (k, med(rs, "first_s"), med(rs, "s"), med(rs, "cpu_a"), med(rs, "dgrams"), med(rs, "hits"),
               med(rs, "misses"), med(rs, "drops"), med(rs, "bytes")))
    ks = list(rows)
    print()
    print("Ratios %s / %s (medians): time %.2f, CPU at A %.2f" %
          (ks[1], ks[0], med(rows[ks[1]], "s") / med(rows[ks[0]], "s"),
           med(rows[ks[1]], "cpu_a") / med(rows[ks[0]], "cpu_a")))


if __name__ == "__main__":
    main()
