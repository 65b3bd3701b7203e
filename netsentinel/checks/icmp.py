"""Many pings at once from a few shared raw ICMP sockets read by the reactor.

One socket per (family, interface, source) binding serves every target, so a
thousand targets cost a thousand packets, not a thousand threads or sockets.
icmplib builds the echo requests and parses the replies; replies are matched
by identifier, sequence, source address and the socket they arrived on, so a
probe bound to an interface only counts replies that came back through it.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import random
import socket
import struct
from collections.abc import Callable
from typing import Any, Protocol

import attrs
from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError
from twisted.internet import abstract, defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from netsentinel.checks.stats import ProbeResult

log = Logger()

PAYLOAD = b"netsentinel-probe".ljust(56, b"\0")
READS_PER_TURN = 256          # replies drained per doRead before yielding to the reactor
RECEIVE_BUFFER = 4 << 20      # a burst of a thousand replies must not overflow the socket
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_RCVBUFFORCE = 33
SOL_RAW = 255
ICMP_FILTER = 1               # SOL_RAW option: bit set = type dropped by the kernel
ICMP6_FILTER = 1
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


@attrs.frozen
class EngineStatus:
    """The engine's sockets, the echo requests awaiting a reply, and the counts so far."""

    sockets: int
    in_flight: int
    sent: int
    received: int
    send_errors: int


@attrs.frozen
class Binding:
    """Where probes leave from: address family, optional interface and source address."""

    family: int                    # 4 or 6
    interface: str | None = None
    source: str | None = None


@attrs.frozen
class Reply:
    source: str
    ident: int
    sequence: int
    received_at: float | None = None    # the kernel's receive time (seconds), if it told


class Channel(Protocol):
    """The OS side of one socket (a fake one in unit tests)."""

    def fileno(self) -> int: ...
    def send(self, destination: str, ident: int, sequence: int) -> None: ...
    def receive(self) -> Reply | None: ...   # None: not an echo reply; BlockingIOError: drained
    def close(self) -> None: ...


_ECHO = struct.Struct("!BBHHH")            # type, code, checksum, identifier, sequence
_PAYLOAD_SUM = sum(struct.unpack(f"!{len(PAYLOAD) // 2}H", PAYLOAD))
_TIMESPEC = struct.Struct("@ll")
_STAMP_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def echo_request(kind: int, ident: int, sequence: int) -> bytes:
    """An echo request with the fixed payload, as icmplib builds it, checksum included.

    The payload's share of the checksum is summed once, so a packet costs one
    pack instead of a loop over its bytes.
    """
    total = _PAYLOAD_SUM + (kind << 8) + ident + sequence
    total = (total & 0xFFFF) + (total >> 16)
    total += total >> 16
    return _ECHO.pack(kind, 0, ~total & 0xFFFF, ident, sequence) + PAYLOAD


def _stamp(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds + nanoseconds / 1e9)
    return None


class RawChannel:
    """A non-blocking raw ICMP socket made by icmplib, filtered to echo replies.

    Packets are built and parsed here with ``struct`` (icmplib's per-packet
    helpers loop over bytes in Python); the kernel stamps each reply
    (``SO_TIMESTAMPNS``), so an RTT does not include the wait for the reactor.
    """

    def __init__(self, binding: Binding) -> None:
        kind = ICMPv4Socket if binding.family == 4 else ICMPv6Socket
        self.icmp = kind(address=binding.source, privileged=True)
        self.sock = sock = self.icmp.sock
        sock.setblocking(False)
        if binding.interface:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, binding.interface.encode())
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if binding.family == 4:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~(1 << 0) & 0xFFFFFFFF))
            self.echo_request, self.echo_reply = 8, 0
        else:
            words = [0xFFFFFFFF] * 8
            words[129 >> 5] &= ~(1 << (129 & 31)) & 0xFFFFFFFF
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))
            self.echo_request, self.echo_reply = 128, 129
        self.ip_header = binding.family == 4      # raw IPv4 sockets read the IP header too

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def send(self, destination: str, ident: int, sequence: int) -> None:
        # the kernel adds the IP header (and the ICMPv6 checksum); no resolution per packet
        self.sock.sendto(echo_request(self.echo_request, ident, sequence), (destination, 0))

    def receive(self) -> Reply | None:
        packet, ancillary, _, address = self.sock.recvmsg(1500, _STAMP_SPACE)
        offset = (packet[0] & 0x0F) << 2 if self.ip_header and packet else 0
        if len(packet) < offset + _ECHO.size:
            return None
        kind, _, _, ident, sequence = _ECHO.unpack_from(packet, offset)
        if kind != self.echo_reply:
            return None
        return Reply(_plain(address[0]), ident, sequence, _stamp(ancillary))

    def close(self) -> None:
        self.icmp.close()


def _plain(address: str) -> str:
    """Drop an IPv6 scope (``fe80::1%eth0``) so sources compare with targets."""
    return address.split("%", 1)[0]


class ChannelReader(abstract.FileDescriptor):
    """Reads one channel in the reactor, like ``twisted.pair.tuntap.TuntapPort``."""

    def __init__(self, channel: Channel, deliver: Callable[[ChannelReader, Reply], None],
                 reactor: Any) -> None:
        super().__init__(reactor)
        self.channel = channel
        self.deliver = deliver

    def fileno(self) -> int:
        return self.channel.fileno()

    def doRead(self) -> None:
        for _ in range(READS_PER_TURN):
            if self.disconnected:      # closed by a callback of the last reply
                return
            try:
                reply = self.channel.receive()
            except BlockingIOError:
                return
            except OSError as e:
                log.warn("ICMP receive failed: {error}", error=e)
                return
            if reply is not None:
                self.deliver(self, reply)

    def connectionLost(self, reason: Any = None) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        self.channel.close()


