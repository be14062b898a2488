#!/usr/bin/python3
"""One command of many members, as a bulk load sends them: what it costs
the server, crdtd against redis-server in the same run.

crdtd: three daemons on loopback (A and two peers, default [gossip],
durability none); redis-server alone, no persistence.  Each command is
sent --calls times (default 20) with --members members (default 10,000):
SADD into new sets, SADD into one set that grows to calls x members, HSET
of that many fields into new hashes, MSET of that many new keys.  The
figure is INFO commandstats usec_per_call (the command's own time on the
server's loop, CONFIG RESETSTAT before each kind); for crdtd also A's
longest loop pass and the longest call into its gossip core over the same
commands (INFO loop_longest_pass_us, gossip_longest_call_us and its CPU
time), where the delta of such a command is packed for the peers.  At the
end every replica must hold the grown set whole.

    bench/bulk_cost.py [--members 10000] [--calls 20] [--crdtd PATH]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402
from redis_ref import redis_server  # noqa: E402

KINDS = ("SADD new sets", "SADD one growing set", "HSET new hashes", "MSET new keys")


def run(cl, kind, calls, members):
    for r in range(calls):
        names = ["m%d:%07d" % (r, j) for j in range(members)]
        if kind == "SADD new sets":
            cl.sadd("set%d" % r, *names)
        elif kind == "SADD one growing set":
            cl.sadd("grow", *names)
        elif kind == "HSET new hashes":
            cl.hset("hash%d" % r, mapping={n: "v" for n in names})
        else:
            cl.mset({"k" + n: "v" for n in names})


def usec(cl, kind):
    cmd = kind.split()[0].lower()
    return cl.info("commandstats")["cmdstat_" + cmd]["usec_per_call"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=10000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--crdtd")
    a = ap.parse_args()
    if a.crdtd:
        harness.CRDTD = os.path.abspath(a.crdtd)
    ref = {}
    with redis_server("--appendonly", "no", socket_timeout=60) as (cl, port):
        for kind in KINDS:
            cl.config_resetstat()
            run(cl, kind, a.calls, a.members)
            ref[kind] = usec(cl, kind)
    c = harness.Cluster(3, conf={"log": {"level": "warn"}, "storage": {"durability": "none"}})
    try:
        c.start()
        cls = [redis.Redis(host="127.0.0.1", port=n.port, socket_timeout=60) for n in c.nodes]
        print("%d calls of %d members each; µs a call (INFO commandstats), crdtd's A one of 3 replicas:" %
              (a.calls, a.members))
        print()
        print("| command | redis-server µs | crdtd µs | crdtd / redis | A's longest pass µs | A's longest gossip call µs (its CPU) |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in KINDS:
            cls[0].config_resetstat()
            run(cls[0], kind, a.calls, a.members)
            st = cls[0].info("all")
            u = usec(cls[0], kind)
            print("| %s | %.0f | %.0f | %.2f | %d | %d (%d) |" %
                  (kind, ref[kind], u, u / ref[kind], st["loop_longest_pass_us"],
                   st["gossip_longest_call_us"], st.get("gossip_longest_call_cpu_us", 0)), flush=True)
        want = a.calls * a.members
        harness.wait_until(lambda: all(cl.scard("grow") == want for cl in cls), timeout=120, step=0.2,
                           what="every replica to hold the grown set")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
