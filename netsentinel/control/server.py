"""The control socket service: one unix socket, two protocols told apart by the first byte.

An AMP box starts with a two-byte key length whose first byte is 0, which no
typed command does; so ``netsentinel-ctl`` speaks AMP and a person with socat
types lines, on the same socket.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import Logger
from twisted.protocols import amp, basic
from twisted.python.failure import Failure
from zope.interface import implementer

from netsentinel.control.clients import (
    MAX_BOX,
    MAX_PENDING,
    Backlog,
    ClientCounters,
    Clients,
)
from netsentinel.control.commands import Call, Notify, Watch
from netsentinel.events import Event
from netsentinel.features import CommandError

log = Logger()


def render_reply(result: Any) -> str:
    """Line protocol form of a command result: text as is, data as one JSON line."""
    return result if isinstance(result, str) else json.dumps(result, sort_keys=True)


def describe_error(failure: Failure) -> str:
    if failure.check(CommandError):
        return str(failure.value)
    log.failure("control command failed", failure)
    return f"internal error: {failure.getErrorMessage()}"


class _Holds:
    """Reading from the client paused while any reason holds: its output is over the
    transport's buffer size, or too many of its requests are being worked on.  Also the
    transport's streaming producer: the transport says when its buffer fills and drains."""

    transport: Any
    clients: Clients
    paused: bool

    def _start_holds(self) -> None:
        self._holds: set[str] = set()
        self._parsing = False
        self._working = 0
        self.backlog = Backlog()
        self._released = False
        self.transport.registerProducer(self, True)

    def hold(self, why: str) -> None:
        if not self._holds:
            basic._PauseableMixin.pauseProducing(self)  # type: ignore[arg-type]
        self._holds.add(why)

    def unhold(self, why: str) -> None:
        if why in self._holds:
            self._holds.discard(why)
            if not self._holds and self.transport is not None:
                if self._parsing:
                    # inside the receiver's own loop (a request answered at once): it goes
                    # on by itself; resuming here would parse its unconsumed buffer again
                    self.paused = False
                else:
                    basic._PauseableMixin.resumeProducing(self)  # type: ignore[arg-type]

    def dataReceived(self, data: bytes) -> None:
        self._parsing = True
        try:
            super().dataReceived(data)  # type: ignore[misc]
        finally:
            self._parsing = False

    def pauseProducing(self) -> None:
        self.backlog.pause()
        self.hold("output")

    def resumeProducing(self) -> None:
        self.backlog.resume()
        self.unhold("output")

    def stopProducing(self) -> None:
        self.paused = True

    def started(self) -> None:
        self._working += 1
        if self._working >= MAX_PENDING:
            self.hold("pending")

    def finished(self, result: Any) -> Any:
        self._working -= 1
        self.unhold("pending")
        return result

    def drop(self, reason: str) -> None:
        """Disconnect now, discarding what waits for the client; counted by reason."""
        self.paused = True              # stop parsing what is already buffered
        self.stop_watching()
        self.clients.dropped(reason)
        if self.transport is not None:
            self.transport.abortConnection()

    def stop_watching(self) -> None:
        unsubscribe: Any = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            self._unsubscribe = None
            unsubscribe()

    def release_client(self) -> None:
        if not self._released:
            self._released = True
            self.clients.release()


class ControlAMP(_Holds, amp.AMP):
    def __init__(self, daemon: Any, clients: Clients | None = None) -> None:
        super().__init__()
        self.daemon = daemon
        self.clients = clients or Clients.socket(ClientCounters())
        self._unsubscribe: Any = None
        self._box_bytes = 0

    @Call.responder
    def call(self, words: list[str]) -> defer.Deferred[dict[str, Any]]:
        def failed(failure: Failure) -> None:
            raise amp.RemoteAmpError(b"COMMAND_ERROR", describe_error(failure))
        self.started()
        d = self.daemon.dispatch(list(words))
        done: defer.Deferred[dict[str, Any]] = d.addCallbacks(
            lambda reply: {"reply": reply}, failed).addBoth(self.finished)
        return done

    @Watch.responder
    def watch(self) -> dict[str, Any]:
        if self._unsubscribe is None:
            self._unsubscribe = self.daemon.bus.subscribe(
                Event, lambda e: self.callRemote(Notify, event=e.to_dict()))
        return {}

    def sendBox(self, box: amp.AmpBox) -> None:
        """A watcher whose events pile up past ``WATCH_BACKLOG`` is dropped."""
        if self._unsubscribe is None or self.transport is None:
            super().sendBox(box)
            return
        data = box.serialize()
        if not self.backlog.fits((len(data),)):
            return self.drop("slow")
        self.transport.write(data)

    def proto_init(self, string: bytes) -> str:
        self._box_bytes = 0
        return super().proto_init(string)  # type: ignore[no-any-return]

    def proto_value(self, string: bytes) -> str:
        """A box is capped as a whole: keys alone would let one grow without end."""
        self._box_bytes += len(string) + len(self._currentKey or b"") + 4
        if self._box_bytes > MAX_BOX:
            self._currentBox = None
            self.drop("box_too_large")
            return "init"
        return super().proto_value(string)  # type: ignore[no-any-return]

    def makeConnection(self, transport: Any) -> None:
        # AMP logs every connection at info; a ctl call is not worth a log line
        amp.BinaryBoxProtocol.makeConnection(self, transport)
        self._start_holds()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.stop_watching()
        self.release_client()
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None


