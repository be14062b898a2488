#!/usr/bin/python3
"""What one step of SCAN, SSCAN and HSCAN costs, against redis-server in the
same run: a crdtd (one node, no peers) and a redis-server beside it hold the
same data, a set of N members ("s"), a hash of N fields ("h") and N string
keys; 200 steps of each scan with COUNT 10 from cursor 0; the figure is
usec_per_call from INFO commandstats (the handler's time).

    bench/scan_cost.py [N]   (default 200000)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
from redis_ref import redis_server  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000


def fill(cl):
    p = cl.pipeline(transaction=False)
    for i in range(0, N, 10000):
        p.sadd("s", *["m%07d" % j for j in range(i, i + 10000)])
        p.hset("h", mapping={"f%07d" % j: "v" for j in range(i, i + 10000)})
        p.mset({"k%07d" % j: "v" for j in range(i, i + 10000)})
    p.execute()


def calls(cl, n=200):
    cl.config_resetstat()
    for cmd in (("SSCAN", "s"), ("HSCAN", "h"), ("SCAN",)):
        cur = 0
        for _ in range(n):
            cur, _x = cl.execute_command(*cmd, cur, "COUNT", 10)
            if int(cur) == 0:
                break
    st = cl.info("commandstats")
    return {k[8:]: round(v["usec_per_call"], 1) for k, v in st.items()
            if k in ("cmdstat_sscan", "cmdstat_hscan", "cmdstat_scan")}


def main():
    c = harness.Cluster(1, mesh=False)
    with redis_server() as (r, _port):
        try:
            fill(r)
            c.start()
            cl = c[0].client()
            fill(cl)
            for _ in range(3):
                print("redis", calls(r), "crdtd", calls(cl), flush=True)
        finally:
            c.cleanup()


if __name__ == "__main__":
    main()
