"""One forwarded connection: its two sockets, the bytes between them, and its record.

The relay hands its sockets to the reactor itself (``addReader``/``addWriter``)
rather than wrapping them in Twisted transports: bulk bytes go from socket to
socket through a pipe with ``os.splice`` and never become Python objects, small
chunks take one ``recv`` and one ``send`` (buffers.py), and a connection costs a
few slotted objects instead of two transports and two protocols.  That is what lets a Python forwarder
keep up with haproxy (docs/bench-forward.md).

Flow control is the buffer: a direction reads its source only when everything
it read before has been written, so a slow receiver pauses a fast sender with
one buffer in between and memory stays flat.  Each side's end of data is
passed on as a half-close (``shutdown(SHUT_WR)``) and the connection ends when
both directions have finished, so data still flowing the other way arrives in
full.  A socket error ends the connection after the bytes the broken side had
already sent are delivered.
"""

from __future__ import annotations

import _socket  # the C socket type, without socket.socket's Python layer
import errno
import os
import socket
from typing import Any

from twisted.internet.interfaces import IReadWriteDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

from netsentinel.forward.buffers import Buffer
from netsentinel.forward.config import Timeouts
from netsentinel.forward.expiry import expired
from netsentinel.forward.owner import Owner

ROUNDS = 4      # read+write rounds per readiness event, so one busy connection cannot hog a turn


@implementer(IReadWriteDescriptor)
class Leg:
    """One of the connection's sockets, as the reactor sees it."""

    __slots__ = ("conn", "sock", "fd", "name", "out", "into")

    def __init__(self, conn: Connection, sock: _socket.socket, name: str) -> None:
        self.conn = conn
        self.sock = sock
        self.fd = sock.fileno()
        self.name = name                # "client" or "backend"
        self.out: Flow                  # the direction that reads this socket
        self.into: Flow                 # the direction that writes to it

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "forward"        # asked on every event: kept constant, log lines name the rest

    def doRead(self) -> None:
        self.out.pump()

    def doWrite(self) -> None:
        if self.conn.dialing_since is not None:
            self.conn.dialed()
        else:
            self.into.pump()

    def connectionLost(self, reason: Failure) -> None:
        """The reactor saw a hang-up or error we were not reading, or it is shutting down."""
        if self.conn.dialing_since is not None:
            self.conn.dialed()
        else:
            self.conn.fail(self)


class Flow:
    """One direction: bytes read from ``src`` wait in ``buffer`` until ``dst`` takes them."""

    __slots__ = ("conn", "reactor", "src", "dst", "buffer", "upstream", "reading", "writing",
                 "eof", "done", "stalled_since")

    def __init__(self, conn: Connection, src: Leg, dst: Leg, upstream: bool) -> None:
        self.conn = conn
        self.reactor = conn.owner.reactor
        self.src = src
        self.dst = dst
        src.out = dst.into = self
        self.buffer = Buffer(conn.owner.pipes)
        self.upstream = upstream        # client → backend
        self.reading = False            # registered for src readable
        self.writing = False            # registered for dst writable
        self.eof = False                # src sent its FIN (or broke)
        self.done = False               # and everything before it is delivered
        self.stalled_since: float | None = None     # dst has not taken our bytes since

    def pump(self) -> None:
        """Move bytes until a socket would block, the data ends, or the round budget is spent.

        A read shorter than asked emptied the socket, so the next read would only
        fail with EAGAIN: the flow waits for the reactor instead of trying.
        """
        buffer = self.buffer
        conn = self.conn
        src = self.src.sock
        dst = self.dst.sock
        broken = self.dst
        emptied = False
        try:
            for _ in range(ROUNDS):
                if buffer.pending:
                    broken = self.dst
                    buffer.drain(dst)
                    if buffer.pending:          # a partial write: dst is full
                        self._wait_writable()
                        return
                if self.eof:
                    self._finish()
                    return
                if emptied:
                    break
                broken = self.src
                count = buffer.fill(src, self._dump if conn.dump else None)
                if not count:
                    self.eof = True
                    continue
                if self.upstream:
                    conn.up += count
                else:
                    conn.down += count
                emptied = count < buffer.asked
        except BlockingIOError:
            pass
        except OSError:
            conn.fail(broken)
            return
        if self.eof and not buffer.pending:
            self._finish()
        elif buffer.pending:
            self._wait_writable()
        else:
            self.wait_readable()

    def _dump(self, data: bytes) -> None:
        self.conn.owner.dump(self.conn, "up" if self.upstream else "down", data)

    def wait_readable(self) -> None:
        self._stop_writing()
        if not self.reading:
            self.reading = True
            self.reactor.addReader(self.src)

    def _wait_writable(self) -> None:
        self._stop_reading()
        if not self.writing:
            self.writing = True
            self.stalled_since = self.conn.owner.clock.seconds()
            self.reactor.addWriter(self.dst)

    def stop(self) -> None:
        """Unregister from the reactor; the sockets stay open."""
        self._stop_reading()
        self._stop_writing()

    def _stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.reactor.removeReader(self.src)

    def _stop_writing(self) -> None:
        if self.writing:
            self.writing = False
            self.stalled_since = None
            self.reactor.removeWriter(self.dst)

    def _finish(self) -> None:
        """The source ended and everything it sent is delivered: pass the end on."""
        self.done = True
        self.stop()
        conn = self.conn
        if conn.broken is not None:
            conn.close(conn.broken)
            return
        peer = self.dst.out
        if peer.done:
            conn.close("done")
            return
        try:
            self.dst.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close(f"{self.dst.name}-reset")
            return
        conn.half_closed()


