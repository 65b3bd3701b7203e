"""A router namespace with two client namespaces, for the forwarder's ban and UDP labs."""

from __future__ import annotations

import socket

import pytest

from tests.forward.test_daemon import inside
from tests.lab import Lab

ROUTER4, FLOOD4, GOOD4 = "10.77.1.1", "10.77.1.2", "10.77.2.2"
ROUTER4_SECOND = "10.77.1.9"                    # a second router address on the flood link
ROUTER6, FLOOD6, FLOOD6_SIBLING = "fd77:1::1", "fd77:9::2", "fd77:9::3"   # a routed /64
SPOOFED = "10.200.0.0/16"                       # sources the flood namespace forges


def udp_echo(port: int, say_peer: bool = False) -> str:
    """A dual-stack UDP echo program; ``say_peer``: it appends whom it saw."""
    reply = "data + b' ' + peer[0].removeprefix('::ffff:').encode()" if say_peer else "data"
    return ("import socket\n"
            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
            f"s.bind(('::', {port}))\n"
            "while True:\n"
            "    data, peer = s.recvfrom(65535)\n"
            f"    s.sendto({reply}, peer)\n")


def udp_client(ns: str, family: int = socket.AF_INET, timeout: float = 3) -> socket.socket:
    """A UDP socket of namespace ``ns``."""
    with inside(ns):
        s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    return s


def udp_ask(s: socket.socket, host: str, port: int, data: bytes) -> tuple[bytes, str] | None:
    """Send ``data``, return the reply and the address it came from (None: no reply)."""
    s.sendto(data, (host, port))
    try:
        reply, peer = s.recvfrom(65535)
    except TimeoutError:
        return None
    return reply, peer[0]


@pytest.fixture
def net(lab: Lab) -> dict[str, str]:
    """router ← flood (10.77.1.2; fd77:1::2 on the link, fd77:9::2 and ::3 routed; forged
    sources in 10.200/16 routed back to it) and good (10.77.2.2, fd77:2::2)."""
    names = {"router": lab.netns("r"), "flood": lab.netns("f"), "good": lab.netns("g")}
    lab.run(names["router"], "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0")
    for i, peer in enumerate(("flood", "good"), start=1):
        here, there = lab.ifname("r"), lab.ifname("c")
        lab.veth(names["router"], here, names[peer], there)
        lab.run(names["router"], "ip", "addr", "add", f"10.77.{i}.1/24", "dev", here)
        lab.run(names["router"], "ip", "-6", "addr", "add", f"fd77:{i}::1/64", "dev", here,
                "nodad")
        lab.run(names[peer], "ip", "addr", "add", f"10.77.{i}.2/24", "dev", there)
        lab.run(names[peer], "ip", "-6", "addr", "add", f"fd77:{i}::2/64", "dev", there, "nodad")
        lab.run(names[peer], "ip", "route", "add", "default", "via", f"10.77.{i}.1")
        lab.run(names[peer], "ip", "-6", "route", "add", "default", "via", f"fd77:{i}::1")
        if peer == "flood":
            lab.run(names["router"], "ip", "addr", "add", f"{ROUTER4_SECOND}/24", "dev", here)
    lab.run(names["router"], "ip", "route", "add", SPOOFED, "via", FLOOD4)
    for host in ("2", "3"):
        lab.run(names["flood"], "ip", "-6", "addr", "add", f"fd77:9::{host}/128", "dev", "lo")
    lab.run(names["router"], "ip", "-6", "route", "add", "fd77:9::/64", "via", "fd77:1::2")
    return names
