"""The client port of one real daemon, spoken to over raw sockets and with
redis-py and redis-cli: framing, pipelining, inline commands, errors exactly
as Redis gives them, and connections closed on abuse."""
import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, wait_until  # noqa: E402
import redis  # noqa: E402


def recv_until(sock, n_lines=None, want=None, timeout=5.0):
    """Read from sock until want appears (bytes) or the peer closes."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want is not None and want in data:
            return data
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            return data + b"<closed>"
        data += chunk
    return data


class ClientPortTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, conf={"node": {"max_request_bytes": "1048576", "max_clients": "20"}}).start()
        cls.node = cls.cluster[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.cleanup(keep_logs=False)

    def sock(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        return s

    def test_errors_read_like_redis(self):
        r = self.node.client(decode_responses=True)
        r.sadd("e:set", "a")
        with self.assertRaisesRegex(redis.ResponseError, "^WRONGTYPE Operation against a key holding the wrong kind of value$"):
            r.incr("e:set")
        with self.assertRaisesRegex(redis.ResponseError, "^wrong number of arguments for 'sadd' command$"):
            r.execute_command("SADD", "e:x")
        with self.assertRaisesRegex(redis.ResponseError, "^value is not an integer or out of range$"):
            r.execute_command("INCRBY", "e:n", "ten")
        with self.assertRaisesRegex(redis.ResponseError, "^unknown command 'FROB'"):
            r.execute_command("FROB", "x")
        r.execute_command("CRDT.CREATE", "e:g", "gcounter")
        with self.assertRaises(redis.ResponseError):
            r.decr("e:g")
        r.execute_command("CRDT.CREATE", "e:gs", "gset")
        with self.assertRaises(redis.ResponseError):
            r.srem("e:gs", "a")
        r.incrby("e:max", 2**63 - 1)
        with self.assertRaisesRegex(redis.ResponseError, "overflow"):
            r.incr("e:max")
        self.assertEqual(r.get("e:max"), str(2**63 - 1))
        with self.assertRaises(redis.ResponseError):
            r.execute_command("CRDT.CREATE", "e:t", "hash")

    def test_values_and_generic_commands(self):
        r = self.node.client()
        self.assertEqual(r.sadd("v:s", b"a\x00b", b"c"), 2)
        self.assertEqual(r.sadd("v:s", b"c"), 0)
        self.assertTrue(r.sismember("v:s", b"a\x00b"))
        self.assertEqual(r.smembers("v:s"), {b"a\x00b", b"c"})
        self.assertEqual(r.srem("v:s", b"c", b"zz"), 1)
        self.assertEqual(r.scard("v:s"), 1)
        self.assertTrue(r.set("v:r", b"\x00\xff"))
        self.assertEqual(r.get("v:r"), b"\x00\xff")
        self.assertIsNone(r.get("v:missing"))
        self.assertEqual(r.type("v:s"), b"set")
        self.assertEqual(r.execute_command("CRDT.TYPE", "v:s"), b"orset")
        self.assertEqual(r.type("v:missing"), b"none")
        self.assertEqual(r.exists("v:s", "v:r", "v:missing"), 2)
        self.assertEqual(sorted(r.keys("v:*")), [b"v:r", b"v:s"])
        self.assertEqual(sorted(r.scan_iter(match="v:?")), [b"v:r", b"v:s"])
        self.assertEqual(r.echo(b"hi"), b"hi")
        info = r.info()
        for key in ("crdtd_version", "node_name", "replica_id", "uptime_in_seconds",
                    "connected_clients", "total_commands_processed", "gossip_rounds"):
            self.assertIn(key, info)

    def test_info_reports_the_build_version(self):
        # the meson project version, whether or not the tree is a git checkout
        info = self.node.client(decode_responses=True).info("server")
        self.assertEqual(str(info["crdtd_version"]), os.environ["CRDTD_PROJECT_VERSION"])
        out = subprocess.run([os.environ["CRDTD"], "--version"], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "crdtd " + os.environ["CRDTD_PROJECT_VERSION"])

    def test_pipeline_and_split_frames(self):
        s = self.sock()
        frames = b"".join(b"*3\r\n$6\r\nINCRBY\r\n$5\r\np:cnt\r\n$1\r\n1\r\n" for _ in range(50))
        frames += b"PING\r\n"
        # one byte at a time: every split point is exercised
        for i in range(len(frames)):
            s.send(frames[i:i + 1])
        data = recv_until(s, want=b"+PONG\r\n")
        s.close()
        expected = b"".join(b":%d\r\n" % i for i in range(1, 51)) + b"+PONG\r\n"
        self.assertEqual(data, expected)

    def test_inline_commands(self):
        s = self.sock()
        s.sendall(b'SADD i:s "two words" plain\r\nSMEMBERS i:s\nPING\r\n')
        data = recv_until(s, want=b"+PONG\r\n")
        s.close()
        self.assertTrue(data.startswith(b":2\r\n*2\r\n"), data)
        self.assertIn(b"$9\r\ntwo words\r\n", data)

    def test_protocol_errors_close_the_connection(self):
        for bad in (b"*1\r\n$abc\r\n", b"*2\r\n$3\r\nGET\r\n:1\r\n", b'SET "unbalanced\r\n',
                    b"*1\r\n$99999999\r\n", b"*-5x\r\n"):
            s = self.sock()
            s.sendall(bad)
            data = recv_until(s, want=b"<closed>")
            s.close()
            self.assertTrue(data.startswith(b"-ERR Protocol error"), (bad, data))
            self.assertTrue(data.endswith(b"<closed>"), (bad, data))
        # the daemon is still fine
        self.assertTrue(self.node.client().ping())

    def test_max_clients(self):
        socks = []
        try:
            refused = None
            for _ in range(40):
                s = self.sock()
                socks.append(s)
                s.sendall(b"PING\r\n")
                data = recv_until(s, want=b"\r\n")
                if data.startswith(b"-ERR max number of clients"):
                    refused = data
                    break
            self.assertIsNotNone(refused)
        finally:
            for s in socks:
                s.close()
        # the slots come back once the daemon has seen the closes
        r = self.node.client(decode_responses=True)
        wait_until(lambda: int(r.info("clients")["connected_clients"]) <= 2, what="clients to go")

    def test_redis_cli_interactive(self):
        # a real terminal, so redis-cli runs its interactive start-up
        # (COMMAND DOCS for its hints, then its prompt)
        pid, fd = pty.fork()
        if pid == 0:
            os.execvp("redis-cli", ["redis-cli", "-p", str(self.node.port)])
        # an 80-column terminal, so linenoise need not measure it
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        out = b""

        def read_until(want, timeout=10):
            nonlocal out
            deadline = time.monotonic() + timeout
            while want not in out and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.2)[0]:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    # linenoise asks the terminal where the cursor is
                    if b"\x1b[6n" in chunk:
                        os.write(fd, b"\x1b[1;1R")
                    out += chunk
            return want in out

        def command(line, want, tries=3):
            # The terminal's answer to linenoise's cursor query can cross
            # what we type on a loaded machine; a line it mangled is typed
            # again at the next prompt.
            nonlocal out
            for _ in range(tries):
                self.assertTrue(read_until(prompt), out)
                out = b""  # type only at a fresh prompt
                os.write(fd, line + b"\r")
                if read_until(want, timeout=5):
                    return
            self.fail("%r never answered %r: %r" % (line, want, out))

        try:
            prompt = b"127.0.0.1:%d> " % self.node.port
            command(b"SADD cli:s hello", b"(integer) 1")
            command(b"SMEMBERS cli:s", b'1) "hello"')
            os.write(fd, b"quit\r")
        finally:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)


class CommandLineTest(unittest.TestCase):
    def test_check_config_names_file_and_line(self):
        from harness import CRDTD
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
            f.write("[node]\nname = a\ndata_dir = /tmp/x\nlisten = 127.0.0.1:1\n[gossip]\nmtuu = 5\n")
            path = f.name
        try:
            out = subprocess.run([CRDTD, "-c", path, "--check-config"], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 1)
            self.assertIn("%s:6" % path, out.stderr)
            self.assertIn("mtuu", out.stderr)
        finally:
            os.unlink(path)
        good = os.path.join(os.path.dirname(__file__), "../../conf/crdtd.ini")
        out = subprocess.run([CRDTD, "-c", good, "--check-config"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = subprocess.run([CRDTD, "--version"], capture_output=True, text=True, timeout=10)
        self.assertTrue(out.stdout.startswith("crdtd "))

    def test_unix_socket(self):
        c = Cluster(1)
        path = os.path.join(c.dir, "crdtd.sock")
        c[0].extra["node"] = {"client_socket": path}
        try:
            c.start()
            r = redis.Redis(unix_socket_path=path, socket_timeout=5)
            self.assertEqual(r.sadd("u", "x"), 1)
            self.assertEqual(c[0].client().smembers("u"), {b"x"})
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)
        finally:
            c.cleanup()
        self.assertFalse(os.path.exists(path))

    def test_sigterm_stops_cleanly(self):
        c = Cluster(1).start()
        try:
            self.assertEqual(c[0].stop(), 0)
        finally:
            c.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
