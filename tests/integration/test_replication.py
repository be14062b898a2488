"""Replication across real daemons on loopback: every type converges to what
its semantics predict, restarts catch up, large sets cross the MTU, type
conflicts resolve the same way everywhere."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402


class ClusterTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def converge(self, fn, expected, timeout=10, what="convergence"):
        """Wait until fn(client) == expected on every node."""
        clients = [n.client(decode_responses=True) for n in self.cluster.nodes]
        wait_until(lambda: all(fn(c) == expected for c in clients), timeout=timeout,
                   what="%s: expected %r, have %r" % (what, expected, [fn(c) for c in clients]))


class TestConvergence(ClusterTest):
    def test_every_type_converges_to_its_semantics(self):
        self.cluster = c = Cluster(3).start()
        a, b, d = (n.client(decode_responses=True) for n in c.nodes)

        # PN-Counter: increments and decrements on every node add up
        self.assertEqual(a.incrby("hits", 10), 10)
        self.assertGreaterEqual(b.incr("hits"), 1)
        d.decrby("hits", 4)
        # G-Counter made explicitly
        self.assertTrue(a.execute_command("CRDT.CREATE", "total", "gcounter"))
        # OR-Set: disjoint and overlapping adds
        a.sadd("cart", "laptop", "mouse")
        b.sadd("cart", "keyboard", "laptop")
        # G-Set
        a.execute_command("CRDT.CREATE", "seen", "gset")
        self.converge(lambda x: x.execute_command("CRDT.TYPE", "seen"), "gset", what="gset created everywhere")
        d.sadd("seen", "x", "y")
        # LWW register: the last write wins
        a.set("color", "red")
        time.sleep(0.01)
        b.set("color", "blue")

        self.converge(lambda x: x.get("hits"), "7", what="pncounter")
        self.converge(lambda x: sorted(x.smembers("cart")), ["keyboard", "laptop", "mouse"], what="orset")
        self.converge(lambda x: sorted(x.smembers("seen")), ["x", "y"], what="gset")
        self.converge(lambda x: x.get("color"), "blue", what="lww")

        b.incrby("total", 5)
        d.incrby("total", 6)
        self.converge(lambda x: x.get("total"), "11", what="gcounter")

        # a remove after the merge removes everywhere
        d.srem("cart", "mouse")
        self.converge(lambda x: sorted(x.smembers("cart")), ["keyboard", "laptop"], what="remove")
        self.converge(lambda x: x.dbsize(), 5, what="dbsize")

    def test_restarted_node_catches_up_under_a_new_replica_id(self):
        self.cluster = c = Cluster(3).start()
        a = c[0].client(decode_responses=True)
        before = c[2].client(decode_responses=True).info("server")["replica_id"]
        c[2].client().sadd("s", "mine")
        c[2].client().incrby("n", 1)
        self.converge(lambda x: x.get("n"), "1", what="first write")
        c[2].stop()
        a.sadd("s", *["m%d" % i for i in range(100)])
        a.incrby("n", 42)
        c[2].start()
        # every start is a new history: a new id, and the old one's writes kept
        self.assertNotEqual(c[2].client(decode_responses=True).info("server")["replica_id"], before)
        self.converge(lambda x: x.scard("s"), 101, what="catch-up set")
        self.converge(lambda x: x.get("n"), "43", what="catch-up counter")
        c[2].client().incrby("n", 2)
        self.converge(lambda x: x.get("n"), "45", what="a write under the new id")

    def test_write_just_before_sigterm_reaches_the_peers(self):
        # The push waits push_delay_ms (here its most, 1 s) after a write,
        # and no round runs for a minute: only the push that a clean stop
        # makes of the writes still queued can carry the write to n0 before
        # n1 is gone.  Its store is then moved away, as crdtd's error
        # message advises for a damaged store: n0's copy is the only one.
        conf = {"gossip": {"push_delay_ms": "1000", "interval_ms": "60000"}}
        self.cluster = c = Cluster(2, conf=conf).start()
        a = c[0].client(decode_responses=True)
        b = c[1].client(decode_responses=True)
        # met: a push goes to no peer never heard from
        wait_until(lambda: [dict(zip(p[::2], p[1::2]))["in_sync"]
                            for p in b.execute_command("CRDT.PEERS")] == [1], timeout=10,
                   what="n1 to have met n0")
        c[1].client().sadd("cart", "last")
        c[1].client().incrby("hits", 7)
        self.assertEqual(c[1].stop(), 0)
        data = os.path.join(c[1].dir, "data")
        os.rename(os.path.join(data, "store.lmdb"), os.path.join(data, "store.lmdb.moved"))
        wait_until(lambda: a.smembers("cart") == {"last"} and a.get("hits") == "7", timeout=5,
                   what="the writes made just before the stop, on n0")

    def test_full_rounds_between_converged_nodes_merge_nothing(self):
        """With digests = no every round sends every instance.  Each node
        lists a set's members in its own hash order, so a peer's record of
        a set equal to ours has other bytes than ours; it must still change
        nothing here: not merged, counted unchanged, whatever the rounds."""
        self.cluster = c = Cluster(n=2, conf={"gossip": {"digests": "no", "interval_ms": "100"},
                                               "log": {"level": "info"}})
        c.start()
        a, b = c[0].client(), c[1].client()
        for i in range(50):
            a.sadd("set:%d" % i, *["m%d" % j for j in range(20)])
            a.hset("hash:%d" % i, mapping={"f%d" % j: "v" for j in range(20)})
        a.execute_command("CRDT.CREATE", "gset", "gset")
        a.sadd("gset", *["g%d" % j for j in range(20)])
        self.converge(lambda cl: cl.dbsize(), 101)
        # a few rounds for what was in flight, then at least five more
        # counted at both nodes (a wait bounded in time, not a fixed window
        # a loaded machine could fill with fewer rounds)
        time.sleep(0.5)
        before = [cl.info("gossip") for cl in (a, b)]

        def five_rounds_later():
            # done when both count five rounds unchanged, or either merged
            now = [cl.info("gossip") for cl in (a, b)]
            grew = [(y["records_unchanged"] - x["records_unchanged"], y["merges"] - x["merges"])
                    for x, y in zip(before, now)]
            if all(u >= 5 * 101 for u, _ in grew) or any(m for _, m in grew):
                return now
            return None
        after = wait_until(five_rounds_later, timeout=30,
                           what="five full rounds counted unchanged at both nodes")
        for x, y in zip(before, after):
            self.assertEqual(y["merges"], x["merges"], (x["merges"], y["merges"]))
            self.assertGreaterEqual(y["records_unchanged"] - x["records_unchanged"], 5 * 101)

    def test_large_orset_crosses_the_mtu(self):
        self.cluster = c = Cluster(2, conf={"gossip": {"mtu": "1400"}}).start()
        a = c[0].client()
        members = ["key%08d" % i for i in range(20000)]
        pipe = a.pipeline(transaction=False)
        for i in range(0, len(members), 1000):
            pipe.sadd("big", *members[i:i + 1000])
        pipe.execute()
        a.srem("big", *members[:500])
        self.converge(lambda x: x.scard("big"), 19500, timeout=30, what="20k set")
        b = c[1].client(decode_responses=True)
        self.assertEqual(sorted(b.smembers("big")), members[500:])
        info = b.info("gossip")
        self.assertLessEqual(int(info["max_datagram_bytes"]), 1400)

    def test_concurrent_type_conflict_resolves_everywhere(self):
        # Two nodes that do not know each other yet create one name as two
        # types; then they are introduced (SIGHUP) and must agree.
        self.cluster = c = Cluster(2, mesh=False).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.sadd("thing", "apple")
        b.incrby("thing", 3)
        c[0].peers, c[1].peers = [c[1]], [c[0]]
        for n in c.nodes:
            n.write_config()
            n.proc.send_signal(signal.SIGHUP)
        self.converge(lambda x: x.execute_command("CRDT.TYPE", "thing"), "pncounter", what="visible type")
        self.converge(lambda x: x.get("thing"), "3", what="counter value")
        # a digest round pulls what its node lacks: each side holds both
        # states once each has had a round
        self.converge(lambda x: json.loads(x.execute_command("CRDT.INFO", "thing"))["conflict"],
                      True, what="both states on both nodes")
        for x in (a, b):
            info = json.loads(x.execute_command("CRDT.INFO", "thing"))
            self.assertTrue(info["conflict"])
            kinds = sorted(s["type"] for s in info["states"])
            self.assertEqual(kinds, ["orset", "pncounter"])
            self.assertIn("apple", json.dumps(info))

    def test_garbage_datagrams_change_nothing(self):
        self.cluster = c = Cluster(2).start()
        a = c[0].client(decode_responses=True)
        a.sadd("s", "one")
        self.converge(lambda x: x.smembers("s"), {"one"})
        before = c[1].client(decode_responses=True).info("gossip")
        rnd = __import__("random").Random(1234)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(2000):
                n = rnd.randrange(0, 2000)
                payload = bytes(rnd.randrange(256) for _ in range(n))
                if i % 2:
                    payload = b"CRDT\x06" + payload  # past the magic, into the parser
                s.sendto(payload, ("127.0.0.1", c[1].udp))
        b = c[1].client(decode_responses=True)
        wait_until(lambda: int(b.info("gossip")["dropped_malformed"]) + int(b.info("gossip")["dropped_bad_magic"])
                   + int(b.info("gossip").get("dropped_bad_version", 0))
                   > int(before["dropped_malformed"]) + int(before["dropped_bad_magic"]) + 100,
                   what="drop counters to rise")
        self.assertEqual(b.smembers("s"), {"one"})
        self.assertEqual(b.dbsize(), 1)
        self.assertTrue(b.ping())


class TestDeltas(ClusterTest):
    def peers(self, client):
        """CRDT.PEERS as {peer name: {field: value}}."""
        out = {}
        for p in client.execute_command("CRDT.PEERS"):
            f = dict(zip(p[::2], p[1::2]))
            out[f["name"]] = f
        return out

    def test_writes_travel_as_acknowledged_deltas_and_peers_report_sync(self):
        """With deltas (the default) each write reaches the peer in DELTA
        intervals it acknowledges; CRDT.PEERS and INFO show it in sync with
        nothing pending.  With deltas = no the same writes go whole."""
        for mode in ("yes", "no"):
            self.cluster = c = Cluster(2, conf={"gossip": {"deltas": mode}}).start()
            a, b = (n.client(decode_responses=True) for n in c.nodes)
            a.sadd("cart", "apple", "pear")
            a.srem("cart", "pear")
            a.incrby("n", 5)
            a.set("r", "v1")
            self.converge(lambda cl: (sorted(cl.smembers("cart")), cl.get("n"), cl.get("r")),
                          (["apple"], "5", "v1"), what="deltas = %s" % mode)
            info = a.info("gossip")
            self.assertEqual(info["gossip_deltas"], mode)
            if mode == "yes":
                self.assertGreaterEqual(info["delta_intervals"], 1)
                # one ACK datagram may carry several intervals' numbers
                wait_until(lambda: self.peers(a)[c.nodes[1].name]["deltas_acked"] ==
                           a.info("gossip")["delta_intervals"] and a.info("gossip")["acks_in"] >= 1,
                           what="every interval acknowledged")
                # digests agree, nothing pending (after a round of each)
                wait_until(lambda: self.peers(a)[c.nodes[1].name]["deltas_pending"] == 0 and
                           self.peers(a)[c.nodes[1].name]["in_sync"] == 1, timeout=10,
                           what="the peer in sync with nothing pending: %r" % self.peers(a))
                p = self.peers(a)[c.nodes[1].name]
                self.assertEqual(p["deltas_acked"], info["delta_intervals"])
                self.assertEqual(p["differs_since_ms_ago"], -1)
                self.assertGreaterEqual(p["bytes_last_round"], 0)
                self.assertEqual(a.info("gossip")["peer0"]["in_sync"], 1)
            else:
                self.assertEqual(info["delta_intervals"], 0)
                self.assertEqual(info["acks_in"], 0)
            self.cluster.cleanup()
            self.cluster = None

    def test_the_delta_log_holds_what_an_absent_peer_lacks_within_its_bound(self):
        """[gossip] delta_log_bytes bounds the intervals kept for a peer that
        has not acknowledged them: INFO gossip shows what the log holds and
        its bound, the bound holds while the peer is away, and once it comes
        it gets every write and the log empties."""
        conf = {"gossip": {"delta_log_bytes": "256k", "interval_ms": "200"}}
        self.cluster = c = Cluster(2, conf=conf)
        a = c.nodes[0].start().client(decode_responses=True)
        pipe = a.pipeline(transaction=False)
        for i in range(2000):
            pipe.set("k%04d" % i, "v" * 200)
        pipe.execute()
        self.assertEqual(a.info("gossip")["delta_log_max_bytes"], 256 * 1024)
        wait_until(lambda: a.info("gossip")["delta_log_bytes"] > 200 * 1024, timeout=10,
                   what="the log near its bound: %r" % a.info("gossip")["delta_log_bytes"])
        info = a.info("gossip")
        self.assertLessEqual(info["delta_log_bytes"], 256 * 1024)
        self.assertGreater(info["delta_log_intervals"], 0)
        self.assertLessEqual(info["delta_log_intervals"], 1024)
        b = c.nodes[1].start().client(decode_responses=True)
        wait_until(lambda: b.dbsize() == 2000, timeout=20, what="every write at the peer")
        self.assertEqual(b.get("k1999"), "v" * 200)
        wait_until(lambda: a.info("gossip")["delta_log_intervals"] == 0, timeout=10,
                   what="the log empty once the peer acknowledged it: %r" %
                   a.info("gossip")["delta_log_intervals"])
        self.assertEqual(a.info("gossip")["delta_log_bytes"], 0)

    def test_a_lost_push_goes_again_without_waiting_for_a_round(self):
        """A write whose DELTA is lost is sent again by the tail's probe (or,
        once its probes are spent, after the ACK of the next write), not
        at the next round: here rounds come every 60 s and the test waits
        at most 20."""
        conf = {"gossip": {"interval_ms": "60000"}, "simulation": {"enabled": "yes"}}
        self.cluster = c = Cluster(2, conf=conf).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.set("k0", "v0")
        self.converge(lambda cl: cl.get("k0"), "v0", timeout=20, what="a first write")
        a.execute_command("CRDT.SIM", "LOSS", "1")
        a.set("k1", "v1")
        time.sleep(0.3)
        self.assertIsNone(b.get("k1"))
        a.execute_command("CRDT.SIM", "LOSS", "0")
        a.set("k2", "v2")
        self.converge(lambda cl: (cl.get("k1"), cl.get("k2")), ("v1", "v2"), timeout=20,
                      what="the lost write and the next")
        info = a.info("gossip")
        self.assertGreaterEqual(info["delta_probes"], 1)
        self.assertGreaterEqual(info["delta_probe_resent"], 1)
        self.assertLessEqual(info["gossip_rounds"], 1)  # none but the start's, if any

    def test_a_large_write_goes_a_slice_a_push(self):
        """A SADD of 20,000 members and a HSET of 5,000 fields are cut a
        slice a push (32 datagrams each at most), the daemon pushing again
        until they are out; a SREM made while the set's slice is under way
        reaches the peer too.  Rounds come every 60 s: only the pushes
        carry them."""
        self.cluster = c = Cluster(2, conf={"gossip": {"interval_ms": "60000"}}).start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.set("k0", "v0")
        self.converge(lambda cl: cl.get("k0"), "v0", timeout=20, what="a first write")
        a.sadd("big", *["member-%05d" % i for i in range(20000)])
        a.srem("big", "member-00000")
        a.hset("h", mapping={"f%05d" % i: "v" for i in range(5000)})
        self.converge(lambda cl: (cl.scard("big"), cl.sismember("big", "member-00000"),
                                  cl.sismember("big", "member-19999"), cl.hlen("h")),
                      (19999, False, True, 5000), timeout=30, what="the sliced writes")
        info = a.info("gossip")
        self.assertEqual(info["delta_slices"], 2)
        self.assertGreaterEqual(info["push_budget_stops"], 2)
        self.assertEqual(info["delta_to_catchup"], 0)
        self.assertLessEqual(info["gossip_rounds"], 1)
        wait_until(lambda: self.peers(a)[c.nodes[1].name]["deltas_pending"] == 0, timeout=20,
                   what="every interval acknowledged")

    def test_a_large_gset_catches_a_peer_up_and_goes_a_slice_a_push(self):
        """A G-Set of 400,000 elements, loaded while B was down, reaches B
        by the paced catch-up, cut a few pieces a call from a cursor (split
        whole and sent at once, one of 400,000 never reached a peer: B held
        169,460 after 60 s); a SADD of 20,000 more goes as slices."""
        self.cluster = c = Cluster(2, conf={"gossip": {"interval_ms": "500"}})
        c[0].start()
        a = c[0].client(decode_responses=True)
        a.execute_command("CRDT.CREATE", "g", "gset")
        pipe = a.pipeline(transaction=False)
        for i in range(0, 400000, 10000):
            pipe.sadd("g", *["element-%06d" % j for j in range(i, i + 10000)])
        pipe.execute()
        self.assertEqual(a.scard("g"), 400000)
        c[1].start()
        self.converge(lambda cl: cl.scard("g"), 400000, timeout=60, what="the G-Set's catch-up")
        self.assertGreater(int(a.info("gossip")["catchup_datagrams_out"]), 1000)
        a.sadd("g", *["more-%05d" % i for i in range(20000)])
        self.converge(lambda cl: cl.scard("g"), 420000, timeout=30, what="a large SADD")
        b = c[1].client(decode_responses=True)
        self.assertTrue(b.sismember("g", "more-19999") and b.sismember("g", "element-000000"))
        self.assertEqual(b.execute_command("CRDT.TYPE", "g"), "gset")
        self.assertGreaterEqual(a.info("gossip")["delta_slices"], 1)

class TestRedisCli(ClusterTest):
    def test_redis_cli_talks_to_the_cluster(self):
        self.cluster = c = Cluster(2).start()
        out = subprocess.run(["redis-cli", "-p", str(c[0].port), "SADD", "fruits", "apple", "pear"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.strip(), "2")
        # interactive-style: commands on stdin, one reply each
        out = subprocess.run(["redis-cli", "-p", str(c[1].port)], input="PING\nINCRBY n 5\nGET n\n",
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.split(), ["PONG", "5", "5"])
        self.converge(lambda x: sorted(x.smembers("fruits")), ["apple", "pear"])
        self.converge(lambda x: x.get("n"), "5")


if __name__ == "__main__":
    unittest.main(verbosity=2)
