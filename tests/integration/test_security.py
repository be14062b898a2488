"""Security of real daemons: authenticated gossip (wrong keys, garbage, replays,
key files), AUTH on the client port, size limits, abusive client frames."""
import os
import random
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import CRDTD, Cluster, free_port, wait_until  # noqa: E402
import redis  # noqa: E402


def gen_key(path):
    out = subprocess.run([CRDTD, "--gen-key", path], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return path


def reloads(node):
    """How many SIGHUP reloads the node's log reports done."""
    with open(node.log, errors="replace") as f:
        return f.read().count("reloaded " + node.conf)


def drops(info):
    return sum(int(v) for k, v in info.items() if k.startswith("dropped_") and k != "dropped_send_error")


class SecurityTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            failed = any(e for _, e in getattr(self._outcome, "errors", []) if e) \
                if hasattr(self._outcome, "errors") else False
            self.cluster.cleanup(keep_logs=failed)
            self.cluster = None

    def converge(self, nodes, fn, want, timeout=10, what="value"):
        for n in nodes:
            r = n.client(decode_responses=True)
            wait_until(lambda: fn(r) == want, timeout=timeout, what="%s on %s" % (what, n.name))

    # ---- key files -------------------------------------------------------

    def test_gen_key_and_mode(self):
        c = self.cluster = Cluster(1)
        key = os.path.join(c.dir, "cluster.key")
        gen_key(key)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        with open(key) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}\n$")
        out = subprocess.run([CRDTD, "--gen-key", key], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn("not overwriting", out.stderr)
        node = c[0]
        node.extra = {"security": {"key_file": key}}
        node.write_config()
        ok = subprocess.run([CRDTD, "-c", node.conf, "--check-config"], capture_output=True, text=True,
                            timeout=10)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        os.chmod(key, 0o644)
        bad = subprocess.run([CRDTD, "-c", node.conf, "--check-config"], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("chmod 600", bad.stderr)
        # and the daemon refuses to start with it
        run = subprocess.run([CRDTD, "-c", node.conf], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("group or others", run.stderr)

    # ---- authenticated gossip ---------------------------------------------

    def test_wrong_key_cannot_change_state(self):
        c = self.cluster = Cluster(3)
        k1 = gen_key(os.path.join(c.dir, "k1"))
        k2 = gen_key(os.path.join(c.dir, "k2"))
        for node, key in zip(c.nodes, (k1, k1, k2)):
            node.extra = {"security": {"key_file": key, "encrypt": "yes" if node is c[1] else "no"}}
        c.start()
        a, b, evil = (n.client(decode_responses=True) for n in c.nodes)
        evil.sadd("s", "evil")
        evil.incrby("n", 100)
        a.sadd("s", "good")
        self.converge(c.nodes[:2], lambda r: r.smembers("s"), {"good"})
        # Not a sleep: proof that the evil node's gossip arrived and was
        # refused, five more of its datagrams at each node, after its writes
        # (each of its rounds sends its whole state)
        base = [int(r.info("gossip")["dropped_bad_auth"]) for r in (a, b)]
        wait_until(lambda: all(int(r.info("gossip")["dropped_bad_auth"]) >= n + 5
                               for r, n in zip((a, b), base)),
                   what="five more of the evil node's datagrams refused at each node")
        for r in (a, b):
            self.assertEqual(r.smembers("s"), {"good"})
            self.assertIsNone(r.get("n"))
            info = r.info("gossip")
            self.assertGreater(int(info["dropped_bad_auth"]), 0)
            self.assertEqual(info["gossip_auth"], "encrypt" if r is b else "authenticate")
        self.assertEqual(evil.smembers("s"), {"evil"})

    def test_key_rotation_with_sighup(self):
        import signal
        c = self.cluster = Cluster(2)
        old = gen_key(os.path.join(c.dir, "old"))
        new = gen_key(os.path.join(c.dir, "new"))
        for node in c.nodes:
            node.extra = {"security": {"key_file": old}}
        c.start()
        a, b = (n.client(decode_responses=True) for n in c.nodes)
        a.incr("k")
        self.converge(c.nodes, lambda r: r.get("k"), "1")
        # roll: each node sends with the new key and accepts the old one
        for node in c.nodes:
            node.extra = {"security": {"key_file": new, "old_key_files": old}}
            node.write_config()
            node.proc.send_signal(signal.SIGHUP)
            a.incr("k")
        self.converge(c.nodes, lambda r: r.get("k"), "3")
        # then the old key goes
        for node in c.nodes:
            node.extra = {"security": {"key_file": new}}
            node.write_config()
            node.proc.send_signal(signal.SIGHUP)
        # the second reload done on both (its log line), not a guess at how long it takes
        for node in c.nodes:
            wait_until(lambda: reloads(node) >= 2, what="%s to reload" % node.name)
        b.incr("k")
        self.converge(c.nodes, lambda r: r.get("k"), "4")
        self.assertEqual(int(a.info("gossip")["dropped_bad_auth"]), 0)

    def test_garbage_truncated_and_flipped_datagrams(self):
        """A fake peer (a UDP socket listed in the node's [peers]) records the
        node's real sealed datagrams, then sends thousands of random, truncated
        and bit-flipped ones (up to 64 KiB): the node keeps answering, its
        state does not change, its drop counters rise by as many."""
        c = self.cluster = Cluster(1)
        key = gen_key(os.path.join(c.dir, "k"))
        fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fake.bind(("127.0.0.1", 0))
        fake.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        fport = fake.getsockname()[1]

        class Fake:
            name, udp = "fake", fport
        node = c[0]
        node.peers = [Fake]
        node.extra = {"security": {"key_file": key}, "gossip": {"mtu": "512"}}
        c.start()
        r = node.client(decode_responses=True)
        r.sadd("s", *["m%03d" % i for i in range(100)])
        r.incrby("n", 7)
        r.set("reg", "v")
        r.execute_command("CRDT.SYNC")
        fake.settimeout(5)
        real = []
        deadline = time.monotonic() + 5
        while len(real) < 20 and time.monotonic() < deadline:
            d, _ = fake.recvfrom(65536)
            real.append(d)
        self.assertGreaterEqual(len(real), 5)
        for d in real:
            self.assertEqual(d[:4], b"CRDT")
            self.assertEqual(d[6], 0x01)  # sealed
        before_state = (r.smembers("s"), r.get("n"), r.get("reg"), r.dbsize())
        before = drops(r.info("gossip"))
        rnd = random.Random(20261125)
        sent = 0
        dest = ("127.0.0.1", node.udp)
        for i in range(3000):
            kind = i % 4
            if kind == 0:
                d = rnd.randbytes(rnd.randrange(0, 65507))
                if i % 8 == 0 and len(d) > 7:
                    d = b"CRDT\x06\x01\x01" + d[7:]
            else:
                src = rnd.choice(real)
                if kind == 1:
                    d = src[:rnd.randrange(0, len(src))]
                elif kind == 2:
                    b = bytearray(src)
                    for _ in range(rnd.randrange(1, 4)):
                        j = rnd.randrange(len(b))
                        b[j] ^= 1 << rnd.randrange(8)
                    d = bytes(b)
                else:
                    b = bytearray(src)
                    b[rnd.randrange(7, len(b))] = rnd.randrange(256)
                    d = bytes(b) if bytes(b) != src else src[:-1]
            fake.sendto(d, dest)
            sent += 1
            if i % 500 == 0:
                self.assertTrue(r.ping())
        wait_until(lambda: drops(r.info("gossip")) - before >= sent * 0.95, timeout=20,
                   what="drop counters to count the datagrams")
        info = r.info("gossip")
        self.assertGreater(int(info["dropped_bad_auth"]), 1000)
        self.assertEqual(int(info["dropped_bad_state"]), 0)  # no forged datagram got that far
        # replays of real datagrams: accepted, harmless.  Not a sleep: the node
        # counted them in (loopback keeps a socket's datagrams in order, so
        # they come after the garbage), and merged their records
        info = r.info("gossip")
        dgrams, records = int(info["datagrams_in"]), int(info["records_in"])
        for d in real:
            fake.sendto(d, dest)
        wait_until(lambda: int(r.info("gossip")["datagrams_in"]) >= dgrams + len(real),
                   what="the replayed datagrams to be received")
        wait_until(lambda: int(r.info("gossip")["records_in"]) > records,
                   what="the replayed records to be read")
        self.assertTrue(r.ping())
        self.assertEqual((r.smembers("s"), r.get("n"), r.get("reg"), r.dbsize()), before_state)
        fake.close()

    def test_unknown_sender_dropped(self):
        c = self.cluster = Cluster(1).start()
        r = c[0].client(decode_responses=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(50):
                s.sendto(b"CRDT\x06\x02\x00" + b"\x00" * 40, ("127.0.0.1", c[0].udp))
        wait_until(lambda: int(r.info("gossip")["dropped_unknown_peer"]) >= 50, what="unknown_peer drops")

    # ---- client port ------------------------------------------------------

    def test_requirepass(self):
        c = self.cluster = Cluster(1, conf={"node": {"requirepass": "s3cret pass"}}).start()
        node = c[0]
        r = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5, decode_responses=True)
        for cmd in (("PING",), ("GET", "k"), ("SET", "k", "v"), ("FROB",), ("INFO",)):
            with self.assertRaisesRegex(redis.AuthenticationError, "Authentication required"):
                r.execute_command(*cmd)
        with self.assertRaisesRegex((redis.ResponseError, redis.AuthenticationError), "invalid username-password pair"):
            r.execute_command("AUTH", "nope")
        with self.assertRaisesRegex((redis.ResponseError, redis.AuthenticationError), "invalid username-password pair"):
            r.execute_command("AUTH", "bob", "s3cret pass")
        self.assertTrue(r.execute_command("AUTH", "s3cret pass"))
        self.assertTrue(r.set("k", "v"))
        self.assertEqual(r.get("k"), "v")
        ok = node.client(password="s3cret pass", decode_responses=True)
        self.assertEqual(ok.get("k"), "v")
        ok2 = node.client(username="default", password="s3cret pass", decode_responses=True)
        self.assertEqual(ok2.get("k"), "v")
        out = subprocess.run(["redis-cli", "-p", str(node.port), "--no-auth-warning", "-a", "s3cret pass",
                              "GET", "k"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.strip(), "v")
        self.assertGreaterEqual(int(ok.info("stats")["auth_failures"]), 2)

    def test_auth_without_requirepass(self):
        c = self.cluster = Cluster(1).start()
        r = c[0].client(decode_responses=True)
        with self.assertRaisesRegex(redis.ResponseError, "without any password configured"):
            r.execute_command("AUTH", "x")

    def test_limits(self):
        c = self.cluster = Cluster(1, conf={"limits": {
            "max_name_bytes": "16", "max_element_bytes": "8", "max_value_bytes": "10",
            "max_elements": "5", "max_instances": "4"}}).start()
        r = c[0].client(decode_responses=True)
        with self.assertRaisesRegex(redis.ResponseError, r"^key longer than max_name_bytes \(16\)$"):
            r.incr("k" * 17)
        with self.assertRaisesRegex(redis.ResponseError, r"^element longer than max_element_bytes \(8\)$"):
            r.sadd("s", "ok", "x" * 9)
        self.assertEqual(r.exists("s"), 0)  # nothing of it was added
        with self.assertRaisesRegex(redis.ResponseError, r"^value longer than max_value_bytes \(10\)$"):
            r.set("v", "x" * 11)
        self.assertEqual(r.sadd("s", "a", "b", "c", "d", "e"), 5)
        self.assertEqual(r.sadd("s", "a"), 0)
        with self.assertRaisesRegex(redis.ResponseError, r"^set would pass max_elements \(5\)$"):
            r.sadd("s", "f")
        self.assertEqual(r.scard("s"), 5)
        r.incr("i1")
        r.set("i2", "x")
        r.execute_command("CRDT.CREATE", "i3", "gset")
        with self.assertRaisesRegex(redis.ResponseError, r"max_instances \(4\) reached"):
            r.incr("i4")
        self.assertEqual(r.incr("i1"), 2)  # existing names still take writes
        self.assertEqual(r.dbsize(), 4)

    def test_element_hash_keyed_per_store_and_kept(self):
        """Members are hashed under a secret key of each store's own
        (crdt/hash.h): two replicas holding the same set list it in
        different orders (SSCAN follows the hash), so no client can compute
        members that collide; and a restart keeps the key, so a set loads
        in the order its snapshot was written and lists as before."""
        self.cluster = c = Cluster(n=2).start()
        a, b = c[0].client(), c[1].client()
        members = [("m%d" % i).encode() for i in range(300)]
        a.sadd("s", *members)
        a.hset("h", mapping={m: b"v" for m in members})
        wait_until(lambda: b.scard("s") == 300 and b.hlen("h") == 300, timeout=15, what="replication")

        def order(cl):
            cur, got = cl.sscan("s", 0, count=1000)
            self.assertEqual(cur, 0)
            cur, fields = cl.hscan("h", 0, count=1000)
            self.assertEqual(cur, 0)
            return got, list(fields)

        oa, ob = order(a), order(b)
        self.assertEqual(sorted(oa[0]), sorted(members))
        self.assertEqual(sorted(ob[0]), sorted(members))
        # one key for both would list the 300 members in one order
        self.assertTrue(oa[0] != ob[0], "both replicas list the set in one order")
        self.assertTrue(oa[1] != ob[1], "both replicas list the hash in one order")
        self.assertEqual(c[0].stop(), 0)
        c[0].start()
        self.assertTrue(order(c[0].client()) == oa, "the order changed at a restart")

    def test_abusive_frames_close(self):
        c = self.cluster = Cluster(1, conf={"node": {"max_request_bytes": "4096", "max_args": "16"}}).start()
        port = c[0].port
        cases = [
            (b"*1\r\n$5000\r\n", b"-ERR Protocol error: invalid bulk length"),
            (b"*100\r\n", b"-ERR Protocol error: invalid multibulk length"),
            (b"*1\r\n$-5\r\n", b"-ERR Protocol error"),
            (b"GET " + b"x" * 70000, b"-ERR Protocol error"),
            (b"*abc\r\n", b"-ERR Protocol error"),
        ]
        for frame, want in cases:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(frame)
                data = b""
                s.settimeout(5)
                while True:
                    try:
                        chunk = s.recv(65536)
                    except (socket.timeout, ConnectionResetError):
                        break
                    if not chunk:
                        break
                    data += chunk
                self.assertTrue(data.startswith(want), (frame[:20], data))
        self.assertTrue(c[0].client().ping())


if __name__ == "__main__":
    unittest.main(verbosity=2)
