#!/usr/bin/python3
"""What a MULTI/EXEC transaction costs against a plain pipeline of the same
writes (issue 13, part 4), in crdtd and in redis-server.

One crdtd (tests/integration/harness.py, [storage] durability as given) and
one redis-server (no persistence), both on loopback; --batches batches of 10
INCRs each, sent with redis-py as a pipeline and as a transaction, the two
alternated, --rounds times; the median time of each.

    bench/multi.py --crdtd build/src/daemon/crdtd --durability none

Prints one line per server and the ratios.  Daemons are stopped by PID."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402


def run(r, tx, batches):
    t = time.perf_counter()
    for _ in range(batches):
        p = r.pipeline(transaction=tx)
        for j in range(10):
            p.incr("b:%d" % j)
        p.execute()
    return time.perf_counter() - t


def measure(r, batches, rounds):
    t = {False: [], True: []}
    for _ in range(rounds):  # alternated: the machine's noise hits both alike
        for tx in (False, True):
            t[tx].append(run(r, tx, batches))
    return {tx: statistics.median(v) for tx, v in t.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crdtd", required=True)
    ap.add_argument("--durability", default="none", choices=["none", "batch", "always"])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    harness.CRDTD = os.path.abspath(args.crdtd)

    c = harness.Cluster(1, conf={"storage": {"durability": args.durability}}).start()
    try:
        crdt = measure(c[0].client(), args.batches, args.rounds)
    finally:
        c.cleanup()
    port = harness.free_port()
    d = tempfile.mkdtemp(prefix="bench-multi-")
    rs = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", d],
                          stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        harness.wait_until(lambda: r.ping(), timeout=10, what="redis-server")
        red = measure(r, args.batches, args.rounds)
    finally:
        rs.terminate()
        rs.wait()
        shutil.rmtree(d, ignore_errors=True)
    for name, m in (("crdtd", crdt), ("redis-server", red)):
        print("%s: pipeline %.3f s, transaction %.3f s, transaction/pipeline %.2f"
              % (name, m[False], m[True], m[True] / m[False]))
    print("transaction crdtd/redis-server %.2f" % (crdt[True] / red[True]))


if __name__ == "__main__":
    main()
