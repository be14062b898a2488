"""The [http] listener of real daemons: /metrics from a 3-node cluster
through a partition made by the shim (the partitioned peer's gauges move and
come back after heal), validated by promtool and scraped by a real
Prometheus server; the status page in headless Chromium; /healthz; bearer
authentication; and bad HTTP input (oversized headers, garbage, bodies,
slow clients, too many connections), each answered or closed and counted;
and the Grafana dashboard's queries against a real scrape.

Needs Debian's prometheus (promtool, prometheus) and chromium
(scripts/install-deps.sh); exits 77, a skip, when one is missing."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, free_port, wait_until  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "../..")
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
CHROMIUM = shutil.which("chromium")
SIM = {"simulation": {"enabled": "yes", "seed": "5"}, "gossip": {"interval_ms": "100"}}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def with_http(cluster, **extra):
    """Give every node of @cluster an [http] listener on a free port."""
    for n in cluster.nodes:
        n.http = free_port()
        n.extra.setdefault("http", {})["listen"] = "127.0.0.1:%d" % n.http
        n.extra["http"].update(extra)
    return cluster


def get(node, path, token=None, timeout=10):
    """(status, headers, body text) of GET @path on @node's listener."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (node.http, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(node, name, **labels):
    status, _, text = get(node, "/metrics")
    assert status == 200, status
    return parse(text).get((name, frozenset(labels.items())))


def raw(node, data, timeout=10):
    """Send @data on a new connection and read until the server closes it
    (a reset, when it closed with our bytes unread, is a close too)."""
    got = b""
    with socket.create_connection(("127.0.0.1", node.http), timeout=timeout) as s:
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk
        except (ConnectionResetError, BrokenPipeError):
            return got


