#!/usr/bin/python3
"""Spread of a write: the time from a write acknowledged by one replica until
it is readable on every other replica, for clusters of N crdtd daemons on
loopback (full mesh, the push after local writes doing the work), and the
same for Serf's event spreading when Debian's serf is installed.

    bench/spread.py [--nodes 3,10] [--trials 50] [--crdtd build/src/daemon/crdtd]
                    [--loss P]

Prints a markdown table of medians and 90th percentiles per cluster size.

With --loss P every crdtd's simulation shim (CRDT.SIM LOSS) loses each
datagram it sends with probability P (a DELTA, or its ACK), so the table
shows what a lost push costs the write: before the tail's probe of delta
intervals (docs/protocol.md, "Delta intervals"), the wait for the next
round (interval_ms 1000); serf is then left out.  p99 and the largest
time join the table.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def crdtd_spread(n, trials, conf, loss=0.0):
    c = harness.Cluster(n, conf=conf)
    try:
        c.start()
        clients = [node.client() for node in c.nodes]
        if loss:
            for cl in clients:
                cl.execute_command("CRDT.SIM", "LOSS", str(loss))
        # let heartbeats settle so no peer is mid-resolution
        time.sleep(0.5)
        times = []
        for t in range(trials):
            key, val = "spread:%d" % t, b"v%d" % t
            writer = clients[t % n]
            others = [cl for i, cl in enumerate(clients) if i != t % n]
            start = time.perf_counter()
            writer.set(key, val)
            pending = list(others)
            deadline = start + (5 if not loss else 20)
            while pending and time.perf_counter() < deadline:
                pending = [cl for cl in pending if cl.get(key) != val]
            if pending:
                raise SystemExit("write %d did not reach %d replicas in %.0f s" % (t, len(pending), deadline - start))
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        c.cleanup()


def serf_spread(n, trials):
    """Serf agents on loopback; an event sent on one, timed until every
    agent's handler has seen it."""
    serf = shutil.which("serf")
    if not serf:
        return None
    work = tempfile.mkdtemp(prefix="serf-bench-")
    procs = []
    try:
        ports = [(harness.free_port(), harness.free_port()) for _ in range(n)]
        for i, (bind, rpc) in enumerate(ports):
            log = os.path.join(work, "events-%d" % i)
            handler = os.path.join(work, "h%d.sh" % i)
            with open(handler, "w") as f:
                f.write("#!/bin/sh\nread line; echo \"$SERF_USER_EVENT $line\" >> %s\n" % log)
            os.chmod(handler, 0o755)
            args = [serf, "agent", "-node=s%d" % i, "-bind=127.0.0.1:%d" % bind,
                    "-rpc-addr=127.0.0.1:%d" % rpc, "-event-handler=user=%s" % handler,
                    "-log-level=err"]
            if i:
                args += ["-retry-join=127.0.0.1:%d" % ports[0][0], "-retry-interval=200ms"]
            out = open(os.path.join(work, "agent-%d.log" % i), "w")
            procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT))
            out.close()
        members = lambda: subprocess.run([serf, "members", "-rpc-addr=127.0.0.1:%d" % ports[0][1],
                                          "-status=alive"], capture_output=True, text=True).stdout.count("alive")
        try:
            harness.wait_until(lambda: members() == n, timeout=30, what="serf members")
        except AssertionError:
            with open(os.path.join(work, "agent-1.log")) as f:
                sys.stderr.write(f.read()[-2000:])
            raise
        times = []
        for t in range(trials):
            name = "ev%d" % t
            start = time.perf_counter()
            subprocess.run([serf, "event", "-rpc-addr=127.0.0.1:%d" % ports[t % n][1],
                            "-coalesce=false", name, "x"], check=True, capture_output=True)
            def everywhere():
                for i in range(n):
                    try:
                        with open(os.path.join(work, "events-%d" % i)) as f:
                            if (name + " ") not in f.read():
                                return False
                    except FileNotFoundError:
                        return False
                return True
            harness.wait_until(everywhere, timeout=10, step=0.001, what="serf event")
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", default="3,10")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--crdtd", default=None)
    ap.add_argument("--no-serf", action="store_true")
    ap.add_argument("--serf-trials", type=int, default=0, help="default: max(10, trials / 5)")
    ap.add_argument("--data", help="write the medians here for plots")
    ap.add_argument("--loss", type=float, default=0.0,
                    help="each crdtd loses each datagram it sends with this probability (no serf)")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    conf = {"gossip": {"interval_ms": "1000", "push_delay_ms": "1"},
            "storage": {"durability": "none"}, "log": {"level": "warn"}}
    if a.loss:
        conf["simulation"] = {"enabled": "yes"}
        print("| replicas | loss | median ms | p90 ms | p99 ms | max ms | trials |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in [int(x) for x in a.nodes.split(",")]:
            t = crdtd_spread(n, a.trials, conf, a.loss)
            print("| %d | %g %% | %.2f | %.2f | %.2f | %.2f | %d |" % (n, a.loss * 100, statistics.median(t),
                                                                  pct(t, 90), pct(t, 99), max(t), len(t)))
            sys.stdout.flush()
        return
    print("| replicas | system | median ms | p90 ms | trials | median / crdtd's |")
    print("|---:|---|---:|---:|---:|---:|")
    rows = []
    for n in [int(x) for x in a.nodes.split(",")]:
        t = crdtd_spread(n, a.trials, conf)
        cm = statistics.median(t)
        print("| %d | crdtd (push after write) | %.2f | %.2f | %d | 1 |" % (n, cm, pct(t, 90), len(t)))
        sm = None
        if not a.no_serf:
            s = serf_spread(n, a.serf_trials or max(10, a.trials // 5))
            if s is None:
                print("| %d | serf | not installed | | | |" % n)
            else:
                sm = statistics.median(s)
                print("| %d | serf event (clock includes starting the serf CLI) | %.1f | %.1f | %d | %.1f |" %
                      (n, sm, pct(s, 90), len(s), sm / cm))
        rows.append((n, cm, sm))
        sys.stdout.flush()
    if a.data:
        with open(a.data, "w") as f:
            f.write("# replicas crdtd_median_ms serf_median_ms\n")
            for n, cm, sm in rows:
                f.write("%d %.3f %s\n" % (n, cm, "NaN" if sm is None else "%.3f" % sm))


if __name__ == "__main__":
    main()
