"""Forwarder benchmark: netsentinel, haproxy (tcp mode) and socat, in the same run.

Every tool forwards to the same backends on loopback (a C epoll echo server and
``iperf3 -s``) and is measured by the same clients (``bench/forward_load.c``,
built here with ``cc``; ``iperf3 -c``).  Figures are printed with their ratio
to haproxy and to socat.  Run as root on an otherwise idle machine:

    .venv/bin/python bench/forward.py [--seconds 5] [--idle 5000] [--only netsentinel,haproxy]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import control  # noqa: E402

TWISTD = str(Path(sys.executable).with_name("twistd"))
ECHO, IPERF = 21000, 21001
FRONT = {"netsentinel": 21010, "haproxy": 21020, "socat": 21030}   # +0 echo, +1 iperf, +2 blacklisted
BLOCKED = "127.0.0.2"


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def pss_kib(pid: int) -> int:
    """Proportional set size of a process and its children (socat forks per connection)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):    # a socat child just exited
            pass
    return total


class Tool:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.base = FRONT[name]
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        # the control socket and a request answered with the tool's state, if it has one
        self.control = {"netsentinel": (str(workdir / "ctl.sock"), "status"),
                        "haproxy": (str(workdir / "haproxy.sock"), "show info")}.get(name)

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def start(self) -> None:
        getattr(self, "_start_" + self.name)()
        for offset in range(3):
            wait_port(self.base + offset)

    def _start_netsentinel(self) -> None:
        config = self.workdir / "netsentinel.yaml"
        config.write_text(f"""
forward:
  echo: {{listen: "127.0.0.1:{self.base}", backend: "127.0.0.1:{ECHO}"}}
  iperf: {{listen: "127.0.0.1:{self.base + 1}", backend: "127.0.0.1:{IPERF}"}}
  guarded:
    listen: "127.0.0.1:{self.base + 2}"
    backend: "127.0.0.1:{ECHO}"
    ip_blacklist: ["{BLOCKED}"]
""")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.spawn([TWISTD, "-n", "--pidfile=", "netsentinel", "--config", str(config),
                    "--socket", str(self.workdir / "ctl.sock")], env=env, cwd=self.workdir)

    def _start_haproxy(self) -> None:
        config = self.workdir / "haproxy.cfg"
        config.write_text(f"""
global
    maxconn 9000
    stats socket {self.workdir}/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 10s
    timeout client 600s
    timeout server 600s
listen echo
    bind 127.0.0.1:{self.base}
    server b 127.0.0.1:{ECHO}
listen iperf
    bind 127.0.0.1:{self.base + 1}
    server b 127.0.0.1:{IPERF}
listen guarded
    bind 127.0.0.1:{self.base + 2}
    tcp-request connection reject if {{ src {BLOCKED} }}
    server b 127.0.0.1:{ECHO}
""")
        self.spawn(["haproxy", "-db", "-f", str(config)])

    def _start_socat(self) -> None:
        for offset, backend in ((0, ECHO), (1, IPERF)):
            self.spawn(["socat", f"TCP-LISTEN:{self.base + offset},bind=127.0.0.1,reuseaddr,"
                        "fork,backlog=1024", f"TCP:127.0.0.1:{backend}"])
        # socat's only source filter: range= admits 127.0.0.1 and closes the others
        self.spawn(["socat", f"TCP-LISTEN:{self.base + 2},bind=127.0.0.1,reuseaddr,fork,"
                    "backlog=1024,range=127.0.0.1/32", f"TCP:127.0.0.1:{ECHO}"])

    def memory(self) -> int:
        return sum(pss_kib(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=70)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def load(binary: str, *args: Any) -> list[float]:
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def iperf(port: int, seconds: float, streams: int) -> float:
    out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds),
                          "-P", str(streams), "-J"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


