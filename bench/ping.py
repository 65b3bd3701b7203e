"""1,000 ping targets every second: the checks engine next to fping, in the same run.

The targets are addresses on a veth in a peer namespace (reached through one
gateway, so the neighbour table holds one entry).  The daemon runs 1,000 ping
instances (interval 1 s, one packet, 1 s wait, ``log: false`` unless --log); fping pings the same targets at
the same period for the same time.  Prints the CPU share of one core (user and
system) of the daemon and of fping,
the RTT medians (of the per-target averages) and the loss of both.
Run as root:  .venv/bin/python bench/ping.py [--targets 1000] [--seconds 30] [--log]
[--profile out.svg|out.txt] (py-spy flame graph, or raw stacks for a .txt name)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import Daemon, Lab


def targets(n: int) -> list[str]:
    return [f"10.77.{i // 250}.{i % 250 + 1}" for i in range(n)]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def children_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of the children reaped so far (fping)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def config(addresses: list[str], seconds: int, log: bool) -> str:
    lines = ["checks:", "  ping:"]
    for i, address in enumerate(addresses):
        lines.append(f"    t{i:04d}: {{target: {address}, interval: 1, count: 1, wait: 1, "
                     f"window: {seconds}, log: {'true' if log else 'false'}}}")
    return "\n".join(lines) + "\n"


def fping_summary(text: str) -> tuple[list[float], int, int]:
    """Per-target average RTTs (ms), packets sent and received from ``fping -c -q``."""
    averages, sent, received = [], 0, 0
    for line in text.splitlines():
        m = re.search(r"xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = [\d.]+/([\d.]+)/)?",
                      line)
        if m:
            sent += int(m.group(1))
            received += int(m.group(2))
            if m.group(3):
                averages.append(float(m.group(3)))
    return averages, sent, received


def profile(pid: int, output: str, seconds: int) -> subprocess.Popen[bytes]:
    """py-spy (``pip install py-spy``) sampling the daemon while fping runs."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "-r", "200", "-d", str(seconds),
                             "-o", output, "-f", "raw" if output.endswith(".txt") else "flamegraph",
                             "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--log", action="store_true", help="log every result (ping log: true)")
    parser.add_argument("--profile", metavar="SVG",
                        help="also sample the daemon with py-spy into this flame graph")
    args = parser.parse_args()
    addresses = targets(args.targets)
    lab = Lab()
    try:
        router = lab.routed_targets(addresses)
        with tempfile.TemporaryDirectory() as directory:
            daemon = Daemon(lab, router, Path(directory), config(addresses, args.seconds, args.log))
            daemon.start()
            assert daemon.process is not None
            pid = daemon.process.pid
            time.sleep(3)       # let start-up and the first rounds pass
            listing = Path(directory) / "targets"
            listing.write_text("\n".join(addresses) + "\n")
            fping = lab.popen(router, ["fping", "-q", "-c", str(args.seconds), "-p", "1000", "-i", "0.5",
                                       "-t", "1000", "-f", str(listing)],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
            cpu0, fcpu0, t0 = cpu_seconds(pid), children_seconds(), time.monotonic()
            spy = profile(pid, args.profile, args.seconds) if args.profile else None
            _, err = fping.communicate(timeout=args.seconds + 60)
            cpu1, fcpu1, t1 = cpu_seconds(pid), children_seconds(), time.monotonic()
            status = daemon.status()["checks"]["ping"]
            daemon.stop()
            if spy is not None:
                spy.wait()
        windows = [s["window"] for s in status.values() if s["window"]]
        ours = [w["avg_rtt"] for w in windows if w["received"]]
        sent = sum(w["sent"] for w in windows)
        received = sum(w["received"] for w in windows)
        theirs, fsent, freceived = fping_summary(err.decode())
        user, system = ((b - a) / (t1 - t0) for a, b in zip(cpu0, cpu1, strict=True))
        share = user + system
        fuser, fsystem = ((b - a) / (t1 - t0) for a, b in zip(fcpu0, fcpu1, strict=True))
        print(f"targets {args.targets}, {args.seconds}s at 1/s each, measured over "
              f"{t1 - t0:.1f}s, every result logged: {args.log}")
        print(f"netsentinel: CPU {share * 100:.1f}% of one core (user {user * 100:.1f}%, "
              f"system {system * 100:.1f}%), RTT median "
              f"{statistics.median(ours):.3f} ms, loss {1 - received / sent:.4f} "
              f"({sent - received}/{sent})")
        print(f"fping:       CPU {(fuser + fsystem) * 100:.1f}% of one core (user "
              f"{fuser * 100:.1f}%, system {fsystem * 100:.1f}%), RTT median "
              f"{statistics.median(theirs):.3f} ms, loss "
              f"{1 - freceived / fsent:.4f} ({fsent - freceived}/{fsent})")
        print(f"ratio RTT median netsentinel/fping: "
              f"{statistics.median(ours) / statistics.median(theirs):.2f}")
        print(f"ratio CPU netsentinel/fping: {share / (fuser + fsystem):.2f}")
        print(json.dumps({"cpu_share": round(share, 4), "cpu_user": round(user, 4),
                          "cpu_system": round(system, 4),
                          "fping_cpu_share": round(fuser + fsystem, 4), "rtt_median_ms": statistics.median(ours),
                          "loss": 1 - received / sent, "fping_rtt_median_ms":
                          statistics.median(theirs), "fping_loss": 1 - freceived / fsent}))
    finally:
        lab.close()


if __name__ == "__main__":
    main()
