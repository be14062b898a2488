#!/usr/bin/python3
"""A node of a large store restarted: what its peers send it, and how long
until the three agree again.

Three daemons A, B, C (full mesh, durability batch, interval_ms 1000).  A
holds N keys e0000000.. (strings, MSET, each "v"; default 1,000,000; with --type sets or hashes,
sets of 3 members or hashes of 2 fields),
loaded through its client port; B and C start and catch up until every
node finds every peer in sync.  Then C stops (SIGTERM: its store is on
disk), A takes W writes (SET of W keys w0000000.., default 1,000) while C
is down, and C starts again: a new start takes a new replica id, so its
peers meet a replica they never synced with.  The clock runs from C's
start until C holds the N + W keys and every node finds every peer in sync
(CRDT.PEERS in_sync, catching_up 0).  Over the same span: the datagrams and
bytes A and B sent (INFO gossip datagrams_out, bytes_out), A's and B's
resyncs (delta_resyncs) and the instances their digest exchanges sent
(digest_instances_sent), and the CPU of C and of A and B together.  And
C's longest loop pass since its start (INFO loop_longest_pass_us, with its
gossip part) and longest call into gossip (gossip_longest_call_us, with its
CPU time): wall times, which include the time C waited for a CPU that A, B
and this script held.

With --pause, C is not stopped but frozen (SIGSTOP) until A and B count it
down, and then thawed (SIGCONT): a node cut off a while that comes back
with its memory and the same replica id, as after a partition.  Its
longest pass and call then count from just before the freeze (CONFIG
RESETSTAT), its CPU from the thaw.  bench/redis_rejoin.py is redis-server's
side of both.

With --crdtd-ref PATH, the same runs alternate with a reference build in
one command, so load on the machine hits both alike.

    bench/restart.py [--keys 1000000] [--writes 1000] [--runs 3] [--type keys|sets|hashes]
                     [--pause] [--crdtd PATH] [--crdtd-ref PATH]
"""
import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from gossip_rate import alternated, cpu_s, gossip, start_loaded  # noqa: E402


def all_in_sync(clients, npeers):
    for cl in clients:
        ps = [dict(zip(p[::2], p[1::2])) for p in cl.execute_command("CRDT.PEERS")]
        if len(ps) != npeers or any(p.get(b"in_sync") != 1 or p.get(b"catching_up") != 0 for p in ps):
            return False
    return True


def peer_up(cl, name):
    """Whether INFO gossip's peerN line of @name says up."""
    for k, v in gossip(cl).items():
        if k.startswith("peer") and isinstance(v, dict) and v.get("name") == name:
            return v.get("up") == 1
    return False


def one(path, n, w, kind, pause):
    harness.CRDTD = path
    conf = {"storage": {"durability": "batch"}, "log": {"level": "info"}, "gossip": {"interval_ms": "1000"},
            "limits": {"max_instances": str(max(1000000, 2 * n))}}
    c = harness.Cluster(3, conf=conf)
    try:
        A, B, C = c[0], c[1], c[2]
        ca = start_loaded(A, n, kind)
        B.start()
        C.start()
        cls = [ca, B.client(), C.client()]
        harness.wait_until(lambda: all_in_sync(cls, 2) and all(cl.dbsize() == n for cl in cls),
                           timeout=600, step=0.05, what="B and C to catch up")
        if pause:
            # its longest pass and call from here on, not its first catch-up's
            cls[2].execute_command("CONFIG", "RESETSTAT")
            os.kill(C.proc.pid, signal.SIGSTOP)
            harness.wait_until(lambda: not peer_up(ca, C.name) and not peer_up(cls[1], C.name),
                               timeout=60, step=0.1, what="A and B to count C down")
        else:
            C.stop()
        pipe = ca.pipeline(transaction=False)
        for i in range(w):
            pipe.set("w%07d" % i, "x")
        pipe.execute()
        time.sleep(0.5)
        g0 = [gossip(ca), gossip(cls[1])]
        u0 = cpu_s(A.proc.pid) + cpu_s(B.proc.pid)
        c0 = cpu_s(C.proc.pid) if pause else 0.0  # frozen: its CPU until now
        t0 = time.monotonic()
        if pause:
            os.kill(C.proc.pid, signal.SIGCONT)
            cls[2].ping()
        else:
            C.start()
            cls[2] = C.client()
        t_ready = time.monotonic() - t0
        harness.wait_until(lambda: cls[2].dbsize() == n + w and all_in_sync(cls, 2),
                           timeout=600, step=0.02, what="C to hold every key and all to agree")
        t1 = time.monotonic()
        g1 = [gossip(ca), gossip(cls[1])]
        u1 = cpu_s(A.proc.pid) + cpu_s(B.proc.pid)
        cpu_c = cpu_s(C.proc.pid) - c0
        info_c = cls[2].info("all")
    finally:
        c.cleanup()
    d = lambda k: sum(b.get(k, 0) - a.get(k, 0) for a, b in zip(g0, g1))  # noqa: E731
    return {"ready_s": t_ready, "s": t1 - t0, "dgrams": d("datagrams_out"), "mb": d("bytes_out") / 1e6,
            "resyncs": d("delta_resyncs"), "digest_sent": d("digest_instances_sent"),
            "digest_dgrams": d("digest_datagrams_out"), "delta_dgrams": d("delta_datagrams_out"),
            "catchup_dgrams": d("catchup_datagrams_out"),
            "cpu_c": cpu_c, "cpu_ab": u1 - u0,
            "pass_ms": info_c["loop_longest_pass_us"] / 1e3,
            "pass_gossip_ms": info_c["loop_longest_pass_gossip_us"] / 1e3,
            "call_ms": info_c["gossip_longest_call_us"] / 1e3,
            "call_cpu_ms": info_c["gossip_longest_call_cpu_us"] / 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--type", default="keys", choices=["keys", "sets", "hashes"])
    ap.add_argument("--pause", action="store_true", help="freeze C (SIGSTOP) instead of stopping it")
    ap.add_argument("--crdtd", default=harness.CRDTD)
    ap.add_argument("--crdtd-ref")
    a = ap.parse_args()
    rows = alternated(a.crdtd, a.crdtd_ref, a.runs, lambda path: one(path, a.keys, a.writes, a.type, a.pause))
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    print("C of 3 %s, holding %d keys (%s); %d written while it was away (medians of %d runs):" %
          ("frozen until counted down, then thawed" if a.pause else "restarted", a.keys, a.type,
           a.writes, a.runs))
    print()
    print("| build | C answers PING | all in sync | datagrams A+B sent | MB A+B sent | resyncs | "
          "instances by digest | CPU of C | CPU of A+B | C's longest pass (gossip) | "
          "C's longest gossip call (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, rs in rows.items():
        print("| %s | %.2f s | %.2f s | %d | %.2f | %d | %d | %.2f s | %.2f s | %.2f (%.2f) ms | "
              "%.2f (%.2f) ms |" %
              (k, med(rs, "ready_s"), med(rs, "s"), med(rs, "dgrams"), med(rs, "mb"), med(rs, "resyncs"),
               med(rs, "digest_sent"), med(rs, "cpu_c"), med(rs, "cpu_ab"), med(rs, "pass_ms"),
               med(rs, "pass_gossip_ms"), med(rs, "call_ms"), med(rs, "call_cpu_ms")))


if __name__ == "__main__":
    main()
