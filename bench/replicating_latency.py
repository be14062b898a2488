#!/usr/bin/python3
"""Client latency while a large set replicates: issue 12's aim, measured
against redis-server taking the same load in the same run.

crdtd: three daemons on loopback (A and two peers, interval_ms 1000,
deltas and digests on).  A holds --keys keys (SET k:%06d, default 100,000)
and an OR-Set of --set members (default 1,000,000), loaded through its
client port; the peers catch up.  Then, while a writer thread adds --rate
new members a second to the set on A (one SADD each, its own connection),
build/bench/latency sends 1,000 GETs a second on one connection to A,
open-loop (each latency counted from when the request was due), for
--seconds.  redis-server (no replicas) holds the same data, takes the same
writer and the same GETs.  Durability modes: crdtd none / batch / always
against redis appendfsync no / everysec / always (appendonly yes for the
last two).  Prints a markdown table of p50 and p99 and their ratios, and
from A's INFO over the measure (CONFIG RESETSTAT just before it): its
longest event loop pass and what of it went to commands, gossip and
storage (the rest: client I/O, timers, the journal's reports), the passes
that worked more than 1 and 10 ms, and the longest single call into its
gossip core, in wall time and in A's CPU time (a call whose CPU is a small
part of its wall time waited for a core: on 2 cores the three replicas,
their journal threads and the clients take turns).

Placement.  On this VM a request's latency turns on where the scheduler put
the client and the server's loop: on the same CPU the server runs as soon as
the request is written; on another, idle one, it waits for that CPU to be
woken, and a GET's p50 is about 2.5 times as long for either server (about
50 against 125 µs, docs/benchmarks.md).  Left to the scheduler, a run gets
one or the other by chance, and the p50 ratio with it.  So each server is
measured in each --placements on the same data: `same` pins the
latency client and the server's loop thread (redis-server's main thread,
crdtd A's main thread; no other thread) to the first CPU this script may
use, `apart` the client to the first and the loop to the last, `free` pins
nothing (the default: same,apart; same alone on one CPU).  The SADD writer, the peers
and every other thread run where the scheduler puts them.  Each placement
is a row, its ratios against redis-server in the same placement.  Even so,
the VM's host takes a CPU away for 1-3 ms now and then (unseen by the
guest: its steal time stays 0), and whether the server's CPU is idle or
busy when a request comes moves a wakeup by tens of µs, in spells that
last minutes.  So both servers hold the data at once and the windows
alternate between them: for each of --repeats rounds, for each placement,
redis-server's window, then crdtd's.  A row gives the medians of that
placement's p50s and p99s (their ranges in the last columns), A's longest
pass and gossip call over all its windows, and the passes over 1 and 10
ms in all.

    bench/replicating_latency.py [--set 1000000] [--keys 100000] [--seconds 20]
                                 [--modes none,batch,always] [--placements same,apart]
                                 [--repeats 3] [--crdtd PATH]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402
from redis_ref import redis_server  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
REDIS_FSYNC = {"none": "no", "batch": "everysec", "always": "always"}


def load(cl, keys, members):
    pipe = cl.pipeline(transaction=False)
    for i in range(0, keys, 10000):
        pipe.mset({"k:%06d" % j: "v%d" % j for j in range(i, min(keys, i + 10000))})
    pipe.execute()
    for i in range(0, members, 10000):
        pipe.sadd("big", *["e%07d" % j for j in range(i, min(members, i + 10000))])
        if i % 100000 == 0:
            pipe.execute()
    pipe.execute()


class Writer(threading.Thread):
    """SADD of a new member every 1/rate s, open loop, until stopped."""

    def __init__(self, port, rate):
        super().__init__(daemon=True)
        self.cl = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60)
        self.rate = rate
        self.stop = threading.Event()
        self.done = 0

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            due = t0 + self.done / self.rate
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            self.cl.sadd("big", "w%09d" % self.done)
            self.done += 1


ALL_CPUS = sorted(os.sched_getaffinity(0))
CPU0, CPU1 = ALL_CPUS[0], ALL_CPUS[-1]  # the first and last this process may use
PLACE = {"same": (CPU0, CPU0), "apart": (CPU0, CPU1), "free": (None, None)}


def measure(latency, port, seconds, rate, loop_tid, placement):
    """p50 and p99 of the GETs, and the SADDs done meanwhile, with the
    client and the server's loop thread @loop_tid placed as @placement."""
    client_cpu, loop_cpu = PLACE[placement]
    cmd = [latency, "-p", str(port), "-r", "1000", "-t", str(seconds), "-w", "2",
           "-R", "100000", "GET", "k:__rand_int__"]
    if client_cpu is not None:
        cmd = ["taskset", "-c", str(client_cpu)] + cmd
        os.sched_setaffinity(loop_tid, {loop_cpu})
    w = Writer(port, rate)
    w.start()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        w.stop.set()
        w.join()
        os.sched_setaffinity(loop_tid, ALL_CPUS)
    m = dict(re.findall(r"(\w+)=([0-9.]+)", out.strip().splitlines()[-1]))
    return float(m["p50_us"]), float(m["p99_us"]), w.done


