"""A listening TCP socket that hands accepted sockets straight to the forwarder.

Twisted's ``tcp.Port`` wraps every accepted socket in a transport and grows its
accept batch without bound under a flood.  The forwarder wants neither: it
moves bytes between raw sockets itself (see ``relay``), and a refused client
should cost an ``accept`` and a ``close``.  So each readable event accepts at
most ``MAX_ACCEPTS`` sockets, never more than ``room()`` allows, which keeps
``conn_limit`` exact while the others wait in the kernel's listen queue and
keeps every reactor turn short during a flood.

Descriptors are shared with the control socket and metrics (see ``fdbudget``): the
port stops accepting while the process is within the reserve or out of descriptors,
and resumes on a timer only (a closing connection does not cut the pause short), with
one log line when a pause starts and one when accepting works again.
"""

from __future__ import annotations

import _socket  # the C type: accepted sockets skip socket.socket's Python layer
import errno
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import address, error
from twisted.internet.interfaces import IListeningPort, IReadDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from netsentinel import restart
from netsentinel.fdbudget import BUDGET, FDS_PER_FORWARD, FdBudget

log = Logger()

MAX_ACCEPTS = 16            # accepts per reactor turn
NO_FILES_PAUSE = 0.5        # s between tries while the process is short of descriptors
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
IP_FREEBIND = 15            # linux/in.h; not in Python's socket module
IPV6_FREEBIND = 78          # linux/in6.h


def set_freebind(sock: _socket.socket) -> None:
    """Let ``sock`` bind an address no interface has yet (a keepalived VIP on the backup)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)


def open_socket(kind: int, host: str, port: int, freebind: bool = False,
                options: Callable[[_socket.socket], None] = lambda sock: None,
                ready: Callable[[_socket.socket], None] = lambda sock: None
                ) -> _socket.socket:
    """A bound, non-blocking socket of ``kind`` (``SOCK_STREAM``, ``SOCK_DGRAM``);
    ``CannotListenError`` when it cannot bind.  A socket passed by systemd or the daemon
    before a restart is taken instead.  ``options`` sets the kind's own options before
    the bind, ``ready`` finishes it after (a TCP socket listens)."""
    passed = restart.take(kind, host, port)
    if passed is not None:
        return passed  # type: ignore[no-any-return]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _socket.socket(family, kind | socket.SOCK_NONBLOCK)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if freebind:
            set_freebind(sock)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        options(sock)
        sock.bind((host, port))
        ready(sock)
    except OSError as e:
        sock.close()
        raise error.CannotListenError(host, port, e) from e
    return sock


def bind(host: str, port: int, backlog: int, freebind: bool = False) -> _socket.socket:
    """A listening, non-blocking TCP socket (:func:`open_socket`)."""
    return open_socket(socket.SOCK_STREAM, host, port, freebind,
                       ready=lambda sock: sock.listen(backlog))


@implementer(IListeningPort, IReadDescriptor)
class ListeningPort:
    def __init__(self, host: str, port: int, backlog: int, reactor: Any,
                 accepted: Callable[[_socket.socket, Any], None], name: str,
                 refused: Callable[[Any], None] = lambda peer: None,
                 budget: FdBudget = BUDGET,
                 room: Callable[[], int | None] = lambda: None,
                 freebind: bool = False) -> None:
        self.host = host
        self.freebind = freebind    # bind even before the address is on an interface
        self.port = port
        self.backlog = backlog
        self.reactor = reactor
        self.accepted = accepted
        self.refused = refused      # peer of a socket closed at once for want of descriptors
        self.room = room            # sockets that may be accepted now; None: no limit
        self.name = name
        self.budget = budget
        self.sock: _socket.socket | None = None
        self.reading = False
        self.paused_at: float | None = None     # short of descriptors since
        self.pauses = 0                         # tries that found no room since then
        self._resume: Any = None

    def startListening(self, options: Sequence[tuple[int, int, int]] = (),
                       sock: _socket.socket | None = None) -> None:
        """Listen, on ``sock`` when it was bound ahead (a reload binds before it changes
        anything), else on a socket bound now."""
        self.sock = sock if sock is not None else bind(self.host, self.port, self.backlog,
                                                       self.freebind)
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
        """Accept again, unless paused for descriptors: then only the timer resumes."""
        if self._resume is not None and self._resume.active():
            return
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
        keep = self.budget.reserve()
        if not self.budget.has_room(keep):
            self._pause("descriptor reserve reached")
            return
        assert self.sock is not None
        accept = self.sock._accept      # type: ignore[attr-defined]  # (fd, address), no wrapper
        family = self.sock.family
        for _ in range(batch):
            try:
                fd, peer = accept()
            except BlockingIOError:
                self._resumed()
                return
            except OSError as e:
                if e.errno in _OUT_OF_RESOURCES:
                    self._pause(e.strerror or "out of resources")
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue        # the client gave up, or a firewall said no
                log.warn("forward {name}: accept failed: {why}", name=self.name,
                         why=e.strerror)
                return
            if self.budget.is_reserved(fd, keep):
                os.close(fd)
                self.refused(peer)
                self._pause("descriptor reserve reached")
                return
            self.budget.opened(FDS_PER_FORWARD)
            self._resumed()
            sock = _socket.socket(family, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            try:
                self.accepted(sock, peer)
            except Exception:   # a fault (the daemon counts it); raised here, it closed the port
                log.failure("forward {name}: admitting a connection failed", name=self.name)
            if self.sock is None:   # the forwarder stopped while admitting
                return

    def _pause(self, why: str) -> None:
        """Let the queue wait rather than spin on a listener that cannot accept; one log
        line per pause, however many tries it takes."""
        self.stopReading()
        if self.paused_at is None:
            self.paused_at, self.pauses = self.reactor.seconds(), 0
            log.warn("forward {name}: cannot accept ({why}; {open} of {limit} descriptors "
                     "open); accepting paused, retrying every {pause}s", name=self.name,
                     why=why, open=self.budget.recount(), limit=self.budget.limit,
                     pause=NO_FILES_PAUSE)
        self.pauses += 1
        if self._resume is None or not self._resume.active():
            self._resume = self.reactor.callLater(NO_FILES_PAUSE, self._retry)

    def _retry(self) -> None:
        self._resume = None
        self.startReading()

    def _resumed(self) -> None:
        if self.paused_at is not None:
            log.info("forward {name}: accepting again after {duration}s paused ({tries} tries)",
                     name=self.name, duration=round(self.reactor.seconds() - self.paused_at, 3),
                     tries=self.pauses)
            self.paused_at = None

    def connectionLost(self, reason: Failure) -> None:
        """The reactor is shutting down: nothing more will be accepted."""
        self.stopListening()
