"""Limits never stop replication (issue 10, item 5).

[limits] protect memory at the client door; they must not make replicas
diverge.  Writes acknowledged on both sides of a partition merge into the
union on every node when it heals, even past max_elements, max_instances and
(on a node configured lower) max_element_bytes; a write that could never fit
a datagram is refused when it is made, with a clear error, and never stops
the rest of its set from replicating.  Every wait is bounded.
"""
import os
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

SIM = {"simulation": {"enabled": "yes", "seed": "11"}, "gossip": {"interval_ms": "100"}}


class LimitsTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def converge(self, fn, want, what, timeout=20):
        clients = [n.client(decode_responses=True) for n in self.cluster.nodes]
        wait_until(lambda: all(fn(c) == want for c in clients), timeout=timeout,
                   what="%s: want %r, have %r" % (what, want, [fn(c) for c in clients]))

    def test_partition_past_limits_heals_to_the_union(self):
        conf = dict(SIM, limits={"max_elements": "100", "max_instances": "30",
                                 "max_element_bytes": "64"})
        c = self.cluster = Cluster(2, conf=conf)
        c[1].extra["limits"]["max_element_bytes"] = "32"  # a node configured lower
        c.start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        self.assertTrue(a.execute_command("CRDT.SIM", "PARTITION", c[1].name))

        # Each side acknowledges writes that together pass every limit.
        mine = ["a-%02d-%s" % (i, "x" * 59) for i in range(60)]  # 64 bytes each
        theirs = ["b-%02d" % i for i in range(60)]
        self.assertEqual(a.sadd("s", *mine), 60)
        self.assertEqual(b.sadd("s", *theirs), 60)
        for i in range(20):
            self.assertEqual(a.incr("ka-%d" % i), 1)
            self.assertEqual(b.incr("kb-%d" % i), 1)
        self.assertEqual(a.dbsize(), 21)
        self.assertEqual(b.dbsize(), 21)
        # the door still holds on each side
        with self.assertRaisesRegex(redis.ResponseError, r"^element longer than max_element_bytes \(32\)$"):
            b.sadd("s", "y" * 33)

        self.assertTrue(a.execute_command("CRDT.SIM", "HEAL"))
        self.converge(lambda x: x.scard("s"), 120, "the set's union")
        self.converge(lambda x: x.dbsize(), 41, "every key on every node")
        self.converge(lambda x: x.smembers("s") == set(mine + theirs), True, "the same members")
        self.converge(lambda x: sorted(x.keys("k*")),
                      sorted(["ka-%d" % i for i in range(20)] + ["kb-%d" % i for i in range(20)]),
                      "the keys of both sides")
        for x in (a, b):
            info = x.info("gossip")
            self.assertGreaterEqual(info["limit_exceeded"], 1)
            self.assertNotIn("dropped_limit", info)
        # Past the limits now, new writes at the door are refused with the
        # limit's name; writes to what is there still work.
        with self.assertRaisesRegex(redis.ResponseError, r"^set would pass max_elements \(100\)$"):
            a.sadd("s", "one-more")
        with self.assertRaisesRegex(redis.ResponseError, r"max_instances \(30\) reached"):
            b.incr("new-key")
        self.assertEqual(b.incr("ka-0"), 2)
        self.converge(lambda x: x.get("ka-0"), "2", "a write to an existing key")
        wait_until(lambda: "merged all the same" in c[1].log_text(), what="a log line on the merge past a limit")

    def test_member_that_cannot_replicate_is_refused(self):
        c = self.cluster = Cluster(2).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        name = "k" * 1024
        with self.assertRaisesRegex(redis.ResponseError, r"^element too long to replicate: beside a key of 1024 bytes"):
            a.sadd(name, "m" * 1024)
        self.assertEqual(a.exists(name), 0)  # nothing applied
        with self.assertRaisesRegex(redis.ResponseError, r"^value too long to replicate"):
            a.set(name, "v" * 1024)
        # the same set takes members that fit, and they replicate, first and later ones
        self.assertEqual(a.sadd(name, "first"), 1)
        self.converge(lambda x: x.smembers(name), {"first"}, "a member under a 1,024-byte name")
        self.assertEqual(b.sadd(name, "later", "m" * 200), 2)
        self.converge(lambda x: x.smembers(name), {"first", "later", "m" * 200}, "later members")
        self.assertEqual(a.info("gossip")["instances_too_large"], 0)
        self.assertEqual(a.info("gossip")["elements_too_large"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
