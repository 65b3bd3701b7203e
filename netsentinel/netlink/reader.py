"""Route netlink sockets as Twisted readers.

:class:`RouteMonitor` listens to the link and address groups and only says
"something changed" (or "we lost messages"): the caller then takes a fresh
:class:`RouteDumper` dump, so the table is always derived from the kernel,
never from replayed deltas.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet import abstract, defer
from twisted.logger import Logger

from netsentinel.netlink import wire
from netsentinel.netlink.table import (
    AddressTable,
    AddrRecord,
    IPInterface,
    LinkRecord,
    build_table,
)

log = Logger()

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_GETLINK = wire.RTM_GETLINK
RTM_GETADDR = wire.RTM_GETADDR
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
RECV_SIZE = 1 << 16
READS_PER_WAKEUP = 64         # bounded slice: never starve the other readers
RCVBUF = 4 << 20
MAX_RESTARTS = 3


def _route_socket(groups: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                         | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)   # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind((0, groups))
    return sock


class NetlinkReader(abstract.FileDescriptor):
    reads_per_wakeup = READS_PER_WAKEUP

    def __init__(self, sock: socket.socket, reactor: Any) -> None:
        super().__init__(reactor)
        self.socket = sock

    def fileno(self) -> int:
        return self.socket.fileno()

    def close(self) -> None:
        self.stopReading()
        self.socket.close()

    def doRead(self) -> None:
        for _ in range(self.reads_per_wakeup):
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


class RouteMonitor(NetlinkReader):
    """Calls ``on_change(overflow)`` for every batch of link/address notifications."""

    GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

    def __init__(self, on_change: Callable[[bool], None], reactor: Any,
                 sock: socket.socket | None = None) -> None:
        """``sock`` replaces the kernel's socket (a test's stand-in, as ``TuntapPort(system=)``)."""
        super().__init__(sock or _route_socket(self.GROUPS), reactor)
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


class RouteDumper(NetlinkReader):
    """Dumps links then addresses; one dump at a time, each answered by a Deferred.

    A big dump (20,000 addresses is a few MB) is read a few datagrams per wakeup,
    so the control socket and the other readers are served in between.

    The kernel marks a dump that raced with a change (``NLM_F_DUMP_INTR``); that
    stage is taken again, up to :data:`MAX_RESTARTS` times in a row.  Under
    constant churn (an address changing every 50 ms while 20,000 are dumped) a
    dump would otherwise never finish: the last one is then returned marked
    incomplete; its owner keeps the addresses it may have missed
    (:meth:`AddressTable.keeping`) and the racing change asks for another sync.
    """

    reads_per_wakeup = 4

    def __init__(self, reactor: Any, sock: socket.socket | None = None) -> None:
        super().__init__(sock or _route_socket(0), reactor)
        self.sequence = 0
        self._pending: defer.Deferred[AddressTable] | None = None
        self._stage = RTM_GETLINK
        self._links: list[LinkRecord] = []
        self._addrs: list[AddrRecord] = []
        self._interrupted = False
        self._restarts = 0
        self._complete = True
        self.interrupted = 0          # dumps used although the kernel marked them interrupted
        self._known: dict[str, IPInterface] = {}   # parsed addresses of the last dump

    def dump(self) -> defer.Deferred[AddressTable]:
        if self._pending is not None:
            raise RuntimeError("a dump is already running")
        self._pending = defer.Deferred()
        self._links, self._addrs, self._interrupted = [], [], False
        self._restarts, self._complete = 0, True
        self._request(RTM_GETLINK)
        self.startReading()
        return self._pending

    def _request(self, kind: int) -> None:
        self._stage = kind
        self.sequence += 1
        self.socket.send(wire.dump_request(kind, self.sequence, NLM_F_REQUEST | NLM_F_DUMP))

    def received(self, data: bytes) -> None:
        if self._pending is None:
            return
        for msg in wire.messages(data):
            if msg.sequence != self.sequence:
                continue
            if msg.flags & NLM_F_DUMP_INTR:
                self._interrupted = True
            if msg.type == wire.NLMSG_ERROR:
                self._finish(error=OSError(wire.error_code(msg), "netlink dump error"))
                return
            if msg.type == wire.NLMSG_DONE:
                self._stage_done()
                return
            # keep a few fields: a big dump stays small in memory
            if msg.type == wire.RTM_NEWLINK:
                link = wire.link_record(msg)
                if link is not None:
                    self._links.append(link)
            elif msg.type == wire.RTM_NEWADDR:
                addr = wire.addr_record(msg)
                if addr is not None:
                    self._addrs.append(addr)

    def _stage_done(self) -> None:
        if self._interrupted and self._restarts < MAX_RESTARTS:
            # the kernel's table changed during this stage: take it again
            self._restarts += 1
            self._interrupted = False
            if self._stage == RTM_GETLINK:
                self._links = []
            else:
                self._addrs = []
            self._request(self._stage)
            return
        if self._interrupted:
            self.interrupted += 1
            self._complete = False
            self._interrupted = False
        if self._stage == RTM_GETLINK:
            self._request(RTM_GETADDR)
        else:
            table = build_table(self._links, self._addrs, self._known)
            self._finish(table=table if self._complete else attrs.evolve(table, complete=False))

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