@implementer(IHalfCloseableProtocol)
class ControlLines(_Holds, basic.LineReceiver):
    """``echo status | socat - UNIX-CONNECT:/run/netsentinel.sock``: one reply per line.

    Replies go out in request order, each after its work is done; when the
    client half-closes, the connection ends once every reply is written.
    """

    delimiter = b"\n"
    MAX_LENGTH = 4096

    def __init__(self, daemon: Any, clients: Clients | None = None) -> None:
        self.daemon = daemon
        self.clients = clients or Clients.socket(ClientCounters())
        self._pending: defer.Deferred[None] = defer.succeed(None)
        self._unsubscribe: Any = None

    def connectionMade(self) -> None:
        self._start_holds()

    def lineReceived(self, line: bytes) -> None:
        words = line.decode("utf-8", "replace").split()
        if not words:
            return
        if words == ["watch"]:
            self._unsubscribe = self._unsubscribe or self.daemon.bus.subscribe(
                Event, self._event)
            return
        self.started()
        result = self.daemon.dispatch(words).addCallbacks(
            render_reply, lambda f: "ERROR: " + describe_error(f))
        # chain so that replies keep request order even when a later one is faster
        self._pending = self._pending.addCallback(lambda _: result).addCallback(self._reply)

    def _reply(self, text: str) -> None:
        self.sendLine(text.encode())
        self.finished(None)

    def _event(self, event: Event) -> None:
        data = json.dumps(event.to_dict()).encode()
        if not self.backlog.fits((len(data) + 1,)):
            return self.drop("slow")
        self.sendLine(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.clients.dropped("line_too_long")
        self.paused = True
        self.transport.write(b"ERROR: line too long (at most %d bytes)\n" % self.MAX_LENGTH)
        self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        rest, self._buffer = self._buffer, b""
        if rest.strip():   # `printf ping | socat - UNIX-CONNECT:...`: the last line has no newline
            self.lineReceived(rest)
        if self._unsubscribe is None:
            self._pending.addCallback(lambda _: self._close())

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self._close()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.stop_watching()
        self.release_client()


@implementer(IHalfCloseableProtocol)
class _Sniffer(protocol.Protocol):
    """Hands the connection to AMP or the line protocol after the first byte."""

    def __init__(self, daemon: Any, clients: Clients) -> None:
        self.daemon = daemon
        self.clients = clients
        self.chosen: ControlAMP | ControlLines | None = None

    def dataReceived(self, data: bytes) -> None:
        if self.chosen is None:
            self.chosen = ControlAMP(self.daemon, self.clients) if data[:1] == b"\x00" \
                else ControlLines(self.daemon, self.clients)
            self.chosen.makeConnection(self.transport)
            setattr(self.transport, "protocol", self.chosen)  # noqa: B010 -- ITransport has no protocol; later events go straight to it
        self.chosen.dataReceived(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.chosen is not None:
            self.chosen.connectionLost(reason)
        else:
            self.clients.release()

    def readConnectionLost(self) -> None:
        if isinstance(self.chosen, ControlLines):
            self.chosen.readConnectionLost()
        elif self.transport is not None:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class ControlFactory(protocol.Factory):
    """At most ``control_cap`` clients, and none into the daemon's last descriptors."""

    noisy = False

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        counters = getattr(daemon, "control_clients", None) or ClientCounters()
        self.clients = Clients.socket(counters)

    def buildProtocol(self, addr: Any) -> protocol.Protocol | None:
        if not self.clients.admit():
            return None                 # Twisted closes the socket
        return _Sniffer(self.daemon, self.clients)


class ControlService(service.Service):
    """Listens on the control socket; a stale socket file from a crash is replaced."""

    def __init__(self, daemon: Any, path: str, mode: int, reactor: Any) -> None:
        self.daemon = daemon
        self.path = path
        self.mode = mode
        self.reactor = reactor
        self.port: Any = None

    def startService(self) -> None:
        super().startService()
        self.port = listen_unix(self.reactor, self.path, ControlFactory(self.daemon), self.mode)
        log.info("control socket listening on {path}", path=self.path)

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            d = defer.maybeDeferred(self.port.stopListening)
            self.port = None
            return d.addCallback(lambda _: remove_stale_socket(self.path))
        return None


def listen_unix(reactor: Any, path: str, factory: protocol.Factory, mode: int) -> Any:
    """Listen on a root-only unix socket; a stale file from a crash is replaced."""
    remove_stale_socket(path)
    old_umask = os.umask(0o177)   # no window in which the socket is world-accessible
    try:
        return reactor.listenUNIX(path, factory, mode=mode, wantPID=False)
    finally:
        os.umask(old_umask)


def remove_stale_socket(path: str, kind: int = socket.SOCK_STREAM,
                        busy: str = "another daemon is listening on {path}") -> None:
    """Unlink ``path`` unless a live process still listens (or, for a datagram socket,
    receives) on it: then refuse with ``busy``."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, kind)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise RuntimeError(busy.format(path=path))
