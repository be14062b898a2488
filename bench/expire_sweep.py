#!/usr/bin/python3
"""What expiring many keys at once costs the clients: N keys (default
100,000) get the same deadline (SET k v PXAT T); from T, PINGs on another
connection measure the latency clients see while the background sweep
deletes them (at most 128 a loop pass), against PINGs in the same run
before T with the same keys held (the reference).  Also the time from T to
INFO expired_keys = N.  One crdtd on loopback (tests/integration/harness),
durability none, stopped by PID.  Prints medians over the runs.

    CRDTD=build/src/daemon/crdtd bench/expire_sweep.py [--keys N] [--runs 3]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from harness import Cluster  # noqa: E402


def pings(r, until, stop=lambda: False):
    lat = []
    while time.time() < until and not stop():
        s = time.perf_counter()
        r.ping()
        lat.append(time.perf_counter() - s)
    lat.sort()
    return lat


def pct(lat, p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    c = Cluster(1, conf={"storage": {"durability": "none"}}).start()
    rows = []
    try:
        r = c[0].client(decode_responses=True)
        for run in range(a.runs):
            base = int(r.info("stats")["expired_keys"])
            t = int(time.time() * 1000) + 60_000
            p = r.pipeline(transaction=False)
            for i in range(a.keys):
                p.set(f"r{run}:{i}", "v", pxat=t)
                if i % 5000 == 4999:
                    p.execute()
            p.execute()
            # the deadline: 1.5 s from now for all of them at once
            t = int(time.time() * 1000) + 1500
            p = r.pipeline(transaction=False)
            for i in range(a.keys):
                p.pexpireat(f"r{run}:{i}", t)
                if i % 5000 == 4999:
                    p.execute()
            p.execute()
            ref = pings(r, t / 1000 - 0.1)
            done = lambda: int(r.info("stats")["expired_keys"]) - base >= a.keys  # noqa: E731
            while time.time() < t / 1000:
                pass
            during = pings(r, time.time() + 30, done)
            took = time.time() - t / 1000
            rows.append((pct(ref, .5), pct(ref, .99), pct(during, .5), pct(during, .99),
                         during[-1] * 1e3, took))
    finally:
        c.cleanup()
    med = [statistics.median(x) for x in zip(*rows)]
    print(f"| keys | PING p50 / p99 before (ms) | PING p50 / p99 / max during the sweep (ms) "
          f"| p99 ratio | all deleted after (s) |")
    print("|---|---|---|---|---|")
    print(f"| {a.keys:,} | {med[0]:.3f} / {med[1]:.3f} | {med[2]:.3f} / {med[3]:.3f} / "
          f"{med[4]:.1f} | {med[3] / med[1]:.2f} | {med[5]:.2f} |")


if __name__ == "__main__":
    main()
