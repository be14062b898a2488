#!/usr/bin/python3
"""Members, fields and names chosen to collide in a public hash, against
random ones of the same length: what a client with write access could do
to a table whose hash it can compute (hash flooding).

One crdtd (no peers, durability none) and one redis-server, both started by
this script on loopback and stopped by PID.  For each kind, N random and N
crafted strings are written one per command, pipelined 1,000 at a time:

- members: SADD into one set; fields: HSET into one hash.  Crafted: 8-byte
  strings that all share one 32-bit hash under libcrdt's element hash as it
  was up to e95494f (public and unkeyed: each word pre-mixed, then a xor and
  a multiply), computed by inverting it.
- names: SET of N keys.  Crafted: names of 16-byte blocks, block i one of
  two whose difference (2^63 in its first word, 2^63 + 2^32 in its second)
  goes through the store's name hash of e95494f the same way whatever its
  seed, so all 2^k names of k blocks collided under every seed.

Prints seconds and microseconds a command for each server and the ratio
crafted / random: about 1 for a table keyed with a secret; growing with N
for one the client can compute.

    bench/flood.py [--crdtd PATH] [-n 20000] [--runs 3]
"""
import argparse
import os
import random
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from redis_ref import redis_server  # noqa: E402

M64 = (1 << 64) - 1
C1, C2, MUL = 0xbf58476d1ce4e5b9, 0x94d049bb133111eb, 0x9e3779b97f4a7c15


def mix(z):
    z = ((z ^ (z >> 30)) * C1) & M64
    z = ((z ^ (z >> 27)) * C2) & M64
    return z ^ (z >> 31)


def unxorshift(z, s):
    r = z
    for _ in range(64 // s + 1):
        r = z ^ (r >> s)
    return r


def unmix(z):
    z = unxorshift(z, 31)
    z = (z * pow(C2, -1, 1 << 64)) & M64
    z = unxorshift(z, 27)
    z = (z * pow(C1, -1, 1 << 64)) & M64
    return unxorshift(z, 30)


def old_elem_hash8(w):
    """e95494f's et_hash of the 8 bytes of @w (little-endian)."""
    h = 0x243f6a8885a308d3 ^ ((8 * MUL) & M64)
    h = ((h ^ mix(w)) * MUL) & M64
    return mix(h) & 0xffffffff


def crafted_members(n, rnd, target=0x12345678):
    h0 = 0x243f6a8885a308d3 ^ ((8 * MUL) & M64)
    minv = pow(MUL, -1, 1 << 64)
    out = set()
    while len(out) < n:
        h = unmix(rnd.getrandbits(32) << 32 | target)
        out.add(unmix(((h * minv) & M64) ^ h0))
    assert all(old_elem_hash8(w) == target for w in list(out)[:100])
    return [struct.pack("<Q", w) for w in out]


def old_name_hash(seed, p):
    """e95494f's store name hash (hash_words keyed by @seed)."""
    n = len(p)
    h = (seed ^ n) & M64
    i = 0
    while n - i >= 8:
        h = ((h ^ struct.unpack_from("<Q", p, i)[0]) * C1) & M64
        h ^= h >> 31
        i += 8
    for b in p[i:]:
        h = ((h ^ b) * C2) & M64
    h ^= h >> 29
    h = (h * C1) & M64
    return h ^ (h >> 32)


def crafted_names(n, rnd):
    k = max(1, (n - 1).bit_length())
    blocks = [(rnd.getrandbits(64), rnd.getrandbits(64)) for _ in range(k)]
    out = []
    for i in range(n):
        name = b"flood:--"
        for j, (a, b) in enumerate(blocks):
            if i >> j & 1:
                a, b = a ^ 1 << 63, b ^ (1 << 63 | 1 << 32)
            name += struct.pack("<QQ", a, b)
        out.append(name)
    for seed in (1, 0x9e3779b97f4a7c15, rnd.getrandbits(64)):
        assert len({old_name_hash(seed, x) for x in out[:64]}) == 1
    return out


def write(cl, kind, items):
    t = time.perf_counter()
    for i in range(0, len(items), 1000):
        p = cl.pipeline(transaction=False)
        for x in items[i:i + 1000]:
            if kind == "members":
                p.sadd(b"s:" + kind.encode(), x)
            elif kind == "fields":
                p.hset(b"h:" + kind.encode(), x, b"v")
            else:
                p.set(x, b"v")
        p.execute()
    return time.perf_counter() - t


def one_run(n, rnd):
    cr = {"members": crafted_members(n, rnd), "names": crafted_names(n, rnd)}
    cr["fields"] = cr["members"]
    rows = []
    c = harness.Cluster(n=1, conf={"log": {"level": "warn"}, "storage": {"durability": "none"}})
    c.start()
    try:
        with redis_server() as (rc, _port):
            for kind in ("members", "fields", "names"):
                crafted = cr[kind]
                size = len(crafted[0])
                randoms = [rnd.getrandbits(8 * size).to_bytes(size, "little") for _ in range(n)]
                if kind == "names":
                    randoms = [b"flood:--" + x[8:] for x in randoms]
                for server, cl in (("crdtd", c[0].client()), ("redis-server", rc)):
                    r = write(cl, kind, randoms)
                    cl.delete(b"s:members", b"h:fields")  # names stay: the table holds N more
                    f = write(cl, kind, crafted)
                    cl.delete(b"s:members", b"h:fields")
                    rows.append((kind, server, r, f))
    finally:
        c.cleanup()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crdtd", default=harness.CRDTD)
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    harness.CRDTD = args.crdtd
    rnd = random.Random(args.seed)
    runs = [one_run(args.n, rnd) for _ in range(args.runs)]
    print("crdtd: %s, N = %d, medians of %d runs" % (args.crdtd, args.n, args.runs))
    print("| what | server | random: s (us a command) | crafted: s (us a command) | crafted / random |")
    print("|---|---|---:|---:|---:|")
    for i, (kind, server, _r, _f) in enumerate(runs[0]):
        r = statistics.median(run[i][2] for run in runs)
        f = statistics.median(run[i][3] for run in runs)
        print("| %s | %s | %.3f (%.1f) | %.3f (%.1f) | %.2f |"
              % (kind, server, r, r / args.n * 1e6, f, f / args.n * 1e6, f / r))


if __name__ == "__main__":
    main()
