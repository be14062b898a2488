#!/usr/bin/python3
"""A randomized partition test of large states: scripts/nemesis.sh's faults
over a set and a hash of 10^5 members or more and 10^5 keys, so that what
only large states go through (sliced deltas, the catch-up's pieces, the
piece cache, sliced folds and merges, digests that descend) is what the
faults hit.

N daemons on loopback with the simulation shim ([simulation] enabled), each
with --durability (default none) and [gossip] deltas = --deltas (default
yes; no: full-state replication only).  The first node loads the set
`bigset` (--set members), the hash `bighash` (--hash fields) and --keys
registers through its client port; every node must hold them all before the
faults start.  Then R rounds, each a random fault followed by a few batches
of writes.  A fault: split the cluster in two, heal, isolate a node, set
every node's loss, duplication and reordering rates, or restart a node
(SIGTERM; under durability always SIGKILL too, which must lose no
acknowledged write either).  A batch, up to --batch writes, pipelined: on a
random node, SADD of fresh members, SREM of members the model holds, HSET of
fresh fields, HDEL of fields the model holds, MSET of fresh keys, DEL of
keys the model holds, HINCRBY of random fields of `cnthash` (a hash of
counters), or SADD of fresh members into `gset` (a G-Set); on the first
node, SADD and HSET of fresh members into `delset` and `delhash`, a DEL of
both, or a new set of that many members with a TTL of 200-500 ms.  The
model: each member, field and key is written once, on one node, so an SREM,
HDEL or DEL that answers 1 removed its only write (it stays removed) and one
that answers 0 changed nothing; the first node has seen every write to
delset and delhash, so its DEL empties them exactly, and the older states
other nodes hold must bring nothing back; a key past its TTL must be gone
everywhere; each counter field holds the sum of its increments.  At the end
every fault is healed and the loss, duplication and reordering set to 0;
within --timeout every node must hold exactly the model's members, fields,
keys and values.  Seeded: the seed is printed, and --seed S replays the same
faults and writes (the network's timing is not replayed).

Every daemon is started on free ports in a temporary directory and stopped
by its PID.  Exit status 0 when every node equals the model, 1 when one does
not (the differences and the nodes' logs are printed), 2 on a usage error.

    scripts/nemesis-large.py [--nodes 3] [--set 200000] [--hash 50000]
                             [--keys 100000] [--rounds 20] [--batch 20000] [--seed S]
                             [--durability none|batch|always] [--deltas yes|no]
                             [--max-instances N] [--timeout 120] [--crdtd PATH]
                             [--keep]
"""
import argparse
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

LOAD_BATCH = 2000


def sim(node, *args):
    r = node.client().execute_command("CRDT.SIM", *args)
    if r not in (b"OK", "OK", True):
        raise AssertionError("%s: CRDT.SIM %s: %r" % (node.name, " ".join(args), r))


def pipelined(node, cmds):
    """Run @cmds ([args...]) on @node in one pipeline; their replies.  An
    error reply fails the run: every write must be acknowledged."""
    p = node.client().pipeline(transaction=False)
    for c in cmds:
        p.execute_command(*c)
    r = p.execute(raise_on_error=False)
    for c, x in zip(cmds, r):
        if isinstance(x, Exception):
            raise AssertionError("%s: %s (%d arguments): %s" % (node.name, " ".join(c[:2]), len(c) - 1, x))
    return r


def members(cmd, names, per=500):
    """@cmd ([name, key] or [name]) with @names, @per of them a command."""
    return [cmd + names[i:i + per] for i in range(0, len(names), per)]


def pairs(cmd, values, per=250):
    """@cmd with the names and values of dict @values, @per pairs a command."""
    items = list(values.items())
    return [cmd + [x for kv in items[i:i + per] for x in kv] for i in range(0, len(items), per)]


def load(node, nset, nhash, nkeys):
    pipelined(node, [["CRDT.CREATE", "gset", "gset"], ["HINCRBY", "cnthash", "c0", "0"]])
    pipelined(node, members(["SADD", "bigset"], ["s%09d" % i for i in range(nset)], LOAD_BATCH))
    pipelined(node, pairs(["HSET", "bighash"], {"h%09d" % i: "v%d" % i for i in range(nhash)}, LOAD_BATCH))
    pipelined(node, pairs(["MSET"], {"k%09d" % i: "v%d" % i for i in range(nkeys)}, LOAD_BATCH))


