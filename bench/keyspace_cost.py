#!/usr/bin/python3
"""What DBSIZE and INFO cost at N keys, against redis-server in the same
run: one crdtd per build given (one node, no peers) and a redis-server
beside them hold the same N string keys (MSET in batches of 10,000); 50
calls of each, from one connection; the figure is usec_per_call from INFO
commandstats (the handler's time), and the longest wall time a call took
from the client.  Then crdtd's HTTP pages /metrics and /status, 5 GETs
each: the longest wall time (the loop serves nothing else meanwhile).

    bench/keyspace_cost.py [--keys 1000000] [--crdtd PATH]...
"""
import argparse
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
from redis_ref import redis_server  # noqa: E402


def fill(cl, n):
    p = cl.pipeline(transaction=False)
    for i in range(0, n, 10000):
        p.mset({"k%07d" % j: "v" for j in range(i, min(n, i + 10000))})
        if len(p) >= 10:
            p.execute()
    p.execute()


def calls(cl, n=50):
    cl.config_resetstat()
    longest = {}
    for cmd in (("DBSIZE",), ("INFO",), ("INFO", "keyspace")):
        worst = 0.0
        for _ in range(n):
            t0 = time.perf_counter()
            cl.execute_command(*cmd)
            worst = max(worst, time.perf_counter() - t0)
        longest[" ".join(cmd)] = round(worst * 1e6)
    st = cl.info("commandstats")
    per = {k[8:]: round(v["usec_per_call"], 1) for k, v in st.items()
           if k in ("cmdstat_dbsize", "cmdstat_info")}
    return per, longest


def pages(addr, n=5):
    worst = {}
    for path in ("/metrics", "/status"):
        w = 0.0
        for _ in range(n):
            t0 = time.perf_counter()
            urllib.request.urlopen("http://%s%s" % (addr, path), timeout=60).read()
            w = max(w, time.perf_counter() - t0)
        worst[path] = round(w * 1e6)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--crdtd", action="append")
    args = ap.parse_args()
    clusters = []
    with redis_server() as (r, _port):
        try:
            fill(r, args.keys)
            nodes = []
            for b in args.crdtd or [harness.CRDTD]:
                harness.CRDTD = b
                http = "127.0.0.1:%d" % harness.free_port()
                c = harness.Cluster(1, mesh=False, conf={"http": {"listen": http}})
                clusters.append(c)
                c.start()
                cl = c[0].client()
                fill(cl, args.keys)
                assert cl.dbsize() == args.keys
                nodes.append((b, cl, http))
            print("%d keys; usec_per_call (commandstats) and the longest call seen by the "
                  "client, in us" % args.keys)
            for _ in range(3):
                print("redis-server", *calls(r), flush=True)
                for b, cl, http in nodes:
                    print(b, *calls(cl), pages(http), flush=True)
        finally:
            for c in clusters:
                c.cleanup()


if __name__ == "__main__":
    main()
