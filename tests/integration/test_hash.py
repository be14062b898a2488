"""Hashes (OR-Maps) in real daemons: Redis' replies and errors, [limits],
writes that survive kill -9, HSET/HINCRBY/HDEL on nodes cut apart by the
simulation shim, converging to the exact predicted hash on every node, and
HRANDFIELD/HSCAN/HINCRBYFLOAT (with SRANDMEMBER's bound) on a replica."""
import os
import signal
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

SIM = {"simulation": {"enabled": "yes", "seed": "11"}, "gossip": {"interval_ms": "100"}}


class HashTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def test_commands_reply_like_redis(self):
        self.cluster = c = Cluster(1, conf={"limits": {"max_hash_fields": "4"}}).start()
        r = c[0].client(decode_responses=True)
        self.assertEqual(r.hset("h", mapping={"a": "1", "b": "two"}), 2)
        self.assertEqual(r.hset("h", mapping={"a": "3", "c": ""}), 1)
        self.assertEqual(r.type("h"), "hash")
        self.assertEqual(r.hget("h", "a"), "3")
        self.assertIsNone(r.hget("h", "zz"))
        self.assertIsNone(r.hget("nokey", "a"))
        self.assertEqual(r.hmget("h", "a", "zz", "c"), ["3", None, ""])
        self.assertEqual(r.hgetall("h"), {"a": "3", "b": "two", "c": ""})
        self.assertEqual(r.hkeys("h"), ["a", "b", "c"])
        self.assertEqual(r.hvals("h"), ["3", "two", ""])
        self.assertEqual(r.hlen("h"), 3)
        self.assertEqual(r.hlen("nokey"), 0)
        self.assertEqual(r.hgetall("nokey"), {})
        self.assertTrue(r.hexists("h", "b"))
        self.assertFalse(r.hexists("h", "zz"))
        self.assertEqual(r.hstrlen("h", "b"), 3)
        self.assertEqual(r.hstrlen("h", "zz"), 0)
        self.assertEqual(r.hsetnx("h", "a", "x"), 0)
        self.assertEqual(r.hget("h", "a"), "3")
        self.assertIs(r.execute_command("HMSET", "h2", "x", "1"), True)  # +OK
        self.assertEqual(r.hincrby("h", "a", 4), 7)
        self.assertEqual(r.hincrby("h", "n", -2), -2)
        self.assertEqual(r.hget("h", "n"), "-2")
        self.assertEqual(r.hdel("h", "n", "zz", "n"), 1)
        # HINCRBY after HDEL starts from 0
        self.assertEqual(r.hincrby("h", "n", 5), 5)
        self.assertEqual(r.hdel("h", "n"), 1)
        self.assertEqual(r.hdel("nokey", "a"), 0)

        # errors, worded as Redis words them, changing nothing, counted
        before = r.hgetall("h")
        errors = int(r.info("stats")["total_error_replies"])
        r.sadd("s", "m")
        for cmd in (("HGET", "s", "a"), ("HSET", "s", "a", "1"), ("HINCRBY", "s", "a", "1"),
                    ("HGETALL", "s"), ("HDEL", "s", "a"), ("HLEN", "s")):
            with self.assertRaisesRegex(redis.ResponseError, "^WRONGTYPE", msg=str(cmd)):
                r.execute_command(*cmd)
        for cmd in (("HSET", "h", "a"), ("HSET", "h", "a", "1", "b"), ("HGET", "h"),
                    ("HINCRBY", "h", "a"), ("HSETNX", "h", "a"), ("HDEL", "h")):
            with self.assertRaisesRegex(redis.ResponseError, "wrong number of arguments",
                                        msg=str(cmd)):
                r.execute_command(*cmd)
        with self.assertRaisesRegex(redis.ResponseError, "^hash value is not an integer$"):
            r.hincrby("h", "b", 1)
        with self.assertRaisesRegex(redis.ResponseError, "^value is not an integer or out of range$"):
            r.execute_command("HINCRBY", "h", "a", "1.5")
        with self.assertRaisesRegex(redis.ResponseError, "^increment or decrement would overflow$"):
            r.hincrby("h", "a", 2**63 - 1)
        # four fields at most: a fifth is refused whole, an update is not
        with self.assertRaisesRegex(redis.ResponseError, r"max_hash_fields \(4\)"):
            r.hset("h", mapping={"d": "1", "e": "2"})
        with self.assertRaisesRegex(redis.ResponseError, "max_element_bytes"):
            r.hset("h", "f" * 2000, "1")
        self.assertEqual(r.hgetall("h"), before)
        self.assertEqual(int(r.info("stats")["total_error_replies"]), errors + 17)
        self.assertEqual(r.hset("h", "d", "4"), 1)
        self.assertEqual(r.hset("h", "a", "8"), 0)

    def test_a_peer_past_max_hash_fields_is_merged_and_counted(self):
        self.cluster = c = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        c[1].extra["limits"] = {"max_hash_fields": "3"}
        c[1].stop()
        c[1].start()
        b = c[1].client(decode_responses=True)
        self.assertTrue(a.execute_command("CRDT.SIM", "ISOLATE"))
        a.hset("h", mapping={"a": "1", "b": "2"})
        b.hset("h", "c", "3")
        self.assertEqual(int(b.info("gossip")["limit_exceeded"]), 0)
        self.assertTrue(a.execute_command("CRDT.SIM", "HEAL"))
        # the union has 3 fields: within; then a brings it to 4
        wait_until(lambda: b.hlen("h") == 3, what="the union on b")
        self.assertEqual(int(b.info("gossip")["limit_exceeded"]), 0)
        a.hset("h", "e", "5")
        # merged all the same (or replicas would diverge), and counted
        wait_until(lambda: b.hlen("h") == 4, what="a's fourth field on b")
        self.assertGreaterEqual(int(b.info("gossip")["limit_exceeded"]), 1)
        with self.assertRaisesRegex(redis.ResponseError, r"^hash would pass max_hash_fields \(3\)$"):
            b.hset("h", "f", "6")
        self.assertEqual(b.hset("h", "a", "7"), 0)

    def test_writes_survive_kill_9(self):
        self.cluster = c = Cluster(1).start()
        r = c[0].client(decode_responses=True)
        r.hset("cart", mapping={"apple": "x", "pear": "y"})
        for _ in range(50):
            r.hincrby("cart", "plum", 2)
        r.hdel("cart", "pear")
        r.hset("cart", "apple", "z")
        c[0].stop(signal.SIGKILL)
        c[0].start()
        r = c[0].client(decode_responses=True)
        self.assertEqual(r.hgetall("cart"), {"apple": "z", "plum": "100"})
        # and the restarted node continues the same hash: no resurrection
        self.assertEqual(r.hincrby("cart", "pear", 1), 1)

    def test_partition_converges_to_the_predicted_hash(self):
        self.cluster = c = Cluster(3, conf=SIM).start()
        a, b, d = (n.client(decode_responses=True) for n in c.nodes)
        a.hincrby("cart", "apple", 1)
        a.hincrby("cart", "pear", 2)
        d.hincrby("cart", "qty", 4)
        a.hset("cart", "note", "hi")
        want = {"apple": "1", "pear": "2", "qty": "4", "note": "hi"}
        for x in (a, b, d):
            wait_until(lambda x=x: x.hgetall("cart") == want, what="the cart everywhere")

        self.assertTrue(a.execute_command("CRDT.SIM", "ISOLATE"))
        # a, cut off from both, and b and d together, write concurrently
        self.assertEqual(a.hincrby("cart", "apple", 2), 3)   # concurrent with b's HDEL
        a.hset("cart", "note", "from-a")
        a.hset("cart", "qty", "10")                         # concurrent with b's HINCRBY
        self.assertEqual(b.hdel("cart", "apple", "pear"), 2)
        self.assertEqual(b.hincrby("cart", "pear", 5), 5)    # after the HDEL: from 0
        self.assertEqual(b.hincrby("cart", "qty", 1), 5)
        self.assertEqual(d.hincrby("cart", "plum", 3), 3)
        wait_until(lambda: d.hget("cart", "pear") == "5" and b.hget("cart", "plum") == "3",
                   what="b and d in sync while a is cut off")
        # the isolation holds: a saw nothing of theirs
        self.assertEqual(a.hgetall("cart"), {"apple": "3", "pear": "2", "qty": "10",
                                              "note": "from-a"})
        self.assertTrue(a.execute_command("CRDT.SIM", "HEAL"))

        # apple: a's increment survives b's concurrent HDEL (add-wins), with
        # only what the HDEL did not see (a's +2, not the 1 b deleted); pear:
        # b's HDEL then HINCRBY 5; qty: a's HSET wins over b's concurrent
        # HINCRBY; note: a's; plum: d's
        want = {"apple": "2", "pear": "5", "qty": "10", "note": "from-a", "plum": "3"}
        for x in (a, b, d):
            wait_until(lambda x=x: x.hgetall("cart") == want, what="the predicted cart")
        fps = {x.execute_command("CRDT.JSON", "cart") for x in (a, b, d)}
        self.assertEqual(len(fps), 1)
        # the register counts on as a counter everywhere
        self.assertEqual(d.hincrby("cart", "qty", 1), 11)
        for x in (a, b):
            wait_until(lambda x=x: x.hget("cart", "qty") == "11", what="qty 11 everywhere")

    def test_hrandfield_hscan_and_hincrbyfloat_over_two_nodes(self):
        conf = dict(SIM, limits={"max_hash_fields": "8", "max_elements": "8"})
        self.cluster = c = Cluster(2, conf=conf).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        want = {"f%d" % i: str(i) for i in range(5)}
        a.hset("h", mapping=want)
        self.assertEqual(a.hincrby("h", "n", 7), 7)
        want["n"] = "7"
        wait_until(lambda: b.hgetall("h") == want, what="the hash on b")
        # HRANDFIELD on the replica that did not write it, as Redis
        self.assertIn(b.hrandfield("h"), want)
        self.assertIsNone(b.hrandfield("nokey"))
        self.assertEqual(b.hrandfield("nokey", 3), [])
        self.assertEqual(b.hrandfield("h", 0), [])
        three = b.hrandfield("h", 3)
        self.assertEqual(len(set(three)), 3)
        self.assertTrue(set(three) <= set(want))
        self.assertEqual(sorted(b.hrandfield("h", 100)), sorted(want))
        pairs = b.hrandfield("h", -8, withvalues=True)
        self.assertEqual(len(pairs), 16)
        for f, v in zip(pairs[0::2], pairs[1::2]):
            self.assertEqual(want[f], v)
        # HSCAN: the whole hash in one step, cursor 0, MATCH as KEYS
        self.assertEqual(b.hscan("h", 0), (0, want))
        self.assertEqual(b.hscan("h", 5, match="f[13]", count=1), (0, {"f1": "1", "f3": "3"}))
        self.assertEqual(dict(b.hscan_iter("h", match="n")), {"n": "7"})
        # NOVALUES, read raw (redis-py 4.3 would pair the fields up)
        conn = b.connection_pool.get_connection("HSCAN")
        try:
            conn.send_command("HSCAN", "h", "0", "MATCH", "f?", "NOVALUES")
            self.assertEqual(conn.read_response(), ["0", ["f0", "f1", "f2", "f3", "f4"]])
        finally:
            b.connection_pool.release(conn)
        self.assertEqual(b.hscan("nokey", 0), (0, {}))

        # errors: counted, worded as Redis, and nothing changes on either node
        b.sadd("s", "m", "n")
        errors = int(b.info("stats")["total_error_replies"])
        bad = [
            (("HRANDFIELD",), "^wrong number of arguments for 'hrandfield' command$"),
            (("HSCAN", "h"), "^wrong number of arguments for 'hscan' command$"),
            (("HINCRBYFLOAT", "h", "n"), "^wrong number of arguments for 'hincrbyfloat'"),
            (("HRANDFIELD", "s"), "^WRONGTYPE"),
            (("HSCAN", "s", "0"), "^WRONGTYPE"),
            (("HRANDFIELD", "h", "x"), "^value is not an integer or out of range$"),
            (("HRANDFIELD", "h", "1", "VALUES"), "^syntax error$"),
            (("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"), "^value is out of range$"),
            (("HSCAN", "h", "x"), "^invalid cursor$"),
            (("HSCAN", "h", "0", "COUNT", "0"), "^syntax error$"),
            (("HSCAN", "h", "0", "TYPE", "hash"), "^syntax error$"),
            # a huge negative count is refused before anything is built
            (("HRANDFIELD", "h", "-9"), r"^count is larger than max_hash_fields \(8\)"),
            (("HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES"),
             r"^count is larger than max_hash_fields \(8\)"),
            (("SRANDMEMBER", "s", "-9"), r"^count is larger than max_elements \(8\)"),
            (("SRANDMEMBER", "s", "-4611686018427387903"), r"^count is larger than max_elements"),
            (("HINCRBYFLOAT", "h", "n", "1.5"),
             "^HINCRBYFLOAT cannot converge: there is no convergent float counter"),
        ]
        for args, msg in bad:
            with self.assertRaisesRegex(redis.ResponseError, msg, msg=str(args)):
                b.execute_command(*args)
        self.assertEqual(int(b.info("stats")["total_error_replies"]), errors + len(bad))
        stats = b.info("commandstats")
        self.assertEqual(stats["cmdstat_hincrbyfloat"]["failed_calls"], 1)
        self.assertEqual(stats["cmdstat_hincrbyfloat"]["rejected_calls"], 1)  # the arity
        self.assertEqual(len(b.srandmember("s", -8)), 8)
        # the connection is still usable, and both nodes hold the same hash
        b.hset("h", "last", "x")
        want["last"] = "x"
        for r in (a, b):
            wait_until(lambda r=r: r.hgetall("h") == want, what="the same hash on both nodes")
        self.assertEqual(sorted(b.smembers("s")), ["m", "n"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
