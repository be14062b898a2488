#!/usr/bin/python3
"""Convergence time after the last write, against loss rate, state size and
cluster size: real daemons on loopback with the simulation shim doing the
loss, started with tests/integration/harness.py.

For each point: a fresh full-mesh cluster (gossip interval 100 ms, shim loss
L on every node); node 0 adds S distinct elements to one OR-Set (SADD, 1,000
members a command); the clock starts when the last SADD is acknowledged and
stops when every other node's SCARD equals S (polled every 5 ms).  Reported:
the median (and max) over the repetitions, in ms and in gossip rounds
(ms / interval).  Writes a Markdown table to stdout and, with --plots DIR,
the data and PNG plots (gnuplot) into DIR.

usage: bench/convergence.py [--quick] [--plots docs] [--crdtd PATH]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

INTERVAL_MS = 100
TIMEOUT_S = 60


def one_run(n, loss, size, seed):
    conf = {
        "gossip": {"interval_ms": str(INTERVAL_MS), "push_delay_ms": "1"},
        "log": {"level": "warn"},
        "simulation": {"enabled": "yes", "loss": str(loss), "seed": str(seed)},
    }
    for attempt in range(3):
        c = harness.Cluster(n, conf=conf)
        try:
            c.start()
            break
        except AssertionError as e:
            # a port picked free was taken meanwhile (other tests on the
            # machine): start the point again on new ports
            print("  start failed (%s); retrying" % str(e).splitlines()[0][:120], file=sys.stderr)
            c.stop()
            shutil.rmtree(c.dir, ignore_errors=True)
    else:
        raise SystemExit("could not start a %d-node cluster" % n)
    try:
        w = c[0].client(decode_responses=True)
        readers = [node.client() for node in c.nodes[1:]]
        members = ["e%d" % i for i in range(size)]
        pipe = w.pipeline(transaction=False)
        for i in range(0, size, 1000):
            pipe.sadd("s", *members[i:i + 1000])
        pipe.execute()
        t0 = time.monotonic()
        rounds0 = int(w.info("gossip")["gossip_rounds"])
        pending = list(readers)
        while pending:
            if time.monotonic() - t0 > TIMEOUT_S:
                return None, None
            pending = [r for r in pending if r.scard("s") != size]
            if pending:
                time.sleep(0.005)
        ms = (time.monotonic() - t0) * 1000.0
        rounds = int(w.info("gossip")["gossip_rounds"]) - rounds0
        return ms, rounds
    finally:
        codes = c.stop()
        if any(rc not in (None, 0) for rc in codes):
            print("  note: daemons exited uncleanly on SIGTERM: %r" % codes, file=sys.stderr)
        shutil.rmtree(c.dir, ignore_errors=True)


def point(n, loss, size, reps, seed):
    ms, rounds = [], []
    for r in range(reps):
        m, k = one_run(n, loss, size, seed + r)
        if m is None:
            return None
        ms.append(m)
        rounds.append(k)
    return {"n": n, "loss": loss, "size": size, "reps": reps,
            "ms": statistics.median(ms), "ms_max": max(ms),
            "rounds": statistics.median(rounds), "rounds_est": statistics.median(ms) / INTERVAL_MS}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="one repetition per point, and only 3 and 9 nodes, 1 and 1,000 elements, 0 and 30 %% loss")
    ap.add_argument("--plots", metavar="DIR", help="write convergence-*.dat and *.png into DIR")
    ap.add_argument("--crdtd", help="the daemon (default $CRDTD or build/src/daemon/crdtd)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = a.crdtd
    losses = [0.0, 0.1, 0.3, 0.5]
    results = []

    def run(n, loss, size, reps):
        reps = 1 if a.quick else reps
        t = time.monotonic()
        p = point(n, loss, size, reps, a.seed)
        if p is None:
            p = {"n": n, "loss": loss, "size": size, "reps": reps, "ms": None}
            print("  n=%d loss=%.0f%% size=%d: DID NOT CONVERGE in %d s" % (n, loss * 100, size, TIMEOUT_S),
                  file=sys.stderr)
        else:
            print("  n=%d loss=%.0f%% size=%d: %.0f ms (%.1f rounds), %d reps, %.0f s" %
                  (n, loss * 100, size, p["ms"], p["rounds_est"], reps, time.monotonic() - t), file=sys.stderr)
        results.append(p)
        return p

    if a.quick:
        losses = [0.0, 0.3]
    for size, reps in ((1, 5), (1000, 5)) + (() if a.quick else ((50000, 2),)):
        for loss in losses:
            run(3, loss, size, reps)
    for n, reps in ((9, 3),) + (() if a.quick else ((27, 2),)):
        for loss in losses:
            run(n, loss, 1000, reps)

    print("| nodes | OR-Set elements | loss | reps | median ms | max ms | median rounds (ms / %d) | rounds counted |" % INTERVAL_MS)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in results:
        if p["ms"] is None:
            print("| %d | %d | %.0f %% | %d | did not converge in %d s | | | |" %
                  (p["n"], p["size"], p["loss"] * 100, p["reps"], TIMEOUT_S))
        else:
            print("| %d | %d | %.0f %% | %d | %.0f | %.0f | %.1f | %d |" %
                  (p["n"], p["size"], p["loss"] * 100, p["reps"], p["ms"], p["ms_max"], p["rounds_est"],
                   p["rounds"]))
    if a.plots:
        plots(a.plots, results)
    return 0 if all(p["ms"] is not None for p in results if p["loss"] <= 0.3) else 1


def plots(d, results):
    os.makedirs(d, exist_ok=True)
    by_size = os.path.join(d, "convergence-size.dat")
    by_nodes = os.path.join(d, "convergence-nodes.dat")
    with open(by_size, "w") as f:
        f.write("# loss%% ms(1 elem) ms(1000) ms(50000), 3 nodes, interval %d ms\n" % INTERVAL_MS)
        for loss in (0.0, 0.1, 0.3, 0.5):
            row = [next((p["ms"] for p in results if p["n"] == 3 and p["size"] == s and p["loss"] == loss), None)
                   for s in (1, 1000, 50000)]
            f.write("%g %s\n" % (loss * 100, " ".join("NaN" if v is None else "%.1f" % v for v in row)))
    with open(by_nodes, "w") as f:
        f.write("# loss%% ms(3 nodes) ms(9) ms(27), 1000 elements, interval %d ms\n" % INTERVAL_MS)
        for loss in (0.0, 0.1, 0.3, 0.5):
            row = [next((p["ms"] for p in results if p["n"] == n and p["size"] == 1000 and p["loss"] == loss), None)
                   for n in (3, 9, 27)]
            f.write("%g %s\n" % (loss * 100, " ".join("NaN" if v is None else "%.1f" % v for v in row)))
    if not shutil.which("gnuplot"):
        print("gnuplot is missing (apt-get install gnuplot-nox): no PNGs", file=sys.stderr)
        return
    script = """
set terminal pngcairo size 800,500 noenhanced
set xlabel "loss rate (%%)"
set ylabel "convergence after the last write (ms, log scale)"
set logscale y
set grid
set key left top
set xtics (0, 10, 30, 50)
set output "%(d)s/convergence-size.png"
set title "3 nodes, gossip every %(i)d ms: by OR-Set size"
plot "%(s)s" using 1:2 with linespoints title "1 element", \\
     "" using 1:3 with linespoints title "1,000 elements", \\
     "" using 1:4 with linespoints title "50,000 elements"
set output "%(d)s/convergence-nodes.png"
set title "1,000-element OR-Set, gossip every %(i)d ms: by cluster size"
plot "%(n)s" using 1:2 with linespoints title "3 nodes", \\
     "" using 1:3 with linespoints title "9 nodes", \\
     "" using 1:4 with linespoints title "27 nodes"
""" % {"d": d, "s": by_size, "n": by_nodes, "i": INTERVAL_MS}
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


if __name__ == "__main__":
    sys.exit(main())
