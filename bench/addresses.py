"""Address monitor under a burst: 1,000 address changes on a veth in a namespace.

Measured in the same run against the naive design netsentinel replaces (the
event replay of rust-network-mgr and many shell scripts): ``ip monitor address``
with one ``nft add element`` per event, into a set of its own.

Prints the time from the last change to the converged set, the number of nft
transactions, the daemon's CPU seconds and peak RSS, and the ratios.
Run as root:  .venv/bin/python bench/addresses.py [--changes 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import Daemon, Lab, wait_for  # noqa: E402

PEER = r"""
import subprocess, sys
for line in sys.stdin:
    parts = line.split()
    if "inet" not in parts:
        continue
    ip = parts[parts.index("inet") + 1].split("/")[0]
    verb = "delete" if parts[0] == "Deleted" else "add"
    subprocess.run(["nft", verb, "element", "inet", "peer", "wan_ips", "{ %s }" % ip])
"""


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user+system) and peak RSS in KiB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmHWM"))
    return cpu, hwm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    lab = Lab()
    try:
        ns = lab.netns("bench")
        wan, peer_end = lab.ifname("wan"), lab.ifname("p")
        lab.veth(ns, wan, None, peer_end)
        lab.nft(ns, "table inet peer {\n set wan_ips { type ipv4_addr; }\n}\n")
        directory = Path(tempfile.mkdtemp(prefix="ns-bench-"))
        daemon = Daemon(lab, ns, directory, (
            f"addresses:\n  delay: {args.delay}\n  nftables: {{table: inet filter, create: true}}\n"
            f"  interfaces:\n    {wan}: {{zone: wan}}\n")).start()
        assert daemon.process is not None
        monitor = lab.popen(ns, ["ip", "-o", "monitor", "address"], stdout=subprocess.PIPE)
        replay = lab.popen(ns, [sys.executable, "-c", PEER], stdin=monitor.stdout)
        time.sleep(0.5)
        cpu_before, rss_idle = proc_stats(daemon.process.pid)
        before = daemon.status()["addresses"]["transactions"]
        batch = "".join(f"addr add 10.20.{i // 250}.{i % 250 + 1}/16 dev {wan}\n"
                        for i in range(args.changes))
        lab.run(ns, "ip", "-batch", "-", input=batch.encode())
        last_change = time.monotonic()
        last_change_wall = time.time()

        def converged(table: str) -> float | None:
            size = len(lab.nft_set(ns, "inet", table, "wan_ips") or ())
            return time.monotonic() if size == args.changes else None
        ours = wait_for(lambda: converged("filter"), timeout=60, interval=0.005) - last_change
        theirs = wait_for(lambda: converged("peer"), timeout=600, interval=0.05) - last_change
        wait_for(lambda: not daemon.status()["addresses"]["pending"], what="quiet")
        status = daemon.status()["addresses"]
        transactions = status["transactions"] - before
        print("last sync began", round(status["last_sync"] - last_change_wall, 3), "s after the last change;",
              "syncs", status["syncs"], "netlink messages", status["netlink"]["messages"])
        cpu_after, rss = proc_stats(daemon.process.pid)
        result = {
            "changes": args.changes, "delay_s": args.delay,
            "netsentinel_converged_s": round(ours, 3),
            "replay_converged_s": round(theirs, 3),
            "speedup_vs_replay": round(theirs / ours, 1),
            "netsentinel_transactions": transactions,
            "replay_transactions": args.changes,
            "netsentinel_cpu_s": round(cpu_after - cpu_before, 3),
            "netsentinel_peak_rss_mb": round(rss / 1024, 1),
            "netsentinel_peak_rss_before_burst_mb": round(rss_idle / 1024, 1),
        }
        print(json.dumps(result, indent=2))
        ok = ours <= args.delay + 0.1 and transactions <= 2 and rss / 1024 < 60
        print("targets (converged <= delay+100ms, <= 2 transactions, RSS < 60 MB):",
              "met" if ok else "NOT met")
        replay.kill()
    finally:
        lab.close()


if __name__ == "__main__":
    main()
