#!/usr/bin/python3
"""What a large hash taking writes costs the digest refresh, per binary.

Three crdtd daemons on loopback, each listing the other two (interval_ms =
1000, durability = none, log level warn), started by this script and
stopped by PID.  A hash of --fields fields (default 200,000: HSET of 1,000
fields at a time, pipelined) is written on the first node; once every
replica holds all of them and two more rounds have passed, the first node
takes HSET of one random existing field at --rate a second (default 200,
paced on one connection) for --seconds (default 15).  Over that window:
each daemon's user+system CPU (/proc/PID/stat) as a share of one core, and,
with --probe (root, perf with uprobes), every call of digest_refresh timed
from entry to return by perf: the longest one and the total per daemon.

--crdtd takes a comma-separated list of binaries; --runs rounds of them run
alternately (A B A B ...), one cluster each, and a row is printed per run
and node, then the medians per binary.

    bench/map_fingerprint.py --crdtd A,B [--runs 3] [--fields 200000]
                             [--rate 200] [--seconds 15] [--probe]
"""
import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gossip_rate import cpu_s  # noqa: E402
import redis  # noqa: E402


class Probe:
    """Uprobes on digest_refresh's entry and return in one binary."""

    def __init__(self, binary, tag):
        # perf names a return probe EVENT__return
        self.binary, self.ev = binary, ("mfp:in%d" % tag, "mfp:out%d__return" % tag)
        for spec in ("mfp:in%d=digest_refresh" % tag, "mfp:out%d=digest_refresh%%return" % tag):
            subprocess.run(["perf", "probe", "-q", "-x", binary, "-a", spec], check=True)

    def start(self, pids):
        self.out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
        self.proc = subprocess.Popen(["perf", "record", "-q", "-o", self.out, "-e", self.ev[0], "-e",
                                      self.ev[1], "-p", ",".join(map(str, pids))],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf attaches

    def stop(self):
        """Per pid: (calls, longest ms, total ms)."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        text = subprocess.run(["perf", "script", "-i", self.out, "-F", "pid,time,event"],
                              capture_output=True, text=True, check=True).stdout
        os.unlink(self.out)
        open_at, res = {}, {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            pid, t, ev = int(parts[0]), float(parts[1].rstrip(":")), parts[2].rstrip(":")
            if ev == self.ev[0]:
                open_at[pid] = t
            elif ev == self.ev[1] and pid in open_at:
                d = (t - open_at.pop(pid)) * 1000.0
                n, mx, tot = res.get(pid, (0, 0.0, 0.0))
                res[pid] = (n + 1, max(mx, d), tot + d)
        return res

    def remove(self):
        for ev in self.ev:
            subprocess.run(["perf", "probe", "-q", "-d", ev], check=False)


def run(binary, probe, fields, rate, seconds):
    harness.CRDTD = binary
    conf = {"gossip": {"interval_ms": "1000"}, "storage": {"durability": "none"},
            "log": {"level": "warn"}}
    c = harness.Cluster(3, conf=conf)
    try:
        c.start()
        cls = [redis.Redis(host="127.0.0.1", port=n.port, socket_timeout=300) for n in c.nodes]
        p = cls[0].pipeline(transaction=False)
        for i in range(0, fields, 1000):
            kv = {}
            for j in range(i, min(i + 1000, fields)):
                kv["f%06d" % j] = "v%d" % j
            p.hset("big", mapping=kv)
            if i % 20000 == 19000:
                p.execute()
        p.execute()
        harness.wait_until(lambda: all(cl.hlen("big") == fields for cl in cls),
                           timeout=900, step=0.5, what="every replica to hold every field")
        time.sleep(2.5)
        pids = [n.proc.pid for n in c.nodes]
        if probe:
            probe.start(pids)
        cpu0 = [cpu_s(pid) for pid in pids]
        t0 = time.monotonic()
        rnd = random.Random(12)
        k = 0
        while True:
            due = t0 + k / rate
            now = time.monotonic()
            if due - t0 >= seconds:
                break
            if due > now:
                time.sleep(due - now)
            cls[0].hset("big", "f%06d" % rnd.randrange(fields), "w%d" % k)
            k += 1
        wall = time.monotonic() - t0
        cpu1 = [cpu_s(pid) for pid in pids]
        refresh = probe.stop() if probe else {}
        rows = []
        for i, pid in enumerate(pids):
            n, mx, tot = refresh.get(pid, (0, float("nan"), float("nan")))
            rows.append({"cpu": 100.0 * (cpu1[i] - cpu0[i]) / wall, "writes": k / wall,
                         "calls": n, "longest": mx, "total": tot / wall})
        return rows
    finally:
        c.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crdtd", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fields", type=int, default=200000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--probe", action="store_true")
    a = ap.parse_args()
    bins = [os.path.abspath(b) for b in a.crdtd.split(",")]
    probes = [Probe(b, i) if a.probe else None for i, b in enumerate(bins)]
    res = {b: [] for b in bins}
    try:
        print("| binary | run | node | HSET/s | CPU, % of a core | refreshes | longest refresh, ms | refresh, ms/s |")
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for r in range(a.runs):
            for b, pr in zip(bins, probes):
                rows = run(b, pr, a.fields, a.rate, a.seconds)
                res[b].append(rows)
                for i, x in enumerate(rows):
                    print("| %s | %d | %s | %.0f | %.1f | %d | %.2f | %.2f |" % (
                        b, r, "writer" if i == 0 else "peer%d" % i, x["writes"], x["cpu"],
                        x["calls"], x["longest"], x["total"]))
                    sys.stdout.flush()
    finally:
        for pr in probes:
            if pr:
                pr.remove()
    print()
    print("| binary | role | CPU, % of a core | longest refresh, ms | refresh, ms/s |")
    print("|---|---|---:|---:|---:|")
    for b in bins:
        for role, idx in (("writer", [0]), ("peers", [1, 2])):
            vals = [run_rows[i] for run_rows in res[b] for i in idx]
            print("| %s | %s | %.1f | %.2f | %.2f |" % (
                b, role, statistics.median(v["cpu"] for v in vals),
                statistics.median(v["longest"] for v in vals),
                statistics.median(v["total"] for v in vals)))


if __name__ == "__main__":
    main()
