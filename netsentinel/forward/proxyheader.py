"""PROXY protocol headers (v1 text, v2 binary) telling the backend who the client is.

Both ends must be of one family; when they are not (an IPv4 client on a dual
stack listener seen as IPv6), the IPv4 one is written IPv4-mapped.
"""

from __future__ import annotations

import ipaddress
import struct

from netsentinel.forward.blacklist import client_address

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _pair(source: str, destination: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                  ipaddress.IPv4Address | ipaddress.IPv6Address]:
    src, dst = client_address(source), client_address(destination)
    if src.version != dst.version:
        src, dst = _as_v6(src), _as_v6(dst)
    return src, dst


def _as_v6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        return address
    return ipaddress.IPv6Address("::ffff:" + str(address))


def v1(source: str, source_port: int, destination: str, destination_port: int) -> bytes:
    src, dst = _pair(source, destination)
    family = "TCP4" if src.version == 4 else "TCP6"
    return f"PROXY {family} {src} {dst} {source_port} {destination_port}\r\n".encode()


def v2(source: str, source_port: int, destination: str, destination_port: int) -> bytes:
    src, dst = _pair(source, destination)
    family = 0x11 if src.version == 4 else 0x21       # AF_INET/AF_INET6, STREAM
    body = src.packed + dst.packed + struct.pack("!HH", source_port, destination_port)
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(body)) + body


def header(version: str, source: str, source_port: int, destination: str,
           destination_port: int) -> bytes:
    make = v1 if version == "v1" else v2
    return make(source, source_port, destination, destination_port)
