"""Hand-built IP packets for the traffic tests (checksums are not needed to capture)."""

from __future__ import annotations

import ipaddress
import struct

SYN, ACK, PSH = 0x02, 0x10, 0x08


def ipv4(src: str, dst: str, protocol: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, protocol, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header + payload


def ipv6(src: str, dst: str, protocol: int, payload: bytes) -> bytes:
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), protocol, 64,
                         ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    return header + payload


def tcp(sport: int, dport: int, flags: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 1024, 0, 0)


def udp(sport: int, dport: int, data: bytes = b"x") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp4(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    return ipv4(src, dst, 6, tcp(sport, dport, flags))


def udp4(src: str, dst: str, sport: int, dport: int) -> bytes:
    return ipv4(src, dst, 17, udp(sport, dport))
