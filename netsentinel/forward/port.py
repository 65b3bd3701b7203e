"""A listening TCP socket that hands accepted sockets straight to the forwarder.

Twisted's ``tcp.Port`` wraps every accepted socket in a transport and grows its
accept batch without bound under a flood.  The forwarder wants neither: it
moves bytes between raw sockets itself (see ``relay``), and a refused client
should cost an ``accept`` and a ``close``.  So each readable event accepts at
most ``MAX_ACCEPTS`` sockets, never more than ``room()`` allows, which keeps
``conn_limit`` exact while the others wait in the kernel's listen queue and
keeps every reactor turn short during a flood.
"""

from __future__ import annotations

import _socket  # the C type: accepted sockets skip socket.socket's Python layer
import errno
import socket
from typing import Any, Callable, Sequence

from twisted.internet import address, error
from twisted.internet.interfaces import IListeningPort, IReadDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()

MAX_ACCEPTS = 16            # accepts per reactor turn
NO_FILES_PAUSE = 0.5        # s to stop accepting when the process is out of descriptors
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@implementer(IListeningPort, IReadDescriptor)
class ListeningPort:
    room: Callable[[], int | None] = staticmethod(lambda: None)  # type: ignore[assignment]

    def __init__(self, host: str, port: int, backlog: int, reactor: Any,
                 accepted: Callable[[_socket.socket, Any], None], name: str) -> None:
        self.host = host
        self.port = port
        self.backlog = backlog
        self.reactor = reactor
        self.accepted = accepted
        self.name = name
        self.sock: _socket.socket | None = None
        self.reading = False
        self._resume: Any = None

    def startListening(self, options: Sequence[tuple[int, int, int]] = ()) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = _socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and self.host == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError as e:
            sock.close()
            raise error.CannotListenError(self.host, self.port, e) from e
        self.sock = sock
        self.set_options(options)
        self.startReading()

    def set_options(self, options: Sequence[tuple[int, int, int]]) -> None:
        """Socket options that every accepted socket inherits (keepalive, nodelay)."""
        if self.sock is not None:
            for level, option, value in options:
                self.sock.setsockopt(level, option, value)

    def stopListening(self) -> None:
        self.stopReading()
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def getHost(self) -> address.IPv4Address | address.IPv6Address:
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        if self.sock.family == socket.AF_INET6:
            return address.IPv6Address("TCP", host, port)
        return address.IPv4Address("TCP", host, port)

    def startReading(self) -> None:
        if not self.reading and self.sock is not None:
            self.reading = True
            self.reactor.addReader(self)

    def stopReading(self) -> None:
        if self.reading:
            self.reading = False
            self.reactor.removeReader(self)

    # -- IReadDescriptor

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self) -> str:
        return f"forward {self.name}"

    def doRead(self) -> None:
        room = self.room()
        batch = MAX_ACCEPTS if room is None else min(room, MAX_ACCEPTS)
        if batch <= 0:
            self.stopReading()
            return
        assert self.sock is not None
        accept = self.sock._accept      # type: ignore[attr-defined]  # (fd, address), no wrapper
        family = self.sock.family
        for _ in range(batch):
            try:
                fd, peer = accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in _OUT_OF_RESOURCES:
                    self._out_of_resources(e)
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue        # the client gave up, or a firewall said no
                log.warn("forward {name}: accept failed: {why}", name=self.name,
                         why=e.strerror)
                return
            sock = _socket.socket(family, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            try:
                self.accepted(sock, peer)
            except Exception:   # a fault (the daemon counts it); raised here, it closed the port
                log.failure("forward {name}: admitting a connection failed", name=self.name)
            if self.sock is None:   # the forwarder stopped while admitting
                return

    def _out_of_resources(self, e: OSError) -> None:
        """Let the queue wait rather than spin on a listener that cannot accept."""
        log.warn("forward {name}: cannot accept ({why}); pausing {pause}s", name=self.name,
                 why=e.strerror, pause=NO_FILES_PAUSE)
        self.stopReading()
        self._resume = self.reactor.callLater(NO_FILES_PAUSE, self.startReading)

    def connectionLost(self, reason: Failure) -> None:
        """The reactor is shutting down: nothing more will be accepted."""
        self.stopListening()
