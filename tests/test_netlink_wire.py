"""The struct reader of dump replies, checked against pyroute2's decoder on real kernel dumps."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from netsentinel.netlink import wire
from netsentinel.netlink.table import AddrRecord, LinkRecord
from tests.lab import ROOT, Lab


def dump(ns: str, kind: int) -> list[wire.Message]:
    """One real dump taken inside ``ns`` by a child (a socket must be opened there)."""
    script = ("import socket,sys;from netsentinel.netlink import wire\n"
              "s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,socket.NETLINK_ROUTE)\n"
              f"s.send(wire.dump_request({kind},1,0x301));out=b''\n"
              "while True:\n"
              " d=s.recv(1<<16);out+=len(d).to_bytes(4,'little')+d\n"
              " if any(m.type==wire.NLMSG_DONE for m in wire.messages(d)): break\n"
              "sys.stdout.buffer.write(out)\n")
    raw = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", script], check=True,
                         capture_output=True, cwd=str(ROOT)).stdout
    found: list[wire.Message] = []
    offset = 0
    while offset < len(raw):
        size = int.from_bytes(raw[offset:offset + 4], "little")
        found.extend(wire.messages(raw[offset + 4:offset + 4 + size]))
        offset += 4 + size
    return found


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    yield lab
    lab.close()


def test_dump_records_match_pyroute2(lab: Lab) -> None:
    ns = lab.netns("wire")
    a, b = lab.ifname("a"), lab.ifname("b")
    lab.veth(ns, a, ns, b)
    lab.run(ns, "ip", "link", "set", a, "up")
    lab.run(ns, "ip", "addr", "add", "192.0.2.1/24", "dev", a)
    lab.run(ns, "ip", "addr", "add", "10.9.0.1", "peer", "10.9.0.2/32", "dev", a)   # IFA_LOCAL
    lab.run(ns, "ip", "addr", "add", "2001:db8::1/64", "dev", a, "nodad")
    lab.run(ns, "ip", "addr", "add", "2001:db8:1::1/64", "dev", b, "nodad", "noprefixroute")
    links = [wire.link_record(m) for m in dump(ns, wire.RTM_GETLINK) if m.type == wire.RTM_NEWLINK]
    addrs = [wire.addr_record(m) for m in dump(ns, wire.RTM_GETADDR) if m.type == wire.RTM_NEWADDR]
    with IPRoute(netns=ns) as ip:
        expected_links = [LinkRecord(m["index"], m.get_attr("IFLA_IFNAME"), bool(m["flags"] & 1))
                          for m in ip.get_links()]
        expected_addrs = [AddrRecord(m["index"], f"{m.get_attr('IFA_LOCAL') or m.get_attr('IFA_ADDRESS')}"
                                     f"/{m['prefixlen']}", m.get_attr("IFA_FLAGS") or m["flags"])
                          for m in ip.get_addr()]
    assert links == expected_links
    assert sorted(addrs, key=str) == sorted(expected_addrs, key=str)
    assert any(r is not None and r.address == "10.9.0.1/32" for r in addrs)   # local, not peer
    assert any(r is not None and r.address == "2001:db8:1::1/64" and r.flags & 0x200 for r in addrs)


def test_truncated_and_foreign_input_is_ignored() -> None:
    header = wire.HEADER.pack(100, wire.RTM_NEWADDR, 0, 1, 0)     # says 100 bytes, has 16
    assert list(wire.messages(header)) == []
    short = wire.Message(wire.RTM_NEWADDR, 0, 1, memoryview(b"\x02\x18"))
    assert wire.addr_record(short) is None
    unknown_family = wire.Message(wire.RTM_NEWADDR, 0, 1,
                                  memoryview(wire.IFADDRMSG.pack(socket.AF_PACKET, 0, 0, 0, 1)))
    assert wire.addr_record(unknown_family) is None


def test_an_interrupted_dump_never_drops_a_live_address() -> None:
    import ipaddress

    from netsentinel.netlink.table import AddressTable, Interface

    def iface(index: int, *addrs: str) -> Interface:
        return Interface(index, "wan", True, frozenset(ipaddress.ip_interface(a) for a in addrs))
    before = AddressTable({"wan": iface(3, "10.0.0.1/32", "10.0.0.2/32")})
    racing = AddressTable({"wan": iface(3, "10.0.0.2/32", "10.0.0.3/32")}, complete=False)
    merged = racing.keeping(before)
    assert merged.addresses("wan") == {ipaddress.ip_interface(a) for a in
                                       ("10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32")}
    recreated = AddressTable({"wan": iface(4, "10.0.0.3/32")}, complete=False)
    assert recreated.keeping(before).addresses("wan") == {ipaddress.ip_interface("10.0.0.3/32")}
