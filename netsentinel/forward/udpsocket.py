"""UDP sockets for the forwarder: the listening one, which answers from the address the
client wrote to, and a reader that drains a socket in bounded batches.

A service listening on a wildcard address of a multi-homed router must reply from
the address the client sent to, or the client (and any NAT on the way) drops the
reply: the listening socket asks for each datagram's destination (``IP_PKTINFO`` /
``IPV6_RECVPKTINFO``) and every reply names it as its source.  A socket bound to
one address needs none of that.
"""

from __future__ import annotations

import _socket
import errno
import socket
import struct
from collections.abc import Callable
from typing import Any

from netsentinel.forward.config import WILDCARDS
from netsentinel.forward.poller import Poller
from netsentinel.forward.port import open_socket

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
MAX_READS = 64              # datagrams per readable event: other sockets get their turn
MAX_DATAGRAM = 65535
ANCILLARY = socket.CMSG_SPACE(32)
RECEIVE_BUFFER = 4 << 20    # bursts wait in the kernel (capped by net.core.rmem_max)


def bind_udp(host: str, port: int, freebind: bool = False) -> _socket.socket:
    """A bound, non-blocking UDP socket (:func:`~netsentinel.forward.port.open_socket`)
    with a large receive buffer; on a wildcard address it asks for each datagram's
    destination."""
    def options(sock: _socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if host in WILDCARDS:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            if sock.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    return open_socket(socket.SOCK_DGRAM, host, port, freebind, options)


def destination(ancillary: list[tuple[int, int, bytes]]) -> bytes | None:
    """The address a datagram was sent to (4 or 16 bytes), from its ancillary data."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return data[8:12]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 16:
            return data[:16]
    return None


def source(family: int, local: bytes | None) -> list[tuple[int, int, bytes]]:
    """The ancillary data that makes a reply leave from ``local``."""
    if local is None:
        return []
    if family == socket.AF_INET6:
        if len(local) == 4:
            local = b"\0" * 10 + b"\xff\xff" + local      # an IPv4 client of a dual socket
        return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, local + struct.pack("I", 0))]
    return [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, local, b"\0" * 4))]


def refused(e: OSError) -> bool:
    """An error a UDP socket reports for an earlier datagram (ICMP: nobody listens)."""
    return e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)


class Reader:
    """A UDP socket in a :class:`Poller`: ``received(data, peer, local)`` per datagram;
    ``local`` only when the socket asked for it."""

    __slots__ = ("sock", "poller", "received", "failed", "reading", "pktinfo")

    def __init__(self, sock: _socket.socket, poller: Poller,
                 received: Callable[[bytes, Any, bytes | None], None],
                 failed: Callable[[OSError], None] = lambda e: None) -> None:
        self.sock: _socket.socket | None = sock
        self.poller = poller
        self.received = received
        self.failed = failed            # an error queued by ICMP (the backend refused)
        self.reading = False
        self.pktinfo = sock.getsockopt(socket.IPPROTO_IP, IP_PKTINFO) != 0 \
            if sock.family in (socket.AF_INET, socket.AF_INET6) and \
            sock.type == socket.SOCK_DGRAM else False

    def start(self) -> None:
        if not self.reading and self.sock is not None:
            self.reading = True
            self.poller.add(self.sock.fileno(), self)

    def stop(self) -> None:
        if self.reading and self.sock is not None:
            self.reading = False
            self.poller.remove(self.sock.fileno())

    def close(self) -> None:
        self.stop()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def readable(self) -> None:
        """Datagrams until none waits, at most ``MAX_READS``: a listening socket holds
        the datagrams of every client, so the EAGAIN that ends a drain is shared."""
        sock = self.sock
        for _ in range(MAX_READS):
            if sock is None:
                return
            try:
                if self.pktinfo:
                    data, ancillary, _flags, peer = sock.recvmsg(MAX_DATAGRAM, ANCILLARY)
                    local = destination(ancillary)
                else:
                    data, peer = sock.recvfrom(MAX_DATAGRAM)
                    local = None
            except BlockingIOError:
                return
            except OSError as e:
                if refused(e):
                    self.failed(e)
                    continue
                return
            self.received(data, peer, local)
            sock = self.sock                # None: closed by the callback

    def send(self, data: bytes, peer: Any, local: bytes | None) -> bool:
        """Send one datagram; False when it was dropped (a full buffer, an error)."""
        if self.sock is None:
            return False
        try:
            if local is not None:
                self.sock.sendmsg([data], source(self.sock.family, local), 0, peer)
            else:
                self.sock.sendto(data, peer)
        except OSError:
            return False
        return True
