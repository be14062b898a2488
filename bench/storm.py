#!/usr/bin/python3
"""A write storm against one of three replicas: ops/s against redis-server,
and the CPU each node spends.

Three crdtd daemons on loopback (full mesh, [gossip] interval_ms 1000, the
given durability, [storage] batch_ms 1000 as redis's everysec, or
--batch-ms: the default config's 100 commits to LMDB within the run, 1000
mostly after the CPU is counted), started by this script and stopped by PID, and one
redis-server with the matching persistence (none: appendfsync no; batch:
appendfsync everysec; always: appendfsync always).  Each run: a warm-up of
20,000 requests to each server, then `redis-benchmark -c 50 -P P -n N
-r 100000` with the command given (default SET key:__rand_int__ ...)
against redis-server and against the first crdtd, then a wait (at most
30 s) until the three replicas hold the same number of keys.  The first
peer's journal counters (INFO persistence) follow each run.  CPU seconds
per node (utime + stime from /proc/PID/stat) are counted from the start of
crdtd's benchmark until the replicas agree, so a peer's merging and storing
after the client is done counts too.

With --crdtd A --crdtd B the builds alternate run by run (A B A B ...) on
fresh clusters; the summary gives, per build, the medians of ops/s, of the
ratio to redis-server measured in the same run, and of each node's CPU.

    bench/storm.py [--crdtd PATH]... [--durability none|batch|always]
                   [--batch-ms 1000] [-n 300000] [-P 16] [--runs 3] [--perf PREFIX]
                   [--preload N] [--isolate] [CMD ARGS...]

--perf PREFIX records `perf record -g` on the writer and the first peer
during crdtd's benchmark (PREFIX.a, PREFIX.b; first build, first run only).

--preload N first loads the key the command names (its first argument)
with N members (`%012d`, the form redis-benchmark's __rand_int__ takes),
as a hash of N fields for a command that starts with H, else as a set,
into both servers, waits until the peers hold it too, and draws the
benchmark's random numbers from N (-r N) instead of 100,000: `SADD myset
__rand_int__` is then a storm of re-adds, each a new dot replacing an old
one, and `HSET myhash __rand_int__ w` of re-writes.  --isolate cuts the writer
off from its peers (CRDT.SIM ISOLATE, [simulation] enabled) for crdtd's
benchmark, so every write waits in its push queue, and heals it after
(the CPU counted is then the writer's storm; the peers catch up after):
each node's statistics are reset (CONFIG RESETSTAT), and the time until the
replicas agree (the preloaded key's size, else DBSIZE) and each node's
longest call into its gossip core meanwhile (INFO
gossip_longest_call_cpu_us) are reported: the loop's longest hold by the
replication of what queued up while cut off.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402

PERSIST = {
    "none": ["--appendonly", "yes", "--appendfsync", "no"],
    "batch": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
}


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def bench(port, args, cmd, n):
    """redis-benchmark's ops/s and the CPU seconds it used itself."""
    c0 = children_cpu()
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-P", str(args.P),
                          "-n", str(n), "-r", str(args.preload or 100000), "--csv"] + cmd,
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1].split('","')[1].strip('"')), children_cpu() - c0


def redis_start(d, mode):
    port = harness.free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--dir", d, "--logfile", os.path.join(d, "redis.log")] + PERSIST[mode],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "PING"],
                                              capture_output=True).returncode == 0,
                       what="redis-server")
    return p, port


def preload(client, n, key, hash_):
    """The n members into set key (SADD), or fields into hash key (HSET,
    each "v"), 1,000 a command, pipelined."""
    p = client.pipeline(transaction=False)
    for i in range(0, n, 1000):
        ms = ["%012d" % j for j in range(i, min(n, i + 1000))]
        if hash_:
            p.execute_command("HSET", key, *[x for m in ms for x in (m, "v")])
        else:
            p.execute_command("SADD", key, *ms)
        if i % 100000 == 0:
            p.execute()
    p.execute()


def size(client, key, hash_):
    return client.hlen(key) if hash_ else client.scard(key)


