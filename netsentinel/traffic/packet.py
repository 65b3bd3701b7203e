"""Captured packets as batches, and decoding of the few header fields we log.

A trigger needs one packet per idle window, so a batch is kept as the two
buffers ``next_batch`` returns and a packet is sliced out only when asked for.
Decoding reads headers only and never raises: a short or odd packet is
described as well as its bytes allow.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator

import attrs

DLT_EN10MB = 1
DLT_RAW = 12            # what libpcap reports for a tun interface on Linux
LINKTYPE_RAW = 101      # the same, as written in savefiles
DLT_LINUX_SLL = 113
DLT_NFLOG = 239

_META = struct.Struct("=IIII")        # sec, usec, offset, caplen (pcapy-ng next_batch)
_NFLOG_PAYLOAD = 9                     # NFULA_PAYLOAD
_NFLOG_PREFIX = 10                     # NFULA_PREFIX
_ETHERTYPE_IPV4, _ETHERTYPE_IPV6, _ETHERTYPE_VLAN = 0x0800, 0x86DD, (0x8100, 0x88A8)
_IPV6_EXTENSIONS = {0, 43, 60}         # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 47: "GRE", 50: "ESP", 132: "SCTP"}
_TCP_FLAGS = "FSRPAUEC"
TCP_ACK = 0x10


@attrs.frozen
class Batch:
    """Packets read in one call: ``data`` holds them back to back, ``meta`` locates them."""

    linktype: int
    data: bytes
    meta: bytes

    def __len__(self) -> int:
        return len(self.meta) // _META.size

    def __iter__(self) -> Iterator[bytes]:
        for _sec, _usec, offset, caplen in _META.iter_unpack(self.meta):
            yield self.data[offset:offset + caplen]

    def first(self) -> tuple[float, bytes]:
        """The first packet and its capture time (seconds since the epoch)."""
        sec, usec, offset, caplen = _META.unpack_from(self.meta)
        return sec + usec / 1e6, self.data[offset:offset + caplen]

    @classmethod
    def of(cls, linktype: int, packets: list[bytes], when: float = 0.0) -> Batch:
        """Build a batch from whole packets (tests, and anything not read by pcap)."""
        meta, offset = [], 0
        for packet in packets:
            meta.append(_META.pack(int(when), int(when % 1 * 1e6), offset, len(packet)))
            offset += len(packet)
        return cls(linktype, b"".join(packets), b"".join(meta))


@attrs.frozen
class PacketInfo:
    """What the one-line log says about a packet; empty fields were not decodable."""

    network: str                 # "IPv4", "IPv6", or "ethertype 0x0806"
    src: str = ""
    dst: str = ""
    protocol: str = ""           # "TCP", "UDP", "ICMP", ... or "proto 99"
    sport: int | None = None
    dport: int | None = None
    detail: str = ""             # TCP flags like "SA", or "type 8 code 0" for ICMP
    tcp_flags: int = 0

    def __str__(self) -> str:
        if not self.src:
            return self.network
        src, dst = _endpoint(self.src, self.sport), _endpoint(self.dst, self.dport)
        words = [self.protocol or self.network, f"{src} > {dst}"]
        if self.detail:
            words.append(f"[{self.detail}]")
        return " ".join(words)


def _endpoint(address: str, port: int | None) -> str:
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def decode(linktype: int, packet: bytes) -> PacketInfo:
    """Decode the network and transport headers of one captured packet."""
    network = network_layer(linktype, packet)
    if isinstance(network, str):
        return PacketInfo(network)
    return _decode_ip(network)


def network_layer(linktype: int, packet: bytes) -> bytes | str:
    """The IP packet inside a link-layer frame, or a description of what it is instead."""
    if linktype in (DLT_RAW, LINKTYPE_RAW):
        return packet
    if linktype == DLT_NFLOG:
        return _nflog_payload(packet)
    if linktype == DLT_EN10MB:
        return _after_ethertype(packet, 12)
    if linktype == DLT_LINUX_SLL:
        return _after_ethertype(packet, 14)
    return f"linktype {linktype}"


def _after_ethertype(packet: bytes, at: int) -> bytes | str:
    while len(packet) >= at + 2:
        (ethertype,) = struct.unpack_from("!H", packet, at)
        if ethertype in _ETHERTYPE_VLAN:
            at += 4
            continue
        if ethertype in (_ETHERTYPE_IPV4, _ETHERTYPE_IPV6):
            return packet[at + 2:]
        return f"ethertype 0x{ethertype:04x}"
    return "truncated frame"


def _nflog_payload(packet: bytes) -> bytes | str:
    payload = nflog_attribute(packet, _NFLOG_PAYLOAD)
    return "NFLOG without payload" if payload is None else payload


def nflog_prefix(packet: bytes) -> str:
    """The log prefix of an NFLOG packet (``log prefix "..."``), "" without one."""
    prefix = nflog_attribute(packet, _NFLOG_PREFIX)
    return prefix.rstrip(b"\0").decode("utf-8", "replace") if prefix is not None else ""


def nflog_attribute(packet: bytes, wanted: int) -> bytes | None:
    """NFLOG: a 4-byte header, then TLVs (host-order length and type) padded to 4."""
    at = 4
    while at + 4 <= len(packet):
        length, kind = struct.unpack_from("=HH", packet, at)
        if length < 4:
            break
        if kind & 0x7FFF == wanted:
            return packet[at + 4:at + length]
        at += (length + 3) & ~3
    return None


def _decode_ip(ip: bytes) -> PacketInfo:
    version = ip[0] >> 4 if ip else 0
    if version == 4 and len(ip) >= 20:
        header = (ip[0] & 0x0F) * 4
        protocol, src, dst = ip[9], ip[12:16], ip[16:20]
        fragment_offset = struct.unpack_from("!H", ip, 6)[0] & 0x1FFF
        transport = ip[header:] if fragment_offset == 0 else b""
        return _transport(PacketInfo("IPv4", str(ipaddress.IPv4Address(src)),
                                     str(ipaddress.IPv4Address(dst))), protocol, transport)
    if version == 6 and len(ip) >= 40:
        info = PacketInfo("IPv6", str(ipaddress.IPv6Address(ip[8:24])),
                          str(ipaddress.IPv6Address(ip[24:40])))
        protocol, at = ip[6], 40
        while protocol in _IPV6_EXTENSIONS and at + 2 <= len(ip):
            protocol, at = ip[at], at + (ip[at + 1] + 1) * 8
        if protocol == _IPV6_FRAGMENT and at + 8 <= len(ip):
            first = struct.unpack_from("!H", ip, at + 2)[0] & 0xFFF8 == 0
            protocol, at = ip[at], at + 8
            if not first:
                return _transport(info, protocol, b"")
        return _transport(info, protocol, ip[at:])
    return PacketInfo(f"IP version {version}" if ip else "empty packet")


def _transport(info: PacketInfo, protocol: int, data: bytes) -> PacketInfo:
    name = _PROTOCOLS.get(protocol, f"proto {protocol}")
    info = attrs.evolve(info, protocol=name)
    if protocol in (6, 17, 132) and len(data) >= 4:
        sport, dport = struct.unpack_from("!HH", data)
        info = attrs.evolve(info, sport=sport, dport=dport)
        if protocol == 6 and len(data) >= 14:
            flags = data[13]
            text = "".join(f for i, f in enumerate(_TCP_FLAGS) if flags & (1 << i))
            info = attrs.evolve(info, detail=text, tcp_flags=flags)
    elif protocol in (1, 58) and len(data) >= 2:
        info = attrs.evolve(info, detail=f"type {data[0]} code {data[1]}")
    return info


def has_tcp_ack(batch: Batch) -> bool:
    """True if any packet of the batch is TCP with ACK set (tuninetd ``-a``)."""
    return any(decode(batch.linktype, packet).tcp_flags & TCP_ACK for packet in batch)
