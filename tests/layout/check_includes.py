#!/usr/bin/env python3
"""The include rules of docs/architecture.md, checked on the source tree.

Each rule names files and what they may not reach, directly or through the
project's own headers (the closure over #include "..."): the engine never
reaches the daemon, libuv, cJSON (but for its JSON module) or the other
libraries; the state and gossip pipelines never reach the client pipeline;
the pure modules never reach libuv.  Exits 1 naming each broken rule and
the include chain that breaks it."""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../..")
INC = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def project_header(path_from, name):
    """Resolve #include "name" as the compiler does here: beside the file,
    then include/, then src/daemon/."""
    for base in (os.path.dirname(path_from), os.path.join(ROOT, "include"),
                 os.path.join(ROOT, "src/daemon")):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p):
            return p
    return None


def closure(path):
    """Every header reached from @path: {display name: chain}."""
    seen, out, todo = set(), {}, [(path, [rel(path)])]
    while todo:
        f, chain = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        with open(f, errors="replace") as fh:
            text = fh.read()
        for kind, name in INC.findall(text):
            if kind == "<":
                out.setdefault("<%s>" % name, chain + ["<%s>" % name])
                continue
            h = project_header(f, name)
            if h is None:
                continue
            out.setdefault(rel(h), chain + [rel(h)])
            todo.append((h, chain + [rel(h)]))
    return out


def rel(p):
    return os.path.relpath(p, ROOT)


def files(*dirs):
    for d in dirs:
        for dp, _, names in os.walk(os.path.join(ROOT, d)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(dp, n)


RULES = [
    # (what, files, the prefixes they may not reach)
    ("the engine reaches no daemon code, libuv, cJSON or other I/O library",
     [f for f in files("src/crdt", "include/crdt")
      if not f.endswith(("src/crdt/json.c", "include/crdt/json.h"))],
     ("src/daemon/", "<uv.h>", "<cjson/", "<sodium", "<lmdb.h>", "<sys/socket.h>", "<netinet/",
               "include/crdt/json.h")),
    ("the state pipeline reaches neither the client nor the gossip pipeline",
     list(files("src/daemon/state")),
     ("src/daemon/client/", "src/daemon/gossip/", "src/daemon/http/", "src/daemon/daemon.h")),
    ("the gossip pipeline reaches the client pipeline not at all, and of the state only the store",
     list(files("src/daemon/gossip")),
     ("src/daemon/client/", "src/daemon/http/", "src/daemon/state/journal.h",
      "src/daemon/state/datadir.h", "src/daemon/daemon.h")),
    ("the client pipeline reaches not the http pipeline (http reads client's counters)",
     list(files("src/daemon/client")),
     ("src/daemon/http/",)),
    ("the pure modules reach no libuv",
     [os.path.join(ROOT, p) for p in (
         "src/daemon/client/resp.c", "src/daemon/client/glob.c", "src/daemon/gossip/core.c",
         "src/daemon/gossip/catchup.c", "src/daemon/gossip/rounds.c", "src/daemon/gossip/deltas.c",
         "src/daemon/gossip/limits.c",
         "src/daemon/client/cmdstats.c", "src/daemon/client/slowlog.c",
         "src/daemon/gossip/digest.c", "src/daemon/gossip/wire.c",
         "src/daemon/gossip/pcache.c",
         "src/daemon/gossip/auth.c", "src/daemon/state/store.c", "src/daemon/state/datadir.c",
         "src/daemon/config.c", "src/daemon/log.c", "src/daemon/http/request.c",
         "src/daemon/http/metrics.c", "src/daemon/http/status.c")],
     ("<uv.h>",)),
]

passed = failed = 0
for what, fs, forbidden in RULES:
    for f in fs:
        broken = [chain for name, chain in sorted(closure(f).items()) if name.startswith(forbidden)]
        for chain in broken:
            print("%s: breaks \"%s\": %s" % (rel(f), what, " -> ".join(chain)))
        failed += bool(broken)
        passed += not broken
print("include rules: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
