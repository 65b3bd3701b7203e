"""Route netlink sockets as Twisted readers.

:class:`RouteMonitor` listens to the link and address groups and only says
"something changed" (or "we lost messages"): the caller then takes a fresh
:class:`RouteDumper` dump, so the table is always derived from the kernel,
never from replayed deltas.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any, Callable

from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from twisted.internet import abstract, defer
from twisted.logger import Logger

from netsentinel.netlink.table import (
    AddressTable,
    AddrRecord,
    LinkRecord,
    addr_record,
    build_table,
    link_record,
)

log = Logger()

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_GETLINK = 18
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
RECV_SIZE = 1 << 16
READS_PER_WAKEUP = 64         # bounded slice: never starve the other readers
RCVBUF = 4 << 20


def _route_socket(groups: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                         | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)   # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind((0, groups))
    return sock


class _NetlinkReader(abstract.FileDescriptor):
    def __init__(self, sock: socket.socket, reactor: Any) -> None:
        super().__init__(reactor)
        self.socket = sock

    def fileno(self) -> int:
        return self.socket.fileno()

    def close(self) -> None:
        self.stopReading()
        self.socket.close()

    def doRead(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data = self.socket.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.overflowed()
                    continue
                log.error("netlink read failed: {error}", error=e)
                return
            self.received(data)

    def received(self, data: bytes) -> None:
        raise NotImplementedError

    def overflowed(self) -> None:
        raise NotImplementedError


class RouteMonitor(_NetlinkReader):
    """Calls ``on_change(overflow)`` for every batch of link/address notifications."""

    GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

    def __init__(self, on_change: Callable[[bool], None], reactor: Any) -> None:
        super().__init__(_route_socket(self.GROUPS), reactor)
        self.on_change = on_change
        self.messages = 0
        self.overflows = 0

    def received(self, data: bytes) -> None:
        self.messages += 1
        self.on_change(False)

    def overflowed(self) -> None:
        self.overflows += 1
        log.warn("netlink receive buffer overflowed: full resync")
        self.on_change(True)


class RouteDumper(_NetlinkReader):
    """Dumps links then addresses; one dump at a time, each answered by a Deferred."""

    def __init__(self, reactor: Any) -> None:
        super().__init__(_route_socket(0), reactor)
        self.marshal = MarshalRtnl()
        self.sequence = 0
        self._pending: defer.Deferred[AddressTable] | None = None
        self._stage = RTM_GETLINK
        self._links: list[LinkRecord] = []
        self._addrs: list[AddrRecord] = []
        self._interrupted = False

    def dump(self) -> defer.Deferred[AddressTable]:
        if self._pending is not None:
            raise RuntimeError("a dump is already running")
        self._pending = defer.Deferred()
        self._links, self._addrs, self._interrupted = [], [], False
        self._request(RTM_GETLINK)
        self.startReading()
        return self._pending

    def _request(self, kind: int) -> None:
        self._stage = kind
        self.sequence += 1
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0) if kind == RTM_GETLINK \
            else struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0)
        header = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP,
                             self.sequence, 0)
        self.socket.send(header + body)

    def received(self, data: bytes) -> None:
        if self._pending is None:
            return
        for msg in self.marshal.parse(data):
            header = msg["header"]
            if header["sequence_number"] != self.sequence:
                continue
            if header["flags"] & NLM_F_DUMP_INTR:
                self._interrupted = True
            if header["type"] == NLMSG_ERROR:
                self._finish(error=OSError(abs(header.get("error") or 0), "netlink dump error"))
                return
            if header["type"] == NLMSG_DONE:
                self._stage_done()
                return
            # keep a few fields, not pyroute2's objects: a big dump stays small in memory
            if self._stage == RTM_GETLINK:
                link = link_record(msg)
                if link is not None:
                    self._links.append(link)
            else:
                addr = addr_record(msg)
                if addr is not None:
                    self._addrs.append(addr)

    def _stage_done(self) -> None:
        if self._interrupted:
            # the kernel's tables changed during the dump: start over
            self._links, self._addrs, self._interrupted = [], [], False
            self._request(RTM_GETLINK)
        elif self._stage == RTM_GETLINK:
            self._request(RTM_GETADDR)
        else:
            self._finish(table=build_table(self._links, self._addrs))

    def overflowed(self) -> None:
        if self._pending is not None:
            self._links, self._addrs = [], []
            self._request(RTM_GETLINK)

    def _finish(self, table: AddressTable | None = None, error: Exception | None = None) -> None:
        pending, self._pending = self._pending, None
        self.stopReading()
        if pending is None:
            return
        if error is not None:
            pending.errback(error)
        elif table is not None:
            pending.callback(table)
