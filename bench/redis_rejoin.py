#!/usr/bin/python3
"""redis-server's side of bench/restart.py: a replica away while its primary
takes W writes, then back.

The primary holds N keys e0000000.. (MSET, each "v"), one replica in sync
(`replicaof`, no snapshots, no AOF).  The replica is then stopped, the
primary takes W keys w0000000.. (MSET of 10,000 at a time), and a new replica
starts (a full sync: redis keeps no replication state across a restart
without persistence).  With --pause the replica is frozen instead (SIGSTOP),
then thawed (SIGCONT), as restart.py --pause freezes crdtd's C; its
connection stays open, and the primary holds the writes for it.

Prints, per run, the time from the replica's (re)start or thaw until its
offset equals the primary's and it holds N + W keys, and the bytes the
primary sent replicas from the first write on (INFO stats
total_net_repl_output_bytes).

    bench/redis_rejoin.py [--keys 300000] [--writes 100000] [--runs 3] [--pause]
"""
import argparse
import contextlib
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_ref import redis_server  # noqa: E402


def mset(cl, prefix, n, value):
    pipe = cl.pipeline(transaction=False)
    for i in range(0, n, 10000):
        pipe.mset({"%s%07d" % (prefix, j): value for j in range(i, min(n, i + 10000))})
    pipe.execute()


def in_sync(primary, replica, keys):
    try:
        a, b = primary.info("replication"), replica.info("replication")
        return (b.get("master_link_status") == "up" and
                b.get("master_repl_offset") == a.get("master_repl_offset") and replica.dbsize() == keys)
    except Exception:  # a replica still loading answers LOADING
        return False


def wait(cond, timeout=600):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def one(n, w, pause):
    with contextlib.ExitStack() as stack:
        primary, port = stack.enter_context(redis_server())
        replica_cm = redis_server("--replicaof", "127.0.0.1", str(port))
        replica, _ = replica_cm.__enter__()
        try:
            mset(primary, "e", n, "v")
            wait(lambda: in_sync(primary, replica, n))
            b0 = primary.info("stats")["total_net_repl_output_bytes"]
            pid = replica.info("server")["process_id"]
            if pause:
                os.kill(pid, signal.SIGSTOP)
            else:
                replica_cm.__exit__(None, None, None)
                replica_cm = None
            mset(primary, "w", w, "x")
            time.sleep(0.5)
            t0 = time.monotonic()
            if pause:
                os.kill(pid, signal.SIGCONT)
            else:
                replica_cm = redis_server("--replicaof", "127.0.0.1", str(port))
                replica, _ = replica_cm.__enter__()
            wait(lambda: in_sync(primary, replica, n + w))
            t = time.monotonic() - t0
            b1 = primary.info("stats")["total_net_repl_output_bytes"]
            return {"s": t, "mb": (b1 - b0) / 1e6, "full": primary.info("stats")["sync_full"] - 1}
        finally:
            if replica_cm:
                if pause:
                    os.kill(pid, signal.SIGCONT)
                replica_cm.__exit__(None, None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=300000)
    ap.add_argument("--writes", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", action="store_true", help="freeze the replica (SIGSTOP) instead of restarting it")
    a = ap.parse_args()
    rs = [one(a.keys, a.writes, a.pause) for _ in range(a.runs)]
    med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
    print("redis-server replica %s, %d keys, %d written meanwhile (medians of %d runs): "
          "%.2f s until in sync, %.2f MB sent, %g full syncs" %
          ("frozen, then thawed" if a.pause else "restarted", a.keys, a.writes, a.runs,
           med("s"), med("mb"), med("full")))


if __name__ == "__main__":
    main()
