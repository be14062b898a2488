#!/usr/bin/python3
"""The store's table growing under a client's SETs: the loop passes it holds.

One daemon (durability none, [limits] max_instances 4,000,000) takes SET
key:NNNNNNNN v for N keys (default 2,100,000) in pipelines of --batch
(default 1,000: a pipeline's own passes stay near a millisecond); after
each 20,000 keys, INFO loop_longest_pass_us and its commands part (then
CONFIG RESETSTAT).  A step whose longest pass took more than 5 ms is
printed with the key count it reached, and at the end the longest pass of
the run and the median of the steps' longest.  The table
doubles past 13/16 full; before the incremental rehash that was a
rebuild of the whole table in one command (the commands part), now the
names move a slice a loop pass (store_rehash), as redis-server's dict
rehashes incrementally.

    bench/keyspace_growth.py [--keys 2100000] [--batch 1000] [--crdtd PATH]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=2100000)
    ap.add_argument("--batch", type=int, default=1000, help="SETs a pipeline")
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"},
            "limits": {"max_instances": "4000000"}}
    c = harness.Cluster(1, conf=conf)
    try:
        c.start()
        r = c.nodes[0].client()
        print("| keys | longest pass ms | of it, commands ms |")
        print("|---:|---:|---:|")
        longest, growth = [], []
        # the table doubles when a name takes it past 13/16 of 2^k slots
        doubles = [13 << (k - 4) for k in range(10, 30) if 13 << (k - 4) <= a.keys]
        for i in range(0, a.keys, 20000):
            for k in range(i, min(a.keys, i + 20000), a.batch):
                p = r.pipeline(transaction=False)
                for j in range(k, min(a.keys, i + 20000, k + a.batch)):
                    p.set("key:%08d" % j, "v")
                p.execute()
            s = r.info("stats")
            longest.append(int(s["loop_longest_pass_us"]) / 1e3)
            if any(i - 20000 <= d < i + 20000 for d in doubles if d >= 400000):  # the step, the next
                growth.append((min(a.keys, i + 20000), longest[-1]))
            if longest[-1] > 5:
                print("| %d | %.1f | %.1f |" % (min(a.keys, i + 20000), longest[-1],
                                               int(s["loop_longest_pass_commands_us"]) / 1e3))
            r.execute_command("CONFIG", "RESETSTAT")
        print("\nsteps where the table doubled (from 425,984 names), and the step after: "
              + ", ".join("%d: %.1f ms" % g for g in growth))
        longest.sort()
        print("longest pass of the run %.1f ms; median of the %d steps' longest %.1f ms"
              % (longest[-1], len(longest), longest[len(longest) // 2]))
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
