#!/usr/bin/python3
"""DEL of a large set or hash: how long the writer's loop pass and its
peer's take, against redis-server with and without lazyfree in the same run.

Two crdtd daemons on loopback (durability none, interval_ms 1000).  A
takes a set (SADD) or a hash (HSET, one-byte values) of N members
(default 1,000,000) through its client port; once B holds all of it, a
thread on each daemon sends PING after PING on a connection of its own,
and A gets DEL.  Reported: the DEL's reply time at A, the time until B's
SCARD / HLEN is 0, and the longest PING answer at A and at B over the
DEL and the second after it: the longest a client of either waited behind
the delete.  redis-server (jemalloc, as Debian builds it) takes the same
key and DEL with lazyfree-lazy-user-del no and yes.  Medians of --runs.

With --concurrent, B first adds a member while partitioned from A (CRDT.SIM
PARTITION), A takes the DEL, and the partition heals: B's merge of the
delete then keeps that member, the case a DEL racing writes elsewhere
makes (no redis-server runs).

A hash of counters (--kinds counters, HINCRBY) keeps a baseline per field
after its DEL, so that an increment concurrent with it is not lost.

With --late, B starts empty after the DEL, a replica joining late: the
time until A and B are in sync (INFO gossip in_sync), and each one's longest
loop pass.

    bench/del_cost.py [--members 1000000] [--runs 3] [--concurrent | --late]
                      [--kinds set,hash,counters] [--verbose] [--crdtd PATH]
"""
import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from redis_ref import redis_server  # noqa: E402


def load(cl, kind, n):
    pipe = cl.pipeline(transaction=False)
    for i in range(0, n, 10000):
        if kind == "set":
            pipe.sadd("k", *["m%07d" % j for j in range(i, min(n, i + 10000))])
        elif kind == "hash":
            pipe.hset("k", mapping={"f%07d" % j: "v" for j in range(i, min(n, i + 10000))})
        else:
            for j in range(i, min(n, i + 10000)):
                pipe.hincrby("k", "f%07d" % j, 1)
        if kind == "counters":
            pipe.execute()
    pipe.execute()


def size(cl, kind):
    return cl.scard("k") if kind == "set" else cl.hlen("k")


def parts(cl):
    """The longest loop pass's parts that took 1 ms or more (INFO stats)."""
    st = cl.info("stats")
    pre = "loop_longest_pass_"
    return " ".join("%s %.0f" % (k[len(pre):-3], int(v) / 1e3) for k, v in st.items()
                    if k.startswith(pre) and k != pre + "us" and int(v) >= 1000)


class Pinger:
    """PING after PING on a connection of its own; the longest answer."""

    def __init__(self, cl):
        self.cl, self.worst, self.stop = cl, 0.0, False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            t = time.perf_counter()
            self.cl.ping()
            self.worst = max(self.worst, time.perf_counter() - t)

    def done(self):
        self.stop = True
        self.t.join()
        return self.worst


def in_sync(cl):
    """Whether the node's one peer's digests agree with its own."""
    peer = cl.info("gossip").get("peer0")
    return isinstance(peer, dict) and str(peer.get("in_sync")) == "1"


def loaded(kind, n, sim=False):
    """Two daemons (durability none, interval_ms 1000; CRDT.SIM with
    @sim), A started and holding the key, B not yet started: the cluster
    and a client of A."""
    conf = {"storage": {"durability": "none"}, "log": {"level": "warn"},
            "gossip": {"interval_ms": "1000"}}
    if sim:
        conf["simulation"] = {"enabled": "yes", "seed": "13"}
    c = harness.Cluster(2, conf=conf)
    try:
        c.nodes[0].start()
        ca = c.nodes[0].client()
        load(ca, kind, n)
        return c, ca
    except BaseException:
        c.cleanup()
        raise


def late_run(kind, n, verbose=False):
    """B starts empty after A's DEL: the time from its start until both are
    in sync (the cleared key, its baselines for a hash of counters, caught
    up), and the longest loop pass of each."""
    c, ca = loaded(kind, n)
    try:
        b = c.nodes[1]
        ca.delete("k")
        if kind == "counters":
            ca.hincrby("k", "after", 1)
        time.sleep(1.0)
        ca.execute_command("CONFIG", "RESETSTAT")
        t0 = time.perf_counter()
        b.start()
        cb = b.client()
        harness.wait_until(lambda: in_sync(ca) and in_sync(cb), timeout=300, step=0.01,
                           what="A and B in sync")
        at_b = time.perf_counter() - t0
        pass_a, pass_b = (int(cl.info("stats")["loop_longest_pass_us"]) / 1e6 for cl in (ca, cb))
        if verbose:
            print("  run: in sync after %.1f ms; writer %.1f ms (%s), peer %.1f ms (%s)" % (
                at_b * 1e3, pass_a * 1e3, parts(ca), pass_b * 1e3, parts(cb)), flush=True)
        return {"at_b": at_b, "pass_a": pass_a, "pass_b": pass_b}
    finally:
        c.cleanup()