def heal_after(c, cmd, preload_n):
    """The isolated writer healed (CONFIG RESETSTAT on every node first):
    the seconds until the replicas agree (on the preloaded key's size, else
    on DBSIZE), and each node's longest call into its gossip core meanwhile,
    in CPU µs (INFO gossip_longest_call_cpu_us)."""
    for nd in c.nodes:
        nd.client().execute_command("CONFIG", "RESETSTAT")
    if preload_n:
        key, hash_ = cmd[1], cmd[0].upper().startswith("H")
        agree = lambda: len({size(nd.client(), key, hash_) for nd in c.nodes}) == 1  # noqa: E731
    else:
        agree = lambda: len({nd.client().dbsize() for nd in c.nodes}) == 1  # noqa: E731
    t0 = time.monotonic()
    c.nodes[0].client().execute_command("CRDT.SIM", "HEAL")
    harness.wait_until(agree, timeout=120, step=0.01, what="replicas to agree after the heal")
    secs = time.monotonic() - t0
    return {"secs": secs, "longest_cpu_us": [nd.client().info("gossip").get("gossip_longest_call_cpu_us", -1)
                                             for nd in c.nodes]}


def one_run(args, crdtd, cmd, perf):
    harness.CRDTD = crdtd
    conf = {"storage": {"durability": args.durability, "batch_ms": str(args.batch_ms)},
            "gossip": {"interval_ms": "1000", "push_delay_ms": "2"},
            "log": {"level": "warn"}}
    if args.isolate:
        conf["simulation"] = {"enabled": "true"}
    c = harness.Cluster(3, conf=conf)
    rdir = tempfile.mkdtemp(prefix="storm-redis-")
    rproc = None
    try:
        c.start()
        rproc, rport = redis_start(rdir, args.durability)
        if args.preload:
            key, hash_ = cmd[1], cmd[0].upper().startswith("H")
            preload(redis.Redis(port=rport), args.preload, key, hash_)
            preload(c.nodes[0].client(), args.preload, key, hash_)
            harness.wait_until(lambda: all(size(nd.client(), key, hash_) == args.preload
                                           for nd in c.nodes), timeout=180, what="preloaded")
        for port in (rport, c.nodes[0].port):
            bench(port, args, cmd, 20000)
        harness.wait_until(lambda: len({n.client().dbsize() for n in c.nodes}) == 1, timeout=30,
                           what="warm-up replicated")
        rc0 = cpu(rproc.pid)
        r, rbench = bench(rport, args, cmd, args.n)
        rcpu = cpu(rproc.pid) - rc0
        ps = []
        if perf:
            for i, x in ((0, "a"), (1, "b")):
                ps.append(subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o",
                                            perf + "." + x, "-p", str(c.nodes[i].proc.pid)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
        if args.isolate:
            c.nodes[0].client().execute_command("CRDT.SIM", "ISOLATE")
        before = [cpu(nd.proc.pid) for nd in c.nodes]
        t0 = time.monotonic()
        x, xbench = bench(c.nodes[0].port, args, cmd, args.n)
        heal = None
        if args.isolate:
            used = [cpu(nd.proc.pid) - b for nd, b in zip(c.nodes, before)]
            settle = time.monotonic() - t0
            heal = heal_after(c, cmd, args.preload)
        else:
            harness.wait_until(lambda: len({nd.client().dbsize() for nd in c.nodes}) == 1,
                               timeout=30, step=0.05, what="replicas to agree")
            settle = time.monotonic() - t0
            used = [cpu(nd.proc.pid) - b for nd, b in zip(c.nodes, before)]
        info = c.nodes[1].client().info()
        peer = {k: info.get(k) for k in ("journal_records", "commits", "loop_commits",
                                          "compactions", "store_bytes")}
        for p in ps:
            p.send_signal(signal.SIGINT)
            p.wait()
        us = lambda s: 1e6 * s / args.n  # noqa: E731
        return {"redis": r, "crdtd": x, "ratio": x / r, "cpu": used, "secs": settle, "peer": peer,
                "heal": heal,
                "us_redis": us(rcpu), "us_rbench": us(rbench), "us_xbench": us(xbench),
                "us_nodes": [us(u) for u in used]}
    finally:
        if rproc:
            rproc.terminate()
            rproc.wait()
        shutil.rmtree(rdir, ignore_errors=True)
        c.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crdtd", action="append")
    ap.add_argument("--durability", default="none", choices=sorted(PERSIST))
    ap.add_argument("--batch-ms", type=int, default=1000)
    ap.add_argument("-n", type=int, default=300000)
    ap.add_argument("-P", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--perf")
    ap.add_argument("--preload", type=int, default=0)
    ap.add_argument("--isolate", action="store_true")
    ap.add_argument("cmd", nargs="*")
    args = ap.parse_args()
    builds = args.crdtd or [harness.CRDTD]
    cmd = args.cmd or ["SET", "key:__rand_int__", "v__rand_int__"]
    res = {b: [] for b in builds}
    for i in range(args.runs):
        for j, b in enumerate(builds):
            r = one_run(args, b, cmd, args.perf if i == 0 and j == 0 else None)
            res[b].append(r)
            print("run %d %s: redis %.0f crdtd %.0f ratio %.2f cpu %s (%.1f s to agree)" %
                  (i + 1, b, r["redis"], r["crdtd"], r["ratio"],
                   " ".join("%.2f" % u for u in r["cpu"]), r["secs"]), flush=True)
            print("  first peer's journal:", " ".join("%s=%s" % kv for kv in r["peer"].items()))
            if r["heal"]:
                print("  heal: the replicas agree after %.2f s; longest gossip call, CPU us: writer %s,"
                      " peers %s / %s" % ((r["heal"]["secs"],) + tuple(r["heal"]["longest_cpu_us"])))
            print("  CPU us an op: redis-server %.2f (its redis-benchmark %.2f); crdtd writer %.2f,"
                  " peers %.2f + %.2f (its redis-benchmark %.2f)" % (
                      r["us_redis"], r["us_rbench"], r["us_nodes"][0], r["us_nodes"][1],
                      r["us_nodes"][2], r["us_xbench"]))
    print("| build | crdtd ops/s | redis ops/s | ratio | CPU s writer | CPU s peers |")
    print("|---|---:|---:|---:|---:|---:|")
    for b in builds:
        m = lambda k: statistics.median(r[k] for r in res[b])  # noqa: E731
        mc = [statistics.median(r["cpu"][k] for r in res[b]) for k in range(3)]
        print("| %s | %.0f | %.0f | %.2f | %.2f | %.2f / %.2f |" %
              (b, m("crdtd"), m("redis"), m("ratio"), mc[0], mc[1], mc[2]))
    if args.isolate:
        print("\nAfter the heal (medians): until the replicas agree, and the longest call into each"
              " node's gossip core, CPU us")
        print("| build | seconds to agree | writer | peers |")
        print("|---|---:|---:|---:|")
        for b in builds:
            hs = [r["heal"] for r in res[b]]
            ml = [statistics.median(h["longest_cpu_us"][k] for h in hs) for k in range(3)]
            print("| %s | %.2f | %.0f | %.0f / %.0f |" % (
                b, statistics.median(h["secs"] for h in hs), ml[0], ml[1], ml[2]))
    # On a machine whose cores are all busy, ops/s <= cores / (CPU an op of
    # every process the run keeps busy): the three replicas and the client.
    cores = os.cpu_count()
    print("\nCPU us an op (medians): what every busy process spends; the bound is %d cores "
          "over their sum" % cores)
    print("| build | redis-server | its client | ceiling ops/s | crdtd writer | peers | its client "
          "| ceiling ops/s | ceiling ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in builds:
        m = lambda k: statistics.median(r[k] for r in res[b])  # noqa: E731
        mn = [statistics.median(r["us_nodes"][k] for r in res[b]) for k in range(3)]
        rsum = m("us_redis") + m("us_rbench")
        xsum = sum(mn) + m("us_xbench")
        print("| %s | %.2f | %.2f | %.0f | %.2f | %.2f + %.2f | %.2f | %.0f | %.2f |" % (
            b, m("us_redis"), m("us_rbench"), cores * 1e6 / rsum, mn[0], mn[1], mn[2],
            m("us_xbench"), cores * 1e6 / xsum, rsum / xsum))


if __name__ == "__main__":
    main()
