"""Timeouts and stop timing driven by a Clock, with in-memory transports."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from netsentinel.events import EventBus
from netsentinel.forward.config import Endpoint, ServiceConfig, Timeouts
from netsentinel.forward.listener import Forwarder
from netsentinel.forward.relay import BackendLeg, ClientLeg


class TCP(StringTransport):
    """A StringTransport with the TCP calls the relay makes."""

    def __init__(self) -> None:
        super().__init__()
        self.write_closed = False
        self.aborted = False

    def setTcpKeepAlive(self, enabled: int) -> None:
        pass

    def setTcpNoDelay(self, enabled: int) -> None:
        pass

    def loseWriteConnection(self) -> None:
        self.write_closed = True

    def abortConnection(self) -> None:
        self.aborted = True


class Setup:
    def __init__(self, **timeouts: float) -> None:
        self.reactor = MemoryReactorClock()
        config = ServiceConfig("t", Endpoint("127.0.0.1", 0), Endpoint("127.0.0.1", 9),
                               timeouts=Timeouts(**timeouts))
        self.forwarder = Forwarder(config, self.reactor, EventBus())
        self.forwarder._listen = lambda: None     # type: ignore[method-assign]
        self.forwarder.startService()

    def connect(self) -> tuple[ClientLeg, BackendLeg]:
        client = self.forwarder.admit(IPv4Address("TCP", "10.0.0.1", 4000))
        assert client is not None
        client.makeConnection(TCP())
        _, _, factory, timeout, _ = self.reactor.tcpClients[-1]
        assert factory is client
        backend = client.buildProtocol(IPv4Address("TCP", "127.0.0.1", 9))
        backend.makeConnection(TCP())
        return client, backend

    def advance(self, seconds: float, step: float = 0.25) -> None:
        for _ in range(int(seconds / step)):
            self.reactor.advance(step)


def test_read_timeout_counts_only_client_data() -> None:
    setup = Setup(read=10, max_idle=0)
    client, backend = setup.connect()
    for _ in range(12):
        backend.dataReceived(b"download")
        setup.advance(1)
    assert client.transport.aborted and client.reason == "read-timeout"


def test_max_idle_counts_bytes_in_either_direction() -> None:
    setup = Setup(read=0, max_idle=5)
    client, backend = setup.connect()
    for _ in range(20):
        backend.dataReceived(b"long download, silent client")
        setup.advance(1)
    assert not client.transport.aborted
    setup.advance(6)
    assert client.transport.aborted and client.reason == "idle-timeout"


def test_zero_disables_every_timeout() -> None:
    setup = Setup(read=0, write=0, max_idle=0, fin=0)
    client, backend = setup.connect()
    client.readConnectionLost()
    backend.pauseProducing()
    setup.advance(3600, step=60)
    assert not client.transport.aborted


def test_half_closed_connection_is_bounded_by_fin_timeout() -> None:
    setup = Setup(read=0, max_idle=0, fin=30)
    client, backend = setup.connect()
    client.readConnectionLost()
    assert backend.transport.write_closed and not client.transport.write_closed
    setup.advance(20)
    backend.dataReceived(b"still answering")
    assert not client.transport.aborted
    setup.advance(11)
    assert client.transport.aborted and client.reason == "fin-timeout"


def test_output_stalled_longer_than_write_timeout_closes() -> None:
    setup = Setup(read=0, max_idle=0, write=5)
    client, backend = setup.connect()
    backend.pauseProducing()        # the client's buffer is full: backend reads pause
    assert backend.transport.producerState == "paused"
    setup.advance(3)
    backend.resumeProducing()
    setup.advance(4)
    assert not client.transport.aborted
    backend.pauseProducing()
    setup.advance(6)
    assert client.transport.aborted and client.reason == "write-timeout"


def test_both_fins_end_the_connection() -> None:
    setup = Setup()
    client, backend = setup.connect()
    client.readConnectionLost()
    backend.readConnectionLost()
    assert client.transport.disconnecting and backend.transport.disconnecting


def test_client_is_not_read_before_the_backend_is_connected() -> None:
    setup = Setup()
    client = setup.forwarder.admit(IPv4Address("TCP", "10.0.0.1", 4000))
    client.makeConnection(TCP())
    assert client.transport.producerState == "paused"
    backend = client.buildProtocol(IPv4Address("TCP", "127.0.0.1", 9))
    backend.makeConnection(TCP())
    assert client.transport.producerState == "producing"


def test_backend_connect_timeout_is_passed_to_the_dialer() -> None:
    setup = Setup(connect=2.5)
    setup.connect()
    assert setup.reactor.tcpClients[-1][3] == 2.5


def test_stop_waits_for_wait_timeout_then_closes() -> None:
    setup = Setup(wait=30)
    client, _ = setup.connect()
    stopping = setup.forwarder.stopService()
    setup.reactor.advance(29)
    assert not client.transport.aborted and not stopping.called
    setup.reactor.advance(1)
    assert client.transport.aborted and client.reason == "stopped"
    client.connectionLost(None)
    backend = client.peer
    assert backend is not None
    backend.connectionLost(None)
    setup.reactor.advance(0)
    assert stopping.called and setup.forwarder.state == "stopped"


@pytest.mark.parametrize("change", [{"read": 5.0}, {"max_idle": 1.0}])
def test_reconfigure_applies_new_timeouts_to_open_connections(change: Any) -> None:
    setup = Setup(read=0, max_idle=0)
    client, _ = setup.connect()
    config = setup.forwarder.config

    setup.forwarder.reconfigure(attrs.evolve(config, timeouts=attrs.evolve(
        config.timeouts, **change)))
    assert not client.transport.aborted
    setup.advance(6)
    assert client.transport.aborted
