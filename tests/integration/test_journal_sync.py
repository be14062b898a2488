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
import time
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

    def start(self, env=None, batch_ms=60000):
        # batch_ms long: no timer sync runs during a test
        conf = {"storage": {"durability": "always", "batch_ms": str(batch_ms)}}
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

    def test_idle_writer_thread_sleeps(self):
        """The batch timer (every batch_ms) wakes the writer thread only when
        a batch came since its last commit: an idle daemon leaves it asleep.
        Counted as the thread's voluntary context switches (each wake-up from
        its wait is one)."""
        node = self.start(batch_ms=20)
        r = node.client(decode_responses=True)
        self.assertEqual(r.sadd("s", "x"), 1)
        pid = node.proc.pid
        tids = [t for t in os.listdir("/proc/%d/task" % pid)
                if open("/proc/%d/task/%s/comm" % (pid, t)).read().strip() == "crdtd-journal"]
        self.assertEqual(len(tids), 1)

        def switches():
            with open("/proc/%d/task/%s/status" % (pid, tids[0])) as f:
                return int(re.search(r"voluntary_ctxt_switches:\s*(\d+)", f.read()).group(1))

        # the commit of that write, and the map's release after it
        time.sleep(0.5)
        before = switches()
        time.sleep(1.0)  # 50 ticks of the batch timer
        self.assertLessEqual(switches() - before, 3)
        # a write wakes it again: the next tick commits it
        syncs = persistence(r)["syncs"]
        self.assertEqual(r.sadd("s", "y"), 1)
        wait_until(lambda: persistence(r)["syncs"] >= syncs + 2, what="the timer's commit")

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
