"""A forward flood cannot take the descriptors the control socket and metrics need.

The daemon runs under ``prlimit --nofile=256:256`` in its own namespace; the backend
accepts in the kernel only (a listening socket nobody accepts from), so every
forwarded connection keeps its descriptors, as against a slow backend.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel.fdbudget import default_conn_limit, reserve
from tests.forward.test_daemon import inside
from tests.lab import Daemon, Lab, wait_for

LIMIT = 256
BACKEND, FRONT, METRICS = 19200, 19201, 19202
CONFIG = """
control:
  metrics: "127.0.0.1:{metrics}"
forward:
  slow:
    listen: "127.0.0.1:{front}"
    backend: "127.0.0.1:{backend}"
{limits}"""


@pytest.fixture
def ns(lab: Lab) -> str:
    return lab.netns("fd")


@pytest.fixture
def backend(ns: str) -> Iterator[socket.socket]:
    """Completes handshakes in the kernel and never accepts: a backend that never answers."""
    with inside(ns):
        s = socket.socket()
    s.bind(("127.0.0.1", BACKEND))
    s.listen(4096)
    yield s
    s.close()


def start(lab: Lab, ns: str, tmp_path: Path, limits: str = "") -> Daemon:
    text = CONFIG.format(metrics=METRICS, front=FRONT, backend=BACKEND, limits=limits)
    return Daemon(lab, ns, tmp_path, text,
                  wrapper=["prlimit", f"--nofile={LIMIT}:{LIMIT}"]).start()


def connect(ns: str) -> socket.socket:
    """A client that does not wait for the handshake (the listen queue may be full)."""
    with inside(ns):
        s = socket.socket()
    s.setblocking(False)
    code = s.connect_ex(("127.0.0.1", FRONT))
    assert code in (0, errno.EINPROGRESS), errno.errorcode[code]
    return s


def reset(s: socket.socket) -> None:
    """Close with a reset: a plain close is a half-close the forwarder passes on, and
    this backend never closes its side."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def metrics(ns: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", METRICS, timeout=10)
    with inside(ns):
        conn.connect()
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert b"netsentinel_forward_open_connections" in response.read()
        return response.status
    finally:
        conn.close()


def stats(daemon: Daemon) -> dict[str, object]:
    return json.loads(daemon.ctl("forward stats slow"))  # type: ignore[no-any-return]


def test_flood_leaves_control_and_metrics_answering_with_a_bounded_log(
        lab: Lab, ns: str, backend: socket.socket, tmp_path: Path) -> None:
    daemon = start(lab, ns, tmp_path, limits="    conn_limit: 1000\n")
    held = [connect(ns) for _ in range(LIMIT)]          # more than the daemon can take
    try:
        wait_for(lambda: "cannot accept" in daemon.output(), what="accepting paused")
        floods = 0
        for _ in range(1500):           # connect-and-close while paused
            connect(ns).close()
            floods += 1
        for s in held[:40]:             # closes free descriptors: they must not end the pause
            reset(s)
        answers = [daemon.ctl("ping") for _ in range(20)]
        assert answers == ["PONG"] * 20
        assert metrics(ns) == 200
        status = daemon.status()
        assert status["ready"] is True
        open_now = stats(daemon)["connections"]
        assert isinstance(open_now, int) and 0 < open_now < LIMIT // 2
    finally:
        for s in held:
            s.close()
    log = daemon.output()
    paused = log.count("cannot accept")
    assert 1 <= paused <= 20, paused                         # was one per try: thousands
    assert log.count("accepting again") >= paused - 1
    assert f"of {LIMIT} descriptors open" in log
    assert "Too many open files" not in log and "EMFILE" not in log


def test_without_conn_limit_the_default_cap_follows_the_descriptor_limit(
        lab: Lab, ns: str, backend: socket.socket, tmp_path: Path) -> None:
    daemon = start(lab, ns, tmp_path)
    cap = default_conn_limit(LIMIT)
    assert cap == (LIMIT - reserve(LIMIT)) // 4 == 48
    assert stats(daemon)["conn_limit"] == cap
    held = [connect(ns) for _ in range(cap + 20)]
    try:
        wait_for(lambda: stats(daemon)["connections"] == cap, what="the cap reached")
        assert daemon.ctl("ping") == "PONG"
        assert metrics(ns) == 200
        assert stats(daemon)["connections"] == cap        # the others wait in the queue
        reset(held.pop(0))
        wait_for(lambda: stats(daemon)["total_connections"] == cap + 1, what="one more in")
    finally:
        for s in held:
            s.close()
    assert "cannot accept" not in daemon.output()


def test_idle_clients_of_one_listener_leave_the_other_answering(
        lab: Lab, ns: str, backend: socket.socket, tmp_path: Path) -> None:
    """Idle HTTP clients past the HTTP cap, then idle control clients past theirs: each
    listener refuses its excess, and neither takes the other's descriptors."""
    daemon = start(lab, ns, tmp_path)
    idle: list[socket.socket] = []
    try:
        for _ in range(LIMIT):
            with inside(ns):
                idle.append(socket.create_connection(("127.0.0.1", METRICS), timeout=5))
        wait_for(lambda: json.loads(daemon.ctl("status"))["control"]["dropped"]["http"]
                 ["connection_cap"] > 0, what="HTTP cap reached")
        assert daemon.ctl("ping") == "PONG"
        for s in idle:
            s.close()
        idle.clear()
        wait_for(lambda: _metrics_answers(ns), what="HTTP clients gone")
        for _ in range(LIMIT):
            s = socket.socket(socket.AF_UNIX)
            s.connect(daemon.socket)
            idle.append(s)
        assert metrics(ns) == 200
    finally:
        for s in idle:
            s.close()
    wait_for(lambda: _socket_cap_counted(daemon), what="socket cap counted")
    assert "EMFILE" not in daemon.output()


def _metrics_answers(ns: str) -> bool:
    try:
        return metrics(ns) == 200
    except OSError:
        return False


def _socket_cap_counted(daemon: Daemon) -> bool:
    """Refused, too, until the daemon has seen the idle clients go."""
    try:
        return bool(daemon.status()["control"]["dropped"]["socket"]["connection_cap"] > 0)
    except OSError:
        return False