@attrs.define
class _Check:
    """The packets of one ``ping`` call still in flight."""

    address: str
    count: int
    done: defer.Deferred[ProbeResult]
    rtts: list[float] = attrs.Factory(list)
    settled: int = 0

    def settle(self, rtt: float | None) -> None:
        if rtt is not None:
            self.rtts.append(rtt)
        self.settled += 1
        if self.settled == self.count:
            self.done.callback(ProbeResult(self.address, self.count, tuple(self.rtts)))


@attrs.define
class _Packet:
    check: _Check
    reader: ChannelReader
    destination: str
    sent_at: float


@functools.lru_cache(maxsize=65536)
def _normal(target: str) -> tuple[str, int]:
    parsed = ipaddress.ip_address(target)
    return str(parsed), parsed.version


class IcmpEngine:
    """``ping(target, count, wait)`` for any number of concurrent targets."""

    def __init__(self, reactor: Any,
                 open_channel: Callable[[Binding], Channel] = RawChannel) -> None:
        self.reactor = reactor
        self.clock: IReactorTime = reactor
        self.open_channel = open_channel
        self.ident = random.randrange(1, 0xFFFF)
        self.readers: dict[Binding, ChannelReader] = {}
        self._pending: dict[int, _Packet] = {}
        # one deadline queue per wait value (so each is in time order) and one timer
        # for the earliest head: a thousand probes must not be a thousand timers
        self._deadlines: dict[float, collections.deque[tuple[float, int, _Packet]]] = {}
        self._sweeper: Any = None
        self._sequence = random.randrange(0, 0x10000)
        self.sent = 0
        self.received = 0
        self.send_errors = 0

    def ping(self, target: str, count: int, wait: float, spacing: float = 0.2,
             interface: str | None = None, source: str | None = None
             ) -> defer.Deferred[ProbeResult]:
        """Send ``count`` echo requests ``spacing`` s apart; each waits ``wait`` s.

        Fires with the result once every packet is answered or timed out; it
        never fails (an unusable binding is reported as total loss).
        """
        target, version = _normal(target)
        check = _Check(target, count, defer.Deferred())
        try:
            reader = self._reader(Binding(version, interface, source))
        except (OSError, ICMPLibError) as e:
            log.error("cannot open ICMP socket for {target} ({interface}): {error}",
                      target=target, interface=interface or "any", error=e)
            check.done.callback(ProbeResult(target, count))
            return check.done
        for n in range(count):
            if n == 0:
                self._send(check, reader, wait)
            else:
                self.clock.callLater(n * spacing, self._send, check, reader, wait)
        return check.done

    def _reader(self, binding: Binding) -> ChannelReader:
        reader = self.readers.get(binding)
        if reader is None:
            reader = ChannelReader(self.open_channel(binding), self._delivered, self.reactor)
            reader.startReading()
            self.readers[binding] = reader
        return reader

    def _next_sequence(self) -> int:
        while True:
            self._sequence = (self._sequence + 1) & 0xFFFF
            if self._sequence not in self._pending:
                return self._sequence

    def _send(self, check: _Check, reader: ChannelReader, wait: float) -> None:
        if reader.disconnected:
            check.settle(None)
            return
        sequence = self._next_sequence()
        now = self.clock.seconds()          # before the send: a veth may answer within it
        try:
            reader.channel.send(check.address, self.ident, sequence)
        except OSError as e:
            self.send_errors += 1
            log.debug("ping {target} not sent: {error}", target=check.address, error=e)
            check.settle(None)
            return
        self.sent += 1
        packet = self._pending[sequence] = _Packet(check, reader, check.address, now)
        self._deadlines.setdefault(wait, collections.deque()).append((now + wait, sequence, packet))
        if self._sweeper is None:
            self._sweeper = self.clock.callLater(wait, self._sweep)
        elif self._sweeper.getTime() > now + wait:
            self._sweeper.reset(wait)

    def _sweep(self) -> None:
        """Settle every packet whose wait is over, then sleep until the next deadline."""
        self._sweeper = None
        now = self.clock.seconds()
        for queue in self._deadlines.values():
            while queue and queue[0][0] <= now:
                _, sequence, packet = queue.popleft()
                if self._pending.get(sequence) is packet:
                    del self._pending[sequence]
                    packet.check.settle(None)
        heads = [queue[0][0] for queue in self._deadlines.values() if queue]
        if heads:
            self._sweeper = self.clock.callLater(max(0.0, min(heads) - now), self._sweep)

    def _delivered(self, reader: ChannelReader, reply: Reply) -> None:
        if reply.ident != self.ident:
            return
        packet = self._pending.get(reply.sequence)
        if packet is None or packet.reader is not reader or packet.destination != reply.source:
            return
        del self._pending[reply.sequence]
        self.received += 1
        received = self.clock.seconds() if reply.received_at is None else reply.received_at
        packet.check.settle(round(max(0.0, received - packet.sent_at) * 1000.0, 3))

    def close(self) -> None:
        """Close every socket; probes in flight end as lost."""
        for reader in self.readers.values():
            reader.stopReading()
            reader.connectionLost(None)
        self.readers.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._deadlines.clear()
        for sequence in list(self._pending):
            self._pending.pop(sequence).check.settle(None)

    def status(self) -> EngineStatus:
        return EngineStatus(len(self.readers), len(self._pending), self.sent, self.received,
                            self.send_errors)
