"""Forwarder benchmark: netsentinel, haproxy (tcp mode) and socat, in the same run.

Also (``--parts``): the daemon's CPU while 50 clients flood it before and after their
kernel ban, and UDP round trips/s, bytes/s and memory per 1,000 sessions against
socat (``UDP-LISTEN ... fork``) and nginx (``stream``, ``udp``).

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
# +0 echo, +1 iperf, +2 blacklisted; "kernel" is netsentinel with mode: kernel (nft DNAT)
FRONT = {"netsentinel": 21010, "haproxy": 21020, "socat": 21030, "kernel": 21040}
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


def holders(ports: list[int]) -> dict[int, str]:
    """Which process listens on each of ``ports`` (TCP, loopback or any): port → "pid (comm)".
    Leftovers of an earlier run hold these fixed ports; say so instead of failing later."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and port in ports:         # LISTEN
                inodes[fields[9]] = port
    found: dict[int, str] = {port: "an unknown process" for port in inodes.values()}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pid = fd_dir.parent.name
                    comm = (fd_dir.parent / "comm").read_text().strip()
                    found[inodes[target[8:-1]]] = f"pid {pid} ({comm})"
        except OSError:
            continue
    return found


def check_ports_free(ports: list[int]) -> None:
    busy = holders(ports)
    if busy:
        raise SystemExit("bench/forward.py needs these ports free: " + "; ".join(
            f"{port} is held by {who}" for port, who in sorted(busy.items())))


