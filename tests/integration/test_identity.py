"""Replica identity: a replica id names one history of writes and is never
reused for another.  A store moved away, a backup restored or a data
directory copied to a second host must not lose acknowledged writes on any
node (docs/storage.md, "Replica identity").

Each scenario makes its writes on a node that cannot reach its peers (an
empty peer list), so that they are made before the node hears anything of
what its peers hold: the case where a reused id would collide."""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster, Node, wait_until  # noqa: E402


class IdentityTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))

    def converge(self, nodes, fn, want, what):
        for n in nodes:
            r = n.client(decode_responses=True)
            wait_until(lambda: fn(r) == want, timeout=20, what="%s on %s" % (what, n.name))

    def restart_alone_then_rejoin(self, node, write):
        """Start @node with no peers, make @write's writes, stop it, start it
        again with its peers."""
        peers, node.peers = node.peers, []
        node.start()
        write(node.client())
        self.assertEqual(node.stop(), 0)
        node.peers = peers
        node.start()

    def rid(self, node):
        return node.client(decode_responses=True).info("server")["replica_id"]

    def test_store_moved_away_loses_nothing(self):
        self.cluster = c = Cluster(3).start()
        n2 = c[2].client()
        n2.incrby("hits", 100)
        n2.sadd("cart", "old1", "old2")
        # both on the peers before the store goes (waiting for the counter
        # alone lost the set 1 run in 10: n2's only copy went with it)
        self.converge(c.nodes, lambda r: (r.get("hits"), sorted(r.smembers("cart"))),
                      ("100", ["old1", "old2"]), "first writes")
        self.assertEqual(c[2].stop(), 0)
        # what crdtd's own error message advises for a damaged store
        data = os.path.join(c[2].dir, "data")
        os.rename(os.path.join(data, "store.lmdb"), os.path.join(data, "store.lmdb.damaged"))

        def write(r):
            r.incrby("hits", 5)
            r.sadd("cart", "new1", "new2")
        self.restart_alone_then_rejoin(c[2], write)
        self.converge(c.nodes, lambda r: r.get("hits"), "105", "counter")
        self.converge(c.nodes, lambda r: sorted(r.smembers("cart")),
                      ["new1", "new2", "old1", "old2"], "set")

    def test_backup_restored_loses_nothing(self):
        self.cluster = c = Cluster(3).start()
        n2 = c[2].client()
        n2.incrby("hits", 10)
        n2.sadd("cart", "before")
        self.converge(c.nodes, lambda r: r.get("hits"), "10", "first writes")
        self.assertEqual(c[2].stop(), 0)
        data = os.path.join(c[2].dir, "data")
        backup = os.path.join(c.dir, "backup")
        shutil.copytree(data, backup)
        c[2].start()
        n2 = c[2].client()
        n2.incrby("hits", 3)
        n2.sadd("cart", "after-backup")
        n2.srem("cart", "before")
        self.converge(c.nodes, lambda r: r.get("hits"), "13", "writes after the backup")
        self.converge(c.nodes, lambda r: sorted(r.smembers("cart")), ["after-backup"],
                      "set after the backup")
        self.assertEqual(c[2].stop(), 0)
        shutil.rmtree(data)
        shutil.copytree(backup, data)

        def write(r):
            r.incrby("hits", 1)
            r.sadd("cart", "after-restore")
        self.restart_alone_then_rejoin(c[2], write)
        self.converge(c.nodes, lambda r: r.get("hits"), "14", "counter")
        # the remove made after the backup stands; nothing acknowledged is lost
        self.converge(c.nodes, lambda r: sorted(r.smembers("cart")),
                      ["after-backup", "after-restore"], "set")

    def test_copied_data_dir_loses_nothing_on_either_host(self):
        self.cluster = c = Cluster(2).start()
        c[1].client().incrby("hits", 100)
        c[1].client().sadd("cart", "shared")
        self.converge(c.nodes, lambda r: r.get("hits"), "100", "first writes")
        self.assertEqual(c[1].stop(), 0)
        clone = Node(c, "clone")
        c.nodes.append(clone)
        shutil.copytree(os.path.join(c[1].dir, "data"), os.path.join(clone.dir, "data"))
        clone.peers = [c[0], c[1]]
        c[0].peers.append(clone)
        c[1].peers.append(clone)
        self.assertEqual(c[0].stop(), 0)
        c[0].start()

        def write_original(r):
            r.incrby("hits", 5)
            r.sadd("cart", "original")

        def write_clone(r):
            r.incrby("hits", 7)
            r.sadd("cart", "clone")
        self.restart_alone_then_rejoin(c[1], write_original)
        self.restart_alone_then_rejoin(clone, write_clone)
        self.converge(c.nodes, lambda r: r.get("hits"), "112", "counter")
        self.converge(c.nodes, lambda r: sorted(r.smembers("cart")),
                      ["clone", "original", "shared"], "set")
        self.assertNotEqual(self.rid(c[1]), self.rid(clone))


if __name__ == "__main__":
    unittest.main(verbosity=2)
