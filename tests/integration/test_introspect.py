"""Redis' introspection commands (issue 14, part 4) against a real daemon on
loopback, through redis-py: SLOWLOG with the threshold set to 0 in the ini
file (and changed by SIGHUP), CLIENT LIST / KILL closing exactly the
connection asked for, CONFIG GET's real values, TIME, MEMORY USAGE."""
import os
import signal
import socket
import sys
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402


def closed(sock):
    """True once the peer closed @sock (a read returns EOF or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class IntrospectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, mesh=False, conf={
            "slowlog": {"log_slower_than_us": "0", "max_len": "64"},
            "storage": {"durability": "batch"},
        }).start()
        cls.node = cls.cluster[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.cleanup(keep_logs=False)

    def client(self, name=None):
        c = self.node.client(decode_responses=True)
        if name:
            c.client_setname(name)
        return c

    def test_slowlog(self):
        c = self.client("slowtest")
        c.slowlog_reset()
        c.sadd("cart", "laptop", "mouse")
        c.incrby("hits", 5)
        entries = c.slowlog_get(10)
        # (redis-py 4.3 joins the arguments as bytes even when decoding)
        commands = [e["command"].decode() if isinstance(e["command"], bytes) else e["command"]
                    for e in entries]
        # newest first; with the threshold at 0 every command is there
        self.assertEqual(commands[:3], ["INCRBY hits 5", "SADD cart laptop mouse", "SLOWLOG RESET"])
        ids = [e["id"] for e in entries]
        self.assertEqual(ids, sorted(ids, reverse=True))
        now = time.time()
        for e in entries:
            self.assertLessEqual(abs(e["start_time"] - now), 60)
            self.assertGreaterEqual(e["duration"], 0)
        # the raw entry carries the client's address and name, as Redis 4+
        raw = c.execute_command("SLOWLOG", "GET", "1")
        self.assertEqual(len(raw[0]), 6)
        laddr = c.client_info()["addr"]
        self.assertEqual(raw[0][4], laddr)
        self.assertEqual(raw[0][5], "slowtest")
        n = c.slowlog_len()  # ... and SLOWLOG LEN is logged too, after its reply
        self.assertEqual(len(c.slowlog_get(-1)), n + 1)
        with self.assertRaisesRegex(redis.ResponseError, "count should be greater than or equal to -1"):
            c.slowlog_get(-5)
        # CONFIG GET answers the ini's values under Redis' names
        self.assertEqual(c.config_get("slowlog-*"),
                         {"slowlog-log-slower-than": "0", "slowlog-max-len": "64"})

    def test_slowlog_reload(self):
        """SIGHUP applies a new threshold: nothing that fast is logged then."""
        c = self.client()
        try:
            self.node.extra["slowlog"]["log_slower_than_us"] = "60000000"
            self.node.write_config()
            self.node.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: c.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
                       == "60000000", what="the reload")
            c.slowlog_reset()
            for _ in range(20):
                c.incr("fast")
            self.assertEqual(c.slowlog_len(), 0)
        finally:
            self.node.extra["slowlog"]["log_slower_than_us"] = "0"
            self.node.write_config()
            self.node.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: c.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
                       == "0", what="the reload back")

    def raw(self, name):
        """A plain socket with a client name; returns (socket, its id)."""
        sock = socket.create_connection(("127.0.0.1", self.node.port), timeout=10)
        sock.sendall(b"CLIENT SETNAME %s\r\nCLIENT ID\r\n" % name.encode())
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = sock.recv(64)
            self.assertTrue(chunk, "closed while reading CLIENT ID")
            data += chunk
        ok, cid = data.split(b"\r\n")[:2]
        self.assertEqual(ok, b"+OK")
        return sock, int(cid[1:])

    def test_client_list_and_kill(self):
        admin = self.client("admin")
        victim, victim_id = self.raw("victim")
        bystander, bystander_id = self.raw("bystander")
        rows = {r["name"]: r for r in admin.client_list()}
        self.assertIn("victim", rows)
        self.assertEqual(int(rows["victim"]["id"]), victim_id)
        self.assertEqual(int(rows["bystander"]["id"]), bystander_id)
        self.assertEqual(rows["admin"]["cmd"], "client")
        self.assertEqual(rows["victim"]["laddr"], "127.0.0.1:%d" % self.node.port)
        self.assertEqual(admin.client_info()["name"], "admin")

        # KILL ID: that connection and no other
        self.assertEqual(admin.client_kill_filter(_id=victim_id), 1)
        wait_until(lambda: closed(victim), what="the killed connection to close")
        victim.close()
        names = [r["name"] for r in admin.client_list()]
        self.assertNotIn("victim", names)
        self.assertIn("bystander", names)
        bystander.sendall(b"PING\r\n")
        self.assertEqual(bystander.recv(64), b"+PONG\r\n")
        self.assertEqual(admin.client_kill_filter(_id=victim_id), 0)

        # the old form, by address: +OK, and the connection closes
        raw = socket.create_connection(("127.0.0.1", self.node.port), timeout=10)
        raw.sendall(b"CLIENT SETNAME raw\r\n")
        self.assertEqual(raw.recv(64), b"+OK\r\n")
        addr = [r["addr"] for r in admin.client_list() if r["name"] == "raw"][0]
        self.assertTrue(admin.client_kill(addr))
        wait_until(lambda: closed(raw), what="the killed connection to close")
        raw.close()
        with self.assertRaisesRegex(redis.ResponseError, "No such client"):
            admin.client_kill(addr)

        # ADDR filter and SKIPME: the caller survives unless it says no
        me = admin.client_info()["addr"]
        self.assertEqual(admin.client_kill_filter(addr=me), 0)
        self.assertEqual(admin.ping(), True)
        # SKIPME no: the caller closes after the reply
        self.assertEqual(admin.execute_command("CLIENT", "KILL", "ID", str(bystander_id), "SKIPME", "no"), 1)
        wait_until(lambda: closed(bystander), what="the bystander to close")
        bystander.close()
        killer, killer_id = self.raw("self")
        killer.sendall(b"CLIENT KILL ID %d SKIPME no\r\n" % killer_id)
        self.assertEqual(killer.recv(64), b":1\r\n")
        wait_until(lambda: closed(killer), what="the self-killed connection to close")
        killer.close()

    def test_config_time_memory(self):
        c = self.client()
        cfg = c.config_get("*")
        self.assertEqual(cfg["port"], str(self.node.port))
        self.assertEqual(cfg["bind"], "127.0.0.1")
        self.assertEqual(cfg["maxclients"], "10000")
        self.assertEqual(cfg["appendfsync"], "everysec")  # durability = batch
        self.assertEqual(cfg["databases"], "1")
        self.assertEqual(cfg["node.name"], self.node.name)
        sec, usec = c.time()
        self.assertLessEqual(abs(sec + usec / 1e6 - time.time()), 60)
        c.sadd("small", "a")
        c.sadd("large", *["member-%d" % i for i in range(5000)])
        small, large = c.memory_usage("small"), c.memory_usage("large")
        self.assertGreater(large, small)
        self.assertGreater(large, 5000 * len("member-0000"))
        self.assertIsNone(c.memory_usage("absent"))
        self.assertEqual(c.execute_command("LATENCY", "LATEST"), [])

    def test_folds_in_progress(self):
        """INFO persistence folds_in_progress: a set past 4,096 members
        is folded a slice a pass; the fold is under way after the load
        (or already done) and ends, counted in compactions_sliced."""
        c = self.client()
        pipe = c.pipeline(transaction=False)
        for i in range(0, 200000, 10000):
            pipe.sadd("folded", *["m%07d" % j for j in range(i, i + 10000)])
        pipe.execute()
        seen = set()

        def ended():
            p = c.info("persistence")
            seen.add(p["folds_in_progress"])
            return p["folds_in_progress"] == 0 and p["compactions_sliced"] >= 1
        wait_until(ended, timeout=30, step=0.002, what="the fold to end")
        self.assertLessEqual(seen, {0, 1})
        self.assertEqual(c.scard("folded"), 200000)
        c.delete("folded")

    def test_tables_populated_off_the_loop(self):
        """INFO memory populate_jobs / populate_bytes: as a set grows one
        member a SADD past 60,000, each table made ready ahead of a growth
        from 4,096 slots (128 KiB) on is faulted in by a job on the thread
        pool (state/populate.h); a set of 2,000 members makes none ready.
        The set holds every member."""
        c = self.client()

        def counts():
            m = c.info("memory")
            return int(m["populate_jobs"]), int(m["populate_bytes"])
        jobs0, bytes0 = counts()
        c.sadd("few", *["f%05d" % i for i in range(2000)])
        time.sleep(0.2)
        self.assertEqual(counts(), (jobs0, bytes0))
        pipe = c.pipeline(transaction=False)
        for i in range(60000):
            pipe.sadd("grown", "g%06d" % i)
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        self.assertEqual(c.scard("grown"), 60000)
        self.assertEqual(c.smismember("grown", ["g000000", "g059999", "g060000"]), [1, 1, 0])
        # the classes of 6,144 to 98,304 slots: 9 tables, about 10 MiB
        wait_until(lambda: counts()[0] >= jobs0 + 9, timeout=20, what="populate jobs")
        jobs, nbytes = counts()
        self.assertGreaterEqual(nbytes - bytes0, 9 << 20)
        c.delete("few", "grown")

    def test_loop_passes(self):
        """INFO loop_*: a command's pass counts at least the command's own
        time (its SLOWLOG duration), and CONFIG RESETSTAT zeroes them."""
        c = self.client()
        pipe = c.pipeline(transaction=False)
        for i in range(0, 200000, 10000):
            pipe.sadd("passes", *["m%07d" % j for j in range(i, i + 10000)])
        pipe.execute()
        c.slowlog_reset()
        self.assertEqual(len(c.smembers("passes")), 200000)
        took = [e["duration"] for e in c.slowlog_get(64)
                if e["command"][:8] in (b"SMEMBERS", "SMEMBERS")]
        self.assertEqual(len(took), 1)
        st = c.info("stats")
        self.assertGreaterEqual(st["loop_longest_pass_us"], took[0] - 1)
        self.assertGreaterEqual(st["loop_passes_over_1ms"], 1 if took[0] > 1000 else 0)
        self.assertGreaterEqual(st["loop_busy_us"], st["loop_longest_pass_us"])
        self.assertGreaterEqual(st["loop_passes"], st["loop_passes_over_1ms"])
        self.assertGreaterEqual(st["loop_passes_over_1ms"], st["loop_passes_over_10ms"])
        self.assertGreaterEqual(st["loop_passes_over_10ms"], st["loop_passes_over_100ms"])
        self.assertGreater(st["loop_passes"], 20)  # one pipeline's 20 SADDs at least
        # the longest pass's parts are inside it; a lone node's gossip is idle
        parts = sum(st["loop_longest_pass_%s_us" % k] for k in ("commands", "gossip", "storage"))
        self.assertLessEqual(parts, st["loop_longest_pass_us"] + 3)
        c.config_resetstat()
        after = c.info("stats")
        self.assertLess(after["loop_passes"], st["loop_passes"])
        self.assertLess(after["loop_busy_us"], st["loop_busy_us"])
        c.delete("passes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
