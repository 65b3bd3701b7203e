"""One forwarded connection: the client leg, the backend leg, and the bytes between them.

Each leg is the streaming producer registered on the other leg's transport, so
a full write buffer on one side pauses reading on the other: memory stays
bounded whatever the speed mismatch.  Each side's end of data is passed on as
a half-close (``shutdown(SHUT_WR)``) and the connection ends when both sides
have finished, so data still flowing the other way is delivered in full.

The client leg is also the record the service keeps (counters, times) and the
factory that dials the backend, so a connection costs two protocol objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet import error
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

if TYPE_CHECKING:
    from netsentinel.forward.listener import Forwarder


@implementer(IHalfCloseableProtocol, IPushProducer)
class _Leg(Protocol):
    """What both legs share: producer duty for the peer, end-of-data, stall time."""

    transport: Any      # a TCP transport: ITCPTransport, producer and consumer at once
    peer: "_Leg | None" = None
    dump = False        # print_bytes
    read_done = False           # this side sent its FIN
    lost = False                # this side's socket is closed
    stalled_since: float | None = None   # the peer cannot take more of our data
    forwarder: "Forwarder"

    def pauseProducing(self) -> None:
        if self.stalled_since is None:
            self.stalled_since = self.forwarder.clock.seconds()
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.stalled_since = None
        if not self.read_done:      # resuming a finished reader would read EOF twice
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        """The peer's socket closed; :meth:`connectionLost` there decides what follows."""

    def readConnectionLost(self) -> None:
        if self.read_done:
            return
        self.read_done = True
        peer = self.peer
        if peer is None or peer.lost:
            self.transport.loseConnection()
            return
        peer.transport.loseWriteConnection()
        if peer.read_done:
            self.transport.loseConnection()
            peer.transport.loseConnection()
        else:
            self.half_closed()

    def writeConnectionLost(self) -> None:
        """Our FIN went out; the connection ends when the peer's FIN comes in."""

    def half_closed(self) -> None:
        raise NotImplementedError

    def setup_socket(self, config: Any) -> None:
        if config.keepalive:
            self.transport.setTcpKeepAlive(1)
        if config.nodelay:
            self.transport.setTcpNoDelay(1)


class ClientLeg(_Leg):
    """The accepted side; holds the connection's counters and dials the backend."""

    def __init__(self, forwarder: "Forwarder", number: int, ip: str, port: int,
                 now: float) -> None:
        self.forwarder = forwarder
        self.number = number
        self.ip = ip
        self.port = port
        self.started = now
        self.up = 0                 # client → backend bytes
        self.down = 0               # backend → client bytes
        self.seen = 0               # up + down at the last sweep
        self.seen_up = 0
        self.last_up = now          # last time the client sent data (sweep precision)
        self.last_activity = now
        self.half_closed_at: float | None = None
        self.connector: Any = None
        self.reason = "done"
        self.dump = forwarder.config.print_bytes

    # -- accepted connection

    def connectionMade(self) -> None:
        self.setup_socket(self.forwarder.config)
        self.transport.pauseProducing()     # nothing is read before the backend is there
        self.forwarder.opened(self)

    def dataReceived(self, data: bytes) -> None:
        self.up += len(data)
        if self.dump:
            self.forwarder.dump(self, "up", data)
        self.peer.transport.write(data)     # type: ignore[union-attr]

    def half_closed(self) -> None:
        if self.half_closed_at is None:
            self.half_closed_at = self.forwarder.clock.seconds()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = True
        peer = self.peer
        if self.connector is not None:
            self.connector.stopConnecting()
        elif peer is not None and not peer.lost:
            peer.transport.loseConnection()
        self._maybe_finished()

    def _maybe_finished(self) -> None:
        peer = self.peer
        if self.lost and self.connector is None and (peer is None or peer.lost):
            self.forwarder.closed(self)

    def abort(self, reason: str) -> None:
        """Close both sides now (timeouts, stop, ``reject --close``)."""
        self.reason = reason
        if self.connector is not None:
            self.connector.stopConnecting()
        for leg in (self, self.peer):
            if leg is not None and not leg.lost:
                leg.transport.abortConnection()

    # -- dialling the backend (the leg is its own client factory)

    def doStart(self) -> None:
        pass

    def doStop(self) -> None:
        pass

    def startedConnecting(self, connector: Any) -> None:
        pass

    def buildProtocol(self, addr: Any) -> "BackendLeg":
        self.connector = None
        backend = BackendLeg(self)
        self.peer = backend
        return backend

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.connector = None
        if self.lost:
            self._maybe_finished()
            return
        if not reason.check(error.UserError):       # not our own stopConnecting()
            self.reason = "backend-failed"
            self.forwarder.backend_failed(self, reason)
        self.transport.loseConnection()

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        pass

    def established(self, backend: "BackendLeg") -> None:
        """Both sides are up: tie their flow control together and start reading."""
        if self.lost:
            backend.transport.loseConnection()
            return
        header = self.forwarder.proxy_header(self)
        if header:
            backend.transport.write(header)
        backend.transport.registerProducer(self, True)
        self.transport.registerProducer(backend, True)
        self.forwarder.established(self, backend)


class BackendLeg(_Leg):
    def __init__(self, client: ClientLeg) -> None:
        self.client = client
        self.peer = client
        self.forwarder = client.forwarder
        self.dump = client.dump

    def connectionMade(self) -> None:
        self.setup_socket(self.forwarder.config)
        self.client.established(self)

    def dataReceived(self, data: bytes) -> None:
        client = self.client
        client.down += len(data)
        if self.dump:
            self.forwarder.dump(client, "down", data)
        client.transport.write(data)

    def half_closed(self) -> None:
        self.client.half_closed()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = True
        client = self.client
        if not client.lost:
            client.transport.loseConnection()
        client._maybe_finished()
