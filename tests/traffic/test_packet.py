import struct

from netsentinel.traffic.packet import (
    DLT_EN10MB,
    DLT_NFLOG,
    DLT_RAW,
    Batch,
    decode,
    has_tcp_ack,
)
from tests.traffic.packets import ACK, PSH, SYN, ipv4, ipv6, tcp, tcp4, udp, udp4


def nflog(payload: bytes) -> bytes:
    def tlv(kind: int, value: bytes) -> bytes:
        body = struct.pack("=HH", 4 + len(value), kind) + value
        return body + b"\0" * (-len(body) % 4)
    return struct.pack("=BBH", 2, 0, 0) + tlv(1, b"\0" * 5) + tlv(10, b"pfx\0") + tlv(9, payload)


def test_tcp_over_raw_ip_shows_ports_and_flags() -> None:
    info = decode(DLT_RAW, tcp4("10.0.0.2", "10.0.0.1", 40000, 80, SYN))
    assert str(info) == "TCP 10.0.0.2:40000 > 10.0.0.1:80 [S]"


def test_nflog_payload_is_found_among_the_tlvs() -> None:
    info = decode(DLT_NFLOG, nflog(udp4("192.0.2.1", "192.0.2.9", 53, 5353)))
    assert str(info) == "UDP 192.0.2.1:53 > 192.0.2.9:5353"


def test_vlan_tagged_ethernet_ipv6_with_extension_header() -> None:
    hop_by_hop = bytes([17, 0]) + b"\0" * 6
    packet = ipv6("2001:db8::1", "2001:db8::2", 0, hop_by_hop + udp(1000, 2000))
    frame = b"\x02" * 12 + b"\x81\x00\x00\x03" + b"\x86\xdd" + packet
    assert str(decode(DLT_EN10MB, frame)) == "UDP [2001:db8::1]:1000 > [2001:db8::2]:2000"


def test_icmp_shows_type_and_code() -> None:
    info = decode(DLT_RAW, ipv4("10.0.0.1", "10.0.0.2", 1, bytes([8, 0, 0, 0])))
    assert str(info) == "ICMP 10.0.0.1 > 10.0.0.2 [type 8 code 0]"


def test_arp_is_named_by_its_ethertype() -> None:
    assert str(decode(DLT_EN10MB, b"\xff" * 12 + b"\x08\x06" + b"\0" * 28)) == "ethertype 0x0806"


def test_truncated_packets_are_described_not_raised() -> None:
    assert str(decode(DLT_RAW, b"")) == "empty packet"
    assert str(decode(DLT_RAW, tcp4("10.0.0.2", "10.0.0.1", 1, 2, SYN)[:22])) == \
        "TCP 10.0.0.2 > 10.0.0.1"
    assert str(decode(DLT_NFLOG, b"\x02\0\0\0")) == "NFLOG without payload"


def test_batch_slices_packets_and_finds_an_ack() -> None:
    syn = tcp4("10.0.0.2", "10.0.0.1", 1, 2, SYN)
    ack = tcp4("10.0.0.2", "10.0.0.1", 1, 2, ACK | PSH)
    batch = Batch.of(DLT_RAW, [syn, ack], when=12.5)
    assert len(batch) == 2
    assert list(batch) == [syn, ack]
    assert batch.first() == (12.5, syn)
    assert has_tcp_ack(batch)
    assert not has_tcp_ack(Batch.of(DLT_RAW, [syn, udp4("10.0.0.2", "10.0.0.1", 1, 2)]))
    assert decode(DLT_RAW, ipv4("10.0.0.2", "10.0.0.1", 6, tcp(1, 2, ACK))).tcp_flags == ACK