def crdtd_run(kind, n, concurrent=False, verbose=False):
    c, ca = loaded(kind, n, concurrent)
    try:
        a, b = c.nodes
        b.start()
        cb = b.client()
        harness.wait_until(lambda: size(cb, kind) == n, timeout=300, step=0.2, what="B to hold it")
        time.sleep(1.0)
        for cl in (ca, cb):
            cl.execute_command("CONFIG", "RESETSTAT")
        pa, pb = Pinger(a.client()), Pinger(b.client())
        time.sleep(0.3)
        left = 0
        if concurrent:  # B adds a member the DEL does not see, then hears of the DEL
            cb.execute_command("CRDT.SIM", "PARTITION", a.name)
            if kind == "set":
                cb.sadd("k", "mine")
            elif kind == "hash":
                cb.hset("k", "mine", "v")
            else:
                cb.hincrby("k", "mine", 1)
            left = 1
        t0 = time.perf_counter()
        ca.delete("k")
        reply = time.perf_counter() - t0
        if concurrent:
            t0 = time.perf_counter()
            cb.execute_command("CRDT.SIM", "HEAL")
        harness.wait_until(lambda: size(cb, kind) == left, timeout=60, step=0.005, what="B emptied")
        at_b = time.perf_counter() - t0
        time.sleep(1.0)
        pass_a, pass_b = (int(cl.info("stats")["loop_longest_pass_us"]) / 1e6 for cl in (ca, cb))
        if verbose:
            print("  run: writer %.1f ms (%s), peer %.1f ms (%s)" % (
                pass_a * 1e3, parts(ca), pass_b * 1e3, parts(cb)), flush=True)
        return {"reply": reply, "at_b": at_b, "ping_a": pa.done(), "ping_b": pb.done(),
                "pass_a": pass_a, "pass_b": pass_b}
    finally:
        c.cleanup()


def redis_run(kind, n, lazy):
    with redis_server("--lazyfree-lazy-user-del", lazy) as (r, _):
        load(r, kind, n)
        p = Pinger(redis_server_client(r))
        time.sleep(0.3)
        t0 = time.perf_counter()
        r.delete("k")
        reply = time.perf_counter() - t0
        time.sleep(1.0)
        return {"reply": reply, "ping_a": p.done()}


def redis_server_client(r):
    import redis
    kw = r.connection_pool.connection_kwargs
    return redis.Redis(host=kw["host"], port=kw["port"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrent", action="store_true",
                    help="B adds a member A's DEL does not see (partitioned), then the partition heals; "
                    "'until the peer is empty' then counts from the heal, to B holding that member only")
    ap.add_argument("--late", action="store_true",
                    help="B starts empty after the DEL (a replica joining late): the time until both "
                    "are in sync, and each one's longest loop pass (no redis-server runs)")
    ap.add_argument("--kinds", default="set,hash",
                    help="comma-separated: set (SADD), hash (HSET), counters (HINCRBY, a hash of counters)")
    ap.add_argument("--verbose", action="store_true", help="each run's longest passes and their parts")
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    ms = lambda v: "%.1f" % (v * 1e3)  # noqa: E731
    print("DEL of a key of %d members, medians of %d runs (ms)\n" % (a.members, a.runs))
    print("| key | server | DEL reply | until the peer is empty | longest PING, writer | longest PING, peer "
          "| longest loop pass, writer | longest loop pass, peer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    if a.late:
        print("| key | in sync after B's start | longest loop pass, A | longest loop pass, B |")
        print("|---|---:|---:|---:|")
        for kind in a.kinds.split(","):
            xs = [late_run(kind, a.members, a.verbose) for _ in range(a.runs)]
            med = lambda k: statistics.median(x[k] for x in xs)  # noqa: E731
            print("| %s | %s | %s | %s |" % (kind, ms(med("at_b")), ms(med("pass_a")), ms(med("pass_b"))))
        return
    for kind in a.kinds.split(","):
        xs = [crdtd_run(kind, a.members, a.concurrent, a.verbose) for _ in range(a.runs)]
        med = lambda k: statistics.median(x[k] for x in xs)  # noqa: E731
        print("| %s | crdtd (2 replicas) | %s | %s | %s | %s | %s | %s |" % (
            kind, ms(med("reply")), ms(med("at_b")), ms(med("ping_a")), ms(med("ping_b")),
            ms(med("pass_a")), ms(med("pass_b"))))
        for lazy in () if a.concurrent else ("no", "yes"):
            rs = [redis_run(kind, a.members, lazy) for _ in range(a.runs)]
            print("| %s | redis-server, lazyfree-lazy-user-del %s | %s | | %s | | | |" % (
                kind, lazy, ms(statistics.median(x["reply"] for x in rs)),
                ms(statistics.median(x["ping_a"] for x in rs))))


if __name__ == "__main__":
    main()
