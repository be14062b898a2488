"""Reclaiming deletes across real daemons ([keyspace] reclaim_after, short
here): deleted and expired names of every deletable type are dropped from
memory on every node once the grace has passed (INFO stats names_reclaimed,
INFO keyspace names_held), stay dropped while full rounds and digest rounds
go on (no replica sends the record back for good, none brings the value
back), and are gone from the store file too: a node restarted from its
data_dir holds only the live keys.  A write made after the reclaim starts
the key afresh everywhere."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

CONF = {"keyspace": {"reclaim_after": "2"}, "gossip": {"interval_ms": "100"}}
DELETED = ("r", "s", "c", "h")


def info(r, section, key):
    return int(r.info(section)[key])


def view(r):
    """What a node answers about every key of the test."""
    return {
        "keys": sorted(r.keys("*")),
        "dbsize": r.dbsize(),
        "r": r.get("r"),
        "s": sorted(r.smembers("s")),
        "c": r.get("c"),
        "h": r.hgetall("h"),
        "e": r.get("e"),
        "keep": r.get("keep"),
    }


EMPTY = {"keys": ["keep"], "dbsize": 1, "r": None, "s": [], "c": None, "h": {}, "e": None,
         "keep": "v"}


class ReclaimTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def test_deleted_names_are_reclaimed_everywhere(self):
        self.cluster = c = Cluster(3, conf=CONF).start()
        rs = [n.client(decode_responses=True) for n in c.nodes]
        a, b, d = rs
        a.set("r", "v")
        a.sadd("s", "x", "y")
        a.incrby("c", 5)
        b.incrby("c", 2)
        a.hset("h", mapping={"f": "1", "g": "2"})
        a.set("keep", "v")
        for r in rs:
            wait_until(lambda r=r: r.get("c") == "7" and r.hlen("h") == 2 and r.scard("s") == 2
                       and r.get("r") == "v" and r.get("keep") == "v",
                       what="the writes everywhere")
        a.set("e", "v", px=300)  # expires on every node
        self.assertEqual(b.delete(*DELETED), 4)
        for r in rs:
            wait_until(lambda r=r: view(r) == EMPTY, what="the deletes and the expiry everywhere")
        # every node drops the five names and the deadline's companion;
        # only "keep" is held
        for r in rs:
            wait_until(lambda r=r: info(r, "keyspace", "names_held") == 1, timeout=30,
                       what="the deleted names reclaimed")
            self.assertGreaterEqual(info(r, "stats", "names_reclaimed"), 5)
        # rounds go on (full state, digests): nothing comes back
        for r in rs:
            r.execute_command("CRDT.SYNC")
        rounds = [info(r, "gossip", "gossip_rounds") for r in rs]
        for r, n in zip(rs, rounds):
            wait_until(lambda r=r, n=n: info(r, "gossip", "gossip_rounds") >= n + 10,
                       what="ten more rounds")
        for r in rs:
            self.assertEqual(view(r), EMPTY)
            self.assertEqual(info(r, "keyspace", "names_held"), 1)
        # the store file holds only the live key
        c[2].stop(signal.SIGTERM)
        c[2].start()
        d = c[2].client(decode_responses=True)
        self.assertEqual(view(d), EMPTY)
        self.assertEqual(info(d, "keyspace", "names_held"), 1)
        # a write after the reclaim starts the key afresh, on every node
        d.sadd("s", "z")
        for r in (a, b, d):
            wait_until(lambda r=r: r.smembers("s") == {"z"}, what="the new write everywhere")


if __name__ == "__main__":
    unittest.main()
