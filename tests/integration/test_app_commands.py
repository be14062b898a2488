"""The commands applications reach for, on real daemons (issue 13, part 4).

MGET/MSET, the set algebra and its STORE forms, SRANDMEMBER, SMISMEMBER,
MULTI/EXEC through redis-py's own pipeline API, TYPE's Redis names, the
refusals of what cannot converge, and bad input against [limits]: a clear
error, counted, nothing changed.  Every wait is bounded; daemons are stopped
by PID.
"""
import os
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

SIM = {"simulation": {"enabled": "yes", "seed": "13"}}


def info(client, section):
    return client.info(section)


class AppCommandsTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def converge(self, fn, want, what, timeout=20):
        clients = [n.client(decode_responses=True) for n in self.cluster.nodes]
        wait_until(lambda: all(fn(c) == want for c in clients), timeout=timeout,
                   what="%s: want %r, have %r" % (what, want, [fn(c) for c in clients]))

    def test_transaction_is_one_journal_commit(self):
        c = self.cluster = Cluster(1).start()
        r = c[0].client(decode_responses=True)
        before = info(r, "persistence")
        p = r.pipeline(transaction=True)
        for i in range(20):
            p.incr("tx:c%d" % i)
        p.sadd("tx:s", "a", "b")
        p.mset({"tx:r1": "x", "tx:r2": "y"})
        p.mget("tx:r1", "tx:c0")
        self.assertEqual(p.execute(), [1] * 20 + [2, True, ["x", "1"]])
        after = info(r, "persistence")
        # 23 writes, journaled in one LMDB transaction (one loop pass)
        self.assertGreaterEqual(after["journal_records"] - before["journal_records"], 23)
        self.assertEqual(after["commits"] - before["commits"], 1)
        # a connection that closes inside MULTI applies nothing (and its
        # queue is freed: under ASan a leak fails the daemon's exit)
        raw = redis.Connection(host="127.0.0.1", port=c[0].port)
        raw.send_command("MULTI")
        self.assertEqual(raw.read_response(), b"OK")
        raw.send_command("INCR", "tx:lost")
        self.assertEqual(raw.read_response(), b"QUEUED")
        raw.disconnect()
        self.assertEqual(r.exists("tx:lost"), 0)
        # and durable: a restart brings them back
        c[0].stop()
        c[0].start()
        r = c[0].client(decode_responses=True)
        self.assertEqual(r.mget("tx:c19", "tx:r2"), ["1", "y"])
        self.assertEqual(r.smembers("tx:s"), {"a", "b"})

    def test_transaction_replicates_together(self):
        # rounds every minute: only the push after the write carries state,
        # so what the other node sees is whatever one push delivered
        conf = {"gossip": {"interval_ms": "60000", "push_delay_ms": "1"}}
        c = self.cluster = Cluster(2, conf=conf).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        seen = []

        def all_or_none():
            v = b.mget("t:1", "t:2", "t:3")
            seen.append(v)
            self.assertIn(v, ([None] * 3, ["1", "2", "3"]), "a transaction seen in part")
            return v[0] is not None

        p = a.pipeline(transaction=True)
        p.set("t:1", "1").set("t:2", "2").set("t:3", "3")
        p.execute()
        wait_until(all_or_none, timeout=20, what="the transaction on the other node")

    def test_set_algebra_and_strings_replicate(self):
        c = self.cluster = Cluster(2).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.sadd("s1", "a", "b", "c")
        b.sadd("s2", "b", "c", "d")
        self.converge(lambda x: x.exists("s1", "s2"), 2, "both sources")
        self.assertEqual(a.sunion("s1", "s2"), {"a", "b", "c", "d"})
        self.assertEqual(a.sinter("s1", "s2"), {"b", "c"})
        self.assertEqual(b.sdiff("s1", "s2"), {"a"})
        self.assertEqual(a.sinterstore("both", "s1", "s2"), 2)
        self.assertEqual(a.smismember("both", "b", "a", "c"), [1, 0, 1])
        self.assertIn(b.srandmember("s2"), {"b", "c", "d"})
        self.assertEqual(len(a.srandmember("s1", -7)), 7)
        self.assertEqual(sorted(a.srandmember("s1", 5)), ["a", "b", "c"])
        self.assertTrue(a.mset({"m1": "one", "m2": "two"}))
        self.converge(lambda x: x.smembers("both"), {"b", "c"}, "the stored intersection")
        self.converge(lambda x: x.mget("m1", "m2", "nokey"), ["one", "two", None], "MSET")
        self.assertEqual(b.type("both"), "set")
        self.assertEqual(b.type("m1"), "string")
        self.assertEqual(b.execute_command("CRDT.TYPE", "both"), "orset")
        self.assertEqual(b.getset("m1", "uno"), "one")
        self.converge(lambda x: x.get("m1"), "uno", "GETSET")

    def test_store_meets_concurrent_writes(self):
        """The STORE replaces what its replica saw; a concurrent add to the
        destination survives it, a concurrent remove of a member of the
        result does not take it away (docs/commands.md)."""
        c = self.cluster = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.sadd("dst", "old", "b", "c")
        a.sadd("src", "b", "c")
        self.converge(lambda x: x.scard("dst") + x.scard("src"), 5, "dst and src")
        self.assertTrue(a.execute_command("CRDT.SIM", "PARTITION", c[1].name))
        self.assertEqual(a.sunionstore("dst", "src"), 2)
        b.sadd("dst", "new")
        b.srem("dst", "b")
        self.assertTrue(a.execute_command("CRDT.SIM", "HEAL"))
        self.converge(lambda x: x.smembers("dst"), {"b", "c", "new"}, "dst after the heal")

    def test_refusals_and_bad_input_change_nothing(self):
        conf = {"limits": {"max_value_bytes": "16", "max_instances": "6", "max_elements": "4",
                           "max_name_bytes": "32"}}
        c = self.cluster = Cluster(1, conf=conf).start()
        r = c[0].client(decode_responses=True)
        r.sadd("s", "a", "b", "c")
        r.sadd("t", "d", "e")
        r.set("k", "v")
        errors = info(r, "stats")["total_error_replies"]
        cases = [
            (lambda: r.mset({"k": "w", "k2": "x" * 17}), r"^value longer than max_value_bytes \(16\)$"),
            (lambda: r.mset({"k": "w", "x" * 33: "v"}), r"^key longer than max_name_bytes \(32\)$"),
            (lambda: r.mset({"n1": "1", "n2": "2", "n3": "3", "n4": "4"}), r"max_instances \(6\) reached"),
            (lambda: r.mset({"k": "w", "s": "v"}), r"^WRONGTYPE"),
            (lambda: r.sunionstore("k3", "s", "t"), r"^set would pass max_elements \(4\)$"),
            (lambda: r.sunionstore("k", "s"), r"^WRONGTYPE"),
            (lambda: r.incrby("k", 1), r"^WRONGTYPE"),
            (lambda: r.decrby("c", -2**63), r"^decrement would overflow$"),
            (lambda: r.execute_command("INCRBY", "c", "1.5"), r"^value is not an integer or out of range$"),
            (lambda: r.srandmember("s", "x"), r"^value is not an integer or out of range$"),
            (lambda: r.spop("s"), r"^SPOP cannot converge"),
            (lambda: r.smove("s", "t", "a"), r"^SMOVE cannot converge"),
        ]
        for fn, pattern in cases:
            with self.assertRaisesRegex(redis.ResponseError, pattern):
                fn()
        self.assertEqual(info(r, "stats")["total_error_replies"], errors + len(cases))
        self.assertEqual(r.get("k"), "v")
        self.assertEqual(r.smembers("s"), {"a", "b", "c"})
        self.assertEqual(r.smembers("t"), {"d", "e"})
        self.assertEqual(r.dbsize(), 3)
        r.incr("c")
        with self.assertRaisesRegex(redis.ResponseError, r"^GETSET on a counter cannot converge"):
            r.getset("c", "0")
        self.assertEqual(r.get("c"), "1")

        # WATCH is refused at once; a transaction with a refused command
        # aborts whole
        with r.pipeline() as p:
            with self.assertRaisesRegex(redis.ResponseError, r"^WATCH is not supported"):
                p.watch("c")
        p = r.pipeline(transaction=True)
        p.incr("c")
        p.execute_command("NOSUCH")
        # redis-py reports the queued command's error; the daemon answered
        # EXECABORT to the EXEC
        with self.assertRaisesRegex(redis.ResponseError, r"unknown command 'NOSUCH'"):
            p.execute()
        self.assertEqual(r.get("c"), "1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
