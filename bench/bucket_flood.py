#!/usr/bin/env python3
"""Names chosen to fall in one digest bucket, against names that do not.

A digest round compares 4,096 bucket sums (gossip/digest.h); a bucket that
differs costs its members: their keys go in KEYS datagrams, and the peer
compares them with its own.  The bucket is the top 12 bits of a hash of the
name that every replica must compute alike, so it cannot be keyed: a client
finds names of one bucket by trying, one in 4,096 (build/bench/bucket_names).

Two daemons on loopback with [gossip] deltas = no (so that every write goes
by the digest rounds: the mode where a bucket differs at each round that
follows a write; with deltas on, a peer restarting or back from a
partition goes the same way), interval_ms 200, [keyspace] reclaim_after 1.
For each kind of names (random: the first N of bench/bucket_names -1;
crafted: N of one bucket), in that order:

  load     A takes N SETs (pipelined), and B receives them by the rounds;
           the time until B holds N keys and A's CRDT.PEERS says in sync.
  exchange CONFIG RESETSTAT on both, then K SETs of the N names on A while
           A is cut off from B (CRDT.SIM PARTITION: their pushes are lost),
           then CRDT.SIM HEAL; the time until B holds the K new values and they are in sync again,
           each daemon's CPU meanwhile, and its longest single call into its
           gossip core (INFO gossip_longest_call_us): the longest a client
           of it waited behind the exchange.
  del      A DELs the N names (pipelined); the time until both hold no key
           and have reclaimed every name (INFO names_reclaimed), and each
           daemon's CPU meanwhile.

    bench/bucket_flood.py [-n N] [-k K] [--runs R] [--crdtd PATH]

Prints one line a run and kind, then the medians and crafted / random.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
from gossip_rate import cpu_s, gossip  # noqa: E402
from catchup import in_sync  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def names(tool, n, crafted):
    out = subprocess.run([tool, str(n), "0" if crafted else "-1", "b:"], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def pipelined(cl, cmds, batch=1000):
    for i in range(0, len(cmds), batch):
        p = cl.pipeline(transaction=False)
        for c in cmds[i:i + batch]:
            p.execute_command(*c)
        p.execute()


def one(ns, k):
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"},
            "gossip": {"interval_ms": "200", "deltas": "no"},
            "simulation": {"enabled": "yes"}, "keyspace": {"reclaim_after": "1"}}
    c = harness.Cluster(2, conf=conf)
    try:
        c.start()
        A, B = c[0], c[1]
        ca, cb = A.client(), B.client()
        t0 = time.monotonic()
        pipelined(ca, [("SET", x, "v") for x in ns])
        harness.wait_until(lambda: cb.dbsize() == len(ns) and in_sync(ca), timeout=300, step=0.01,
                           what="B to hold the names, in sync")
        load = time.monotonic() - t0

        for cl in (ca, cb):
            cl.execute_command("CONFIG", "RESETSTAT")
        a0, b0 = cpu_s(A.proc.pid), cpu_s(B.proc.pid)
        t0 = time.monotonic()
        ca.execute_command("CRDT.SIM", "PARTITION", B.name)  # the writes' pushes lost
        pipelined(ca, [("SET", x, "w") for x in ns[:k]])
        time.sleep(0.05)  # past their push
        ca.execute_command("CRDT.SIM", "HEAL")
        harness.wait_until(lambda: all(v == b"w" for v in cb.mget(ns[:k])) and in_sync(ca), timeout=300,
                           step=0.01, what="B to hold the new values, in sync")
        ex = time.monotonic() - t0
        ex_cpu = (cpu_s(A.proc.pid) - a0, cpu_s(B.proc.pid) - b0)
        longest = (gossip(ca).get("gossip_longest_call_us", -1000) / 1000,
                   gossip(cb).get("gossip_longest_call_us", -1000) / 1000)

        r0 = [cl.info("stats").get("names_reclaimed", 0) for cl in (ca, cb)]
        a0, b0 = cpu_s(A.proc.pid), cpu_s(B.proc.pid)
        t0 = time.monotonic()
        pipelined(ca, [("DEL", x) for x in ns])
        harness.wait_until(lambda: ca.dbsize() == 0 and cb.dbsize() == 0 and
                           all(cl.info("stats").get("names_reclaimed", 0) - r >= len(ns)
                               for cl, r in zip((ca, cb), r0)),
                           timeout=600, step=0.05, what="both to reclaim the names")
        dl = time.monotonic() - t0
        dl_cpu = (cpu_s(A.proc.pid) - a0, cpu_s(B.proc.pid) - b0)
    finally:
        c.cleanup()
    return {"load_s": load, "ex_s": ex, "ex_cpu_a": ex_cpu[0], "ex_cpu_b": ex_cpu[1],
            "ex_call_a_ms": longest[0], "ex_call_b_ms": longest[1],
            "del_s": dl, "del_cpu_a": dl_cpu[0], "del_cpu_b": dl_cpu[1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crdtd", default=os.path.join(TOP, "build", "src", "daemon", "crdtd"))
    ap.add_argument("--tool", default=os.path.join(TOP, "build", "bench", "bucket_names"))
    args = ap.parse_args()
    harness.CRDTD = os.path.abspath(args.crdtd)
    sets = {"random": names(args.tool, args.n, False), "crafted": names(args.tool, args.n, True)}
    res = {kind: [] for kind in sets}
    for r in range(args.runs):
        for kind, ns in sets.items():
            x = one(ns, args.k)
            res[kind].append(x)
            print("run %d %s: %s" % (r + 1, kind, " ".join("%s=%.3f" % kv for kv in x.items())), flush=True)
    cols = list(res["random"][0])
    med = {kind: {col: statistics.median(x[col] for x in res[kind]) for col in cols} for kind in res}
    print("\n%d names, %d of them written again, medians of %d runs (%s)\n" % (args.n, args.k, args.runs, args.crdtd))
    print("| names | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for kind in res:
        print("| %s | " % kind + " | ".join("%.3f" % med[kind][col] for col in cols) + " |")
    print("| crafted / random | " + " | ".join(
        "%.1f" % (med["crafted"][col] / med["random"][col]) if med["random"][col] > 0 else "-" for col in cols) + " |")


if __name__ == "__main__":
    main()
