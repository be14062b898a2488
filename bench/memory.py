#!/usr/bin/python3
"""Memory held by crdtd against redis-server for the same data, loaded through
the client port of each (fresh servers for every case, started on loopback
by this script and stopped by PID):

  - an OR-Set of N elements (default 1,000,000; SADD, 10,000 members a
    command, pipelined), against a redis set of the same members;
  - counters touched by 100 replicas: 100 helper crdtd daemons, each with a
    fresh data directory (so a replica id of its own), do INCRBY c:K 1 on
    each of 1,000 counters and push them to the measured daemon
    (accept_unknown_peers = yes), 25 helpers at a time; against redis
    counters incremented 100 times each.  One counter alone is below what
    RSS can resolve (a page), hence 1,000 of them; "per element" is per
    counter;
  - 100,000 small registers: SET reg:%06d v%06d, against the same SETs;
  - a hash of 100,000 small fields: HSET h field:%06d v%06d, 1,000 fields
    a command, pipelined, against the same HSETs (redis keeps a hash that
    large as a hash table, not a listpack).

crdtd runs with durability = none and no peers (the helpers aside).
Measured: the growth of VmRSS and RssAnon (/proc/PID/status) of both
processes from just after start to after the load (--settle seconds after
it, 0.3 by default: a longer wait shows what each keeps once idle), and the
growth of
INFO memory used_memory (crdtd: malloc's heap in use, which does not see
libcrdt's own 2 MiB-and-larger mappings; redis: its allocator's count).
"Bytes per element" divides by the elements (set members, replica entries,
registers).  Prints a markdown table; --data FILE writes the figures.

    bench/memory.py [--elements 1000000] [--fields 100000] [--settle 0.3]
                    [--cases orset,counter,registers,hash] [--crdtd PATH] [--data FILE]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402

UNCLEAN = []
CONF = {"storage": {"durability": "none"}, "log": {"level": "warn"},
        "gossip": {"interval_ms": "1000", "push_delay_ms": "1"}}


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


def used_memory(cl):
    return int(cl.info("memory")["used_memory"])


class Redis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="redis-mem-")
        self.port = harness.free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir,
                                      "--logfile", os.path.join(self.dir, "log")],
                                     stdin=subprocess.DEVNULL)
        self.cl = redis.Redis(port=self.port, socket_timeout=60)
        harness.wait_until(self.cl.ping, timeout=10, what="redis-server")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


SETTLE = 0.3


def measure(pid, cl):
    time.sleep(SETTLE)
    s = status(pid)
    s["used"] = used_memory(cl)
    return s


def load_set(cl, n):
    pipe = cl.pipeline(transaction=False)
    for i in range(0, n, 10000):
        pipe.sadd("s", *["e%07d" % j for j in range(i, min(n, i + 10000))])
        if (i // 10000) % 10 == 9:
            pipe.execute()
    pipe.execute()
    assert cl.scard("s") == n


def load_regs(cl, n):
    pipe = cl.pipeline(transaction=False)
    for i in range(n):
        pipe.set("reg:%06d" % i, "v%06d" % i)
        if i % 10000 == 9999:
            pipe.execute()
    pipe.execute()


def load_hash(cl, n):
    pipe = cl.pipeline(transaction=False)
    for i in range(0, n, 1000):
        pipe.hset("h", mapping={"field:%06d" % j: "v%06d" % j for j in range(i, min(n, i + 1000))})
        if (i // 1000) % 10 == 9:
            pipe.execute()
    pipe.execute()
    assert cl.hlen("h") == n


def incr_all(cl, counters):
    pipe = cl.pipeline(transaction=False)
    for k in range(counters):
        pipe.incrby("c:%d" % k, 1)
    pipe.execute()


def counter_crdtd(node, counters, replicas=100, batch=25):
    """Each helper: a fresh replica id, one INCRBY per counter, pushed to node."""
    cl = node.client()
    done = 0
    while done < replicas:
        k = min(batch, replicas - done)
        helpers = harness.Cluster(k, names=["h%d" % (done + i) for i in range(k)], mesh=False,
                                  conf={"storage": {"durability": "none"}, "log": {"level": "warn"},
                                        "gossip": {"interval_ms": "200", "push_delay_ms": "1"}})
        try:
            for h in helpers.nodes:
                h.peers = [node]
            helpers.start()
            for h in helpers.nodes:
                incr_all(h.client(), counters)
            done += k
            harness.wait_until(lambda: all(int(cl.get("c:%d" % j) or 0) == done for j in (0, counters - 1)),
                               timeout=30,
                               what="the counter to reach %d" % done)
        finally:
            codes = helpers.stop()
            for h, rc in zip(helpers.nodes, codes):
                if rc not in (None, 0):
                    # not this benchmark's concern, but worth a line in the report
                    UNCLEAN.append("helper %s exited with %s on SIGTERM; its log ends: %s" %
                                   (h.name, rc, h.log_text()[-300:].replace("\n", " / ")))
            shutil.rmtree(helpers.dir, ignore_errors=True)
    return cl


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elements", type=int, default=1000000)
    ap.add_argument("--registers", type=int, default=100000)
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--counters", type=int, default=1000)
    ap.add_argument("--fields", type=int, default=100000)
    ap.add_argument("--crdtd")
    ap.add_argument("--data")
    ap.add_argument("--settle", type=float, default=0.3,
                    help="seconds to wait after start and after the load before measuring")
    ap.add_argument("--cases", default="orset,counter,registers,hash",
                    help="which cases to run, comma-separated")
    a = ap.parse_args()
    global SETTLE
    SETTLE = a.settle
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    cases = [("OR-Set of %d elements" % a.elements, "orset", a.elements),
             ("%d counters, each touched by %d replicas" % (a.counters, a.replicas), "counter", a.counters),
             ("%d small registers" % a.registers, "registers", a.registers),
             ("a hash of %d small fields" % a.fields, "hash", a.fields)]
    wanted = a.cases.split(",")
    unknown = set(wanted) - {kind for _, kind, _ in cases}
    if unknown:
        ap.error("unknown case(s): %s" % ", ".join(sorted(unknown)))
    cases = [c for c in cases if c[1] in wanted]
    rows = []
    for label, kind, n in cases:
        extra = {"security": {"accept_unknown_peers": "yes"}} if kind == "counter" else {}
        conf = {k: dict(v) for k, v in CONF.items()}
        conf.update(extra)
        c = harness.Cluster(1, conf=conf)
        r = Redis()
        try:
            c.start()
            node = c[0]
            cl = node.client()
            b_c, b_r = measure(node.proc.pid, cl), measure(r.proc.pid, r.cl)
            if kind == "orset":
                load_set(cl, n)
                load_set(r.cl, n)
            elif kind == "registers":
                load_regs(cl, n)
                load_regs(r.cl, n)
            elif kind == "hash":
                load_hash(cl, n)
                load_hash(r.cl, n)
            else:
                counter_crdtd(node, n, a.replicas)
                for _ in range(a.replicas):
                    incr_all(r.cl, n)
                assert int(r.cl.get("c:0")) == a.replicas
            a_c, a_r = measure(node.proc.pid, cl), measure(r.proc.pid, r.cl)
            d_c = {k: a_c[k] - b_c[k] for k in a_c}
            d_r = {k: a_r[k] - b_r[k] for k in a_r}
            rows.append((label, kind, n, d_c, d_r))
        finally:
            c.cleanup()
            r.stop()
        print("  memory: %s done" % label, file=sys.stderr)
    print("| data | server | VmRSS growth (bytes) | RssAnon growth | used_memory growth | RSS bytes/element | RssAnon bytes/element | used_memory bytes/element |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, kind, n, d_c, d_r in rows:
        for name, d in (("redis-server", d_r), ("crdtd", d_c)):
            print("| %s | %s | %d | %d | %d | %.1f | %.1f | %.1f |" %
                  (label, name, d["VmRSS"], d["RssAnon"], d["used"], d["VmRSS"] / n, d["RssAnon"] / n,
                   d["used"] / n))
    print()
    print("| data | crdtd / redis, VmRSS | crdtd / redis, RssAnon | crdtd / redis, used_memory |")
    print("|---|---:|---:|---:|")
    ratio = lambda x, y: "%.2f" % (x / y) if y > 0 else "n/a"
    for label, kind, n, d_c, d_r in rows:
        print("| %s | %s | %s | %s |" % (label, ratio(d_c["VmRSS"], d_r["VmRSS"]),
                                         ratio(d_c["RssAnon"], d_r["RssAnon"]), ratio(d_c["used"], d_r["used"])))
    for u in UNCLEAN:
        print("\nNote: %s" % u)
    if a.data:
        with open(a.data, "w") as f:
            f.write("# kind n crdtd_rss crdtd_anon crdtd_used redis_rss redis_anon redis_used (bytes grown)\n")
            for label, kind, n, d_c, d_r in rows:
                f.write("%s %d %d %d %d %d %d %d\n" % (kind, n, d_c["VmRSS"], d_c["RssAnon"], d_c["used"],
                                                      d_r["VmRSS"], d_r["RssAnon"], d_r["used"]))


if __name__ == "__main__":
    main()
