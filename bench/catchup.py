#!/usr/bin/python3
"""Catch-up of a large set to an empty peer, against the raw loopback UDP
rate measured in the same run (build/bench/udp_ceiling: sendmmsg in
batches of 64, 1,400-byte datagrams).

Daemon A holds one OR-Set of N elements (default 1,000,000), loaded through
its client port with no peer up, and folded into its store (INFO
folds_in_progress 0).  B then starts empty; A sends it the set by
its paced catch-up (docs/protocol.md, "Catch-up").  The clock runs from B's
start until B's SCARD is N, and then until A's CRDT.PEERS says B is in sync
(their digests agree: B holds exactly A's state).  Rate = catch-up
datagrams A sent first (INFO catchup_datagrams_out) / the time to SCARD N.

While B catches up, a thread PINGs A on a connection of its own, one
after the other: the longest answer is the longest A's loop kept a client
waiting.  INFO gossip_longest_call_us (where the daemon has it) is the
longest single call into A's gossip core from just before B starts
(CONFIG RESETSTAT) on, in wall time and in A's CPU time
(gossip_longest_call_cpu_us: without what other processes of a busy
machine took meanwhile).  The same figures of B, from its start until it
holds the set, are the longest its loop was held by what it received.

With --loss P, A's simulation shim (CRDT.SIM LOSS) loses each datagram it
sends with probability P during the catch-up; the ratio to the lossless
run of the same command is the figure to read.

Each run also takes the CPU a piece (a catch-up datagram A sent first) of
every thread that works for it, from /proc/PID/task/TID/ between B's
start and B's SCARD = N: A's main thread (the cut, its sendmsg), B's main
thread (decode, merge) and B's journal thread (crdtd-journal: LMDB and the
write-ahead log).  When the three run at once on a machine of C cores, the
pieces a second cannot pass C / (the sum of their CPU a piece): that
ceiling is printed next to the rate measured and the raw rate.  "other" is
what every other thread of A and B, and this script (its PINGs, its SCARD
polls), spent a piece: not in the sum.

Default [gossip] settings (interval_ms 1000, deltas and digests on) and the
default max_peer_datagrams_per_sec (100,000) at B; durability none.

With --type gset or ormap, key "s" is a G-Set (CRDT.CREATE s gset, then
SADD) or a hash (HSET of fields e0000000.. to "v") instead; B holds it
when its SCARD (HLEN) is N.  With --type keys, sets or hashes, A holds N
keys e0000000..: strings (MSET, each "v"), sets of 3 members or hashes of
2 fields ([limits] max_instances raised to fit), and B holds them when
its DBSIZE is N: the whole store goes by B's resync.

    bench/catchup.py [--elements 1000000] [--loss 0.3] [--runs 3]
                     [--type orset|gset|ormap|keys|sets|hashes]
                     [--crdtd PATH]
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
from gossip_rate import HZ, cpu_s, gossip, size_of, start_loaded  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def raw_rate(path, seconds):
    out = subprocess.run([path, "-t", str(seconds), "-r", "1"], capture_output=True, text=True,
                         check=True).stdout
    m = dict(re.findall(r"(\w+)=([0-9.]+)", out.strip().splitlines()[-1]))
    return float(m["recv_per_s"])


def threads_cpu(pid):
    """CPU seconds of each thread of @pid: {tid: (name, seconds)}.  The name
    and utime + stime from /proc/PID/task/TID/stat; the time from schedstat
    (nanoseconds) where the kernel has it, as ticks of 10 ms are 1 us a
    piece of 10,000."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        d = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(d + "stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue  # a thread that ended meanwhile
        fields = rest.split()
        secs = (int(fields[11]) + int(fields[12])) / HZ
        try:
            with open(d + "schedstat") as f:
                secs = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
        out[int(tid)] = (head.split("(", 1)[1], secs)
    return out


