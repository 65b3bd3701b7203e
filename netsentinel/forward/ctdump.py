"""A lean conntrack dump: one protocol and destination port, the fields a kernel
service needs, parsed with ``struct`` from a netlink socket of its own (blocking).

pyroute2 builds an object tree per attribute: 390 µs per entry here, 0.8 s and
14 MiB for 2,000 flows, every second, mostly holding the GIL.  This asks the kernel
to filter (``CTA_FILTER``, Linux 5.8+: protocol and original destination port) and
reads each entry's tuples, status, counters and TCP state straight from the bytes.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

NETLINK_NETFILTER = 12
CT_GET = (1 << 8) | 1           # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NESTED = 0x8000
# attribute numbers (linux/netfilter/nfnetlink_conntrack.h)
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_STATUS, CTA_PROTOINFO = 1, 2, 3, 4
CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY, CTA_ID, CTA_FILTER = 9, 10, 12, 25
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES = 1, 2
CTA_PROTOINFO_TCP, CTA_PROTOINFO_TCP_STATE = 1, 1
CTA_FILTER_ORIG_FLAGS, CTA_FILTER_REPLY_FLAGS = 1, 2
FILTER_PROTO_NUM, FILTER_PROTO_DST_PORT = 1 << 3, 1 << 5    # CTA_FILTER_F_CTA_*
BUFFER = 1 << 20

_HEADER = struct.Struct("=IHHII")


class DumpError(OSError):
    """The kernel refused the dump (errno and its text)."""


class Entry(NamedTuple):
    id: int
    status: int
    src: str                    # the original direction: client -> where it wrote
    dst: str
    sport: int
    dport: int
    reply_src: str              # the reply direction's source: the backend once DNATed
    reply_sport: int
    packets_up: int
    bytes_up: int
    packets_down: int
    bytes_down: int
    tcp_state: int


def _attribute(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + bytes(-len(payload) % 4)


def request(family: int, protocol: int, port: int, sequence: int = 1) -> bytes:
    proto = _attribute(CTA_PROTO_NUM, bytes([protocol])) + \
        _attribute(CTA_PROTO_DST_PORT, struct.pack("!H", port))
    tuple_ = _attribute(CTA_TUPLE_PROTO | NESTED, proto)
    filter_ = _attribute(CTA_FILTER_ORIG_FLAGS,
                         struct.pack("=I", FILTER_PROTO_NUM | FILTER_PROTO_DST_PORT)) + \
        _attribute(CTA_FILTER_REPLY_FLAGS, struct.pack("=I", 0))
    body = struct.pack("=BBH", family, 0, 0) + _attribute(CTA_TUPLE_ORIG | NESTED, tuple_) + \
        _attribute(CTA_FILTER | NESTED, filter_)
    return _HEADER.pack(16 + len(body), CT_GET, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0) + body


def dump(family: int, protocol: int, port: int) -> Iterator[Entry]:
    """The entries of ``protocol`` whose original destination port is ``port``."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        sock.bind((0, 0))
        sock.sendall(request(family, protocol, port))
        while True:
            data = sock.recv(BUFFER)
            at = 0
            while at + 16 <= len(data):
                length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, at)
                if length < 16:
                    return
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, at + 16)
                    if code:
                        raise DumpError(-code, os.strerror(-code))
                    return
                if kind >> 8 == CT_GET >> 8:           # a ctnetlink message: an entry
                    yield _entry(family, data, at + 20, at + length)
                at += (length + 3) & ~3


