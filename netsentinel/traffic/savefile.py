"""Append the packet that fired a trigger to a pcap savefile (tuninetd ``-w``).

The format is the classic libpcap one so ``tcpdump -r`` reads it; a file is
begun with its global header and then only grows, one record per activation.
"""

from __future__ import annotations

import os
import struct

from netsentinel.traffic.packet import DLT_RAW, LINKTYPE_RAW

_MAGIC = 0xA1B2C3D4
SNAPLEN = 65535


def file_header(linktype: int) -> bytes:
    return struct.pack("=IHHiIII", _MAGIC, 2, 4, 0, 0, SNAPLEN, _file_linktype(linktype))


def record(when: float, packet: bytes) -> bytes:
    sec = int(when)
    usec = round((when - sec) * 1e6) % 1_000_000
    return struct.pack("=IIII", sec, usec, len(packet), len(packet)) + packet


def file_linktype(header: bytes) -> int | None:
    """The link type a savefile was begun with, None if ``header`` is not one of ours."""
    if len(header) < 24 or struct.unpack_from("=I", header)[0] != _MAGIC:
        return None
    return int(struct.unpack_from("=I", header, 20)[0])


def _file_linktype(linktype: int) -> int:
    """Savefiles use LINKTYPE_ values; only raw IP differs from the DLT_ one on Linux."""
    return LINKTYPE_RAW if linktype == DLT_RAW else linktype


def append_packet(path: str, linktype: int, when: float, packet: bytes) -> None:
    """Append one packet; raise ValueError if the file holds another link type."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        header = os.pread(fd, 24, 0)
        if not header:
            os.write(fd, file_header(linktype))
        elif file_linktype(header) != _file_linktype(linktype):
            raise ValueError(f"{path} holds link type {file_linktype(header)}, "
                             f"not {_file_linktype(linktype)}")
        os.write(fd, record(when, packet))
    finally:
        os.close(fd)
