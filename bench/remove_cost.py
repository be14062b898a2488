#!/usr/bin/python3
"""SREM / HDEL of single members of a large set or hash: what each delete's
merge costs the peer's loop.

Two crdtd daemons on loopback (durability none, interval_ms 1000).  A takes
a set (SADD) or a hash (HSET) of N members (default 1,000,000); once B holds
all of it, A takes 200 SREMs or HDELs of one member each, 5 ms apart; each
reaches B as a delta with no member and a context of one dot.  Reported:
B's longest loop pass over them, with its commands and gossip parts, and
B's CPU seconds.  A merge that scanned the large key per delete shows here.

    bench/remove_cost.py [--members 1000000] [--crdtd PATH]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from del_cost import loaded  # noqa: E402


def run(kind, n):
    c, ca = loaded(kind, n)
    try:
        a, b = c.nodes
        b.start()
        cb = b.client()
        size = (lambda: cb.scard("k")) if kind == "set" else (lambda: cb.hlen("k"))
        harness.wait_until(lambda: size() == n, timeout=300, step=0.2, what="B to hold it")
        time.sleep(1.5)
        cb.execute_command("CONFIG", "RESETSTAT")
        cpu0 = sum(int(x) for x in open("/proc/%d/stat" % b.proc.pid).read().split()[13:15])
        for i in range(200):
            if kind == "set":
                ca.srem("k", "m%07d" % i)
            else:
                ca.hdel("k", "f%07d" % i)
            time.sleep(0.005)
        harness.wait_until(lambda: size() == n - 200, timeout=120, step=0.01, what="B to drop them")
        cpu = sum(int(x) for x in open("/proc/%d/stat" % b.proc.pid).read().split()[13:15]) - cpu0
        s = cb.info("stats")
        return (int(s["loop_longest_pass_us"]) / 1e3, int(s["loop_longest_pass_commands_us"]) / 1e3,
                int(s["loop_longest_pass_gossip_us"]) / 1e3, cpu / os.sysconf("SC_CLK_TCK"))
    finally:
        c.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1000000)
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    print("| key | B's longest pass ms | of it commands | gossip | B's CPU s |")
    print("|---|---:|---:|---:|---:|")
    for kind in ("set", "hash"):
        print("| %s | %.1f | %.1f | %.1f | %.2f |" % ((kind,) + run(kind, a.members)))


if __name__ == "__main__":
    main()