class Tool:
    workers: str = "1"          # netsentinel's forward.workers; haproxy's nbthread follows
    priority: int = 0           # netsentinel's forward.worker_priority
    main_priority: int | None = None    # netsentinel's control.priority (its main process)
    backend_pid: int = 0        # the echo backend every tool forwards to (its CPU is measured)

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.base = FRONT[name]
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        # the control socket and a request answered with the tool's state, if it has one
        self.control = {"netsentinel": (str(workdir / "ctl.sock"), "status"),
                        "kernel": (str(workdir / "ctl.sock"), "status"),
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
        control = "" if self.main_priority is None else \
            f"control: {{priority: {self.main_priority}}}\n"
        self._daemon(control + f"""
forward:
  workers: {self.workers}
  worker_priority: {self.priority}
  echo: {{listen: "127.0.0.1:{self.base}", backend: "127.0.0.1:{ECHO}"}}
  iperf: {{listen: "127.0.0.1:{self.base + 1}", backend: "127.0.0.1:{IPERF}"}}
  guarded:
    listen: "127.0.0.1:{self.base + 2}"
    backend: "127.0.0.1:{ECHO}"
    ip_blacklist: ["{BLOCKED}"]
""")

    def _start_kernel(self) -> None:
        """netsentinel with ``mode: kernel``: its rules go to ``inet netsentinel`` of this
        host (services named bench_*), and leave with the daemon."""
        self._daemon(f"""
forward:
  bench_echo: {{mode: kernel, listen: "127.0.0.1:{self.base}", backend: "127.0.0.1:{ECHO}"}}
  bench_iperf: {{mode: kernel, listen: "127.0.0.1:{self.base + 1}",
                backend: "127.0.0.1:{IPERF}"}}
  bench_guarded:
    mode: kernel
    listen: "127.0.0.1:{self.base + 2}"
    backend: "127.0.0.1:{ECHO}"
    ip_blacklist: ["{BLOCKED}"]
""")

    def _daemon(self, text: str) -> None:
        config = self.workdir / "netsentinel.yaml"
        config.write_text(text)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.spawn([TWISTD, "-n", "--pidfile=", "netsentinel", "--config", str(config),
                    "--socket", str(self.workdir / "ctl.sock")], env=env, cwd=self.workdir)

    def _start_haproxy(self) -> None:
        config = self.workdir / "haproxy.cfg"
        config.write_text(f"""
global
    maxconn 9000
    nbthread {self.threads()}
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

    def threads(self) -> int:
        """haproxy's threads: one with one netsentinel worker, else a thread per core."""
        return 1 if self.workers == "1" else os.cpu_count() or 1

    def _start_socat(self) -> None:
        for offset, backend in ((0, ECHO), (1, IPERF)):
            self.spawn(["socat", f"TCP-LISTEN:{self.base + offset},bind=127.0.0.1,reuseaddr,"
                        "fork,backlog=1024", f"TCP:127.0.0.1:{backend}"])
        # socat's only source filter: range= admits 127.0.0.1 and closes the others
        self.spawn(["socat", f"TCP-LISTEN:{self.base + 2},bind=127.0.0.1,reuseaddr,fork,"
                    "backlog=1024,range=127.0.0.1/32", f"TCP:127.0.0.1:{ECHO}"])

    def memory(self) -> int:
        return sum(pss_kib(p.pid) for p in self.processes)

    def settled_memory(self, timeout: float = 20.0) -> int:
        """PSS once it stops moving for 2 s: a worker process still importing at start,
        or the kernel mode's first conntrack read (its thread pool, its libnftables
        context), would otherwise count as memory of the held connections."""
        last, deadline, still = self.memory(), time.monotonic() + timeout, 0
        while time.monotonic() < deadline and still < 4:
            time.sleep(0.5)
            now = self.memory()
            still = still + 1 if abs(now - last) < 64 else 0
            last = now
        return last

    def stop(self) -> None:
        stop_all(self.processes, 70)


def stop_all(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM to each process group, then SIGKILL to those still there after ``grace``."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def load(binary: str, *args: Any) -> list[float]:
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def iperf(port: int, seconds: float, streams: int) -> float:
    """iperf3's client, bounded: under heavy load its server can lose the parameter
    exchange ("unable to receive parameters from client") and the client then waits
    forever; this fails with that said instead."""
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds),
            "-P", str(streams), "-J", "--connect-timeout", "5000"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"bench: iperf3 -c through port {port} did not finish within "
                         f"{seconds + 30:g}s (its server likely lost the parameter exchange "
                         "under load); rerun on a quieter machine") from None
    if out.returncode != 0:
        raise SystemExit(f"bench: iperf3 -c through port {port} failed: "
                         f"{(out.stderr or out.stdout).strip()[:300]}")
    return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e9


TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def process_ticks(pid: int) -> int:
    """CPU (user + system, clock ticks) of ``pid``, its reaped children (socat's forks) and
    its live ones (netsentinel's workers); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # after "pid (comm)": state is field 3 of stat(5), so utime..cstime (14-17) are 11-14 here
    return sum(int(x) for x in fields[11:15]) + sum(process_ticks(int(c)) for c in children)


def machine_ticks() -> int:
    """Busy CPU of the whole machine (all but idle and iowait), clock ticks."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4]


class CpuSample:
    """CPU used so far by the tool, the echo backend, the load clients and the machine."""

    def __init__(self, tool: Tool) -> None:
        self.tool = sum(process_ticks(p.pid) for p in tool.processes) * TICK_US
        self.backend = process_ticks(Tool.backend_pid) * TICK_US
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)     # the load client, once done
        self.clients = (usage.ru_utime + usage.ru_stime) * 1e6
        self.machine = machine_ticks() * TICK_US

    def per_connection(self, before: CpuSample, count: float) -> dict[str, float]:
        """µs of CPU per relayed connection, each party, since ``before``."""
        return {f"cpu_{key}_us": (getattr(self, key) - getattr(before, key)) / count
                for key in ("tool", "backend", "clients", "machine")} if count else {}


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
    before = tool.settled_memory()
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
    cpu = CpuSample(tool)
    count, rate, p50, p99 = load(binary, "short", "127.0.0.1", base, 50, seconds, 100)
    results["short_per_s"], results["short_p99_ms"] = rate, p99 * 1000
    results.update(CpuSample(tool).per_connection(cpu, count))
    if pinger is not None:
        results["control_p99_ms"] = pinger.stop()
    if tool.name == "kernel":   # the kernel drops a blacklisted SYN: no refusal to count
        return results
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
    "cpu_tool_us": ("  CPU per connection: the tool, µs", lambda a, b: a / b),
    "cpu_backend_us": ("  ... the echo backend, µs", lambda a, b: a / b),
    "cpu_clients_us": ("  ... the 50 clients, µs", lambda a, b: a / b),
    "cpu_machine_us": ("  ... the whole machine, µs", lambda a, b: a / b),
    "reject_per_s": ("rejections/s (blacklisted flood)", lambda a, b: a / b),
    "admitted_p99_ms": ("  admitted client p99 during flood, ms", lambda a, b: a / b),
    "idle_kib_per_conn": ("memory per idle connection, KiB (PSS)", lambda a, b: a / b),
}


