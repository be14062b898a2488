"""Debian's prometheus-redis-exporter against a real crdtd on loopback (issue
14, part 4): the exporter, started here on a loopback port of its own, scrapes
the node (with a password, the client list, the config metrics, one key
checked), its
/metrics says redis_up 1 and carries the key metrics, its log holds no error
or warning, and crdtd answered none of the exporter's commands with an
error.  Exits 77 (a skip) where the exporter is not installed
(scripts/install-deps.sh installs it)."""
import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.request

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, free_port, wait_until  # noqa: E402

EXPORTER = shutil.which("prometheus-redis-exporter")
PASSWORD = "exporter-test-secret"


def metric(text, name, labels=None):
    """The value of the sample @name (with exactly @labels, a dict), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if labels is None or all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


class RedisExporterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, mesh=False, conf={
            "node": {"requirepass": PASSWORD},
            "slowlog": {"log_slower_than_us": "0"},
        }).start()
        cls.node = cls.cluster[0]
        cls.web = free_port()
        cls.log = os.path.join(cls.cluster.dir, "exporter.log")
        cls.proc = None
        try:
            c = cls.node.client()
            c.sadd("cart", "laptop", "mouse")
            c.incrby("hits", 3)
            c.set("flag", "on")
            try:  # one error reply before the exporter starts: INFO errorstats has a line
                c.execute_command("INCR", "cart")
            except redis.ResponseError:
                pass
            logf = open(cls.log, "wb")
            cls.proc = subprocess.Popen(
                [EXPORTER, "--redis.addr", "redis://127.0.0.1:%d" % cls.node.port,
                 "--web.listen-address", "127.0.0.1:%d" % cls.web,
                 "--export-client-list", "--include-config-metrics", "--ping-on-connect",
                 "--check-keys", "cart"],
                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                env=dict(os.environ, REDIS_PASSWORD=PASSWORD))
            logf.close()
            wait_until(lambda: cls.scrape(), timeout=20, what="the exporter's /metrics")
        except BaseException:
            cls.stop()
            raise

    @classmethod
    def scrape(cls):
        if cls.proc.poll() is not None:
            raise AssertionError("the exporter exited with %s:\n%s" % (cls.proc.returncode, cls.log_text()))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % cls.web, timeout=10) as r:
            return r.read().decode()

    @classmethod
    def log_text(cls):
        with open(cls.log, errors="replace") as f:
            return f.read()

    @classmethod
    def stop(cls):
        if cls.proc and cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait(timeout=10)
        cls.cluster.cleanup(keep_logs=False)

    @classmethod
    def tearDownClass(cls):
        cls.stop()

    def test_metrics(self):
        self.scrape()  # a first scrape has run: the second sees its commands too
        text = self.scrape()
        self.assertEqual(metric(text, "redis_up"), 1.0)
        self.assertEqual(metric(text, "redis_exporter_last_scrape_error"), 0.0)
        self.assertEqual(metric(text, "redis_db_keys", {"db": "db0"}), 3.0)
        self.assertEqual(metric(text, "redis_config_maxclients"), 10000.0)
        self.assertEqual(metric(text, "redis_config_value", {"key": "slowlog-log-slower-than"}), 0.0)
        self.assertGreater(metric(text, "redis_connected_clients"), 0)
        # (glibc's count: 0 under ASan, whose allocator stands in)
        self.assertIsNotNone(metric(text, "redis_memory_used_bytes"))
        self.assertGreater(metric(text, "redis_commands_processed_total"), 0)
        self.assertGreater(metric(text, "redis_uptime_in_seconds"), -1)
        # from INFO commandstats
        self.assertEqual(metric(text, "redis_commands_total", {"cmd": "sadd"}), 1.0)
        self.assertEqual(metric(text, "redis_commands_total", {"cmd": "incrby"}), 1.0)
        self.assertIsNotNone(metric(text, "redis_commands_duration_seconds_total", {"cmd": "config"}))
        # from INFO errorstats: the one error reply made before the exporter started
        self.assertEqual(metric(text, "redis_errors_total", {"err": "WRONGTYPE"}), 1.0)
        # --check-keys: TYPE answers "set", so the exporter asks SCARD
        self.assertEqual(metric(text, "redis_key_size", {"db": "db0", "key": "cart"}), 2.0)
        # from SLOWLOG LEN and SLOWLOG GET 1
        self.assertGreater(metric(text, "redis_slowlog_length"), 0)
        self.assertGreater(metric(text, "redis_slowlog_last_id"), 0)
        self.assertIsNotNone(metric(text, "redis_last_slow_execution_duration_seconds"))
        # from CLIENT LIST: the exporter's own connection, by the name it set
        self.assertEqual(metric(text, "redis_connected_clients_details", {"name": "redis_exporter"}), 1.0)
        # the password does not leak through the config metrics
        self.assertNotIn(PASSWORD, text)

    def test_no_errors(self):
        self.scrape()
        log = self.log_text()
        bad = [l for l in log.splitlines()
               if re.search(r"level=(error|warning|fatal)|unknown command|ERR ", l)]
        self.assertEqual(bad, [], "exporter log:\n" + log)
        # and crdtd answered none of the exporter's commands with an error
        # (the one error is setUpClass' INCR of a set)
        info = self.node.client().info("stats")
        self.assertEqual(info["total_error_replies"], 1)


if __name__ == "__main__":
    if not EXPORTER:
        print("prometheus-redis-exporter is not installed (scripts/install-deps.sh): skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
