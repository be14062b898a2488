#!/usr/bin/python3
"""Steady-state gossip bytes per peer per round, digests yes against no.

Three crdtd daemons on loopback, each listing the other two (interval_ms =
1000, durability = none, log level warn), started by this script and
stopped by PID.  N keys (default 100,000: INCR k:%06d, pipelined) are
written on the first; once every replica holds all of them and one more
round has passed, each daemon's INFO gossip bytes_out and datagrams_out
are read, again after --seconds (default 10), and divided by the rounds
counted in between and by its 2 peers.  Every round also carries a PING to
each peer and a PONG back; they are in the figures.  Prints a markdown
table.

    bench/digest_rounds.py [--keys 100000] [--seconds 10] [--crdtd PATH]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402


def gossip(cl):
    return cl.info("gossip")


def run(keys, seconds, digests):
    conf = {"gossip": {"interval_ms": "1000", "push_delay_ms": "2", "digests": digests},
            "storage": {"durability": "none"}, "log": {"level": "warn"}}
    c = harness.Cluster(3, conf=conf)
    try:
        c.start()
        cls = [n.client() for n in c.nodes]
        p = cls[0].pipeline(transaction=False)
        for i in range(keys):
            p.incr("k:%06d" % i)
            if i % 10000 == 9999:
                p.execute()
        p.execute()
        harness.wait_until(lambda: all(cl.dbsize() == keys for cl in cls), timeout=120,
                           step=0.2, what="every replica to hold every key")
        time.sleep(2.5)  # a round or two past convergence
        before = [gossip(cl) for cl in cls]
        time.sleep(seconds)
        after = [gossip(cl) for cl in cls]
        rows = []
        for b, a in zip(before, after):
            rounds = a["gossip_rounds"] - b["gossip_rounds"]
            rows.append({
                "rounds": rounds,
                "bytes": (a["bytes_out"] - b["bytes_out"]) / rounds / 2,
                "dgrams": (a["datagrams_out"] - b["datagrams_out"]) / rounds / 2,
                "digest_dgrams": (a.get("digest_datagrams_out", 0) - b.get("digest_datagrams_out", 0)) / rounds / 2,
                "sent": a.get("digest_instances_sent", 0) - b.get("digest_instances_sent", 0),
            })
        return rows
    finally:
        c.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    print("| digests | node | rounds | bytes / peer / round | datagrams / peer / round | of which digest | instances sent by digest |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for d in ("no", "yes"):
        for i, r in enumerate(run(a.keys, a.seconds, d)):
            print("| %s | n%d | %d | %.0f | %.1f | %.1f | %d |" % (
                d, i, r["rounds"], r["bytes"], r["dgrams"], r["digest_dgrams"], r["sent"]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
