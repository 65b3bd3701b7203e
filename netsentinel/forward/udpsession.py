"""One UDP client of a forwarded service: its own socket to the backend, its counters.

The backend sees one source port per client, as it would without the forwarder, and
its replies come back on that socket to be sent from the service's listening address.
A session looks like a connection to the counters (``counters.LiveConnection``).
"""

from __future__ import annotations

import _socket
import socket
from collections.abc import Callable
from typing import Any

from netsentinel.forward.udpsocket import Reader


class Session:
    __slots__ = ("number", "peer", "ip", "port", "local", "key", "started", "last_activity",
                 "placed", "up", "down", "datagrams_up", "datagrams_down", "reason", "reader")
    half_closed_at: float | None = None     # a datagram flow never half-closes

    def __init__(self, number: int, peer: Any, ip: str, local: bytes | None, now: float,
                 backend: tuple[str, int], reactor: Any, name: str,
                 reply: Callable[[Session, bytes], None],
                 failed: Callable[[Session, OSError], None]) -> None:
        self.number = number
        self.peer = peer                    # the client's address, as the socket gives it
        self.ip = ip
        self.port: int = peer[1]
        self.local = local                  # the address the client wrote to (wildcard only)
        self.key = (peer[0], peer[1], local)
        self.started = self.last_activity = self.placed = now   # placed: in the order
        self.up = self.down = 0
        self.datagrams_up = self.datagrams_down = 0
        self.reason = ""
        family = socket.AF_INET6 if ":" in backend[0] else socket.AF_INET
        sock = _socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        try:
            sock.connect(backend)
        except OSError:
            sock.close()
            raise
        self.reader = Reader(sock, reactor, name, lambda data, _, __: reply(self, data),
                             lambda e: failed(self, e))
        self.reader.start()

    def send(self, data: bytes, now: float) -> bool:
        """A client datagram to the backend; False when the socket refused it."""
        sock = self.reader.sock
        if sock is None:
            return False
        self.last_activity = now
        try:
            sock.send(data)
        except OSError:
            return False
        self.up += len(data)
        self.datagrams_up += 1
        return True

    def replied(self, size: int, now: float) -> None:
        self.last_activity = now
        self.down += size
        self.datagrams_down += 1

    def close(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.reader.close()

    def local_address(self) -> Any:
        return self.local