SHORT = {"netsentinel": "ns", "kernel": "kernel"}     # ours, in the ratio columns


def ratio_pairs(results: dict[str, Any], peers: tuple[str, ...]) -> list[tuple[str, str]]:
    """(ours, peer) for each ratio column: the relay and the kernel mode against each peer."""
    return [(ours, peer) for ours in SHORT for peer in peers
            if ours in results and peer in results]


def report(results: dict[str, dict[str, float]]) -> str:
    tools = list(results)
    pairs = ratio_pairs(results, ("haproxy", "socat"))
    lines = [f"{'figure':40} " + " ".join(f"{t:>12}" for t in tools)
             + "".join(f" {SHORT[ours] + '/' + peer:>14}" for ours, peer in pairs)]
    for key, (label, ratio) in LABELS.items():
        row = f"{label:40} " + " ".join(f"{results[t][key]:12.2f}" if key in results[t]
                                         else f"{'-':>12}" for t in tools)
        for ours, peer in pairs:
            mine, theirs = results[ours].get(key), results[peer].get(key)
            row += f" {ratio(mine, theirs):13.2f}x" if mine and theirs else f" {'-':>14}"
        lines.append(row)
    return "\n".join(lines)


# -- kernel bans: the daemon's CPU while 50 clients flood it, before and after their ban

BAN_FRONT = 21050       # +0 rate-limited without ban:, +1 with ban:


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ban_flood(binary: str, workdir: Path, seconds: float, clients: int = 50) -> dict[str, float]:
    """In a namespace of its own (the ban table is written there, not on the host)."""
    ns = f"nsbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["ip", "netns", "exec", ns, *argv], start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   **kwargs)
        processes.append(process)
        return process
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        config = workdir / "bans.yaml"
        config.write_text(f"""
forward:
  open: {{listen: "127.0.0.1:{BAN_FRONT}", backend: "127.0.0.1:9", per_ip_rate: 0.001}}
  banned:
    listen: "127.0.0.1:{BAN_FRONT + 1}"
    backend: "127.0.0.1:9"          # nothing there: an admitted flooder is closed at once
    per_ip_rate: 0.001
    ban: {{after: 3, window: 60, for: 3600, never_ban: []}}
""")
        sock = str(workdir / "bans.sock")
        daemon = spawn([TWISTD, "-n", "--pidfile=", "netsentinel", "--config", str(config),
                        "--socket", sock], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       cwd=workdir)
        deadline = time.monotonic() + 30
        while not Path(sock).exists() or '"ready": true' not in _ask(sock, "status"):
            if time.monotonic() > deadline:
                raise SystemExit("bench: the ban daemon did not get ready")
            time.sleep(0.2)
        results = {}
        for key, port in (("cpu_flood_no_ban_pct", BAN_FRONT), ("cpu_flood_banned_pct",
                                                                 BAN_FRONT + 1)):
            flooders = [spawn([binary, "flood", "127.0.0.1", str(port), "1",
                               str(seconds * 2 + 5), "0", f"127.0.1.{10 + i}"])
                        for i in range(clients)]
            if port == BAN_FRONT + 1:   # everyone banned first, then measure
                while json.loads(_ask(sock, "forward bans banned")).get("banned", {}).__len__() \
                        < clients:
                    if time.monotonic() > deadline + 60:
                        raise SystemExit("bench: the flooding clients were not all banned")
                    time.sleep(0.2)
            else:
                time.sleep(1.0)
            before, started = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(seconds)
            results[key] = 100 * (cpu_seconds(daemon.pid) - before) / (time.monotonic() - started)
            for flooder in flooders:
                os.killpg(flooder.pid, signal.SIGKILL)
                flooder.wait()
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _ask(path: str, line: str) -> str:
    try:
        return control(path, line)
    except OSError:
        return ""


