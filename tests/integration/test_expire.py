"""Expiry across real daemons: a deadline set on one node replicates, the
key disappears on every node at its deadline and is deleted in the
background (no access needed), TTL/PTTL/PERSIST/SET EX answer as Redis, a
write after the expiry starts the key live without a deadline, a
partitioned node expires on its own and converges after the heal, a
deadline survives kill -9, bad TTLs are counted errors that change
nothing, and GETEX/EXPIRETIME/PEXPIRETIME answer as Redis across two nodes."""
import os
import signal
import sys
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

SIM = {"simulation": {"enabled": "yes", "seed": "13"}, "gossip": {"interval_ms": "100"}}


def stat(r, name, section="stats"):
    return int(r.info(section)[name])


def keyspace(r):
    """What a node answers about the keyspace, without touching any key."""
    ks = r.info("keyspace").get("db0", {"keys": 0, "expires": 0})
    return {"dbsize": r.dbsize(), "keys": sorted(r.keys("*")),
            "db0": (ks["keys"], ks["expires"])}


class ExpireTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def test_replicated_deadline_partition_and_heal(self):
        self.cluster = c = Cluster(3, conf=SIM).start()
        a, b, d = (n.client(decode_responses=True) for n in c.nodes)
        a.set("k", "v")
        a.sadd("s", "x")
        a.set("p", "v", px=60000)
        a.set("j", "v")
        a.set("keep", "v")
        for r in (a, b, d):
            wait_until(lambda r=r: r.exists("k", "s", "p", "j", "keep") == 5, what="the keys")
        # PERSIST on one node, of a deadline set on another
        wait_until(lambda: b.ttl("p") > 0, what="p's deadline at b")
        self.assertEqual(b.persist("p"), 1)
        self.assertEqual(b.persist("p"), 0)
        self.assertEqual(b.ttl("p"), -1)
        # deadlines set on three nodes, replicated everywhere
        self.assertTrue(a.pexpire("k", 1500))
        self.assertTrue(b.expire("s", 1))
        self.assertTrue(d.set("x", "v", px=1500))
        self.assertTrue(a.pexpire("j", 1500))
        for r in (a, b, d):
            wait_until(lambda r=r: all(0 < r.pttl(k) <= 1500 for k in ("k", "s", "x", "j")),
                       what="the deadlines everywhere")
            wait_until(lambda r=r: r.ttl("p") == -1, what="the PERSIST everywhere")
            self.assertEqual(r.ttl("keep"), -1)
            self.assertEqual(r.ttl("nosuch"), -2)
            self.assertEqual(r.pttl("nosuch"), -2)
        self.assertEqual(keyspace(a)["db0"], (6, 4))

        # d is cut off before the deadlines: it expires them on its own
        self.assertTrue(d.execute_command("CRDT.SIM", "ISOLATE"))
        want = {"dbsize": 2, "keys": ["keep", "p"], "db0": (2, 0)}
        # polling only DBSIZE, KEYS and INFO: the keys go without access
        wait_until(lambda: stat(d, "expired_keys") == 4, what="d's background expiry")
        for r in (a, b, d):
            wait_until(lambda r=r: keyspace(r) == want, what="the expired keyspace")
        wait_until(lambda: stat(a, "expired_keys") + stat(b, "expired_keys") >= 4,
                   what="a and b's background expiry")
        # a write after the expiry: live again, without a deadline; d's
        # is concurrent with a and b's expiry of j, and survives it
        a.set("k", "again")
        d.set("j", "from d")
        self.assertEqual(d.ttl("j"), -1)
        wait_until(lambda: b.get("k") == "again", what="the new k at b")
        self.assertEqual(b.ttl("k"), -1)
        self.assertIsNone(d.get("k"))

        self.assertTrue(d.execute_command("CRDT.SIM", "HEAL"))
        want = {"dbsize": 4, "keys": ["j", "k", "keep", "p"], "db0": (4, 0)}
        for r in (a, b, d):
            wait_until(lambda r=r: keyspace(r) == want, what="the converged keyspace")
            self.assertEqual((r.get("k"), r.get("j")), ("again", "from d"))
            self.assertEqual((r.ttl("k"), r.ttl("j")), (-1, -1))
            self.assertEqual(r.exists("s", "x"), 0)

    def test_commands_errors_and_kill_9(self):
        self.cluster = c = Cluster(1, conf={"storage": {"durability": "always"}}).start()
        r = c[0].client(decode_responses=True)
        r.set("k", "v")
        self.assertTrue(r.expire("k", 100))
        self.assertFalse(r.expire("k", 50, nx=True))
        self.assertFalse(r.expire("k", 50, gt=True))
        self.assertTrue(r.expire("k", 50, lt=True))
        self.assertTrue(r.expire("k", 200, xx=True))
        self.assertEqual(r.ttl("k"), 200)
        self.assertTrue(r.pexpireat("k", int(time.time()) * 1000 + 300_000))
        self.assertTrue(295 <= r.ttl("k") <= 300)
        self.assertTrue(r.expireat("k", int(time.time()) + 100))
        self.assertFalse(r.expire("nosuch", 10))
        self.assertFalse(r.persist("nosuch"))
        # SET: EX/PX/EXAT/PXAT set the deadline, KEEPTTL keeps it, else cleared
        r.set("k", "w", keepttl=True)
        self.assertTrue(0 < r.ttl("k") <= 100)
        r.set("k", "w")
        self.assertEqual(r.ttl("k"), -1)
        r.set("k", "w", ex=100)
        self.assertEqual(r.ttl("k"), 100)
        r.set("k", "w", pxat=int(time.time()) * 1000 + 50_000)
        self.assertTrue(45 <= r.ttl("k") <= 50)
        self.assertTrue(r.setex("sx", 100, "v"))
        self.assertEqual((r.get("sx"), r.ttl("sx")), ("v", 100))
        self.assertTrue(r.psetex("sx", 100_000, "w"))
        self.assertEqual((r.get("sx"), r.ttl("sx")), ("w", 100))
        self.assertTrue(r.delete("sx"))
        r.incr("n")
        r.expire("n", 100)
        r.incr("n")  # other writes keep the deadline
        self.assertTrue(0 < r.ttl("n") <= 100)
        # a deadline in the past deletes at once, as Redis
        r.set("gone", "v")
        self.assertTrue(r.expire("gone", -1))
        self.assertEqual(r.exists("gone"), 0)

        errors = stat(r, "total_error_replies")
        pttl = r.pttl("k")
        bad = [
            (("SET", "k", "x", "EX", "0"), "invalid expire time in 'set' command"),
            (("SET", "k", "x", "PX", "-5"), "invalid expire time in 'set' command"),
            (("SET", "k", "x", "EX", "9223372036854775807"), "invalid expire time in 'set'"),
            (("SET", "k", "x", "EX", "ten"), "not an integer or out of range"),
            (("SET", "k", "x", "EX", "1", "PX", "1"), "syntax error"),
            (("SET", "k", "x", "EX"), "syntax error"),
            (("SET", "k", "x", "KEEPTTL", "EX", "1"), "syntax error"),
            (("EXPIRE", "k", "9223372036854775807"), "invalid expire time in 'expire' command"),
            (("PEXPIRE", "k", "9223372036854775807"), "invalid expire time in 'pexpire'"),
            (("EXPIRE", "k", "1.5"), "not an integer or out of range"),
            (("EXPIRE", "k", "10", "NX", "XX"), "NX and XX, GT or LT options"),
            (("EXPIRE", "k", "10", "GT", "LT"), "GT and LT options"),
            (("EXPIRE", "k", "10", "SOON"), "Unsupported option SOON"),
            (("SETEX", "k", "0", "x"), "invalid expire time in 'setex' command"),
            (("PSETEX", "k", "-1", "x"), "invalid expire time in 'psetex' command"),
            (("EXPIRE", "k"), "wrong number of arguments for 'expire'"),
            (("TTL",), "wrong number of arguments for 'ttl'"),
        ]
        for args, msg in bad:
            with self.assertRaisesRegex(redis.ResponseError, msg):
                r.execute_command(*args)
        self.assertEqual(stat(r, "total_error_replies"), errors + len(bad))
        # unchanged: the same value, and the same deadline
        self.assertEqual(r.get("k"), "w")
        self.assertTrue(pttl - 10_000 < r.pttl("k") <= pttl)
        # the deadlines' own names are no client's
        with self.assertRaisesRegex(redis.ResponseError, "reserved"):
            r.execute_command("SET", b"\xffttl:k", "1")
        self.assertIsNone(r.execute_command("GET", b"\xffttl:k"))
        r.execute_command("CRDT.CREATE", "g", "gcounter")
        with self.assertRaisesRegex(redis.ResponseError, "grow-only type cannot be deleted"):
            r.expire("g", 10)

        # journaled: the deadlines survive kill -9, and one that passes
        # while the node is down expires when it is back
        r.set("soon", "v", px=1000)
        c[0].stop(signal.SIGKILL)
        c[0].start()
        r = c[0].client(decode_responses=True)
        self.assertTrue(0 < r.ttl("k") <= 50)
        self.assertTrue(0 < r.ttl("n") <= 100)
        wait_until(lambda: stat(r, "expired_keys") == 1, what="soon's expiry after the restart")
        self.assertEqual(sorted(r.keys("*")), ["g", "k", "n"])
        self.assertEqual(r.ttl("soon"), -2)

    def test_a_burst_of_deadlines_is_swept_a_slice_a_pass(self):
        """20,000 names of one deadline are deleted in the background at
        most 128 a loop pass: the sweep takes at least 20,000 / 128 passes
        (a timer restarted at 0 ms from its own callback ran again within
        the same pass in libuv 1.44, and the whole sweep was one pass)."""
        self.cluster = c = Cluster(1, conf={"gossip": {"interval_ms": "1000"}}).start()
        a = c[0].client(decode_responses=True)
        n = 20000
        at = int(time.time() * 1000) + 3000
        pipe = a.pipeline(transaction=False)
        for i in range(n):
            pipe.set("burst:%05d" % i, "v", pxat=at)
        pipe.execute()
        self.assertLess(int(time.time() * 1000), at)  # else raise the margin
        expired0 = stat(a, "expired_keys")
        wait_until(lambda: int(time.time() * 1000) >= at, what="the deadline")
        passes0 = int(a.info("all")["loop_passes"])
        wait_until(lambda: stat(a, "expired_keys") - expired0 >= n, timeout=30, step=0.05,
                   what="every name swept")
        passes = int(a.info("all")["loop_passes"]) - passes0
        self.assertGreaterEqual(passes, n // 128)
        self.assertEqual(a.dbsize(), 0)

    def test_getex_and_expiretime_over_two_nodes(self):
        self.cluster = c = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.set("k", "v")
        a.incrby("n", 5)
        a.sadd("s", "m")
        for r in (a, b):
            wait_until(lambda r=r: r.exists("k", "n", "s") == 3, what="the keys")
            self.assertEqual((r.expiretime("k"), r.pexpiretime("k")), (-1, -1))
            self.assertEqual((r.expiretime("nosuch"), r.pexpiretime("nosuch")), (-2, -2))
        # GETEX on a: the value, and a deadline that replicates to b
        at = int(time.time() * 1000) + 300_000
        self.assertEqual(a.getex("k", pxat=at), "v")
        self.assertEqual(a.getex("n", exat=at // 1000), "5")
        for r in (a, b):
            wait_until(lambda r=r: r.pexpiretime("k") == at, what="k's deadline everywhere")
            wait_until(lambda r=r: r.expiretime("n") == at // 1000, what="n's deadline")
            self.assertEqual(r.expiretime("k"), at // 1000)
        self.assertIsNone(b.getex("nosuch", ex=10))
        self.assertEqual(b.pexpiretime("nosuch"), -2)
        self.assertEqual(b.getex("k"), "v")  # no option: GET, the deadline kept
        self.assertEqual(b.pexpiretime("k"), at)
        # GETEX PERSIST on b removes a's deadline everywhere
        self.assertEqual(b.getex("k", persist=True), "v")
        for r in (a, b):
            wait_until(lambda r=r: r.ttl("k") == -1, what="the PERSIST everywhere")
        self.assertEqual(b.getex("k", ex=100), "v")
        self.assertTrue(95 <= b.ttl("k") <= 100)

        # bad input: counted errors that change nothing on either node
        errors = stat(b, "total_error_replies")
        pttl = b.pttl("k")
        bad = [
            (("GETEX",), "^wrong number of arguments for 'getex' command$"),
            (("EXPIRETIME",), "^wrong number of arguments for 'expiretime' command$"),
            (("PEXPIRETIME", "k", "k"), "^wrong number of arguments for 'pexpiretime'"),
            (("GETEX", "s"), "^WRONGTYPE"),
            (("GETEX", "s", "EX", "10"), "^WRONGTYPE"),
            (("GETEX", "k", "EX", "0"), "^invalid expire time in 'getex' command$"),
            (("GETEX", "k", "EX", "-5"), "^invalid expire time in 'getex' command$"),
            (("GETEX", "k", "PXAT", "-1"), "^invalid expire time in 'getex' command$"),
            (("GETEX", "k", "EX", "9223372036854775807"), "^invalid expire time in 'getex'"),
            (("GETEX", "k", "EXAT", "9223372036854776"), "^invalid expire time in 'getex'"),
            (("GETEX", "k", "PX", "99999999999999999999"), "^value is not an integer or out"),
            (("GETEX", "k", "EX", "1.5"), "^value is not an integer or out of range$"),
            (("GETEX", "k", "EX"), "^syntax error$"),
            (("GETEX", "k", "PERSIST", "EX", "10"), "^syntax error$"),
            (("GETEX", "k", "KEEPTTL"), "^syntax error$"),
        ]
        for args, msg in bad:
            with self.assertRaisesRegex(redis.ResponseError, msg, msg=str(args)):
                b.execute_command(*args)
        self.assertEqual(stat(b, "total_error_replies"), errors + len(bad))
        self.assertEqual(b.get("k"), "v")
        self.assertTrue(pttl - 10_000 < b.pttl("k") <= pttl)
        self.assertEqual((b.ttl("s"), b.smembers("s")), (-1, {"m"}))
        b.execute_command("CRDT.CREATE", "g", "gcounter")
        with self.assertRaisesRegex(redis.ResponseError, "grow-only type cannot be deleted"):
            b.getex("g", ex=10)
        self.assertEqual(b.ttl("g"), -1)
        # a time already past: the value, then the key is gone everywhere
        self.assertEqual(b.getex("k", pxat=1), "v")
        for r in (a, b):
            wait_until(lambda r=r: r.exists("k") == 0, what="k deleted everywhere")
            self.assertEqual(r.pexpiretime("k"), -2)
            self.assertEqual(r.expiretime("n"), at // 1000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
