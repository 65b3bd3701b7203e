"""Timeouts and stop timing driven by a Clock, over real loopback sockets.

The reactor is a ``MemoryReactorClock``: the test plays its part by calling
``pump`` (readable/writable) and ``doWrite`` (connect finished) itself, so
time is the Clock's while the bytes cross real sockets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent

from netsentinel.events import EventBus
from netsentinel.forward.config import Endpoint, ServiceConfig, Timeouts
from netsentinel.forward.listener import Forwarder
from netsentinel.forward.relay import Connection
from tests.lab import wait_for


class Setup:
    def __init__(self, **timeouts: float) -> None:
        self.reactor = MemoryReactorClock()
        self.sockets: list[socket.socket] = []
        self.backends = self._own(socket.create_server(("127.0.0.1", 0)))
        config = ServiceConfig("t", Endpoint("127.0.0.1", 0),
                               Endpoint("127.0.0.1", self.backends.getsockname()[1]),
                               timeouts=Timeouts(**timeouts))
        self.forwarder = Forwarder(config, self.reactor, EventBus())
        self.forwarder._listen = lambda: None     # type: ignore[method-assign,assignment,return-value]
        self.forwarder.startService()

    def _own(self, sock: socket.socket) -> socket.socket:
        self.sockets.append(sock)
        return sock

    def accept(self) -> tuple[Connection, socket.socket]:
        """A client connects; the forwarder admits it and starts dialling."""
        listener = self._own(socket.create_server(("127.0.0.1", 0)))
        client = self._own(socket.create_connection(listener.getsockname()))
        accepted, peer = listener.accept()
        accepted.setblocking(False)
        self.forwarder.accepted(accepted, peer)
        conn = self.forwarder.connections[max(self.forwarder.connections)]
        assert isinstance(conn, Connection)     # relayed here: no workers
        return conn, client

    def connect(self) -> tuple[Connection, socket.socket, socket.socket]:
        conn, client = self.accept()
        backend = self._own(self.backends.accept()[0])
        assert conn.backend is not None
        conn.backend.doWrite()          # the reactor: the connect finished
        return conn, client, backend

    def hang_backend(self) -> socket.socket:
        """Fill the backend's accept queue: SYNs to it are dropped and connects hang.

        Returns the socket holding the queue; accepting it lets the next SYN in.
        """
        self.backends.listen(0)
        filler = self._own(socket.socket())
        filler.setblocking(False)
        filler.connect_ex(self.backends.getsockname())
        wait_for(lambda: _connected(filler), what="the filler connection")
        return filler

    def advance(self, seconds: float, step: float = 0.25) -> None:
        for _ in range(int(seconds / step)):
            self.reactor.advance(step)

    def close(self) -> None:
        for conn in list(self.forwarder.connections.values()):
            conn.close("test over")
        for sock in self.sockets:
            sock.close()


def _connected(sock: Any) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


@pytest.fixture
def make() -> Iterator[Any]:
    setups: list[Setup] = []

    def build(**timeouts: float) -> Setup:
        setups.append(Setup(**timeouts))
        return setups[-1]
    yield build
    for setup in setups:
        setup.close()


def download(conn: Connection, backend: socket.socket, data: bytes) -> None:
    backend.sendall(data)
    assert conn.to_client is not None
    conn.to_client.pump()


def stall(conn: Connection, backend: socket.socket) -> int:
    """Send from the backend until the client's socket is full; returns bytes sent."""
    assert conn.to_client is not None
    backend.setblocking(False)
    sent = 0
    while not conn.to_client.writing:
        try:
            sent += backend.send(b"x" * 65536)
        except BlockingIOError:
            pass
        conn.to_client.pump()
    return sent


def test_read_timeout_counts_only_client_data(make: Any) -> None:
    setup = make(read=10, max_idle=0)
    conn, _, backend = setup.connect()
    for _ in range(12):
        if not conn.closed:
            download(conn, backend, b"download")
            setup.advance(1)
    assert conn.closed and conn.reason == "read-timeout"
    assert conn.down == 8 * 10      # downloading all along did not keep it open


def test_max_idle_counts_bytes_in_either_direction(make: Any) -> None:
    setup = make(read=0, max_idle=5)
    conn, _, backend = setup.connect()
    for _ in range(20):
        download(conn, backend, b"long download, silent client")
        setup.advance(1)
    assert not conn.closed
    setup.advance(6)
    assert conn.closed and conn.reason == "idle-timeout"


def test_zero_disables_every_timeout(make: Any) -> None:
    setup = make(read=0, write=0, max_idle=0, fin=0)
    conn, client, backend = setup.connect()
    client.shutdown(socket.SHUT_WR)
    assert conn.to_backend is not None
    conn.to_backend.pump()
    stall(conn, backend)
    setup.advance(3600, step=60)
    assert not conn.closed


