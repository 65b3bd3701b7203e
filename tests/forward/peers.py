"""Real loopback peers for forwarder tests: a backend server and clients, on the real reactor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, endpoints, protocol, reactor, task
from twisted.internet.interfaces import IHalfCloseableProtocol, ITCPTransport
from twisted.internet.task import Clock
from zope.interface import implementer

from netsentinel.events import EventBus
from netsentinel.forward.config import Endpoint, ServiceConfig, Timeouts
from netsentinel.forward.listener import Forwarder


class DescriptorClock(Clock):
    """A ``Clock`` that also keeps the readers and writers registered with it: the
    reactor of unit tests whose code watches descriptors (a worker channel)."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[Any] = set()
        self.writers: set[Any] = set()

    def addReader(self, reader: Any) -> None:
        self.readers.add(reader)

    def removeReader(self, reader: Any) -> None:
        self.readers.discard(reader)

    def addWriter(self, writer: Any) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:
        self.writers.discard(writer)


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Poll without blocking the reactor; fail after ``timeout``."""
    deadline = reactor.seconds() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value!r})")
        await task.deferLater(reactor, 0.02, lambda: None)


@implementer(IHalfCloseableProtocol)
class Peer(protocol.Protocol):
    """Either end of a test connection: records bytes, EOF and close."""

    def __init__(self) -> None:
        self.data = b""
        self.eof = False
        self.closed = False
        self.done: defer.Deferred[None] = defer.Deferred()

    @property
    def tcp(self) -> ITCPTransport:
        """The transport, once connected: a TCP connection's, as on both ends here."""
        assert self.transport is not None
        return ITCPTransport(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def readConnectionLost(self) -> None:
        self.eof = True
        self.on_eof()

    def on_eof(self) -> None:
        self.tcp.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Any = None) -> None:
        self.closed = True
        self.done.callback(None)


class EchoBackend(Peer):
    """Echoes every chunk; on the client's EOF answers ``bye <n>`` and closes."""

    def connectionMade(self) -> None:
        self.factory.connections.append(self)

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if self.factory.echo:
            self.tcp.write(data)

    def on_eof(self) -> None:
        self.tcp.write(b"bye %d" % len(self.data))
        self.tcp.loseConnection()


class BackendFactory(protocol.ServerFactory):
    protocol = EchoBackend
    noisy = False

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.connections: list[EchoBackend] = []


def listen_backend(host: str = "127.0.0.1", echo: bool = True) -> tuple[Any, BackendFactory]:
    factory = BackendFactory(echo)
    port = reactor.listenTCP(0, factory, interface=host)
    return port, factory


async def connect(host: str, port: int, source: str | None = None) -> Peer:
    peer = Peer()
    kind = endpoints.TCP6ClientEndpoint if ":" in host else endpoints.TCP4ClientEndpoint
    bind = (source, 0) if source else None
    await endpoints.connectProtocol(kind(reactor, host, port, bindAddress=bind), peer)
    return peer


def start_forwarder(backend_port: int, listen: str = "127.0.0.1", backend: str = "127.0.0.1",
                    bus: EventBus | None = None, **options: Any) -> Forwarder:
    timeouts = options.pop("timeouts", Timeouts(wait=0))
    config = ServiceConfig("t", Endpoint(listen, 0), Endpoint(backend, backend_port),
                           timeouts=timeouts, **options)
    forwarder = Forwarder(config, reactor, bus or EventBus())
    forwarder.startService()
    return forwarder


def port_of(forwarder: object) -> int:
    assert isinstance(forwarder, Forwarder) and forwarder.port is not None
    return forwarder.port.getHost().port
