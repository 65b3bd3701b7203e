"""The link between the main process and a forward worker: a ``SOCK_SEQPACKET`` socket pair.

Messages are JSON.  Those sent during one reactor turn travel together: at the end of
the turn they are packed into as few packets as fit (about ``BATCH_BYTES`` each), so a
worker's reports on a burst of closing connections cost one ``sendmsg`` and one wake-up
of the main process rather than one each.  A message may carry one descriptor
(``SCM_RIGHTS``): the admitted client socket on its way to a worker.  A client waits on
that one, so it goes at once, with whatever waited before it: held to the end of an
accept batch, it waited behind the refusals of a flood (0.5 ms at the median, measured).
Sends never block: a packet the kernel cannot take yet waits in a queue until the socket
is writable, so a stuck worker costs the main process memory, never time.  A descriptor
stays open in the sender until its packet is sent, then is closed there (the receiver
owns its copy).
"""

from __future__ import annotations

import json
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.interfaces import IReadWriteDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()

MAX_PACKET = 1 << 17        # what a read takes; a packet is cut near BATCH_BYTES
BATCH_BYTES = 1 << 15       # messages per packet: until their JSON passes this
MAX_FDS = 64                # descriptors per packet (the kernel's limit is 253)
MAX_READS = 64              # packets per readable event: the accept loop gets its turn

Message = dict[str, Any]
Received = Callable[[Message, list[int]], None]
Packet = tuple[bytes, list[socket.socket]]


def pair() -> tuple[socket.socket, socket.socket]:
    """(main's end, worker's end); the worker's end is inheritable, the main's not."""
    main, worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    worker.set_inheritable(True)
    return main, worker


def pack(outbox: list[tuple[bytes, socket.socket | None]]) -> Iterator[Packet]:
    """Encoded messages → packets: a JSON array of ``[carries a descriptor, message]``
    pairs and the descriptors, in the messages' order."""
    parts: list[bytes] = []
    passing: list[socket.socket] = []
    size = 0
    for data, sock in outbox:
        if parts and (size + len(data) > BATCH_BYTES or
                      (sock is not None and len(passing) == MAX_FDS)):
            yield b"[" + b",".join(parts) + b"]", passing
            parts, passing, size = [], [], 0
        parts.append((b"[0," if sock is None else b"[1,") + data + b"]")
        size += len(data) + 4
        if sock is not None:
            passing.append(sock)
    if parts:
        yield b"[" + b",".join(parts) + b"]", passing


def unpack(data: bytes, fds: list[int]) -> Iterator[tuple[Message, list[int]]]:
    """A packet's messages, each with the descriptor it carries; a descriptor the kernel
    dropped (the receiver out of descriptors) leaves its message with none."""
    left = iter(fds)
    for carries, message in json.loads(data):
        fd = next(left, None) if carries else None
        yield message, ([] if fd is None else [fd])
    for fd in left:          # more than the messages said: never kept open
        os.close(fd)


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
        self.outbox: list[tuple[bytes, socket.socket | None]] = []     # this turn's
        self.queue: deque[Packet] = deque()                            # packed, unsent
        self.open = True
        self._flushing: Any = None          # the end-of-turn call that packs the outbox
        self._closing = False               # close once the queue is sent
        reactor.addReader(self)

    def send(self, message: Message, passing: socket.socket | None = None) -> None:
        """Send ``message`` at the end of this reactor turn, or now when it carries
        ``passing``'s descriptor; ``passing`` is closed once sent."""
        if not self.open or self._closing:
            if passing is not None:
                passing.close()
            return
        self.outbox.append((json.dumps(message, separators=(",", ":")).encode(), passing))
        if passing is not None:
            self.flush()
        elif self._flushing is None:
            self._flushing = self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """Pack what was sent this turn and hand it to the kernel now."""
        if self._flushing is not None:
            if self._flushing.active():
                self._flushing.cancel()
            self._flushing = None
        if not self.outbox:
            return
        outbox, self.outbox = self.outbox, []
        queued = bool(self.queue)       # then the reactor writes when the socket has room
        self.queue.extend(pack(outbox))
        if not queued:
            self.doWrite()

    def finish(self) -> None:
        """Close once everything sent so far is with the kernel (a worker's last reports)."""
        self._closing = True
        self.flush()
        if not self.queue:
            self.close()

    def doWrite(self) -> None:
        while self.queue:
            data, passing = self.queue[0]
            try:
                if passing:
                    socket.send_fds(self.sock, [data], [s.fileno() for s in passing])
                else:
                    self.sock.send(data)
            except BlockingIOError:
                self.reactor.addWriter(self)
                return
            except OSError:
                self.close()
                return
            self.queue.popleft()
            for sock in passing:
                sock.close()
        if self.open:
            self.reactor.removeWriter(self)
            if self._closing:
                self.close()

    def doRead(self) -> None:
        for _ in range(MAX_READS):
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_PACKET, MAX_FDS)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self.close()
                return
            try:
                for message, carried in unpack(data, fds):
                    self.received(message, carried)
            except Exception:
                log.failure("forward {name}: handling a message failed", name=self.name)

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        if self._flushing is not None and self._flushing.active():
            self._flushing.cancel()
        self._flushing = None
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        for _, sock in self.outbox:
            if sock is not None:
                sock.close()
        for _, passing in self.queue:
            for sock in passing:
                sock.close()
        self.outbox.clear()
        self.queue.clear()
        self.sock.close()
        self.lost()

    def fileno(self) -> int:
        return self.sock.fileno() if self.open else -1

    def logPrefix(self) -> str:
        return f"forward {self.name}"

    def connectionLost(self, reason: Failure) -> None:
        self.close()
