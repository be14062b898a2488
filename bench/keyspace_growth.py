#!/usr/bin/python3
"""The store's table growing under a client's SETs: the loop passes it holds.

One daemon (durability none, [limits] max_instances 4,000,000) takes SET
key:NNNNNNNN v for N keys (default 2,100,000) in pipelines of 20,000;
after each pipeline, INFO loop_longest_pass_us and its commands part
(then CONFIG RESETSTAT).  A pipeline whose longest pass ran one command
for more than 5 ms is printed with the key count it reached: those are
the table's growths (each a rebuild of the whole table in one call; the
table doubles past 13/16 full).  redis-server grows its dict incrementally
and has no such pass.

    bench/keyspace_growth.py [--keys 2100000] [--crdtd PATH]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=2100000)
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
        for i in range(0, a.keys, 20000):
            p = r.pipeline(transaction=False)
            for j in range(i, min(a.keys, i + 20000)):
                p.set("key:%08d" % j, "v")
            p.execute()
            s = r.info("stats")
            if int(s["loop_longest_pass_commands_us"]) > 5000:
                print("| %d | %.1f | %.1f |" % (min(a.keys, i + 20000), int(s["loop_longest_pass_us"]) / 1e3,
                                               int(s["loop_longest_pass_commands_us"]) / 1e3))
            r.execute_command("CONFIG", "RESETSTAT")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