def run_mode(a, mode):
    """redis-server and the three crdtd daemons, both loaded, measured in
    turn window by window: for each repeat, each placement, redis-server
    then crdtd.  Returns the rows of redis-server and of crdtd, a placement
    each (summary(), crdtd's with A's INFO figures)."""
    conf = {"gossip": {"interval_ms": "1000", "push_delay_ms": "2"},
            "storage": {"durability": mode}, "log": {"level": "warn"}}
    with redis_server("--appendonly", "no" if mode == "none" else "yes",
                      "--appendfsync", REDIS_FSYNC[mode], socket_timeout=300) as (rcl, rport):
        load(rcl, a.keys, a.set)
        rpid = int(rcl.info("server")["process_id"])
        c = harness.Cluster(3, conf=conf)
        try:
            c.start()
            cls = [redis.Redis(host="127.0.0.1", port=n.port, socket_timeout=300) for n in c.nodes]
            load(cls[0], a.keys, a.set)
            want = a.keys + 1
            harness.wait_until(lambda: all(cl.dbsize() == want and cl.scard("big") == a.set for cl in cls),
                               timeout=900, step=0.5, what="every replica to hold everything")
            rruns = {pl: [] for pl in a.placements}
            cruns = {pl: [] for pl in a.placements}
            for _ in range(a.repeats):
                for placement in a.placements:
                    rruns[placement].append(measure(a.latency, rport, a.seconds, a.rate, rpid, placement))
                    cls[0].config_resetstat()
                    r = measure(a.latency, c[0].port, a.seconds, a.rate, c[0].proc.pid, placement)
                    cruns[placement].append((r, cls[0].info("all")))
        finally:
            c.cleanup()
    crows = []
    for placement in a.placements:
        sts = [st for _, st in cruns[placement]]
        st = max(sts, key=lambda x: x["loop_longest_pass_us"])
        parts = "%d / %d / %d" % tuple(st.get("loop_longest_pass_%s_us" % k, 0)
                                       for k in ("commands", "gossip", "storage"))
        g = max(sts, key=lambda x: x["gossip_longest_call_us"])
        crows.append(summary([r for r, _ in cruns[placement]]) +
                     ((st["loop_longest_pass_us"], parts,
                       sum(x["loop_passes_over_1ms"] for x in sts),
                       sum(x["loop_passes_over_10ms"] for x in sts),
                       "%d (%d)" % (g["gossip_longest_call_us"],
                                    g.get("gossip_longest_call_cpu_us", 0))),))
    return [summary(rruns[pl]) for pl in a.placements], crows


def summary(runs):
    """Medians (and ranges) of the p50s and p99s of measure()'s @runs, and
    the SADDs of them all."""
    p50 = sorted(r[0] for r in runs)
    p99 = sorted(r[1] for r in runs)
    return (statistics.median(p50), statistics.median(p99), sum(r[2] for r in runs),
            (p50[0], p50[-1]), (p99[0], p99[-1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", type=int, default=1000000)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=1000, help="SADD/s into the set during the measure")
    ap.add_argument("--modes", default="none,batch,always")
    ap.add_argument("--placements", default="same,apart" if CPU1 != CPU0 else "same",
                    help="comma-separated: same, apart, free (see above)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="measures of each placement, in turn, on the same data")
    ap.add_argument("--crdtd")
    ap.add_argument("--latency", default=os.path.join(TOP, "build/bench/latency"))
    a = ap.parse_args()
    a.placements = a.placements.split(",")
    for pl in a.placements:
        if pl not in PLACE:
            ap.error("unknown placement %r" % pl)
        if pl == "apart" and CPU1 == CPU0:
            ap.error("placement apart needs two CPUs")
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    print("| durability (redis appendfsync) | placement | redis p50 / p99 µs | crdtd p50 / p99 µs | p50 ratio | p99 ratio | SADDs during (redis / crdtd) | A's longest pass µs | of it commands / gossip / storage µs | passes > 1 / > 10 ms | longest gossip call µs (its CPU) | redis p50, p99 ranges µs | crdtd p50, p99 ranges µs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rng = lambda x: "%.0f-%.0f" % x  # noqa: E731
    for mode in a.modes.split(","):
        rr, cr = run_mode(a, mode)
        for pl, (r50, r99, rn, r50r, r99r), (c50, c99, cn, c50r, c99r, (longest, parts, over1, over10, gcall)) \
                in zip(a.placements, rr, cr):
            print("| %s (%s) | %s | %.0f / %.0f | %.0f / %.0f | %.2f | %.2f | %d / %d | %d | %s | %d / %d | %s | %s, %s | %s, %s |" %
                  (mode, REDIS_FSYNC[mode], pl, r50, r99, c50, c99, c50 / r50, c99 / r99, rn, cn,
                   longest, parts, over1, over10, gcall, rng(r50r), rng(r99r), rng(c50r), rng(c99r)),
                  flush=True)


if __name__ == "__main__":
    main()