def thread_split(pid, before, after):
    """CPU seconds between two threads_cpu of @pid: (main, journal, other)."""
    main = journal = other = 0.0
    for tid, (name, s) in after.items():
        d = s - before.get(tid, (name, 0.0))[1]
        if tid == pid:
            main += d
        elif name == "crdtd-journal":
            journal += d
        else:
            other += d
    return main, journal, other


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def in_sync(ca):
    for p in ca.execute_command("CRDT.PEERS"):
        d = dict(zip(p[::2], p[1::2]))
        if d.get(b"in_sync") == 1 and d.get(b"catching_up") == 0:
            return True
    return False


def one(n, loss, kind):
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"}, "gossip": {"interval_ms": "1000"},
            "simulation": {"enabled": "yes"}}
    if kind in ("keys", "sets", "hashes"):
        conf["limits"] = {"max_instances": str(max(1000000, 2 * n))}
    c = harness.Cluster(2, conf=conf)
    try:
        A, B = c[0], c[1]
        ca = start_loaded(A, n, kind)
        # A folds the loaded set into its store a slice a pass: from a quiet A

        def folded():
            p = ca.info("persistence")
            return p.get("folds_in_progress", 0) == 0 and (n < 65536 or kind in ("gset", "keys", "sets", "hashes") or
                                                          p["compactions_sliced"] >= 1)
        harness.wait_until(folded, timeout=60, step=0.01, what="A's fold of the set to end")
        if loss:
            ca.execute_command("CRDT.SIM", "LOSS", str(loss))
        ca.execute_command("CONFIG", "RESETSTAT")  # gossip_longest_call_us from here on
        g0 = gossip(ca)
        ua0 = cpu_s(A.proc.pid)
        pa = A.proc.pid
        ta0 = threads_cpu(pa)
        pings, stop = [], threading.Event()

        def pinger():
            cp = A.client()
            while not stop.is_set():
                t = time.monotonic()
                cp.ping()
                pings.append(time.monotonic() - t)
                time.sleep(0.001)

        th = threading.Thread(target=pinger)
        t0 = time.monotonic()
        B.start()
        th.start()
        cb = B.client()
        ub0 = cpu_s(B.proc.pid)
        pb = B.proc.pid
        tb0 = threads_cpu(pb)
        me0 = self_cpu()
        try:
            harness.wait_until(lambda: size_of(cb, kind) == n, timeout=600, step=0.005,
                               what="B to hold the set")
        finally:
            stop.set()
            th.join()
        t1 = time.monotonic()
        ua1, ub1 = cpu_s(A.proc.pid), cpu_s(B.proc.pid)
        ta1, tb1, me1 = threads_cpu(pa), threads_cpu(pb), self_cpu()
        g1 = gossip(ca)
        gb = gossip(cb)
        if loss:
            ca.execute_command("CRDT.SIM", "LOSS", "0")
        harness.wait_until(lambda: in_sync(ca), timeout=120, step=0.05, what="A to find B in sync")
        t2 = time.monotonic()
    finally:
        c.cleanup()
    d = lambda k: g1.get(k, 0) - g0.get(k, 0)
    a_main, a_jrnl, a_other = thread_split(pa, ta0, ta1)
    b_main, b_jrnl, b_other = thread_split(pb, tb0, tb1)
    pieces = max(d("catchup_datagrams_out"), 1)
    us = lambda s: 1e6 * s / pieces  # noqa: E731
    return {"us_a": us(a_main), "us_b": us(b_main), "us_bj": us(b_jrnl),
            "us_other": us(a_jrnl + a_other + b_other + me1 - me0),
            "s": t1 - t0, "sync_s": t2 - t0, "dgrams": d("catchup_datagrams_out"),
            "resent": d("catchup_resent"), "lost": d("catchup_lost"), "timeouts": d("catchup_timeouts"),
            "decreases": d("catchup_window_decreases"), "state_dgrams": d("datagrams_out"),
            "cpu_a": ua1 - ua0, "cpu_b": ub1 - ub0,
            "ping_max_ms": 1000 * max(pings or [0]),
            "ping_p99_ms": 1000 * sorted(pings)[int(0.99 * (len(pings) - 1))] if pings else 0,
            "longest_ms": g1.get("gossip_longest_call_us", -1000) / 1000,
            "longest_cpu_ms": g1.get("gossip_longest_call_cpu_us", -1000) / 1000,
            "longest_b_ms": gb.get("gossip_longest_call_us", -1000) / 1000,
            "longest_b_cpu_ms": gb.get("gossip_longest_call_cpu_us", -1000) / 1000,
            "drops_b": sum(v for k, v in gb.items() if k.startswith("dropped_"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=1000000)
    ap.add_argument("--loss", type=float, default=0.3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--type", default="orset", choices=("orset", "gset", "ormap", "keys", "sets", "hashes"))
    ap.add_argument("--crdtd")
    ap.add_argument("--ceiling", default=os.path.join(TOP, "build/bench/udp_ceiling"))
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    rows = {0.0: [], a.loss: []}
    raws = []
    for _ in range(a.runs):  # alternated, so that load on the machine hits each alike
        raws.append(raw_rate(a.ceiling, 1.0))
        for loss in rows:
            rows[loss].append(one(a.elements, loss, a.type))
    raw = statistics.median(raws)
    print("Raw loopback rate (udp_ceiling, sendmmsg, 1,400-byte datagrams), median of %d: %.0f datagrams/s" %
          (a.runs, raw))
    print()
    what = {"orset": "an OR-Set of %d elements", "gset": "a G-Set of %d elements",
            "ormap": "an OR-Map of %d fields", "keys": "a store of %d strings",
            "sets": "a store of %d small sets", "hashes": "a store of %d small hashes"}[a.type]
    print("Catch-up of %s from A to an empty B (medians of %d runs):" % (what % a.elements, a.runs))
    print()
    print("| loss at A | time to B's SCARD = N | until in sync | pieces | datagrams/s | vs raw | "
          "resent | lost (timeouts) | window halvings | dropped at B | CPU A / B | "
          "PING A p99 / max | longest gossip call at A (CPU) | at B (CPU) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731

    def longest(rs, who):
        if med(rs, "longest%s_cpu_ms" % who) < 0:
            return "-"
        return "%.1f ms (%.1f ms)" % (med(rs, "longest%s_ms" % who), med(rs, "longest%s_cpu_ms" % who))

    for loss, rs in rows.items():
        rate = statistics.median(r["dgrams"] / r["s"] for r in rs)
        print("| %.0f %% | %.2f s | %.2f s | %d | %.0f | %.2f | %d | %d (%d) | %d | %d | %.2f / %.2f s | "
              "%.1f / %.1f ms | %s | %s |" %
              (100 * loss, med(rs, "s"), med(rs, "sync_s"), med(rs, "dgrams"), rate, rate / raw,
               med(rs, "resent"), med(rs, "lost"), med(rs, "timeouts"), med(rs, "decreases"),
               med(rs, "drops_b"), med(rs, "cpu_a"), med(rs, "cpu_b"), med(rs, "ping_p99_ms"),
               med(rs, "ping_max_ms"),
               longest(rs, ""), longest(rs, "_b")))
    cores = os.cpu_count()
    print()
    print("CPU us a piece of each busy thread (medians), and the pieces a second %d cores allow "
          "for their sum:" % cores)
    print()
    print("| loss at A | A main | B main | B journal | sum | ceiling datagrams/s | measured | "
          "raw | measured / ceiling | ceiling / raw | other |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for loss, rs in rows.items():
        rate = statistics.median(r["dgrams"] / r["s"] for r in rs)
        total = med(rs, "us_a") + med(rs, "us_b") + med(rs, "us_bj")
        ceil = cores * 1e6 / total
        print("| %.0f %% | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f |" %
              (100 * loss, med(rs, "us_a"), med(rs, "us_b"), med(rs, "us_bj"), total, ceil, rate,
               raw, rate / ceil, ceil / raw, med(rs, "us_other")))
    lossless, lossy = med(rows[0.0], "s"), med(rows[a.loss], "s")
    print()
    print("Time at %.0f %% loss / lossless: %.2f" % (100 * a.loss, lossy / lossless))


if __name__ == "__main__":
    main()
