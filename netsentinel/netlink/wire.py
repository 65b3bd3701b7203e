"""Route netlink dump replies read with ``struct``: only the fields the table needs.

A dump of 20,000 addresses decoded by pyroute2's generic message classes took
over a second of reactor time (every attribute of every message becomes an
object); these few fixed layouts from ``linux/rtnetlink.h`` read the same
records about 20 times faster (bench/addresses_large.py).  Requests are still
built here too, so the reader needs no marshal at all.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

from netsentinel.netlink.table import IFF_UP, AddrRecord, LinkRecord

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22

HEADER = struct.Struct("=IHHII")      # nlmsghdr: len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")   # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")    # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")          # rta_len, rta_type
ERRNO = struct.Struct("=i")

IFLA_IFNAME = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
FLAGS32 = struct.Struct("=I")


class Message(NamedTuple):
    type: int
    flags: int
    sequence: int
    payload: memoryview


def messages(data: bytes) -> Iterator[Message]:
    """The messages of one datagram (a truncated tail is ignored)."""
    view = memoryview(data)
    offset = 0
    while offset + HEADER.size <= len(view):
        length, kind, flags, sequence, _ = HEADER.unpack_from(view, offset)
        if length < HEADER.size or offset + length > len(view):
            return
        yield Message(kind, flags, sequence, view[offset + HEADER.size:offset + length])
        offset += (length + 3) & ~3


def attributes(payload: memoryview, start: int) -> Iterator[tuple[int, memoryview]]:
    """(type, value) of each rtattr from ``start``; nested ones are left packed."""
    offset = start
    while offset + RTATTR.size <= len(payload):
        length, kind = RTATTR.unpack_from(payload, offset)
        if length < RTATTR.size or offset + length > len(payload):
            return
        yield kind & 0x3FFF, payload[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3


def error_code(message: Message) -> int:
    """NLMSG_ERROR's errno (positive; 0 is an acknowledgement)."""
    return abs(ERRNO.unpack_from(message.payload)[0]) if len(message.payload) >= 4 else 0


def link_record(message: Message) -> LinkRecord | None:
    if len(message.payload) < IFINFOMSG.size:
        return None
    _, _, index, flags, _ = IFINFOMSG.unpack_from(message.payload)
    for kind, value in attributes(message.payload, IFINFOMSG.size):
        if kind == IFLA_IFNAME:
            name = bytes(value).split(b"\0", 1)[0].decode("utf-8", "replace")
            return LinkRecord(index, name, bool(flags & IFF_UP)) if name else None
    return None


def addr_record(message: Message) -> AddrRecord | None:
    """IFA_LOCAL where present (point-to-point: IFA_ADDRESS is the peer), else IFA_ADDRESS."""
    if len(message.payload) < IFADDRMSG.size:
        return None
    family, prefixlen, flags, _, index = IFADDRMSG.unpack_from(message.payload)
    size = 4 if family == socket.AF_INET else 16 if family == socket.AF_INET6 else 0
    if not size:
        return None
    local = address = None
    for kind, value in attributes(message.payload, IFADDRMSG.size):
        if kind == IFA_LOCAL and len(value) == size:
            local = bytes(value)
        elif kind == IFA_ADDRESS and len(value) == size:
            address = bytes(value)
        elif kind == IFA_FLAGS and len(value) >= 4:
            flags = FLAGS32.unpack_from(value)[0]
    raw = local or address
    if raw is None:
        return None
    return AddrRecord(index, f"{socket.inet_ntop(family, raw)}/{prefixlen}", flags)


def dump_request(kind: int, sequence: int, flags: int) -> bytes:
    """RTM_GETLINK / RTM_GETADDR dump request for every family."""
    body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) if kind == RTM_GETLINK \
        else IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return HEADER.pack(HEADER.size + len(body), kind, flags, sequence, 0) + body
