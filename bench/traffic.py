"""Traffic trigger under an NFLOG flood: offered rate, daemon CPU, control latency.

Run as root from the checkout: ``.venv/bin/python bench/traffic.py [--tuninetd PATH]``.
A peer namespace floods UDP at a rule ``counter log group N drop`` in the
daemon's namespace.  We measure the packets offered to the group (the rule's
counter), the listener's CPU share (from /proc), and for netsentinel the control
socket's ``ping`` round trip idle and during the flood.  With ``--tuninetd``
the same flood is offered to tuninetd, measured the same way, and ratios printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import Daemon, Lab, control, wait_for

GROUP = 31
DAEMON_IP, PEER_IP, PORT = "10.88.0.1", "10.88.0.2", 9000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

FLOODER = f"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("{DAEMON_IP}", {PORT}))
send, payload, end = s.send, b"x" * 18, time.time() + float(sys.argv[1])
while time.time() < end:
    for _ in range(1000):
        send(payload)
"""


def build_lab(lab: Lab) -> tuple[str, str]:
    d, p = lab.netns("d"), lab.netns("p")
    lab.veth(d, "dv", p, "pv")
    lab.run(d, "ip", "addr", "add", f"{DAEMON_IP}/24", "dev", "dv")
    lab.run(p, "ip", "addr", "add", f"{PEER_IP}/24", "dev", "pv")
    lab.nft(d, f"""table inet bench {{
        chain input {{
            type filter hook input priority 0;
            udp dport {PORT} counter log group {GROUP} drop
        }}
    }}""")
    return d, p


def offered(lab: Lab, ns: str) -> int:
    out = lab.run(ns, "nft", "-j", "list", "table", "inet", "bench").stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    raise RuntimeError("no counter in the bench table")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS    # utime + stime


def ping_rtts(socket_path: str, stop: Callable[[], bool], limit: int = 10_000) -> list[float]:
    rtts: list[float] = []
    while not stop() and len(rtts) < limit:
        started = time.perf_counter()
        assert control(socket_path, "ping") == "PONG"
        rtts.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    return rtts


def measure_flood(lab: Lab, d: str, p: str, pid: int, seconds: float, senders: int,
                  during: Callable[[Callable[[], bool]], Any] | None = None) -> dict[str, Any]:
    """Flood for ``seconds`` (+1 s warm-up); CPU and offered packets over the window."""
    flooders = [lab.popen(p, [sys.executable, "-c", FLOODER, str(seconds + 2)])
                for _ in range(senders)]
    time.sleep(1.0)
    count0, cpu0, t0 = offered(lab, d), cpu_seconds(pid), time.monotonic()
    deadline = t0 + seconds
    result: dict[str, Any] = {}
    if during is not None:
        result["during"] = during(lambda: time.monotonic() >= deadline)
    else:
        time.sleep(seconds)
    count1, cpu1, t1 = offered(lab, d), cpu_seconds(pid), time.monotonic()
    for flooder in flooders:
        flooder.wait(timeout=seconds + 30)
    result.update(pps=(count1 - count0) / (t1 - t0), cpu=(cpu1 - cpu0) / (t1 - t0) * 100)
    return result


def summary(rtts: list[float]) -> str:
    ordered = sorted(rtts)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"median {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, "
            f"max {ordered[-1]:.2f} ms ({len(ordered)} pings)")


def bench_netsentinel(seconds: float, senders: int) -> dict[str, Any]:
    lab = Lab()
    try:
        d, p = build_lab(lab)
        directory = Path(tempfile.mkdtemp(prefix="bench-traffic-"))
        daemon = Daemon(lab, d, directory, f"""
traffic:
  bench:
    nflog: {GROUP}
    command: /bin/true
    idle: 600
""").start()
        assert daemon.process is not None
        idle_end = time.monotonic() + 3
        idle = ping_rtts(daemon.socket, lambda: time.monotonic() >= idle_end)
        flood = measure_flood(lab, d, p, daemon.process.pid, seconds, senders,
                              lambda stop: ping_rtts(daemon.socket, stop))
        status = json.loads(daemon.ctl("trigger list"))["bench"]
        daemon.stop()
        return {**flood, "idle_rtts": idle, "flood_rtts": flood["during"], "status": status}
    finally:
        lab.close()


def bench_tuninetd(binary: str, seconds: float, senders: int) -> dict[str, Any]:
    lab = Lab()
    try:
        d, p = build_lab(lab)
        process = lab.popen(d, [binary, "-n", str(GROUP), "-c", "/bin/true", "-t", "600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _has_child_threads(process.pid), what="tuninetd running")
        return measure_flood(lab, d, p, process.pid, seconds, senders)
    finally:
        lab.close()


def _has_child_threads(pid: int) -> bool:
    return Path(f"/proc/{pid}/task").exists() and len(os.listdir(f"/proc/{pid}/task")) > 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=1, help="flooding processes")
    parser.add_argument("--tuninetd", help="path to a tuninetd binary to compare with")
    args = parser.parse_args()

    ours = bench_netsentinel(args.seconds, args.senders)
    print(f"NFLOG flood: {ours['pps']:,.0f} packets/s offered for {args.seconds:g} s "
          f"({args.senders} sender(s), {os.cpu_count()} CPUs)")
    print(f"netsentinel CPU: {ours['cpu']:.1f}% of one core "
          f"(trigger {ours['status']['state']}, {ours['status']['activations']} activation, "
          f"{ours['status']['sources'][0]['packets']:,} packets read)")
    print(f"control ping idle:  {summary(ours['idle_rtts'])}")
    print(f"control ping flood: {summary(ours['flood_rtts'])}")
    ratio = statistics.median(ours["flood_rtts"]) / statistics.median(ours["idle_rtts"])
    print(f"ping median flood/idle: {ratio:.2f}x")
    if args.tuninetd:
        peer = bench_tuninetd(args.tuninetd, args.seconds, args.senders)
        print(f"tuninetd: {peer['pps']:,.0f} packets/s offered, CPU {peer['cpu']:.1f}% "
              "of one core")
        if peer["cpu"] > 0:
            print(f"CPU netsentinel/tuninetd: {ours['cpu'] / peer['cpu']:.2f}x")


if __name__ == "__main__":
    main()
