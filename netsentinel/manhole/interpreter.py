"""What a manhole session sees, and the plain line protocol (unix socket, ssh without a pty).

Code typed here runs in the reactor thread: the daemon waits while it runs, which
is what makes the objects safe to inspect, and why a loop typed here stops it.
"""

from __future__ import annotations

import os
import pydoc
import socket
import struct
from collections.abc import Callable
from typing import Any

from twisted.conch import manhole
from twisted.internet import protocol
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()

Namespace = dict[str, Any]
NamespaceFactory = Callable[[], Namespace]

_FIXED = (
    ("daemon", "the root service: daemon.services, daemon.status(), daemon.reload()"),
    ("reactor", "the reactor (code here runs in it: do not block or loop)"),
    ("bus", "the event bus: stop = bus.subscribe(Event, seen.append) collects events"),
    ("config", "the running configuration (frozen; a reload replaces it)"),
    ("features", "every feature service by its key; each key is also a name:"),
)


class Help:
    """``help`` lists the namespace; ``help(obj)`` shows obj's documentation.

    The builtin ``help()`` would read the daemon's stdin and block the reactor.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __call__(self, obj: Any = None) -> None:
        print(self.text if obj is None else pydoc.plain(pydoc.render_doc(obj)))


def namespace(daemon: Any) -> Namespace:
    """A fresh namespace for one session: the daemon as it is now (config after reloads)."""
    features = dict(daemon.features)
    lines = ["netsentinel manhole: Python inside the running daemon, as root."]
    lines += [f"  {name:<10} {text}" for name, text in _FIXED]
    lines += [f"    {key:<8} {type(service).__name__}" for key, service in features.items()]
    lines.append("help(obj) shows obj's documentation; a Deferred is shown when it fires.")
    return {**features, "daemon": daemon, "reactor": daemon.reactor, "bus": daemon.bus,
            "config": daemon.config, "features": features, "help": Help("\n".join(lines))}


class Interpreter(manhole.ManholeInterpreter):
    """Remembers whether anything failed, for the exit status of ``ssh HOST CODE``."""

    failed = False

    def showtraceback(self) -> None:
        self.failed = True
        super().showtraceback()

    def showsyntaxerror(self, *args: Any, **kwargs: Any) -> None:
        self.failed = True
        super().showsyntaxerror(*args, **kwargs)


class _Collector:
    def __init__(self) -> None:
        self.chunks: list[str] = []

    def addOutput(self, data: str, isAsync: bool | None = None) -> None:
        self.chunks.append(data)

    def end_line(self) -> None:
        if self.chunks and not self.chunks[-1].endswith("\n"):
            self.chunks.append("\n")


def run_source(names: Namespace, source: bytes) -> tuple[bytes, bool]:
    """Run ``source`` line by line as typed at the prompt; (output, whether anything failed)."""
    out = _Collector()
    interpreter = Interpreter(out, names, filename="<manhole>")
    more = False
    for line in source.splitlines():
        more = bool(interpreter.push(line.rstrip(b"\r")))
        out.end_line()
    if more:
        interpreter.push(b"")
        out.end_line()
    return "".join(out.chunks).encode("utf-8", "replace"), interpreter.failed


@implementer(IHalfCloseableProtocol)
class LineManhole(protocol.Protocol):
    """A prompt for ``socat READLINE UNIX-CONNECT:...``, ``nc -U`` or ``ssh`` without a pty.

    Input is lines; output is the interpreter's, then the next prompt.  When the
    client closes its side (``echo CODE | socat ...``) the session ends.  Lines
    are split here rather than by LineReceiver, which needs a full ITransport
    and the SSH session channel is not one.
    """

    MAX_LENGTH = 1 << 20
    prompts = (b">>> ", b"... ")
    transport: Any

    def __init__(self, names: Namespace) -> None:
        self.names = names
        self.more = False
        self._line_open = False     # output written that has not ended its line
        self._buffer = b""

    def connectionMade(self) -> None:
        self.interpreter = Interpreter(self, self.names, filename="<manhole>")
        self.transport.write(b"netsentinel manhole; type help\n" + self.prompts[0])

    def dataReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            self.lineReceived(line)
        if len(self._buffer) > self.MAX_LENGTH:
            self._buffer = b""
            self.transport.write(b"line too long; closing\n")
            self.transport.loseConnection()

    def lineReceived(self, line: bytes) -> None:
        self.more = bool(self.interpreter.push(line.rstrip(b"\r")))
        self._end_line()
        self.transport.write(self.prompts[self.more])

    def addOutput(self, data: str, isAsync: bool | None = None) -> None:
        """Called by the interpreter; output of a Deferred that fired later is async."""
        if isAsync:
            self.transport.write(b"\n")
        self.transport.write(data.encode("utf-8", "replace"))
        self._line_open = not data.endswith("\n")
        if isAsync:
            self._end_line()
            self.transport.write(self.prompts[self.more])

    def _end_line(self) -> None:
        if self._line_open:
            self.transport.write(b"\n")
            self._line_open = False

    def readConnectionLost(self) -> None:
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()


class UnixLineManhole(LineManhole):
    """The unix socket's session: besides the 0600 mode, only root or our own uid gets in."""

    allowed = False

    def __init__(self, names: Namespace, sessions: set[UnixLineManhole]) -> None:
        super().__init__(names)
        self.sessions = sessions

    def connectionMade(self) -> None:
        sock = self.transport.getHandle()
        pid, uid, _ = struct.unpack("3i", sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid not in (0, os.geteuid()):
            log.warn("manhole: refused uid {uid} (pid {pid}) on the unix socket", uid=uid, pid=pid)
            self.transport.write(f"manhole: uid {uid} is not allowed\n".encode())
            self.transport.loseConnection()
            return
        log.info("manhole: session opened on the unix socket by uid {uid} (pid {pid})",
                 uid=uid, pid=pid)
        self.allowed = True
        self.sessions.add(self)
        super().connectionMade()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.sessions.discard(self)

    def dataReceived(self, data: bytes) -> None:
        if self.allowed:
            super().dataReceived(data)
