"""The forwarder in the real daemon, in a namespace: options, reload, control, nft, memory."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import netns

from tests.lab import Daemon, Lab, require, wait_for

BACKEND = 19000
FRONT = 19001


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Sockets created in this block belong to ``ns`` (only this thread switches)."""
    netns.pushns(ns)
    try:
        yield
    finally:
        netns.popns()


def dial(ns: str, port: int = FRONT, host: str = "127.0.0.1") -> socket.socket:
    with inside(ns):
        s = socket.create_connection((host, port), timeout=10)
    return s


def echo(s: socket.socket, data: bytes) -> bytes:
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def echo_backend(lab: Lab, ns: str, port: int = BACKEND) -> None:
    require("socat")
    lab.popen(ns, ["socat", f"TCP-LISTEN:{port},reuseaddr,fork", "EXEC:cat"])
    wait_for(lambda: _listening(ns, port), what="backend listening")


def _listening(ns: str, port: int) -> bool:
    try:
        dial(ns, port).close()
        return True
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


CONFIG = """
forward:
  web:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
    per_ip_limit: {per_ip}
    wait_timeout: 5
    blacklist_set: inet nsfw block
"""


@pytest.fixture
def ns(lab: Lab) -> str:
    return lab.netns("f")


def start(lab: Lab, ns: str, tmp_path: Path, per_ip: int = 5) -> Daemon:
    text = CONFIG.format(front=FRONT, backend=BACKEND, per_ip=per_ip)
    return Daemon(lab, ns, tmp_path, text).start()


def test_forward_option_serves_without_a_config_file(lab: Lab, ns: str, tmp_path: Path) -> None:
    echo_backend(lab, ns)
    daemon = Daemon(lab, ns, tmp_path, "",
                    extra_args=["--forward", f"127.0.0.1:{FRONT}=127.0.0.1:{BACKEND}"]).start()
    with dial(ns) as s:
        assert echo(s, b"ping") == b"ping"
    stats = json.loads(daemon.ctl(f"forward stats cli-{FRONT}"))
    assert stats["sid"] == f"cli-{FRONT}" and stats["up"] == 4


def test_reload_applies_new_limits_without_dropping_connections(lab: Lab, ns: str,
                                                               tmp_path: Path) -> None:
    echo_backend(lab, ns)
    daemon = start(lab, ns, tmp_path, per_ip=5)
    with dial(ns) as kept:
        assert echo(kept, b"before") == b"before"
        daemon.write_config(CONFIG.format(front=FRONT, backend=BACKEND, per_ip=1))
        assert daemon.ctl("reload").startswith("OK")
        assert echo(kept, b"after") == b"after"
        with dial(ns) as second:
            assert closed_by_peer(second)
    rejected = daemon.status()["forward"]["web"]["rejected"]
    assert rejected["per_ip_limit"] == 1


def test_reject_release_and_stop_through_the_control_socket(lab: Lab, ns: str,
                                                            tmp_path: Path) -> None:
    lab.nft(ns, "table inet nsfw {}")
    echo_backend(lab, ns)
    daemon = start(lab, ns, tmp_path)
    with dial(ns) as victim:
        assert echo(victim, b"x") == b"x"
        assert daemon.ctl("reject web 127.0.0.0/8 --close").startswith("OK")
        assert closed_by_peer(victim)
    assert lab.nft_set(ns, "inet", "nsfw", "block") == {"127.0.0.0/8"}
    assert daemon.ctl("release web 127.0.0.0/8").startswith("OK")
    assert lab.nft_set(ns, "inet", "nsfw", "block") == set()
    assert daemon.ctl("release web 127.0.0.0/8").startswith("ERROR")
    with dial(ns) as s:
        assert echo(s, b"y") == b"y"
    stats = json.loads(daemon.ctl("forward stats web --json"))
    assert stats["rejected"]["blacklist"] == 0 and stats["closes"]["rejected"] == 1
    assert daemon.ctl("forward stop web").startswith("OK")
    assert daemon.status()["forward"]["web"]["state"] == "stopped"
    with pytest.raises(OSError):
        dial(ns).close()


def test_slow_reader_of_a_fast_backend_keeps_memory_flat(lab: Lab, ns: str,
                                                         tmp_path: Path) -> None:
    size = 200 * 1024 * 1024
    require("socat")
    lab.popen(ns, ["socat", f"TCP-LISTEN:{BACKEND},reuseaddr,fork",
                   f"SYSTEM:head -c {size} /dev/zero"])
    wait_for(lambda: _listening(ns, BACKEND), what="source listening")
    daemon = start(lab, ns, tmp_path)
    assert daemon.process is not None
    before = rss_kib(daemon.process.pid)
    peak = before
    received = reads = 0
    with dial(ns) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        while chunk := s.recv(16384):
            received += len(chunk)
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.001)       # a reader several times slower than the source
            if reads % 256 == 0:
                peak = max(peak, rss_kib(daemon.process.pid))
    assert received == size
    assert peak - before < 30 * 1024, f"RSS grew {peak - before} KiB"


FAILING = """
forward:
  refused: {listen: "127.0.0.1:19011", backend: "127.0.0.1:19099"}
  no_route: {listen: "127.0.0.1:19012", backend: "10.99.0.1:80"}
  host_unreachable: {listen: "127.0.0.1:19013", backend: "10.98.0.2:80"}
  silent: {listen: "127.0.0.1:19014", backend: "10.98.0.2:81", connect_timeout: 1}
"""


def test_backend_failures_close_the_client_with_their_reason(lab: Lab, ns: str,
                                                            tmp_path: Path) -> None:
    """Real failures: nothing listening, no route, an ICMP host-unreachable from the
    backend's network, and a backend that drops SYNs (connect_timeout)."""
    peer = lab.netns("b")
    here, there = lab.ifname("b"), lab.ifname("bp")
    lab.veth(ns, here, peer, there)
    lab.run(ns, "ip", "addr", "add", "10.98.0.1/24", "dev", here)
    lab.run(peer, "ip", "addr", "add", "10.98.0.2/24", "dev", there)
    lab.run(ns, "ip", "route", "add", "unreachable", "10.99.0.0/16")
    lab.nft(peer, "table inet peer {\n chain input {\n type filter hook input priority 0\n"
                  " tcp dport 80 reject with icmpx type host-unreachable\n"
                  " tcp dport 81 drop\n }\n}\n")
    daemon = Daemon(lab, ns, tmp_path, FAILING).start()
    for port in (19011, 19012, 19013, 19014):
        with dial(ns, port) as s:
            s.settimeout(10)
            assert closed_by_peer(s), port
    state = daemon.status()["forward"]
    assert {name: state[name]["backend_failures"] for name in state} == {
        "refused": 1, "no_route": 1, "host_unreachable": 1, "silent": 1}
    log = daemon.output()
    for name, reason in (("refused", "Connection refused"), ("no_route", "No route to host"),
                         ("host_unreachable", "No route to host"),
                         ("silent", "connect timed out")):
        assert any(f"forward {name} #1: backend" in line and reason in line
                   for line in log.splitlines()), (name, reason)
