"""Many sockets behind one reactor reader: an epoll of the forwarder's own.

A UDP service has a socket per session, and every datagram relayed is a readable
event.  Through the reactor each event costs a dispatch with its logging context;
here the reactor watches one descriptor (this epoll, readable while any socket in it
is) and one ``doRead`` hands every ready socket to its handler, in passes: a handler
reads one datagram, and a socket with more waiting is ready again in the next pass.
Reading until EAGAIN would end every drain in an exception, which costs Python more
than the read itself; a pass costs one ``epoll_wait`` shared by every ready socket.
A handler that raises is a fault recorded by the caller's ``failed``; the other
sockets carry on.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.interfaces import IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

MAX_EVENTS = 256        # ready sockets per pass
PASSES = 32             # passes per reactor turn...
TURN_CALLS = 1024       # ...and handler calls: with thousands of busy sessions a turn
                        # stays a few ms, and the control socket and timers get theirs


class Readable(Protocol):
    def readable(self) -> None:
        """The socket has something to read (or an error to report)."""


@implementer(IReadDescriptor)
class Poller:
    __slots__ = ("reactor", "name", "epoll", "handlers", "failed", "reading")

    def __init__(self, reactor: Any, name: str,
                 failed: Callable[[BaseException], object]) -> None:
        self.reactor = reactor
        self.name = name
        self.epoll: select.epoll | None = select.epoll()
        self.handlers: dict[int, Readable] = {}
        self.failed = failed
        self.reading = False

    def add(self, fd: int, handler: Readable) -> None:
        if self.epoll is None:
            raise RuntimeError(f"forward {self.name}: poller closed")
        self.epoll.register(fd, select.EPOLLIN)
        self.handlers[fd] = handler
        if not self.reading:
            self.reading = True
            self.reactor.addReader(self)

    def remove(self, fd: int) -> None:
        """Before the socket closes (a closed socket would leave a stale entry)."""
        if self.handlers.pop(fd, None) is not None and self.epoll is not None:
            self.epoll.unregister(fd)

    def close(self) -> None:
        if self.reading:
            self.reading = False
            self.reactor.removeReader(self)
        if self.epoll is not None:
            self.epoll.close()
            self.epoll = None
        self.handlers.clear()

    def fileno(self) -> int:
        return self.epoll.fileno() if self.epoll is not None else -1

    def logPrefix(self) -> str:
        return f"forward {self.name}"

    def doRead(self) -> None:
        if self.epoll is None:
            return
        handlers, poll = self.handlers, self.epoll.poll
        calls = 0
        for _ in range(PASSES):
            ready = poll(0, MAX_EVENTS)
            if not ready:
                return
            calls += len(ready)
            for fd, _ in ready:
                handler = handlers.get(fd)      # gone: removed by an earlier handler
                if handler is not None:
                    try:
                        handler.readable()
                    except Exception as e:
                        self.failed(e)
            if self.epoll is None or calls >= TURN_CALLS:   # closed by a handler, or
                return                                      # enough for one turn

    def connectionLost(self, reason: Failure) -> None:
        self.close()
