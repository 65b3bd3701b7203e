"""nftables' own notifications, what ``nft monitor`` listens to, as a Twisted reader.

The kernel announces every committed nftables transaction on the nfnetlink group
``NFNLGRP_NFTABLES``: one message per table, set or element touched, then a
``NEWGEN`` message naming the process (and thread) that committed it.  The
:class:`RulesetMonitor` gathers the tables and sets a transaction touched and, at its
``NEWGEN``, hands them to ``on_change`` unless the transaction was our own (its thread
is one of this process's: libnftables runs in our threads, so nothing we write
comes back as an outside change).  A lost message (``ENOBUFS``) is ``on_change(None)``:
anything may have changed.

Only tables, sets and elements count: rules and chains come and go without
touching a set's elements.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Container
from typing import Any, cast

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from netsentinel.netlink import wire
from netsentinel.netlink.reader import NetlinkReader

log = Logger()

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
NFGENMSG = struct.Struct("=BBH")
BE32 = struct.Struct(">I")
RCVBUF = 8 << 20
COALESCE = 0.02         # seconds the socket rests after a wakeup that read something

NEWTABLE, DELTABLE = 0, 2
NEWRULE = 6
NEWSET, DELSET = 9, 11
NEWSETELEM, DELSETELEM = 12, 14
NEWGEN = 15
TABLE_NAME = 1          # NFTA_TABLE_NAME, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE
SET_NAME = 2            # NFTA_SET_NAME, NFTA_SET_ELEM_LIST_SET
GEN_PROC_PID = 2
GEN_PROC_NAME = 3
KINDS = {NEWTABLE: "table", DELTABLE: "table", NEWSET: "set", DELSET: "set",
         NEWSETELEM: "element", DELSETELEM: "element"}
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


@attrs.frozen(order=True)
class Touched:
    """A table (``set`` None) or a set one transaction changed."""

    family: str
    table: str
    set: str | None = None


def own_thread(pid: int) -> bool:
    """True when ``pid`` (a thread id, as the kernel reports it) is one of ours."""
    return pid == os.getpid() or os.path.exists(f"/proc/self/task/{pid}")


def parse(message: wire.Message, tables: Container[bytes] | None = None) -> Touched | int | None:
    """A table or set change (of one of ``tables``, if given); for ``NEWGEN`` the
    committing thread's id; else None.  Other tables cost one attribute read."""
    if message.type >> 8 != NFNL_SUBSYS_NFTABLES:
        return None
    kind = message.type & 0xFF
    if kind == NEWGEN:
        for key, value in wire.attributes(message.payload, NFGENMSG.size):
            if key == GEN_PROC_PID and len(value) == 4:
                return int(BE32.unpack(value)[0])
        return 0
    if kind not in KINDS:
        return None
    table = name = None
    for key, value in wire.attributes(message.payload, NFGENMSG.size):
        if key == TABLE_NAME:
            table = bytes(value).rstrip(b"\0")
            if tables is not None and table not in tables:
                return None
        elif key == SET_NAME and KINDS[kind] != "table":
            name = bytes(value).rstrip(b"\0").decode(errors="replace")
    if table is None:
        return None
    family = FAMILIES.get(NFGENMSG.unpack_from(message.payload, 0)[0], "?")
    return Touched(family, table.decode(errors="replace"), name)


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                         | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)   # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.bind((0, 0))
    sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
    return sock


class RulesetMonitor(NetlinkReader):
    """Calls ``on_change(touched)`` after each outside transaction that touched tables
    or sets (``None``: messages were lost, assume everything).

    ``tables`` (names as bytes), when set, is the only tables worth a look: a foreign
    table changing a thousand times a second costs a few attribute reads per change.
    After a wakeup that read anything the socket rests ``coalesce`` seconds, so such a
    burst is read in a few large slices instead of a wakeup per message.
    """

    reads_per_wakeup = 256

    def __init__(self, on_change: Callable[[frozenset[Touched] | None], None], reactor: Any,
                 sock: socket.socket | None = None,
                 ours: Callable[[int], bool] = own_thread, coalesce: float = COALESCE) -> None:
        super().__init__(sock or _socket(), reactor)
        self.on_change = on_change
        self.ours = ours
        self.coalesce = coalesce
        self.tables: Container[bytes] | None = None
        self.pending: set[Touched] = set()
        self.transactions = 0       # outside transactions that touched a watched table
        self.own = 0                # our own, recognised and ignored
        self.overflows = 0
        self.reads = 0
        self._rest: IDelayedCall | None = None

    def doRead(self) -> None:
        before = self.reads
        super().doRead()
        if self.coalesce and self.reads != before and self.socket.fileno() >= 0:
            self.stopReading()
            self._rest = cast(IReactorTime, self.reactor).callLater(self.coalesce, self._awake)

    def _awake(self) -> None:
        self._rest = None
        if self.socket.fileno() >= 0:
            self.startReading()

    def close(self) -> None:
        if self._rest is not None and self._rest.active():
            self._rest.cancel()
        super().close()

    def received(self, data: bytes) -> None:
        self.reads += 1
        for message in wire.messages(data):
            found = parse(message, self.tables)
            if isinstance(found, Touched):
                self.pending.add(found)
            elif isinstance(found, int):
                self._committed(found)

    def _committed(self, pid: int) -> None:
        touched, self.pending = frozenset(self.pending), set()
        if not touched:
            return
        if self.ours(pid):
            self.own += 1
            return
        self.transactions += 1
        self.on_change(touched)

    def overflowed(self) -> None:
        self.overflows += 1
        self.pending.clear()
        log.warn("nftables notifications lost (receive buffer full): every managed set "
                 "is read back")
        self.on_change(None)