class HttpTest(unittest.TestCase):
    cluster = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="crdtd-http-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_metrics_follow_a_partition_and_its_heal(self):
        self.cluster = c = with_http(Cluster(3, conf=SIM)).start()
        a = c[0].client(decode_responses=True)
        a.sadd("cart", "x", "y")
        a.incrby("hits", 3)
        with self.assertRaises(redis.exceptions.ResponseError):
            a.sadd("hits", "x")  # WRONGTYPE: an error reply
        wait_until(lambda: metric(c[0], "crdtd_peer_up", peer="n1") == 1 and
                   metric(c[0], "crdtd_peer_up", peer="n2") == 1, what="both peers up")
        # a peer is up from its first datagram; its RTT from its first PONG
        wait_until(lambda: metric(c[0], "crdtd_peer_rtt_seconds", peer="n1") is not None,
                   what="n1 answered a ping")

        info = a.info("gossip")
        status, headers, text = get(c[0], "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, b"")  # no lint problem either
        m = parse(text)
        self.assertEqual(m[("crdtd_instances", frozenset({("type", "orset")}))], 1)
        self.assertEqual(m[("crdtd_elements", frozenset({("type", "orset")}))], 2)
        self.assertEqual(m[("crdtd_commands_total", frozenset({("command", "sadd")}))], 2)
        self.assertEqual(m[("crdtd_command_errors_total", frozenset({("command", "sadd")}))], 1)
        self.assertEqual(m[("crdtd_command_duration_seconds_count",
                            frozenset({("command", "incrby")}))], 1)
        self.assertGreaterEqual(m[("crdtd_error_replies_total", frozenset())], 1)
        self.assertEqual(m[("crdtd_healthy", frozenset())], 1)
        self.assertIn(("crdtd_peer_rtt_seconds", frozenset({("peer", "n1")})), m)
        self.assertIn(("crdtd_peer_repairing", frozenset({("peer", "n1")})), m)
        self.assertIn(("crdtd_peer_catching_up", frozenset({("peer", "n1")})), m)
        wait_until(lambda: metric(c[0], "crdtd_peer_repairing", peer="n1") == 0,
                   what="the first meeting's repair to end")
        # every INFO gossip counter is there under its metric name
        self.assertGreaterEqual(m[("crdtd_gossip_rounds_total", frozenset())], info["gossip_rounds"])
        for reason in ("bad_auth", "truncated", "rate"):
            self.assertIn(("crdtd_gossip_dropped_total", frozenset({("reason", reason)})), m)
        # no label names an instance
        self.assertNotIn("cart", text)

        a.execute_command("CRDT.SIM", "PARTITION", "n1")
        # three rounds of silence make a peer down; n2 stays up
        wait_until(lambda: metric(c[0], "crdtd_peer_up", peer="n1") == 0, timeout=15,
                   what="n1 down on n0 during the partition")
        wait_until(lambda: metric(c[0], "crdtd_peer_last_seen_seconds", peer="n1") > 0.5,
                   timeout=15, what="n1's last-seen age growing")
        self.assertEqual(metric(c[0], "crdtd_peer_up", peer="n2"), 1)
        self.assertLess(metric(c[0], "crdtd_peer_last_seen_seconds", peer="n2"), 0.5)
        self.assertGreater(metric(c[0], "crdtd_sim_dropped_partition_total"), 0)
        # a write n1 cannot see yet: its delta stays unacknowledged; n2
        # acknowledges it, one more convergence-lag sample
        lag_n2 = metric(c[0], "crdtd_peer_convergence_lag_seconds_count", peer="n2")
        a.sadd("cart", "z")
        wait_until(lambda: metric(c[0], "crdtd_peer_convergence_lag_seconds_count", peer="n2") >
                   lag_n2, timeout=15, what="n2's acknowledgement of the write as a lag sample")
        self.assertEqual(metric(c[0], "crdtd_peer_convergence_lag_seconds_bucket", peer="n2",
                                le="+Inf"),
                         metric(c[0], "crdtd_peer_convergence_lag_seconds_count", peer="n2"))
        wait_until(lambda: metric(c[0], "crdtd_peer_delta_intervals_pending", peer="n1") >= 1,
                   timeout=15, what="the delta to n1 pending during the partition")
        self.assertEqual(metric(c[0], "crdtd_peer_delta_intervals_pending", peer="n2") or 0, 0)

        a.execute_command("CRDT.SIM", "HEAL")
        wait_until(lambda: metric(c[0], "crdtd_peer_up", peer="n1") == 1, timeout=15,
                   what="n1 up again after heal")
        wait_until(lambda: metric(c[0], "crdtd_peer_last_seen_seconds", peer="n1") < 0.5,
                   timeout=15, what="n1's last-seen age back to a round")
        b = c[1].client(decode_responses=True)
        wait_until(lambda: b.smembers("cart") == {"x", "y", "z"}, what="n1 converged")
        # the digests compared after the heal agree again: in sync, 0 s out of it
        wait_until(lambda: metric(c[0], "crdtd_peer_in_sync", peer="n1") == 1 and
                   metric(c[0], "crdtd_peer_out_of_sync_seconds", peer="n1") == 0,
                   timeout=15, what="n1 in sync on n0 after heal")
        self.assertEqual(metric(c[0], "crdtd_peer_delta_intervals_pending", peer="n1"), 0)
        self.assertEqual(metric(c[0], "crdtd_peer_catching_up", peer="n1"), 0)

    def test_prometheus_scrapes_the_cluster(self):
        self.cluster = c = with_http(Cluster(3)).start()
        port = free_port()
        conf = os.path.join(self.tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: crdtd\n    static_configs:\n"
                    "      - targets: [%s]\n" %
                    ", ".join("'127.0.0.1:%d'" % n.http for n in c.nodes))
        log = open(os.path.join(self.tmp, "prometheus.log"), "wb")
        self.procs.append(subprocess.Popen(
            [PROMETHEUS, "--config.file=" + conf, "--storage.tsdb.path=" + self.tmp + "/tsdb",
             "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=log,
            stdin=subprocess.DEVNULL))
        log.close()

        def query():
            url = "http://127.0.0.1:%d/api/v1/query?query=crdtd_peer_up" % port
            with urllib.request.urlopen(url, timeout=5) as r:
                res = json.load(r)["data"]["result"]
            return res if len(res) == 6 else None

        try:
            res = wait_until(query, timeout=90, step=0.5, what="6 crdtd_peer_up series in Prometheus")
        except AssertionError:
            with open(os.path.join(self.tmp, "prometheus.log"), errors="replace") as f:
                print(f.read()[-3000:])
            raise
        pairs = sorted((r["metric"]["instance"], r["metric"]["peer"]) for r in res)
        want = sorted(("127.0.0.1:%d" % n.http, p.name) for n in c.nodes for p in c.nodes
                      if p is not n)
        self.assertEqual(pairs, want)

    def test_status_page_in_chromium(self):
        self.cluster = c = with_http(Cluster(3)).start()
        c[0].client().sadd("big", *["e%d" % i for i in range(50)])
        wait_until(lambda: metric(c[0], "crdtd_peer_up", peer="n2") == 1 and
                   metric(c[0], "crdtd_peer_up", peer="n1") == 1, what="both peers up")
        url = "http://127.0.0.1:%d/status" % c[0].http
        flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--user-data-dir=" + os.path.join(self.tmp, "chromium")]
        png = os.path.join(self.tmp, "status.png")
        p = subprocess.run(flags + ["--window-size=1100,800", "--screenshot=" + png, url],
                           capture_output=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        if os.environ.get("CRDTD_STATUS_PNG"):  # docs/status.png is made this way
            shutil.copy(png, os.environ["CRDTD_STATUS_PNG"])
        p = subprocess.run(flags + ["--dump-dom", url], capture_output=True, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        dom = p.stdout.decode()
        table = re.search(r'<table id="peers">(.*?)</table>', dom, re.S)
        self.assertIsNotNone(table, dom[:2000])
        rows = re.findall(r'<tr class="(up|down)" data-peer="([^"]+)">', table.group(1))
        self.assertEqual(sorted(rows), [("up", "n1"), ("up", "n2")])
        self.assertIn("<td>big</td><td>orset</td><td>50</td>", dom)
        self.assertIn('id="health">ok<', dom)

    def test_healthz_auth_and_bad_input(self):
        self.cluster = c = with_http(Cluster(1), max_connections="4", header_timeout_ms="300",
                                     max_header_bytes="1024")
        c[0].extra["node"] = {"requirepass": "s3cret"}
        c.start()
        n = c[0]
        self.assertEqual(get(n, "/healthz")[0], 401)
        self.assertEqual(get(n, "/metrics", token="wrong")[0], 401)
        status, headers, _ = get(n, "/metrics")
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="crdtd"')
        self.assertEqual(get(n, "/healthz", token="s3cret")[:3:2], (200, "ok\n"))
        self.assertEqual(get(n, "/nope", token="s3cret")[0], 404)

        def answered(data):
            return raw(n, data).split(b"\r\n", 1)[0]
        self.assertEqual(answered(b"GET / HTTP/1.1\r\nX: " + b"a" * 2000 + b"\r\n\r\n"),
                         b"HTTP/1.1 431 Request Header Fields Too Large")
        self.assertEqual(answered(b"\x16\x03\x01\x02\x00garbage\r\n\r\n"),
                         b"HTTP/1.1 400 Bad Request")
        self.assertEqual(answered(b"POST /metrics HTTP/1.1\r\n\r\n"),
                         b"HTTP/1.1 405 Method Not Allowed")
        self.assertEqual(answered(b"GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"),
                         b"HTTP/1.1 413 Content Too Large")
        # HEAD: the headers, no body
        head = raw(n, b"HEAD /healthz HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(head.endswith(b"\r\n\r\n"))

        # slowloris: a request that never ends is closed after the header timeout
        with socket.create_connection(("127.0.0.1", n.http), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-a: b\r\n")
            self.assertEqual(s.recv(100), b"")  # closed by the server, unanswered

        # max_connections: with 4 open, a 5th is closed at once
        held = [socket.create_connection(("127.0.0.1", n.http), timeout=10) for _ in range(4)]
        try:
            time.sleep(0)  # (the accepts are in order: the 5th comes last)
            self.assertEqual(raw(n, b"GET /healthz HTTP/1.1\r\n\r\n"), b"")
        finally:
            for s in held:
                s.close()

        # the server frees the four only as its loop reads their closes: a
        # request that comes first is still a fifth, closed at once (seen
        # under ASan), so it is asked again, briefly
        for _ in range(100):
            try:
                status, _, text = get(n, "/metrics", token="s3cret")
                break
            except OSError:  # reset, or closed unanswered
                time.sleep(0.05)
        else:
            self.fail("/metrics unanswered 5 s after the held connections closed")
        m = parse(text)
        def count(name, **lab):
            return m[(name, frozenset(lab.items()))]
        self.assertEqual(count("crdtd_http_responses_total", code="431"), 1)
        self.assertEqual(count("crdtd_http_responses_total", code="400"), 1)
        self.assertEqual(count("crdtd_http_responses_total", code="405"), 1)
        self.assertEqual(count("crdtd_http_responses_total", code="413"), 1)
        self.assertEqual(count("crdtd_http_responses_total", code="401"), 3)
        self.assertGreaterEqual(count("crdtd_http_closed_total", reason="header_timeout"), 1)
        self.assertGreaterEqual(count("crdtd_http_closed_total", reason="max_connections"), 1)
        # the daemon serves on
        self.assertTrue(n.client().ping())

    def test_healthz_503_when_the_store_refuses_writes(self):
        self.cluster = c = with_http(Cluster(1, conf={"storage": {"map_size": "1m"}})).start()
        n = c[0]
        self.assertEqual(get(n, "/healthz")[:3:2], (200, "ok\n"))
        cl = n.client()
        # fill the 1 MiB store until a commit fails: the client waiting
        # for it is closed unanswered (nothing unstored is acknowledged)
        with self.assertRaises(redis.exceptions.ConnectionError):
            for i in range(5000):
                cl.sadd("s%d" % (i % 50), "%05d-%s" % (i, "x" * 900))
        status, _, body = get(n, "/healthz")
        self.assertEqual(status, 503)
        self.assertIn("store not writable: the last commit failed", body)
        self.assertEqual(metric(n, "crdtd_healthy"), 0)
        self.assertGreater(metric(n, "crdtd_storage_errors_total"), 0)
        self.assertEqual(metric(n, "crdtd_http_responses_total", code="503"), 1)

    def test_large_store_counted_a_slice_at_a_time(self):
        # past a few thousand names a page does not walk the store: it
        # shows the last finished census and starts the next, which walks
        # the table a slice a loop pass
        self.cluster = c = with_http(Cluster(1, mesh=False)).start()
        n = c[0]
        cl = n.client()
        for i in range(0, 20000, 2000):
            cl.mset({"k%05d" % j: "v" for j in range(i, i + 2000)})
        cl.sadd("big", *["m%d" % j for j in range(5000)])
        m = parse(get(n, "/metrics")[2])
        self.assertNotIn(("crdtd_census_age_seconds", frozenset()), m)
        self.assertNotIn(("crdtd_elements", frozenset({("type", "orset")})), m)
        self.assertEqual(m[("crdtd_healthy", frozenset())], 1)  # the rest is there
        wait_until(lambda: metric(n, "crdtd_census_age_seconds") is not None,
                   what="the census finished")
        m = parse(get(n, "/metrics")[2])
        self.assertEqual(m[("crdtd_instances", frozenset({("type", "lwwreg")}))], 20000)
        self.assertEqual(m[("crdtd_instances", frozenset({("type", "orset")}))], 1)
        self.assertEqual(m[("crdtd_elements", frozenset({("type", "orset")}))], 5000)
        self.assertGreaterEqual(m[("crdtd_census_age_seconds", frozenset())], 0)
        status, _, page = get(n, "/status")
        self.assertEqual(status, 200)
        self.assertIn("<td>big</td><td>orset</td><td>5000</td>", page)

    def test_prometheus_rules_are_valid(self):
        rules = os.path.join(ROOT, "conf/prometheus/crdtd-rules.yml")
        p = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"SUCCESS", p.stdout)
        # and each alert fires on the series that should fire it, only then
        p = subprocess.run([PROMTOOL, "test", "rules", "crdtd-rules.test.yml"],
                           cwd=os.path.dirname(rules), capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_grafana_dashboard_reads_real_metrics(self):
        """conf/grafana/crdtd.json: valid JSON with a Prometheus datasource
        variable; every query parses (promtool, as a recording rule) and
        names only metrics a running node's /metrics has."""
        with open(os.path.join(ROOT, "conf/grafana/crdtd.json")) as f:
            dash = json.load(f)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        panels = [p for p in dash["panels"] if p["type"] != "row"]
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        exprs = []
        for p in panels:
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            exprs += [t["expr"] for t in p["targets"]]
        exprs.append(variables["instance"]["query"]["query"].replace("label_values(", "group by (")
                     .replace(", instance)", ") (crdtd_info)"))

        self.cluster = c = with_http(Cluster(2)).start()
        wait_until(lambda: metric(c[0], "crdtd_peer_up", peer="n1") == 1, what="n1 up")
        status, _, text = get(c[0], "/metrics")
        self.assertEqual(status, 200)
        have = set()
        for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
            have.add(m.group(1))
            if m.group(2) == "histogram":
                have.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        used = set()
        for e in exprs:
            names = set(re.findall(r"\bcrdtd_[a-zA-Z0-9_]*", e))
            self.assertTrue(names, e)
            self.assertEqual(names - have, set(), e)
            used |= names
        # the figures the dashboard is for
        for name in ("crdtd_healthy", "crdtd_peer_up", "crdtd_peer_in_sync",
                     "crdtd_peer_out_of_sync_seconds", "crdtd_peer_convergence_lag_seconds_bucket",
                     "crdtd_peer_datagrams_sent_total", "crdtd_peer_received_bytes_total",
                     "crdtd_gossip_dropped_total", "crdtd_peer_datagrams_dropped_total",
                     "crdtd_commands_total", "crdtd_command_errors_total",
                     "crdtd_command_duration_seconds_bucket", "crdtd_instances", "crdtd_elements"):
            self.assertIn(name, used)

        # each query parses: Grafana's variables replaced by what they stand for
        rules = os.path.join(self.tmp, "dashboard-rules.yml")
        with open(rules, "w") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
                f.write("      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(e)))
        p = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"SUCCESS: %d rules found" % len(exprs), p.stdout)


if __name__ == "__main__":
    missing = [name for name, path in (("promtool", PROMTOOL), ("prometheus", PROMETHEUS),
                                       ("chromium", CHROMIUM)) if not path]
    if missing:
        print("skipped: %s not installed (scripts/install-deps.sh)" % ", ".join(missing))
        sys.exit(77)
    unittest.main()