def _attributes(data: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type -> (start, end) of its payload."""
    found: dict[int, tuple[int, int]] = {}
    at = start
    while at + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, at)
        if length < 4:
            break
        found[kind & 0x3FFF] = (at + 4, at + length)
        at += (length + 3) & ~3
    return found


def _tuple(family: int, data: bytes, where: tuple[int, int] | None) -> tuple[str, str, int, int]:
    """(source, destination, source port, destination port) of a tuple attribute."""
    if where is None:
        return "", "", 0, 0
    parts = _attributes(data, *where)
    ip = parts.get(CTA_TUPLE_IP)
    addresses = _attributes(data, *ip) if ip is not None else {}
    first = 1 if family == socket.AF_INET else 3        # CTA_IP_V4_SRC, CTA_IP_V6_SRC
    proto = parts.get(CTA_TUPLE_PROTO)
    ports = _attributes(data, *proto) if proto is not None else {}
    return (_address(family, data, addresses.get(first)),
            _address(family, data, addresses.get(first + 1)),
            _port(data, ports.get(CTA_PROTO_SRC_PORT)), _port(data, ports.get(CTA_PROTO_DST_PORT)))


def _address(family: int, data: bytes, span: tuple[int, int] | None) -> str:
    if span is None:
        return ""
    return socket.inet_ntop(family, data[span[0]:span[0] + (4 if family == socket.AF_INET
                                                                else 16)])


def _port(data: bytes, span: tuple[int, int] | None) -> int:
    return struct.unpack_from("!H", data, span[0])[0] if span is not None else 0


def _counters(data: bytes, where: tuple[int, int] | None) -> tuple[int, int]:
    if where is None:
        return 0, 0
    fields = _attributes(data, *where)
    values = []
    for kind in (CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES):
        span = fields.get(kind)
        values.append(struct.unpack_from("!Q", data, span[0])[0] if span else 0)
    return values[0], values[1]


def _tcp_state(data: bytes, where: tuple[int, int] | None) -> int:
    if where is None:
        return 0
    tcp = _attributes(data, *where).get(CTA_PROTOINFO_TCP)
    if tcp is None:
        return 0
    state = _attributes(data, *tcp).get(CTA_PROTOINFO_TCP_STATE)
    return data[state[0]] if state is not None else 0


def _entry(family: int, data: bytes, start: int, end: int) -> Entry:
    parts = _attributes(data, start, end)
    src, dst, sport, dport = _tuple(family, data, parts.get(CTA_TUPLE_ORIG))
    reply_src, _, reply_sport, _ = _tuple(family, data, parts.get(CTA_TUPLE_REPLY))
    packets_up, bytes_up = _counters(data, parts.get(CTA_COUNTERS_ORIG))
    packets_down, bytes_down = _counters(data, parts.get(CTA_COUNTERS_REPLY))
    status = struct.unpack_from("!I", data, parts[CTA_STATUS][0])[0] \
        if CTA_STATUS in parts else 0
    ident = struct.unpack_from("!I", data, parts[CTA_ID][0])[0] if CTA_ID in parts else 0
    return Entry(ident, status, src, dst, sport, dport, reply_src, reply_sport, packets_up,
                 bytes_up, packets_down, bytes_down, _tcp_state(data, parts.get(CTA_PROTOINFO)))


ENDED = (7, 8)          # TCP TIME_WAIT, CLOSE: over, though conntrack still holds them


def live(family: int, protocol: int, port: int, backend: str,
         backend_port: int) -> list[tuple[int, str, int, str, int, int, int, int, int]]:
    """The service's flows that are not over: (id, client, client port, the address
    it wrote to, bytes up, bytes down, packets up, packets down, TCP state)."""
    return [(e.id, e.src, e.sport, e.dst, e.bytes_up, e.bytes_down, e.packets_up,
             e.packets_down, e.tcp_state)
            for e in dump(family, protocol, port)
            if e.tcp_state not in ENDED and e.reply_src == backend
            and e.reply_sport == backend_port]


def main() -> None:
    """The daemon's flow reader: a request per line (``FAMILY PROTOCOL PORT BACKEND
    BACKEND_PORT``), a JSON line back.  A child process of its own, so that reading a
    table of 100,000 closed flows costs another core, not the daemon's reactor."""
    import json
    import sys
    for line in sys.stdin:
        try:
            family, protocol, port, backend, backend_port = line.split()
            answer: dict[str, object] = {"flows": live(
                int(family), int(protocol), int(port), backend, int(backend_port))}
        except DumpError as e:
            answer = {"flows": []} if e.errno == 2 else {"error": str(e)}
        except Exception as e:      # the daemon shows it (status, problems); carry on
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
