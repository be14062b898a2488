"""Durability across real restarts: acknowledged writes survive kill -9, a
node whose peers are down serves its whole state from disk, and a damaged
store stops the daemon with a clear message instead of an empty start."""
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import CRDTD, Cluster, wait_until  # noqa: E402
import redis  # noqa: E402


class Writer(threading.Thread):
    """Counter increments and set adds, one at a time, recording what was
    acknowledged, until the connection dies."""

    def __init__(self, port, tag):
        super().__init__(daemon=True)
        self.port, self.tag = port, tag
        self.acked_incr = 0
        self.acked_members = []
        self.sent_incr = 0
        self.reported = True

    def acked(self):
        return self.acked_incr + len(self.acked_members)

    def run(self):
        r = redis.Redis(port=self.port, socket_timeout=5)
        i = 0
        try:
            while i < 1_000_000:
                m = "%s-%d" % (self.tag, i)
                if i % 2:
                    self.sent_incr += 1
                    r.incr("hits")
                    self.acked_incr += 1
                else:
                    r.sadd("seen", m)
                    self.acked_members.append(m)
                i += 1
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            pass


def pipeline_writer(port, tag, out, progress):
    """Counter increments and set adds, 64 in flight at a time, until the
    connection dies; a batch counts as acknowledged once all its replies are
    read, and progress counts the batches so.  Runs in a process of its own
    (see PipelineWriter)."""
    r = redis.Redis(port=port, socket_timeout=5)
    sent_incr = acked_incr = i = 0
    acked_members = []
    try:
        while i < 1_000_000:
            pipe = r.pipeline(transaction=False)
            batch = []
            for _ in range(64):
                m = "%s-%d" % (tag, i)
                if i % 2:
                    pipe.incr("hits")
                    batch.append(None)
                else:
                    pipe.sadd("seen", m)
                    batch.append(m)
                i += 1
            sent_incr += batch.count(None)
            pipe.execute()
            acked_incr += batch.count(None)
            acked_members.extend(m for m in batch if m is not None)
            with progress.get_lock():
                progress.value += 1
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        pass
    out.send((sent_incr, acked_incr, acked_members))
    out.close()


class PipelineWriter:
    """Writer's interface over a process of its own: several of them keep
    the daemon busy, so that many replies are in flight when it is killed
    (a reply sent before its write reaches the store would be caught)."""

    def __init__(self, port, tag):
        self.rx, tx = multiprocessing.Pipe(duplex=False)
        self.progress = multiprocessing.Value("l", 0)
        self.proc = multiprocessing.Process(target=pipeline_writer,
                                            args=(port, tag, tx, self.progress), daemon=True)
        self.acked_incr = self.sent_incr = 0
        self.acked_members = []
        self.reported = False

    def acked(self):
        return self.progress.value

    def start(self):
        self.proc.start()

    def join(self, timeout):
        if self.rx.poll(timeout):
            self.sent_incr, self.acked_incr, self.acked_members = self.rx.recv()
            self.reported = True
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout)


class DurabilityTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))

    def kill_9_rounds(self, durability, rounds, writer):
        """Writers at full speed, kill -9 at a random moment, restart: every
        acknowledged increment and member is there after each restart."""
        rnd = random.Random(int(os.environ.get("CRDT_TEST_SEED", time.time_ns())))
        conf = {"storage": {"durability": durability, "batch_ms": "10000"}}
        self.cluster = c = Cluster(1, conf=conf)
        node = c[0]
        node.start()
        total_incr, members = 0, set()
        for round_ in range(rounds):
            writers = [writer(node.port, "r%dw%d" % (round_, w)) for w in range(4)]
            for w in writers:
                w.start()
            # the kill lands while they write, after a first acknowledgement,
            # however slowly a loaded machine starts the writer processes
            wait_until(lambda: sum(w.acked() for w in writers) > 0,
                       timeout=30, step=0.01, what="a first acknowledged write")
            time.sleep(rnd.uniform(0.05, 0.6))
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)
            node.proc = None
            for w in writers:
                w.join(timeout=10)
            self.assertTrue(all(w.reported for w in writers),
                            "every writer reports what it had acknowledged")
            acked = sum(w.acked_incr for w in writers)
            sent = sum(w.sent_incr for w in writers)
            self.assertGreater(acked + sum(len(w.acked_members) for w in writers), 0)
            print("%s round %d: %d increments and %d adds acknowledged before kill -9" % (
                durability, round_, acked, sum(len(w.acked_members) for w in writers)))
            node.start()
            r = node.client(decode_responses=True)
            value = int(r.get("hits") or 0)
            have = r.smembers("seen")
            # every acknowledged increment is there; at most the in-flight
            # ones beyond them
            self.assertGreaterEqual(value, total_incr + acked, "%s round %d" % (durability, round_))
            self.assertLessEqual(value, total_incr + sent, "%s round %d" % (durability, round_))
            total_incr = value
            for w in writers:
                missing = [m for m in w.acked_members if m not in have]
                self.assertEqual(missing, [], "%s round %d: acknowledged members lost" % (
                    durability, round_))
            members = have
        self.assertGreater(len(members), 0)

    def test_kill_9_loses_no_acknowledged_write(self):
        self.kill_9_rounds("always", 5, Writer)

    # batch and none sync later, but a crash of crdtd itself (not of the OS)
    # loses nothing acknowledged either: the store has every write before
    # its reply leaves.  Pipelined writers keep many replies in flight, so a
    # reply sent before its commit would be caught.
    def test_kill_9_under_batch_loses_no_acknowledged_write(self):
        self.kill_9_rounds("batch", 6, PipelineWriter)

    def test_kill_9_under_none_loses_no_acknowledged_write(self):
        self.kill_9_rounds("none", 6, PipelineWriter)

    def test_write_the_store_refuses_is_never_acknowledged(self):
        # A store too small for what is written: the commit that fails must
        # not have been acknowledged, in any durability mode.
        for durability in ("none", "batch", "always"):
            self.cluster = c = Cluster(1, conf={"storage": {"durability": durability,
                                                            "map_size": "1048576"}})
            node = c[0]
            node.start()
            r = node.client(decode_responses=True)
            acked, pad = [], "x" * 200
            try:
                for i in range(0, 20_000, 32):   # ~4.5 MB: more than the map holds
                    pipe = r.pipeline(transaction=False)
                    batch = ["%06d%s" % (j, pad) for j in range(i, i + 32)]
                    for m in batch:
                        pipe.sadd("big", m)
                    pipe.execute()
                    acked.extend(batch)
            except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError):
                pass
            self.assertGreater(len(acked), 0)
            self.assertLess(len(acked), 20_000, "the store never filled up")
            node.stop(signal.SIGKILL)
            node.start()
            have = node.client(decode_responses=True).smembers("big")
            missing = [m for m in acked if m not in have]
            self.assertEqual(missing[:3], [], "%s: %d acknowledged members lost" % (
                durability, len(missing)))
            c.cleanup()
            self.cluster = None

    def test_node_with_peers_down_serves_its_state(self):
        self.cluster = c = Cluster(3, conf={"storage": {"durability": "batch", "batch_ms": "20"}})
        c.start()
        a = c[0].client(decode_responses=True)
        a.sadd("cart", "laptop", "mouse")
        a.incrby("n", 7)
        a.set("color", "red")
        c[1].client().sadd("cart", "keyboard")   # merged into c[0] from a peer
        wait_until(lambda: a.scard("cart") == 3, what="merge from peer")
        a.srem("cart", "mouse")
        for n in c.nodes:
            self.assertEqual(n.stop(), 0)
        c[0].start()  # alone: its peers stay down
        a = c[0].client(decode_responses=True)
        self.assertEqual(a.smembers("cart"), {"laptop", "keyboard"})
        self.assertEqual(a.get("n"), "7")
        self.assertEqual(a.get("color"), "red")
        info = a.info("persistence")
        self.assertEqual(info["durability"], "batch")
        self.assertGreater(int(info["loaded_instances"]), 0)

    def test_kill_9_during_a_catch_up_keeps_local_writes(self):
        # B takes A's set by the paced catch-up (its pieces journaled as
        # states from a peer, several to a record; B accepts 2,000 datagrams
        # a second, so it takes about a second) while a client removes
        # members B received and adds its own; kill -9 of B then.  Started
        # alone, B holds a valid merge of what it received and every
        # acknowledged write: no removed member is back, no added one lost.
        n = 200_000
        conf = {"storage": {"durability": "none"},
                "limits": {"max_peer_datagrams_per_sec": "2000"}}
        self.cluster = c = Cluster(2, conf=conf)
        A, B = c[0], c[1]
        A.start()
        a = A.client(decode_responses=True)
        pipe = a.pipeline(transaction=False)
        for i in range(0, n, 10_000):
            pipe.sadd("s", *["e%06d" % j for j in range(i, i + 10_000)])
        pipe.execute()
        B.start()
        b = B.client(decode_responses=True)
        wait_until(lambda: b.scard("s") > 2_000, timeout=60, step=0.005, what="B's first pieces")
        removed = b.srandmember("s", 30)
        added = ["own-%d" % i for i in range(30)]
        pipe = b.pipeline(transaction=False)
        for m in removed:
            pipe.srem("s", m)
        pipe.sadd("s", *added)
        self.assertEqual(pipe.execute(), [1] * len(removed) + [len(added)])
        mid = b.scard("s")
        B.stop(signal.SIGKILL)
        A.stop()
        B.start()  # alone: nothing re-gossiped
        b = B.client(decode_responses=True)
        have = b.smembers("s")
        self.assertEqual([m for m in added if m not in have], [])
        self.assertEqual([m for m in removed if m in have], [])
        valid = set("e%06d" % j for j in range(n)) | set(added)
        self.assertEqual([m for m in have if m not in valid][:3], [])
        print("kill -9 at %d of %d members; %d loaded" % (mid, n, len(have)))
        A.start()  # the rest comes; the removes hold at both
        a = A.client(decode_responses=True)
        want = n - len(removed) + len(added)
        wait_until(lambda: b.scard("s") == want and a.scard("s") == want, timeout=120,
                   step=0.05, what="A and B to agree")
        self.assertEqual([m for m in removed if b.sismember("s", m)], [])

    def test_damaged_store_stops_the_daemon(self):
        self.cluster = c = Cluster(1)
        node = c[0]
        node.start()
        node.client().sadd("s", "x")
        self.assertEqual(node.stop(), 0)
        path = os.path.join(node.dir, "data", "store.lmdb")
        with open(path, "r+b") as f:
            f.write(b"\xde\xad\xbe\xef" * 1024)  # the meta pages
        node.write_config()
        out = subprocess.run([CRDTD, "-c", node.conf], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 1)
        self.assertIn("store.lmdb", out.stderr)
        self.assertIn("restore data_dir from a backup", out.stderr)

    def test_second_daemon_on_the_same_data_dir_refuses(self):
        self.cluster = c = Cluster(1)
        node = c[0]
        node.start()
        out = subprocess.run([CRDTD, "-c", node.conf], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 1)
        self.assertIn("another crdtd is using data_dir", out.stderr)
        self.assertTrue(node.client().ping())


if __name__ == "__main__":
    unittest.main(verbosity=2)
