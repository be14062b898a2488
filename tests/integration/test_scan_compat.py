"""SCAN, HSCAN and SSCAN against redis-server itself: the same raw commands to a
crdtd and to a redis-server (both on loopback ports picked free, stopped by
PID), and their replies compared byte for byte where Redis' reply does not
depend on its hash table: every cursor error, every empty or WRONGTYPE scan
and its order of checks (cursor, key, type, options), HSCAN of a small hash
(Redis answers those whole), and the option errors.  Skipped without
redis-server."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, free_port, wait_until  # noqa: E402

REDIS = shutil.which("redis-server")


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Raw:
    """One RESP2 connection that returns each reply as the exact bytes."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _reply(self):
        line = self._line()
        if line[:1] in (b"+", b"-", b":"):
            return line
        if line[:1] == b"$":
            n = int(line[1:-2])
            if n < 0:
                return line
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            body, self.buf = self.buf[:n + 2], self.buf[n + 2:]
            return line + body
        if line[:1] == b"*":
            return line + b"".join(self._reply() for _ in range(max(int(line[1:-2]), 0)))
        raise AssertionError("unexpected reply %r" % line)

    def __call__(self, *args):
        self.s.sendall(encode(args))
        return self._reply()

    def close(self):
        self.s.close()


VALID = ["0", "1", "-1", "-0", "+5", "007", "", "18446744073709551615",
         "-18446744073709551615", "9223372036854775808", b"1\x00x", b"\x00 x"]
INVALID = [" 5", "5 ", "\t1", "abc", "-", "+", "+-1", "- 1", "18446744073709551616",
           "-18446744073709551616", "99999999999999999999999", "1e3", "0x10", b"x\x00"]
OPTIONS = [[], ["COUNT", "0"], ["COUNT", "-1"], ["COUNT", "x"], ["COUNT"], ["MATCH"],
           ["BOGUS", "1"], ["TYPE", "string"], ["MATCH", "*", "COUNT", "99999999999999999999"],
           ["MATCH", "a*", "COUNT", "1"]]


@unittest.skipUnless(REDIS, "redis-server is not installed")
class ScanCompatTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crdtd-scan-")
        self.rport = free_port()
        self.redis = subprocess.Popen(
            [REDIS, "--port", str(self.rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.cluster = Cluster(1).start()
        wait_until(self.redis_ready, what="redis-server")
        self.r = Raw(self.rport)
        self.c = Raw(self.cluster[0].port)

    def redis_ready(self):
        r = Raw(self.rport)
        try:
            return r("PING") == b"+PONG\r\n"
        finally:
            r.close()

    def tearDown(self):
        self.r.close()
        self.c.close()
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
        shutil.rmtree(self.dir, ignore_errors=True)

    def both(self, *args):
        return self.r(*args), self.c(*args)

    def same(self, *args):
        want, got = self.both(*args)
        self.assertEqual(got, want, "reply to %r" % (args,))
        return got

    def test_cursors_and_order_of_checks(self):
        for args in (("HSET", "h", "a", "1"), ("SADD", "st", "x"), ("SET", "str", "v")):
            self.same(*args)
        for cur in INVALID:
            for pre in (["SCAN"], ["HSCAN", "h"], ["HSCAN", "str"], ["HSCAN", "nokey"],
                        ["SSCAN", "st"], ["SSCAN", "str"], ["SSCAN", "nokey"]):
                self.assertEqual(self.same(*(pre + [cur, "COUNT", "0"])), b"-ERR invalid cursor\r\n")
        for cur in VALID:
            for opts in OPTIONS:
                # answered whole by Redis too, or never looked at
                for pre in (["HSCAN", "h"], ["HSCAN", "str"], ["HSCAN", "nokey"],
                            ["SSCAN", "str"], ["SSCAN", "nokey"]):
                    self.same(*(pre + [cur] + opts))
                # Redis reads these cursors as places in its hash table:
                # the errors agree, and both answer a scan otherwise
                for pre in (["SCAN"], ["SSCAN", "st"]):
                    want, got = self.both(*(pre + [cur] + opts))
                    if want.startswith(b"-"):
                        self.assertEqual(got, want, "reply to %r" % (pre + [cur] + opts))
                    else:
                        self.assertTrue(got.startswith(b"*2\r\n$1\r\n0\r\n"), got)
        # the whole keyspace or set from cursor 0
        self.same("SCAN", "0", "TYPE", "string")
        self.same("SSCAN", "st", "0")
        self.same("SCAN", "0", "MATCH", "s*", "TYPE", "set")

    def scan_all(self, conn, cmd, key, count, *opts):
        """Every step of a scan from cursor 0 to 0: (steps, items)."""
        cur, steps, items = b"0", [], []
        while True:
            raw = conn(*([cmd] + ([key] if key else []) + [cur, "COUNT", str(count)] + list(opts)))
            # *2 $n cursor *m then m bulk strings
            parts = raw.split(b"\r\n")
            cur = parts[2]
            m = int(parts[3][1:])
            step = [parts[5 + 2 * i] for i in range(m)]
            steps.append(step)
            items += step
            if cur == b"0":
                return steps, items
            self.assertLess(len(steps), 100000)

    def test_large_collections_paged(self):
        """A set or hash past 128 members, and a keyspace past 128 names, go
        a step at a time, about COUNT a step, and a scan to cursor 0 gives
        each once: the same members as redis-server's scan of the same
        data."""
        members = ["m%05d" % i for i in range(3000)]
        for i in range(0, len(members), 500):
            self.both("SADD", "big", *members[i:i + 500])
            self.both("HSET", "bigh", *[x for m in members[i:i + 500] for x in (m, m + "v")])
        for conn in (self.r, self.c):
            steps, items = self.scan_all(conn, "SSCAN", "big", 20)
            self.assertEqual(sorted(set(items)), sorted(m.encode() for m in members))
            if conn is self.c:
                self.assertEqual(len(items), len(members))  # no member twice
                self.assertGreater(len(steps), 3000 // 40)
                self.assertTrue(all(len(s) <= 24 for s in steps), max(map(len, steps)))
            steps, items = self.scan_all(conn, "HSCAN", "bigh", 15)
            pairs = dict(zip(items[::2], items[1::2]))
            self.assertEqual(pairs, {m.encode(): (m + "v").encode() for m in members})
            if conn is self.c:
                self.assertEqual(len(items), 2 * len(members))
                self.assertTrue(all(len(s) <= 2 * 19 for s in steps))
        # SCAN of a keyspace past 128 names: steps, every key once
        keys = ["key:%05d" % i for i in range(3000)]
        for i in range(0, len(keys), 500):
            self.both("MSET", *[x for k in keys[i:i + 500] for x in (k, "v")])
        for conn in (self.r, self.c):
            steps, items = self.scan_all(conn, "SCAN", None, 20, "MATCH", "key:*")
            self.assertEqual(sorted(set(items)), [k.encode() for k in keys])
            if conn is self.c:
                self.assertEqual(len(items), len(keys))
                self.assertGreater(len(steps), 3000 // 40)
        # MATCH filters what a step visited; NOVALUES leaves the values out
        _, items = self.scan_all(self.c, "SSCAN", "big", 50, "MATCH", "m00*")
        self.assertEqual(sorted(items), [m.encode() for m in members if m.startswith("m00")])
        _, items = self.scan_all(self.c, "HSCAN", "bigh", 50, "NOVALUES")
        self.assertEqual(sorted(items), [m.encode() for m in members])


if __name__ == "__main__":
    unittest.main()
