"""The journal's commits and syncs run on a writer thread (docs/storage.md):
with durability = always a write is acknowledged only after its sync (of a
write-ahead log record, store.wal, applied again after a kill -9), and a
client that only reads is answered while a sync is in flight.  A sync is
held open by sync_gate.so (preloaded: fdatasync waits while a file exists),
so nothing here depends on timing."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import CRDTD, Cluster, wait_until  # noqa: E402
import redis  # noqa: E402

GATE_LIB = os.environ.get("CRDTD_SYNC_GATE_LIB", os.path.join(
    os.path.dirname(CRDTD), "../../tests/integration/libsync_gate.so"))


def preload():
    """sync_gate.so, after the sanitizer runtimes when the daemon is built
    with them (they insist on coming first)."""
    libs = []
    try:
        out = subprocess.run(["ldd", CRDTD], capture_output=True, text=True, timeout=30).stdout
        libs = re.findall(r"=>\s*(\S*lib(?:asan|ubsan|tsan)\.so[.\d]*)", out)
    except (OSError, subprocess.SubprocessError):
        pass
    return " ".join(libs + [os.path.abspath(GATE_LIB)])


def persistence(r):
    return r.info("persistence")


class JournalSyncTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def start(self, env=None):
        # batch_ms long: no timer sync runs during a test
        conf = {"storage": {"durability": "always", "batch_ms": "60000"}}
        self.cluster = c = Cluster(1, conf=conf)
        c[0].env.update(env or {})
        c[0].start()
        return c[0]

    def test_always_acknowledges_after_the_sync(self):
        node = self.start()
        r = node.client(decode_responses=True)
        base = persistence(r)["syncs"]
        for i in range(1, 21):
            self.assertEqual(r.sadd("s", "m%d" % i), 1)
            # one client, one write at a time: each waited for a sync of its own
            self.assertGreaterEqual(persistence(r)["syncs"], base + i)
        # a read holds nothing and syncs nothing
        syncs = persistence(r)["syncs"]
        self.assertEqual(r.scard("s"), 20)
        self.assertEqual(persistence(r)["syncs"], syncs)

    @unittest.skipUnless(os.path.exists(GATE_LIB), "sync_gate.so not built")
    def test_reader_answered_while_a_sync_is_in_flight(self):
        gate = os.path.join(os.environ.get("TMPDIR", "/tmp"), "crdtd-sync-gate-%d" % os.getpid())
        entered = gate + ".entered"
        for p in (gate, entered):
            if os.path.exists(p):
                os.unlink(p)
        node = self.start({"LD_PRELOAD": preload(), "CRDTD_SYNC_GATE": gate})
        try:
            reader = node.client(decode_responses=True)
            reader.set("before", "1")
            syncs = persistence(reader)["syncs"]
            writer = redis.Connection(host="127.0.0.1", port=node.port, socket_timeout=20)
            open(gate, "w").close()
            writer.send_command("SADD", "cart", "laptop")
            wait_until(lambda: os.path.exists(entered), timeout=20,
                       what="the writer thread to enter fdatasync")
            # the writer thread sits in the sync; the loop still serves reads
            # (which see the write that is not yet durable) ...
            self.assertEqual(reader.get("before"), "1")
            self.assertTrue(reader.sismember("cart", "laptop"))
            info = persistence(reader)
            self.assertEqual(info["syncs"], syncs)
            self.assertEqual(info["pending_writes"], 1)
            # ... and another writer's write waits too, in the next batch
            other = redis.Connection(host="127.0.0.1", port=node.port, socket_timeout=20)
            other.send_command("SADD", "cart", "mouse")
            wait_until(lambda: reader.sismember("cart", "mouse"), what="the second write to run")
            # neither write is acknowledged before its sync
            self.assertFalse(writer.can_read(timeout=0))
            self.assertFalse(other.can_read(timeout=0))
            os.unlink(gate)
            self.assertEqual(writer.read_response(), 1)
            self.assertEqual(other.read_response(), 1)
            self.assertGreaterEqual(persistence(reader)["syncs"], syncs + 1)
            writer.disconnect()
            other.disconnect()
        finally:
            for p in (gate, entered):
                if os.path.exists(p):
                    os.unlink(p)
        # and both are durable: a kill -9 keeps them.  batch_ms is a minute,
        # so LMDB never took the log: they come back from store.wal
        self.assertEqual(node.stop(sig=9), -9)
        node.start()
        r = node.client(decode_responses=True)
        self.assertEqual(r.smembers("cart"), {"laptop", "mouse"})
        self.assertGreaterEqual(persistence(r)["wal_applied_records"], 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
