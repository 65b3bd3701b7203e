"""One UDP client of a forwarded service: its own socket to the backend, its counters.

The backend sees one source port per client, as it would without the forwarder, and
its replies come back on that socket to be sent from the service's listening address.
A session looks like a connection to the counters (``counters.LiveConnection``).
"""

from __future__ import annotations

import _socket
import socket
from typing import Any, Protocol

from netsentinel.forward.poller import Poller
from netsentinel.forward.udpsocket import MAX_DATAGRAM, refused


class Owner(Protocol):
    """What a session reports to (the service's forwarder)."""

    def reply(self, session: Session, data: bytes) -> None:
        """One datagram from the backend (counted), to go back to the client."""

    def backend_failed(self, session: Session, e: OSError) -> None: ...


class Session:
    __slots__ = ("number", "peer", "ip", "port", "local", "key", "started", "last_activity",
                 "placed", "up", "down", "datagrams_up", "datagrams_down", "reason", "sock",
                 "poller", "owner")
    half_closed_at: float | None = None     # a datagram flow never half-closes

    def __init__(self, number: int, peer: Any, ip: str, local: bytes | None, now: float,
                 backend: tuple[str, int], poller: Poller, owner: Owner) -> None:
        self.number = number
        self.peer = peer                    # the client's address, as the socket gives it
        self.ip = ip
        self.port: int = peer[1]
        self.local = local                  # the address the client wrote to (wildcard only)
        self.key = flow(peer, local)
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
        self.sock: _socket.socket | None = sock
        self.poller = poller
        self.owner = owner
        poller.add(sock.fileno(), self)

    def readable(self) -> None:
        """One reply of the backend, to the owner (the poller calls again while more wait)."""
        sock = self.sock
        if sock is None:
            return
        try:
            data = sock.recv(MAX_DATAGRAM)
        except BlockingIOError:
            return
        except OSError as e:
            if refused(e):
                self.owner.backend_failed(self, e)
            return
        self.down += len(data)
        self.datagrams_down += 1
        self.owner.reply(self, data)

    def send(self, data: bytes, now: float) -> bool:
        """A client datagram to the backend; False when the socket refused it."""
        sock = self.sock
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

    def close(self, reason: str) -> None:
        self.reason = self.reason or reason
        sock, self.sock = self.sock, None
        if sock is not None:
            self.poller.remove(sock.fileno())
            sock.close()

    def local_address(self) -> Any:
        return self.local


def flow(peer: Any, local: bytes | None) -> Any:
    """A session's key: the client's address, and where it wrote when that varies."""
    return peer if local is None else (peer, local)
