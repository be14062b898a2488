#!/usr/bin/env python3
"""What a client of a peer waits for while another replica takes a write storm.

Three daemons A, B, C (full mesh, durability none, interval_ms 1000).  A
holds N string keys key:000000000000.. (default 1,000,000, MSET through
its client port); B and C catch up until each holds N.  Then
redis-benchmark sends A a SET storm over the same keys (50 clients,
pipeline 16, -r N, --storm requests), and 0.5 s into it build/bench/latency
sends B 1,000 GETs a second on one connection, open-loop (each latency
counted from when the request was due), for 4 s.  B merges every write A
pushes, stores it (its journal thread) and takes part in the digest
exchanges, whose KEYS list every bucket while the storm leaves them all
differing.

Per run: B's GET p50 / p99 / max; A's SET rate (redis-benchmark's); and
from B's INFO over the storm (CONFIG RESETSTAT just before it): its longest
loop pass and that pass's gossip part, the passes that worked more than
1 ms, and recv_held (datagrams read past a pass's receive budget).  Wall
times: A, B, C, their journal threads, redis-benchmark and the latency
client share the machine's cores, so every figure also counts the time a
process waited for one.

With --crdtd-ref PATH, the runs alternate with a reference build in one
command, so load on the machine hits both alike.

    bench/peer_storm.py [--keys 1000000] [--storm 1500000] [--runs 3]
                        [--crdtd PATH] [--crdtd-ref PATH]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from gossip_rate import alternated  # noqa: E402


def one(path, n, storm, latency):
    harness.CRDTD = path
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"}, "gossip": {"interval_ms": "1000"},
            "limits": {"max_instances": str(max(1000000, 2 * n))}}
    c = harness.Cluster(3, conf=conf)
    try:
        c.start()
        A, B = c[0], c[1]
        ca, cb, cc = A.client(), B.client(), c[2].client()
        for i in range(0, n, 20000):
            ca.mset({"key:%012d" % k: "x" for k in range(i, min(n, i + 20000))})
        harness.wait_until(lambda: cb.dbsize() == n and cc.dbsize() == n, timeout=300, step=0.1,
                           what="B and C to hold every key")
        time.sleep(2)
        cb.execute_command("CONFIG", "RESETSTAT")
        bench = subprocess.Popen(["redis-benchmark", "-p", str(A.port), "-c", "50", "-P", "16", "-t", "set",
                                  "-r", str(n), "-n", str(storm), "-q"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        lat = subprocess.run([latency, "-p", str(B.port), "-r", "1000", "-t", "4", "-w", "0.2", "-R", str(n),
                              "GET", "key:__rand_int__"], capture_output=True, text=True, check=True).stdout
        info = cb.info("all")
        out = bench.communicate(timeout=600)[0]
    finally:
        c.cleanup()
    f = dict(re.findall(r"(\w+)=([\d.]+)", lat))
    rate = re.findall(r"SET: ([\d.]+) requests per second", out)
    return {"p50_ms": float(f["p50_us"]) / 1e3, "p99_ms": float(f["p99_us"]) / 1e3,
            "max_ms": float(f["max_us"]) / 1e3, "set_k": float(rate[-1]) / 1e3 if rate else 0,
            "pass_ms": info["loop_longest_pass_us"] / 1e3,
            "pass_gossip_ms": info["loop_longest_pass_gossip_us"] / 1e3,
            "over_1ms": info["loop_passes_over_1ms"], "held": info.get("recv_held", -1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--storm", type=int, default=1500000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--crdtd", default=harness.CRDTD)
    ap.add_argument("--crdtd-ref")
    ap.add_argument("--latency", default=os.path.join(TOP, "build", "bench", "latency"))
    a = ap.parse_args()
    rows = alternated(a.crdtd, a.crdtd_ref, a.runs, lambda path: one(path, a.keys, a.storm, a.latency))
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    span = lambda rs, k, d=1: ", ".join("%g" % round(r[k], d) for r in rs)  # noqa: E731
    print("B's GETs while A takes a SET storm over %d keys (medians of %d runs; the runs in brackets):" %
          (a.keys, a.runs))
    print()
    print("| build | B's GET p50 ms | p99 ms | max ms | A's SET k/s | B's longest pass ms (gossip) | "
          "B's passes > 1 ms | recv_held |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, rs in rows.items():
        print("| %s | %.2f (%s) | %.1f (%s) | %.1f | %.0f (%s) | %.1f (%.1f) (%s) | %d (%s) | %d |" %
              (k, med(rs, "p50_ms"), span(rs, "p50_ms", 2), med(rs, "p99_ms"), span(rs, "p99_ms"),
               med(rs, "max_ms"), med(rs, "set_k"), span(rs, "set_k"), med(rs, "pass_ms"),
               med(rs, "pass_gossip_ms"), span(rs, "pass_ms"), med(rs, "over_1ms"), span(rs, "over_1ms"),
               med(rs, "held")))


if __name__ == "__main__":
    main()
