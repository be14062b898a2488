#!/usr/bin/python3
"""One connection's write latency while another connection writes at a
steady rate: what a client waits behind the daemon's own storage work
(LMDB's commit every batch_ms, the log's appends), against redis-server
taking the same load in the same run.

Each run starts the daemons fresh: --nodes crdtd daemons on loopback (full
mesh, [gossip] interval_ms 1000, the given durability and [storage]
batch_ms, default 100 as the default config), and redis-server with the
matching persistence (none: appendfsync no; batch: everysec; always:
always) and, when --nodes is more than 1, that many less replicas of its own
(replicaof, the same persistence): the same work as crdtd's replicas, on
the same cores.  Each is loaded with `redis-benchmark -P 16 -n 2*KEYS -r KEYS SET`
(about KEYS keys) and left 2 s.  Then build/bench/latency sends --rate
SETs a second of random keys on one connection (the background load) and,
from 1 s later, 1,000 INCRBYs a second on another for --seconds (the
measure), both open-loop: each latency counts from when the request was
due, so a stall is charged to every request behind it.  INFO of the first
crdtd is read after the measure (CONFIG RESETSTAT just before it): its
longest loop pass, the passes over 1 ms, and commit_overlaps (the groups
its loop logged while LMDB committed, docs/storage.md).

With --crdtd A --crdtd B the builds alternate run by run with
redis-server (A B redis A B redis ...); the summary gives, per server, the
medians of the runs' p50, p99, p99.9 and max.

    bench/write_latency.py [--crdtd PATH]... [--nodes 1] [--durability none]
                           [--batch-ms 100] [--keys 100000] [--rate 5000]
                           [--seconds 10] [--runs 3]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import storm  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LAT = os.path.join(TOP, "build", "bench", "latency")


def parse(out):
    return {k: float(v) for k, v in (x.split("=") for x in out.split())}


def measure(a, port):
    """The background SETs and the measured INCRBYs, both open-loop."""
    bg = subprocess.Popen([LAT, "-p", str(port), "-r", str(a.rate), "-t", str(a.seconds + 2),
                           "SET", "key:__rand_int__", "v"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    out = subprocess.run([LAT, "-p", str(port), "-r", "1000", "-t", str(a.seconds),
                          "INCRBY", "counter", "1"], capture_output=True, text=True, check=True).stdout
    return parse(out), parse(bg.communicate()[0])


def linked(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "replication"], capture_output=True,
                         text=True).stdout
    return "master_link_status:up" in out


def one_run(a, build):
    c = rdir = None
    rprocs = []
    try:
        if build == "redis":
            rdir = tempfile.mkdtemp(prefix="write-latency-redis-")
            p, port = storm.redis_start(rdir, a.durability)
            rprocs.append(p)
            for i in range(a.nodes - 1):
                d = os.path.join(rdir, "replica%d" % i)
                os.mkdir(d)
                rport = harness.free_port()
                rprocs.append(subprocess.Popen(
                    ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                     "--dir", d, "--replicaof", "127.0.0.1", str(port)] + storm.PERSIST[a.durability],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                harness.wait_until(lambda: linked(rport), timeout=15, what="a redis replica linked")
        else:
            harness.CRDTD = build
            conf = {"storage": {"durability": a.durability, "batch_ms": str(a.batch_ms)},
                    "gossip": {"interval_ms": "1000"}, "log": {"level": "warn"}}
            c = harness.Cluster(a.nodes, conf=conf)
            c.start()
            port = c.nodes[0].port
        subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-P", "16", "-n",
                        str(2 * a.keys), "-r", str(a.keys), "-q", "SET", "key:__rand_int__", "v"],
                       capture_output=True, check=True)
        time.sleep(2)
        if c:
            c.nodes[0].client().config_resetstat()
        m, bg = measure(a, port)
        info = c.nodes[0].client().info() if c else {}
        return m, bg, info
    finally:
        for p in rprocs:
            p.terminate()
            p.wait()
        if rdir:
            shutil.rmtree(rdir, ignore_errors=True)
        if c:
            c.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crdtd", action="append")
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--durability", default="none", choices=sorted(storm.PERSIST))
    ap.add_argument("--batch-ms", type=int, default=100)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    builds = a.crdtd or [harness.CRDTD]
    if not os.access(LAT, os.X_OK):
        sys.exit("no %s: ninja -C build bench/latency" % LAT)
    res = {}
    for run in range(a.runs):
        for b in builds + ["redis"]:
            m, bg, info = one_run(a, b)
            res.setdefault(b, []).append(m)
            extra = ""
            if info:
                extra = " | longest pass %s us, passes > 1 ms %s, commit_overlaps %s" % (
                    info.get("loop_longest_pass_us"), info.get("loop_passes_over_1ms"),
                    info.get("commit_overlaps", "-"))
            print("run %d %s: INCRBY p50 %.0f p99 %.0f p99.9 %.0f max %.0f us; background SET p99 "
                  "%.0f max %.0f us%s" % (run + 1, b, m["p50_us"], m["p99_us"], m["p999_us"],
                                          m["max_us"], bg["p99_us"], bg["max_us"], extra), flush=True)
    print()
    print("INCRBY at 1,000/s on one connection while another sends %d SET/s over %d keys; %d crdtd "
          "node(s), durability %s, batch_ms %d; medians of %d runs (us):" %
          (a.rate, a.keys, a.nodes, a.durability, a.batch_ms, a.runs))
    print()
    redis_name = "redis-server" + (" + %d replicas" % (a.nodes - 1) if a.nodes > 1 else "")
    print("| server | p50 | p99 | p99.9 | max | p99 / redis |")
    print("|---|---:|---:|---:|---:|---:|")
    med = {b: {k: statistics.median(m[k] for m in ms) for k in ("p50_us", "p99_us", "p999_us", "max_us")}
           for b, ms in res.items()}
    for b in builds + ["redis"]:
        x = med[b]
        print("| %s | %.0f | %.0f | %.0f | %.0f | %.2f |" % (
            redis_name if b == "redis" else b, x["p50_us"], x["p99_us"], x["p999_us"], x["max_us"],
            x["p99_us"] / med["redis"]["p99_us"]))


if __name__ == "__main__":
    main()
