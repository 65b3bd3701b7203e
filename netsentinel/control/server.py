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


class ControlAMP(amp.AMP):
    def __init__(self, daemon: Any) -> None:
        super().__init__()
        self.daemon = daemon
        self._unsubscribe: Any = None

    @Call.responder
    def call(self, words: list[str]) -> defer.Deferred[dict[str, Any]]:
        def failed(failure: Failure) -> None:
            raise amp.RemoteAmpError(b"COMMAND_ERROR", describe_error(failure))
        d = self.daemon.dispatch(list(words))
        return d.addCallbacks(lambda reply: {"reply": reply}, failed)

    @Watch.responder
    def watch(self) -> dict[str, Any]:
        if self._unsubscribe is None:
            self._unsubscribe = self.daemon.bus.subscribe(
                Event, lambda e: self.callRemote(Notify, event=e.to_dict()))
        return {}

    def makeConnection(self, transport: Any) -> None:
        # AMP logs every connection at info; a ctl call is not worth a log line
        amp.BinaryBoxProtocol.makeConnection(self, transport)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None


@implementer(IHalfCloseableProtocol)
class ControlLines(basic.LineOnlyReceiver):
    """``echo status | socat - UNIX-CONNECT:/run/netsentinel.sock``: one reply per line.

    Replies go out in request order, each after its work is done; when the
    client half-closes, the connection ends once every reply is written.
    """

    delimiter = b"\n"
    MAX_LENGTH = 4096

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self._pending: defer.Deferred[None] = defer.succeed(None)
        self._unsubscribe: Any = None

    def lineReceived(self, line: bytes) -> None:
        words = line.decode("utf-8", "replace").split()
        if not words:
            return
        if words == ["watch"]:
            self._unsubscribe = self._unsubscribe or self.daemon.bus.subscribe(
                Event, lambda e: self.sendLine(json.dumps(e.to_dict()).encode()))
            return
        result = self.daemon.dispatch(words).addCallbacks(
            render_reply, lambda f: "ERROR: " + describe_error(f))
        # chain so that replies keep request order even when a later one is faster
        self._pending = self._pending.addCallback(lambda _: result).addCallback(
            lambda text: self.sendLine(text.encode()))

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
        if self._unsubscribe is not None:
            self._unsubscribe()


@implementer(IHalfCloseableProtocol)
class _Sniffer(protocol.Protocol):
    """Hands the connection to AMP or the line protocol after the first byte."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.chosen: protocol.Protocol | None = None

    def dataReceived(self, data: bytes) -> None:
        if self.chosen is None:
            self.chosen = ControlAMP(self.daemon) if data[:1] == b"\x00" else ControlLines(self.daemon)
            self.chosen.makeConnection(self.transport)
            setattr(self.transport, "protocol", self.chosen)   # later events go straight to it
        self.chosen.dataReceived(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.chosen is not None:
            self.chosen.connectionLost(reason)

    def readConnectionLost(self) -> None:
        if isinstance(self.chosen, ControlLines):
            self.chosen.readConnectionLost()
        elif self.transport is not None:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class ControlFactory(protocol.Factory):
    noisy = False

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def buildProtocol(self, addr: Any) -> protocol.Protocol:
        return _Sniffer(self.daemon)


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


def remove_stale_socket(path: str) -> None:
    """Unlink ``path`` unless a live process still listens on it (then refuse)."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise RuntimeError(f"another daemon is listening on {path}")