# -- UDP: netsentinel vs socat (UDP-LISTEN fork) vs nginx stream (udp), same peers

UDP_ECHO = 21060
UDP_FRONT = {"netsentinel": 21061, "socat": 21062, "nginx": 21063, "kernel": 21064}
UDP_PEERS = r"""/* UDP peers for bench/forward.py: echo PORT | load HOST PORT SESSIONS SECONDS SIZE WINDOW |
   hold HOST PORT N (N sessions, "ready", then waits for stdin to close) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int peer(const char *host, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); exit(1); }
    return s;
}
int main(int argc, char **argv) {
    static char buf[65536];
    if (argc >= 3 && !strcmp(argv[1], "echo")) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        int s = socket(AF_INET, SOCK_DGRAM, 0), big = 4 << 20;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (bind(s, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
        struct mmsghdr m[64]; struct iovec v[64]; struct sockaddr_in from[64]; static char b[64][2048];
        for (;;) {
            for (int i = 0; i < 64; i++) {
                v[i].iov_base = b[i]; v[i].iov_len = sizeof b[i];
                memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
                m[i].msg_hdr.msg_iov = &v[i]; m[i].msg_hdr.msg_iovlen = 1;
                m[i].msg_hdr.msg_name = &from[i]; m[i].msg_hdr.msg_namelen = sizeof from[i];
            }
            int n = recvmmsg(s, m, 64, MSG_WAITFORONE, NULL);
            for (int i = 0; i < n; i++) v[i].iov_len = m[i].msg_len;
            if (n > 0) sendmmsg(s, m, n, 0);
        }
    }
    if (argc >= 8 && !strcmp(argv[1], "load")) {
        int n = atoi(argv[4]), size = atoi(argv[6]), window = atoi(argv[7]);
        double seconds = atof(argv[5]);
        int ep = epoll_create1(0), *socks = calloc(n, sizeof(int));
        long got = 0; memset(buf, 'x', size);
        for (int i = 0; i < n; i++) {
            socks[i] = peer(argv[2], atoi(argv[3]));
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
            epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &e);
            for (int w = 0; w < window; w++) send(socks[i], buf, size, 0);
        }
        double start = now(), refill = start + 0.1; long last = 0;
        struct epoll_event ev[64];
        while (now() - start < seconds) {
            int k = epoll_wait(ep, ev, 64, 10);
            for (int j = 0; j < k; j++) {
                int s = socks[ev[j].data.u32];
                while (recv(s, buf, sizeof buf, 0) > 0) { got++; send(s, buf, size, 0); }
            }
            if (now() > refill) {         /* lost datagrams: top the windows up */
                if (got == last) for (int i = 0; i < n; i++) for (int w = 0; w < window; w++) send(socks[i], buf, size, 0);
                last = got; refill = now() + 0.1;
            }
        }
        double elapsed = now() - start;
        printf("%.1f %.1f\n", got / elapsed, got * (double)size / elapsed);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "hold")) {
        int n = atoi(argv[4]);
        for (int i = 0; i < n; i++) { int s = peer(argv[2], atoi(argv[3])); send(s, "hold", 4, 0); }
        printf("ready\n"); fflush(stdout);
        while (read(0, buf, sizeof buf) > 0) {}
        return 0;
    }
    fprintf(stderr, "usage: echo PORT | load HOST PORT SESSIONS SECONDS SIZE WINDOW | hold HOST PORT N\n");
    return 2;
}
"""


