"""Address monitor with 20,000 addresses: does the daemon keep answering?

A veth in a namespace gets 20,000 addresses in one ``ip -batch``; the real daemon
(nft set, .vars/.sets files, an action script) follows it.  Then one address
changes every 50 ms for ``--churn`` seconds.  All along, a probe sends ``ping``
on the control socket every 10 ms and records how long each reply takes; the
same probe runs for a few seconds against the idle daemon first, so the ratio
(busy / idle) is from one run.  Also measured in the same run: the replay peer
(``ip monitor address`` → one ``nft add element`` per event, rust-network-mgr's
design) following the churn, as the lag from a change to the set showing it.

Run as root:  .venv/bin/python bench/addresses_large.py [--addresses 20000] [--churn 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.addresses import PEER, proc_stats  # noqa: E402
from tests.lab import Daemon, Lab, wait_for  # noqa: E402


def address(i: int) -> str:
    return f"10.{i // 62500 + 100}.{i // 250 % 250}.{i % 250 + 1}"


class Probe(threading.Thread):
    """``ping`` every ``interval`` seconds; latencies in ms (a refused or timed-out one: inf)."""

    def __init__(self, path: str, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.path, self.interval = path, interval
        self.latencies: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(30)
                    s.connect(self.path)
                    s.sendall(b"ping\n")
                    reply = s.recv(64)
                ok = reply.startswith(b"PONG")
            except OSError:
                ok = False
            self.latencies.append((time.monotonic() - began) * 1000 if ok else float("inf"))
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def finish(self) -> dict[str, float]:
        self.stopping.set()
        self.join()
        values = sorted(self.latencies)
        return {"pings": len(values), "median_ms": round(statistics.median(values), 2),
                "p99_ms": round(values[int(len(values) * 0.99) - 1], 2),
                "max_ms": round(values[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=20000)
    parser.add_argument("--churn", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=0.05)
    parser.add_argument("--profile", help="py-spy record the daemon during the churn into this file")
    args = parser.parse_args()
    lab = Lab()
    try:
        ns = lab.netns("big")
        wan, peer_end = lab.ifname("wan"), lab.ifname("p")
        lab.veth(ns, wan, None, peer_end)
        lab.nft(ns, "table inet peer {\n set wan_ips { type ipv4_addr; }\n}\n")
        directory = Path(tempfile.mkdtemp(prefix="ns-bench-"))
        action = directory / "action.sh"
        action.write_text("#!/bin/sh\nexit 0\n")
        action.chmod(0o755)
        daemon = Daemon(lab, ns, directory, (
            "addresses:\n  delay: 0.2\n  nftables: {table: inet filter, create: true}\n"
            f"  files: {{vars: {directory}/ns.vars, sets: {directory}/ns.sets}}\n"
            f"  action: [{action}]\n"
            f"  interfaces:\n    {wan}: {{zone: wan}}\n"))
        if os.environ.get("BENCH_PYTHONPATH"):
            daemon.env["PYTHONPATH"] = os.environ["BENCH_PYTHONPATH"]
        daemon.start()
        print("daemon log:", daemon.log)
        assert daemon.process is not None
        idle = Probe(daemon.socket)
        idle.start()
        time.sleep(3)
        idle_figures = idle.finish()

        busy = Probe(daemon.socket)
        busy.start()
        cpu_before, _ = proc_stats(daemon.process.pid)
        batch = "".join(f"addr add {address(i)}/32 dev {wan}\n" for i in range(args.addresses))
        lab.run(ns, "ip", "-batch", "-", input=batch.encode())
        began = time.monotonic()

        def size(table: str) -> int:
            return len(lab.nft_set(ns, "inet", table, "wan_ips") or ())
        wait_for(lambda: size("filter") == args.addresses, timeout=120, interval=0.05,
                 what="20,000 in the set")
        converged = time.monotonic() - began
        burst_figures = busy.finish()

        # the peer starts from the same 20,000 (it would take minutes to add them one by one)
        lab.nft(ns, "add element inet peer wan_ips {{ {} }}\n"
                .format(", ".join(address(i) for i in range(args.addresses))))
        churn = Probe(daemon.socket)
        monitor = lab.popen(ns, ["ip", "-o", "monitor", "address"], stdout=subprocess.PIPE)
        replay = lab.popen(ns, [sys.executable, "-c", PEER], stdin=monitor.stdout)
        time.sleep(0.5)
        churn.start()
        spy = None
        if args.profile:
            spy = subprocess.Popen(["py-spy", "record", "-f", "raw", "-o", args.profile,
                                    "-p", str(daemon.process.pid), "-d", str(int(args.churn))])
        lags: dict[str, list[float]] = {"filter": [], "peer": []}
        end = time.monotonic() + args.churn
        i = args.addresses
        while time.monotonic() < end:
            lab.run(ns, "ip", "addr", "add", f"{address(i)}/32", "dev", wan)
            lab.run(ns, "ip", "addr", "del", f"{address(i - args.addresses)}/32", "dev", wan)
            i += 1
            time.sleep(args.every)
        last = address(i - 1)
        changed = time.monotonic()
        for table in lags:
            wait_for(lambda table=table: last in (lab.nft_set(ns, "inet", table, "wan_ips") or ()),
                     timeout=120, interval=0.02, what=f"{table} follows")
            lags[table].append(time.monotonic() - changed)
        churn_figures = churn.finish()
        if spy is not None:
            spy.wait()
        cpu_after, rss = proc_stats(daemon.process.pid)
        status = daemon.status()["addresses"]
        result = {
            "addresses": args.addresses,
            "ping_idle": idle_figures,
            "ping_during_20k_burst": burst_figures,
            "burst_converged_s": round(converged, 2),
            "ping_during_churn": churn_figures,
            "churn_changes": (i - args.addresses) * 2,
            "last_change_to_set_s": {"netsentinel": round(lags["filter"][0], 2),
                                     "replay_peer": round(lags["peer"][0], 2)},
            "p99_ratio_churn_vs_idle": round(churn_figures["p99_ms"] / idle_figures["p99_ms"], 1),
            "syncs": status["syncs"], "transactions": status["transactions"],
            "daemon_cpu_s": round(cpu_after - cpu_before, 1),
            "daemon_peak_rss_mb": round(rss / 1024, 1),
        }
        print(json.dumps(result, indent=2))
        ok = burst_figures["max_ms"] < 100 and churn_figures["max_ms"] < 100
        print("target (no control reply slower than 100 ms while syncing 20,000 addresses):",
              "met" if ok else "NOT met")
        replay.kill()
        monitor.kill()
    finally:
        lab.close()


if __name__ == "__main__":
    main()
