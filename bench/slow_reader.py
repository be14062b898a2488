#!/usr/bin/python3
"""What a client that does not read its replies costs the daemon and the
other clients (issue 10, item 6).

One daemon on loopback, one set of N members; a "slow" client writes one
burst of SMEMBERS (64 KiB of requests) and does not read for --hold seconds,
then reads every reply.  Meanwhile another client sends PING after PING and
records each round trip, and the daemon's RSS is sampled every 10 ms.

    bench/slow_reader.py --crdtd build/src/daemon/crdtd --members 5000

Prints one line: members, replies, reply bytes, RSS before and peak, the
largest and the 99th-percentile PING round trip of the other client during
the whole run, and whether the slow client got every byte.  The daemon is
stopped by its PID."""
import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crdtd", required=True)
    ap.add_argument("--members", type=int, default=5000)
    ap.add_argument("--burst", type=int, default=65536, help="bytes of SMEMBERS requests")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds the slow client does not read")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="crdtd-slow-")
    port = free_port()
    conf = os.path.join(tmp, "crdtd.ini")
    with open(conf, "w") as f:
        f.write("[node]\nname = bench\ndata_dir = %s/data\nlisten = 127.0.0.1:%d\n"
                "client = 127.0.0.1:%d\n[log]\nlevel = warn\n[storage]\ndurability = none\n"
                % (tmp, free_port(socket.SOCK_DGRAM), port))
    log = open(os.path.join(tmp, "log"), "wb")
    proc = subprocess.Popen([args.crdtd, "-c", conf], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=120)
        deadline = time.monotonic() + 15
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        p = r.pipeline(transaction=False)
        for i in range(0, args.members, 500):
            p.sadd("big", *[b"%012d" % j for j in range(i, min(i + 500, args.members))])
        p.execute()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"SMEMBERS big\r\n")
        reply = b""
        while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < 2 * args.members + 1:
            reply += s.recv(1 << 20)
        s.close()
        req = b"SMEMBERS big\r\n"
        n = args.burst // len(req)
        want = n * len(reply)

        base = rss(proc.pid)
        peak = [base]
        stop = threading.Event()
        # the pinger is a process of its own, so that this one's reading
        # does not delay it through the GIL
        pstop = multiprocessing.Event()
        rx, tx = multiprocessing.Pipe(duplex=False)

        def pinger():
            c = socket.create_connection(("127.0.0.1", port))
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out = []
            while not pstop.is_set():
                t = time.monotonic()
                c.sendall(b"PING\r\n")
                got = b""
                while not got.endswith(b"+PONG\r\n"):
                    got += c.recv(64)
                out.append((t, time.monotonic() - t))
                time.sleep(0.001)
            c.close()
            tx.send(out)

        pproc = multiprocessing.Process(target=pinger)
        pproc.start()

        def sampler():
            while not stop.is_set():
                peak[0] = max(peak[0], rss(proc.pid))
                time.sleep(0.01)

        threads = [threading.Thread(target=sampler)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.sendall(req * n)
        time.sleep(args.hold)
        t_read = time.monotonic()
        got = 0
        t0 = time.monotonic()
        slow.settimeout(120)
        while got < want:
            chunk = slow.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        read_s = time.monotonic() - t0
        time.sleep(0.2)
        stop.set()
        pstop.set()
        samples = rx.recv()
        pproc.join()
        for t in threads:
            t.join()
        slow.close()

        def summary(rtts):
            rtts = sorted(rtts)
            if not rtts:
                return "no PINGs"
            return "%d PINGs, max %.1f ms, p99 %.2f ms" % (
                len(rtts), rtts[-1] * 1000, rtts[int(len(rtts) * 0.99)] * 1000)
        hold = [d for t, d in samples if t < t_read]
        reading = [d for t, d in samples if t >= t_read]
        print("members %d: %d replies of %d bytes (%.0f MB); RSS %.1f -> peak %.1f MiB; "
              "other client while the slow one does not read: %s; while it reads: %s; "
              "slow client read %s in %.2f s"
              % (args.members, n, len(reply), want / 1e6, base / 2**20, peak[0] / 2**20,
                 summary(hold), summary(reading),
                 "every byte" if got == want else "%d of %d bytes" % (got, want), read_s))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