def udp_tool(name: str, workdir: Path) -> list[subprocess.Popen[bytes]]:
    port, backend = UDP_FRONT[name], f"127.0.0.1:{UDP_ECHO}"
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
                             "start_new_session": True}
    if name in ("netsentinel", "kernel"):
        config = workdir / "udp.yaml"
        config.write_text(
            f"forward:\n  u: {{protocol: udp, listen: \"127.0.0.1:{port}\", "
            f"backend: \"{backend}\", session_idle: 120, conn_limit: 20000}}\n"
            if name == "netsentinel" else
            f"forward:\n  bench_u: {{protocol: udp, mode: kernel, "
            f"listen: \"127.0.0.1:{port}\", backend: \"{backend}\", conn_limit: 20000}}\n")
        return [subprocess.Popen([TWISTD, "-n", "--pidfile=", "netsentinel", "--config",
                                  str(config), "--socket", str(workdir / "udp.sock")],
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=workdir,
                                 **quiet)]
    if name == "socat":
        return [subprocess.Popen(["socat", f"UDP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                                  f"UDP:{backend}"], **quiet)]
    config = workdir / "nginx.conf"
    config.write_text(f"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;
events {{ worker_connections 50000; }}
stream {{ server {{ listen 127.0.0.1:{port} udp; proxy_pass {backend}; proxy_timeout 120s; }} }}
""")
    return [subprocess.Popen(["nginx", "-c", str(config), "-p", str(workdir)], **quiet)]


def udp_load(peers: str, name: str, seconds: float) -> tuple[float, float]:
    """Round trips/s and bytes/s through one tool: 16 sessions, 512 B, 8 in flight."""
    out = subprocess.run([peers, "load", "127.0.0.1", str(UDP_FRONT[name]), "16", str(seconds),
                          "512", "8"], capture_output=True, text=True, check=True,
                         timeout=seconds + 30)
    rate, volume = (float(x) for x in out.stdout.split())
    return rate, volume


def udp_memory(name: str, peers: str, processes: list[subprocess.Popen[bytes]],
               sessions: int) -> float:
    """PSS growth of the tool (with its children) per 1,000 held sessions, in KiB."""
    held = sessions if name != "socat" else min(sessions, 300)    # socat forks per session
    before = sum(pss_kib(p.pid) for p in processes)
    holder = subprocess.Popen([peers, "hold", "127.0.0.1", str(UDP_FRONT[name]), str(held)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    time.sleep(2.0)
    after = sum(pss_kib(p.pid) for p in processes)
    holder.communicate("")
    return (after - before) * 1000 / held


def udp_measure(names: list[str], peers: str, workdir: Path, seconds: float,
                sessions: int, rounds: int) -> dict[str, dict[str, float]]:
    """Every tool up at once; a warm-up load each, then ``rounds`` loads taking turns
    (so a busy moment of the machine falls on all of them), the median kept."""
    tools = {}
    for name in names:
        tool_dir = workdir / f"udp-{name}"
        tool_dir.mkdir()
        tools[name] = udp_tool(name, tool_dir)
    try:
        time.sleep(3.0)                                     # twistd takes its time
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for name in names:
            udp_load(peers, name, 1.0)                      # sessions made, caches warm
        for turn in range(rounds):
            for name in names:
                print(f"measuring udp {name}, round {turn + 1} of {rounds}", file=sys.stderr,
                      flush=True)
                rates[name].append(udp_load(peers, name, seconds))
        results = {}
        for name in names:
            rate, volume = sorted(rates[name])[len(rates[name]) // 2]
            results[name] = {"udp_round_trips_per_s": rate, "udp_mbytes_per_s": volume / 1e6,
                             "udp_kib_per_1000_sessions":
                                 udp_memory(name, peers, tools[name], sessions)}
            print("udp", name, json.dumps(results[name]),
                  "rounds", [round(r) for r, _ in rates[name]], flush=True)
        return results
    finally:
        for processes in tools.values():
            stop_all(processes, 20)


def udp_report(results: dict[str, dict[str, float]]) -> str:
    tools = list(results)
    pairs = ratio_pairs(results, ("socat", "nginx"))
    lines = [f"{'UDP figure':40} " + " ".join(f"{t:>12}" for t in tools)
             + "".join(f" {SHORT[ours] + '/' + peer:>13}" for ours, peer in pairs)]
    for key in ("udp_round_trips_per_s", "udp_mbytes_per_s", "udp_kib_per_1000_sessions"):
        row = f"{key:40} " + " ".join(f"{results[t].get(key, 0):12.1f}" for t in tools)
        for ours, peer in pairs:
            mine, theirs = results[ours].get(key), results[peer].get(key)
            row += f" {mine / theirs:12.2f}x" if mine and theirs else f" {'-':>13}"
        lines.append(row)
    return "\n".join(lines)


def udp_part(workdir: Path, seconds: float, sessions: int, only: list[str],
             rounds: int) -> str:
    source = workdir / "udp_peers.c"
    source.write_text(UDP_PEERS)
    peers = str(workdir / "udp_peers")
    subprocess.run(["cc", "-O2", "-o", peers, str(source)], check=True)
    echo = subprocess.Popen([peers, "echo", str(UDP_ECHO)], start_new_session=True)
    try:
        results = udp_measure(only, peers, workdir, seconds, sessions, rounds)
    finally:
        os.killpg(echo.pid, signal.SIGTERM)
    return udp_report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--only", default="netsentinel,haproxy,socat")
    parser.add_argument("--parts", default="tcp,bans,udp",
                        help="tcp (the figures above), bans (CPU under a banned flood), udp")
    parser.add_argument("--udp-only", default="netsentinel,socat,nginx")
    parser.add_argument("--udp-sessions", type=int, default=2000)
    parser.add_argument("--udp-rounds", type=int, default=3,
                        help="UDP loads per tool, taking turns; the median is reported")
    parser.add_argument("--workers", default="1",
                        help="netsentinel's forward.workers (N or auto); haproxy then runs "
                             "nbthread = cores")
    parser.add_argument("--worker-priority", type=int, default=0,
                        help="netsentinel's forward.worker_priority (the workers' nice value)")
    parser.add_argument("--priority", type=int, default=None,
                        help="netsentinel's control.priority (its main process's nice value)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    Tool.workers, Tool.priority = args.workers, args.worker_priority
    Tool.main_priority = args.priority
    names = args.only.split(",") if "tcp" in parts else []
    check_ports_free([ECHO, IPERF] + [FRONT[n] + i for n in names for i in range(3)])
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
        Tool.backend_pid = backends[0].pid
        wait_port(ECHO)
        time.sleep(0.5)
        results: dict[str, dict[str, float]] = {}
        try:
            for name in names:
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
        if results:
            print(report(results))
        if "bans" in parts:
            bans = ban_flood(binary, workdir, args.seconds)
            print("bans", json.dumps(bans), flush=True)
            print(f"daemon CPU, 50 clients flooding connects: {bans['cpu_flood_no_ban_pct']:.1f}% "
                  f"of a core refusing them, {bans['cpu_flood_banned_pct']:.1f}% once banned")
        if "udp" in parts:
            print(udp_part(workdir, args.seconds, args.udp_sessions, args.udp_only.split(","),
                           args.udp_rounds))


if __name__ == "__main__":
    main()