def test_half_closed_connection_is_bounded_by_fin_timeout(make: Any) -> None:
    setup = make(read=0, max_idle=0, fin=30)
    conn, client, backend = setup.connect()
    client.shutdown(socket.SHUT_WR)
    assert conn.to_backend is not None
    conn.to_backend.pump()
    assert backend.recv(10) == b""          # the client's FIN reached the backend
    assert conn.half_closed_at is not None
    setup.advance(20)
    download(conn, backend, b"still answering")
    assert client.recv(100) == b"still answering"
    assert not conn.closed
    setup.advance(11)
    assert conn.closed and conn.reason == "fin-timeout"


def test_output_stalled_longer_than_write_timeout_closes(make: Any) -> None:
    setup = make(read=0, max_idle=0, write=5)
    conn, client, backend = setup.connect()
    assert conn.to_client is not None
    sent = stall(conn, backend)
    setup.advance(3)
    client.setblocking(False)
    received = 0
    while received < sent:                  # the client catches up
        try:
            received += len(client.recv(1 << 20))
        except BlockingIOError:
            conn.to_client.pump()
    assert not conn.to_client.writing
    setup.advance(4)
    assert not conn.closed
    stall(conn, backend)
    setup.advance(6)
    assert conn.closed and conn.reason == "write-timeout"


def test_both_fins_end_the_connection(make: Any) -> None:
    setup = make()
    conn, client, backend = setup.connect()
    assert conn.to_backend is not None and conn.to_client is not None
    client.shutdown(socket.SHUT_WR)
    conn.to_backend.pump()
    assert not conn.closed
    backend.shutdown(socket.SHUT_WR)
    conn.to_client.pump()
    assert conn.closed and conn.reason == "done"
    assert not setup.forwarder.connections


def test_client_is_not_read_before_the_backend_is_connected(make: Any) -> None:
    setup = make()
    setup.hang_backend()
    conn, client = setup.accept()
    client.sendall(b"early")
    assert conn.dialing_since is not None
    assert conn.client not in setup.reactor.getReaders()
    assert conn.backend in setup.reactor.getWriters()
    setup.backends.accept()                 # room in the queue: the SYN's retry gets in
    assert conn.backend is not None
    wait_for(lambda: _connected(conn.backend.sock), what="the retried connect")
    conn.backend.doWrite()                  # the reactor: the connect finished
    backend = setup.backends.accept()[0]
    setup.sockets.append(backend)
    assert backend.recv(10) == b"early"     # read as soon as the backend was there
    assert conn.client in setup.reactor.getReaders()
    assert conn.backend not in setup.reactor.getWriters()


def test_a_backend_that_answers_at_once_needs_no_wait_for_the_reactor(make: Any) -> None:
    setup = make()
    conn, client = setup.accept()           # loopback: the handshake is done in connect()
    assert conn.dialing_since is None and conn.to_backend is not None
    assert conn.backend not in setup.reactor.getWriters()


def test_backend_connect_timeout_counts_a_failure(make: Any) -> None:
    setup = make(connect=2.5)
    setup.hang_backend()
    conn, _ = setup.accept()
    setup.advance(2)
    assert not conn.closed
    setup.advance(1)
    assert conn.closed and conn.reason == "backend-failed"
    assert setup.forwarder.counters.backend_failures == 1


def test_stop_waits_for_wait_timeout_then_closes(make: Any) -> None:
    setup = make(wait=30)
    conn, _, _ = setup.connect()
    stopping = setup.forwarder.stopService()
    setup.reactor.advance(29)
    assert not conn.closed and not stopping.called
    setup.reactor.advance(1)
    assert conn.closed and conn.reason == "stopped"
    setup.reactor.advance(0)
    assert stopping.called and setup.forwarder.state == "stopped"


@pytest.mark.parametrize("change", [{"read": 5.0}, {"max_idle": 1.0}])
def test_reconfigure_applies_new_timeouts_to_open_connections(make: Any, change: Any) -> None:
    setup = make(read=0, max_idle=0)
    conn, _, _ = setup.connect()
    config = setup.forwarder.config

    setup.forwarder.reconfigure(attrs.evolve(config, timeouts=attrs.evolve(
        config.timeouts, **change)))
    assert not conn.closed
    setup.advance(6)
    assert conn.closed


def test_a_dead_backend_is_logged_once_then_summarized(make: Any) -> None:
    setup = make()
    setup.backends.close()                  # nothing listens: every connect is refused

    def refused() -> None:
        conn, _ = setup.accept()
        if not conn.closed:                 # connect() said "in progress"
            assert conn.backend is not None
            conn.backend.doWrite()          # the reactor: the connect finished
        assert conn.reason == "backend-failed"

    with capturedLogs() as events:
        for _ in range(5):
            refused()
        setup.advance(10)
        refused()
        setup.advance(10)                   # a quiet interval: the next one is news again
        setup.advance(10)
        refused()
    lines = [formatEvent(e) for e in events if e.get("log_namespace", "").endswith("listener")]
    assert setup.forwarder.counters.backend_failures == 7
    assert [line.split(":")[0] for line in lines] == ["forward t #1", "forward t",
                                                     "forward t", "forward t #7"]
    assert lines[0].endswith("failed for 127.0.0.1: Connection refused")
    assert lines[1].endswith("failed 4 more times in the last 10.0s (Connection refused: 4)")
    assert "failed 1 more times" in lines[2]
