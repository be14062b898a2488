#!/usr/bin/python3
"""Steady-state gossip bytes per peer per round, digests yes against no.

Three crdtd daemons on loopback, each listing the other two (interval_ms =
1000, durability = none, log level warn), started by this script and
stopped by PID.  N keys (default 100,000: INCR k:%06d, pipelined) are
written on the first; once every replica holds all of them and one more
round has passed, each daemon's INFO gossip bytes_out and datagrams_out
are read, again after --seconds (default 10), and divided by the rounds
counted in between and by its 2 peers.  Every round also carries a PING to
each peer and a PONG back; they are in the figures.  --set N also puts an
OR-Set of N members ("big", SADD of 1,000 at a time) on the first node
first.  The CPU column is each daemon's user+system time over the window
(/proc/PID/stat) as a share of one core.  Prints a markdown table.

    bench/digest_rounds.py [--keys 100000] [--set 0] [--seconds 10] [--digests no,yes]
                           [--crdtd PATH]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402


def gossip(cl):
    return cl.info("gossip")


def cpu_seconds(node):
    with open("/proc/%d/stat" % node.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(keys, members, seconds, digests):
    conf = {"gossip": {"interval_ms": "1000", "push_delay_ms": "2", "digests": digests},
            "storage": {"durability": "none"}, "log": {"level": "warn"}}
    c = harness.Cluster(3, conf=conf)
    try:
        c.start()
        # a long timeout: loading a large set may keep a daemon busy for
        # seconds while it replicates (issue 12, "a loop that stays free")
        cls = [redis.Redis(host="127.0.0.1", port=n.port, socket_timeout=300) for n in c.nodes]
        p = cls[0].pipeline(transaction=False)
        for i in range(0, members, 1000):
            p.sadd("big", *["m%07d" % j for j in range(i, min(i + 1000, members))])
            if i % 10000 == 9000:
                p.execute()
        p.execute()
        for i in range(keys):
            p.incr("k:%06d" % i)
            if i % 10000 == 9999:
                p.execute()
        p.execute()
        want = keys + (1 if members else 0)
        harness.wait_until(lambda: all(cl.dbsize() == want and
                                       (not members or cl.scard("big") == members) for cl in cls),
                           timeout=900, step=0.5, what="every replica to hold every key")
        time.sleep(2.5)  # a round or two past convergence
        before = [gossip(cl) for cl in cls]
        cpu0 = [cpu_seconds(n) for n in c.nodes]
        t0 = time.monotonic()
        time.sleep(seconds)
        after = [gossip(cl) for cl in cls]
        cpu1 = [cpu_seconds(n) for n in c.nodes]
        wall = time.monotonic() - t0
        rows = []
        for i, (b, a) in enumerate(zip(before, after)):
            rounds = a["gossip_rounds"] - b["gossip_rounds"]
            rows.append({
                "rounds": rounds,
                "bytes": (a["bytes_out"] - b["bytes_out"]) / rounds / 2,
                "dgrams": (a["datagrams_out"] - b["datagrams_out"]) / rounds / 2,
                "digest_dgrams": (a.get("digest_datagrams_out", 0) - b.get("digest_datagrams_out", 0)) / rounds / 2,
                "sent": a.get("digest_instances_sent", 0) - b.get("digest_instances_sent", 0),
                "cpu": 100.0 * (cpu1[i] - cpu0[i]) / wall,
            })
        return rows
    finally:
        c.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--set", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--digests", default="no,yes")
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    print("| digests | node | rounds | bytes / peer / round | datagrams / peer / round | of which digest | instances sent by digest | CPU, % of a core |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for d in a.digests.split(","):
        for i, r in enumerate(run(a.keys, a.set, a.seconds, d)):
            print("| %s | n%d | %d | %.0f | %.1f | %.1f | %d | %.2f |" % (
                d, i, r["rounds"], r["bytes"], r["dgrams"], r["digest_dgrams"], r["sent"], r["cpu"]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
