"""The link between the main process and a forward worker: a ``SOCK_SEQPACKET`` socket pair.

Each packet is one JSON message, and a packet may carry one descriptor (``SCM_RIGHTS``):
the admitted client socket on its way to a worker.  Sends never block: a packet the
kernel cannot take yet waits in a queue until the socket is writable, so a stuck worker
costs the main process memory, never time.  A queued descriptor stays open in the
sender until its packet is sent, then is closed there (the receiver owns its copy).
"""

from __future__ import annotations

import json
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReadWriteDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()

MAX_PACKET = 1 << 16        # a message is far smaller; ticks are cut to fit
MAX_READS = 64              # packets per readable event: the accept loop gets its turn

Message = dict[str, Any]
Received = Callable[[Message, list[int]], None]


def pair() -> tuple[socket.socket, socket.socket]:
    """(main's end, worker's end); the worker's end is inheritable, the main's not."""
    main, worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    worker.set_inheritable(True)
    return main, worker


@implementer(IReadWriteDescriptor)
class Channel:
    def __init__(self, sock: socket.socket, reactor: Any, received: Received,
                 lost: Callable[[], None], name: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.reactor = reactor
        self.received = received
        self.lost = lost
        self.name = name
        self.queue: deque[tuple[bytes, socket.socket | None]] = deque()
        self.open = True
        reactor.addReader(self)

    def send(self, message: Message, passing: socket.socket | None = None) -> None:
        """Send ``message`` (with ``passing``'s descriptor); closes ``passing`` once sent."""
        if not self.open:
            if passing is not None:
                passing.close()
            return
        self.queue.append((json.dumps(message, separators=(",", ":")).encode(), passing))
        if len(self.queue) == 1:
            self.doWrite()

    @property
    def pending(self) -> int:
        return len(self.queue)

    def doWrite(self) -> None:
        while self.queue:
            data, passing = self.queue[0]
            try:
                if passing is None:
                    self.sock.send(data)
                else:
                    socket.send_fds(self.sock, [data], [passing.fileno()])
            except BlockingIOError:
                self.reactor.addWriter(self)
                return
            except OSError:
                self.close()
                return
            self.queue.popleft()
            if passing is not None:
                passing.close()
        self.reactor.removeWriter(self)

    def doRead(self) -> None:
        for _ in range(MAX_READS):
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_PACKET, 4)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self.close()
                return
            try:
                self.received(json.loads(data), fds)
            except Exception:
                log.failure("forward {name}: handling a message failed", name=self.name)

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        for _, passing in self.queue:
            if passing is not None:
                passing.close()
        self.queue.clear()
        self.sock.close()
        self.lost()

    def fileno(self) -> int:
        return self.sock.fileno() if self.open else -1

    def logPrefix(self) -> str:
        return f"forward {self.name}"

    def connectionLost(self, reason: Failure) -> None:
        self.close()
