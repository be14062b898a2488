"""crdtd driven by a Node.js client from npm (issue 13, part 6).

Two real daemons; tests/integration/node/client_test.js talks to them with
ioredis through its ordinary high-level API.  The package is installed with
`npm ci` from the committed package-lock.json into NODE_CLIENT_DIR (meson
passes a directory of the build tree; by hand, a temporary one), again only
when the lock file changed.  Without node or npm (scripts/install-deps.sh
installs them) the test is skipped (exit 77).
"""
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def install(dest):
    """npm ci into dest unless dest already holds this lock's install."""
    os.makedirs(dest, exist_ok=True)
    stamp = os.path.join(dest, "node_modules", ".crdtd-lock")
    lock = os.path.join(HERE, "package-lock.json")
    if os.path.exists(stamp) and filecmp.cmp(stamp, lock, shallow=False):
        return
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(HERE, f), os.path.join(dest, f))
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=dest,
                   check=True, timeout=600)
    shutil.copyfile(lock, stamp)


class NodeClientTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def test_ioredis(self):
        dest = os.environ.get("NODE_CLIENT_DIR") or tempfile.mkdtemp(prefix="crdtd-node-")
        install(dest)
        c = self.cluster = Cluster(2).start()
        env = dict(os.environ, NODE_PATH=os.path.join(dest, "node_modules"),
                   CRDTD_PORTS="%d,%d" % (c[0].port, c[1].port))
        p = subprocess.run(["node", os.path.join(HERE, "client_test.js")], env=env,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, "node client test failed:\n%s%s" % (p.stdout, p.stderr))
        self.assertIn("node client test: ok", p.stdout)


if __name__ == "__main__":
    if not shutil.which("node") or not shutil.which("npm"):
        print("node or npm missing (scripts/install-deps.sh installs them): skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
