"""The UDP forwarder on loopback with a Clock: sessions, the cap, idle expiry; and the
ancillary data that makes replies leave from the address the client wrote to."""

from __future__ import annotations

import socket
import struct
from typing import Any

from twisted.internet.task import Clock

from netsentinel.events import EventBus
from netsentinel.forward.config import Endpoint, Limits, ServiceConfig
from netsentinel.forward.udp import UdpForwarder
from netsentinel.forward.udpsocket import IP_PKTINFO, destination, source
from tests.forward.peers import start_forwarder


class ClockReactor(Clock):
    """A Clock that takes readers without reading them: the tests hand datagrams in."""

    def addReader(self, reader: Any) -> None:
        pass

    def removeReader(self, reader: Any) -> None:
        pass


BACKEND = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # takes what it is sent
BACKEND.bind(("127.0.0.1", 0))


def make(**options: Any) -> tuple[UdpForwarder, ClockReactor]:
    clock = ClockReactor()
    config = ServiceConfig("u", Endpoint("127.0.0.1", 0),
                           Endpoint("127.0.0.1", BACKEND.getsockname()[1]),
                           protocol="udp", **options)
    forwarder = UdpForwarder(config, clock, EventBus())
    forwarder.startService()
    return forwarder, clock


def test_a_session_per_client_address_and_idle_expiry() -> None:
    forwarder, clock = make(session_idle=10)
    try:
        forwarder.received(b"a", ("10.0.0.2", 5000), None)
        forwarder.received(b"b", ("10.0.0.2", 5000), None)
        forwarder.received(b"c", ("10.0.0.3", 5000), None)
        assert len(forwarder.sessions) == 2 and forwarder.counters.accepted == 2
        clock.advance(11)
        clock.advance(3)
        assert not forwarder.sessions and forwarder.counters.closes == {"idle-timeout": 2}
        status = forwarder.status()
        assert status.udp is not None and status.udp.datagrams_up == 3 and status.up == 3
    finally:
        forwarder.stopService()


def test_at_the_cap_the_least_recently_active_session_is_evicted() -> None:
    forwarder, clock = make(limits=Limits(conn_limit=2))
    try:
        forwarder.received(b"1", ("10.0.0.1", 1), None)
        clock.advance(2)
        forwarder.received(b"2", ("10.0.0.2", 1), None)
        clock.advance(2)
        forwarder.received(b"1 again", ("10.0.0.1", 1), None)    # now the more recent
        forwarder.received(b"3", ("10.0.0.3", 1), None)
        assert sorted(s.ip for s in forwarder.sessions.values()) == ["10.0.0.1", "10.0.0.3"]
        assert forwarder.evicted == 1 and forwarder.counters.closes == {"evicted": 1}
    finally:
        forwarder.stopService()


def test_at_the_cap_a_newcomer_another_limit_refuses_evicts_nobody() -> None:
    forwarder, _ = make(limits=Limits(conn_limit=2, ip_limit=1))
    try:
        forwarder.received(b"1", ("10.0.0.1", 1), None)
        forwarder.received(b"2", ("10.0.0.1", 2), None)     # the cap, one client address
        forwarder.received(b"3", ("10.0.0.2", 1), None)     # ip_limit refuses it
        assert sorted(s.port for s in forwarder.sessions.values()) == [1, 2]
        assert forwarder.evicted == 0 and forwarder.counters.rejected["ip_limit"] == 1
        assert forwarder.limiter.total == 2
    finally:
        forwarder.stopService()


def test_with_reject_at_the_cap_the_newcomer_is_dropped() -> None:
    forwarder, _ = make(limits=Limits(conn_limit=1, conn_limit_action="reject"))
    try:
        forwarder.received(b"1", ("10.0.0.1", 1), None)
        forwarder.received(b"2", ("10.0.0.2", 1), None)
        assert [s.ip for s in forwarder.sessions.values()] == ["10.0.0.1"]
        assert forwarder.counters.rejected["conn_limit"] == 1 and forwarder.dropped == 1
    finally:
        forwarder.stopService()


def test_a_stop_without_sessions_is_done_at_once() -> None:
    forwarder, _ = make()
    stopped: list[object] = []
    forwarder.stopService().addCallback(stopped.append)
    assert stopped == [None] and forwarder.state == "stopped"


def test_pktinfo_round_trip() -> None:
    local4 = socket.inet_aton("192.0.2.1")
    info = struct.pack("i4s4s", 3, b"\0" * 4, local4)
    assert destination([(socket.IPPROTO_IP, IP_PKTINFO, info)]) == local4
    [(level, kind, data)] = source(socket.AF_INET6, local4)
    assert (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO)
    assert socket.inet_ntop(socket.AF_INET6, data[:16]) == "::ffff:192.0.2.1"
    assert source(socket.AF_INET, None) == []


def test_a_tcp_status_has_no_udp_or_ban_keys() -> None:
    forwarder = start_forwarder(BACKEND.getsockname()[1])
    try:
        keys = set(forwarder.status().to_json())
        assert not keys & {"protocol", "udp", "ban"}
    finally:
        forwarder.stopService()
