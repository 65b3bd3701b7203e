"""Every control client's buffers are bounded: real daemon, real unix and TCP sockets.

A client that pipelines requests and never reads is paused, a watcher that never reads
is dropped and counted, an AMP box or a line past its bound closes the connection, and
an HTTP client that sends its headers a byte at a time is cut off.
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentinel.control.clients import HEADER_TIMEOUT, MAX_BOX
from tests.forward.test_daemon import inside, rss_kib
from tests.lab import Daemon, Lab, samples

FRONT, METRICS = 19301, 19302
CONFIG = f"""
control:
  metrics: "127.0.0.1:{METRICS}"
forward:
  refused:
    listen: "127.0.0.1:{FRONT}"
    backend: "127.0.0.1:9"
"""


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(lab, lab.netns("cl"), tmp_path, CONFIG).start()
    yield running
    running.stop()


def unix(daemon: Daemon) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(daemon.socket)
    return s


def send_while_accepted(s: socket.socket, data: bytes, seconds: float = 5.0) -> int:
    """Write ``data`` as far as the kernel takes it: stops when the daemon stops reading
    (the send buffer stays full), when it closes, or after ``seconds``."""
    s.setblocking(False)
    sent, stalled_since = 0, None
    deadline = time.monotonic() + seconds
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += s.send(data[sent:sent + 65536])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
    return sent


def dropped(daemon: Daemon, listener: str, reason: str) -> int:
    return daemon.status()["control"]["dropped"][listener][reason]  # type: ignore[no-any-return]


def closed_by_daemon(s: socket.socket, seconds: float = 15.0) -> bool:
    """Read (and discard) until EOF or reset; False if the daemon keeps it open."""
    s.setblocking(True)
    s.settimeout(seconds)
    try:
        while s.recv(1 << 20):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return False
    return True


def test_pipelined_status_without_reading_keeps_the_daemon_small(daemon: Daemon) -> None:
    assert daemon.process is not None
    before = rss_kib(daemon.process.pid)
    greedy = unix(daemon)
    try:
        sent = send_while_accepted(greedy, b"status\n" * 300_000)
        assert sent < 300_000 * 7          # the daemon stopped reading it
        assert daemon.ctl("ping") == "PONG"        # and answers everyone else
        assert json.loads(daemon.ctl("status"))["ready"] is True
        grown = rss_kib(daemon.process.pid) - before
        print(f"RSS grew {grown} KiB after {sent} bytes of status requests")
        assert grown < 64 * 1024, f"grew {grown} KiB"     # was 1.3 GB
    finally:
        greedy.close()
    assert daemon.ctl("ping") == "PONG"


def test_pipelined_amp_calls_without_reading_keep_the_daemon_small(daemon: Daemon) -> None:
    """``netsentinel-ctl``'s protocol: Call boxes for ``status``, none of the answers read."""
    assert daemon.process is not None
    before = rss_kib(daemon.process.pid)
    words = amp_pair(b"", b"status")[2:]      # ListOf(Unicode): 2-byte length, bytes
    box = b"".join([amp_pair(b"_command", b"Call"), amp_pair(b"_ask", b"1"),
                    amp_pair(b"words", words)]) + b"\x00\x00"
    greedy = unix(daemon)
    try:
        greedy.sendall(box)
        greedy.settimeout(10)
        assert b"_answer" in greedy.recv(1 << 16)     # a well-formed call, answered
        sent = send_while_accepted(greedy, box * 100_000)
        assert sent < len(box) * 100_000
        assert not _eof(greedy)                       # paused, not closed
        assert daemon.ctl("ping") == "PONG"
        grown = rss_kib(daemon.process.pid) - before
        assert grown < 64 * 1024, f"grew {grown} KiB"
    finally:
        greedy.close()


