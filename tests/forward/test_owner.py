"""A relayed connection driven by a stand-in owner: no forwarder, no real sockets.

The relay needs only what ``forward.owner.Owner`` lists; here a few lines provide
it, a ``Clock`` stands in for time, a ``MemoryReactor`` records the sockets'
registrations, and each "socket" is a ``StringTransport`` that records what the
relay sent, with the bytes its peer sent waiting to be read.
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet.task import Clock, LoopingCall
from twisted.internet.testing import MemoryReactor, StringTransport

from netsentinel.forward.buffers import PipePool
from netsentinel.forward.config import Timeouts
from netsentinel.forward.owner import Owner, Record
from netsentinel.forward.relay import Connection


class FakeSocket:
    """The part of a non-blocking socket the relay uses, over a ``StringTransport``."""

    def __init__(self, fd: int, connect_result: int = 0) -> None:
        self.fd = fd
        self.transport = StringTransport()
        self.inbox = b""                # sent by the peer, not read yet
        self.connect_result = connect_result

    def fileno(self) -> int:
        return self.fd

    def recv(self, size: int) -> bytes:
        if not self.inbox:
            raise BlockingIOError(errno.EAGAIN, "would block")
        data, self.inbox = self.inbox[:size], self.inbox[size:]
        return data

    def send(self, data: Any) -> int:
        self.transport.write(bytes(data))
        return len(data)

    def close(self) -> None:
        self.transport.loseConnection()

    def setsockopt(self, *args: Any) -> None:
        pass

    def connect_ex(self, address: Any) -> int:
        return self.connect_result

    def getpeername(self) -> Any:
        if self.connect_result:
            raise OSError(errno.ENOTCONN, "not connected")
        peer = self.transport.getPeer()
        return (peer.host, peer.port)

    def getsockname(self) -> Any:
        host = self.transport.getHost()
        return (host.host, host.port)


class StandIn:
    """An owner in a few lines: it keeps its connections and sweeps them each second."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.reactor = MemoryReactor()
        self.clock = Clock()
        self.pipes = PipePool()
        self.dial_options: list[tuple[int, int, int]] = []
        self.timeouts = timeouts
        self.connections: list[Connection] = []
        self.failures: list[str] = []
        self.closes: list[str] = []
        self.sweeper = LoopingCall(self.sweep)
        self.sweeper.clock = self.clock
        self.sweeper.start(1.0, now=False)

    def sweep(self) -> None:
        now = self.clock.seconds()
        for conn in list(self.connections):
            conn.note_activity(now)
            conn.check_timeouts(now, self.timeouts)

    def proxy_header(self, conn: Record) -> bytes:
        return b""

    def dump(self, conn: Record, direction: str, data: bytes) -> None:
        raise AssertionError("hex dumps are off")

    def backend_failed(self, conn: Record, why: str) -> None:
        self.failures.append(why)

    def closed(self, conn: Record) -> None:
        self.closes.append(conn.reason)
        self.connections = [c for c in self.connections if c is not conn]


def connection(owner: StandIn, client: FakeSocket) -> Connection:
    typed: Owner = owner            # the stand-in is an Owner, as far as mypy can tell
    conn = Connection(typed, 1, client, "192.0.2.7", 40000,  # type: ignore[arg-type]
                      owner.clock.seconds())
    owner.connections.append(conn)
    return conn


def test_bytes_flow_both_ways_through_a_stand_in_owner() -> None:
    owner = StandIn(Timeouts())
    client, backend = FakeSocket(10), FakeSocket(11)
    client.inbox = b"hello"                 # the client spoke before the backend was up
    conn = connection(owner, client)
    conn.connect(backend, "198.51.100.1", 22, owner.clock.seconds())  # type: ignore[arg-type]
    assert backend.transport.value() == b"hello" and conn.up == 5
    assert set(owner.reactor.getReaders()) == {conn.client, conn.backend}
    backend.inbox = b"welcome"
    assert conn.backend is not None
    conn.backend.doRead()
    assert client.transport.value() == b"welcome" and conn.down == 7
    assert not conn.closed and owner.closes == []


def test_an_idle_connection_is_closed_by_the_sweep_after_max_idle() -> None:
    owner = StandIn(Timeouts(read=0, write=0, max_idle=5))
    client, backend = FakeSocket(10), FakeSocket(11)
    conn = connection(owner, client)
    conn.connect(backend, "198.51.100.1", 22, owner.clock.seconds())  # type: ignore[arg-type]
    owner.clock.advance(3)
    client.inbox = b"ping"                  # activity at 3s: idle counts from the next sweep
    conn.client.doRead()
    owner.clock.advance(1)
    owner.clock.pump([1, 1, 1, 1])          # 8s: 4s idle
    assert not conn.closed and conn.last_activity == 4.0
    owner.clock.advance(1)                  # 9s: 5s idle
    assert conn.closed and conn.reason == "idle-timeout"
    assert owner.closes == ["idle-timeout"] and owner.connections == []
    assert client.transport.disconnecting and backend.transport.disconnecting
    assert owner.reactor.getReaders() == [] and owner.reactor.getWriters() == []
    assert backend.transport.value() == b"ping"


def test_a_connect_that_hangs_fails_after_the_connect_timeout() -> None:
    owner = StandIn(Timeouts(connect=2))
    client, backend = FakeSocket(10), FakeSocket(11, connect_result=errno.EINPROGRESS)
    conn = connection(owner, client)
    conn.connect(backend, "198.51.100.1", 22, owner.clock.seconds())  # type: ignore[arg-type]
    assert conn.dialing_since == 0 and owner.reactor.getWriters() == [conn.backend]
    owner.clock.advance(1)
    assert not conn.closed
    owner.clock.advance(1)
    assert owner.failures == ["connect timed out"] and owner.closes == ["backend-failed"]
    assert owner.reactor.getWriters() == [] and client.transport.disconnecting
