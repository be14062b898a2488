"""The redis-server the benchmarks compare against: on a free loopback port,
in a directory of its own, no snapshots, stopped by its PID.

    with redis_server("--appendonly", "yes") as (client, port): ...
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402


def _ping(cl):
    try:
        return cl.ping()
    except redis.ConnectionError:
        return False


@contextlib.contextmanager
def redis_server(*extra, socket_timeout=None):
    """(client, port) of a redis-server started with the arguments @extra."""
    port = harness.free_port()
    d = tempfile.mkdtemp(prefix="crdtd-bench-redis-")
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--dir", d] + list(extra),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cl = redis.Redis(host="127.0.0.1", port=port, socket_timeout=socket_timeout)
        harness.wait_until(lambda: _ping(cl), timeout=10, what="redis-server")
        yield cl, port
    finally:
        p.terminate()
        p.wait(10)
        shutil.rmtree(d, ignore_errors=True)