def test_pipelined_status_is_answered_in_full_once_read(daemon: Daemon) -> None:
    """Pausing loses nothing: every request gets its reply when the client reads."""
    s = unix(daemon)
    with s:
        s.sendall(b"ping\n" * 20_000)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        got = b""
        while chunk := s.recv(1 << 16):
            got += chunk
    assert got == b"PONG\n" * 20_000


@pytest.mark.parametrize("protocol", ["lines", "amp"])
def test_watcher_that_never_reads_is_dropped_and_counted(daemon: Daemon, protocol: str) -> None:
    watcher = unix(daemon)
    try:
        ns = daemon.ns
        if protocol == "lines":
            watcher.sendall(b"watch\n")
        else:           # netsentinel-ctl watch: a Watch box, its answer, then Notify boxes
            watcher.sendall(amp_pair(b"_command", b"Watch") + amp_pair(b"_ask", b"1")
                            + b"\x00\x00")
            watcher.settimeout(10)
            assert b"_answer" in watcher.recv(4096)
        knock(ns)
        watcher.settimeout(10)
        assert b"event" in watcher.recv(4096)          # subscribed; it reads no more
        flood = 0
        deadline = time.monotonic() + 60
        while not dropped(daemon, "socket", "slow") and time.monotonic() < deadline:
            for _ in range(200):       # each: opened, backend failed, closed
                knock(ns)
                flood += 1
        assert dropped(daemon, "socket", "slow") == 1, flood
        assert flood > 200                  # it took a backlog, not one late read
        assert closed_by_daemon(watcher)
    finally:
        watcher.close()
    text = daemon.ctl("metrics")
    assert samples(text)[
        'netsentinel_control_clients_dropped_total{listener="socket",reason="slow"}'] == 1
    assert daemon.ctl("ping") == "PONG"


def knock(ns: str) -> None:
    """One forwarded connection: three events (opened, backend failed, closed)."""
    with inside(ns):
        c = socket.create_connection(("127.0.0.1", FRONT), timeout=5)
    c.close()


def amp_pair(key: bytes, value: bytes) -> bytes:
    return struct.pack("!H", len(key)) + key + struct.pack("!H", len(value)) + value


def test_unterminated_amp_box_is_closed_at_its_bound(daemon: Daemon) -> None:
    s = unix(daemon)
    try:
        value = b"v" * 60_000
        stream = b"".join(amp_pair(b"k%d" % i, value) for i in range(4 * MAX_BOX // 60_000))
        send_while_accepted(s, stream, seconds=10)
        assert closed_by_daemon(s)
    finally:
        s.close()
    assert dropped(daemon, "socket", "box_too_large") == 1
    assert daemon.ctl("ping") == "PONG"


def test_line_past_its_bound_is_refused_with_an_error(daemon: Daemon) -> None:
    s = unix(daemon)
    try:
        send_while_accepted(s, b"x" * 100_000, seconds=5)
        s.settimeout(10)
        reply = s.recv(4096)
        assert reply.startswith(b"ERROR: line too long")
        assert closed_by_daemon(s)
    finally:
        s.close()
    assert dropped(daemon, "socket", "line_too_long") == 1


def http_client(daemon: Daemon) -> socket.socket:
    with inside(daemon.ns):
        return socket.create_connection(("127.0.0.1", METRICS), timeout=5)


def test_http_client_sending_headers_slowly_is_disconnected(daemon: Daemon) -> None:
    slow = http_client(daemon)
    try:
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT * 3:
            try:
                slow.sendall(b"X")              # a header, one byte a time
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if _eof(slow):
                closed = True
                break
            time.sleep(0.5)
        assert closed, "the daemon kept a client that never finished its headers"
    finally:
        slow.close()
    assert dropped(daemon, "http", "header_timeout") == 1
    fresh = http_client(daemon)
    with fresh:
        fresh.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert fresh.recv(64).startswith(b"HTTP/1.0 200")


def _eof(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE)
    finally:
        s.setblocking(True)
