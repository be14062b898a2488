"""The simulation shim in real daemons: loss 1.0 really stops replication and
loss 0 restores it; a partition holds both ways and heal ends it; CRDT.SIM
answers an error when the shim is not enabled in the config; a peer back
from down that already holds a large set skips the pieces of its second
catch-up."""
import os
import sys
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402

SIM = {"simulation": {"enabled": "yes", "seed": "7"}, "gossip": {"interval_ms": "100"}}


class SimTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def sim(self, client, *args):
        return client.execute_command("CRDT.SIM", *args)

    def test_loss_one_stops_replication_and_zero_restores_it(self):
        self.cluster = c = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.incrby("n", 1)
        wait_until(lambda: b.get("n") == "1", what="replication before the loss")

        for x in (a, b):
            self.assertTrue(self.sim(x, "LOSS", "1"))
        sims = [x.info("simulation") for x in (a, b)]
        a.incrby("n", 41)
        b.sadd("s", "x")
        # Not a sleep: both shims dropped ten more datagrams since the writes
        # (rounds every 100 ms, a push right after each write) and let none
        # through, so the writes were sent and nothing crossed
        wait_until(lambda: all(int(x.info("simulation")["sim_dropped_loss"]) >=
                               int(i["sim_dropped_loss"]) + 10 for x, i in zip((a, b), sims)),
                   what="ten more datagrams dropped by each shim")
        for x, i in zip((a, b), sims):
            info = x.info("simulation")
            self.assertEqual(info["sim_passed"], i["sim_passed"])
            self.assertEqual(info["sim_loss"], 1)
        self.assertEqual(b.get("n"), "1")
        self.assertEqual(a.smembers("s"), set())

        for x in (a, b):
            self.assertTrue(self.sim(x, "LOSS", "0"))
        wait_until(lambda: b.get("n") == "42", what="replication after loss 0")
        wait_until(lambda: a.smembers("s") == {"x"}, what="replication back after loss 0")

    def test_partition_is_symmetric_and_heal_ends_it(self):
        self.cluster = c = Cluster(3, conf=SIM).start()
        a, b, d = (n.client(decode_responses=True) for n in c.nodes)
        # declared on one node only: the shim drops both ways
        self.assertTrue(self.sim(a, "PARTITION", c[1].name))
        status = dict(zip(*[iter(self.sim(a, "STATUS"))] * 2))
        self.assertEqual(status["partitioned"], c[1].name)
        a.sadd("s", "from-a")
        b.sadd("s", "from-b")
        wait_until(lambda: d.scard("s") == 2, what="the third node sees both")
        # a and b still reach each other through d's full state: the
        # partition cuts links, not information; the direct link is cut
        wait_until(lambda: int(a.info("simulation")["sim_dropped_partition"]) > 0,
                   what="the direct link's datagrams dropped")
        self.assertTrue(self.sim(a, "ISOLATE"))
        before = a.info("simulation")
        a.sadd("s", "lonely")
        # Not a sleep: a's shim dropped its push and rounds to both peers
        # after the write, and let nothing through
        wait_until(lambda: int(a.info("simulation")["sim_dropped_partition"]) >=
                   int(before["sim_dropped_partition"]) + 6,
                   what="the isolated node's datagrams dropped")
        self.assertEqual(a.info("simulation")["sim_passed"], before["sim_passed"])
        self.assertFalse(d.sismember("s", "lonely"))
        self.assertTrue(self.sim(a, "HEAL"))
        wait_until(lambda: d.sismember("s", "lonely") and b.sismember("s", "lonely"),
                   what="heal after isolation")

    def test_restarted_peer_gets_what_differs_not_the_store(self):
        """Restarted (a new replica id) with its store kept, a peer is
        repaired by the intervals it did not acknowledge and a digest
        exchange, not sent the store again: of 2,000 keys and a set of
        20,000 members it holds, only the key and the member written while
        it was down reach it (a resync sent every name)."""
        self.cluster = c = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        members = ["m%06d" % i for i in range(20000)]
        pipe = a.pipeline(transaction=False)
        for i in range(0, len(members), 1000):
            pipe.sadd("big", *members[i:i + 1000])
            pipe.mset({"k%05d" % j: "v" for j in range(i // 10, i // 10 + 100)})
        pipe.execute()

        def peer():
            p = a.execute_command("CRDT.PEERS")[0]
            return dict(zip(p[::2], p[1::2]))
        wait_until(lambda: b.scard("big") == 20000 and b.dbsize() == 2001 and peer()["in_sync"] == 1 and
                   peer()["catching_up"] == 0, timeout=60, what="b to hold the set and keys, in sync")
        c[1].stop()
        a.sadd("big", "while-away")
        a.set("k00007", "changed")
        ga0 = a.info("gossip")
        c[1].start()
        b = c[1].client(decode_responses=True)
        self.assertGreaterEqual(b.dbsize(), 2001)  # its store, loaded back
        wait_until(lambda: b.scard("big") == 20001 and b.get("k00007") == "changed" and
                   peer()["catching_up"] == 0 and peer()["in_sync"] == 1, timeout=60,
                   what="b to get what differs, in sync")
        ga1 = a.info("gossip")
        d = lambda k: int(ga1[k]) - int(ga0[k])  # noqa: E731
        self.assertEqual(d("delta_resyncs"), 0)
        self.assertGreaterEqual(d("delta_repairs"), 1)
        wait_until(lambda: peer()["repairing"] == 0, what="the repair's exchange to end")
        self.assertLessEqual(d("catchup_instances"), 2)
        self.assertLess(d("catchup_datagrams_out"), 20)  # the set alone is 100 pieces
        self.assertEqual(sorted(b.smembers("big")), sorted(members + ["while-away"]))

    def test_back_from_a_partition_a_peer_gets_the_intervals_it_lacks(self):
        """Cut off long enough for each to count the other down, both
        writing meanwhile, the same starts: back, each sends the other the
        delta intervals it lacks, not the whole store again (a resync)."""
        self.cluster = c = Cluster(2, conf=SIM).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        pipe = a.pipeline(transaction=False)
        for i in range(0, 20000, 1000):
            pipe.mset({"k%05d" % j: "v" for j in range(i, i + 1000)})
        pipe.execute()

        def peer(cl):
            p = cl.execute_command("CRDT.PEERS")[0]
            return dict(zip(p[::2], p[1::2]))
        wait_until(lambda: b.dbsize() == 20000 and peer(a)["in_sync"] == 1 and
                   peer(b)["in_sync"] == 1 and peer(a)["catching_up"] == 0, timeout=60,
                   what="b to hold the keys, in sync")
        self.assertTrue(self.sim(a, "ISOLATE"))
        # 3 rounds of 100 ms unanswered: each counts the other down
        wait_until(lambda: peer(a)["last_seen_ms_ago"] > 600 and
                   peer(b)["last_seen_ms_ago"] > 600, what="both down for each other")
        for i in range(50):
            a.set("pa%02d" % i, "x")
            b.set("pb%02d" % i, "y")
        ga0, gb0 = a.info("gossip"), b.info("gossip")
        self.assertTrue(self.sim(a, "HEAL"))
        wait_until(lambda: a.dbsize() == b.dbsize() == 20100 and peer(a)["in_sync"] == 1 and
                   peer(b)["in_sync"] == 1, timeout=30, what="both to hold every write")
        ga1, gb1 = a.info("gossip"), b.info("gossip")
        for g0, g1 in ((ga0, ga1), (gb0, gb1)):
            self.assertEqual(int(g1["delta_resyncs"]), int(g0["delta_resyncs"]))
            self.assertLess(int(g1["catchup_instances"]) - int(g0["catchup_instances"]), 100)
            self.assertGreater(int(g1["delta_datagrams_out"]), int(g0["delta_datagrams_out"]))
        self.assertEqual(a.get("pb07"), "y")
        self.assertEqual(b.get("pa07"), "x")

    def test_settings_and_errors(self):
        self.cluster = c = Cluster(2, conf=SIM).start()
        a = c[0].client(decode_responses=True)
        self.assertTrue(self.sim(a, "LATENCY", "20", "80"))
        self.assertTrue(self.sim(a, "DUPLICATE", "0.5"))
        self.assertTrue(self.sim(a, "REORDER", ".25"))
        status = dict(zip(*[iter(self.sim(a, "STATUS"))] * 2))
        self.assertEqual(status["latency_ms"], "20-80")
        self.assertEqual(status["duplicate"], "0.5")
        self.assertEqual(status["reorder"], "0.25")
        # the seed as configured (SIM: 7), and the PRNG's own, which mixes in
        # the node name so that nodes sharing a config seed differ
        self.assertEqual(status["seed"], "7")
        self.assertNotEqual(status["rng_seed"], "7")
        info = a.info("simulation")
        self.assertEqual(info["sim_seed"], 7)
        self.assertEqual(str(info["sim_rng_seed"]), status["rng_seed"])
        for bad in (("LOSS", "1.5"), ("LOSS", "-0.1"), ("LOSS", "nan"), ("LATENCY", "80", "20"),
                    ("PARTITION", "nobody"), ("BOGUS",), ("LOSS",)):
            with self.assertRaises(redis.ResponseError, msg=str(bad)):
                self.sim(a, *bad)

    def test_not_enabled_is_an_error(self):
        self.cluster = c = Cluster(1).start()
        a = c[0].client(decode_responses=True)
        with self.assertRaisesRegex(redis.ResponseError, r"simulation is not enabled in the config"):
            self.sim(a, "STATUS")
        self.assertEqual(a.info("simulation")["sim_enabled"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
