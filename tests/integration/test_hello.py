"""HELLO and RESP3 (issue 10, item 8), against real daemons on loopback: the
exact bytes Redis 7 sends for HELLO and its errors, AUTH inside HELLO, and
after HELLO 3 the RESP3 forms of nulls, sets and maps, while a connection
that never says HELLO 3 gets RESP2 byte for byte as before."""
import os
import socket
import sys
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster  # noqa: E402


def hello_reply(proto, conn_id, map_header):
    return (map_header
            + b"$6\r\nserver\r\n$5\r\ncrdtd\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
            + b"$5\r\nproto\r\n:%d\r\n$2\r\nid\r\n:%d\r\n" % (proto, conn_id)
            + b"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            + b"$7\r\nmodules\r\n*0\r\n")


class Conn:
    """A raw connection that reads exactly the bytes expected."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)

    def ask(self, req, want_len):
        self.s.sendall(req)
        data = b""
        deadline = time.monotonic() + 10
        while len(data) < want_len and time.monotonic() < deadline:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def check(self, test, req, want):
        test.assertEqual(self.ask(req, len(want)), want)

    def close(self):
        self.s.close()


class HelloTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2, conf={"simulation": {"enabled": "yes", "seed": "5"}}).start()
        cls.node = cls.cluster[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.cleanup(keep_logs=False)

    def conn_id(self, c):
        """The id HELLO gives this connection (the connection counter)."""
        data = c.ask(b"HELLO\r\n", 1)
        deadline = time.monotonic() + 10
        while not data.endswith(b"*0\r\n") and time.monotonic() < deadline:
            data += c.s.recv(65536)
        return int(data.split(b"$2\r\nid\r\n:")[1].split(b"\r\n")[0])

    def test_hello_bytes_as_redis(self):
        c = Conn(self.node.port)
        cid = self.conn_id(c)
        c.check(self, b"HELLO\r\n", hello_reply(2, cid, b"*14\r\n"))
        c.check(self, b"HELLO 2\r\n", hello_reply(2, cid, b"*14\r\n"))
        # errors change nothing: still RESP2
        for req, err in ((b"HELLO 4\r\n", b"-NOPROTO unsupported protocol version\r\n"),
                         (b"HELLO 1\r\n", b"-NOPROTO unsupported protocol version\r\n"),
                         (b"HELLO three\r\n", b"-ERR Protocol version is not an integer or out of range\r\n"),
                         (b"HELLO 3 FOO\r\n", b"-ERR Syntax error in HELLO option 'FOO'\r\n"),
                         (b"HELLO 3 AUTH default\r\n", b"-ERR Syntax error in HELLO option 'AUTH'\r\n"),
                         (b"HELLO 3 SETNAME\r\n", b"-ERR Syntax error in HELLO option 'SETNAME'\r\n"),
                         (b'HELLO 3 SETNAME "a b"\r\n',
                          b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
                         (b"HELLO 3 AUTH bob pw\r\n",
                          b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")):
            c.check(self, req, err)
            c.check(self, b"GET nokey\r\n", b"$-1\r\n")
        c.check(self, b"HELLO 3 SETNAME app-1 AUTH default anything\r\n", hello_reply(3, cid, b"%7\r\n"))
        c.check(self, b"GET nokey\r\n", b"_\r\n")
        c.check(self, b"HELLO\r\n", hello_reply(3, cid, b"%7\r\n"))
        c.check(self, b"HELLO 2\r\n", hello_reply(2, cid, b"*14\r\n"))
        c.check(self, b"GET nokey\r\n", b"$-1\r\n")
        c.close()

    def test_resp3_replies(self):
        r = self.node.client()
        r.sadd("h:s", "b", "a")
        r.set("h:reg", "v")
        c = Conn(self.node.port)
        cid = self.conn_id(c)
        c.check(self, b"HELLO 3\r\n", hello_reply(3, cid, b"%7\r\n"))
        c.check(self, b"GET h:none\r\n", b"_\r\n")
        c.check(self, b"GET h:reg\r\n", b"$1\r\nv\r\n")
        c.check(self, b"SMEMBERS h:s\r\n", b"~2\r\n$1\r\na\r\n$1\r\nb\r\n")
        c.check(self, b"SMEMBERS h:none\r\n", b"~0\r\n")
        c.check(self, b"SCARD h:s\r\n", b":2\r\n")
        c.check(self, b"CRDT.JSON h:none\r\n", b"_\r\n")
        c.check(self, b"CRDT.INFO h:none\r\n", b"_\r\n")
        c.check(self, b"CLIENT GETNAME\r\n", b"_\r\n")
        c.check(self, b"COMMAND INFO nosuch\r\n", b"*1\r\n_\r\n")
        c.check(self, b"CONFIG GET maxclients\r\n", b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n")
        c.check(self, b"CONFIG GET nothing\r\n", b"%0\r\n")
        c.check(self, b"SMEMBERS h:reg\r\n",
                b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        status = c.ask(b"CRDT.SIM STATUS\r\n", 5)
        self.assertTrue(status.startswith(b"%17\r\n$4\r\nloss\r\n"), status)
        c.close()
        c = Conn(self.node.port)
        c.check(self, b"HELLO 3\r\n", hello_reply(3, self.conn_id(c), b"%7\r\n"))
        peers = c.ask(b"CRDT.PEERS\r\n", 30)
        self.assertTrue(peers.startswith(b"*1\r\n%22\r\n$4\r\nname\r\n$2\r\nn1\r\n"), peers)
        c.close()

    def test_resp2_unchanged(self):
        r = self.node.client()
        r.sadd("h2:s", "b", "a")
        c = Conn(self.node.port)
        c.check(self, b"GET h2:none\r\n", b"$-1\r\n")
        c.check(self, b"SMEMBERS h2:s\r\n", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        c.check(self, b"CONFIG GET maxclients\r\n", b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n")
        c.check(self, b"COMMAND INFO nosuch\r\n", b"*1\r\n*-1\r\n")
        c.check(self, b"CLIENT GETNAME\r\n", b"$-1\r\n")
        status = c.ask(b"CRDT.SIM STATUS\r\n", 5)
        self.assertTrue(status.startswith(b"*34\r\n$4\r\nloss\r\n"), status)
        peers = c.ask(b"CRDT.PEERS\r\n", 30)
        self.assertTrue(peers.startswith(b"*1\r\n*44\r\n$4\r\nname\r\n$2\r\nn1\r\n"), peers)
        c.close()

    def test_redis_py(self):
        r = self.node.client(decode_responses=True)
        reply = r.execute_command("HELLO", "2", "SETNAME", "py")
        hello = dict(zip(reply[::2], reply[1::2]))
        self.assertEqual(hello["server"], "crdtd")
        self.assertEqual(hello["proto"], 2)
        self.assertEqual(hello["mode"], "standalone")
        self.assertEqual(hello["role"], "master")
        self.assertEqual(hello["modules"], [])
        self.assertGreater(hello["id"], 0)
        # redis-py knows no NOPROTO class: the code stays in the message
        with self.assertRaisesRegex(redis.ResponseError, "^NOPROTO unsupported protocol version$"):
            r.execute_command("HELLO", "4")
        self.assertEqual(r.sadd("py:s", "x"), 1)
        self.assertEqual(r.smembers("py:s"), {"x"})


class HelloAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1, conf={"node": {"requirepass": "s3cret"}}).start()
        cls.node = cls.cluster[0]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.cleanup(keep_logs=False)

    def test_auth_inside_hello(self):
        c = Conn(self.node.port)
        c.check(self, b"HELLO 3\r\n",
                b"-NOAUTH HELLO must be called with the client already authenticated, otherwise "
                b"the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
                b"client and select the RESP protocol version at the same time\r\n")
        c.check(self, b"GET k\r\n", b"-NOAUTH Authentication required.\r\n")
        before = self.node.client().info("stats")["auth_failures"]
        c.check(self, b"HELLO 3 AUTH default wrong\r\n",
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        c.check(self, b"HELLO 3 AUTH admin s3cret\r\n",
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        self.assertEqual(self.node.client().info("stats")["auth_failures"], before + 2)
        c.check(self, b"GET k\r\n", b"-NOAUTH Authentication required.\r\n")
        reply = c.ask(b"HELLO 3 AUTH default s3cret\r\n", 5)
        self.assertTrue(reply.startswith(b"%7\r\n$6\r\nserver\r\n"), reply)
        while not reply.endswith(b"$7\r\nmodules\r\n*0\r\n"):
            reply += c.s.recv(65536)
        c.check(self, b"GET k\r\n", b"_\r\n")
        c.close()

    def test_redis_py_hello_with_auth(self):
        r = redis.Redis(host="127.0.0.1", port=self.node.port, socket_timeout=10,
                        decode_responses=True)
        with self.assertRaisesRegex(redis.ResponseError, "^WRONGPASS "):
            r.execute_command("HELLO", "2", "AUTH", "default", "nope")
        reply = r.execute_command("HELLO", "2", "AUTH", "default", "s3cret")
        self.assertEqual(dict(zip(reply[::2], reply[1::2]))["proto"], 2)
        self.assertTrue(r.ping())


if __name__ == "__main__":
    unittest.main(verbosity=2)
