#!/usr/bin/python3
"""What full-state gossip sustains between two crdtd daemons on loopback,
against the raw loopback UDP ceiling measured in the same run
(build/bench/udp_ceiling: one sender thread with sendmmsg, one receiver
with recvmmsg, 1,400-byte datagrams).

Daemon A holds one OR-Set of N elements (default 200,000: about 2,000
datagrams of at most 1,400 bytes a round) and gossips its full state to B
every interval_ms = 10 ms (the smallest allowed), so A is never idle; B's
per-sender limit (max_peer_datagrams_per_sec, 100,000 by default) is lifted
(0) so that it measures the daemons, not the limit.

  1. First merge: A is loaded (SADD, pipelined) while B is down; B starts
     empty and the clock runs until B's SCARD is N.  CPU per merged element
     = B's utime + stime (/proc/PID/stat) over that time / N.
  2. Steady state: over --seconds, the deltas of INFO gossip on both
     (datagrams and bytes in at B, out at A, records merged and records
     skipped as unchanged at B) and both processes' CPU.  In a converged
     pair nearly every record is skipped unchanged (its encoding is the one
     B holds), so this is the rate of the receive path that a converged
     cluster runs.

Prints markdown tables; --data FILE writes the figures for plots.

    bench/gossip_rate.py [--elements 200000] [--seconds 5] [--crdtd PATH] [--ceiling PATH]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HZ = os.sysconf("SC_CLK_TCK")


def alternated(crdtd, crdtd_ref, runs, run):
    """{build: [run(path), ...]}: "this build" (@crdtd) and, with @crdtd_ref,
    "reference" first, run by run in turn, so that load on the machine hits
    both alike; each result is also printed to stderr as it comes."""
    builds = {"this build": os.path.abspath(crdtd)}
    if crdtd_ref:
        builds = {"reference": os.path.abspath(crdtd_ref), **builds}
    rows = {k: [] for k in builds}
    for _ in range(runs):
        for k, path in builds.items():
            rows[k].append(run(path))
            print(k, rows[k][-1], file=sys.stderr)
    return rows


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def gossip(cl):
    return {k: int(v) for k, v in cl.info("gossip").items() if isinstance(v, int)}


def start_loaded(node, n, kind="orset"):
    """Start @node and load its key "s" with n elements e0000000..: an
    OR-Set (SADD), a G-Set (CRDT.CREATE s gset, then SADD) or an OR-Map
    (HSET, each field's value "v"); or n keys e0000000..: kind "keys" strings
    (MSET, each "v"), "sets" sets of 3 members (SADD a b c), "hashes"
    hashes of 2 fields (HSET f1 v f2 w); return its client."""
    node.start()
    cl = node.client()
    if kind == "gset":
        cl.execute_command("CRDT.CREATE", "s", "gset")
    pipe = cl.pipeline(transaction=False)
    for i in range(0, n, 10000):
        names = ["e%07d" % j for j in range(i, min(n, i + 10000))]
        if kind == "ormap":
            pipe.hset("s", mapping={f: "v" for f in names})
        elif kind == "keys":
            pipe.mset({f: "v" for f in names})
        elif kind == "sets":
            for f in names:
                pipe.sadd(f, "a", "b", "c")
        elif kind == "hashes":
            for f in names:
                pipe.hset(f, mapping={"f1": "v", "f2": "w"})
        else:
            pipe.sadd("s", *names)
    pipe.execute()
    assert size_of(cl, kind) == n
    return cl


def size_of(cl, kind="orset"):
    """Elements of key "s" as start_loaded made it (keys: the store's)."""
    if kind in ("keys", "sets", "hashes"):
        return cl.dbsize()
    return cl.hlen("s") if kind == "ormap" else cl.scard("s")


def ceiling(path, seconds, runs):
    out = subprocess.run([path, "-t", str(seconds), "-r", str(runs)], capture_output=True, text=True,
                         check=True).stdout
    m = dict(re.findall(r"(\w+)=([0-9.]+)", out.strip().splitlines()[-1]))
    out1 = subprocess.run([path, "-t", str(seconds), "-r", str(runs), "-1"], capture_output=True, text=True,
                          check=True).stdout
    m1 = dict(re.findall(r"(\w+)=([0-9.]+)", out1.strip().splitlines()[-1]))
    return {k: float(v) for k, v in m.items()}, {k: float(v) for k, v in m1.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=200000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3, help="runs of the UDP ceiling (median)")
    ap.add_argument("--crdtd")
    ap.add_argument("--ceiling", default=os.path.join(TOP, "build/bench/udp_ceiling"))
    ap.add_argument("--data")
    ap.add_argument("--perf", metavar="DIR", help="perf record both daemons in the steady state into DIR")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    n = a.elements
    raw, raw1 = ceiling(a.ceiling, min(2.0, a.seconds / 2), a.runs)

    conf = {"gossip": {"interval_ms": "10", "push_delay_ms": "1"},
            "limits": {"max_peer_datagrams_per_sec": "0"},
            "storage": {"durability": "none"}, "log": {"level": "warn"}}
    c = harness.Cluster(2, conf=conf)
    try:
        A, B = c[0], c[1]
        ca = start_loaded(A, n)
        # phase 1: B starts empty
        t0 = time.monotonic()
        B.start()
        cb = B.client()
        c0 = cpu_s(B.proc.pid)
        harness.wait_until(lambda: cb.scard("s") == n, timeout=120, step=0.005, what="B to hold the set")
        first_s = time.monotonic() - t0
        first_cpu = cpu_s(B.proc.pid) - c0
        gb = gossip(cb)
        first_merges = gb["merges"]
        # phase 2: steady state
        time.sleep(0.5)
        ga0, gb0 = gossip(ca), gossip(cb)
        ua0, ub0, t1 = cpu_s(A.proc.pid), cpu_s(B.proc.pid), time.monotonic()
        perfs = []
        if a.perf:
            os.makedirs(a.perf, exist_ok=True)
            for name, node in (("A", A), ("B", B)):
                perfs.append(subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-o",
                                               os.path.join(a.perf, "perf-%s.data" % name), "-p",
                                               str(node.proc.pid), "--", "sleep", str(a.seconds)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(a.seconds)
        for pr in perfs:
            pr.wait()
        ga1, gb1 = gossip(ca), gossip(cb)
        ua1, ub1, t2 = cpu_s(A.proc.pid), cpu_s(B.proc.pid), time.monotonic()
        assert cb.scard("s") == n
        A_log, B_log = A.log_text(), B.log_text()
    finally:
        c.cleanup()
    dt = t2 - t1
    d = lambda g1, g0, k: g1.get(k, 0) - g0.get(k, 0)
    out_dps = d(ga1, ga0, "datagrams_out") / dt
    in_dps = d(gb1, gb0, "datagrams_in") / dt
    in_mbps = d(gb1, gb0, "bytes_in") / dt / 1e6
    rounds = d(ga1, ga0, "gossip_rounds")
    round_bytes = d(ga1, ga0, "bytes_out") / max(1, rounds)
    elems_in = d(gb1, gb0, "bytes_in") / max(1, round_bytes) * n
    cpu_b, cpu_a = ub1 - ub0, ua1 - ua0
    drops = sum(d(gb1, gb0, k) for k in gb1 if k.startswith("dropped_"))
    print("Raw loopback ceiling (udp_ceiling, 1,400-byte datagrams, median of %d runs):" % a.runs)
    print()
    print("| sender | datagrams/s sent | datagrams/s received | MB/s received |")
    print("|---|---:|---:|---:|")
    print("| sendmmsg, batches of 64 | %.0f | %.0f | %.1f |" % (raw["sent_per_s"], raw["recv_per_s"], raw["recv_mb_per_s"]))
    print("| send, one datagram a call | %.0f | %.0f | %.1f |" % (raw1["sent_per_s"], raw1["recv_per_s"], raw1["recv_mb_per_s"]))
    print()
    print("Gossip A → B, OR-Set of %d elements, interval_ms 10, over %.1f s:" % (n, dt))
    print()
    print("| measure | value | vs raw sendmmsg ceiling |")
    print("|---|---:|---:|")
    print("| datagrams/s sent by A | %.0f | %.2f |" % (out_dps, out_dps / raw["recv_per_s"]))
    print("| datagrams/s taken in by B | %.0f | %.2f |" % (in_dps, in_dps / raw["recv_per_s"]))
    print("| MB/s taken in by B | %.1f | %.2f |" % (in_mbps, in_mbps / raw["recv_mb_per_s"]))
    print("| gossip rounds/s at A (every 10 ms planned) | %.1f | |" % (rounds / dt))
    print("| bytes a full round (datagrams a round) | %.0f (%.0f) | |" %
          (round_bytes, d(ga1, ga0, "datagrams_out") / max(1, rounds)))
    print("| datagrams lost between A and B (sent − taken in) | %.1f %% | |" %
          (100.0 * max(0.0, 1 - in_dps / out_dps) if out_dps else 0))
    print("| B: records merged / skipped unchanged / dropped | %d / %d / %d | |" %
          (d(gb1, gb0, "merges"), d(gb1, gb0, "records_unchanged"), drops))
    print("| CPU of A (sender), of one core | %.0f %% | |" % (100 * cpu_a / dt))
    print("| CPU of B (receiver), of one core | %.0f %% | |" % (100 * cpu_b / dt))
    print("| B: CPU per element received, steady state (skip path) | %.0f ns | |" % (cpu_b / max(1, elems_in) * 1e9))
    print("| B: CPU per element, first merge into an empty replica | %.0f ns (%.2f s CPU, %.2f s wall, %d records merged) | |" %
          (first_cpu / n * 1e9, first_cpu, first_s, first_merges))
    if a.data:
        with open(a.data, "w") as f:
            f.write("# what datagrams_per_s mb_per_s\n")
            f.write('"raw sendmmsg" %.0f %.1f\n' % (raw["recv_per_s"], raw["recv_mb_per_s"]))
            f.write('"raw send()" %.0f %.1f\n' % (raw1["recv_per_s"], raw1["recv_mb_per_s"]))
            f.write('"gossip A->B" %.0f %.1f\n' % (in_dps, in_mbps))
            f.write('"first transfer A->B" %.0f %.1f\n' % (gb.get("datagrams_in", first_merges) / first_s,
                                                        gb.get("bytes_in", 0) / first_s / 1e6))
    for name, log in (("A", A_log), ("B", B_log)):
        if re.search(r" (error|warn) ", log.replace("no [security] key_file", "")):
            bad = [l for l in log.splitlines() if (" error " in l or " warn " in l) and "key_file" not in l]
            if bad:
                print("\n(daemon %s logged: %s)" % (name, bad[0][:200]))


if __name__ == "__main__":
    main()