class Model:
    def __init__(self, nset, nhash, nkeys):
        self.members = {"s%09d" % i for i in range(nset)}
        self.fields = {"h%09d" % i: "v%d" % i for i in range(nhash)}
        self.keys = {"k%09d" % i: "v%d" % i for i in range(nkeys)}
        self.next = max(nset, nhash, nkeys)
        self.dset, self.dhash = set(), {}  # written and deleted on the first node only
        self.expiring = []                 # large keys given a short TTL
        self.counts = {}                   # cnthash: field -> the sum of its HINCRBYs
        self.grown = set()                 # gset, a G-Set: every member added

    def fresh(self, prefix):
        self.next += 1
        return "%s%09d" % (prefix, self.next)


def fault(rng, nodes, log, kill):
    what = rng.randrange(6 if kill else 5)
    if what == 0:
        for n in nodes:
            sim(n, "HEAL")
        side = {n.name for n in rng.sample(nodes, rng.randint(1, len(nodes) // 2))}
        others = [n.name for n in nodes if n.name not in side]
        for n in nodes:
            if n.name in side:
                sim(n, "PARTITION", *others)
        log("partition {%s} | {%s}" % (" ".join(sorted(side)), " ".join(others)))
    elif what == 1:
        for n in nodes:
            sim(n, "HEAL")
        log("heal")
    elif what == 2:
        n = rng.choice(nodes)
        sim(n, "ISOLATE")
        log("isolate %s" % n.name)
    elif what == 3:
        desc = []
        for n in nodes:
            loss, dup, reo = (rng.choice(["0", "0.1", "0.3"]), rng.choice(["0", "0.1"]),
                              rng.choice(["0", "0.2"]))
            sim(n, "LOSS", loss)
            sim(n, "DUPLICATE", dup)
            sim(n, "REORDER", reo)
            desc.append("%s=%s/%s/%s" % (n.name, loss, dup, reo))
        log("loss/duplicate/reorder " + " ".join(desc))
    else:
        # a restart: SIGTERM, or (durability always only) SIGKILL, which
        # must lose no acknowledged write either; the node comes back with
        # its shim as configured (no loss, no partition)
        n = rng.choice(nodes)
        sig = signal.SIGTERM if what == 4 else signal.SIGKILL
        rc = n.stop(sig=sig)
        if sig == signal.SIGTERM and rc != 0:
            raise AssertionError("%s exited with %r on SIGTERM:\n%s" % (n.name, rc, n.log_text()))
        n.start()
        log("restart %s after %s" % (n.name, sig.name))


def removes(rng, n, k, held, cmd):
    """Up to @k of the names in @held (a set or dict of the model) removed
    on node @n by @cmd + [name], one a command; those answered 1 leave
    @held.  How many were sent, how many answered 1."""
    gone = rng.sample(sorted(held), min(k, len(held)))
    r = pipelined(n, [cmd + [x] for x in gone])
    for x, one in zip(gone, r):
        if one == 1:
            if isinstance(held, set):
                held.discard(x)
            else:
                del held[x]
    return len(gone), sum(r)


def writes(rng, nodes, m, batch, log):
    n = rng.choice(nodes)
    k = rng.randint(1, batch)
    what = rng.randrange(11)
    if what == 0:
        new = [m.fresh("s") for _ in range(k)]
        pipelined(n, members(["SADD", "bigset"], new))
        m.members.update(new)
        log("  %s SADD %d" % (n.name, k))
    elif what == 1:
        log("  %s SREM %d (%d answered 1)" % ((n.name,) + removes(rng, n, k, m.members, ["SREM", "bigset"])))
    elif what == 2:
        new = {f: "w" + f for f in (m.fresh("h") for _ in range(k))}
        pipelined(n, pairs(["HSET", "bighash"], new))
        m.fields.update(new)
        log("  %s HSET %d" % (n.name, k))
    elif what == 3:
        log("  %s HDEL %d (%d answered 1)" % ((n.name,) + removes(rng, n, k, m.fields, ["HDEL", "bighash"])))
    elif what == 4:
        # delset and delhash: written on the first node only, which has
        # seen every write to them, so a DEL there empties them exactly;
        # the older states other nodes hold must bring nothing back
        n = nodes[0]
        new = {f: "w" + f for f in (m.fresh("d") for _ in range(k))}
        pipelined(n, members(["SADD", "delset"], list(new)) + pairs(["HSET", "delhash"], new))
        m.dset.update(new)
        m.dhash.update(new)
        log("  %s SADD delset, HSET delhash %d" % (n.name, k))
    elif what == 5:
        n = nodes[0]
        r = pipelined(n, [["DEL", "delset", "delhash"]])
        m.dset, m.dhash = set(), {}
        log("  %s DEL delset delhash (%d)" % (n.name, r[0]))
    elif what == 6:
        # registers, each set once on one node
        new = {x: "w" + x for x in (m.fresh("k") for _ in range(k))}
        pipelined(n, pairs(["MSET"], new))
        m.keys.update(new)
        log("  %s MSET %d keys" % (n.name, k))
    elif what == 7:
        log("  %s DEL %d keys (%d answered 1)" % ((n.name,) + removes(rng, n, k, m.keys, ["DEL"])))
    elif what == 8:
        # counters in a hash: increments on every node add up
        incs = [("c%d" % rng.randrange(5000), rng.randint(-5, 5)) for _ in range(k)]
        pipelined(n, [["HINCRBY", "cnthash", f, str(d)] for f, d in incs])
        for f, d in incs:
            m.counts[f] = m.counts.get(f, 0) + d
        log("  %s HINCRBY %d" % (n.name, k))
    elif what == 9:
        # a G-Set: grows on every node, never shrinks
        new = [m.fresh("g") for _ in range(k)]
        pipelined(n, members(["SADD", "gset"], new))
        m.grown.update(new)
        log("  %s SADD gset %d" % (n.name, k))
    else:
        # a large key with a TTL of 200-500 ms, on the first node only: it
        # must be gone everywhere at the end, whatever the faults
        n = nodes[0]
        key = "x" + m.fresh("e")
        cmds = members(["SADD", key], [m.fresh("e") for _ in range(k)])
        cmds.append(["PEXPIRE", key, str(rng.randint(200, 500))])
        r = pipelined(n, cmds)
        if r[-1] != 1:
            raise AssertionError("%s: PEXPIRE %s answered %r" % (n.name, key, r[-1]))
        m.expiring.append(key)
        log("  %s SADD %s %d, PEXPIRE" % (n.name, key, k))


def holds(node, m):
    c = node.client()
    return (c.scard("bigset") == len(m.members) and c.hlen("bighash") == len(m.fields) and
            c.scard("delset") == len(m.dset) and c.hlen("delhash") == len(m.dhash) and
            c.scard("gset") == len(m.grown) and c.hlen("cnthash") == 1 + len(set(m.counts) - {"c0"}) and
            (not m.expiring or c.exists(*m.expiring) == 0) and c.dbsize() == dbsize(m))


def dbsize(m):
    """The keys the model holds: a set or hash with no member is no key;
    gset and cnthash always hold one."""
    return len(m.keys) + 2 + sum(1 for x in (m.members, m.fields, m.dset, m.dhash) if x)


def differences(node, m):
    c = node.client()
    out = []
    for key, want in (("bigset", m.members), ("delset", m.dset), ("gset", m.grown)):
        got = {x.decode() for x in c.smembers(key)}
        if got != want:
            miss, extra = sorted(want - got), sorted(got - want)
            out.append("%s: %s lacks %d (%s), holds %d extra (%s)" % (
                node.name, key, len(miss), " ".join(miss[:5]), len(extra), " ".join(extra[:5])))
    for key, want in (("bighash", m.fields), ("delhash", m.dhash)):
        h = {k.decode(): v.decode() for k, v in c.hgetall(key).items()}
        if set(h) != set(want):
            miss, extra = sorted(set(want) - set(h)), sorted(set(h) - set(want))
            out.append("%s: %s lacks %d fields (%s), holds %d extra (%s)" % (
                node.name, key, len(miss), " ".join(miss[:5]), len(extra), " ".join(extra[:5])))
        wrong = [f for f in set(h) & set(want) if h[f] != want[f]]
        if wrong:
            out.append("%s: %s has %d fields with another value (%s)" % (
                node.name, key, len(wrong), " ".join(sorted(wrong)[:5])))
    counts = {k.decode(): int(v) for k, v in c.hgetall("cnthash").items()}
    want = dict(m.counts, c0=m.counts.get("c0", 0))
    if counts != want:
        bad = sorted(f for f in set(counts) | set(want) if counts.get(f) != want.get(f))
        out.append("%s: cnthash differs in %d fields (%s)" % (
            node.name, len(bad), " ".join("%s=%s/%s" % (f, counts.get(f), want.get(f)) for f in bad[:5])))
    got = {}
    for key in c.scan_iter(match="k*", count=1000):
        got[key.decode()] = None
    names = sorted(got)
    for i in range(0, len(names), 1000):
        for key, v in zip(names[i:i + 1000], c.mget(names[i:i + 1000])):
            got[key] = v.decode() if v is not None else None
    if set(got) != set(m.keys):
        miss, extra = sorted(set(m.keys) - set(got)), sorted(set(got) - set(m.keys))
        out.append("%s: lacks %d keys (%s), holds %d extra (%s)" % (
            node.name, len(miss), " ".join(miss[:5]), len(extra), " ".join(extra[:5])))
    wrong = [key for key in set(got) & set(m.keys) if got[key] != m.keys[key]]
    if wrong:
        out.append("%s: %d keys with another value (%s)" % (node.name, len(wrong), " ".join(sorted(wrong)[:5])))
    if m.expiring and c.exists(*m.expiring):
        live = [k for k in m.expiring if c.exists(k)]
        out.append("%s: %d keys past their TTL still there (%s)" % (node.name, len(live), " ".join(live[:5])))
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--set", type=int, default=200000)
    ap.add_argument("--hash", type=int, default=50000)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--durability", choices=["none", "batch", "always"], default="none")
    ap.add_argument("--deltas", choices=["yes", "no"], default="yes")
    ap.add_argument("--max-instances", type=int, default=0,
                    help="[limits] max_instances on every node (default: the daemon's)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--crdtd")
    ap.add_argument("--keep", action="store_true", help="keep the run directory and print the logs")
    a = ap.parse_args()
    if a.nodes < 2 or a.set < 1 or a.hash < 1 or a.keys < 0 or a.rounds < 0 or a.batch < 1:
        ap.error("--nodes must be at least 2; --set, --hash and --batch at least 1; --keys at least 0")
    if a.crdtd:
        harness.CRDTD = a.crdtd
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    print("nemesis-large: seed %d, %d nodes, set %d, hash %d, keys %d, %d rounds, durability %s, deltas %s" % (
        seed, a.nodes, a.set, a.hash, a.keys, a.rounds, a.durability, a.deltas), flush=True)
    conf = {"simulation": {"enabled": "yes", "seed": str(seed % 4294967295 + 1)},
            "storage": {"durability": a.durability}, "gossip": {"deltas": a.deltas},
            "log": {"level": "info"}}
    if a.max_instances:
        conf["limits"] = {"max_instances": str(a.max_instances)}
    c = harness.Cluster(a.nodes, conf=conf)
    ok = False
    t0 = time.monotonic()
    try:
        c.start()
        nodes = c.nodes
        m = Model(a.set, a.hash, a.keys)
        load(nodes[0], a.set, a.hash, a.keys)
        for n in nodes[1:]:
            harness.wait_until(lambda: holds(n, m), timeout=a.timeout, step=0.1,
                               what="%s to hold the loaded set and hash" % n.name)
        print("loaded and replicated in %.1f s" % (time.monotonic() - t0), flush=True)

        def log(s):
            print(s, flush=True)
        for r in range(1, a.rounds + 1):
            log("round %d:" % r)
            fault(rng, nodes, lambda s: log("  " + s), a.durability == "always")
            for _ in range(rng.randint(1, 4)):
                writes(rng, nodes, m, a.batch, log)
            time.sleep(rng.uniform(0.1, 0.6))
        for n in nodes:
            for args in (["HEAL"], ["LOSS", "0"], ["DUPLICATE", "0"], ["REORDER", "0"]):
                sim(n, *args)
        t1 = time.monotonic()
        log("healed; the model: set %d, hash %d, %d keys, delset %d, delhash %d, %d keys past their TTL" % (
            len(m.members), len(m.fields), len(m.keys), len(m.dset), len(m.dhash), len(m.expiring)))
        # the sizes first (cheap), then every member, field and value
        deadline, diffs, sized = t1 + a.timeout, ["not compared yet"], None
        while diffs and time.monotonic() < deadline:
            if all(holds(n, m) for n in nodes):
                sized = sized or time.monotonic() - t1
                diffs = [d for n in nodes for d in differences(n, m)]
            if diffs:
                time.sleep(0.5)
        if diffs:
            diffs = [d for n in nodes for d in differences(n, m)] or diffs
        if diffs:
            log("FAIL: within %.0f s of the heal, %d difference(s) from the model:\n  %s" % (
                a.timeout, len(diffs), "\n  ".join(diffs)))
        else:
            ok = True
            log("PASS: all %d replicas equal the model (their sizes %.1f s after the heal, the contents "
                "compared by %.1f s; set %d, hash %d, %d keys), seed %d" % (
                    len(nodes), sized, time.monotonic() - t1, len(m.members), len(m.fields), len(m.keys), seed))
    finally:
        c.cleanup(keep_logs=a.keep or not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
