"""Registers converge whatever the clocks say (issue 10, item 4).

Three real daemons, one with its wall clock an hour ahead and one two minutes
behind (libfaketime, preloaded into the daemon only): registers written on
each reach every node, a write acknowledged after having read the value from
the future wins everywhere, and CRDT.PEERS, INFO and the log report the skew.
Every wait is bounded; nothing asserts how long anything took.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import CRDTD, Cluster, wait_until  # noqa: E402

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
HOUR_MS = 3600 * 1000


def preload():
    """libfaketime, after the sanitizer runtimes when the daemon is built
    with them (they insist on coming first)."""
    libs = []
    try:
        out = subprocess.run(["ldd", CRDTD], capture_output=True, text=True, timeout=30).stdout
        libs = [m for m in re.findall(r"=>\s*(\S*lib(?:asan|ubsan)\.so[.\d]*)", out)]
    except (OSError, subprocess.SubprocessError):
        pass
    return " ".join(libs + [FAKETIME_LIB])


def skewed(offset):
    """Environment that runs a daemon with its wall clock moved by offset
    (libfaketime syntax: "+1h", "-2m").  The monotonic clock is left alone:
    timers and RTTs stay real."""
    return {"LD_PRELOAD": preload(), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}


def peers(client):
    """CRDT.PEERS as {node name: {field: value}}."""
    out = {}
    for p in client.execute_command("CRDT.PEERS"):
        d = dict(zip(p[::2], p[1::2]))
        out[d["node"]] = d
    return out


@unittest.skipUnless(os.path.exists(FAKETIME_LIB), "libfaketime is not installed (package faketime)")
class ClockSkewTest(unittest.TestCase):
    cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.cleanup(keep_logs=not getattr(self._outcome, "success", True))
            self.cluster = None

    def converge(self, key, want, what):
        clients = [n.client(decode_responses=True) for n in self.cluster.nodes]
        wait_until(lambda: all(c.get(key) == want for c in clients), timeout=15,
                   what="%s: %s == %r on every node (have %r)"
                   % (what, key, want, [c.get(key) for c in clients]))

    def test_registers_converge_across_skewed_clocks(self):
        c = self.cluster = Cluster(names=["now", "ahead", "behind"])
        c[1].env = skewed("+1h")
        c[2].env = skewed("-2m")
        c.start()
        now, ahead, behind = (n.client(decode_responses=True) for n in c.nodes)
        wait_until(lambda: all(p["last_seen_ms_ago"] >= 0 for x in (now, ahead, behind)
                               for p in peers(x).values()),
                   timeout=15, what="every node to hear from its peers")

        # A register written on each node reaches every node: the one from
        # an hour ahead is merged (not dropped for as long as the skew
        # lasts), and the node two minutes behind takes its peers' too.
        self.assertTrue(ahead.set("r-ahead", "from the future"))
        self.assertTrue(now.set("r-now", "from now"))
        self.assertTrue(behind.set("r-behind", "from the past"))
        self.converge("r-ahead", "from the future", "a register from an hour ahead")
        self.converge("r-now", "from now", "a register from a correct clock")
        self.converge("r-behind", "from the past", "a register from two minutes behind")

        # A write acknowledged after reading the value from the future wins
        # everywhere, though its own clock is an hour (or more) behind it.
        self.assertEqual(now.get("r-ahead"), "from the future")
        self.assertTrue(now.set("r-ahead", "read it, then wrote"))
        self.converge("r-ahead", "read it, then wrote", "a write after the value from the future")
        self.assertEqual(behind.get("r-ahead"), "read it, then wrote")
        self.assertTrue(behind.set("r-ahead", "the slow node read it, then wrote"))
        self.converge("r-ahead", "the slow node read it, then wrote",
                      "a write from the slow node after the value from the future")
        # and the fast node's own later write, which read that, wins too
        wait_until(lambda: ahead.get("r-ahead") == "the slow node read it, then wrote",
                   what="the fast node to see the slow node's write")
        self.assertTrue(ahead.set("r-ahead", "the fast node again"))
        self.converge("r-ahead", "the fast node again", "the fast node's next write")
        # the slow node overwrites what the others wrote
        self.assertEqual(behind.get("r-now"), "from now")
        self.assertTrue(behind.set("r-now", "overwritten from behind"))
        self.converge("r-now", "overwritten from behind", "a write from behind after reading")

        # The skew is reported: CRDT.PEERS per peer, INFO gossip, the log.
        def skew_seen():
            p = peers(now)
            return (p["ahead"]["clock_offset_ms"] is not None
                    and p["behind"]["clock_offset_ms"] is not None and p)
        p = wait_until(skew_seen, what="clock offsets in CRDT.PEERS")
        self.assertGreater(p["ahead"]["clock_offset_ms"], HOUR_MS - 60000)
        self.assertLess(p["ahead"]["clock_offset_ms"], HOUR_MS + 60000)
        self.assertEqual(p["ahead"]["clock_skewed"], 1)
        self.assertLess(p["behind"]["clock_offset_ms"], -90000)
        self.assertGreater(p["behind"]["clock_offset_ms"], -150000)
        self.assertEqual(p["behind"]["clock_skewed"], 1)
        self.assertGreaterEqual(p["ahead"]["clock_lead_capped"], 1)
        info = now.info("gossip")
        self.assertEqual(info["clock_skewed_peers"], 2)
        self.assertEqual(info["max_clock_lead_ms"], 60000)
        self.assertGreaterEqual(info["clock_lead_capped"], 1)
        self.assertNotIn("dropped_clock_ahead", info)
        ahead_peers = wait_until(lambda: all(v["clock_offset_ms"] is not None
                                             for v in peers(ahead).values()) and peers(ahead),
                                 what="the fast node's offsets")
        self.assertLess(ahead_peers["now"]["clock_offset_ms"], -(HOUR_MS - 60000))
        self.assertLess(ahead_peers["behind"]["clock_offset_ms"], -(HOUR_MS - 60000))
        wait_until(lambda: "peer" in c[0].log_text() and "ahead of ours" in c[0].log_text(),
                   what="a log line naming the skewed peer")


if __name__ == "__main__":
    unittest.main(verbosity=2)
