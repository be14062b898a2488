"""Start real crdtd daemons on loopback for the integration tests.

Every daemon is started on ports picked free at run time, in a temporary
directory of its own, and stopped by its own PID when the test ends (also when
it fails).  Every wait is bounded in time.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

CRDTD = os.environ.get("CRDTD", os.path.join(os.path.dirname(__file__), "../../build/src/daemon/crdtd"))


_given_ports = set()


def free_port(kind=socket.SOCK_STREAM):
    """A port the kernel says is free now, for TCP or UDP on 127.0.0.1, and
    not one this process was given before: a port released after the bind
    can come back at the next call, and two nodes of one cluster would then
    share an address (the daemon refuses a peer list naming it twice)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if (kind, port) not in _given_ports:
            _given_ports.add((kind, port))
            return port
    raise RuntimeError("no fresh port in 100 tries")


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll pred() until it is true or timeout seconds pass; return its value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (redis.exceptions.ConnectionError, ConnectionError, OSError):
            pass
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Node:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.udp = free_port(socket.SOCK_DGRAM)
        self.port = free_port()
        self.dir = os.path.join(cluster.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "crdtd.ini")
        self.log = os.path.join(self.dir, "crdtd.log")
        self.proc = None
        self.peers = []
        self.extra = {}
        self.env = {}  # added to the daemon's environment (e.g. libfaketime's)

    def write_config(self):
        sections = {
            "node": {
                "name": self.name,
                "data_dir": os.path.join(self.dir, "data"),
                "listen": "127.0.0.1:%d" % self.udp,
                "client": "127.0.0.1:%d" % self.port,
            },
            "gossip": {"interval_ms": "200", "push_delay_ms": "1"},
            "log": {"level": "debug"},
        }
        for sect, kv in self.extra.items():
            sections.setdefault(sect, {}).update(kv)
        with open(self.conf, "w") as f:
            for sect, kv in sections.items():
                f.write("[%s]\n" % sect)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
            f.write("[peers]\n")
            for p in self.peers:
                f.write("%s = 127.0.0.1:%d\n" % (p.name, p.udp))

    def start(self):
        self.write_config()
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([CRDTD, "-c", self.conf], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, env=dict(os.environ, **self.env))
        logf.close()
        wait_until(self._ready, timeout=15, what="%s to answer PING" % self.name)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log_text()))
        return self.client().ping()

    def client(self, **kw):
        password = self.extra.get("node", {}).get("requirepass")
        if password and "password" not in kw:
            kw["password"] = password
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class Cluster:
    """N nodes, each listing every other as a peer (full mesh)."""

    def __init__(self, n=3, names=None, mesh=True, conf=None):
        """conf: {"section": {"key": "value"}} added to every node's ini file."""
        self.dir = tempfile.mkdtemp(prefix="crdtd-test-")
        names = names or ["n%d" % i for i in range(n)]
        self.nodes = [Node(self, name) for name in names]
        for node in self.nodes:
            for sect, kv in (conf or {}).items():
                node.extra.setdefault(sect, {}).update(kv)
            if mesh:
                node.peers = [p for p in self.nodes if p is not node]

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    def stop(self):
        """Stop every node by its PID; returns the exit codes."""
        return [node.stop() for node in self.nodes]

    def cleanup(self, keep_logs=False):
        """Stop every node; fail if one did not exit cleanly on SIGTERM (a
        sanitizer report at exit, a leak, a crash)."""
        codes = self.stop()
        bad = [(n.name, rc) for n, rc in zip(self.nodes, codes) if rc not in (None, 0)]
        if keep_logs or bad:
            for node in self.nodes:
                print("---- log of %s ----\n%s" % (node.name, node.log_text()))
        shutil.rmtree(self.dir, ignore_errors=True)
        if bad:
            raise AssertionError("daemons exited uncleanly on SIGTERM: %r" % bad)

    def __getitem__(self, i):
        return self.nodes[i]