class ControlPinger(threading.Thread):
    """Asks the control socket every 20 ms while the load runs: is it still instant?"""

    def __init__(self, path: str, request: str) -> None:
        super().__init__(daemon=True)
        self.path, self.request = path, request
        self.done = threading.Event()
        self.rtts: list[float] = []
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.02):
            started = time.perf_counter()
            assert control(self.path, self.request)
            self.rtts.append(time.perf_counter() - started)

    def stop(self) -> float:
        """The p99 round trip in ms."""
        self.done.set()
        self.join()
        ordered = sorted(self.rtts)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def measure(tool: Tool, binary: str, seconds: float, idle: int) -> dict[str, float]:
    results: dict[str, float] = {}
    print(f"measuring {tool.name}", file=sys.stderr, flush=True)
    base = tool.base
    n = idle if tool.name != "socat" else min(idle, 500)   # socat forks per connection
    before = tool.memory()
    holder = subprocess.Popen([binary, "hold", "127.0.0.1", str(base), str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    results["idle_kib_per_conn"] = (tool.memory() - before) / n
    holder.communicate("")
    time.sleep(2.0)          # let the tool close what the holder left
    results["stream1_gbps"] = iperf(base + 1, seconds, 1)
    results["stream8_gbps"] = iperf(base + 1, seconds, 8)
    pinger = ControlPinger(*tool.control) if tool.control else None
    count, rate, p50, p99 = load(binary, "short", "127.0.0.1", base, 50, seconds, 100)
    results["short_per_s"], results["short_p99_ms"] = rate, p99 * 1000
    if pinger is not None:
        results["control_p99_ms"] = pinger.stop()
    flood = subprocess.Popen([binary, "flood", "127.0.0.1", str(base + 2), "8", str(seconds),
                              "0", BLOCKED], stdout=subprocess.PIPE, text=True)
    probe = load(binary, "probe", "127.0.0.1", base + 2, 1, seconds, 100)
    flooded = [float(x) for x in flood.communicate()[0].split()]
    results["reject_per_s"], results["admitted_p99_ms"] = flooded[1], probe[3] * 1000
    return results


LABELS: dict[str, tuple[str, Callable[[float, float], float]]] = {
    "stream1_gbps": ("1 stream, Gbit/s", lambda a, b: a / b),
    "stream8_gbps": ("8 streams, Gbit/s", lambda a, b: a / b),
    "short_per_s": ("short connections/s (50 clients)", lambda a, b: a / b),
    "short_p99_ms": ("  p99 latency, ms", lambda a, b: a / b),
    "control_p99_ms": ("  control socket p99 during that, ms", lambda a, b: a / b),
    "reject_per_s": ("rejections/s (blacklisted flood)", lambda a, b: a / b),
    "admitted_p99_ms": ("  admitted client p99 during flood, ms", lambda a, b: a / b),
    "idle_kib_per_conn": ("memory per idle connection, KiB (PSS)", lambda a, b: a / b),
}


def report(results: dict[str, dict[str, float]]) -> str:
    tools = list(results)
    lines = [f"{'figure':40} " + " ".join(f"{t:>12}" for t in tools)
             + ("   ns/haproxy   ns/socat" if "netsentinel" in results else "")]
    for key, (label, ratio) in LABELS.items():
        row = f"{label:40} " + " ".join(f"{results[t][key]:12.2f}" if key in results[t]
                                         else f"{'-':>12}" for t in tools)
        ns = results.get("netsentinel")
        for peer in ("haproxy", "socat"):
            if ns and key in ns and peer in results and results[peer].get(key):
                row += f" {ratio(ns[key], results[peer][key]):11.2f}x"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--only", default="netsentinel,haproxy,socat")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="fwbench") as tmp:
        workdir = Path(tmp)
        binary = str(workdir / "forward_load")
        subprocess.run(["cc", "-O2", "-pthread", "-o", binary,
                        str(Path(__file__).with_name("forward_load.c"))], check=True)
        backends = [subprocess.Popen([binary, "echo", str(ECHO)], start_new_session=True,
                                     stdout=subprocess.DEVNULL),
                    subprocess.Popen(["iperf3", "-s", "-p", str(IPERF)], start_new_session=True,
                                     stdout=subprocess.DEVNULL)]
        wait_port(ECHO)
        time.sleep(0.5)
        results: dict[str, dict[str, float]] = {}
        try:
            for name in args.only.split(","):
                tool_dir = workdir / name
                tool_dir.mkdir()
                tool = Tool(name, tool_dir)
                tool.start()
                try:
                    results[name] = measure(tool, binary, args.seconds, args.idle)
                finally:
                    tool.stop()
                print(name, json.dumps(results[name]), flush=True)
        finally:
            for backend in backends:
                os.killpg(backend.pid, signal.SIGTERM)
        print(report(results))


if __name__ == "__main__":
    main()