class Connection:
    """The record a service keeps of one connection, and the owner of its two legs."""

    __slots__ = ("owner", "number", "ip", "port", "started", "up", "down", "seen",
                 "seen_up", "last_up", "last_activity", "half_closed_at", "dialing_since",
                 "broken", "reason", "closed", "dump", "client", "backend", "to_backend",
                 "to_client")

    def __init__(self, owner: Owner, number: int, sock: _socket.socket, ip: str,
                 port: int, now: float, dump: bool = False) -> None:
        self.owner = owner
        self.number = number
        self.ip = ip
        self.port = port
        self.started = now
        self.up = 0                 # client → backend bytes
        self.down = 0               # backend → client bytes
        self.seen = 0               # up + down at the last sweep
        self.seen_up = 0
        self.last_up = now          # last time the client sent data (sweep precision)
        self.last_activity = now
        self.half_closed_at: float | None = None
        self.dialing_since: float | None = None
        self.broken: str | None = None      # the close reason once a socket failed
        self.reason = "open"
        self.closed = False
        self.dump = dump            # hex-dump what passes (``print_bytes``)
        self.client = Leg(self, sock, "client")
        self.backend: Leg | None = None
        self.to_backend: Flow | None = None
        self.to_client: Flow | None = None

    # -- dialling the backend

    def dial(self, host: str, port: int, now: float) -> None:
        """Start a non-blocking connect; the reactor reports its end as writable."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = _socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as e:
            self.dial_failed(e.strerror or str(e))
            return
        self.connect(sock, host, port, now)

    def connect(self, sock: _socket.socket, host: str, port: int, now: float) -> None:
        """Connect ``sock``, a new non-blocking socket that is now the backend's."""
        self.backend = Leg(self, sock, "backend")       # closed with the connection
        try:
            for level, option, value in self.owner.dial_options:
                sock.setsockopt(level, option, value)
        except OSError as e:
            self.dial_failed(e.strerror or str(e))
            return
        code = sock.connect_ex((host, port))
        if code == errno.EINPROGRESS:
            try:
                # a loopback or LAN backend has often answered before connect returns:
                # then there is no need to wait for the reactor to say so
                sock.getpeername()
            except OSError:
                self.dialing_since = now
                self.owner.reactor.addWriter(self.backend)
                return
        elif code:
            self.dial_failed(os.strerror(code))
            return
        self._established()

    def dialed(self) -> None:
        """The reactor says the connect finished, one way or the other."""
        backend = self.backend
        assert backend is not None
        self.dialing_since = None
        self.owner.reactor.removeWriter(backend)
        code = backend.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.dial_failed(os.strerror(code))
        else:
            self._established()

    def _established(self) -> None:
        """Both sockets are up: start moving bytes, the client's first."""
        backend = self.backend
        assert backend is not None
        self.to_backend = Flow(self, self.client, backend, True)
        self.to_client = Flow(self, backend, self.client, False)
        header = self.owner.proxy_header(self)
        if header:
            self.to_backend.buffer.put(header)
        self.to_backend.pump()      # the client has usually sent already
        if not self.closed:
            self.to_client.wait_readable()  # a backend that speaks first wakes the reactor

    def dial_failed(self, why: str) -> None:
        self.owner.backend_failed(self, why)
        self.close("backend-failed")

    # -- timeouts: the owner sweeps its connections, each keeps its own stamps

    def note_activity(self, now: float) -> None:
        """Stamp ``now`` as the last activity if bytes moved since the last look."""
        if self.up + self.down != self.seen:
            self.seen = self.up + self.down
            self.last_activity = now
            if self.up != self.seen_up:
                self.seen_up = self.up
                self.last_up = now

    def check_timeouts(self, now: float, timeouts: Timeouts) -> None:
        """Close the connection (or fail its dial) if it has run into one of ``timeouts``."""
        reason = expired(self, now, timeouts)
        if reason == "connect-timeout":
            self.dial_failed("connect timed out")
        elif reason is not None:
            self.close(reason)

    # -- the end

    def half_closed(self) -> None:
        if self.half_closed_at is None:
            self.half_closed_at = self.owner.clock.seconds()

    def fail(self, leg: Leg) -> None:
        """``leg``'s socket broke: deliver what it had sent already, then close."""
        if self.closed:
            return
        self.broken = f"{leg.name}-reset"
        if self.to_backend is None:        # still dialling: no flow yet
            self.close(self.broken)
            return
        leg.into.stop()
        leg.into.done = True
        out = leg.out
        out.eof = True
        out._stop_reading()
        if out.done or not out.buffer.pending:
            self.close(self.broken)

    def close(self, reason: str) -> None:
        """Close both sides now (end of data, resets, timeouts, stop, ``reject --close``)."""
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        for flow in (self.to_backend, self.to_client):
            if flow is not None:
                flow.stop()
                flow.buffer.close()
        if self.dialing_since is not None:
            self.dialing_since = None
            assert self.backend is not None     # dialling: its socket is up
            self.owner.reactor.removeWriter(self.backend)
        for leg in (self.client, self.backend):
            if leg is not None:
                leg.sock.close()
        self.owner.closed(self)

    @property
    def flows(self) -> tuple[Flow, ...]:
        return tuple(f for f in (self.to_backend, self.to_client) if f is not None)

    def local_address(self) -> Any:
        return self.client.sock.getsockname()
